#pragma once
// CPU loops over strided, broadcast operands. Contiguous operands of one shape take a flat loop
// the compiler vectorises (or an Eigen array expression for transcendental functions); the rest
// take a coalesced N-d loop whose innermost dim runs with explicit strides. Work is split over
// threads only above kElementwiseGrain elements.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE  // nabla splits work itself: one thread pool in the process
#endif
#include <Eigen/Core>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "nabla/backend/cpu/gemm_kernel.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/core/tensor.hpp"

namespace nabla::cpu {

// Strides of `t` as seen from a tensor of shape `out` it broadcasts to (0 in broadcast dims).
template <Element T>
Strides broadcast_strides(const Tensor<T>& t, const Shape& out) {
  Strides s = Dims::filled(out.size(), 0);
  const int lead = out.size() - t.dim();
  for (int i = 0; i < t.dim(); ++i) s[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return s;
}

// An N-operand loop nest over `shape`, dims of size 1 dropped and mergeable dims merged.
template <int N>
struct LoopNest {
  int ndim = 0;
  int64_t sizes[Dims::kMaxDims] = {};
  int64_t strides[N][Dims::kMaxDims] = {};

  LoopNest(const Shape& shape, const std::array<Strides, N>& operand_strides) {
    for (int d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;
      const bool merge = ndim > 0 && [&] {
        for (int k = 0; k < N; ++k)
          if (strides[k][ndim - 1] != operand_strides[k][d] * shape[d]) return false;
        return true;
      }();
      if (merge) {
        sizes[ndim - 1] *= shape[d];
        for (int k = 0; k < N; ++k) strides[k][ndim - 1] = operand_strides[k][d];
      } else {
        sizes[ndim] = shape[d];
        for (int k = 0; k < N; ++k) strides[k][ndim] = operand_strides[k][d];
        ++ndim;
      }
    }
    if (ndim == 0) {  // a single element
      sizes[0] = 1;
      ndim = 1;
    }
  }

  int64_t inner() const { return sizes[ndim - 1]; }
  int64_t outer() const {
    int64_t n = 1;
    for (int d = 0; d + 1 < ndim; ++d) n *= sizes[d];
    return n;
  }

  // Calls f(pointers, inner_strides, inner_size) for each innermost row in [row0, row1).
  template <class P, class F>
  void run(const std::array<P*, N>& base, int64_t row0, int64_t row1, F&& f) const {
    int64_t index[Dims::kMaxDims] = {};
    int64_t rest = row0;
    for (int d = ndim - 2; d >= 0; --d) {
      index[d] = rest % sizes[d];
      rest /= sizes[d];
    }
    int64_t inner_strides[N];
    for (int k = 0; k < N; ++k) inner_strides[k] = strides[k][ndim - 1];
    for (int64_t row = row0; row < row1; ++row) {
      std::array<P*, N> p = base;
      for (int d = 0; d + 1 < ndim; ++d)
        for (int k = 0; k < N; ++k) p[k] += index[d] * strides[k][d];
      f(p, inner_strides, inner());
      for (int d = ndim - 2; d >= 0 && ++index[d] == sizes[d]; --d) index[d] = 0;
    }
  }
};

namespace detail {
template <class T, class F, size_t... I>
void map_rows(const LoopNest<sizeof...(I) + 1>& nest, T* out, const std::array<const T*, sizeof...(I)>& in,
              int64_t row0, int64_t row1, F& f, std::index_sequence<I...>) {
  constexpr int N = sizeof...(I) + 1;
  std::array<T*, N> base = {out, const_cast<T*>(in[I])...};
  nest.run(base, row0, row1, [&](const std::array<T*, N>& p, const int64_t* s, int64_t n) {
    if (((s[0] == 1) && ... && (s[I + 1] == 1))) {
      for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[I + 1][i]...);
    } else {
      for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = f(p[I + 1][i * s[I + 1]]...);
    }
  });
}
}  // namespace detail

// out[i] = f(in0[i], in1[i], ...), the inputs broadcast to out's shape; out may be strided.
template <Element T, class F, class... In>
void map(Tensor<T>& out, F f, const In&... in) {
  constexpr int N = sizeof...(In) + 1;
  const Shape& shape = out.shape();
  const int64_t n = out.numel();
  T* o = out.data();
  const bool flat = out.is_contiguous() && ((in.shape() == shape && in.is_contiguous()) && ...);
  if (flat) {
    const std::array<const T*, N - 1> p = {in.data()...};
    // f and the pointers are copied into the chunk: state reached through a reference could alias
    // the output, which keeps GCC from vectorising (a leaky_relu ran scalar and branchy, 40x slower).
    parallel_for(n, kElementwiseGrain, [o, p, f](int64_t i0, int64_t i1) {
      [&]<size_t... I>(std::index_sequence<I...>) {
        const F fn = f;
        for (int64_t i = i0; i < i1; ++i) o[i] = fn(p[I][i]...);
      }(std::make_index_sequence<N - 1>());
    });
    return;
  }
  const LoopNest<N> nest(shape, {out.strides(), broadcast_strides(in, shape)...});
  const std::array<const T*, N - 1> p = {in.data()...};
  const int64_t rows = nest.outer();
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(nest.inner(), 1));
  parallel_for(rows, grain, [&nest, o, p, f](int64_t r0, int64_t r1) {
    F fn = f;
    detail::map_rows(nest, o, p, r0, r1, fn, std::make_index_sequence<N - 1>());
  });
}

