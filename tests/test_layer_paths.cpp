// The fast paths of max_pool2d (2x2 at stride 2), upsample_nearest2d and batch_norm on [N, C]
// against plain reference loops, at sizes large enough to split over two threads (the golden
// fixtures are small and run inline): forward values and input gradients must be exactly the
// reference's for pooling and upsampling, and within float rounding for batch_norm; and the
// same at one and two threads.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nabla/nabla.hpp>
#include <vector>

using namespace nabla;

namespace {

struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

// A window's first NaN, else its first maximum: PyTorch's rule.
void reference_max_pool(const std::vector<float>& x, int64_t planes, int64_t h, int64_t w,
                        const std::vector<float>& g, std::vector<float>& y,
                        std::vector<float>& gx) {
  const int64_t oh = h / 2, ow = w / 2;
  y.assign(static_cast<size_t>(planes * oh * ow), 0);
  gx.assign(x.size(), 0);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        int64_t best = -1;
        for (int64_t ky = 0; ky < 2 && (best < 0 || !std::isnan(x[best])); ++ky)
          for (int64_t kx = 0; kx < 2; ++kx) {
            const int64_t i = (p * h + 2 * oy + ky) * w + 2 * ox + kx;
            if (best < 0 || x[i] > x[best] || std::isnan(x[i])) best = i;
            if (std::isnan(x[best])) break;
          }
        const int64_t o = (p * oh + oy) * ow + ox;
        y[o] = x[best];
        gx[best] += g[o];
      }
}

Tensor<float> to_float(const Tensor<double>& t) {
  const std::vector<double> v = t.to_vector();
  const std::vector<float> f(v.begin(), v.end());
  return Tensor<float>::from(std::span<const float>(f), t.shape());
}

}  // namespace

TEST_CASE("max_pool2d 2x2: ties, NaN and odd sizes, at one and two threads", "[pool]") {
  ThreadsGuard guard;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{32, 32}, {15, 17}}) {
    const int64_t n = 16, c = 64, planes = n * c;
    Generator gen(5);
    // Values on a coarse grid, so that windows often hold ties; a few NaN.
    Tensor<float> x = Tensor<float>::uniform({n, c, h, w}, 0, 4, gen);
    float* px = x.data();
    for (int64_t i = 0; i < x.numel(); ++i) px[i] = std::floor(px[i]);
    for (int64_t i = 0; i < x.numel(); i += 997) px[i] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> xv = x.to_vector();
    const Tensor<float> g = Tensor<float>::uniform({n, c, h / 2, w / 2}, -1, 1, gen);
    std::vector<float> y_ref, gx_ref;
    reference_max_pool(xv, planes, h, w, g.to_vector(), y_ref, gx_ref);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      INFO(h << "x" << w << ", " << threads << " threads");
      Tensor<float> xi = x.clone().requires_grad_();
      const Tensor<float> y = max_pool2d(xi, {2, 2});
      y.backward(g);
      const std::vector<float> yv = y.to_vector(), gxv = xi.grad().to_vector();
      bool same_y = true, same_gx = true;
      for (size_t i = 0; i < yv.size(); ++i)
        same_y = same_y && (yv[i] == y_ref[i] || (std::isnan(yv[i]) && std::isnan(y_ref[i])));
      for (size_t i = 0; i < gxv.size(); ++i) same_gx = same_gx && gxv[i] == gx_ref[i];
      CHECK(same_y);
      CHECK(same_gx);
    }
  }
}

TEST_CASE("upsample_nearest2d x2 and x3 against plain loops, at one and two threads", "[pool]") {
  ThreadsGuard guard;
  for (int64_t scale : {2, 3}) {
    const int64_t n = 32, c = 128, h = 7, w = 9;
    Generator gen(6);
    const Tensor<float> x = Tensor<float>::uniform({n, c, h, w}, -1, 1, gen);
    const Tensor<float> g = Tensor<float>::uniform({n, c, h * scale, w * scale}, -1, 1, gen);
    const std::vector<float> xv = x.to_vector(), gv = g.to_vector();
    const int64_t planes = n * c, oh = h * scale, ow = w * scale;
    std::vector<float> y_ref(static_cast<size_t>(planes * oh * ow)), gx_ref(xv.size(), 0.f);
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const size_t o = static_cast<size_t>((p * oh + oy) * ow + ox);
          const size_t i = static_cast<size_t>((p * h + oy / scale) * w + ox / scale);
          y_ref[o] = xv[i];
          gx_ref[i] += gv[o];  // row by row, left to right
        }
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      INFO("scale " << scale << ", " << threads << " threads");
      Tensor<float> xi = x.clone().requires_grad_();
      const Tensor<float> y = upsample_nearest2d(xi, scale);
      y.backward(g);
      CHECK(y.to_vector() == y_ref);
      CHECK(xi.grad().to_vector() == gx_ref);
    }
  }
}

TEST_CASE("batch_norm on [N, C]: training and evaluation against double, at one and two threads",
          "[norm]") {
  ThreadsGuard guard;
  const int64_t n = 128, c = 6272;  // row 8's BatchNorm1d(128 * 7 * 7)
  Generator gen(7);
  const Tensor<double> xd = Tensor<double>::uniform({n, c}, -2, 3, gen);
  const Tensor<double> wd = Tensor<double>::uniform({c}, 0.5, 1.5, gen);
  const Tensor<double> bd = Tensor<double>::uniform({c}, -1, 1, gen);
  const Tensor<double> gd = Tensor<double>::uniform({n, c}, -1, 1, gen);
  for (bool training : {true, false}) {
    // The double reference, through the [N, C, 1] layout (the per-channel path).
    Tensor<double> x3 = xd.reshape({n, c, 1}).clone().requires_grad_();
    Tensor<double> w3 = wd.clone().requires_grad_(), b3 = bd.clone().requires_grad_();
    Tensor<double> rm_d = Tensor<double>::uniform({c}, -0.5, 0.5, gen);
    Tensor<double> rv_d = Tensor<double>::uniform({c}, 0.5, 2, gen);
    const Tensor<float> rm0 = to_float(rm_d), rv0 = to_float(rv_d);
    const Tensor<double> yd = batch_norm(x3, rm_d, rv_d, w3, b3, training, 0.1, 1e-3);
    yd.backward(gd.reshape({n, c, 1}));
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      INFO((training ? "training" : "evaluation") << ", " << threads << " threads");
      Tensor<float> x = to_float(xd).requires_grad_();
      Tensor<float> w = to_float(wd).requires_grad_(), b = to_float(bd).requires_grad_();
      Tensor<float> rm = rm0.clone(), rv = rv0.clone();
      const Tensor<float> y = batch_norm(x, rm, rv, w, b, training, 0.1, 1e-3);
      y.backward(to_float(gd));
      auto close = [](const Tensor<float>& a, const Tensor<double>& ref, double tol) {
        const std::vector<float> av = a.to_vector();
        const std::vector<double> rv = ref.to_vector();
        double worst = 0;
        for (size_t i = 0; i < av.size(); ++i)
          worst = std::max(worst, std::abs(av[i] - rv[i]) / (1 + std::abs(rv[i])));
        return worst < tol;
      };
      CHECK(close(y, yd.reshape({n, c}), 1e-5));
      CHECK(close(x.grad(), x3.grad().reshape({n, c}), 1e-5));
      CHECK(close(w.grad(), w3.grad(), 1e-4));
      CHECK(close(b.grad(), b3.grad(), 1e-4));
      CHECK(close(rm, rm_d, 1e-6));
      CHECK(close(rv, rv_d, 1e-6));
    }
  }
}
