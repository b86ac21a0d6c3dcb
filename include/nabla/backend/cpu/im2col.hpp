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
// stores end the segment. Other strides, and CPUs without AVX-512, take the scalar loops. At the
// DCGAN shapes (kernel 4, stride 2, 7- and 14-wide outputs) the vector paths are several times
// faster than the scalar loops.
#include <algorithm>
#include <cstdint>

#if defined(__AVX512F__)
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

// out[i] = in[start + i * stride] where that lies in [0, width), else 0; i in [0, n).
template <class T>
void gather_row_scalar(const T* in, int64_t width, int64_t start, int64_t stride, T* out,
                       int64_t n) {
  int64_t lo, hi;
  valid_range(start, stride, 0, width, n, lo, hi);
  std::fill_n(out, lo, T(0));
  if (stride == 1) {
    std::copy(in + start + lo, in + start + hi, out + lo);
  } else {
    for (int64_t i = lo; i < hi; ++i) out[i] = in[start + i * stride];
  }
  std::fill(out + hi, out + n, T(0));
}

// image[start + i * stride] += col[i] where that lies in [0, width); i in [0, n).
template <class T>
void scatter_add_row_scalar(const T* col, int64_t n, T* image, int64_t width, int64_t start,
                            int64_t stride) {
  int64_t lo, hi;
  valid_range(start, stride, 0, width, n, lo, hi);
  for (int64_t i = lo; i < hi; ++i) image[start + i * stride] += col[i];
}

// A pointer `offset` elements from p, formed without pointer arithmetic: the offset may point
// outside the row, where only masked-off lanes lie.
template <class T>
T* at(T* p, int64_t offset) {
  return reinterpret_cast<T*>(reinterpret_cast<intptr_t>(p) +
                              offset * static_cast<intptr_t>(sizeof(T)));
}

#if defined(__AVX512F__)
template <class T>
struct Simd;

