#pragma once
// nabla's own GEMM kernel for x86 with AVX-512 or AVX2+FMA: C (row-major) (+)= A * B for float
// and double, operands with any strides. The classic three-level blocking: B is packed KC x NC at
// a time into NR-wide column panels, A is packed MC x KC at a time into MR-high row panels, and a
// register-blocked micro-kernel multiplies one A panel by one B panel (an MR x NR tile of C held
// in registers: 14 x 32 floats = 28 zmm accumulators with AVX-512). The micro-kernel broadcasts
// A's elements and loads B's rows, so C's rows are written with plain vector stores.
//
// Eigen 3.4's own kernel reaches 170-200 GFLOP/s on this machine's cores against OpenBLAS's
// 250; this one exists to close that gap. Where neither instruction set is available (or for
// products that are really matrix-vector products) gemm.hpp uses Eigen.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#define NABLA_HAVE_GEMM_KERNEL 1
#else
#define NABLA_HAVE_GEMM_KERNEL 0
#endif

namespace nabla::cpu::kernel {

#if NABLA_HAVE_GEMM_KERNEL

// One SIMD register of T and the handful of operations the micro-kernel needs.
template <class T>
struct Simd;

#if defined(__AVX512F__)
template <>
struct Simd<float> {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_load_ps(p); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V set1(float x) { return _mm512_set1_ps(x); }
};
template <>
struct Simd<double> {
  using V = __m512d;
  static constexpr int kWidth = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const double* p) { return _mm512_load_pd(p); }
  static V loadu(const double* p) { return _mm512_loadu_pd(p); }
  static void storeu(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V set1(double x) { return _mm512_set1_pd(x); }
};
// 2 * MR accumulators + 2 B rows + 1 broadcast <= 32 registers.
inline constexpr int kMr = 14;
#else
template <>
struct Simd<float> {
  using V = __m256;
  static constexpr int kWidth = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_load_ps(p); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V set1(float x) { return _mm256_set1_ps(x); }
};
template <>
struct Simd<double> {
  using V = __m256d;
  static constexpr int kWidth = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const double* p) { return _mm256_load_pd(p); }
  static V loadu(const double* p) { return _mm256_loadu_pd(p); }
  static void storeu(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V set1(double x) { return _mm256_set1_pd(x); }
};
// 2 * MR accumulators + 2 B rows + 1 broadcast <= 16 registers.
inline constexpr int kMr = 6;
#endif

template <class T>
struct Blocking {
  static constexpr int kMr = kernel::kMr;
  // A's MC x KC block stays in L2, one KC x NR panel of B in L1 while the A panels stream past.
  static constexpr int64_t kKc = 384 * 4 / int64_t(sizeof(T));
  static constexpr int64_t kMc = kMr * 12;
  static constexpr int64_t kNc = 2048 * 4 / int64_t(sizeof(T));
};

// A growable 64-byte-aligned scratch buffer, one per thread and element type, so that the packed
// operands cost no allocation after the first product of a given size.
template <class T, int Which>
T* scratch(int64_t elements) {
  struct Buffer {
    T* data = nullptr;
    int64_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (elements > buffer.capacity) {
    std::free(buffer.data);
    const auto bytes = static_cast<size_t>((elements * int64_t(sizeof(T)) + 63) / 64 * 64);
    buffer.data = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (!buffer.data) {
      buffer.capacity = 0;
      throw std::bad_alloc();
    }
    buffer.capacity = elements;
  }
  return buffer.data;
}

// The MR x NR tile at c (leading dimension ldc) (+)= a_panel * b_panel over kc steps, NR = Nv
// vectors; R <= MR rows and `cols` <= NR columns of it are real (the panels are zero-padded).
template <class T, int Nv, int R>
inline void micro_kernel(int64_t kc, const T* __restrict a, const T* __restrict b, T* c,
                         int64_t ldc, bool load_c, int cols) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int W = S::kWidth, Mr = Blocking<T>::kMr, Nr = Nv * W;
  V acc[R][Nv];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < Nv; ++v) acc[r][v] = S::zero();
  for (int64_t p = 0; p < kc; ++p) {
    V bv[Nv];
#pragma GCC unroll 2
    for (int v = 0; v < Nv; ++v) bv[v] = S::load(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const V ar = S::broadcast(a + r);
#pragma GCC unroll 2
      for (int v = 0; v < Nv; ++v) acc[r][v] = S::fma(ar, bv[v], acc[r][v]);
    }
    a += Mr;
    b += Nr;
  }
  if (cols == Nr) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      T* row = c + r * ldc;
#pragma GCC unroll 2
      for (int v = 0; v < Nv; ++v) {
        if (load_c) acc[r][v] = S::add(acc[r][v], S::loadu(row + v * W));
        S::storeu(row + v * W, acc[r][v]);
      }
    }
    return;
  }
  // The edge tile goes through memory. Every loop that indexes acc is unrolled: a loop with a
  // run-time index would make GCC keep acc in memory, storing all of it on every step of the
  // loop above (measured: 10 instead of 30 GFLOP/s on an AVX2 core with 16 registers).
  alignas(64) T tile[R][Nr];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < Nv; ++v) S::storeu(tile[r] + v * W, acc[r][v]);
  for (int r = 0; r < R; ++r) {
    T* row = c + r * ldc;
    if (load_c)
      for (int j = 0; j < cols; ++j) row[j] += tile[r][j];
    else
      for (int j = 0; j < cols; ++j) row[j] = tile[r][j];
  }
}

