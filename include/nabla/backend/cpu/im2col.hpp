#pragma once
// im2col / col2im for one image: the columns matrix has one row per (channel, ky, kx) and one
// column per output position, so a convolution is one GEMM with the [C_out, C_in*kh*kw] weight.
// `ld` is the columns matrix's row length: several images can sit side by side in one matrix.
//
// Both work one segment at a time: the out_w columns of one kernel offset (c, ky, kx) and one
// output row oy, which read (or add into) one image row at positions start + ox * stride_w.
// With AVX-512, stride 1 and stride 2 segments are whole vectors: masked loads fetch the image
// row (lanes outside the row are masked off, which yields the zero padding and never touches
// memory outside the row), stride 2 de-interleaves two registers with one permute (col2im
// interleaves, two kernel columns kx and kx+1 at a time when the dilation is 1), and masked
// stores end the segment. With AVX2 only (no AVX-512) im2col's vector path runs for float, 8
// lanes wide, with AVX2's masked loads, whole-vector stores wherever they are safe (AVX2's masked
// store is microcoded on AMD's Zen) and a two-register permute built from two one-register ones;
// col2im, which would need a masked store per row, keeps the scalar loop there. Other strides,
// double without AVX-512, and other CPUs take the scalar loops. At the DCGAN
// shapes (kernel 4, stride 2, 7- and 14-wide outputs) the vector paths are several times faster
// than the scalar loops.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace nabla::cpu {

struct ConvGeometry {
  int64_t channels, height, width;  // the image
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t out_h, out_w;  // the grid of kernel positions

  int64_t rows() const { return channels * kernel_h * kernel_w; }
  int64_t cols() const { return out_h * out_w; }
};

// The range of output x for which input x = ox * stride - pad + offset lies in [0, width).
inline void valid_range(int64_t offset, int64_t stride, int64_t pad, int64_t size, int64_t out,
                        int64_t& lo, int64_t& hi) {
  // ox * stride >= pad - offset  and  ox * stride < size + pad - offset
  const int64_t a = pad - offset, b = size + pad - offset;
  lo = a <= 0 ? 0 : std::min(out, (a + stride - 1) / stride);
  hi = b <= 0 ? 0 : std::min(out, (b + stride - 1) / stride);
  if (hi < lo) hi = lo;
}

namespace detail {

// out[i] = in[start + i * stride] for i in [lo, hi) (the i whose input lies in the row, from
// valid_range), else 0; i in [0, n). The range is the caller's: it is the same for every row of
// a kernel column, and computing it costs two integer divisions, more than a short row's copy.
template <class T>
void gather_row_scalar(const T* in, int64_t start, int64_t stride, int64_t lo, int64_t hi, T* out,
                       int64_t n) {
  std::fill_n(out, lo, T(0));
  if (stride == 1) {
    std::copy(in + start + lo, in + start + hi, out + lo);
  } else {
    for (int64_t i = lo; i < hi; ++i) out[i] = in[start + i * stride];
  }
  std::fill(out + hi, out + n, T(0));
}

// image[start + i * stride] += col[i] for i in [lo, hi), the range from valid_range.
template <class T>
void scatter_add_row_scalar(const T* col, T* image, int64_t start, int64_t stride, int64_t lo,
                            int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) image[start + i * stride] += col[i];
}

// A pointer `offset` elements from p, formed without pointer arithmetic: the offset may point
// outside the row, where only masked-off lanes lie.
template <class T>
T* at(T* p, int64_t offset) {
  return reinterpret_cast<T*>(reinterpret_cast<intptr_t>(p) +
                              offset * static_cast<intptr_t>(sizeof(T)));
}

#if defined(__AVX512F__) || defined(__AVX2__)
#define NABLA_IM2COL_SIMD 1
template <class T>
struct Simd {
  static constexpr bool kAvailable = false;
  static constexpr bool kFastMaskedStore = false;
};
#else
#define NABLA_IM2COL_SIMD 0
#endif

#if defined(__AVX512F__)
// A lane mask: bit j for lane j.
template <class M>
bool any_lane(M m) {
  return m != 0;
}