template <>
struct Simd<float> {
  using V = __m512;
  using M = __mmask16;
  static constexpr int64_t kLanes = 16;
  static V loadz(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V zero() { return _mm512_setzero_ps(); }
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
  using V = __m512d;
  using M = __mmask8;
  static constexpr int64_t kLanes = 8;
  static V loadz(M m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(double* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V zero() { return _mm512_setzero_pd(); }
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

// gather_row_scalar for `rows` image rows `in_step` apart (in: the first) into output segments
// `n` apart, for stride 1 or 2; with out2 (stride 2 only) also the next kernel column (start + 1)
// into out2. The masks depend only on the segment's lanes, so they are set once per vector.
template <class T>
void gather_rows_simd(const T* in, int64_t in_step, int64_t rows, int64_t width, int64_t start,
                      int64_t stride, T* out, int64_t n, T* out2) {
  using S = Simd<T>;
  constexpr int64_t L = S::kLanes;
  for (int64_t i = 0; i < n; i += L) {
    const auto keep = lanes<T>(0, n - i);
    const int64_t p = start + stride * i;
    const auto m_lo = lanes<T>(-p, width - p);
    const T* src = at(in, p);
    T* dst = out + i;
    if (stride == 1) {
      for (int64_t r = 0; r < rows; ++r, src += in_step, dst += n)
        S::store(dst, keep, S::loadz(m_lo, src));
      continue;
    }
    const auto m_hi = lanes<T>(-p - L, width - p - L);
    if (out2) {
      T* dst2 = out2 + i;
      for (int64_t r = 0; r < rows; ++r, src += in_step, dst += n, dst2 += n) {
        const typename S::V lo = S::loadz(m_lo, src), hi = S::loadz(m_hi, src + L);
        S::store(dst, keep, S::deinterleave(lo, hi, false));
        S::store(dst2, keep, S::deinterleave(lo, hi, true));
      }
    } else {
      for (int64_t r = 0; r < rows; ++r, src += in_step, dst += n) {
        const typename S::V lo = S::loadz(m_lo, src), hi = S::loadz(m_hi, src + L);
        S::store(dst, keep, S::deinterleave(lo, hi, false));
      }
    }
  }
}

// scatter_add_row_scalar for `rows` column segments `n` apart into image rows `image_step`
// apart, for stride 1 or 2; with col2 (stride 2 only) also the next kernel column (start + 1).
template <class T>
void scatter_add_rows_simd(const T* col, int64_t n, int64_t rows, T* image, int64_t image_step,
                           int64_t width, int64_t start, int64_t stride, const T* col2) {
  using S = Simd<T>;
  constexpr int64_t L = S::kLanes;
  for (int64_t i = 0; i < n; i += L) {
    const auto keep = lanes<T>(0, n - i);
    const int64_t p = start + stride * i;
    T* dst = at(image, p);
    const T* src = col + i;
    if (stride == 1) {
      const auto m = lanes<T>(-p, width - p) & keep;
      for (int64_t r = 0; r < rows; ++r, src += n, dst += image_step)
        S::store(dst, m, S::add(S::loadz(m, dst), S::loadz(m, src)));
      continue;
    }
    // Lanes written: 2 * (n - i) with the second column, else the last odd lane is skipped.
    const int64_t used = 2 * (n - i) - (col2 ? 0 : 1);
    const auto m_lo = lanes<T>(-p, width - p) & lanes<T>(0, used);
    const auto m_hi = lanes<T>(-p - L, width - p - L) & lanes<T>(0, used - L);
    const T* src2 = col2 ? col2 + i : nullptr;
    for (int64_t r = 0; r < rows; ++r, src += n, dst += image_step) {
      const typename S::V a = S::loadz(keep, src);
      const typename S::V b = src2 ? S::loadz(keep, src2) : S::zero();
      if (src2) src2 += n;
      S::store(dst, m_lo, S::add(S::loadz(m_lo, dst), S::interleave(a, b, false)));
      if (m_hi) S::store(dst + L, m_hi, S::add(S::loadz(m_hi, dst + L), S::interleave(a, b, true)));
    }
  }
}
#endif

// im2col on the vector paths where they apply (simd = false: the scalar loops everywhere).
template <class T, bool simd>
void im2col_impl(const T* image, const ConvGeometry& geometry, T* cols, int64_t ld) {
  const ConvGeometry g = geometry;  // a local copy: stores through `cols` cannot change it
#if defined(__AVX512F__)
  const bool vec = simd && (g.stride_w == 1 || g.stride_w == 2);
#else
  constexpr bool vec = false;
#endif
  // Two kernel columns from one pair of loads: stride 2, dilation 1.
  const int64_t step = vec && g.stride_w == 2 && g.dilation_w == 1 ? 2 : 1;
  const int64_t n = g.out_w, p = g.cols();
  for (int64_t c = 0; c < g.channels; ++c) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      // Output rows oy0 <= oy < oy1 read image rows; the others lie in the padding.
      int64_t oy0, oy1;
      valid_range(ky * g.dilation_h, g.stride_h, g.pad_h, g.height, g.out_h, oy0, oy1);
      // The image row of oy0 (outside the image when no row is read, then never dereferenced).
      const T* in =
          at(image, (c * g.height + oy0 * g.stride_h - g.pad_h + ky * g.dilation_h) * g.width);
      const int64_t in_step = g.stride_h * g.width;
      for (int64_t kx = 0; kx < g.kernel_w; kx += step) {
        T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        const bool pair = step == 2 && kx + 1 < g.kernel_w;
        const int64_t start = kx * g.dilation_w - g.pad_w;
        for (T* r : {row, pair ? row + ld : nullptr}) {
          if (!r) continue;
          std::fill_n(r, oy0 * n, T(0));
          std::fill(r + oy1 * n, r + p, T(0));
        }
#if defined(__AVX512F__)
        if (vec) {
          gather_rows_simd(in, in_step, oy1 - oy0, g.width, start, g.stride_w, row + oy0 * n, n,
                           pair ? row + ld + oy0 * n : nullptr);
          continue;
        }
#endif
        for (int64_t oy = oy0; oy < oy1; ++oy)
          gather_row_scalar(in + (oy - oy0) * in_step, g.width, start, g.stride_w, row + oy * n, n);
      }
    }
  }
}

template <class T, bool simd>
void col2im_impl(const T* cols, const ConvGeometry& geometry, T* image, int64_t ld) {
  const ConvGeometry g = geometry;  // a local copy: stores through `image` cannot change it
#if defined(__AVX512F__)
  const bool vec = simd && (g.stride_w == 1 || g.stride_w == 2);
#else
  constexpr bool vec = false;
#endif
  const int64_t step = vec && g.stride_w == 2 && g.dilation_w == 1 ? 2 : 1;
  const int64_t n = g.out_w;
  for (int64_t c = 0; c < g.channels; ++c) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      int64_t oy0, oy1;
      valid_range(ky * g.dilation_h, g.stride_h, g.pad_h, g.height, g.out_h, oy0, oy1);
      T* out = at(image, (c * g.height + oy0 * g.stride_h - g.pad_h + ky * g.dilation_h) * g.width);
      const int64_t out_step = g.stride_h * g.width;
      for (int64_t kx = 0; kx < g.kernel_w; kx += step) {
        const T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld + oy0 * n;
        const bool pair = step == 2 && kx + 1 < g.kernel_w;
        const int64_t start = kx * g.dilation_w - g.pad_w;
#if defined(__AVX512F__)
        if (vec) {
          scatter_add_rows_simd(row, n, oy1 - oy0, out, out_step, g.width, start, g.stride_w,
                                pair ? row + ld : nullptr);
          continue;
        }
#endif
        for (int64_t oy = oy0; oy < oy1; ++oy)
          scatter_add_row_scalar(row + (oy - oy0) * n, n, out + (oy - oy0) * out_step, g.width,
                                 start, g.stride_w);
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
