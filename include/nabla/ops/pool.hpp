#pragma once
// max_pool2d (the backward routes each gradient to the input that won), avg_pool2d and
// adaptive_avg_pool2d (the backward spreads each gradient over its window), and nearest-neighbour
// upsampling by an integer factor.
#include <limits>

#include "nabla/ops/elementwise.hpp"

namespace nabla {

namespace detail {
// A 2-d pool's checks (input [N, C, H, W]; positive kernel and stride, stride 0 meaning the
// kernel; padding at most half the kernel, as PyTorch) and its output size, floor mode.
template <Floating T>
std::array<int64_t, 2> pool_output_size(const char* op, const Tensor<T>& x,
                                        const std::array<int64_t, 2>& kernel,
                                        std::array<int64_t, 2>& stride,
                                        const std::array<int64_t, 2>& padding) {
  check_operand(x, op);
  NABLA_CHECK(x.dim() == 4, op, ": expected input [N, C, H, W], got shape ", x.shape());
  for (int i = 0; i < 2; ++i) {
    if (stride[i] == 0) stride[i] = kernel[i];
    NABLA_CHECK(kernel[i] >= 1 && stride[i] >= 1, op,
                ": kernel and stride must be positive, got kernel ", kernel[i], " stride ",
                stride[i]);
    NABLA_CHECK(padding[i] >= 0 && padding[i] * 2 <= kernel[i], op, ": padding ", padding[i],
                " must be between 0 and half the kernel size ", kernel[i]);
  }
  const int64_t h = x.shape()[2], w = x.shape()[3];
  NABLA_CHECK(h + 2 * padding[0] >= kernel[0] && w + 2 * padding[1] >= kernel[1], op, ": kernel ",
              kernel[0], "x", kernel[1], " is larger than the padded input (input shape ",
              x.shape(), ")");
  return {(h + 2 * padding[0] - kernel[0]) / stride[0] + 1,
          (w + 2 * padding[1] - kernel[1]) / stride[1] + 1};
}
}  // namespace detail

// x [N, C, H, W]; kernel, stride (0 = kernel) and padding (at most half the kernel, as PyTorch).
template <Floating T>
Tensor<T> max_pool2d(const Tensor<T>& x, std::array<int64_t, 2> kernel,
                     std::array<int64_t, 2> stride = {0, 0},
                     std::array<int64_t, 2> padding = {0, 0}) {
  const std::array<int64_t, 2> size =
      detail::pool_output_size("max_pool2d", x, kernel, stride, padding);
  const int64_t oh = size[0], ow = size[1];
  const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty({n, c, oh, ow});
  Tensor<int64_t> argmax = Tensor<int64_t>::empty({n, c, oh, ow});
  const T* px = xc.data();
  T* po = out.data();
  int64_t* pa = argmax.data();
  // The common 2x2 window at stride 2 without padding: no bounds to check, and each input in
  // at most one window. A window's first NaN wins, else its first maximum (as PyTorch).
  const bool two_by_two = kernel[0] == 2 && kernel[1] == 2 && stride[0] == 2 && stride[1] == 2 &&
                          padding[0] == 0 && padding[1] == 0;
  const int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / (h * w + 1));
  cpu::parallel_for(n * c, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const T* in = px + plane * h * w;
      T* o = po + plane * oh * ow;
      int64_t* a = pa + plane * oh * ow;
      if (two_by_two) {
        for (int64_t oy = 0; oy < oh; ++oy)
          cpu::max_pool_2x2_row(in + 2 * oy * w, w, ow, 2 * oy * w, o + oy * ow, a + oy * ow);
        continue;
      }
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t where = -1;
          for (int64_t ky = 0; ky < kernel[0]; ++ky) {
            const int64_t iy = oy * stride[0] - padding[0] + ky;
            if (iy < 0 || iy >= h) continue;
            for (int64_t kx = 0; kx < kernel[1]; ++kx) {
              const int64_t ix = ox * stride[1] - padding[1] + kx;
              if (ix < 0 || ix >= w) continue;
              const T v = in[iy * w + ix];
              if (where < 0 || v > best || std::isnan(v)) {
                best = v;
                where = iy * w + ix;
                if (std::isnan(v)) ky = kernel[0], kx = kernel[1];
              }
            }
          }
          o[oy * ow + ox] = best;
          a[oy * ow + ox] = where;
        }
    }
  });
  if (needs_graph(x))
    record("max_pool2d", out, {&x},
           [argmax, shape = x.shape(), two_by_two, grain](Node<T>& node, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             Tensor<T> gx = Tensor<T>::empty(shape);
             const int64_t planes = shape[0] * shape[1], h = shape[2], w = shape[3];
             const int64_t in_plane = h * w, out_plane = g.numel() / std::max<int64_t>(planes, 1);
             const int64_t ow = two_by_two ? w / 2 : 0;
             cpu::parallel_for(planes, grain, [&](int64_t p0, int64_t p1) {
               for (int64_t plane = p0; plane < p1; ++plane) {
                 T* d = gx.data() + plane * in_plane;
                 const T* gp = g.data() + plane * out_plane;
                 const int64_t* a = argmax.data() + plane * out_plane;
                 if (two_by_two && (h % 2 | w % 2) == 0) {  // every input in exactly one window
                   for (int64_t oy = 0; oy < h / 2; ++oy)
                     for (int64_t ox = 0; ox < ow; ++ox) {
                       const int64_t at = 2 * oy * w + 2 * ox, o = oy * ow + ox;
                       d[at] = d[at + 1] = d[at + w] = d[at + w + 1] = T(0);
                       d[a[o]] = gp[o];
                     }
                   continue;
                 }
                 std::fill_n(d, in_plane, T(0));
                 for (int64_t o = 0; o < out_plane; ++o) d[a[o]] += gp[o];
               }
             });
             node.send(0, std::move(gx));
           });
  return out;
}

