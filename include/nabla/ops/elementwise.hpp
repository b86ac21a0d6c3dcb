#pragma once
// Elementwise arithmetic with broadcasting, comparisons, where/masked_fill, and unary math.
// Each op: forward, the backward it records, and its checks, together.
#include <type_traits>

#include "nabla/ops/common.hpp"

namespace nabla {

template <class T>
using Scalar = std::type_identity_t<T>;  // lets `x * 2.0` work for Tensor<float>

namespace detail {
template <Floating T, class F>
Tensor<T> binary_forward(const char* op, const Tensor<T>& a, const Tensor<T>& b, F f) {
  check_same_device(a, b, op);
  const Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor<T> out = Tensor<T>::empty(shape);
  cpu::map(out, f, a, b);
  return out;
}

template <Floating T, class F>
Tensor<T> unary_forward(const char* op, const Tensor<T>& x, F f) {
  check_operand(x, op);
  Tensor<T> out = Tensor<T>::empty(x.shape());
  cpu::map(out, f, x);
  return out;
}

// An Eigen array expression over contiguous operands of one shape.
template <Floating T, class F, class... In>
Tensor<T> array_op(const Shape& shape, F f, const In&... in) {
  Tensor<T> out = Tensor<T>::empty(shape);
  cpu::map_arrays(out.data(), out.numel(), f, contiguous_or_self(in).data()...);
  return out;
}
}  // namespace detail

// ---------------- binary arithmetic ----------------

template <Floating T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("add", a, b, [](T x, T y) { return x + y; });
  if (needs_graph(a, b))
    record("add", out, {&a, &b}, [sa = a.shape(), sb = b.shape()](Node<T>& n, const Tensor<T>& g) {
      if (n.needs_grad(0)) n.send(0, detail::sum_to(g, sa));
      if (n.needs_grad(1)) n.send(1, detail::sum_to(g, sb));
    });
  return out;
}

template <Floating T>
Tensor<T> neg(const Tensor<T>& x);

template <Floating T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("sub", a, b, [](T x, T y) { return x - y; });
  if (needs_graph(a, b))
    record("sub", out, {&a, &b}, [sa = a.shape(), sb = b.shape()](Node<T>& n, const Tensor<T>& g) {
      if (n.needs_grad(0)) n.send(0, detail::sum_to(g, sa));
      if (n.needs_grad(1)) n.send(1, detail::sum_to(neg(g), sb));
    });
  return out;
}

template <Floating T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("mul", a, b, [](T x, T y) { return x * y; });
  if (needs_graph(a, b))
    record("mul", out, {&a, &b}, [sa = Saved<T>(a), sb = Saved<T>(b)](Node<T>& n, const Tensor<T>& g) {
      const Tensor<T>&x = sa.get(n), &y = sb.get(n);
      if (n.needs_grad(0)) n.send(0, detail::sum_to(mul(g, y), x.shape()));
      if (n.needs_grad(1)) n.send(1, detail::sum_to(mul(g, x), y.shape()));
    });
  return out;
}

template <Floating T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("div", a, b, [](T x, T y) { return x / y; });
  if (needs_graph(a, b))
    record("div", out, {&a, &b}, [sa = Saved<T>(a), sb = Saved<T>(b)](Node<T>& n, const Tensor<T>& g) {
      const Tensor<T>&x = sa.get(n), &y = sb.get(n);
      if (n.needs_grad(0)) n.send(0, detail::sum_to(div(g, y), x.shape()));
      if (n.needs_grad(1)) {
        Tensor<T> gy = Tensor<T>::empty(g.shape());
        cpu::map(gy, [](T gi, T xi, T yi) { return -gi * xi / (yi * yi); }, g, x, y);
        n.send(1, detail::sum_to(gy, y.shape()));
      }
    });
  return out;
}

