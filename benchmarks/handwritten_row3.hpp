#pragma once
// Row 3's training iteration written by hand, without nabla: the yardstick for framework overhead
// at batch 1 (the goal is a nabla step within 1.5x of this). The same networks, loss, optimizer
// and sequence as Row3 in bench_gan.cpp:
//   G: Linear(100,200)-LReLU(0.02)-LN(200)-Linear(200,784)-Sigmoid
//   D: Linear(784,200)-LReLU(0.02)-LN(200)-Linear(200,1)-Sigmoid
//   D step on BCE(D(real), 1); D step on BCE(D(G(z)), 0); G step on BCE(D(G(z')), 1); Adam 1e-4.
// What a careful programmer would write: Eigen for the matrix-vector products and the vectorised
// Adam, activations kept from the forward pass, and nothing computed that is not used (no input
// gradient where the input is data, no D parameter gradients in the G step).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace bench::handwritten {

using Vec = Eigen::VectorXf;
using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct AdamState {
  Eigen::ArrayXf m, v;
  int64_t step = 0;
};

// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), PyTorch's formulation.
template <class P, class G>
void adam(P& p, const G& g, AdamState& s, float lr) {
  constexpr float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  if (s.step == 0) {
    s.m = Eigen::ArrayXf::Zero(p.size());
    s.v = Eigen::ArrayXf::Zero(p.size());
  }
  ++s.step;
  const float bc1 = 1 - std::pow(b1, float(s.step)), bc2 = 1 - std::pow(b2, float(s.step));
  const float step = lr / bc1, inv_sqrt_bc2 = 1 / std::sqrt(bc2);
  // One pass over L1-sized blocks (Eigen vectorises sqrt and division; a plain loop with
  // std::sqrt stays scalar under GCC's default -fmath-errno).
  constexpr int64_t kBlock = 512;
  for (int64_t k = 0; k < p.size(); k += kBlock) {
    const int64_t len = std::min<int64_t>(kBlock, p.size() - k);
    Eigen::Map<Eigen::ArrayXf> pk(p.data() + k, len), mk(s.m.data() + k, len),
        vk(s.v.data() + k, len);
    Eigen::Map<const Eigen::ArrayXf> gk(g.data() + k, len);
    mk = b1 * mk + (1 - b1) * gk;
    vk = b2 * vk + (1 - b2) * gk.square();
    pk -= step * mk / (vk.sqrt() * inv_sqrt_bc2 + eps);
  }
}

// Linear(in,200)-LReLU(0.02)-LayerNorm(200)-Linear(200,out)-Sigmoid with its activations.
struct Net {
  Mat w1, w2;
  Vec b1, gamma, beta, b2;
  // Gradients and Adam state, one per parameter.
  Mat gw1, gw2;
  Vec gb1, ggamma, gbeta, gb2;
  AdamState s_w1, s_b1, s_gamma, s_beta, s_w2, s_b2;
  // Activations of the last forward pass.
  Vec x, h1, xhat, ln, y;
  float inv_std = 0;

  Net(int64_t in, int64_t out, std::mt19937& rng) {
    auto uniform = [&](int64_t r, int64_t c, float bound) {
      std::uniform_real_distribution<float> d(-bound, bound);
      Mat m(r, c);
      for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
      return m;
    };
    w1 = uniform(200, in, 1 / std::sqrt(float(in)));
    b1 = uniform(200, 1, 1 / std::sqrt(float(in)));
    w2 = uniform(out, 200, 1 / std::sqrt(200.f));
    b2 = uniform(out, 1, 1 / std::sqrt(200.f));
    gamma = Vec::Ones(200);
    beta = Vec::Zero(200);
  }

  const Vec& forward(const Vec& input) {
    x = input;
    h1.noalias() = w1 * x;
    h1 += b1;
    Vec a = h1.unaryExpr([](float v) { return v > 0 ? v : 0.02f * v; });
    const float mean = a.mean();
    const float var = (a.array() - mean).square().mean();
    inv_std = 1 / std::sqrt(var + 1e-5f);
    xhat = (a.array() - mean) * inv_std;
    ln = gamma.cwiseProduct(xhat) + beta;
    y.noalias() = w2 * ln;
    y += b2;
    y = y.unaryExpr([](float v) { return 1 / (1 + std::exp(-v)); });
    return y;
  }

  // From dL/d(pre-sigmoid output); fills the parameter gradients when `params`, and returns the
  // input gradient when `input_grad`.
  Vec backward(const Vec& dz, bool params, bool input_grad) {
    const Vec dln = w2.transpose() * dz;
    const Vec dxhat = dln.cwiseProduct(gamma);
    const float mean_dxhat = dxhat.mean(), mean_dxhat_xhat = dxhat.cwiseProduct(xhat).mean();
    Vec dh1 = (inv_std * (dxhat.array() - mean_dxhat - xhat.array() * mean_dxhat_xhat)).matrix();
    for (int64_t i = 0; i < dh1.size(); ++i)
      if (h1[i] <= 0) dh1[i] *= 0.02f;
    if (params) {
      gw2.noalias() = dz * ln.transpose();
      gb2 = dz;
      ggamma = dln.cwiseProduct(xhat);
      gbeta = dln;
      gw1.noalias() = dh1 * x.transpose();
      gb1 = dh1;
    }
    if (input_grad) return w1.transpose() * dh1;
    return {};
  }

  void step(float lr) {
    adam(w1, gw1, s_w1, lr);
    adam(b1, gb1, s_b1, lr);
    adam(gamma, ggamma, s_gamma, lr);
    adam(beta, gbeta, s_beta, lr);
    adam(w2, gw2, s_w2, lr);
    adam(b2, gb2, s_b2, lr);
  }
};

struct Row3 {
  std::mt19937 rng{301};
  std::normal_distribution<float> normal;
  Net G{100, 784, rng}, D{784, 1, rng};
  Vec real, z{100};
  float d_loss = 0, g_loss = 0;

  Row3() {
    std::uniform_real_distribution<float> u(0, 1);
    real.resize(784);
    for (auto& v : real) v = u(rng);
  }

  static float bce(float y, float target) {
    return -(target * std::max(std::log(y), -100.f) +
             (1 - target) * std::max(std::log(1 - y), -100.f));
  }
  // dBCE/d(pre-sigmoid) for one output: y - target.
  static Vec dz(float y, float target) { return Vec::Constant(1, y - target); }

  void d_train(const Vec& x, float target) {
    const float y = D.forward(x)[0];
    d_loss = bce(y, target);
    D.backward(dz(y, target), true, false);
    D.step(1e-4f);
  }
  const Vec& sample_z() {
    for (auto& v : z) v = normal(rng);
    return z;
  }
  void step() {
    d_train(real, 1);
    d_train(G.forward(sample_z()), 0);
    const Vec& fake = G.forward(sample_z());
    const float y = D.forward(fake)[0];
    g_loss = bce(y, 1);
    const Vec dfake = D.backward(dz(y, 1), false, true);
    const Vec dg = (dfake.array() * G.y.array() * (1 - G.y.array())).matrix();
    G.backward(dg, true, false);
    G.step(1e-4f);
  }
};

}  // namespace bench::handwritten
