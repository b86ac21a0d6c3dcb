#pragma once
// conv2d and conv_transpose2d by im2col/col2im + GEMM over groups of samples (one GEMM of about
// 512 columns per group), the groups split over threads; weight gradients are summed from one
// partial per thread, in a fixed order.
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/im2col.hpp"
#include "nabla/backend/cpu/winograd.hpp"
#include "nabla/ops/common.hpp"

namespace nabla {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  std::array<int64_t, 2> output_padding{0, 0};  // conv_transpose2d only
};

namespace detail {
inline void check_conv_options(const Conv2dOptions& o, const char* op) {
  for (int i = 0; i < 2; ++i) {
    NABLA_CHECK(o.stride[i] >= 1, op, ": stride must be at least 1, got ", o.stride[i]);
    NABLA_CHECK(o.dilation[i] >= 1, op, ": dilation must be at least 1, got ", o.dilation[i]);
    NABLA_CHECK(o.padding[i] >= 0, op, ": padding must be non-negative, got ", o.padding[i]);
    NABLA_CHECK(o.output_padding[i] >= 0, op, ": output_padding must be non-negative, got ",
                o.output_padding[i]);
  }
}

// [rows, cols] row-major block of `data` as a GEMM operand.
template <Floating T>
cpu::MatrixRef<const T> block(const T* data, int64_t rows, int64_t cols) {
  return {data, rows, cols, cols, 1};
}
template <Floating T>
cpu::MatrixRef<const T> block_t(const T* data, int64_t rows,
                                int64_t cols) {  // transpose of [rows, cols]
  return {data, cols, rows, 1, cols};
}

// Adds bias[c] to every position of channel c in out [N, C, P].
template <Floating T>
void add_channel_bias(T* out, const T* bias, int64_t n, int64_t c, int64_t p) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      T* o = out + (i * c + ch) * p;
      for (int64_t k = 0; k < p; ++k) o[k] += bias[ch];
    }
}

// gb[c] = sum of g [N, C, P] over N and P.
template <Floating T>
Tensor<T> channel_sums(const Tensor<T>& g, int64_t n, int64_t c, int64_t p) {
  Tensor<T> gb = Tensor<T>::zeros({c});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      gb.data()[ch] += cpu::ConstArrayMap<T>(g.data() + (i * c + ch) * p, p).sum();
  return gb;
}

// Sums per-chunk partial weight gradients into the first, in chunk order.
template <Floating T>
Tensor<T> sum_partials(std::vector<Tensor<T>>& partials) {
  for (size_t i = 1; i < partials.size(); ++i) cpu::accumulate(partials[0], partials[i]);
  return partials[0];
}

// Samples per GEMM: enough that each product has about 512 columns (one GEMM per sample is
// narrow at 7x7 outputs, and repacks the weight every time).
inline int64_t conv_group(int64_t n, int64_t positions) {
  return std::clamp<int64_t>((512 + positions - 1) / std::max<int64_t>(positions, 1), 1,
                             std::max<int64_t>(n, 1));
}

// conv2d keeps its forward's columns for the weight gradient when all of them (N * C_in * kh *
// kw * P elements) take at most this many bytes; above it the backward recomputes them. Measured
// (batch 128, kernel 4, stride 2): keeping 1.6 MB (1->64 channels on 28x28) made forward+backward
// about 7 % faster; keeping 26 MB (64->128 on 14x14) made it about 15 % slower, since the columns
// no longer stay in cache between their write and the GEMM that reads them, while recomputing
// them with the vector im2col costs about 1 ms of 33.
// (A tuning knob; tests set it to 0 or to a large value to run both paths.)
inline int64_t conv_keep_columns_bytes = int64_t{4} << 20;
inline bool keep_conv_columns(int64_t bytes) { return bytes <= conv_keep_columns_bytes; }

// conv2d builds and multiplies a group's columns a block of input channels at a time, each block
// at most about this many bytes (at least one channel), so that a block stays in L2 between
// im2col (or the GEMM that makes it) and the GEMM (or col2im) that reads it. Measured on 64->1
// channels, kernel 5, stride 1, 28x28, batch 128 (5 MB of columns per sample): forward+backward
// 52 -> 39 ms; no change at the kernel-4 stride-2 shapes. (A tuning knob, like
// conv_keep_columns_bytes.)
inline int64_t conv_block_bytes = int64_t{512} << 10;

// Channels per block: whole channels (kh * kw rows each) of `cols`-long rows of `elem` bytes.
inline int64_t conv_channel_block(int64_t channels, int64_t rows_per_channel, int64_t cols,
                                  int64_t elem) {
  return std::clamp<int64_t>(
      conv_block_bytes / std::max<int64_t>(rows_per_channel * cols * elem, 1), 1,
      std::max<int64_t>(channels, 1));
}

// Runs f(first channel, channel count) over blocks of `block` channels.
template <class F>
void for_each_channel_block(int64_t channels, int64_t block, F&& f) {
  for (int64_t c0 = 0; c0 < channels; c0 += block) f(c0, std::min(block, channels - c0));
}

// Samples [s0, s0 + g) of a [N, C, P] tensor as the [C, g * P] matrix `dst`, and back.
template <Floating T>
void gather_channels(const T* src, int64_t c, int64_t p, int64_t g, T* dst) {
  for (int64_t s = 0; s < g; ++s)
    for (int64_t ch = 0; ch < c; ++ch)
      std::copy_n(src + (s * c + ch) * p, p, dst + ch * g * p + s * p);
}
template <Floating T>
void scatter_channels(const T* src, int64_t c, int64_t p, int64_t g, T* dst) {
  for (int64_t s = 0; s < g; ++s)
    for (int64_t ch = 0; ch < c; ++ch)
      std::copy_n(src + ch * g * p + s * p, p, dst + (s * c + ch) * p);
}

// Runs f(first sample, sample count, chunk) over groups of `group` samples, the groups split
// over threads; f gets the chunk index to pick its per-thread partial sums.
template <class F>
void for_each_group(int64_t n, int64_t group, int chunks, F&& f) {
  const int64_t groups = (n + group - 1) / group;
  cpu::parallel_chunks(groups, chunks, [&](int chunk, int64_t g0, int64_t g1) {
    for (int64_t gi = g0; gi < g1; ++gi) f(gi * group, std::min(group, n - gi * group), chunk);
  });
}

// The direct path: conv2d without an im2col matrix. The input is copied once, zero-padded, and
// cpu::kernel::gather_gemm reads the kernel taps straight from it (A(position, tap) =
// xpad[row[position] + step[tap]]), vectors along the output channels; the result, [positions,
// channels], is transposed into NCHW. The weight gradient is the same product with positions and
// taps swapped, and at stride 1 the input gradient is one too, over the zero-padded output
// gradient with the kernel flipped. Used when the CPU has nabla's GEMM kernel and the convolution
// has at least this many output channels (fewer would leave most of every vector empty).
// Measured on a Zen 1 core (AVX2), batch 128, forward+backward: 128->64 channels, kernel 5,
// stride 1 on 14x14 990 -> 710 ms (93 % of it in the micro-kernel, against 66 % before);
// 64->128, kernel 4, stride 2 150 -> 127 ms.
// (A tuning knob; tests set it to 1 and to a large value to run both paths.)
inline int64_t conv_direct_min_channels = 8;
// Off: every convolution through im2col (tests compare the paths).
inline bool conv_direct = true;
inline bool use_direct_conv(int64_t out_channels) {
  return NABLA_HAVE_GEMM_KERNEL && conv_direct && out_channels >= conv_direct_min_channels;
}

// A pooled array of trivially copyable T, freed with the scope.
template <class T>
struct PoolArray {
  T* data;
  size_t n;
  explicit PoolArray(int64_t count)
      : data(static_cast<T*>(
            pool_alloc(sizeof(T) * static_cast<size_t>(std::max<int64_t>(count, 1))))),
        n(sizeof(T) * static_cast<size_t>(std::max<int64_t>(count, 1))) {}
  ~PoolArray() { pool_free(data, n); }
  PoolArray(const PoolArray&) = delete;
  PoolArray& operator=(const PoolArray&) = delete;
  T& operator[](int64_t i) { return data[i]; }
};

// g images [C, H, W] from src, each zero-padded by (ph, pw) into dst [g, C, H + 2ph, W + 2pw].
template <Floating T>
void pad_images(const T* src, int64_t g, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                T* dst) {
  const int64_t hp = h + 2 * ph, wp = w + 2 * pw;
  for (int64_t plane = 0; plane < g * c; ++plane) {
    const T* in = src + plane * h * w;
    T* out = dst + plane * hp * wp;
    std::fill_n(out, ph * wp, T(0));
    for (int64_t y = 0; y < h; ++y) {
      T* o = out + (ph + y) * wp;
      std::fill_n(o, pw, T(0));
      std::copy_n(in + y * w, w, o + pw);
      std::fill_n(o + pw + w, pw, T(0));
    }
    std::fill_n(out + (ph + h) * wp, ph * wp, T(0));
  }
}

// Offsets into a padded image [C, hp, wp]: of the kernel taps (c, ky, kx), and of the output
// positions (s, oy, ox) of g such images side by side.
inline void tap_offsets(int64_t c, int64_t kh, int64_t kw, int64_t dh, int64_t dw, int64_t hp,
                        int64_t wp, int64_t* out) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx) *out++ = ch * hp * wp + ky * dh * wp + kx * dw;
}
inline void position_offsets(int64_t g, int64_t image, int64_t out_h, int64_t out_w, int64_t sh,
                             int64_t sw, int64_t wp, int64_t* out) {
  for (int64_t s = 0; s < g; ++s)
    for (int64_t oy = 0; oy < out_h; ++oy)
      for (int64_t ox = 0; ox < out_w; ++ox) *out++ = s * image + oy * sh * wp + ox * sw;
}