template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// out[0, n) = f(ConstArrayMap(in0), ...) evaluated as Eigen array expressions (vectorised
// transcendental functions), in parallel chunks for large n. Operands are contiguous.
template <class T, class F, class... In>
void map_arrays(T* out, int64_t n, F f, const In*... in) {
  parallel_for(n, kElementwiseGrain, [&](int64_t i0, int64_t i1) {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>> o(out + i0, i1 - i0);
    o = f(ConstArrayMap<T>(in + i0, i1 - i0)...);
  });
}

namespace detail {
// dst[r * ldd + c] = src[c * lds + r] for r < rows, c < cols, in 64 x 64 tiles (in parallel when
// large): both sides then stay within a few dozen cache lines and pages, where a row-by-row
// strided copy touches a new line (and, at 1024 columns, a new 4 KB page) per element.
template <class T>
void transpose_tiled(const T* src, int64_t lds, T* dst, int64_t ldd, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 64;
  const int64_t tile_rows = (rows + kTile - 1) / kTile, tile_cols = (cols + kTile - 1) / kTile;
  parallel_for(tile_rows * tile_cols, std::max<int64_t>(1, kElementwiseGrain / (kTile * kTile)),
               [=](int64_t t0, int64_t t1) {
                 for (int64_t t = t0; t < t1; ++t) {
                   const int64_t r0 = t / tile_cols * kTile, c0 = t % tile_cols * kTile;
                   const int64_t nr = std::min(kTile, rows - r0), nc = std::min(kTile, cols - c0);
#if NABLA_HAVE_GEMM_KERNEL
                   kernel::transpose(src + c0 * lds + r0, lds, nc, nr, dst + r0 * ldd + c0, ldd);
#else
                   for (int64_t r = r0; r < r0 + nr; ++r)
                     for (int64_t c = c0; c < c0 + nc; ++c) dst[r * ldd + c] = src[c * lds + r];
#endif
                 }
               });
}

// A copy whose two innermost dims are swapped between dst and src (x.t().contiguous(), a permute
// to channels-last, the gradient of a transpose) done as tiled transposes; false (nothing done)
// for any other layout.
template <class T>
bool copy_transposed(const LoopNest<2>& nest, T* dst, const T* src) {
  const int nd = nest.ndim;
  if (nd < 2) return false;
  const int64_t* ds = nest.strides[0];
  const int64_t* ss = nest.strides[1];
  const int64_t rows = nest.sizes[nd - 2], cols = nest.sizes[nd - 1];
  if (ds[nd - 1] != 1 || ss[nd - 2] != 1 || ss[nd - 1] == 1 || rows < 16 || cols < 16) return false;
  int64_t index[Dims::kMaxDims] = {};
  const int64_t outer = nest.outer() / rows;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t od = 0, os = 0;
    for (int d = 0; d < nd - 2; ++d) od += index[d] * ds[d], os += index[d] * ss[d];
    transpose_tiled(src + os, ss[nd - 1], dst + od, ds[nd - 2], rows, cols);
    for (int d = nd - 3; d >= 0 && ++index[d] == nest.sizes[d]; --d) index[d] = 0;
  }
  return true;
}
}  // namespace detail