template <class T, int Nv, int... R>
inline void micro_kernel_rows(int rows, int64_t kc, const T* a, const T* b, T* c, int64_t ldc,
                              bool load_c, int cols, std::integer_sequence<int, R...>) {
  // rows is in [1, MR]: call the instantiation with exactly that many rows.
  ((rows == R + 1 ? micro_kernel<T, Nv, R + 1>(kc, a, b, c, ldc, load_c, cols) : void()), ...);
}

// Transposes the 8 x 8 matrix whose rows are r[0..7] in place.
inline void transpose8(__m256 r[8]) {
  __m256 t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

#if defined(__AVX512F__)
// Transposes the 16 x 16 matrix whose rows are r[0..15] in place.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// Packing that transposes: `lines` (<= 16) runs of kc floats, run i starting at src + i * stride,
// are written as kc groups of 16 values (group p holding element p of every run, zero beyond
// `lines`) with `out_stride` floats between groups; `keep` of each group's 16 values are stored.
// Returns the number of steps done (a multiple of 16); the caller finishes the rest.
inline int64_t transpose_pack(const float* src, int64_t stride, int lines, int64_t kc, float* out,
                              int64_t out_stride, int keep) {
  const __mmask16 mask = static_cast<__mmask16>((1u << keep) - 1u);
  int64_t p = 0;
  for (; p + 16 <= kc; p += 16) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < lines ? _mm512_loadu_ps(src + i * stride + p) : _mm512_setzero_ps();
    transpose16(r);
    for (int q = 0; q < 16; ++q) _mm512_mask_storeu_ps(out + (p + q) * out_stride, mask, r[q]);
  }
  return p;
}
#else
// AVX2's transposing pack, 8 runs at a time: `lines` (<= 8) runs of kc floats, run i at
// src + i * stride, written as groups of 8 values (group p: element p of every run, zero beyond
// `lines`) with `out_stride` floats between groups. Only whole 8-value stores are used (AVX2's
// masked store is microcoded on AMD's Zen), so with out_stride < 8 a group spills into the next
// one, which is written after it; the caller keeps the last `reserve` steps (enough that the
// last spill stays inside what the caller writes afterwards) and finishes them. Returns the
// number of steps done (a multiple of 8).
inline int64_t transpose_pack(const float* src, int64_t stride, int lines, int64_t kc, float* out,
                              int64_t out_stride, int64_t reserve) {
  int64_t p = 0;
  for (; p + 8 + reserve <= kc; p += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i)
      r[i] = i < lines ? _mm256_loadu_ps(src + i * stride + p) : _mm256_setzero_ps();
    transpose8(r);
    for (int q = 0; q < 8; ++q) _mm256_storeu_ps(out + (p + q) * out_stride, r[q]);
  }
  return p;
}
#endif