#if NABLA_HAVE_GEMM_KERNEL
// dst[s, c, q] = src[s * p + q, c] for g samples: [g * p, c] -> [g, c, p].
template <Floating T>
void positions_to_channels(const T* src, int64_t g, int64_t c, int64_t p, T* dst) {
  for (int64_t s = 0; s < g; ++s)
    cpu::kernel::transpose(src + s * p * c, c, p, c, dst + s * c * p, p);
}
#endif

// Records a convolution's node on x, weight and, when defined, bias.
template <Floating T, class Backward>
void record_conv(const char* name, Tensor<T>& out, const Tensor<T>& x, const Tensor<T>& weight,
                 const Tensor<T>& bias, Backward&& backward) {
  if (bias.defined())
    record(name, out, {&x, &weight, &bias}, std::forward<Backward>(backward));
  else
    record(name, out, {&x, &weight}, std::forward<Backward>(backward));
}

#if NABLA_HAVE_GEMM_KERNEL
// Products of at least this many multiply-adds split over threads when nothing above them does.
inline int64_t conv_gemm_grain = int64_t{1} << 21;

// cpu::kernel::gather_gemm, its rows of C split over the threads when the caller runs on one
// (batch 1, or fewer sample groups than threads: the convolutions split over samples first).
// Every row is summed in the same order however it is split, so the result does not depend on
// the thread count.
template <Floating T>
void gather_gemm_rows_parallel(int64_t m, int64_t n, int64_t k, const T* x, const int64_t* row,
                               const int64_t* step, const T* b, T* c, int64_t ldc,
                               bool accumulate) {
  constexpr int64_t kRows = 4 * cpu::kernel::Blocking<T>::kMr;  // whole micro-kernel tiles
  const int64_t blocks = (m + kRows - 1) / kRows;
  const int chunks =
      static_cast<int>(std::min<int64_t>(blocks, cpu::chunk_count(m * n * k, conv_gemm_grain)));
  cpu::parallel_chunks(blocks, chunks, [&](int, int64_t b0, int64_t b1) {
    const int64_t r0 = b0 * kRows, r1 = std::min(m, b1 * kRows);
    cpu::kernel::gather_gemm<T>(r1 - r0, n, k, x, row + r0, step, b, c + r0 * ldc, ldc, accumulate);
  });
}

// Calls f(j_lo, j_hi) over column ranges of [0, n), split over the threads when the `elements`
// of a pack are many (a large weight at batch 1: packing it is the serial part of a call).
template <class F>
void split_columns(int64_t n, int64_t elements, F&& f) {
  const int chunks =
      static_cast<int>(std::min<int64_t>(n, cpu::chunk_count(elements, cpu::kElementwiseGrain)));
  cpu::parallel_chunks(n, chunks, [&](int, int64_t j0, int64_t j1) { f(j0, j1); });
}

// The weight [C_out, C_in, kh * kw] as wt [C_out, kh * kw, C_in]: every tap's C_in values in a
// row, the rows that the input gradients' B (taps x C_in) is packed from.
template <Floating T>
void taps_by_channel(const T* w, int64_t c_out, int64_t c_in, int64_t kk, T* wt) {
  split_columns(c_out, c_out * c_in * kk, [&](int64_t co0, int64_t co1) {
    for (int64_t co = co0; co < co1; ++co)
      cpu::kernel::transpose(w + co * c_in * kk, kk, c_in, kk, wt + co * kk * c_in, c_in);
  });
}

// conv2d's input gradient at stride 1 as a direct product: gx = the output gradient, zero-padded
// by dilation * (k - 1) - pad (which must not be negative), convolved with the flipped kernel,
// [C_in] channels out. Holds the flipped weight packed once and the taps' offsets.
template <Floating T>
struct DirectInputGrad {
  cpu::ConvGeometry geo;
  int64_t c_out, ph, pw, hp, wp, taps_n;
  PoolArray<T> b;
  PoolArray<int64_t> taps;

  // Every input position takes every tap, also those that fall on the output gradient's zero
  // padding: H * W / (out_h * out_w) times the useful multiplications. That is 1 at "same"
  // padding, but 2.25 for a 5x5 kernel without padding on 12x12; there the columns path (one
  // GEMM of the useful size, then col2im) is faster (LeNet's 20->50 layer: 17 -> 7 ms).
  static bool possible(const cpu::ConvGeometry& g) {
    return g.stride_h == 1 && g.stride_w == 1 && g.dilation_h * (g.kernel_h - 1) >= g.pad_h &&
           g.dilation_w * (g.kernel_w - 1) >= g.pad_w && use_direct_conv(g.channels) &&
           4 * g.height * g.width <= 5 * g.out_h * g.out_w;
  }
  DirectInputGrad(const cpu::ConvGeometry& g, const T* w, int64_t c_out_)
      : geo(g),
        c_out(c_out_),
        ph(g.dilation_h * (g.kernel_h - 1) - g.pad_h),
        pw(g.dilation_w * (g.kernel_w - 1) - g.pad_w),
        hp(g.out_h + 2 * ph),
        wp(g.out_w + 2 * pw),
        taps_n(c_out_ * g.kernel_h * g.kernel_w),
        b(cpu::kernel::packed_panels_size<T>(taps_n, g.channels)),
        taps(taps_n) {
    // B: [(C_out, ky', kx'), C_in] = weight[co, ci, kh-1-ky', kw-1-kx'].
    const int64_t kk = g.kernel_h * g.kernel_w, c_in = g.channels;
    PoolArray<T> wt(c_out * kk * c_in);
    taps_by_channel(w, c_out, c_in, kk, wt.data);
    split_columns(c_in, taps_n * c_in, [&](int64_t j_lo, int64_t j_hi) {
      cpu::kernel::pack_panels<T>(
          taps_n, c_in,
          [&](int64_t tap) {
            const int64_t co = tap / kk, r = tap % kk;
            return wt.data + (co * kk + kk - 1 - r) * c_in;
          },
          b.data, j_lo, j_hi);
    });
    tap_offsets(c_out, g.kernel_h, g.kernel_w, g.dilation_h, g.dilation_w, hp, wp, taps.data);
  }
  // gx of samples [s0, s0 + gs) (written, not added) from their output gradient gs0.
  void run(const T* gs0, int64_t gs, T* gx) const {
    const int64_t plane = geo.height * geo.width, padded = c_out * hp * wp;
    Tensor<T> gp = Tensor<T>::empty({gs * padded});
    pad_images(gs0, gs, c_out, geo.out_h, geo.out_w, ph, pw, gp.data());
    PoolArray<int64_t> positions(gs * plane);
    position_offsets(gs, padded, geo.height, geo.width, 1, 1, wp, positions.data);
    Tensor<T> res = Tensor<T>::empty({gs * plane, geo.channels});
    gather_gemm_rows_parallel<T>(gs * plane, geo.channels, taps_n, gp.data(), positions.data,
                                 taps.data, b.data, res.data(), geo.channels, false);
    positions_to_channels(res.data(), gs, geo.channels, plane, gx);
  }
};

// conv2d's input gradient at stride > 1 (dilation 1) as direct products, one per phase: the
// rows y of gx with (y + pad) % stride == r only receive the kernel rows r, r + stride, ..., from
// output rows (y + pad) / stride - j. So each of the stride_h * stride_w phases is a stride-1
// product over the output gradient (zero-padded by ceil(k / stride) - 1 on top and as needed
// below), with ~k / stride taps per side: A(position, (co, j, i)) = gp[co, Y - j, X - i],
// B = the matching kernel taps [taps, C_in], C = [positions, C_in], then scattered into gx. No
// columns matrix and no col2im.
template <Floating T>
struct StridedInputGrad {
  struct Phase {
    int64_t ry, rx, nj, ni, y0, x0, ny, nx;  // taps per side; first row/column, counts in gx
    PoolArray<T> b;
    PoolArray<int64_t> taps;
    Phase(int64_t ry_, int64_t rx_, int64_t nj_, int64_t ni_, int64_t y0_, int64_t x0_, int64_t ny_,
          int64_t nx_, int64_t k, int64_t c_in)
        : ry(ry_),
          rx(rx_),
          nj(nj_),
          ni(ni_),
          y0(y0_),
          x0(x0_),
          ny(ny_),
          nx(nx_),
          b(cpu::kernel::packed_panels_size<T>(std::max<int64_t>(k, 1), c_in)),
          taps(k) {}
  };
  cpu::ConvGeometry geo;
  int64_t c_out, top, left, hp, wp;
  std::vector<std::unique_ptr<Phase>> phases;