namespace detail {
// One output's window of an average pool: rows [y0, y1), columns [x0, x1) of the input (already
// clipped to it), and the divisor.
struct AvgWindow {
  int64_t y0, y1, x0, x1, divisor;
};

// out [N, C, oh, ow] = the average of each output's window, window(oy, ox) -> AvgWindow.
template <Floating T, class Window>
Tensor<T> window_average(const char* op, const Tensor<T>& x, int64_t oh, int64_t ow,
                         Window window) {
  const Shape shape = x.shape();
  const int64_t planes = shape[0] * shape[1], h = shape[2], w = shape[3];
  const Tensor<T> xc = contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty({shape[0], shape[1], oh, ow});
  const int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / (h * w + 1));
  cpu::parallel_for(planes, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane) {
      const T* in = xc.data() + plane * h * w;
      T* o = out.data() + plane * oh * ow;
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const AvgWindow a = window(oy, ox);
          T sum = 0;
          for (int64_t y = a.y0; y < a.y1; ++y)
            for (int64_t xx = a.x0; xx < a.x1; ++xx) sum += in[y * w + xx];
          o[oy * ow + ox] = sum / static_cast<T>(a.divisor);
        }
    }
  });
  if (needs_graph(x))
    record(op, out, {&x}, [shape, oh, ow, window, grain](Node<T>& node, const Tensor<T>& g_in) {
      const Tensor<T> g = contiguous_or_self(g_in);
      Tensor<T> gx = Tensor<T>::zeros(shape);
      const int64_t planes = shape[0] * shape[1], h = shape[2], w = shape[3];
      cpu::parallel_for(planes, grain, [&](int64_t p0, int64_t p1) {
        for (int64_t plane = p0; plane < p1; ++plane) {
          T* d = gx.data() + plane * h * w;
          const T* gp = g.data() + plane * oh * ow;
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              const AvgWindow a = window(oy, ox);
              const T share = gp[oy * ow + ox] / static_cast<T>(a.divisor);
              for (int64_t y = a.y0; y < a.y1; ++y)
                for (int64_t xx = a.x0; xx < a.x1; ++xx) d[y * w + xx] += share;
            }
        }
      });
      node.send(0, std::move(gx));
    });
  return out;
}
}  // namespace detail

// x [N, C, H, W]; kernel, stride (0 = kernel) and padding (at most half the kernel); the padding
// counts in the divisor unless count_include_pad is false (PyTorch's rule, floor mode).
template <Floating T>
Tensor<T> avg_pool2d(const Tensor<T>& x, std::array<int64_t, 2> kernel,
                     std::array<int64_t, 2> stride = {0, 0},
                     std::array<int64_t, 2> padding = {0, 0}, bool count_include_pad = true) {
  const std::array<int64_t, 2> size =
      detail::pool_output_size("avg_pool2d", x, kernel, stride, padding);
  const int64_t oh = size[0], ow = size[1];
  const int64_t h = x.shape()[2], w = x.shape()[3];
  return detail::window_average("avg_pool2d", x, oh, ow, [=](int64_t oy, int64_t ox) {
    const int64_t y0 = oy * stride[0] - padding[0], x0 = ox * stride[1] - padding[1];
    const int64_t y1 = std::min(y0 + kernel[0], h + padding[0]),
                  x1 = std::min(x0 + kernel[1], w + padding[1]);
    const int64_t padded = (y1 - y0) * (x1 - x0);
    detail::AvgWindow a{std::max<int64_t>(y0, 0), std::min(y1, h), std::max<int64_t>(x0, 0),
                        std::min(x1, w), 0};
    a.divisor = count_include_pad ? padded : (a.y1 - a.y0) * (a.x1 - a.x0);
    return a;
  });
}