// Packs rows [0, mc) x columns [0, kc) of A (element (i, p) at a[i * rs + p * cs]) into
// ceil(mc / MR) panels, each kc steps of MR consecutive values, zero-padded to MR rows.
template <class T>
void pack_a(const T* a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, T* dst) {
  constexpr int Mr = Blocking<T>::kMr;
  for (int64_t i0 = 0; i0 < mc; i0 += Mr, dst += Mr * kc) {
    const int rows = static_cast<int>(std::min<int64_t>(Mr, mc - i0));
    if (rs == 1) {  // A stored column-major: MR consecutive values per step
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = a + i0 + p * cs;
        T* out = dst + p * Mr;
        for (int r = 0; r < rows; ++r) out[r] = src[r];
        for (int r = rows; r < Mr; ++r) out[r] = T(0);
      }
      continue;
    }
    int64_t done = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      if (cs == 1) done = transpose_pack(a + i0 * rs, rs, rows, kc, dst, Mr, Mr);
#else
    // MR = 6 < 8: each group spills two values into the next; the last step is left to the loop
    // below so that nothing lands past this panel.
    if constexpr (std::is_same_v<T, float>)
      if (cs == 1) done = transpose_pack(a + i0 * rs, rs, rows, kc, dst, Mr, 1);
#endif
    for (int r = 0; r < rows; ++r) {  // read each row of A along its length
      const T* src = a + (i0 + r) * rs;
      T* out = dst + r;
      for (int64_t p = done; p < kc; ++p) out[p * Mr] = src[p * cs];
    }
    for (int r = rows; r < Mr; ++r)
      for (int64_t p = done; p < kc; ++p) dst[p * Mr + r] = T(0);
  }
}

// Packs rows [0, kc) x columns [0, nc) of B into ceil(nc / NR) panels, each kc rows of NR
// consecutive values, zero-padded to NR columns.
template <class T, int Nr>
void pack_b(const T* b, int64_t rs, int64_t cs, int64_t kc, int64_t nc, T* dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += Nr, dst += Nr * kc) {
    const int cols = static_cast<int>(std::min<int64_t>(Nr, nc - j0));
    if (cs == 1) {  // B stored row-major: each step copies a run of its row
      for (int64_t p = 0; p < kc; ++p) {
        const T* src = b + p * rs + j0;
        T* out = dst + p * Nr;
        if (cols == Nr)
          std::memcpy(out, src, sizeof(T) * Nr);
        else {
          for (int j = 0; j < cols; ++j) out[j] = src[j];
          for (int j = cols; j < Nr; ++j) out[j] = T(0);
        }
      }
      continue;
    }
    int64_t done = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      if (rs == 1)  // B stored column-major: transpose 16 columns at a time
        for (int h = 0; h < Nr; h += 16)
          done = transpose_pack(b + (j0 + h) * cs, cs, std::clamp(cols - h, 0, 16), kc, dst + h, Nr,
                                16);
#else
    if constexpr (std::is_same_v<T, float>)
      if (rs == 1)  // B stored column-major: transpose 8 columns at a time
        for (int h = 0; h < Nr; h += 8)
          done =
              transpose_pack(b + (j0 + h) * cs, cs, std::clamp(cols - h, 0, 8), kc, dst + h, Nr, 0);
#endif
    for (int j = 0; j < cols; ++j) {  // read each column of B along its length
      const T* src = b + (j0 + j) * cs;
      T* out = dst + j;
      for (int64_t p = done; p < kc; ++p) out[p * Nr] = src[p * rs];
    }
    for (int j = cols; j < Nr; ++j)
      for (int64_t p = done; p < kc; ++p) dst[p * Nr + j] = T(0);
  }
}