  static bool possible(const cpu::ConvGeometry& g) {
    return (g.stride_h > 1 || g.stride_w > 1) && g.dilation_h == 1 && g.dilation_w == 1 &&
           use_direct_conv(g.channels);
  }
  StridedInputGrad(const cpu::ConvGeometry& g, const T* w, int64_t c_out_) : geo(g), c_out(c_out_) {
    const int64_t sh = g.stride_h, sw = g.stride_w, kh = g.kernel_h, kw = g.kernel_w;
    const int64_t c_in = g.channels, kk = kh * kw;
    top = (kh + sh - 1) / sh - 1;
    left = (kw + sw - 1) / sw - 1;
    const int64_t bottom = std::max<int64_t>(0, (g.height - 1 + g.pad_h) / sh - (g.out_h - 1));
    const int64_t right = std::max<int64_t>(0, (g.width - 1 + g.pad_w) / sw - (g.out_w - 1));
    hp = top + g.out_h + bottom;
    wp = left + g.out_w + right;
    PoolArray<T> wt(c_out * kk * c_in);
    taps_by_channel(w, c_out, c_in, kk, wt.data);
    for (int64_t ry = 0; ry < sh; ++ry)
      for (int64_t rx = 0; rx < sw; ++rx) {
        // gx rows y >= 0 with (y + pad_h) % sh == ry: the first is y0, then every sh-th.
        const int64_t y0 = ((ry - g.pad_h) % sh + sh) % sh, x0 = ((rx - g.pad_w) % sw + sw) % sw;
        const int64_t ny = y0 < g.height ? (g.height - y0 + sh - 1) / sh : 0;
        const int64_t nx = x0 < g.width ? (g.width - x0 + sw - 1) / sw : 0;
        const int64_t nj = ry < kh ? (kh - ry + sh - 1) / sh : 0;
        const int64_t ni = rx < kw ? (kw - rx + sw - 1) / sw : 0;
        if (ny == 0 || nx == 0) continue;
        const int64_t k = c_out * nj * ni;
        auto ph = std::make_unique<Phase>(ry, rx, nj, ni, y0, x0, ny, nx, k, c_in);
        if (k > 0) {
          split_columns(c_in, k * c_in, [&](int64_t j_lo, int64_t j_hi) {
            cpu::kernel::pack_panels<T>(
                k, c_in,
                [&](int64_t tap) {
                  const int64_t co = tap / (nj * ni), j = tap / ni % nj, i = tap % ni;
                  return wt.data + (co * kk + (ry + j * sh) * kw + rx + i * sw) * c_in;
                },
                ph->b.data, j_lo, j_hi);
          });
          int64_t* t = ph->taps.data;
          for (int64_t co = 0; co < c_out; ++co)
            for (int64_t j = 0; j < nj; ++j)
              for (int64_t i = 0; i < ni; ++i) *t++ = co * hp * wp - j * wp - i;
        }
        phases.push_back(std::move(ph));
      }
  }
  // gx of samples [s0, s0 + gs) (every element written) from their output gradient gs0.
  void run(const T* gs0, int64_t gs, T* gx) const {
    const int64_t c_in = geo.channels, plane = geo.height * geo.width, padded = c_out * hp * wp;
    Tensor<T> gp = Tensor<T>::empty({gs * padded});
    T* gpd = gp.data();
    for (int64_t pl = 0; pl < gs * c_out; ++pl) {
      T* o = gpd + pl * hp * wp;
      std::fill_n(o, hp * wp, T(0));
      for (int64_t y = 0; y < geo.out_h; ++y)
        std::copy_n(gs0 + (pl * geo.out_h + y) * geo.out_w, geo.out_w, o + (top + y) * wp + left);
    }
    // The phases write disjoint elements of gx: they split over the threads when the caller
    // runs on one (batch 1) and there is enough work.
    const int64_t work =
        gs * plane * c_in * c_out * geo.kernel_h * geo.kernel_w / (geo.stride_h * geo.stride_w);
    const auto nph = static_cast<int64_t>(phases.size());
    const int chunks =
        static_cast<int>(std::min<int64_t>(nph, cpu::chunk_count(work, conv_gemm_grain)));
    cpu::parallel_chunks(nph, chunks, [&](int, int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) run_phase(*phases[static_cast<size_t>(q)], gpd, gs, gx);
    });
  }
  // gx's elements of one phase.
  void run_phase(const Phase& ph, const T* gpd, int64_t gs, T* gx) const {
    const int64_t c_in = geo.channels, plane = geo.height * geo.width, padded = c_out * hp * wp;
    const int64_t k = c_out * ph.nj * ph.ni, pos = ph.ny * ph.nx;
    Tensor<T> res = Tensor<T>::empty({gs * pos, c_in});
    if (k == 0) {
      std::fill_n(res.data(), gs * pos * c_in, T(0));
    } else {
      PoolArray<int64_t> rows(gs * pos);
      for (int64_t s = 0, r = 0; s < gs; ++s)
        for (int64_t a = 0; a < ph.ny; ++a)
          for (int64_t b = 0; b < ph.nx; ++b, ++r) {
            const int64_t yq = (ph.y0 + a * geo.stride_h + geo.pad_h) / geo.stride_h;
            const int64_t xq = (ph.x0 + b * geo.stride_w + geo.pad_w) / geo.stride_w;
            rows[r] = s * padded + (yq + top) * wp + xq + left;
          }
      gather_gemm_rows_parallel<T>(gs * pos, c_in, k, gpd, rows.data, ph.taps.data, ph.b.data,
                                   res.data(), c_in, false);
    }
    // [positions, C_in] -> gx [s, ci, y0 + a * sh, x0 + b * sw]
    const T* rd = res.data();
    for (int64_t s = 0; s < gs; ++s)
      for (int64_t ci = 0; ci < c_in; ++ci) {
        T* o = gx + (s * c_in + ci) * plane;
        const T* in = rd + s * pos * c_in + ci;
        for (int64_t a = 0; a < ph.ny; ++a) {
          T* orow = o + (ph.y0 + a * geo.stride_h) * geo.width + ph.x0;
          for (int64_t b = 0; b < ph.nx; ++b) orow[b * geo.stride_w] = in[(a * ph.nx + b) * c_in];
        }
      }
  }
};

// conv2d with fewer output channels than a direct product wants (a generator's last
// convolution, 64 -> 1), at stride 1: vectors along each output row. The input is zero-padded
// into rows of wr = ceil(out_w / W) * W + dilation * (kw - 1) values, so that every output row is
// whole vectors (the lanes past out_w are computed and dropped); the output gradient likewise
// into rows of ceil(out_w / W) * W with zeros past out_w for the weight gradient.
struct RowConv {
  int64_t vecs, wr, hp, padded;  // vectors per output row, padded row length and height, image
  RowConv(const cpu::ConvGeometry& g, int64_t width) {
    vecs = (g.out_w + width - 1) / width;
    wr = vecs * width + g.dilation_w * (g.kernel_w - 1);
    hp = g.height + 2 * g.pad_h;
    padded = g.channels * hp * wr;
  }
  static bool possible(const cpu::ConvGeometry& g) {
    return conv_direct && g.stride_h == 1 && g.stride_w == 1;
  }
};

// One image [C, H, W] into the RowConv layout [C, hp, wr] (image at column pad_w, zeros around).
template <Floating T>
void pad_rows(const T* src, const cpu::ConvGeometry& g, const RowConv& rc, T* dst) {
  for (int64_t c = 0; c < g.channels; ++c) {
    T* out = dst + c * rc.hp * rc.wr;
    std::fill_n(out, rc.hp * rc.wr, T(0));
    for (int64_t y = 0; y < g.height; ++y)
      std::copy_n(src + (c * g.height + y) * g.width, g.width,
                  out + (g.pad_h + y) * rc.wr + g.pad_w);
  }
}

// out [C_out, out_h, out_w] of one image from its padded rows xp and the weight w [C_out, taps].
template <Floating T>
void row_conv_forward(const T* xp, const T* w, int64_t c_out, const cpu::ConvGeometry& g,
                      const RowConv& rc, T* out) {
  using S = cpu::kernel::Simd<T>;
  using V = typename S::V;
  constexpr int W = S::kWidth, kMaxV = 4;
  const int64_t kk = g.kernel_h * g.kernel_w;
  alignas(64) T tail[kMaxV * W];
  for (int64_t co = 0; co < c_out; ++co)
    for (int64_t oy = 0; oy < g.out_h; ++oy)
      for (int64_t v0 = 0; v0 < rc.vecs; v0 += kMaxV) {
        const int64_t nv = std::min<int64_t>(kMaxV, rc.vecs - v0);
        V acc[kMaxV] = {S::zero(), S::zero(), S::zero(), S::zero()};
        const T* wt = w + co * g.channels * kk;
        for (int64_t c = 0; c < g.channels; ++c)
          for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
            const T* row = xp + (c * rc.hp + oy + ky * g.dilation_h) * rc.wr + v0 * W;
            for (int64_t kx = 0; kx < g.kernel_w; ++kx, ++wt) {
              const V wv = S::broadcast(wt);
              const T* in = row + kx * g.dilation_w;
              if (nv == kMaxV) {
#pragma GCC unroll 4
                for (int v = 0; v < kMaxV; ++v) acc[v] = S::fma(wv, S::loadu(in + v * W), acc[v]);
              } else {
                for (int v = 0; v < nv; ++v) acc[v] = S::fma(wv, S::loadu(in + v * W), acc[v]);
              }
            }
          }
#pragma GCC unroll 4
        for (int v = 0; v < kMaxV; ++v) S::storeu(tail + v * W, acc[v]);
        const int64_t x0 = v0 * W, n = std::min<int64_t>(nv * W, g.out_w - x0);
        std::copy_n(tail, n, out + (co * g.out_h + oy) * g.out_w + x0);
      }
}