template <Floating T>
Tensor<T> pow(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("pow", a, b, [](T x, T y) { return std::pow(x, y); });
  if (needs_graph(a, b))
    record("pow", out, {&a, &b},
           [sa = Saved<T>(a), sb = Saved<T>(b), so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
             const Tensor<T>&x = sa.get(n), &y = sb.get(n);
             if (n.needs_grad(0)) {
               Tensor<T> gx = Tensor<T>::empty(g.shape());
               cpu::map(gx, [](T gi, T xi, T yi) { return yi == T(0) ? T(0) : gi * yi * std::pow(xi, yi - 1); },
                        g, x, y);
               n.send(0, detail::sum_to(gx, x.shape()));
             }
             if (n.needs_grad(1)) {
               Tensor<T> gy = Tensor<T>::empty(g.shape());
               cpu::map(gy,
                        [](T gi, T xi, T yi, T oi) {
                          return xi == T(0) && yi >= T(0) ? T(0) : gi * oi * std::log(xi);
                        },
                        g, x, y, so.get(n));
               n.send(1, detail::sum_to(gy, y.shape()));
             }
           });
  return out;
}

// Elementwise max/min; where the operands tie, each gets half the gradient (as PyTorch).
template <Floating T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("maximum", a, b, [](T x, T y) { return x >= y ? x : y; });
  if (needs_graph(a, b))
    record("maximum", out, {&a, &b}, [sa = Saved<T>(a), sb = Saved<T>(b)](Node<T>& n, const Tensor<T>& g) {
      const Tensor<T>&x = sa.get(n), &y = sb.get(n);
      auto part = [](T gi, T mine, T other) { return mine > other ? gi : mine == other ? gi / 2 : T(0); };
      for (int i = 0; i < 2; ++i) {
        if (!n.needs_grad(i)) continue;
        Tensor<T> gi = Tensor<T>::empty(g.shape());
        cpu::map(gi, part, g, i == 0 ? x : y, i == 0 ? y : x);
        n.send(i, detail::sum_to(gi, (i == 0 ? x : y).shape()));
      }
    });
  return out;
}

template <Floating T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::binary_forward("minimum", a, b, [](T x, T y) { return x <= y ? x : y; });
  if (needs_graph(a, b))
    record("minimum", out, {&a, &b}, [sa = Saved<T>(a), sb = Saved<T>(b)](Node<T>& n, const Tensor<T>& g) {
      const Tensor<T>&x = sa.get(n), &y = sb.get(n);
      auto part = [](T gi, T mine, T other) { return mine < other ? gi : mine == other ? gi / 2 : T(0); };
      for (int i = 0; i < 2; ++i) {
        if (!n.needs_grad(i)) continue;
        Tensor<T> gi = Tensor<T>::empty(g.shape());
        cpu::map(gi, part, g, i == 0 ? x : y, i == 0 ? y : x);
        n.send(i, detail::sum_to(gi, (i == 0 ? x : y).shape()));
      }
    });
  return out;
}

// ---------------- with a scalar ----------------

template <Floating T>
Tensor<T> add(const Tensor<T>& a, Scalar<T> s) {
  Tensor<T> out = detail::unary_forward("add", a, [s](T x) { return x + s; });
  if (needs_graph(a)) record("add", out, {&a}, [](Node<T>& n, const Tensor<T>& g) { n.send(0, g); });
  return out;
}

template <Floating T>
Tensor<T> mul(const Tensor<T>& a, Scalar<T> s) {
  Tensor<T> out = detail::unary_forward("mul", a, [s](T x) { return x * s; });
  if (needs_graph(a))
    record("mul", out, {&a}, [s](Node<T>& n, const Tensor<T>& g) { n.send(0, mul(g, s)); });
  return out;
}

// s - a
template <Floating T>
Tensor<T> rsub(const Tensor<T>& a, Scalar<T> s) {
  Tensor<T> out = detail::unary_forward("rsub", a, [s](T x) { return s - x; });
  if (needs_graph(a)) record("rsub", out, {&a}, [](Node<T>& n, const Tensor<T>& g) { n.send(0, neg(g)); });
  return out;
}

