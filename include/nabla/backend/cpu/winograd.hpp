#pragma once
// Winograd's minimal filtering for stride-1 convolutions with 3x3 to 5x5 kernels: F(m x m, r x r)
// with tiles of alpha = 6 = m + r - 1 input values per side, so m = 4 outputs per side for r = 3,
// 3 for r = 4 and 2 for r = 5 (kernel sides may differ: F(mh x mw, kh x kw)). One output tile
// costs 36 products per input and output channel pair instead of m^2 r^2: 4x fewer for 3x3 and
// 4x4 kernels, 2.8x fewer for 5x5. The 36 products are 36 independent GEMMs over the channels,
// [tiles, C_in] x [C_in, C_out], which conv.hpp runs with gather_gemm.
//
// All three sizes share the interpolation points 0, 1, -1, 2, -2 and infinity (Lavin and Gray's
// F(4x4, 3x3) points), so they share the input transform B^T; only G (the kernel's transform)
// and A^T (the output's) depend on r. Those points keep the float error small: the largest
// coefficient is 8 (A^T for m = 4). What this file holds: the transforms, on SIMD vectors along
// the channels (input and output) or in scalar code (the kernel, once per call).
#include <algorithm>
#include <cstdint>

#include "nabla/backend/cpu/gemm_kernel.hpp"