// gw [C_out, taps] += the weight gradient of one image, from its padded rows xp and its output
// gradient in padded rows gp [C_out, out_h, vecs * W] (zeros past out_w).
template <Floating T>
void row_conv_weight_grad(const T* xp, const T* gp, int64_t c_out, const cpu::ConvGeometry& g,
                          const RowConv& rc, T* gw) {
  using S = cpu::kernel::Simd<T>;
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const int64_t gl = rc.vecs * W;
  alignas(64) T lanes[W];
  for (int64_t co = 0; co < c_out; ++co) {
    const T* gc = gp + co * g.out_h * gl;
    T* out = gw + co * g.channels * g.kernel_h * g.kernel_w;
    for (int64_t c = 0; c < g.channels; ++c)
      for (int64_t ky = 0; ky < g.kernel_h; ++ky)
        for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
          V a0 = S::zero(), a1 = S::zero();
          const T* in = xp + (c * rc.hp + ky * g.dilation_h) * rc.wr + kx * g.dilation_w;
          for (int64_t oy = 0; oy < g.out_h; ++oy) {
            const T* xr = in + oy * rc.wr;
            const T* gr = gc + oy * gl;
            int64_t v = 0;
            for (; v + 2 <= rc.vecs; v += 2) {
              a0 = S::fma(S::loadu(xr + v * W), S::loadu(gr + v * W), a0);
              a1 = S::fma(S::loadu(xr + (v + 1) * W), S::loadu(gr + (v + 1) * W), a1);
            }
            if (v < rc.vecs) a0 = S::fma(S::loadu(xr + v * W), S::loadu(gr + v * W), a0);
          }
          S::storeu(lanes, S::add(a0, a1));
          T sum = 0;
          for (int l = 0; l < W; ++l) sum += lanes[l];
          *out++ += sum;
        }
  }
}

template <Floating T>
Tensor<T> conv2d_rows(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                      const Tensor<T>& xc, const Tensor<T>& wc, const cpu::ConvGeometry& geo) {
  using S = cpu::kernel::Simd<T>;
  const int64_t n = xc.shape()[0], c_out = wc.shape()[0], p = geo.cols();
  const int64_t image = geo.channels * geo.height * geo.width;
  const RowConv rc(geo, S::kWidth);
  Tensor<T> out = Tensor<T>::empty({n, c_out, geo.out_h, geo.out_w});
  cpu::parallel_chunks(n, cpu::chunk_count(n, 1), [&](int, int64_t s0, int64_t s1) {
    Tensor<T> xp = Tensor<T>::empty({rc.padded});
    for (int64_t s = s0; s < s1; ++s) {
      pad_rows(xc.data() + s * image, geo, rc, xp.data());
      row_conv_forward(xp.data(), wc.data(), c_out, geo, rc, out.data() + s * c_out * p);
    }
  });
  if (bias.defined()) add_channel_bias(out.data(), contiguous_or_self(bias).data(), n, c_out, p);
  const bool has_bias = bias.defined();
  if (!(has_bias ? needs_graph({&x, &weight, &bias}) : needs_graph(x, weight))) return out;
  auto backward = [sx = Saved<T>(xc), sw = Saved<T>(wc), geo, n, c_out](Node<T>& node,
                                                                        const Tensor<T>& g_in) {
    const Tensor<T> g = contiguous_or_self(g_in);
    const Tensor<T>&x = sx.get(node), &wt = sw.get(node);
    const int64_t p = geo.cols(), image = geo.channels * geo.height * geo.width;
    const RowConv rc(geo, S::kWidth);
    const bool want_x = node.needs_grad(0), want_w = node.needs_grad(1);
    Tensor<T> gx = want_x ? Tensor<T>::empty(x.shape()) : Tensor<T>();
    std::optional<DirectInputGrad<T>> dx;
    if (want_x) dx.emplace(geo, wt.data(), c_out);
    const int64_t group = conv_group(n, p);
    const int chunks = cpu::chunk_count((n + group - 1) / group, 1);
    std::vector<Tensor<T>> gw;
    for (int c = 0; want_w && c < chunks; ++c) gw.push_back(Tensor<T>::zeros(wt.shape()));
    const int64_t gl = rc.vecs * S::kWidth;
    for_each_group(n, group, chunks, [&](int64_t s0, int64_t gs, int chunk) {
      const T* gs0 = g.data() + s0 * c_out * p;
      if (want_x) dx->run(gs0, gs, gx.data() + s0 * image);
      if (!want_w) return;
      Tensor<T> xp = Tensor<T>::empty({rc.padded}), gp = Tensor<T>::zeros({c_out * geo.out_h * gl});
      for (int64_t s = 0; s < gs; ++s) {
        pad_rows(x.data() + (s0 + s) * image, geo, rc, xp.data());
        for (int64_t r = 0; r < c_out * geo.out_h; ++r)
          std::copy_n(gs0 + s * c_out * p + r * geo.out_w, geo.out_w, gp.data() + r * gl);
        row_conv_weight_grad(xp.data(), gp.data(), c_out, geo, rc,
                             gw[static_cast<size_t>(chunk)].data());
      }
    });
    if (want_x) node.send(0, std::move(gx));
    if (want_w) node.send(1, sum_partials(gw));
    if (node.num_inputs() > 2 && node.needs_grad(2)) node.send(2, channel_sums(g, n, c_out, p));
  };
  record_conv("conv2d", out, x, weight, bias, std::move(backward));
  return out;
}

// Stride-1 convolutions with 3x3 to 5x5 kernels by Winograd's F(m x m, r x r)
// (cpu/winograd.hpp), for float: the forward, and the input gradient (the same convolution of
// the output gradient with the flipped kernel). The input is copied once, zero-padded and
// channels last; tiles are transformed a block at a time (V: [tile, 36, C_in]), the 36 products
// [tiles, C_in] x [C_in, C_out] run through gather_gemm against the transformed kernel (packed
// once per call), and the output transform writes NCHW. Double stays on the direct path: its
// error is what gradcheck measures. Winograd's float error is larger than a direct sum's
// (measured against double at these shapes: about 1e-6 relative to the output's scale for 5x5,
// a few times that for 3x3; see test_winograd), the trade cuDNN and oneDNN also offer.
// Off: every convolution on the direct or im2col paths (tests compare the paths).
inline bool conv_winograd = true;
// Both channel counts at least this (and multiples of the vector width), and at least this many
// output tiles: below them the transforms cost more than the products save. The tile count where
// Winograd starts to win grows with the GEMM's speed: about 64 with AVX2 (Zen 1), about 256 with
// AVX-512 (Zen 4 class, session 9: at 64 tiles Winograd took 1.4-1.7x the direct path's time, at
// 98 tiles of a 5x5 kernel 1.6x, at 256 they were even, at 392-1024 Winograd won by 1.15-1.5x).
inline int64_t conv_winograd_min_channels = 16;
inline int64_t conv_winograd_min_tiles = cpu::kernel::Simd<float>::kWidth >= 16 ? 256 : 64;
// Bytes of transformed tiles (input and output) per block.
inline int64_t conv_winograd_block_bytes = int64_t{2} << 20;
// Samples per group: the input is copied (zero-padded, channels last) a group at a time, about
// this many bytes per group (at least one sample), so that a large batch is never copied whole.
inline int64_t conv_winograd_group_bytes = int64_t{16} << 20;
template <Floating T>
int64_t winograd_group(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t ph, int64_t pw) {
  constexpr int64_t A = cpu::winograd::kAlpha;  // the padded copy is at most this much larger
  const int64_t per_sample = (h + 2 * ph + A) * (w + 2 * pw + A) * c_in * int64_t{sizeof(T)};
  return std::clamp<int64_t>(conv_winograd_group_bytes / per_sample, 1, std::max<int64_t>(n, 1));
}

template <Floating T>
bool winograd_possible(int64_t c_in, int64_t c_out, int64_t kh, int64_t kw, int64_t n,
                       int64_t out_h, int64_t out_w) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    namespace wg = cpu::winograd;
    constexpr int64_t W = cpu::kernel::Simd<T>::kWidth;
    if (!conv_winograd || !wg::supported_kernel(kh) || !wg::supported_kernel(kw)) return false;
    const int64_t th = (out_h + wg::output_tile(kh) - 1) / wg::output_tile(kh);
    const int64_t tw = (out_w + wg::output_tile(kw) - 1) / wg::output_tile(kw);
    return c_in % W == 0 && c_out % W == 0 && std::min(c_in, c_out) >= conv_winograd_min_channels &&
           n * th * tw >= conv_winograd_min_tiles;
  }
}

// The Winograd form applies to the forward of this convolution.
template <Floating T>
bool winograd_forward(const cpu::ConvGeometry& g, int64_t n, int64_t c_out) {
  return g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         winograd_possible<T>(g.channels, c_out, g.kernel_h, g.kernel_w, n, g.out_h, g.out_w);
}
// ... and to its input gradient (the output gradient padded by k - 1 - pad, which must not be
// negative).
template <Floating T>
bool winograd_input_grad(const cpu::ConvGeometry& g, int64_t n, int64_t c_out) {
  return g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         g.pad_h <= g.kernel_h - 1 && g.pad_w <= g.kernel_w - 1 &&
         winograd_possible<T>(c_out, g.channels, g.kernel_h, g.kernel_w, n, g.height, g.width);
}

