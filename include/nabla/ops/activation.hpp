#pragma once
// relu, leaky_relu, sigmoid, tanh, elu, silu, gelu, softplus, softmax, log_softmax.
#include <cmath>
#include <string_view>

#include "nabla/ops/elementwise.hpp"

namespace nabla {

template <Floating T>
Tensor<T> relu(const Tensor<T>& x) {
  Tensor<T> out = detail::unary_forward("relu", x, [](T v) { return v > T(0) ? v : T(0); });
  if (needs_graph(x))
    record("relu", out, {&x}, [so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(
          gx, [](T gv, T o) { return o > T(0) ? gv : T(0); }, g, so.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

// Both directions through cpu::select_scaled (explicit vector blends; see there why).
template <Floating T>
Tensor<T> leaky_relu(const Tensor<T>& x, Scalar<T> negative_slope = T(0.01)) {
  detail::check_operand(x, "leaky_relu");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty(x.shape());
  cpu::select_scaled(xc.data(), xc.data(), T(negative_slope), out.data(), out.numel());
  if (needs_graph(x))
    record("leaky_relu", out, {&x},
           [sx = Saved<T>(xc), s = negative_slope](Node<T>& n, const Tensor<T>& g) {
             const Tensor<T> gc = detail::contiguous_or_self(g);
             Tensor<T> gx = Tensor<T>::empty(g.shape());
             cpu::select_scaled(sx.get(n).data(), gc.data(), T(s), gx.data(), gx.numel());
             n.send(0, std::move(gx));
           });
  return out;
}

template <Floating T>
Tensor<T> sigmoid(const Tensor<T>& x) {
  detail::check_operand(x, "sigmoid");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty(x.shape());
  cpu::for_blocks(out.numel(), [xp = xc.data(), o = out.data()](int64_t i0, int64_t i1) {
    cpu::logistic_scaled(xp + i0, T(1), o + i0, i1 - i0);
  });
  if (needs_graph(x))
    record("sigmoid", out, {&x}, [so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
      n.send(0, detail::array_op<T>(
                    g.shape(), [](const auto& gv, const auto& y) { return gv * y * (T(1) - y); }, g,
                    so.get(n)));
    });
  return out;
}

template <Floating T>
Tensor<T> tanh(const Tensor<T>& x) {
  detail::check_operand(x, "tanh");
  Tensor<T> out = detail::array_op<T>(
      x.shape(), [](const auto& v) { return v.tanh(); }, x);
  if (needs_graph(x))
    record("tanh", out, {&x}, [so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
      n.send(0, detail::array_op<T>(
                    g.shape(), [](const auto& gv, const auto& y) { return gv * (T(1) - y * y); }, g,
                    so.get(n)));
    });
  return out;
}

namespace detail {
// An elementwise op over contiguous data, block by block (cpu::for_blocks), so that an exp or
// tanh staged per block through Eigen runs vectorised: fwd(x, out, i0, i1) fills out[i0, i1).
template <Floating T, class Fwd>
Tensor<T> blockwise_forward(const Tensor<T>& xc, Fwd fwd) {
  Tensor<T> out = Tensor<T>::empty(xc.shape());
  const T* xp = xc.data();
  T* o = out.data();
  cpu::for_blocks(out.numel(), [&](int64_t i0, int64_t i1) { fwd(xp, o, i0, i1); });
  return out;
}

// Records the backward of a blockwise op: bwd(g, x, gx, i0, i1) fills gx[i0, i1) from the
// output gradient and the saved (contiguous) input.
template <Floating T, class Bwd>
void record_blockwise(const char* op, Tensor<T>& out, const Tensor<T>& x, const Tensor<T>& xc,
                      Bwd bwd) {
  record(op, out, {&x}, [sx = Saved<T>(xc), bwd](Node<T>& n, const Tensor<T>& g) {
    const Tensor<T> gc = contiguous_or_self(g);
    const Tensor<T>& xs = sx.get(n);
    Tensor<T> gx = Tensor<T>::empty(g.shape());
    const T *gp = gc.data(), *xp = xs.data();
    T* o = gx.data();
    cpu::for_blocks(gx.numel(), [&](int64_t i0, int64_t i1) { bwd(gp, xp, o, i0, i1); });
    n.send(0, std::move(gx));
  });
}
}  // namespace detail

// x for x > 0, else alpha * (exp(x) - 1).
template <Floating T>
Tensor<T> elu(const Tensor<T>& x, Scalar<T> alpha = T(1)) {
  detail::check_operand(x, "elu");
  const T a = alpha;
  const Tensor<T> xc = detail::contiguous_or_self(x);
  // Floats: expm1(x) as exp(x) - 1 where |x| >= 1/4 (then at least 0.22 in magnitude, within a
  // few ulp), its Taylor polynomial to degree 7 below (error under 1e-9 relative), both computed
  // and picked with blend in exp_map's one loop; Eigen's own expm1 costs an exp, a log and a
  // division. Doubles: Eigen's expm1.
  Tensor<T> out = detail::blockwise_forward(xc, [a](const T* xp, T* o, int64_t i0, int64_t i1) {
    if constexpr (std::is_same_v<T, float>) {
      cpu::exp_map(xp + i0, 1.0f, 0.0f, o + i0, i1 - i0, [x = xp + i0, a](float e, int64_t i) {
        const float v = x[i];
        float p = v * (1.0f / 5040) + 1.0f / 720;
        p = v * p + 1.0f / 120;
        p = v * p + 1.0f / 24;
        p = v * p + 1.0f / 6;
        p = v * p + 0.5f;
        return cpu::blend(v > 0.0f, v, a * cpu::blend(std::abs(v) < 0.25f, v + v * v * p, e - 1.0f));
      });
    } else {
      T e[cpu::kBlock];
      cpu::eval_block(e, xp, i0, i1, [](const auto& v) { return v.expm1(); });
      for (int64_t i = i0; i < i1; ++i) o[i] = cpu::blend(xp[i] > T(0), xp[i], a * e[i - i0]);
    }
  });
  if (needs_graph(x))
    detail::record_blockwise("elu", out, x, xc, [a](const T* g, const T* xp, T* o, int64_t i0, int64_t i1) {
      cpu::exp_map(xp + i0, T(1), T(0), o + i0, i1 - i0, [g = g + i0, x = xp + i0, a](T e, int64_t i) {
        return cpu::blend(x[i] > T(0), g[i], a * e * g[i]);
      });
    });
  return out;
}

// x * sigmoid(x) (also called swish).
template <Floating T>
Tensor<T> silu(const Tensor<T>& x) {
  detail::check_operand(x, "silu");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = detail::blockwise_forward(xc, [](const T* xp, T* o, int64_t i0, int64_t i1) {
    cpu::logistic_map(xp + i0, T(1), o + i0, i1 - i0, [x = xp + i0](T s, int64_t i) { return x[i] * s; });
  });
  if (needs_graph(x))
    detail::record_blockwise("silu", out, x, xc, [](const T* g, const T* xp, T* o, int64_t i0, int64_t i1) {
      cpu::logistic_map(xp + i0, T(1), o + i0, i1 - i0, [g = g + i0, x = xp + i0](T s, int64_t i) {
        return g[i] * s * (T(1) + x[i] * (T(1) - s));
      });
    });
  return out;
}

// x * Phi(x) with Phi the standard normal CDF (approximate "none", PyTorch's default), or its
// tanh approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) (approximate "tanh").
template <Floating T>
Tensor<T> gelu(const Tensor<T>& x, std::string_view approximate = "none") {
  NABLA_CHECK(approximate == "none" || approximate == "tanh",
              "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  detail::check_operand(x, "gelu");
  static constexpr T kInvSqrt2 = T(0.70710678118654752440), kInvSqrt2Pi = T(0.39894228040143267794),
                     kSqrt2OverPi = T(0.79788456080286535588), kCubic = T(0.044715);
  const Tensor<T> xc = detail::contiguous_or_self(x);
  // With u = sqrt(2 / pi) (x + 0.044715 x^3), 0.5 (1 + tanh(u)) = sigmoid(2u): the tanh form is
  // x sigmoid(2u), and its derivative s + 2 x s (1 - s) u' with s = sigmoid(2u). Written so, it
  // does not cancel for x << 0 as 1 + tanh(u) does in float (PyTorch's formula loses most
  // digits of gelu(-4) that way).
  const auto sigmoid_block = [](T* s, const T* xp, int64_t i0, int64_t i1) {
    cpu::eval_block(s, xp, i0, i1, [](const auto& v) { return T(2) * kSqrt2OverPi * (v + kCubic * v.cube()); });
    cpu::logistic_scaled(s, T(1), s, i1 - i0);
  };
  if (approximate == "tanh") {
    Tensor<T> out = detail::blockwise_forward(xc, [&](const T* xp, T* o, int64_t i0, int64_t i1) {
      T s[cpu::kBlock];
      sigmoid_block(s, xp, i0, i1);
      for (int64_t i = i0; i < i1; ++i) o[i] = xp[i] * s[i - i0];
    });
    if (needs_graph(x))
      detail::record_blockwise(
          "gelu", out, x, xc, [sigmoid_block](const T* g, const T* xp, T* o, int64_t i0, int64_t i1) {
            T s[cpu::kBlock];
            sigmoid_block(s, xp, i0, i1);
            for (int64_t i = i0; i < i1; ++i) {
              const T v = xp[i], si = s[i - i0];
              o[i] = g[i] * (si + T(2) * v * si * (T(1) - si) * kSqrt2OverPi * (T(1) + T(3) * kCubic * v * v));
            }
          });
    return out;
  }
  Tensor<T> out = detail::blockwise_forward(xc, [](const T* xp, T* o, int64_t i0, int64_t i1) {
    T e[cpu::kBlock];  // erf(x / sqrt(2))
    cpu::erf_block(xp + i0, kInvSqrt2, e, i1 - i0);
    for (int64_t i = i0; i < i1; ++i) o[i] = T(0.5) * xp[i] * (T(1) + e[i - i0]);
  });
  if (needs_graph(x))
    detail::record_blockwise("gelu", out, x, xc, [](const T* g, const T* xp, T* o, int64_t i0, int64_t i1) {
      T e[cpu::kBlock], r[cpu::kBlock];  // exp(-x^2 / 2), erf(x / sqrt(2))
      cpu::eval_block(e, xp, i0, i1, [](const auto& v) { return v.square(); });
      cpu::exp_affine(e, T(-0.5), T(0), e, i1 - i0);
      cpu::erf_block(xp + i0, kInvSqrt2, r, i1 - i0);
      for (int64_t i = i0; i < i1; ++i)
        o[i] = g[i] * (T(0.5) * (T(1) + r[i - i0]) + xp[i] * kInvSqrt2Pi * e[i - i0]);
    });
  return out;
}

// log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule).
template <Floating T>
Tensor<T> softplus(const Tensor<T>& x, Scalar<T> beta = T(1), Scalar<T> threshold = T(20)) {
  const T b = beta, th = threshold;
  NABLA_CHECK(b != T(0), "softplus: beta must not be 0");
  detail::check_operand(x, "softplus");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = detail::blockwise_forward(xc, [b, th](const T* xp, T* o, int64_t i0, int64_t i1) {
    T e[cpu::kBlock];  // log1p(exp(b x)) / b; inf where b x overflows, never selected there
    cpu::exp_affine(xp + i0, b, T(0), e, i1 - i0);
    cpu::eval_block(e, e, 0, i1 - i0, [b](const auto& v) { return v.log1p() / b; });
    for (int64_t i = i0; i < i1; ++i) o[i] = b * xp[i] > th ? xp[i] : e[i - i0];
  });
  if (needs_graph(x))
    detail::record_blockwise("softplus", out, x, xc,
                             [b, th](const T* g, const T* xp, T* o, int64_t i0, int64_t i1) {
                               cpu::logistic_map(xp + i0, b, o + i0, i1 - i0,
                                                 [g = g + i0, x = xp + i0, b, th](T s, int64_t i) {
                                                   return cpu::blend(b * x[i] > th, g[i], s * g[i]);
                                                 });
                             });
  return out;
}

namespace detail {
// Row-wise softmax or log-softmax over the middle axis of a contiguous [outer, n, inner] block.
// An exp per element makes the rows compute-bound, so they split over threads at the smaller
// kTranscendentalGrain.
template <Floating T, bool Log>
void softmax_rows(const T* x, T* y, const cpu::ReduceView& v) {
  const int64_t n = v.reduced, inner = v.inner;
  cpu::parallel_for(v.outer * inner, std::max<int64_t>(1, cpu::kTranscendentalGrain / std::max<int64_t>(n, 1)),
                    [&](int64_t j0, int64_t j1) {
                      for (int64_t j = j0; j < j1; ++j) {
                        const int64_t o = j / inner, i = j % inner;
                        const T* xs = x + o * n * inner + i;
                        T* ys = y + o * n * inner + i;
                        if (inner == 1) {
                          using Row = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
                          using OutRow = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
                          Row xr(xs, n);
                          OutRow yr(ys, n);
                          const T m = xr.maxCoeff();
                          if constexpr (Log) {
                            yr = xr - (m + std::log(cpu::sum_exp_shifted(xs, m, n)));
                          } else {
                            // exp and its sum block by block (the block still in L1 when summed),
                            // then one multiplication by 1 / sum, as PyTorch's CPU kernel does.
                            T s = 0;
                            for (int64_t b = 0; b < n; b += cpu::kBlock) {
                              const int64_t len = std::min(cpu::kBlock, n - b);
                              cpu::exp_affine(xs + b, T(1), -m, ys + b, len);
                              s += cpu::ConstArrayMap<T>(ys + b, len).sum();
                            }
                            yr *= T(1) / s;
                          }
                          continue;
                        }
                        T m = xs[0];
                        for (int64_t r = 1; r < n; ++r) m = std::max(m, xs[r * inner]);
                        T s = 0;
                        for (int64_t r = 0; r < n; ++r) s += std::exp(xs[r * inner] - m);
                        const T log_s = std::log(s);
                        for (int64_t r = 0; r < n; ++r) {
                          if constexpr (Log)
                            ys[r * inner] = xs[r * inner] - m - log_s;
                          else
                            ys[r * inner] = std::exp(xs[r * inner] - m) / s;
                        }
                      }
                    });
}

// Backward of both: softmax gives y * (g - sum(g*y)); log-softmax gives g - exp(y) * sum(g).
template <Floating T, bool Log>
void softmax_backward_rows(const T* g, const T* y, T* gx, const cpu::ReduceView& v) {
  const int64_t n = v.reduced, inner = v.inner;
  cpu::parallel_for(v.outer * inner, std::max<int64_t>(1, cpu::kTranscendentalGrain / std::max<int64_t>(n, 1)),
                    [&](int64_t j0, int64_t j1) {
                      for (int64_t j = j0; j < j1; ++j) {
                        const int64_t base = (j / inner) * n * inner + j % inner;
                        if (inner == 1) {  // contiguous rows: vectorised (exp_map / Eigen)
                          const cpu::ConstArrayMap<T> gr(g + base, n), yr(y + base, n);
                          Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> out(gx + base, n);
                          if constexpr (Log) {
                            const T s = gr.sum();
                            const T* gb = g + base;
                            cpu::exp_map(y + base, T(1), T(0), gx + base, n,
                                         [gb, s](T e, int64_t i) { return gb[i] - e * s; });
                          } else
                            out = yr * (gr - (gr * yr).sum());
                          continue;
                        }
                        T s = 0;
                        for (int64_t r = 0; r < n; ++r) {
                          const int64_t k = base + r * inner;
                          s += Log ? g[k] : g[k] * y[k];
                        }
                        for (int64_t r = 0; r < n; ++r) {
                          const int64_t k = base + r * inner;
                          if constexpr (Log)
                            gx[k] = g[k] - std::exp(y[k]) * s;
                          else
                            gx[k] = y[k] * (g[k] - s);
                        }
                      }
                    });
}

template <Floating T, bool Log>
Tensor<T> softmax_impl(const char* op, const Tensor<T>& x, int64_t dim) {
  check_operand(x, op);
  const int d = wrap_dim(dim, x.dim(), op);
  const Tensor<T> xc = contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty(x.shape());
  const cpu::ReduceView view(x.shape(), x.dim() ? d : 0, x.dim() ? d : -1);
  if (out.numel()) softmax_rows<T, Log>(xc.data(), out.data(), view);
  if (needs_graph(x))
    record(op, out, {&x}, [so = Saved<T>::output(out), view](Node<T>& n, const Tensor<T>& g) {
      const Tensor<T> gc = contiguous_or_self(g);
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      softmax_backward_rows<T, Log>(gc.data(), so.get(n).data(), gx.data(), view);
      n.send(0, std::move(gx));
    });
  return out;
}
}  // namespace detail

template <Floating T>
Tensor<T> softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_impl<T, false>("softmax", x, dim);
}
template <Floating T>
Tensor<T> log_softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_impl<T, true>("log_softmax", x, dim);
}

}  // namespace nabla