template <class T, int Nv>
void gemm_blocked(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs,
                  const T* b, int64_t b_rs, int64_t b_cs, T* c, int64_t ldc, bool accumulate) {
  using B = Blocking<T>;
  constexpr int Mr = B::kMr, Nr = Nv * Simd<T>::kWidth;
  const int64_t kc_max = std::min(B::kKc, k);
  const int64_t mc_max = std::min(B::kMc, (m + Mr - 1) / Mr * Mr);
  const int64_t nc_max = std::min(B::kNc, (n + Nr - 1) / Nr * Nr);
  T* const bp = scratch<T, 0>(kc_max * nc_max);
  T* const ap = scratch<T, 1>(kc_max * mc_max);
  for (int64_t jc = 0; jc < n; jc += B::kNc) {
    const int64_t nc = std::min(B::kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += B::kKc) {
      const int64_t kc = std::min(B::kKc, k - pc);
      const bool load_c = accumulate || pc > 0;
      pack_b<T, Nr>(b + pc * b_rs + jc * b_cs, b_rs, b_cs, kc, nc, bp);
      for (int64_t ic = 0; ic < m; ic += B::kMc) {
        const int64_t mc = std::min(B::kMc, m - ic);
        pack_a(a + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, ap);
        for (int64_t jr = 0; jr < nc; jr += Nr) {
          const int cols = static_cast<int>(std::min<int64_t>(Nr, nc - jr));
          const T* bpanel = bp + jr * kc;
          T* ctile = c + ic * ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += Mr) {
            const T* apanel = ap + ir * kc;
            if (mc - ir >= Mr)
              micro_kernel<T, Nv, Mr>(kc, apanel, bpanel, ctile + ir * ldc, ldc, load_c, cols);
            else
              micro_kernel_rows<T, Nv>(static_cast<int>(mc - ir), kc, apanel, bpanel,
                                       ctile + ir * ldc, ldc, load_c, cols,
                                       std::make_integer_sequence<int, Mr>{});
          }
        }
      }
    }
  }
}

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols: an out-of-place transpose. Float
// goes in 8 x 8 blocks through AVX registers (whole-vector loads and stores on both sides); the
// edges, and double, element by element in 16 x 16 blocks, so that both sides stay in a few
// cache lines.
template <class T>
void transpose(const T* src, int64_t lds, int64_t rows, int64_t cols, T* dst, int64_t ldd) {
  int64_t i0 = 0;
  if constexpr (std::is_same_v<T, float>) {
    for (; i0 + 8 <= rows; i0 += 8) {
      int64_t j0 = 0;
      for (; j0 + 8 <= cols; j0 += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (i0 + i) * lds + j0);
        transpose8(r);
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (j0 + j) * ldd + i0, r[j]);
      }
      for (; j0 < cols; ++j0)
        for (int i = 0; i < 8; ++i) dst[j0 * ldd + i0 + i] = src[(i0 + i) * lds + j0];
    }
  }
  constexpr int64_t kB = 16;
  for (; i0 < rows; i0 += kB) {
    const int64_t i1 = std::min(rows, i0 + kB);
    for (int64_t j0 = 0; j0 < cols; j0 += kB) {
      const int64_t j1 = std::min(cols, j0 + kB);
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
  }
}

// GEMM with a gathered A, for convolutions without an im2col matrix (conv.hpp): element (i, p)
// of A is x[row[i] + step[p]], so A is never packed: the micro-kernel broadcasts straight from
// the (padded) image, whose rows and steps are kernel taps and output positions. For conv2d's
// forward, row = an output position and step = a kernel tap (channel, ky, kx); for its weight
// gradient, the other way round. B comes packed once by pack_panels (a weight matrix, or the
// output gradient), C is [positions or taps] x [channels], vectors along the channels.
template <class T, int Nv, int R>
inline void gather_micro_kernel(int64_t kc, const T* x, const int64_t* row, const int64_t* step,
                                const T* __restrict b, T* c, int64_t ldc, bool load_c, int cols) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int W = S::kWidth, Nr = Nv * W;
  V acc[R][Nv];
  const T* xr[R];
  // C is added to at the end, after kc steps: fetch it now so that the miss is hidden behind
  // them (a weight gradient's C, [taps, C_out], can be megabytes, far outside the caches).
  if (load_c)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      for (int line = 0; line < Nr * int(sizeof(T)); line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc) + line, _MM_HINT_T0);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    xr[r] = x + row[r];
#pragma GCC unroll 4
    for (int v = 0; v < Nv; ++v) acc[r][v] = S::zero();
  }
  for (int64_t p = 0; p < kc; ++p) {
    const int64_t o = step[p];
    if constexpr (Nv <= 2) {
      V bv[Nv];
#pragma GCC unroll 2
      for (int v = 0; v < Nv; ++v) bv[v] = S::load(b + v * W);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const V ar = S::broadcast(xr[r] + o);
#pragma GCC unroll 2
        for (int v = 0; v < Nv; ++v) acc[r][v] = S::fma(ar, bv[v], acc[r][v]);
      }
    } else {
      V ar[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) ar[r] = S::broadcast(xr[r] + o);
#pragma GCC unroll 4
      for (int v = 0; v < Nv; ++v) {
        const V bv = S::load(b + v * W);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][v] = S::fma(ar[r], bv, acc[r][v]);
      }
    }
    b += Nr;
  }
  if (cols == Nr) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      T* out = c + r * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < Nv; ++v) {
        if (load_c) acc[r][v] = S::add(acc[r][v], S::loadu(out + v * W));
        S::storeu(out + v * W, acc[r][v]);
      }
    }
    return;
  }
  alignas(64) T tile[R][Nr];  // the edge tile through memory, as in micro_kernel
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < Nv; ++v) S::storeu(tile[r] + v * W, acc[r][v]);
  for (int r = 0; r < R; ++r) {
    T* out = c + r * ldc;
    if (load_c)
      for (int j = 0; j < cols; ++j) out[j] += tile[r][j];
    else
      for (int j = 0; j < cols; ++j) out[j] = tile[r][j];
  }
}