template <Floating T, int Mh, int Mw>
void winograd_output_block(const T* m, int64_t nt, int64_t t0, int64_t c_out, const T* bias,
                           int64_t th, int64_t tw, int64_t out_h, int64_t out_w, T* y) {
  using S = cpu::kernel::Simd<T>;
  using V = typename S::V;
  constexpr int W = S::kWidth;
  alignas(64) T lanes[Mh][Mw][W];
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t tile = t0 + t, s = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
    const int64_t oy0 = ty * Mh, ox0 = tx * Mw;
    const int64_t rows = std::min<int64_t>(Mh, out_h - oy0),
                  cols = std::min<int64_t>(Mw, out_w - ox0);
    for (int64_t co = 0; co < c_out; co += W) {
      V yv[Mh][Mw];
      cpu::winograd::output_tile<T, Mh, Mw>(m + t * cpu::winograd::kTile * c_out + co, c_out,
                                            bias ? S::loadu(bias + co) : S::zero(), yv);
      for (int i = 0; i < Mh; ++i)
        for (int j = 0; j < Mw; ++j) S::storeu(lanes[i][j], yv[i][j]);
      for (int l = 0; l < W; ++l) {
        T* out = y + ((s * c_out + co + l) * out_h + oy0) * out_w + ox0;
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols; ++j) out[i * out_w + j] = lanes[i][j][l];
      }
    }
  }
}

// The tiling of a stride-1 convolution's output for Winograd, and its input zero-padded and
// channels last, [n, hp, wp, C_in], so that every tile's 6 x 6 window lies inside.
template <Floating T>
struct WinogradInput {
  int64_t n, c_in, kh, kw, out_h, out_w;
  int mh, mw;
  int64_t th, tw, tiles, hp, wp, padded;
  Tensor<T> xp;
  WinogradInput(const T* x, int64_t n_, int64_t c_in_, int64_t h, int64_t w, int64_t kh_,
                int64_t kw_, int64_t ph, int64_t pw)
      : n(n_),
        c_in(c_in_),
        kh(kh_),
        kw(kw_),
        out_h(h + 2 * ph - kh_ + 1),
        out_w(w + 2 * pw - kw_ + 1) {
    namespace wg = cpu::winograd;
    mh = wg::output_tile(kh);
    mw = wg::output_tile(kw);
    th = (out_h + mh - 1) / mh;
    tw = (out_w + mw - 1) / mw;
    tiles = n * th * tw;
    hp = th * mh + wg::kAlpha - mh;
    wp = tw * mw + wg::kAlpha - mw;
    padded = hp * wp * c_in;
    xp = Tensor<T>::empty({n * padded});
    const int64_t plane = h * w;
    cpu::parallel_chunks(n, cpu::chunk_count(n, 1), [&](int, int64_t s0, int64_t s1) {
      constexpr int64_t kB = 16;
      for (int64_t s = s0; s < s1; ++s) {
        T* o = xp.data() + s * padded;
        std::fill_n(o, padded, T(0));
        const T* in = x + s * c_in * plane;
        for (int64_t c0 = 0; c0 < c_in; c0 += kB) {
          const int64_t c1 = std::min(c_in, c0 + kB);
          for (int64_t yy = 0; yy < h; ++yy)
            for (int64_t xx = 0; xx < w; ++xx) {
              T* dst = o + ((yy + ph) * wp + xx + pw) * c_in;
              for (int64_t c = c0; c < c1; ++c) dst[c] = in[c * plane + yy * w + xx];
            }
        }
      }
    });
  }
  // (sample, tile row, tile column) of a tile index
  void locate(int64_t tile, int64_t& s, int64_t& ty, int64_t& tx) const {
    s = tile / (th * tw);
    ty = tile / tw % th;
    tx = tile % tw;
  }
  // V [nt, 36, C_in] of tiles [t0, t0 + nt).
  void transform(int64_t t0, int64_t nt, T* v) const {
    constexpr int W = cpu::kernel::Simd<T>::kWidth;
    constexpr int64_t K = cpu::winograd::kTile;
    for (int64_t t = 0; t < nt; ++t) {
      int64_t s, ty, tx;
      locate(t0 + t, s, ty, tx);
      const T* base = xp.data() + s * padded + (ty * mh * wp + tx * mw) * c_in;
      for (int64_t c = 0; c < c_in; c += W)
        cpu::winograd::input_tile<T>(base + c, wp * c_in, c_in, v + t * K * c_in + c, c_in);
    }
  }
  // Tiles per block, for blocks of about `bytes` of transformed values with `c_out` channels out.
  int64_t block(int64_t c_out, int64_t bytes) const {
    const int64_t per_tile = cpu::winograd::kTile * (c_in + c_out) * int64_t{sizeof(T)};
    return std::clamp<int64_t>(bytes / per_tile, 24, 480) / 6 * 6;
  }
  // tb, or smaller where that leaves fewer blocks than threads (batch 1), so that every thread
  // gets some; blocks stay a multiple of 6 tiles.
  int64_t spread(int64_t tb) const {
    const int want = cpu::chunk_count(tiles, 24);
    if ((tiles + tb - 1) / tb >= want) return tb;
    return std::max<int64_t>(6, ((tiles + want - 1) / want + 5) / 6 * 6);
  }
};

// Calls f.template operator()<Mh, Mw>() with the run-time output tile sides as constants.
template <class F>
void with_tile_sides(int mh, int mw, F&& f) {
  auto by_w = [&]<int Mh>() {
    if (mw == 2)
      f.template operator()<Mh, 2>();
    else if (mw == 3)
      f.template operator()<Mh, 3>();
    else
      f.template operator()<Mh, 4>();
  };
  if (mh == 2)
    by_w.template operator()<2>();
  else if (mh == 3)
    by_w.template operator()<3>();
  else
    by_w.template operator()<4>();
}

// y [n, c_out, out_h, out_w] (written) = x [n, c_in, h, w], zero-padded by (ph, pw), convolved
// at stride 1 with the kh x kw kernel whose taps are tap(co, ci, ky, kx), plus bias (or none).
template <Floating T, class Tap>
void winograd_conv(const T* x, int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t kh,
                   int64_t kw, int64_t ph, int64_t pw, int64_t c_out, Tap&& tap, const T* bias,
                   T* y) {
  namespace kn = cpu::kernel;
  namespace wg = cpu::winograd;
  constexpr int64_t K = wg::kTile;
  // The transformed kernel: 36 matrices [C_in, C_out] in gather_gemm's packed layout.
  const int64_t usize = kn::packed_panels_size<T>(c_in, c_out);
  PoolArray<T> u(K * usize);
  if (usize != c_in * c_out) std::fill_n(u.data, K * usize, T(0));
  cpu::parallel_chunks(c_out, cpu::chunk_count(c_out, 8), [&](int, int64_t co0, int64_t co1) {
    for (int64_t co = co0; co < co1; ++co)
      for (int64_t ci = 0; ci < c_in; ++ci)
        wg::kernel_transform<T>(
            static_cast<int>(kh), static_cast<int>(kw),
            [&](int ky, int kx) { return tap(co, ci, ky, kx); },
            u.data + kn::packed_offset<T>(c_in, c_out, ci, co), usize);
  });
  const int64_t group = winograd_group<T>(n, c_in, h, w, ph, pw);
  const int64_t out_image = c_out * (h + 2 * ph - kh + 1) * (w + 2 * pw - kw + 1);
  for (int64_t s0 = 0; s0 < n; s0 += group) {
    const WinogradInput<T> in(x + s0 * c_in * h * w, std::min(group, n - s0), c_in, h, w, kh, kw,
                              ph, pw);
    T* const ys = y + s0 * out_image;
    // Tiles in blocks of tb, the blocks split over threads.
    const int64_t tb = in.spread(in.block(c_out, conv_winograd_block_bytes));
    const int64_t blocks = (in.tiles + tb - 1) / tb;
    cpu::parallel_chunks(blocks, cpu::chunk_count(blocks, 1), [&](int, int64_t b0, int64_t b1) {
      Tensor<T> v = Tensor<T>::empty({tb * K * c_in}), m = Tensor<T>::empty({tb * K * c_out});
      PoolArray<int64_t> rows(tb), steps(c_in);
      for (int64_t i = 0; i < tb; ++i) rows[i] = i * K * c_in;
      for (int64_t p = 0; p < c_in; ++p) steps[p] = p;
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t t0 = b * tb, nt = std::min(tb, in.tiles - t0);
        in.transform(t0, nt, v.data());
        for (int64_t xi = 0; xi < K; ++xi)
          kn::gather_gemm<T>(nt, c_out, c_in, v.data() + xi * c_in, rows.data, steps.data,
                             u.data + xi * usize, m.data() + xi * c_out, K * c_out, false);
        with_tile_sides(in.mh, in.mw, [&]<int Mh, int Mw>() {
          winograd_output_block<T, Mh, Mw>(m.data(), nt, t0, c_out, bias, in.th, in.tw, in.out_h,
                                           in.out_w, ys);
        });
      }
    });
  }
}