// s / a
template <Floating T>
Tensor<T> rdiv(const Tensor<T>& a, Scalar<T> s) {
  Tensor<T> out = detail::unary_forward("rdiv", a, [s](T x) { return s / x; });
  if (needs_graph(a))
    record("rdiv", out, {&a}, [sa = Saved<T>(a), so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(gx, [](T gi, T xi, T oi) { return -gi * oi / xi; }, g, sa.get(n), so.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

template <Floating T>
Tensor<T> pow(const Tensor<T>& a, Scalar<T> p) {
  Tensor<T> out = p == T(2) ? detail::unary_forward("pow", a, [](T x) { return x * x; })
                            : detail::unary_forward("pow", a, [p](T x) { return std::pow(x, p); });
  if (needs_graph(a))
    record("pow", out, {&a}, [sa = Saved<T>(a), p](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      if (p == T(0)) gx.fill_(T(0));
      else cpu::map(gx, [p](T gi, T xi) { return gi * p * std::pow(xi, p - 1); }, g, sa.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

template <Floating T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <Floating T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <Floating T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <Floating T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <Floating T> Tensor<T> operator+(const Tensor<T>& a, Scalar<T> s) { return add(a, s); }
template <Floating T> Tensor<T> operator+(Scalar<T> s, const Tensor<T>& a) { return add(a, s); }
template <Floating T> Tensor<T> operator-(const Tensor<T>& a, Scalar<T> s) { return add(a, -s); }
template <Floating T> Tensor<T> operator-(Scalar<T> s, const Tensor<T>& a) { return rsub(a, s); }
template <Floating T> Tensor<T> operator*(const Tensor<T>& a, Scalar<T> s) { return mul(a, s); }
template <Floating T> Tensor<T> operator*(Scalar<T> s, const Tensor<T>& a) { return mul(a, s); }
template <Floating T> Tensor<T> operator/(const Tensor<T>& a, Scalar<T> s) { return mul(a, T(1) / s); }
template <Floating T> Tensor<T> operator/(Scalar<T> s, const Tensor<T>& a) { return rdiv(a, s); }
template <Floating T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }

// ---------------- comparisons and selection (no gradient flows through a mask) ----------------

#define NABLA_COMPARISON(name, expr)                                                        \
  template <Floating T>                                                                     \
  Tensor<T> name(const Tensor<T>& a, const Tensor<T>& b) {                                  \
    return detail::binary_forward(#name, a, b, [](T x, T y) { return (expr) ? T(1) : T(0); }); \
  }                                                                                         \
  template <Floating T>                                                                     \
  Tensor<T> name(const Tensor<T>& a, Scalar<T> s) {                                         \
    return detail::unary_forward(#name, a, [s](T x) { const T y = s; return (expr) ? T(1) : T(0); }); \
  }
NABLA_COMPARISON(gt, x > y)
NABLA_COMPARISON(lt, x < y)
NABLA_COMPARISON(ge, x >= y)
NABLA_COMPARISON(le, x <= y)
NABLA_COMPARISON(eq, x == y)
NABLA_COMPARISON(ne, x != y)
#undef NABLA_COMPARISON

// cond ? a : b elementwise (cond nonzero = true), all three broadcast together.
template <Floating T>
Tensor<T> where(const Tensor<T>& cond, const Tensor<T>& a, const Tensor<T>& b) {
  detail::check_same_device(cond, a, "where");
  detail::check_same_device(a, b, "where");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor<T> out = Tensor<T>::empty(shape);
  cpu::map(out, [](T c, T x, T y) { return c != T(0) ? x : y; }, cond, a, b);
  if (needs_graph(a, b))
    record("where", out, {&a, &b},
           [sc = Saved<T>(cond), sa = a.shape(), sb = b.shape()](Node<T>& n, const Tensor<T>& g) {
             const Tensor<T>& c = sc.get(n);
             for (int i = 0; i < 2; ++i) {
               if (!n.needs_grad(i)) continue;
               Tensor<T> gi = Tensor<T>::empty(g.shape());
               if (i == 0) cpu::map(gi, [](T gv, T cv) { return cv != T(0) ? gv : T(0); }, g, c);
               else cpu::map(gi, [](T gv, T cv) { return cv != T(0) ? T(0) : gv; }, g, c);
               n.send(i, detail::sum_to(gi, i == 0 ? sa : sb));
             }
           });
  return out;
}

// x with `value` wherever mask (broadcast to x) is nonzero.
template <Floating T>
Tensor<T> masked_fill(const Tensor<T>& x, const Tensor<T>& mask, Scalar<T> value) {
  detail::check_same_device(x, mask, "masked_fill");
  const Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  NABLA_CHECK(shape == x.shape(), "masked_fill: mask of shape ", mask.shape(),
              " does not broadcast to the input's shape ", x.shape());
  Tensor<T> out = Tensor<T>::empty(shape);
  cpu::map(out, [value](T v, T m) { return m != T(0) ? value : v; }, x, mask);
  if (needs_graph(x))
    record("masked_fill", out, {&x}, [sm = Saved<T>(mask)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(gx, [](T gv, T m) { return m != T(0) ? T(0) : gv; }, g, sm.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

// ---------------- unary math ----------------

template <Floating T>
Tensor<T> neg(const Tensor<T>& x) {
  Tensor<T> out = detail::unary_forward("neg", x, [](T v) { return -v; });
  if (needs_graph(x)) record("neg", out, {&x}, [](Node<T>& n, const Tensor<T>& g) { n.send(0, neg(g)); });
  return out;
}

template <Floating T>
Tensor<T> exp(const Tensor<T>& x) {
  detail::check_operand(x, "exp");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty(x.shape());
  cpu::parallel_for(out.numel(), cpu::kTranscendentalGrain, [xp = xc.data(), o = out.data()](int64_t i0, int64_t i1) {
    cpu::exp_affine(xp + i0, T(1), T(0), o + i0, i1 - i0);
  });
  if (needs_graph(x))
    record("exp", out, {&x}, [so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
      n.send(0, mul(g, so.get(n)));
    });
  return out;
}

template <Floating T>
Tensor<T> log(const Tensor<T>& x) {
  detail::check_operand(x, "log");
  Tensor<T> out = detail::array_op<T>(x.shape(), [](const auto& v) { return v.log(); }, x);
  if (needs_graph(x))
    record("log", out, {&x}, [sx = Saved<T>(x)](Node<T>& n, const Tensor<T>& g) { n.send(0, div(g, sx.get(n))); });
  return out;
}

template <Floating T>
Tensor<T> sqrt(const Tensor<T>& x) {
  detail::check_operand(x, "sqrt");
  Tensor<T> out = detail::array_op<T>(x.shape(), [](const auto& v) { return v.sqrt(); }, x);
  if (needs_graph(x))
    record("sqrt", out, {&x}, [so = Saved<T>::output(out)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(gx, [](T gv, T o) { return gv / (2 * o); }, g, so.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

template <Floating T>
Tensor<T> abs(const Tensor<T>& x) {
  Tensor<T> out = detail::unary_forward("abs", x, [](T v) { return std::abs(v); });
  if (needs_graph(x))
    record("abs", out, {&x}, [sx = Saved<T>(x)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(gx, [](T gv, T v) { return v > T(0) ? gv : v < T(0) ? -gv : T(0); }, g, sx.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}

// Clamps to [lo, hi]; the gradient flows where lo <= x <= hi (PyTorch's convention).
template <Floating T>
Tensor<T> clamp(const Tensor<T>& x, Scalar<T> lo, Scalar<T> hi) {
  NABLA_CHECK(!(lo > hi), "clamp: expected lo <= hi, got lo ", lo, " and hi ", hi);
  Tensor<T> out = detail::unary_forward("clamp", x, [lo, hi](T v) { return v < lo ? lo : v > hi ? hi : v; });
  if (needs_graph(x))
    record("clamp", out, {&x}, [sx = Saved<T>(x), lo, hi](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::empty(g.shape());
      cpu::map(gx, [lo, hi](T gv, T v) { return v >= lo && v <= hi ? gv : T(0); }, g, sx.get(n));
      n.send(0, std::move(gx));
    });
  return out;
}
template <Floating T>
Tensor<T> clamp_min(const Tensor<T>& x, Scalar<T> lo) {
  return clamp(x, lo, std::numeric_limits<T>::infinity());
}
template <Floating T>
Tensor<T> clamp_max(const Tensor<T>& x, Scalar<T> hi) {
  return clamp(x, -std::numeric_limits<T>::infinity(), hi);
}

}  // namespace nabla