namespace nabla::cpu::winograd {

inline constexpr int kAlpha = 6;
inline constexpr int kTile = kAlpha * kAlpha;  // values per transformed tile

// Kernel sides this file handles, and the output tile side that goes with one.
constexpr bool supported_kernel(int64_t r) { return r >= 3 && r <= 5; }
constexpr int output_tile(int64_t r) { return kAlpha + 1 - static_cast<int>(r); }

// G, the kernel transform for r taps: row j < 5 is f_j * (1, p_j, p_j^2, ..., p_j^(r-1)) with the
// points p = 0, 1, -1, 2, -2 and the scales f = 1/4, -1/6, -1/6, 1/24, 1/24; row 5 (infinity)
// picks the last tap.
inline double g_coef(int j, int k, int r) {
  constexpr double p[5] = {0, 1, -1, 2, -2};
  constexpr double f[5] = {1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24};
  if (j == 5) return k == r - 1 ? 1.0 : 0.0;
  double v = f[j];
  for (int i = 0; i < k; ++i) v *= p[j];
  return v;
}

// G for r = 3, 4, 5 as tables: row j, column k at [r - 3][j][k].
struct GTables {
  double g[3][kAlpha][5];
  GTables() {
    for (int r = 3; r <= 5; ++r)
      for (int j = 0; j < kAlpha; ++j)
        for (int k = 0; k < 5; ++k) g[r - 3][j][k] = k < r ? g_coef(j, k, r) : 0.0;
  }
};
inline const GTables& g_tables() {
  static const GTables tables;
  return tables;
}

// The transformed kernel U = G g G^T (6 x 6) of one kh x kw kernel g (g(ky, kx) from `tap`),
// written as u[xi * stride] for xi = 6 * i + j.
template <class T, class Tap>
void kernel_transform(int kh, int kw, Tap&& tap, T* u, int64_t stride) {
  const auto& gh = g_tables().g[kh - 3];
  const auto& gw = g_tables().g[kw - 3];
  double t[kAlpha][5];
  for (int i = 0; i < kAlpha; ++i)
    for (int x = 0; x < kw; ++x) t[i][x] = 0;
  for (int y = 0; y < kh; ++y)  // t = G_h g
    for (int x = 0; x < kw; ++x) {
      const double v = static_cast<double>(tap(y, x));
      for (int i = 0; i < kAlpha; ++i) t[i][x] += gh[i][y] * v;
    }
  for (int i = 0; i < kAlpha; ++i)  // U = t G_w^T
    for (int j = 0; j < kAlpha; ++j) {
      double s = 0;
      for (int x = 0; x < kw; ++x) s += t[i][x] * gw[j][x];
      u[(i * kAlpha + j) * stride] = static_cast<T>(s);
    }
}

// The adjoint, for the weight gradient: gw(ky, kx) = (G_h^T dU G_w)(ky, kx), dU's value xi at
// du[xi * stride]; out(ky, kx, value) stores each tap.
template <class T, class Out>
void kernel_transform_adjoint(int kh, int kw, const T* du, int64_t stride, Out&& out) {
  const auto& gh = g_tables().g[kh - 3];
  const auto& gw = g_tables().g[kw - 3];
  double t[kAlpha][5];  // t = dU G_w
  for (int i = 0; i < kAlpha; ++i)
    for (int x = 0; x < kw; ++x) {
      double s = 0;
      for (int j = 0; j < kAlpha; ++j) s += static_cast<double>(du[(i * kAlpha + j) * stride]) * gw[j][x];
      t[i][x] = s;
    }
  for (int y = 0; y < kh; ++y)
    for (int x = 0; x < kw; ++x) {
      double s = 0;
      for (int i = 0; i < kAlpha; ++i) s += gh[i][y] * t[i][x];
      out(y, x, static_cast<T>(s));
    }
}

#if NABLA_HAVE_GEMM_KERNEL

// B^T applied to six vectors: the input transform along one direction.
template <class T>
inline void input_1d(const typename kernel::Simd<T>::V d[kAlpha], typename kernel::Simd<T>::V o[kAlpha]) {
  using S = kernel::Simd<T>;
  const auto c2 = S::set1(T(2)), c4 = S::set1(T(4)), c5 = S::set1(T(-5));
  o[0] = S::fma(c4, d[0], S::fma(c5, d[2], d[4]));
  o[1] = S::fma(S::set1(T(-4)), S::add(d[1], d[2]), S::add(d[3], d[4]));
  o[2] = S::fma(c4, S::sub(d[1], d[2]), S::sub(d[4], d[3]));
  o[3] = S::fma(c2, S::sub(d[3], d[1]), S::sub(d[4], d[2]));
  o[4] = S::fma(c2, S::sub(d[1], d[3]), S::sub(d[4], d[2]));
  o[5] = S::fma(c4, d[1], S::fma(c5, d[3], d[5]));
}

// A^T (m x 6) applied to six vectors: the output transform along one direction, m outputs.
template <class T, int M>
inline void output_1d(const typename kernel::Simd<T>::V s[kAlpha], typename kernel::Simd<T>::V y[M]) {
  using S = kernel::Simd<T>;
  const auto a = S::add(s[1], s[2]), b = S::sub(s[1], s[2]);
  const auto c = S::add(s[3], s[4]), d = S::sub(s[3], s[4]);
  y[0] = S::add(S::add(s[0], a), c);
  y[1] = S::fma(S::set1(T(2)), d, b);
  if constexpr (M >= 3) y[2] = S::fma(S::set1(T(4)), c, a);
  if constexpr (M >= 4) y[3] = S::fma(S::set1(T(8)), d, b);
  y[M - 1] = S::add(y[M - 1], s[5]);
}

// A (6 x m) applied to m vectors (A^T's transpose): the output gradient's transform for the
// weight gradient, along one direction.
template <class T, int M>
inline void output_grad_1d(const typename kernel::Simd<T>::V y[M], typename kernel::Simd<T>::V z[kAlpha]) {
  using S = kernel::Simd<T>;
  const auto c2 = S::set1(T(2)), c4 = S::set1(T(4)), c8 = S::set1(T(8));
  // even and odd parts of y at the points 1, -1, 2, -2
  auto e1 = y[0], o1 = y[1], e2 = y[0], o2 = S::fma(c2, y[1], S::zero());
  if constexpr (M >= 3) {
    e1 = S::add(e1, y[2]);
    e2 = S::fma(c4, y[2], e2);
  }
  if constexpr (M >= 4) {
    o1 = S::add(o1, y[3]);
    o2 = S::fma(c8, y[3], o2);
  }
  z[0] = y[0];
  z[1] = S::add(e1, o1);
  z[2] = S::sub(e1, o1);
  z[3] = S::add(e2, o2);
  z[4] = S::sub(e2, o2);
  z[5] = y[M - 1];
}

// Z = A_h dY A_w^T (6 x 6) of an Mh x Mw output-gradient tile of W channels, y[i][j]; Z's value
// xi is written to out + xi * out_stride.
template <class T, int Mh, int Mw>
inline void output_grad_tile(const typename kernel::Simd<T>::V y[Mh][Mw], T* out,
                             int64_t out_stride) {
  using S = kernel::Simd<T>;
  using V = typename S::V;
  V t[kAlpha][Mw];
  for (int j = 0; j < Mw; ++j) {
    V col[Mh], z[kAlpha];
    for (int i = 0; i < Mh; ++i) col[i] = y[i][j];
    output_grad_1d<T, Mh>(col, z);
    for (int i = 0; i < kAlpha; ++i) t[i][j] = z[i];
  }
  for (int i = 0; i < kAlpha; ++i) {
    V z[kAlpha];
    output_grad_1d<T, Mw>(t[i], z);
    for (int j = 0; j < kAlpha; ++j) S::storeu(out + (i * kAlpha + j) * out_stride, z[j]);
  }
}

// The transformed input tile V = B^T d B of W channels at once: d(i, j) is the vector at
// in + i * row + j * col, V's value xi = 6 * i + j is written to out + xi * out_stride.
template <class T>
inline void input_tile(const T* in, int64_t row, int64_t col, T* out, int64_t out_stride) {
  using S = kernel::Simd<T>;
  using V = typename S::V;
  V t[kAlpha][kAlpha];
  for (int j = 0; j < kAlpha; ++j) {  // columns: t(., j) = B^T d(., j)
    V d[kAlpha], o[kAlpha];
    for (int i = 0; i < kAlpha; ++i) d[i] = S::loadu(in + i * row + j * col);
    input_1d<T>(d, o);
    for (int i = 0; i < kAlpha; ++i) t[i][j] = o[i];
  }
  for (int i = 0; i < kAlpha; ++i) {  // rows: V(i, .) = t(i, .) B
    V o[kAlpha];
    input_1d<T>(t[i], o);
    for (int j = 0; j < kAlpha; ++j) S::storeu(out + (i * kAlpha + j) * out_stride, o[j]);
  }
}

// The output tile Y = A_h^T M A_w (Mh x Mw) of W channels: M's value xi at in + xi * in_stride;
// Y(i, j) + bias goes to y[i][j].
template <class T, int Mh, int Mw>
inline void output_tile(const T* in, int64_t in_stride, typename kernel::Simd<T>::V bias,
                        typename kernel::Simd<T>::V y[Mh][Mw]) {
  using S = kernel::Simd<T>;
  using V = typename S::V;
  V t[Mh][kAlpha];
  for (int j = 0; j < kAlpha; ++j) {
    V m[kAlpha], o[Mh];
    for (int i = 0; i < kAlpha; ++i) m[i] = S::loadu(in + (i * kAlpha + j) * in_stride);
    output_1d<T, Mh>(m, o);
    for (int i = 0; i < Mh; ++i) t[i][j] = o[i];
  }
  for (int i = 0; i < Mh; ++i) {
    V o[Mw];
    output_1d<T, Mw>(t[i], o);
    for (int j = 0; j < Mw; ++j) y[i][j] = S::add(o[j], bias);
  }
}

#endif  // NABLA_HAVE_GEMM_KERNEL

}  // namespace nabla::cpu::winograd