template <class T, int Nv, int... R>
inline void gather_micro_kernel_rows(int rows, int64_t kc, const T* x, const int64_t* row,
                                     const int64_t* step, const T* b, T* c, int64_t ldc,
                                     bool load_c, int cols, std::integer_sequence<int, R...>) {
  ((rows == R + 1 ? gather_micro_kernel<T, Nv, R + 1>(kc, x, row, step, b, c, ldc, load_c, cols)
                  : void()),
   ...);
}

// The panel width gather_gemm uses for n columns: one vector when n fits in one, else two.
// Four vectors wide (a 3 x 32 tile with AVX2) only where the registers allow: with AVX-512's
// 14-row tiles, half of 14 rows of four vectors would not fit in 32 registers.
template <class T>
constexpr int64_t gather_panel_width(int64_t n) {
#if defined(__AVX512F__)
  return n <= Simd<T>::kWidth ? Simd<T>::kWidth : 2 * Simd<T>::kWidth;
#else
  return n <= Simd<T>::kWidth             ? Simd<T>::kWidth
         : n % (4 * Simd<T>::kWidth) == 0 ? 4 * Simd<T>::kWidth
                                          : 2 * Simd<T>::kWidth;
#endif
}
// gather_gemm's B for a k x n matrix is stored in column panels, panel j0 (its first column) at
// j0 * k: panels of gather_panel_width(n) columns, except that where the columns left over fit in
// one vector, the last panel is one vector wide (20 channels take 16 + 8 lanes with AVX2, not
// 32; 50 take 3 x 16 + 8, not 64). The width of the panel that starts at column j0:
template <class T>
constexpr int64_t panel_width_at(int64_t n, int64_t j0) {
  const int64_t nr = gather_panel_width<T>(n);
  return n - j0 < nr && n - j0 <= Simd<T>::kWidth ? Simd<T>::kWidth : nr;
}
// Elements pack_panels writes for a k x n matrix.
template <class T>
int64_t packed_panels_size(int64_t k, int64_t n) {
  const int64_t nr = gather_panel_width<T>(n), last = n / nr * nr;
  return last * k + (last < n ? panel_width_at<T>(n, last) * k : 0);
}
// Where element (p, j) of a packed k x n matrix lies.
template <class T>
int64_t packed_offset(int64_t k, int64_t n, int64_t p, int64_t j) {
  const int64_t j0 = j / gather_panel_width<T>(n) * gather_panel_width<T>(n);
  return j0 * k + p * panel_width_at<T>(n, j0) + (j - j0);
}
// Packs the k x n matrix whose row p is the n consecutive values at row(p) as gather_gemm's B:
// each panel k rows of its width's consecutive values, zero-padded beyond column n. Reads and
// writes run along the rows (a weight is made row-contiguous first, see conv.hpp's
// taps_by_channel), so that packing costs a copy: it is done on every backward pass, and at
// batch 1 it would otherwise rival the product itself.
// Only the panels that start in columns [j_lo, j_hi) are written (threads split a pack so).
template <class T, class Row>
void pack_panels(int64_t k, int64_t n, Row&& row, T* dst, int64_t j_lo = 0,
                 int64_t j_hi = INT64_MAX) {
  for (int64_t j0 = 0; j0 < n;) {
    const int64_t nr = panel_width_at<T>(n, j0), cols = std::min(nr, n - j0);
    if (j0 >= j_lo && j0 < j_hi)
      for (int64_t p = 0; p < k; ++p) {
        T* out = dst + j0 * k + p * nr;
        std::copy_n(static_cast<const T*>(row(p)) + j0, cols, out);
        std::fill(out + cols, out + nr, T(0));
      }
    j0 += nr;
  }
}