template <>
struct Simd<float> {
  static constexpr bool kAvailable = true;
  using V = __m512;
  using M = __mmask16;
  static constexpr int64_t kLanes = 16;
  static V loadz(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static void store_all(float* p, V v) { _mm512_storeu_ps(p, v); }
  static constexpr bool kFastMaskedStore = true;
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V zero() { return _mm512_setzero_ps(); }
  using Index = int32_t;  // permute indices: 0-15 pick from a, 16-31 from b
  static V permute(V a, const Index* idx, V b) {
    return _mm512_permutex2var_ps(a, _mm512_loadu_si512(idx), b);
  }
  // Lanes 0, 2, 4, ... (odd = false) or 1, 3, 5, ... (odd = true) of the 32 lanes lo:hi.
  static V deinterleave(V lo, V hi, bool odd) {
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(lo, odd ? _mm512_add_epi32(even, _mm512_set1_epi32(1)) : even,
                                  hi);
  }
  // a0 b0 a1 b1 ... : the first (high = false) or second 16 of the 32 lanes.
  static V interleave(V a, V b, bool high) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    return _mm512_permutex2var_ps(a, high ? _mm512_add_epi32(lo, _mm512_set1_epi32(8)) : lo, b);
  }
};

template <>
struct Simd<double> {
  static constexpr bool kAvailable = true;
  using V = __m512d;
  using M = __mmask8;
  static constexpr int64_t kLanes = 8;
  static V loadz(M m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static void store_all(double* p, V v) { _mm512_storeu_pd(p, v); }
  static constexpr bool kFastMaskedStore = true;
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V zero() { return _mm512_setzero_pd(); }
  using Index = int64_t;
  static V permute(V a, const Index* idx, V b) {
    return _mm512_permutex2var_pd(a, _mm512_loadu_si512(idx), b);
  }
  static V deinterleave(V lo, V hi, bool odd) {
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    return _mm512_permutex2var_pd(lo, odd ? _mm512_add_epi64(even, _mm512_set1_epi64(1)) : even,
                                  hi);
  }
  static V interleave(V a, V b, bool high) {
    const __m512i lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    return _mm512_permutex2var_pd(a, high ? _mm512_add_epi64(lo, _mm512_set1_epi64(4)) : lo, b);
  }
};

// The mask of lanes j with lo <= j < hi (clamped to the vector).
template <class T>
typename Simd<T>::M lanes(int64_t lo, int64_t hi) {
  constexpr int64_t L = Simd<T>::kLanes;
  lo = std::clamp<int64_t>(lo, 0, L);
  hi = std::clamp<int64_t>(hi, 0, L);
  if (hi <= lo) return 0;
  return static_cast<typename Simd<T>::M>(((uint32_t{1} << (hi - lo)) - 1) << lo);
}
#elif defined(__AVX2__)
// A lane mask: all bits set in the lanes that take part (what vmaskmov reads).
inline bool any_lane(__m256i m) { return !_mm256_testz_si256(m, m); }

template <>
struct Simd<float> {
  static constexpr bool kAvailable = true;
  using V = __m256;
  using M = __m256i;
  static constexpr int64_t kLanes = 8;
  static V loadz(M m, const float* p) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, M m, V v) { _mm256_maskstore_ps(p, m, v); }
  static void store_all(float* p, V v) { _mm256_storeu_ps(p, v); }
  // vmaskmovps to memory is microcoded on AMD's Zen: col2im, which would need one per row,
  // keeps the scalar loop.
  static constexpr bool kFastMaskedStore = false;
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V zero() { return _mm256_setzero_ps(); }
  using Index = int32_t;  // permute indices: 0-7 pick from a, 8-15 from b
  static V permute(V a, const Index* idx, V b) {
    const __m256i i = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx));
    const __m256i from_b = _mm256_cmpgt_epi32(i, _mm256_set1_epi32(7));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(a, i), _mm256_permutevar8x32_ps(b, i),
                            _mm256_castsi256_ps(from_b));
  }
  // Lanes 0, 2, 4, ... (odd = false) or 1, 3, 5, ... (odd = true) of the 16 lanes lo:hi.
  static V deinterleave(V lo, V hi, bool odd) {
    // Per 128-bit half: lo's even (odd) pair, then hi's; then the 64-bit pieces reordered.
    const V t = odd ? _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))
                    : _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  // a0 b0 a1 b1 ... : the first (high = false) or second 8 of the 16 lanes.
  static V interleave(V a, V b, bool high) {
    const V lo = _mm256_unpacklo_ps(a, b), hi = _mm256_unpackhi_ps(a, b);
    return high ? _mm256_permute2f128_ps(lo, hi, 0x31) : _mm256_permute2f128_ps(lo, hi, 0x20);
  }
};