// dst = src elementwise (src broadcast to dst's shape); both may be strided.
template <Element T>
void copy(Tensor<T>& dst, const Tensor<T>& src) {
  if (dst.is_contiguous() && src.is_contiguous() && dst.shape() == src.shape()) {
    const T* s = src.data();
    T* d = dst.data();
    parallel_for(dst.numel(), kElementwiseGrain, [&](int64_t i0, int64_t i1) {
      std::copy(s + i0, s + i1, d + i0);
    });
    return;
  }
  const LoopNest<2> nest(dst.shape(), {dst.strides(), broadcast_strides(src, dst.shape())});
  const std::array<T*, 2> base = {dst.data(), src.data()};
  if (detail::copy_transposed(nest, base[0], base[1])) return;
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / nest.inner());
  parallel_for(nest.outer(), grain, [&](int64_t r0, int64_t r1) {
    nest.run(base, r0, r1, [](const std::array<T*, 2>& p, const int64_t* s, int64_t n) {
      if (s[0] == 1 && s[1] == 1) {  // contiguous rows (a slice of cat's output, a narrow)
        std::copy(p[1], p[1] + n, p[0]);
        return;
      }
      for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = p[1][i * s[1]];
    });
  });
}

// dst += src elementwise, same shape, dst contiguous.
template <Floating T>
void accumulate(Tensor<T>& dst, const Tensor<T>& src) {
  if (src.is_contiguous()) {
    T* d = dst.data();
    const T* s = src.data();
    parallel_for(dst.numel(), kElementwiseGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) d[i] += s[i];
    });
    return;
  }
  map(dst, [](T a, T b) { return a + b; }, dst, src);
}

// part(i0, len) summed over [0, n) in fixed 4096-element chunks (in parallel when many), then the
// chunk sums in order, so the result does not depend on the thread count.
template <Floating T, class Part>
T chunked_sum(int64_t n, Part part) {
  constexpr int64_t chunk = 4096;
  const int64_t chunks = (n + chunk - 1) / chunk;
  if (chunks <= 1) return n ? part(0, n) : T(0);
  std::vector<T> partial(static_cast<size_t>(chunks));
  parallel_for(chunks, 8, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      partial[static_cast<size_t>(c)] = part(c * chunk, std::min(chunk, n - c * chunk));
  });
  T total = 0;
  for (T v : partial) total += v;
  return total;
}

// Sum of n contiguous values (chunked_sum: independent of the thread count).
template <Floating T>
T sum_contiguous(const T* x, int64_t n) {
  return chunked_sum<T>(n, [x](int64_t i0, int64_t len) { return ConstArrayMap<T>(x + i0, len).sum(); });
}

// Calls f(i0, i1) on consecutive blocks of at most kBlock elements covering [0, n), the blocks
// in parallel chunks (kTranscendentalGrain) when n is large. For elementwise loops that stage a
// vectorised function of a block (exp, tanh, logistic) in a stack buffer and then combine it with
// plain arithmetic: Eigen's select() is not vectorised, and a branch around an exp in a plain loop
// runs scalar.
inline constexpr int64_t kBlock = 256;
template <class F>
void for_blocks(int64_t n, F f) {
  parallel_for(n, kTranscendentalGrain, [&f](int64_t c0, int64_t c1) {
    for (int64_t i = c0; i < c1; i += kBlock) f(i, std::min(i + kBlock, c1));
  });
}