// Rows [p0, p0 + kn) of the packed B of a k x n matrix (pack_panels' layout) from the kn x n
// block whose element (p, j) is src[j * ld + p]: a weight [C_out, taps], or one sample's output
// gradient [C_out, positions]. Reads src along its rows. Only the panels that start in columns
// [j_lo, j_hi) are written.
template <class T>
void pack_panels_transposed(const T* src, int64_t ld, int64_t p0, int64_t kn, int64_t k, int64_t n,
                            T* dst, int64_t j_lo = 0, int64_t j_hi = INT64_MAX) {
  for (int64_t j0 = 0; j0 < n;) {
    const int64_t nr = panel_width_at<T>(n, j0), cols = std::min(nr, n - j0);
    if (j0 < j_lo || j0 >= j_hi) {
      j0 += nr;
      continue;
    }
    T* panel = dst + j0 * k + p0 * nr;
    transpose(src + j0 * ld, ld, cols, kn, panel, nr);
    if (cols < nr)
      for (int64_t p = 0; p < kn; ++p) std::fill(panel + p * nr + cols, panel + (p + 1) * nr, T(0));
    j0 += nr;
  }
}

// C[m x n] (leading dimension ldc) (+)= A * B, A(i, p) = x[row[i] + step[p]], B packed by
// pack_panels; single-threaded. Blocked so that one KC x NR panel of B stays in L1 while the
// tiles of MC rows use it, and the image window those rows read stays in L1/L2.
template <class T>
void gather_gemm(int64_t m, int64_t n, int64_t k, const T* x, const int64_t* row,
                 const int64_t* step, const T* bpacked, T* c, int64_t ldc, bool accumulate) {
  // Columns [j_begin, j_end) in panels Nv vectors wide.
  auto run = [&]<int Nv>(std::integral_constant<int, Nv>, int64_t j_begin, int64_t j_end) {
    constexpr int64_t nr = Nv * Simd<T>::kWidth;
    constexpr int Mr = Nv == 4 ? Blocking<T>::kMr / 2 : Blocking<T>::kMr;
    constexpr int64_t kKc = Nv == 4 ? Blocking<T>::kKc / 2 : Blocking<T>::kKc, kMc = Mr * 16;
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      const bool load_c = accumulate || pc > 0;
      for (int64_t ic = 0; ic < m; ic += kMc) {
        const int64_t mc = std::min(kMc, m - ic);
        for (int64_t jr = j_begin; jr < j_end; jr += nr) {
          const int cols = static_cast<int>(std::min(nr, j_end - jr));
          const T* panel = bpacked + jr * k + pc * nr;
          for (int64_t ir = ic; ir < ic + mc; ir += Mr) {
            T* tile = c + ir * ldc + jr;
            if (ic + mc - ir >= Mr)
              gather_micro_kernel<T, Nv, Mr>(kc, x, row + ir, step + pc, panel, tile, ldc, load_c,
                                             cols);
            else
              gather_micro_kernel_rows<T, Nv>(static_cast<int>(ic + mc - ir), kc, x, row + ir,
                                              step + pc, panel, tile, ldc, load_c, cols,
                                              std::make_integer_sequence<int, Mr>{});
          }
        }
      }
    }
  };
  const int64_t nr = gather_panel_width<T>(n), last = n / nr * nr;
  // The full panels, then a last one of one vector where pack_panels made it so.
  const int64_t full_end = last < n && panel_width_at<T>(n, last) != nr ? last : n;
  if (nr == Simd<T>::kWidth)
    run(std::integral_constant<int, 1>{}, 0, full_end);
  else if (nr == 4 * Simd<T>::kWidth)
    run(std::integral_constant<int, 4>{}, 0, full_end);
  else
    run(std::integral_constant<int, 2>{}, 0, full_end);
  if (full_end < n) run(std::integral_constant<int, 1>{}, full_end, n);
}

// C[m x n] (leading dimension ldc) = A[m x k] * B[k x n], or += with accumulate; single-threaded.
// A's element (i, p) is a[i * a_rs + p * a_cs], B's (p, j) is b[p * b_rs + j * b_cs]. A C at most
// one vector wide (the weight gradient of a first convolution: 16 or 25 columns) uses tiles one
// vector wide instead of wasting half of every two-vector tile.
template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
          int64_t b_rs, int64_t b_cs, T* c, int64_t ldc, bool accumulate) {
  if (n <= Simd<T>::kWidth)
    gemm_blocked<T, 1>(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc, accumulate);
  else
    gemm_blocked<T, 2>(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, c, ldc, accumulate);
}

#endif  // NABLA_HAVE_GEMM_KERNEL

}  // namespace nabla::cpu::kernel