template <class T>
__m256i lanes(int64_t lo, int64_t hi) {
  static_assert(std::is_same_v<T, float>);
  lo = std::clamp<int64_t>(lo, 0, 8);
  hi = std::clamp<int64_t>(hi, 0, 8);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(static_cast<int>(lo) - 1)),
                          _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), iota));
}
#endif

#if NABLA_IM2COL_SIMD

// Zeroes p[0, count).
template <class T>
void zero_simd(T* p, int64_t count) {
  using S = Simd<T>;
  for (int64_t i = 0; i < count; i += S::kLanes) S::store(p + i, lanes<T>(0, count - i), S::zero());
}

// One kernel offset (ky, kx) of im2col for every channel: channel c reads `rows` image rows
// `in_step` apart from in + c * in_cstride (the first valid output row's image row) into output
// segments of n from out + c * out_cstride, with `head` and `tail` zeros before and after them
// (the output rows in the padding). Stride 1 or 2; with out2 (stride 2 only) also the next
// kernel column (start + 1), into out2 + c * out_cstride. Masks and permutes are set once.
template <class T>
void gather_rows_simd(const T* in, int64_t in_cstride, int64_t in_step, int64_t rows, int64_t width,
                      int64_t start, int64_t stride, T* out, T* out2, int64_t out_cstride,
                      int64_t n, int64_t head, int64_t tail, int64_t channels) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int64_t L = S::kLanes;
  const int64_t written = rows * n;
  auto zeros = [&](T* o) {
    zero_simd(o - head, head);
    zero_simd(o + written, tail);
  };
  if (2 * n <= L && stride * (n - 1) + 1 < L) {
    // Narrow rows (7 wide at the DCGAN shapes): two output rows per vector, each row's inputs
    // from one load; one permute and one store per two rows.
    typename S::Index idx[L] = {}, idx2[L] = {};
    for (int64_t j = 0; j < n; ++j) {
      idx[j] = static_cast<typename S::Index>(stride * j);
      idx[n + j] = static_cast<typename S::Index>(L + stride * j);
      idx2[j] = idx[j] + 1;
      idx2[n + j] = idx[n + j] + 1;
    }
    const auto m = lanes<T>(-start, width - start), two = lanes<T>(0, 2 * n), one = lanes<T>(0, n);
    for (int64_t c = 0; c < channels; ++c) {
      const T* src = at(in, c * in_cstride + start);
      T* dst = out + c * out_cstride;
      T* dst2 = out2 ? out2 + c * out_cstride : nullptr;
      zeros(dst);
      if (dst2) zeros(dst2);
      int64_t r = 0;
      for (; r + 2 <= rows; r += 2, src += 2 * in_step, dst += 2 * n) {
        const V a = S::loadz(m, src), b = S::loadz(m, src + in_step);
        S::store(dst, two, S::permute(a, idx, b));
        if (dst2) {
          S::store(dst2, two, S::permute(a, idx2, b));
          dst2 += 2 * n;
        }
      }
      if (r < rows) {
        const V a = S::loadz(m, src);
        S::store(dst, one, S::permute(a, idx, a));
        if (dst2) S::store(dst2, one, S::permute(a, idx2, a));
      }
    }
    return;
  }
  for (int64_t c = 0; c < channels; ++c) {
    T* o = out + c * out_cstride;
    T* o2 = out2 ? out2 + c * out_cstride : nullptr;
    zeros(o);
    if (o2) zeros(o2);
    for (int64_t i = 0; i < n; i += L) {
      const auto keep = lanes<T>(0, n - i);
      const int64_t p = start + stride * i;
      const auto m_lo = lanes<T>(-p, width - p);
      const T* src = at(in, c * in_cstride + p);
      T* dst = o + i;
      // A whole vector is stored unmasked where that is safe: when the segment holds at least a
      // vector, or, for rows narrower than a vector (one chunk each, rows stored in order), for
      // every row but the last, whose spill into the next row is overwritten right after.
      // (AVX2's masked store is slow: microcoded on AMD's Zen.)
      const bool whole = n - i >= L, narrow = n <= L;
      auto put = [&](T* d, int64_t r, V v) {
        if (whole || (narrow && r + 1 < rows))
          S::store_all(d, v);
        else
          S::store(d, keep, v);
      };
      if (stride == 1) {
        for (int64_t r = 0; r < rows; ++r, src += in_step, dst += n)
          put(dst, r, S::loadz(m_lo, src));
        continue;
      }
      const auto m_hi = lanes<T>(-p - L, width - p - L);
      if (o2) {
        T* dst2 = o2 + i;
        for (int64_t r = 0; r < rows; ++r, src += in_step, dst += n, dst2 += n) {
          const V lo = S::loadz(m_lo, src), hi = S::loadz(m_hi, src + L);
          put(dst, r, S::deinterleave(lo, hi, false));
          put(dst2, r, S::deinterleave(lo, hi, true));
        }
      } else {
        for (int64_t r = 0; r < rows; ++r, src += in_step, dst += n) {
          const V lo = S::loadz(m_lo, src), hi = S::loadz(m_hi, src + L);
          put(dst, r, S::deinterleave(lo, hi, false));
        }
      }
    }
  }
}