// c ? a : b as bit operations. GCC sinks an arm's arithmetic into the branch that uses it and
// then, under its default -ftrapping-math, will not if-convert (so not vectorise) a select whose
// arm computes; integer masks never trap, so a loop built on blend vectorises.
template <Floating T>
T blend(bool c, T a, T b) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  const I m = -static_cast<I>(c);
  return std::bit_cast<T>((std::bit_cast<I>(a) & m) | (std::bit_cast<I>(b) & ~m));
}

// a * b + c, fused where the CPU has FMA; a libm fma call otherwise would stop the loops that use
// it from vectorising (a build without -march=native on x86-64).
inline float fmadd(float a, float b, float c) {
#if defined(__FMA__) || defined(__aarch64__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// out[i] = post(exp(a x[i] + b), i) for i < n, any n; post may read other arrays at i (then out
// may alias x only if post does not read x), and should compute every value it selects between
// (blend) so that the loop vectorises.
// Floats, block by block: a x + b clamped to [-104, 89] (beyond which float exp is 0 or inf; NaN
// stays NaN) as an Eigen expression into a stack buffer, then one plain loop GCC vectorises
// (checked with -fopt-info-vec): v = k ln2 + r with k = round(v / ln2) (the 1.5 * 2^23 rounding
// trick, so that k also sits in the low mantissa bits of t and needs no conversion) and
// |r| <= ln2 / 2 (ln2 in two parts, Cody-Waite), exp(r) by Cephes' degree-6 polynomial, then
// times 2^k as two powers of two built from their exponent bits, so that results down to the
// smallest denormal stay right. Within 2 ulp of exp over the whole range (the test checks it);
// about 1.45 ns per float against Eigen's 2.0 here (Zen 1), whose ldexp handles any exponent in
// several steps. The clamp must not be in the loop: GCC turns it into compares and blends there,
// which cost more than the polynomial. Doubles: Eigen's exp, then post in a second loop.
template <class T, class Post>
void exp_map(const T* x, T a, T b, T* out, int64_t n, Post post) {
  if constexpr (std::is_same_v<T, float>) {
    float c[kBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
      const int64_t len = std::min(kBlock, n - i0);
      Eigen::Map<Eigen::ArrayXf>(c, len) = (ConstArrayMap<float>(x + i0, len) * a + b).max(-104.0f).min(89.0f);
      float* o = out + i0;
      for (int64_t i = 0; i < len; ++i) {
        const float v = c[i];
        const float t = fmadd(v, 1.44269504088896341f, 12582912.0f);  // 1.5 * 2^23 + k
        const float k = t - 12582912.0f;
        float r = fmadd(k, -0.693145751953125f, v);
        r = fmadd(k, -1.428606765330187045e-6f, r);
        float p = 1.9875691500e-4f;
        p = fmadd(p, r, 1.3981999507e-3f);
        p = fmadd(p, r, 8.3334519073e-3f);
        p = fmadd(p, r, 4.1665795894e-2f);
        p = fmadd(p, r, 1.6666665459e-1f);
        p = fmadd(p, r, 5.0000001201e-1f);
        p = fmadd(p, r * r, r + 1.0f);
        const int32_t ki = std::bit_cast<int32_t>(t) - 0x4B400000;  // k, in [-150, 128]
        const int32_t h = ki >> 1;
        o[i] = post(p * std::bit_cast<float>((h + 127) << 23) * std::bit_cast<float>((ki - h + 127) << 23), i0 + i);
      }
    }
  } else {
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out, n) = (ConstArrayMap<T>(x, n) * a + b).exp();
    for (int64_t i = 0; i < n; ++i) out[i] = post(out[i], i);
  }
}

