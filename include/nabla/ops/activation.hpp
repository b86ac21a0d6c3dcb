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
  Tensor<T> out = detail::array_op<T>(
      x.shape(), [](const auto& v) { return v.logistic(); }, x);
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

// x for x > 0, else alpha * (exp(x) - 1).
template <Floating T>
Tensor<T> elu(const Tensor<T>& x, Scalar<T> alpha = T(1)) {
  const T a = alpha;
  Tensor<T> out =
      detail::unary_forward("elu", x, [a](T v) { return v > T(0) ? v : a * std::expm1(v); });
  if (needs_graph(x))
    record("elu", out, {&x}, [sx = Saved<T>(x), a](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(
          gx, [a](T gv, T v) { return v > T(0) ? gv : gv * a * std::exp(v); }, g, sx.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

// x * sigmoid(x) (also called swish).
template <Floating T>
Tensor<T> silu(const Tensor<T>& x) {
  Tensor<T> out = detail::unary_forward("silu", x, [](T v) { return v / (T(1) + std::exp(-v)); });
  if (needs_graph(x))
    record("silu", out, {&x}, [sx = Saved<T>(x)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(
          gx,
          [](T gv, T v) {
            const T s = T(1) / (T(1) + std::exp(-v));
            return gv * s * (T(1) + v * (T(1) - s));
          },
          g, sx.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

// x * Phi(x) with Phi the standard normal CDF (approximate "none", PyTorch's default), or its
// tanh approximation 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) (approximate "tanh").
template <Floating T>
Tensor<T> gelu(const Tensor<T>& x, std::string_view approximate = "none") {
  NABLA_CHECK(approximate == "none" || approximate == "tanh",
              "gelu: approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  const bool tanh_form = approximate == "tanh";
  constexpr T kInvSqrt2 = T(0.70710678118654752440), kInvSqrt2Pi = T(0.39894228040143267794),
              kSqrt2OverPi = T(0.79788456080286535588), kCubic = T(0.044715);
  Tensor<T> out = detail::unary_forward("gelu", x, [=](T v) {
    if (tanh_form) return T(0.5) * v * (T(1) + std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v)));
    return T(0.5) * v * (T(1) + std::erf(v * kInvSqrt2));
  });
  if (needs_graph(x))
    record("gelu", out, {&x}, [sx = Saved<T>(x), tanh_form](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(
          gx,
          [=](T gv, T v) {
            if (tanh_form) {
              const T t = std::tanh(kSqrt2OverPi * (v + kCubic * v * v * v));
              return gv * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * kSqrt2OverPi *
                                                     (T(1) + T(3) * kCubic * v * v));
            }
            return gv * (T(0.5) * (T(1) + std::erf(v * kInvSqrt2)) +
                         v * kInvSqrt2Pi * std::exp(T(-0.5) * v * v));
          },
          g, sx.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

// log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule).
template <Floating T>
Tensor<T> softplus(const Tensor<T>& x, Scalar<T> beta = T(1), Scalar<T> threshold = T(20)) {
  const T b = beta, th = threshold;
  NABLA_CHECK(b != T(0), "softplus: beta must not be 0");
  Tensor<T> out = detail::unary_forward(
      "softplus", x, [b, th](T v) { return b * v > th ? v : std::log1p(std::exp(b * v)) / b; });
  if (needs_graph(x))
    record("softplus", out, {&x}, [sx = Saved<T>(x), b, th](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(
          gx, [b, th](T gv, T v) { return b * v > th ? gv : gv / (T(1) + std::exp(-b * v)); }, g,
          sx.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

namespace detail {
// Row-wise softmax or log-softmax over the middle axis of a contiguous [outer, n, inner] block.
template <Floating T, bool Log>
void softmax_rows(const T* x, T* y, const cpu::ReduceView& v) {
  const int64_t n = v.reduced, inner = v.inner;
  cpu::parallel_for(v.outer * inner,
                    std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(n, 1)),
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
                          yr = (xr - m).exp();
                          const T s = yr.sum();
                          if constexpr (Log)
                            yr = xr - (m + std::log(s));
                          else
                            yr /= s;
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
  cpu::parallel_for(v.outer * inner,
                    std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(n, 1)),
                    [&](int64_t j0, int64_t j1) {
                      for (int64_t j = j0; j < j1; ++j) {
                        const int64_t base = (j / inner) * n * inner + j % inner;
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