// One kernel offset of col2im for every channel: channel c adds `rows` column segments of n
// from col + c * col_cstride into image rows `image_step` apart from image + c * image_cstride.
// Stride 1 or 2; with col2 (stride 2 only) also the next kernel column (start + 1).
template <class T>
void scatter_add_rows_simd(const T* col, const T* col2, int64_t col_cstride, int64_t n,
                           int64_t rows, T* image, int64_t image_cstride, int64_t image_step,
                           int64_t width, int64_t start, int64_t stride, int64_t channels) {
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int64_t L = S::kLanes;
  for (int64_t i = 0; i < n; i += L) {
    const auto keep = lanes<T>(0, n - i);
    const int64_t p = start + stride * i;
    if (stride == 1) {
      const auto m = lanes<T>(-p, width - p) & keep;
      for (int64_t c = 0; c < channels; ++c) {
        T* dst = at(image, c * image_cstride + p);
        const T* src = col + c * col_cstride + i;
        for (int64_t r = 0; r < rows; ++r, src += n, dst += image_step)
          S::store(dst, m, S::add(S::loadz(m, dst), S::loadz(m, src)));
      }
      continue;
    }
    // Lanes written: 2 * (n - i) with the second column, else the last odd lane is skipped.
    const int64_t used = 2 * (n - i) - (col2 ? 0 : 1);
    const auto m_lo = lanes<T>(-p, width - p) & lanes<T>(0, used);
    const auto m_hi = lanes<T>(-p - L, width - p - L) & lanes<T>(0, used - L);
    for (int64_t c = 0; c < channels; ++c) {
      T* dst = at(image, c * image_cstride + p);
      const T* src = col + c * col_cstride + i;
      const T* src2 = col2 ? col2 + c * col_cstride + i : nullptr;
      for (int64_t r = 0; r < rows; ++r, src += n, dst += image_step) {
        const V a = S::loadz(keep, src);
        const V b = src2 ? S::loadz(keep, src2) : S::zero();
        if (src2) src2 += n;
        S::store(dst, m_lo, S::add(S::loadz(m_lo, dst), S::interleave(a, b, false)));
        if (any_lane(m_hi))
          S::store(dst + L, m_hi, S::add(S::loadz(m_hi, dst + L), S::interleave(a, b, true)));
      }
    }
  }
}
#endif