// out[0, n) = exp(a x[0, n) + b), in place allowed.
template <class T>
void exp_affine(const T* x, T a, T b, T* out, int64_t n) {
  exp_map(x, a, b, out, n, [](T e, int64_t) { return e; });
}

// out[i] = post(sigmoid(a x[i]), i), sigmoid as 1 / (1 + exp(-a x)): within a few ulp everywhere
// (Eigen's logistic() is a rational approximation with an absolute error near 1e-7, a relative
// error of 2e-4 at x = -8). Aliasing as exp_map.
template <class T, class Post>
void logistic_map(const T* x, T a, T* out, int64_t n, Post post) {
  exp_map(x, -a, T(0), out, n, [&post](T e, int64_t i) { return post(T(1) / (T(1) + e), i); });
}

// out[0, n) = sigmoid(a x[0, n)), in place allowed.
template <class T>
void logistic_scaled(const T* x, T a, T* out, int64_t n) {
  logistic_map(x, a, out, n, [](T s, int64_t) { return s; });
}

// Sum of exp(x[i] - m) over n contiguous values (a log-sum-exp's sum), block by block.
template <class T>
T sum_exp_shifted(const T* x, T m, int64_t n) {
  T s = 0, e[kBlock];
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t len = std::min(kBlock, n - b);
    exp_affine(x + b, T(1), -m, e, len);
    s += ConstArrayMap<T>(e, len).sum();
  }
  return s;
}

// buf[0, i1 - i0) = fn(ConstArrayMap(x + i0, i1 - i0)), an Eigen array expression of one block.
template <class T, class Fn>
void eval_block(T* buf, const T* x, int64_t i0, int64_t i1, Fn fn) {
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(buf, i1 - i0) = fn(ConstArrayMap<T>(x + i0, i1 - i0));
}

// out[0, n) = erf(scale * x[0, n)), n <= kBlock. Floats: a rational approximation on [-4, 4]
// (odd numerator of degree 13 over an even denominator of degree 8; the coefficients Eigen and
// XLA use), within a few ulp of std::erf there; the input is clamped to [-4, 4] first, where
// float erf has already rounded to +/-1. The clamp is an Eigen expression and the polynomial a
// plain loop, so that both vectorise (GCC will not if-convert a clamp in the loop under its
// default -ftrapping-math). Doubles: std::erf.
template <class T>
void erf_block(const T* x, T scale, T* out, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    Eigen::Map<Eigen::ArrayXf>(out, n) = (ConstArrayMap<float>(x, n) * scale).max(-4.0f).min(4.0f);
    for (int64_t i = 0; i < n; ++i) {
      const float v = out[i], v2 = v * v;
      float p = v2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
      p = v2 * p + -2.10102402082508e-06f;
      p = v2 * p + -5.69250639462346e-05f;
      p = v2 * p + -7.34990630326855e-04f;
      p = v2 * p + -2.95459980854025e-03f;
      p = v2 * p + -1.60960333262415e-02f;
      float q = v2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
      q = v2 * q + -1.68282697438203e-03f;
      q = v2 * q + -7.37332916720468e-03f;
      q = v2 * q + -1.42647390514189e-02f;
      out[i] = v * p / q;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = std::erf(scale * x[i]);
  }
}

// Sum of (a[i] - b[i])^2 over n contiguous values, in chunked_sum's fixed chunks and order.
template <Floating T>
T sum_squared_diff(const T* a, const T* b, int64_t n) {
  return chunked_sum<T>(n, [a, b](int64_t i0, int64_t len) {
    return (ConstArrayMap<T>(a + i0, len) - ConstArrayMap<T>(b + i0, len)).square().sum();
  });
}