// gw [c_out, c_in, kh, kw] (written): the weight gradient of the stride-1 convolution of x [n,
// c_in, h, w], zero-padded by (ph, pw), whose output gradient is gy [n, c_out, out_h, out_w]. The
// forward's adjoint: dU_xi = sum over tiles of V_xi^T Z_xi with Z = A dY A^T, 36 products
// [C_in, tiles] x [tiles, C_out] through gather_gemm, one partial per thread; then gw = G^T dU G.
template <Floating T>
void winograd_weight_grad(const T* x, const T* gy, int64_t n, int64_t c_in, int64_t h, int64_t w,
                          int64_t kh, int64_t kw, int64_t ph, int64_t pw, int64_t c_out, T* gw) {
  namespace kn = cpu::kernel;
  namespace wg = cpu::winograd;
  constexpr int64_t K = wg::kTile;
  const int64_t group = winograd_group<T>(n, c_in, h, w, ph, pw);
  const int64_t out_image = c_out * (h + 2 * ph - kh + 1) * (w + 2 * pw - kw + 1);
  std::vector<Tensor<T>> du;  // per chunk, [36, C_in, C_out], allocated with the first group
  for (int64_t s0 = 0; s0 < n; s0 += group) {
    const WinogradInput<T> in(x + s0 * c_in * h * w, std::min(group, n - s0), c_in, h, w, kh, kw,
                              ph, pw);
    const T* const gys = gy + s0 * out_image;
    const int64_t tb = in.spread(in.block(c_out, 2 * conv_winograd_block_bytes));
    const int64_t blocks = (in.tiles + tb - 1) / tb;
    if (du.empty())
      for (int c = 0; c < cpu::chunk_count(blocks, 1); ++c)
        du.push_back(Tensor<T>::zeros({K * c_in * c_out}));
    const int chunks = std::min(static_cast<int>(du.size()), cpu::chunk_count(blocks, 1));
    cpu::parallel_chunks(blocks, chunks, [&](int chunk, int64_t b0, int64_t b1) {
      const int64_t zsize = kn::packed_panels_size<T>(tb, c_out);
      Tensor<T> v = Tensor<T>::empty({tb * K * c_in}), z = Tensor<T>::empty({K * zsize});
      PoolArray<int64_t> rows(c_in), steps(tb);
      for (int64_t i = 0; i < c_in; ++i) rows[i] = i;
      for (int64_t p = 0; p < tb; ++p) steps[p] = p * K * c_in;
      T* dsum = du[static_cast<size_t>(chunk)].data();
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t t0 = b * tb, nt = std::min(tb, in.tiles - t0);
        in.transform(t0, nt, v.data());
        // Z of each tile, straight into gather_gemm's packed layout for nt rows.
        const int64_t zs = kn::packed_panels_size<T>(nt, c_out);
        if (zs != nt * c_out) std::fill_n(z.data(), K * zs, T(0));
        with_tile_sides(in.mh, in.mw, [&]<int Mh, int Mw>() {
          using S = kn::Simd<T>;
          constexpr int W = S::kWidth;
          alignas(64) T lanes[Mh][Mw][W];
          for (int64_t t = 0; t < nt; ++t) {
            int64_t s, ty, tx;
            in.locate(t0 + t, s, ty, tx);
            const int64_t oy0 = ty * Mh, ox0 = tx * Mw;
            const int64_t rows_in = std::min<int64_t>(Mh, in.out_h - oy0);
            const int64_t cols_in = std::min<int64_t>(Mw, in.out_w - ox0);
            for (int64_t co = 0; co < c_out; co += W) {
              for (int l = 0; l < W; ++l) {
                const T* g = gys + ((s * c_out + co + l) * in.out_h + oy0) * in.out_w + ox0;
                for (int i = 0; i < Mh; ++i)
                  for (int j = 0; j < Mw; ++j)
                    lanes[i][j][l] = i < rows_in && j < cols_in ? g[i * in.out_w + j] : T(0);
              }
              typename S::V yv[Mh][Mw];
              for (int i = 0; i < Mh; ++i)
                for (int j = 0; j < Mw; ++j) yv[i][j] = S::loadu(lanes[i][j]);
              wg::output_grad_tile<T, Mh, Mw>(yv, z.data() + kn::packed_offset<T>(nt, c_out, t, co),
                                              zs);
            }
          }
        });
        for (int64_t xi = 0; xi < K; ++xi)
          kn::gather_gemm<T>(c_in, c_out, nt, v.data() + xi * c_in, rows.data, steps.data,
                             z.data() + xi * zs, dsum + xi * c_in * c_out, c_out, true);
      }
    });
  }
  const Tensor<T> sum = sum_partials(du);
  const T* d = sum.data();
  cpu::parallel_chunks(c_out, cpu::chunk_count(c_out, 8), [&](int, int64_t co0, int64_t co1) {
    for (int64_t co = co0; co < co1; ++co)
      for (int64_t ci = 0; ci < c_in; ++ci) {
        T* out = gw + (co * c_in + ci) * kh * kw;
        wg::kernel_transform_adjoint<T>(
            static_cast<int>(kh), static_cast<int>(kw), d + ci * c_out + co, c_in * c_out,
            [&](int ky, int kx, T value) { out[ky * kw + kx] = value; });
      }
  });
}

template <Floating T>
void conv2d_direct_forward(const Tensor<T>& xc, const Tensor<T>& wc, const cpu::ConvGeometry& geo,
                           Tensor<T>& out) {
  namespace kn = cpu::kernel;
  const int64_t n = xc.shape()[0], c_out = wc.shape()[0];
  const int64_t k = geo.rows(), p = geo.cols();
  const int64_t hp = geo.height + 2 * geo.pad_h, wp = geo.width + 2 * geo.pad_w;
  const int64_t padded = geo.channels * hp * wp, image = geo.channels * geo.height * geo.width;
  // B: the weight as [taps, C_out], packed once.
  PoolArray<T> bw(kn::packed_panels_size<T>(k, c_out));
  split_columns(c_out, k * c_out, [&](int64_t j_lo, int64_t j_hi) {
    kn::pack_panels_transposed(wc.data(), k, 0, k, k, c_out, bw.data, j_lo, j_hi);
  });
  PoolArray<int64_t> taps(k);
  tap_offsets(geo.channels, geo.kernel_h, geo.kernel_w, geo.dilation_h, geo.dilation_w, hp, wp,
              taps.data);
  const int64_t group = conv_group(n, p);
  const bool pad = geo.pad_h > 0 || geo.pad_w > 0;
  for_each_group(
      n, group, cpu::chunk_count((n + group - 1) / group, 1), [&](int64_t s0, int64_t g, int) {
        Tensor<T> xp = pad ? Tensor<T>::empty({g * padded}) : Tensor<T>();
        if (pad)
          pad_images(xc.data() + s0 * image, g, geo.channels, geo.height, geo.width, geo.pad_h,
                     geo.pad_w, xp.data());
        PoolArray<int64_t> rows(g * p);
        position_offsets(g, padded, geo.out_h, geo.out_w, geo.stride_h, geo.stride_w, wp,
                         rows.data);
        Tensor<T> res = Tensor<T>::empty({g * p, c_out});
        gather_gemm_rows_parallel<T>(g * p, c_out, k, pad ? xp.data() : xc.data() + s0 * image,
                                     rows.data, taps.data, bw.data, res.data(), c_out, false);
        positions_to_channels(res.data(), g, c_out, p, out.data() + s0 * c_out * p);
      });
}