// x [N, C, H, W] -> [N, C, out_h, out_w]: output (i, j) averages rows [floor(i H / out_h),
// ceil((i + 1) H / out_h)) and the columns likewise (PyTorch's windows; out = 1 is the global
// average pool).
template <Floating T>
Tensor<T> adaptive_avg_pool2d(const Tensor<T>& x, std::array<int64_t, 2> output_size) {
  detail::check_operand(x, "adaptive_avg_pool2d");
  NABLA_CHECK(x.dim() == 4, "adaptive_avg_pool2d: expected input [N, C, H, W], got shape ",
              x.shape());
  const int64_t oh = output_size[0], ow = output_size[1], h = x.shape()[2], w = x.shape()[3];
  NABLA_CHECK(oh >= 1 && ow >= 1, "adaptive_avg_pool2d: output size must be positive, got ", oh,
              "x", ow);
  NABLA_CHECK(h >= 1 && w >= 1, "adaptive_avg_pool2d: the input is empty (shape ", x.shape(), ")");
  return detail::window_average("adaptive_avg_pool2d", x, oh, ow, [=](int64_t oy, int64_t ox) {
    detail::AvgWindow a{oy * h / oh, ((oy + 1) * h + oh - 1) / oh, ox * w / ow,
                        ((ox + 1) * w + ow - 1) / ow, 0};
    a.divisor = (a.y1 - a.y0) * (a.x1 - a.x0);
    return a;
  });
}

// x [N, C, H, W] -> [N, C, H * scale, W * scale], each pixel repeated.
template <Floating T>
Tensor<T> upsample_nearest2d(const Tensor<T>& x, int64_t scale) {
  detail::check_operand(x, "upsample_nearest2d");
  NABLA_CHECK(x.dim() == 4, "upsample_nearest2d: expected input [N, C, H, W], got shape ",
              x.shape());
  NABLA_CHECK(scale >= 1, "upsample_nearest2d: scale factor must be a positive integer, got ",
              scale);
  const int64_t planes = x.shape()[0] * x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::empty({x.shape()[0], x.shape()[1], h * scale, w * scale});
  const T* px = xc.data();
  T* po = out.data();
  const int64_t ow = w * scale;
  const int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / (h * w * scale * scale + 1));
  // Each input row is widened once into the first of its `scale` output rows, which the others
  // copy.
  cpu::parallel_for(planes, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t plane = p0; plane < p1; ++plane)
      for (int64_t y = 0; y < h; ++y) {
        const T* in = px + (plane * h + y) * w;
        T* o = po + (plane * h + y) * scale * ow;
        if (scale == 2)
          for (int64_t xi = 0; xi < w; ++xi) o[2 * xi] = o[2 * xi + 1] = in[xi];
        else
          for (int64_t xi = 0; xi < w; ++xi) std::fill_n(o + xi * scale, scale, in[xi]);
        for (int64_t r = 1; r < scale; ++r) std::copy_n(o, ow, o + r * ow);
      }
  });
  if (needs_graph(x))
    record("upsample_nearest2d", out, {&x},
           [shape = x.shape(), scale, grain](Node<T>& node, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             Tensor<T> gx = Tensor<T>::empty(shape);
             const int64_t planes = shape[0] * shape[1], h = shape[2], w = shape[3], ow = w * scale;
             // gx[y, x] is the sum of its scale x scale block, row by row, left to right.
             cpu::parallel_for(planes, grain, [&](int64_t p0, int64_t p1) {
               for (int64_t plane = p0; plane < p1; ++plane)
                 for (int64_t y = 0; y < h; ++y) {
                   T* dst = gx.data() + (plane * h + y) * w;
                   const T* src = g.data() + (plane * h + y) * scale * ow;
                   if (scale == 2) {
                     const T* src1 = src + ow;
                     for (int64_t xi = 0; xi < w; ++xi)
                       dst[xi] = src[2 * xi] + src[2 * xi + 1] + src1[2 * xi] + src1[2 * xi + 1];
                     continue;
                   }
                   for (int64_t xi = 0; xi < w; ++xi) {
                     T acc = 0;
                     for (int64_t r = 0; r < scale; ++r)
                       for (int64_t k = 0; k < scale; ++k) acc += src[r * ow + xi * scale + k];
                     dst[xi] = acc;
                   }
                 }
             });
             node.send(0, std::move(gx));
           });
  return out;
}

// Zeroes each element with probability p in [0, 1) and scales the rest by 1 / (1 - p) when
// training; the identity otherwise.
template <Floating T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training,
                  Generator& gen = default_generator()) {
  detail::check_operand(x, "dropout");
  NABLA_CHECK(p >= 0 && p < 1, "dropout: probability must be in [0, 1), got ", p);
  if (!training || p == 0) return x;
  Tensor<T> mask = Tensor<T>::bernoulli(x.shape(), 1 - p, gen);
  mask.mul_(static_cast<T>(1 / (1 - p)));
  return mul(x, mask);
}

}  // namespace nabla