// A contiguous tensor seen as [outer, reduced, inner] around one dim (or a run of dims).
struct ReduceView {
  int64_t outer = 1, reduced = 1, inner = 1;
  ReduceView(const Shape& shape, int first, int last) {
    for (int d = 0; d < first; ++d) outer *= shape[d];
    for (int d = first; d <= last; ++d) reduced *= shape[d];
    for (int d = last + 1; d < shape.size(); ++d) inner *= shape[d];
  }
};

// out[o, i] = sum_r x[o, r, i] for contiguous x; fixed summation order per output element.
template <Floating T>
void sum_reduce(const T* x, T* out, const ReduceView& v) {
  if (v.inner == 1) {
    parallel_for(v.outer, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(v.reduced, 1)),
                 [&](int64_t o0, int64_t o1) {
                   for (int64_t o = o0; o < o1; ++o)
                     out[o] = v.reduced ? ConstArrayMap<T>(x + o * v.reduced, v.reduced).sum() : T(0);
                 });
    return;
  }
  const int64_t work = v.reduced * v.inner;
  parallel_for(v.outer * v.inner, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(v.reduced, 1)),
               [&](int64_t j0, int64_t j1) {
                 // Split over (outer, inner) pairs; each row segment accumulates over r.
                 int64_t j = j0;
                 while (j < j1) {
                   const int64_t o = j / v.inner, i0 = j % v.inner;
                   const int64_t i1 = std::min(v.inner, i0 + (j1 - j));
                   T* dst = out + o * v.inner;
                   const T* src = x + o * work;
                   std::fill(dst + i0, dst + i1, T(0));
                   for (int64_t r = 0; r < v.reduced; ++r) {
                     const T* row = src + r * v.inner;
                     for (int64_t i = i0; i < i1; ++i) dst[i] += row[i];
                   }
                   j += i1 - i0;
                 }
               });
}

// out[i] = keep[i] > 0 ? a[i] : a[i] * s over contiguous arrays: leaky_relu's forward (keep = a =
// x) and backward (keep = x, a = the output gradient), exactly those values. Written with explicit
// blends: GCC will not turn a multiplication done on one side of a branch into a vector select
// under its default -ftrapping-math, and the scalar, branchy loop took ~12 % of a DCGAN step.
template <class T>
void select_scaled(const T* keep, const T* a, T s, T* out, int64_t n) {
  parallel_for(n, kElementwiseGrain, [=](int64_t i0, int64_t i1) {
    int64_t i = i0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const __m512 vs = _mm512_set1_ps(s), zero = _mm512_setzero_ps();
      for (; i + 16 <= i1; i += 16) {
        const __m512 av = _mm512_loadu_ps(a + i);
        const __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(keep + i), zero, _CMP_GT_OQ);
        _mm512_storeu_ps(out + i, _mm512_mask_blend_ps(m, _mm512_mul_ps(av, vs), av));
      }
    } else {
      const __m512d vs = _mm512_set1_pd(s), zero = _mm512_setzero_pd();
      for (; i + 8 <= i1; i += 8) {
        const __m512d av = _mm512_loadu_pd(a + i);
        const __mmask8 m = _mm512_cmp_pd_mask(_mm512_loadu_pd(keep + i), zero, _CMP_GT_OQ);
        _mm512_storeu_pd(out + i, _mm512_mask_blend_pd(m, _mm512_mul_pd(av, vs), av));
      }
    }
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float>) {
      const __m256 vs = _mm256_set1_ps(s), zero = _mm256_setzero_ps();
      for (; i + 8 <= i1; i += 8) {
        const __m256 av = _mm256_loadu_ps(a + i);
        const __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(keep + i), zero, _CMP_GT_OQ);
        _mm256_storeu_ps(out + i, _mm256_blendv_ps(_mm256_mul_ps(av, vs), av, m));
      }
    } else {
      const __m256d vs = _mm256_set1_pd(s), zero = _mm256_setzero_pd();
      for (; i + 4 <= i1; i += 4) {
        const __m256d av = _mm256_loadu_pd(a + i);
        const __m256d m = _mm256_cmp_pd(_mm256_loadu_pd(keep + i), zero, _CMP_GT_OQ);
        _mm256_storeu_pd(out + i, _mm256_blendv_pd(_mm256_mul_pd(av, vs), av, m));
      }
    }
