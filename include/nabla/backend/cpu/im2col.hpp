#pragma once
// im2col / col2im for one image: the columns matrix has one row per (channel, ky, kx) and one
// column per output position, so a convolution is one GEMM with the [C_out, C_in*kh*kw] weight.
// `ld` is the columns matrix's row length: several images can sit side by side in one matrix.
#include <algorithm>
#include <cstdint>

namespace nabla::cpu {

struct ConvGeometry {
  int64_t channels, height, width;        // the image
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t out_h, out_w;                    // the grid of kernel positions

  int64_t rows() const { return channels * kernel_h * kernel_w; }
  int64_t cols() const { return out_h * out_w; }
};

// The range of output x for which input x = ox * stride - pad + offset lies in [0, width).
inline void valid_range(int64_t offset, int64_t stride, int64_t pad, int64_t size, int64_t out, int64_t& lo,
                        int64_t& hi) {
  // ox * stride >= pad - offset  and  ox * stride < size + pad - offset
  const int64_t a = pad - offset, b = size + pad - offset;
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = b <= 0 ? 0 : std::min(out, (b + stride - 1) / stride);
  if (hi < lo) hi = lo;
}

template <class T>
void im2col(const T* image, const ConvGeometry& g, T* cols, int64_t ld) {
  for (int64_t c = 0; c < g.channels; ++c) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        int64_t x0, x1;
        valid_range(kx * g.dilation_w, g.stride_w, g.pad_w, g.width, g.out_w, x0, x1);
        for (int64_t oy = 0; oy < g.out_h; ++oy) {
          T* out = row + oy * g.out_w;
          const int64_t iy = oy * g.stride_h - g.pad_h + ky * g.dilation_h;
          if (iy < 0 || iy >= g.height) {
            std::fill_n(out, g.out_w, T(0));
            continue;
          }
          const T* in = image + (c * g.height + iy) * g.width;
          std::fill_n(out, x0, T(0));
          const int64_t base = kx * g.dilation_w - g.pad_w;
          if (g.stride_w == 1) {
            std::copy(in + x0 + base, in + x1 + base, out + x0);
          } else {
            for (int64_t ox = x0; ox < x1; ++ox) out[ox] = in[ox * g.stride_w + base];
          }
          std::fill(out + x1, out + g.out_w, T(0));
        }
      }
    }
  }
}

// image += col2im(cols): each column entry is added back where im2col took it from.
template <class T>
void col2im(const T* cols, const ConvGeometry& g, T* image, int64_t ld) {
  for (int64_t c = 0; c < g.channels; ++c) {
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
        const T* row = cols + ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld;
        int64_t x0, x1;
        valid_range(kx * g.dilation_w, g.stride_w, g.pad_w, g.width, g.out_w, x0, x1);
        const int64_t base = kx * g.dilation_w - g.pad_w;
        for (int64_t oy = 0; oy < g.out_h; ++oy) {
          const int64_t iy = oy * g.stride_h - g.pad_h + ky * g.dilation_h;
          if (iy < 0 || iy >= g.height) continue;
          const T* in = row + oy * g.out_w;
          T* out = image + (c * g.height + iy) * g.width;
          for (int64_t ox = x0; ox < x1; ++ox) out[ox * g.stride_w + base] += in[ox];
        }
      }
    }
  }
}

}  // namespace nabla::cpu