// im2col on the vector paths where they apply (simd = false: the scalar loops everywhere).
template <class T, bool simd>
void im2col_impl(const T* image, const ConvGeometry& geometry, T* cols, int64_t ld) {
  const ConvGeometry g = geometry;  // a local copy: stores through `cols` cannot change it
  const int64_t n = g.out_w, p = g.cols(), plane = g.height * g.width;
  const int64_t in_step = g.stride_h * g.width;
  [[maybe_unused]] const int64_t kk = g.kernel_h * g.kernel_w;  // the vector path's channel step
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    // Output rows oy0 <= oy < oy1 read image rows; the others lie in the padding.
    int64_t oy0, oy1;
    valid_range(ky * g.dilation_h, g.stride_h, g.pad_h, g.height, g.out_h, oy0, oy1);
    // Channel 0's image row for oy0 (outside the image when no row is read, then unused).
    const T* in = at(image, (oy0 * g.stride_h - g.pad_h + ky * g.dilation_h) * g.width);
#if NABLA_IM2COL_SIMD
    if constexpr (simd && Simd<T>::kAvailable)
      if (g.stride_w == 1 || g.stride_w == 2) {
        // Two kernel columns from one pair of loads: stride 2, dilation 1.
        const int64_t step = g.stride_w == 2 && g.dilation_w == 1 ? 2 : 1;
        for (int64_t kx = 0; kx < g.kernel_w; kx += step) {
          T* row = cols + (ky * g.kernel_w + kx) * ld + oy0 * n;
          const bool pair = step == 2 && kx + 1 < g.kernel_w;
          gather_rows_simd(in, plane, in_step, oy1 - oy0, g.width, kx * g.dilation_w - g.pad_w,
                           g.stride_w, row, pair ? row + ld : nullptr, kk * ld, n, oy0 * n,
                           p - oy1 * n, g.channels);
        }
        continue;
      }
#endif
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      const int64_t start = kx * g.dilation_w - g.pad_w;
      int64_t lo, hi;
      valid_range(start, g.stride_w, 0, g.width, n, lo, hi);
      for (int64_t c = 0; c < g.channels; ++c) {
        T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        std::fill_n(row, oy0 * n, T(0));
        std::fill(row + oy1 * n, row + p, T(0));
        const T* src = in + c * plane;
        for (int64_t oy = oy0; oy < oy1; ++oy, src += in_step)
          gather_row_scalar(src, start, g.stride_w, lo, hi, row + oy * n, n);
      }
    }
  }
}

template <class T, bool simd>
void col2im_impl(const T* cols, const ConvGeometry& geometry, T* image, int64_t ld) {
  const ConvGeometry g = geometry;  // a local copy: stores through `image` cannot change it
  const int64_t n = g.out_w, plane = g.height * g.width;
  const int64_t out_step = g.stride_h * g.width;
  [[maybe_unused]] const int64_t kk = g.kernel_h * g.kernel_w;
  for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
    int64_t oy0, oy1;
    valid_range(ky * g.dilation_h, g.stride_h, g.pad_h, g.height, g.out_h, oy0, oy1);
    T* out = at(image, (oy0 * g.stride_h - g.pad_h + ky * g.dilation_h) * g.width);
#if NABLA_IM2COL_SIMD
    if constexpr (simd && Simd<T>::kFastMaskedStore)  // implies kAvailable
      if (g.stride_w == 1 || g.stride_w == 2) {
        const int64_t step = g.stride_w == 2 && g.dilation_w == 1 ? 2 : 1;
        for (int64_t kx = 0; kx < g.kernel_w; kx += step) {
          const T* row = cols + (ky * g.kernel_w + kx) * ld + oy0 * n;
          const bool pair = step == 2 && kx + 1 < g.kernel_w;
          scatter_add_rows_simd(row, pair ? row + ld : nullptr, kk * ld, n, oy1 - oy0, out, plane,
                                out_step, g.width, kx * g.dilation_w - g.pad_w, g.stride_w,
                                g.channels);
        }
        continue;
      }
#endif
    for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
      const int64_t start = kx * g.dilation_w - g.pad_w;
      int64_t lo, hi;
      valid_range(start, g.stride_w, 0, g.width, n, lo, hi);
      for (int64_t c = 0; c < g.channels; ++c) {
        const T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld + oy0 * n;
        T* dst = out + c * plane;
        for (int64_t oy = oy0; oy < oy1; ++oy, row += n, dst += out_step)
          scatter_add_row_scalar(row, dst, start, g.stride_w, lo, hi);
      }
    }
  }
}

}  // namespace detail

template <class T>
void im2col(const T* image, const ConvGeometry& g, T* cols, int64_t ld) {
  detail::im2col_impl<T, true>(image, g, cols, ld);
}

// image += col2im(cols): each column entry is added back where im2col took it from.
template <class T>
void col2im(const T* cols, const ConvGeometry& g, T* image, int64_t ld) {
  detail::col2im_impl<T, true>(cols, g, image, ld);
}

}  // namespace nabla::cpu