template <Floating T>
Tensor<T> conv2d_direct(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                        const Tensor<T>& xc, const Tensor<T>& wc, const cpu::ConvGeometry& geo) {
  const int64_t n = xc.shape()[0], c_out = wc.shape()[0], p = geo.cols();
  Tensor<T> out = Tensor<T>::empty({n, c_out, geo.out_h, geo.out_w});
  const bool has_bias = bias.defined();
  if (winograd_forward<T>(geo, n, c_out)) {
    const T* wd = wc.data();
    const int64_t kh = geo.kernel_h, kw = geo.kernel_w;
    winograd_conv<T>(
        xc.data(), n, geo.channels, geo.height, geo.width, kh, kw, geo.pad_h, geo.pad_w, c_out,
        [&](int64_t co, int64_t ci, int64_t ky, int64_t kx) {
          return wd[((co * geo.channels + ci) * kh + ky) * kw + kx];
        },
        has_bias ? contiguous_or_self(bias).data() : nullptr, out.data());
  } else {
    conv2d_direct_forward(xc, wc, geo, out);
    if (has_bias) add_channel_bias(out.data(), contiguous_or_self(bias).data(), n, c_out, p);
  }
  if (!(has_bias ? needs_graph({&x, &weight, &bias}) : needs_graph(x, weight))) return out;
  auto backward = [sx = Saved<T>(xc), sw = Saved<T>(wc), geo, n, c_out](Node<T>& node,
                                                                        const Tensor<T>& g_in) {
    const Tensor<T> g = contiguous_or_self(g_in);
    const Tensor<T>&x = sx.get(node), &wt = sw.get(node);
    const int64_t k = geo.rows(), p = geo.cols(), c_in = geo.channels;
    const int64_t kh = geo.kernel_h, kw = geo.kernel_w;
    const int64_t hp = geo.height + 2 * geo.pad_h, wp = geo.width + 2 * geo.pad_w;
    const int64_t padded = c_in * hp * wp, image = c_in * geo.height * geo.width;
    const bool want_x = node.needs_grad(0), want_w = node.needs_grad(1);
    // The input gradient is Winograd's (stride 1, float), a direct product at stride 1
    // (DirectInputGrad) or per phase at larger strides (StridedInputGrad), else im2col's GEMM +
    // col2im.
    const bool wino_x = want_x && winograd_input_grad<T>(geo, n, c_out);
    const bool wino_w = want_w && winograd_forward<T>(geo, n, c_out);
    const bool direct_x = want_x && !wino_x && DirectInputGrad<T>::possible(geo);
    const bool strided_x = want_x && !wino_x && !direct_x && StridedInputGrad<T>::possible(geo);
    Tensor<T> gx = want_x ? (direct_x || wino_x || strided_x ? Tensor<T>::empty(x.shape())
                                                             : Tensor<T>::zeros(x.shape()))
                          : Tensor<T>();
    if (wino_x) {  // gx = g, padded by k - 1 - pad, convolved with the flipped kernel
      const T* wd = wt.data();
      winograd_conv<T>(
          g.data(), n, c_out, geo.out_h, geo.out_w, kh, kw, kh - 1 - geo.pad_h, kw - 1 - geo.pad_w,
          c_in,
          [&](int64_t ci, int64_t co, int64_t ky, int64_t kx) {
            return wd[((co * c_in + ci) * kh + kh - 1 - ky) * kw + kw - 1 - kx];
          },
          static_cast<const T*>(nullptr), gx.data());
    }
    const int64_t group = conv_group(n, p);
    const int chunks = cpu::chunk_count((n + group - 1) / group, 1);
    std::vector<Tensor<T>> gw;  // per chunk, [taps, C_out]
    for (int c = 0; want_w && !wino_w && c < chunks; ++c)
      gw.push_back(Tensor<T>::zeros({k, c_out}));
    Tensor<T> gw_wino;
    if (wino_w) {
      gw_wino = Tensor<T>::empty(wt.shape());
      winograd_weight_grad<T>(x.data(), g.data(), n, c_in, geo.height, geo.width, kh, kw, geo.pad_h,
                              geo.pad_w, c_out, gw_wino.data());
    }
    PoolArray<int64_t> taps(k);
    tap_offsets(c_in, kh, kw, geo.dilation_h, geo.dilation_w, hp, wp, taps.data);
    std::optional<DirectInputGrad<T>> dx;
    if (direct_x) dx.emplace(geo, wt.data(), c_out);
    std::optional<StridedInputGrad<T>> sx;
    if (strided_x) sx.emplace(geo, wt.data(), c_out);
    const bool pad = geo.pad_h > 0 || geo.pad_w > 0;
    for_each_group(n, group, chunks, [&](int64_t s0, int64_t gs, int chunk) {
      const T* gs0 = g.data() + s0 * c_out * p;
      if (want_w && !wino_w) {
        Tensor<T> xp = pad ? Tensor<T>::empty({gs * padded}) : Tensor<T>();
        if (pad)
          pad_images(x.data() + s0 * image, gs, c_in, geo.height, geo.width, geo.pad_h, geo.pad_w,
                     xp.data());
        PoolArray<int64_t> positions(gs * p);
        position_offsets(gs, padded, geo.out_h, geo.out_w, geo.stride_h, geo.stride_w, wp,
                         positions.data);
        // B: the output gradient as [positions, C_out].
        PoolArray<T> bg(cpu::kernel::packed_panels_size<T>(gs * p, c_out));
        for (int64_t s = 0; s < gs; ++s)
          cpu::kernel::pack_panels_transposed(gs0 + s * c_out * p, p, s * p, p, gs * p, c_out,
                                              bg.data);
        gather_gemm_rows_parallel<T>(k, c_out, gs * p, pad ? xp.data() : x.data() + s0 * image,
                                     taps.data, positions.data, bg.data,
                                     gw[static_cast<size_t>(chunk)].data(), c_out, true);
      }
      if (direct_x) {
        dx->run(gs0, gs, gx.data() + s0 * image);
      } else if (strided_x) {
        sx->run(gs0, gs, gx.data() + s0 * image);
      } else if (want_x && !wino_x) {
        Tensor<T> gp = Tensor<T>::empty({c_out, gs * p}), cols = Tensor<T>::empty({k, gs * p});
        gather_channels(gs0, c_out, p, gs, gp.data());
        cpu::gemm(cpu::MatrixRef<const T>{wt.data(), k, c_out, 1, k},
                  block(gp.data(), c_out, gs * p), cols.data(), gs * p);
        for (int64_t s = 0; s < gs; ++s)
          cpu::col2im(cols.data() + s * p, geo, gx.data() + (s0 + s) * image, gs * p);
      }
    });
    if (want_x) node.send(0, std::move(gx));
    if (wino_w) {
      node.send(1, std::move(gw_wino));
    } else if (want_w) {
      // Sum the partials, then [taps, C_out] -> [C_out, C_in, kh, kw].
      const Tensor<T> sum = sum_partials(gw);
      Tensor<T> gwt = Tensor<T>::empty(wt.shape());
      positions_to_channels(sum.data(), 1, c_out, k, gwt.data());
      node.send(1, std::move(gwt));
    }
    if (node.num_inputs() > 2 && node.needs_grad(2)) node.send(2, channel_sums(g, n, c_out, p));
  };
  record_conv("conv2d", out, x, weight, bias, std::move(backward));
  return out;
}
#endif

template <Floating T>
void check_conv_inputs(const char* op, const Tensor<T>& x, const Tensor<T>& weight,
                       const Tensor<T>& bias, int64_t in_channels_of_weight, int64_t bias_size) {
  check_same_device(x, weight, op);
  NABLA_CHECK(weight.dim() == 4, op, ": weight must have 4 dims, got shape ", weight.shape());
  NABLA_CHECK(x.dim() == 4, op, ": expected input [N, C, H, W], got shape ", x.shape());
  NABLA_CHECK(x.shape()[1] == in_channels_of_weight, op, ": input has ", x.shape()[1],
              " channels, expected ", in_channels_of_weight, " (input shape ", x.shape(),
              ", weight shape ", weight.shape(), ")");
  NABLA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == bias_size), op,
              ": bias has shape ", bias.defined() ? bias.shape() : Shape{}, ", expected [",
              bias_size, "]");
}
}  // namespace detail

// Winograd for float convolutions at stride 1 with 3x3 to 5x5 kernels and at least 16 channels
// in and out (conv2d's forward, input and weight gradients): on by default. It does 2.8x (5x5) to
// 4x (3x3) fewer multiplications; its float results differ from a direct sum's by a few 1e-6 of
// the output's scale instead of a few 1e-7. Off, every convolution takes the direct paths.
// Double never uses it.
#if NABLA_HAVE_GEMM_KERNEL
inline void set_conv_winograd(bool on) { detail::conv_winograd = on; }
inline bool conv_winograd() { return detail::conv_winograd; }
#else
inline void set_conv_winograd(bool) {}  // no Winograd path without nabla's AVX2 / AVX-512 kernels
inline bool conv_winograd() { return false; }
#endif