#endif
    for (; i < i1; ++i) out[i] = keep[i] > T(0) ? a[i] : a[i] * s;
  });
}

// One output row of a 2x2, stride-2 max pool: out[j] = the maximum of r0[2j], r0[2j + 1],
// r1[2j], r1[2j + 1], arg[j] = at + 2j + its offset (0, 1, w, w + 1), where r1 = r0 + w. A
// window's first NaN wins, else its first maximum (PyTorch's rule). Without branches: on real
// data the winner is a coin toss, and the branchy loop spent most of its time mispredicting.
// Floats go eight outputs at a time through AVX2 (also on AVX-512 machines).
template <class T>
void max_pool_2x2_row(const T* r0, int64_t w, int64_t ow, int64_t at, T* out, int64_t* arg) {
  const T* r1 = r0 + w;
  int64_t j = 0;
#if defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>) {
    // Even and odd elements of 16 consecutive floats, in order.
    auto split = [](const float* p, __m256& even, __m256& odd) {
      const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
      even = _mm256_castpd_ps(_mm256_permute4x64_pd(
          _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xd8));
      odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
          _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), 0xd8));
    };
    const __m256i lane2 = _mm256_setr_epi64x(0, 2, 4, 6);
    const __m256i wv = _mm256_set1_epi64x(w);
    for (; j + 8 <= ow; j += 8) {
      __m256 a, b, c, d;
      split(r0 + 2 * j, a, b);
      split(r1 + 2 * j, c, d);
      __m256 best = a;
      __m256i code = _mm256_setzero_si256();  // 0..3: which of a, b, c, d
      auto take = [&](__m256 v, int k) {
        const __m256 t = _mm256_or_ps(
            _mm256_cmp_ps(v, best, _CMP_GT_OQ),
            _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
        best = _mm256_blendv_ps(best, v, t);
        code = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(code), _mm256_castsi256_ps(_mm256_set1_epi32(k)), t));
      };
      take(b, 1);
      take(c, 2);
      take(d, 3);
      _mm256_storeu_ps(out + j, best);
      // offset = (code & 1) + (code >> 1) * w, widened to 64 bits four lanes at a time.
      const __m256i col = _mm256_and_si256(code, _mm256_set1_epi32(1));
      const __m256i row = _mm256_srli_epi32(code, 1);
      for (int h = 0; h < 2; ++h) {
        const __m128i c4 = h ? _mm256_extracti128_si256(col, 1) : _mm256_castsi256_si128(col);
        const __m128i r4 = h ? _mm256_extracti128_si256(row, 1) : _mm256_castsi256_si128(row);
        const __m256i base = _mm256_add_epi64(_mm256_set1_epi64x(at + 2 * (j + 4 * h)), lane2);
        const __m256i off = _mm256_add_epi64(_mm256_cvtepi32_epi64(c4),
                                             _mm256_mul_epu32(_mm256_cvtepi32_epi64(r4), wv));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(arg + j + 4 * h),
                            _mm256_add_epi64(base, off));
      }
    }
  }
#endif
  for (; j < ow; ++j) {
    T best = r0[2 * j];
    int64_t where = at + 2 * j;
    auto take = [&](T v, int64_t i) {
      const bool t = (v > best) | (std::isnan(v) & !std::isnan(best));
      best = t ? v : best;
      where = t ? i : where;
    };
    take(r0[2 * j + 1], at + 2 * j + 1);
    take(r1[2 * j], at + 2 * j + w);
    take(r1[2 * j + 1], at + 2 * j + w + 1);
    out[j] = best;
    arg[j] = where;
  }
}

}  // namespace nabla::cpu