// x [N, C_in, H, W], weight [C_out, C_in, kh, kw], bias [C_out] or undefined.
template <Floating T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = {},
                 Conv2dOptions o = {}) {
  detail::check_conv_options(o, "conv2d");
  detail::check_conv_inputs("conv2d", x, weight, bias, weight.dim() == 4 ? weight.shape()[1] : -1,
                            weight.dim() == 4 ? weight.shape()[0] : -1);
  const int64_t n = x.shape()[0], c_in = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t c_out = weight.shape()[0], kh = weight.shape()[2], kw = weight.shape()[3];
  const int64_t eff_h = o.dilation[0] * (kh - 1) + 1, eff_w = o.dilation[1] * (kw - 1) + 1;
  NABLA_CHECK(h + 2 * o.padding[0] >= eff_h && w + 2 * o.padding[1] >= eff_w, "conv2d: kernel ",
              eff_h, "x", eff_w, " (with dilation) is larger than the padded input ",
              h + 2 * o.padding[0], "x", w + 2 * o.padding[1], " (input shape ", x.shape(), ")");
  const cpu::ConvGeometry geo{c_in,
                              h,
                              w,
                              kh,
                              kw,
                              o.stride[0],
                              o.stride[1],
                              o.padding[0],
                              o.padding[1],
                              o.dilation[0],
                              o.dilation[1],
                              (h + 2 * o.padding[0] - eff_h) / o.stride[0] + 1,
                              (w + 2 * o.padding[1] - eff_w) / o.stride[1] + 1};
  const int64_t k = geo.rows(), p = geo.cols(), image = c_in * h * w;
  const Tensor<T> xc = detail::contiguous_or_self(x), wc = detail::contiguous_or_self(weight);
#if NABLA_HAVE_GEMM_KERNEL
  if (detail::use_direct_conv(c_out)) return detail::conv2d_direct(x, weight, bias, xc, wc, geo);
  // Few output channels: vectors along the output rows, when the input gradient can be direct.
  if (detail::RowConv::possible(geo) && detail::DirectInputGrad<T>::possible(geo))
    return detail::conv2d_rows(x, weight, bias, xc, wc, geo);
#endif
  Tensor<T> out = Tensor<T>::empty({n, c_out, geo.out_h, geo.out_w});
  const int64_t group = detail::conv_group(n, p);
  const bool has_bias = bias.defined();
  const bool graph = has_bias ? needs_graph({&x, &weight, &bias}) : needs_graph(x, weight);
  // Every group's columns, kept for the weight gradient when small (group s0 at s0 * k * p).
  Tensor<T> kept;
  if (graph && weight.requires_grad() && detail::keep_conv_columns(n * k * p * int64_t{sizeof(T)}))
    kept = Tensor<T>::empty({n * k * p});
  const int64_t kk = kh * kw, plane = h * w;
  detail::for_each_group(
      n, group, cpu::chunk_count((n + group - 1) / group, 1), [&](int64_t s0, int64_t g, int) {
        // res = W * cols, a block of input channels (rows c0 * kk... of cols) at a time.
        const int64_t cb = detail::conv_channel_block(c_in, kk, g * p, sizeof(T));
        Tensor<T> cols = kept.defined() ? Tensor<T>() : Tensor<T>::empty({cb * kk, g * p});
        Tensor<T> res = Tensor<T>::empty({c_out, g * p});
        detail::for_each_channel_block(c_in, cb, [&](int64_t c0, int64_t nc) {
          T* cd = kept.defined() ? kept.data() + s0 * k * p + c0 * kk * g * p : cols.data();
          cpu::ConvGeometry sub = geo;
          sub.channels = nc;
          for (int64_t s = 0; s < g; ++s)
            cpu::im2col(xc.data() + (s0 + s) * image + c0 * plane, sub, cd + s * p, g * p);
          cpu::gemm(cpu::MatrixRef<const T>{wc.data() + c0 * kk, c_out, nc * kk, k, 1},
                    detail::block(cd, nc * kk, g * p), res.data(), g * p, /*accumulate=*/c0 > 0);
        });
        detail::scatter_channels(res.data(), c_out, p, g, out.data() + s0 * c_out * p);
      });
  if (bias.defined())
    detail::add_channel_bias(out.data(), detail::contiguous_or_self(bias).data(), n, c_out, p);
  if (graph) {
    auto backward = [sx = Saved<T>(xc), sw = Saved<T>(wc), kept, geo, n, c_out](
                        Node<T>& node, const Tensor<T>& g_in) {
      const Tensor<T> g = detail::contiguous_or_self(g_in);
      const Tensor<T>&x = sx.get(node), &w = sw.get(node);
      const int64_t k = geo.rows(), p = geo.cols(), image = geo.channels * geo.height * geo.width;
      const bool want_x = node.needs_grad(0), want_w = node.needs_grad(1);
      Tensor<T> gx = want_x ? Tensor<T>::zeros(x.shape()) : Tensor<T>();
      const int64_t group = detail::conv_group(n, p);
      const int chunks = cpu::chunk_count((n + group - 1) / group, 1);
      // Partials are allocated here, not in the workers, so that they return to this thread's
      // cache.
      std::vector<Tensor<T>> gw;
      for (int c = 0; want_w && c < chunks; ++c) gw.push_back(Tensor<T>::zeros(w.shape()));
      const int64_t kk = geo.kernel_h * geo.kernel_w, plane = geo.height * geo.width;
      detail::for_each_group(n, group, chunks, [&](int64_t s0, int64_t gs, int chunk) {
        Tensor<T> gp = Tensor<T>::empty({c_out, gs * p});
        const int64_t cb = detail::conv_channel_block(geo.channels, kk, gs * p, sizeof(T));
        Tensor<T> cols =
            want_x || !kept.defined() ? Tensor<T>::empty({cb * kk, gs * p}) : Tensor<T>();
        detail::gather_channels(g.data() + s0 * c_out * p, c_out, p, gs, gp.data());
        // A block of input channels (rows c0 * kk... of the columns) at a time.
        detail::for_each_channel_block(geo.channels, cb, [&](int64_t c0, int64_t nc) {
          cpu::ConvGeometry sub = geo;
          sub.channels = nc;
          if (want_w) {
            const T* cd =
                kept.defined() ? kept.data() + s0 * k * p + c0 * kk * gs * p : cols.data();
            if (!kept.defined())
              for (int64_t s = 0; s < gs; ++s)
                cpu::im2col(x.data() + (s0 + s) * image + c0 * plane, sub, cols.data() + s * p,
                            gs * p);
            cpu::gemm(detail::block(gp.data(), c_out, gs * p), detail::block_t(cd, nc * kk, gs * p),
                      gw[static_cast<size_t>(chunk)].data() + c0 * kk, k, /*accumulate=*/true);
          }
          if (want_x) {
            cpu::gemm(cpu::MatrixRef<const T>{w.data() + c0 * kk, nc * kk, c_out, 1, k},
                      detail::block(gp.data(), c_out, gs * p), cols.data(), gs * p);
            for (int64_t s = 0; s < gs; ++s)
              cpu::col2im(cols.data() + s * p, sub, gx.data() + (s0 + s) * image + c0 * plane,
                          gs * p);
          }
        });
      });
      if (want_x) node.send(0, std::move(gx));
      if (want_w) node.send(1, detail::sum_partials(gw));
      if (node.num_inputs() > 2 && node.needs_grad(2))
        node.send(2, detail::channel_sums(g, n, c_out, p));
    };
    detail::record_conv("conv2d", out, x, weight, bias, std::move(backward));
  }
  return out;
}

// x [N, C_in, H, W], weight [C_in, C_out, kh, kw], bias [C_out] or undefined. The output size is
// (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1, as PyTorch.
template <Floating T>
Tensor<T> conv_transpose2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = {},
                           Conv2dOptions o = {}) {
  detail::check_conv_options(o, "conv_transpose2d");
  detail::check_conv_inputs("conv_transpose2d", x, weight, bias,
                            weight.dim() == 4 ? weight.shape()[0] : -1,
                            weight.dim() == 4 ? weight.shape()[1] : -1);
  for (int i = 0; i < 2; ++i)
    NABLA_CHECK(o.output_padding[i] < std::max(o.stride[i], o.dilation[i]),
                "conv_transpose2d: output_padding ", o.output_padding[i],
                " must be smaller than either stride or dilation (", o.stride[i], ", ",
                o.dilation[i], ")");
  const int64_t n = x.shape()[0], c_in = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t c_out = weight.shape()[1], kh = weight.shape()[2], kw = weight.shape()[3];
  const int64_t out_h =
      (h - 1) * o.stride[0] - 2 * o.padding[0] + o.dilation[0] * (kh - 1) + o.output_padding[0] + 1;
  const int64_t out_w =
      (w - 1) * o.stride[1] - 2 * o.padding[1] + o.dilation[1] * (kw - 1) + o.output_padding[1] + 1;
  NABLA_CHECK(out_h > 0 && out_w > 0, "conv_transpose2d: the output would be ", out_h, "x", out_w,
              " for input shape ", x.shape(), " and weight shape ", weight.shape());
  // The output image is what a conv2d with these options maps back onto the input grid.
  const cpu::ConvGeometry geo{
      c_out,        out_h,         out_w,         kh, kw, o.stride[0], o.stride[1], o.padding[0],
      o.padding[1], o.dilation[0], o.dilation[1], h,  w};
  const int64_t k = geo.rows(), p = geo.cols(), image = c_out * out_h * out_w;
  const Tensor<T> xc = detail::contiguous_or_self(x), wc = detail::contiguous_or_self(weight);
  Tensor<T> out = Tensor<T>::zeros({n, c_out, out_h, out_w});
  const int64_t group = detail::conv_group(n, p);
  detail::for_each_group(
      n, group, cpu::chunk_count((n + group - 1) / group, 1), [&](int64_t s0, int64_t g, int) {
        Tensor<T> xp = Tensor<T>::empty({c_in, g * p}), cols = Tensor<T>::empty({k, g * p});
        detail::gather_channels(xc.data() + s0 * c_in * p, c_in, p, g, xp.data());
        cpu::gemm(detail::block_t(wc.data(), c_in, k), detail::block(xp.data(), c_in, g * p),
                  cols.data(), g * p);
        for (int64_t s = 0; s < g; ++s)
          cpu::col2im(cols.data() + s * p, geo, out.data() + (s0 + s) * image, g * p);
      });
  if (bias.defined())
    detail::add_channel_bias(out.data(), detail::contiguous_or_self(bias).data(), n, c_out,
                             out_h * out_w);
  const bool has_bias = bias.defined();
  if (has_bias ? needs_graph({&x, &weight, &bias}) : needs_graph(x, weight)) {
    auto backward = [sx = Saved<T>(xc), sw = Saved<T>(wc), geo, n, c_in](Node<T>& node,
                                                                         const Tensor<T>& g_in) {
      const Tensor<T> g = detail::contiguous_or_self(g_in);
      const Tensor<T>&x = sx.get(node), &w = sw.get(node);
      const int64_t k = geo.rows(), p = geo.cols(), image = geo.channels * geo.height * geo.width;
      const bool want_x = node.needs_grad(0), want_w = node.needs_grad(1);
      Tensor<T> gx = want_x ? Tensor<T>::empty(x.shape()) : Tensor<T>();
      const int64_t group = detail::conv_group(n, p);
      const int chunks = cpu::chunk_count((n + group - 1) / group, 1);
      // Partials are allocated here, not in the workers, so that they return to this thread's
      // cache.
      std::vector<Tensor<T>> gw;
      for (int c = 0; want_w && c < chunks; ++c) gw.push_back(Tensor<T>::zeros(w.shape()));
      detail::for_each_group(n, group, chunks, [&](int64_t s0, int64_t gs, int chunk) {
        Tensor<T> cols = Tensor<T>::empty({k, gs * p}), xp = Tensor<T>::empty({c_in, gs * p});
        for (int64_t s = 0; s < gs; ++s)
          cpu::im2col(g.data() + (s0 + s) * image, geo, cols.data() + s * p, gs * p);
        if (want_x) {
          cpu::gemm(detail::block(w.data(), c_in, k), detail::block(cols.data(), k, gs * p),
                    xp.data(), gs * p);
          detail::scatter_channels(xp.data(), c_in, p, gs, gx.data() + s0 * c_in * p);
        }
        if (want_w) {
          detail::gather_channels(x.data() + s0 * c_in * p, c_in, p, gs, xp.data());
          cpu::gemm(detail::block(xp.data(), c_in, gs * p), detail::block_t(cols.data(), k, gs * p),
                    gw[static_cast<size_t>(chunk)].data(), k, /*accumulate=*/true);
        }
      });
      if (want_x) node.send(0, std::move(gx));
      if (want_w) node.send(1, detail::sum_partials(gw));
      if (node.num_inputs() > 2 && node.needs_grad(2))
        node.send(2, detail::channel_sums(g, n, geo.channels, geo.height * geo.width));
    };
    detail::record_conv("conv_transpose2d", out, x, weight, bias, std::move(backward));
  }
  return out;
}

}  // namespace nabla
