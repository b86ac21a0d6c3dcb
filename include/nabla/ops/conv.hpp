#pragma once
// conv2d and conv_transpose2d by im2col/col2im + GEMM, parallel over the batch (each thread
// with one columns buffer; weight gradients summed from one partial per thread, in a fixed order).
#include <array>
#include <vector>

#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/backend/cpu/im2col.hpp"
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
    NABLA_CHECK(o.output_padding[i] >= 0, op, ": output_padding must be non-negative, got ", o.output_padding[i]);
  }
}

// [rows, cols] row-major block of `data` as a GEMM operand.
template <Floating T>
cpu::MatrixRef<const T> block(const T* data, int64_t rows, int64_t cols) {
  return {data, rows, cols, cols, 1};
}
template <Floating T>
cpu::MatrixRef<const T> block_t(const T* data, int64_t rows, int64_t cols) {  // transpose of [rows, cols]
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
    for (int64_t ch = 0; ch < c; ++ch) gb.data()[ch] += cpu::ConstArrayMap<T>(g.data() + (i * c + ch) * p, p).sum();
  return gb;
}

// Sums per-chunk partial weight gradients into the first, in chunk order.
template <Floating T>
Tensor<T> sum_partials(std::vector<Tensor<T>>& partials) {
  for (size_t i = 1; i < partials.size(); ++i) cpu::accumulate(partials[0], partials[i]);
  return partials[0];
}

template <Floating T>
void check_conv_inputs(const char* op, const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                       int64_t in_channels_of_weight, int64_t bias_size) {
  check_same_device(x, weight, op);
  NABLA_CHECK(weight.dim() == 4, op, ": weight must have 4 dims, got shape ", weight.shape());
  NABLA_CHECK(x.dim() == 4, op, ": expected input [N, C, H, W], got shape ", x.shape());
  NABLA_CHECK(x.shape()[1] == in_channels_of_weight, op, ": input has ", x.shape()[1], " channels, expected ",
              in_channels_of_weight, " (input shape ", x.shape(), ", weight shape ", weight.shape(), ")");
  NABLA_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == bias_size), op, ": bias has shape ",
              bias.defined() ? bias.shape() : Shape{}, ", expected [", bias_size, "]");
}
}  // namespace detail

// x [N, C_in, H, W], weight [C_out, C_in, kh, kw], bias [C_out] or undefined.
template <Floating T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = {}, Conv2dOptions o = {}) {
  detail::check_conv_options(o, "conv2d");
  detail::check_conv_inputs("conv2d", x, weight, bias, weight.dim() == 4 ? weight.shape()[1] : -1,
                            weight.dim() == 4 ? weight.shape()[0] : -1);
  const int64_t n = x.shape()[0], c_in = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t c_out = weight.shape()[0], kh = weight.shape()[2], kw = weight.shape()[3];
  const int64_t eff_h = o.dilation[0] * (kh - 1) + 1, eff_w = o.dilation[1] * (kw - 1) + 1;
  NABLA_CHECK(h + 2 * o.padding[0] >= eff_h && w + 2 * o.padding[1] >= eff_w, "conv2d: kernel ", eff_h, "x", eff_w,
              " (with dilation) is larger than the padded input ", h + 2 * o.padding[0], "x", w + 2 * o.padding[1],
              " (input shape ", x.shape(), ")");
  const cpu::ConvGeometry geo{c_in, h, w, kh, kw, o.stride[0], o.stride[1], o.padding[0], o.padding[1],
                              o.dilation[0], o.dilation[1], (h + 2 * o.padding[0] - eff_h) / o.stride[0] + 1,
                              (w + 2 * o.padding[1] - eff_w) / o.stride[1] + 1};
  const int64_t k = geo.rows(), p = geo.cols();
  const Tensor<T> xc = detail::contiguous_or_self(x), wc = detail::contiguous_or_self(weight);
  Tensor<T> out = Tensor<T>::empty({n, c_out, geo.out_h, geo.out_w});
  const int chunks = cpu::chunk_count(n, 1);
  cpu::parallel_chunks(n, chunks, [&](int, int64_t i0, int64_t i1) {
    Tensor<T> cols = Tensor<T>::empty({k, p});
    for (int64_t i = i0; i < i1; ++i) {
      cpu::im2col(xc.data() + i * c_in * h * w, geo, cols.data());
      cpu::gemm(detail::block(wc.data(), c_out, k), detail::block(cols.data(), k, p), out.data() + i * c_out * p, p);
    }
  });
  if (bias.defined()) detail::add_channel_bias(out.data(), detail::contiguous_or_self(bias).data(), n, c_out, p);
  const bool has_bias = bias.defined();
  if (has_bias ? needs_graph({&x, &weight, &bias}) : needs_graph(x, weight)) {
    auto backward = [sx = Saved<T>(xc), sw = Saved<T>(wc), geo, n, c_out](Node<T>& node, const Tensor<T>& g_in) {
      const Tensor<T> g = detail::contiguous_or_self(g_in);
      const Tensor<T>&x = sx.get(node), &w = sw.get(node);
      const int64_t k = geo.rows(), p = geo.cols(), image = geo.channels * geo.height * geo.width;
      const bool want_x = node.needs_grad(0), want_w = node.needs_grad(1);
      Tensor<T> gx = want_x ? Tensor<T>::zeros(x.shape()) : Tensor<T>();
      const int chunks = cpu::chunk_count(n, 1);
      // Partials are allocated here, not in the workers, so that they return to this thread's cache.
      std::vector<Tensor<T>> gw;
      for (int c = 0; want_w && c < chunks; ++c) gw.push_back(Tensor<T>::zeros(w.shape()));
      cpu::parallel_chunks(n, chunks, [&](int chunk, int64_t i0, int64_t i1) {
        Tensor<T> cols = Tensor<T>::empty({k, p});
        for (int64_t i = i0; i < i1; ++i) {
          const T* gi = g.data() + i * c_out * p;
          if (want_w) {
            cpu::im2col(x.data() + i * image, geo, cols.data());
            cpu::gemm(detail::block(gi, c_out, p), detail::block_t(cols.data(), k, p), gw[static_cast<size_t>(chunk)].data(), k,
                      /*accumulate=*/true);
          }
          if (want_x) {
            cpu::gemm(detail::block_t(w.data(), c_out, k), detail::block(gi, c_out, p), cols.data(), p);
            cpu::col2im(cols.data(), geo, gx.data() + i * image);
          }
        }
      });
      if (want_x) node.send(0, std::move(gx));
      if (want_w) node.send(1, detail::sum_partials(gw));
      if (node.num_inputs() > 2 && node.needs_grad(2)) node.send(2, detail::channel_sums(g, n, c_out, p));
    };
    if (has_bias) record("conv2d", out, {&x, &weight, &bias}, std::move(backward));
    else record("conv2d", out, {&x, &weight}, std::move(backward));
  }
  return out;
}

// x [N, C_in, H, W], weight [C_in, C_out, kh, kw], bias [C_out] or undefined. The output size is
// (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1, as PyTorch.
template <Floating T>
Tensor<T> conv_transpose2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias = {},
                           Conv2dOptions o = {}) {
  detail::check_conv_options(o, "conv_transpose2d");
  detail::check_conv_inputs("conv_transpose2d", x, weight, bias, weight.dim() == 4 ? weight.shape()[0] : -1,
                            weight.dim() == 4 ? weight.shape()[1] : -1);
  for (int i = 0; i < 2; ++i)
    NABLA_CHECK(o.output_padding[i] < std::max(o.stride[i], o.dilation[i]), "conv_transpose2d: output_padding ",
                o.output_padding[i], " must be smaller than either stride or dilation (", o.stride[i], ", ",
                o.dilation[i], ")");
  const int64_t n = x.shape()[0], c_in = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  const int64_t c_out = weight.shape()[1], kh = weight.shape()[2], kw = weight.shape()[3];
  const int64_t out_h = (h - 1) * o.stride[0] - 2 * o.padding[0] + o.dilation[0] * (kh - 1) + o.output_padding[0] + 1;
  const int64_t out_w = (w - 1) * o.stride[1] - 2 * o.padding[1] + o.dilation[1] * (kw - 1) + o.output_padding[1] + 1;
  NABLA_CHECK(out_h > 0 && out_w > 0, "conv_transpose2d: the output would be ", out_h, "x", out_w,
              " for input shape ", x.shape(), " and weight shape ", weight.shape());
  // The output image is what a conv2d with these options maps back onto the input grid.
  const cpu::ConvGeometry geo{c_out, out_h, out_w, kh, kw, o.stride[0], o.stride[1], o.padding[0], o.padding[1],
                              o.dilation[0], o.dilation[1], h, w};
  const int64_t k = geo.rows(), p = geo.cols(), image = c_out * out_h * out_w;
  const Tensor<T> xc = detail::contiguous_or_self(x), wc = detail::contiguous_or_self(weight);
  Tensor<T> out = Tensor<T>::zeros({n, c_out, out_h, out_w});
  cpu::parallel_chunks(n, cpu::chunk_count(n, 1), [&](int, int64_t i0, int64_t i1) {
    Tensor<T> cols = Tensor<T>::empty({k, p});
    for (int64_t i = i0; i < i1; ++i) {
      cpu::gemm(detail::block_t(wc.data(), c_in, k), detail::block(xc.data() + i * c_in * p, c_in, p), cols.data(), p);
      cpu::col2im(cols.data(), geo, out.data() + i * image);
    }
  });
  if (bias.defined())
    detail::add_channel_bias(out.data(), detail::contiguous_or_self(bias).data(), n, c_out, out_h * out_w);
  const bool has_bias = bias.defined();
  if (has_bias ? needs_graph({&x, &weight, &bias}) : needs_graph(x, weight)) {
    auto backward = [sx = Saved<T>(xc), sw = Saved<T>(wc), geo, n, c_in](Node<T>& node, const Tensor<T>& g_in) {
      const Tensor<T> g = detail::contiguous_or_self(g_in);
      const Tensor<T>&x = sx.get(node), &w = sw.get(node);
      const int64_t k = geo.rows(), p = geo.cols(), image = geo.channels * geo.height * geo.width;
      const bool want_x = node.needs_grad(0), want_w = node.needs_grad(1);
      Tensor<T> gx = want_x ? Tensor<T>::empty(x.shape()) : Tensor<T>();
      const int chunks = cpu::chunk_count(n, 1);
      // Partials are allocated here, not in the workers, so that they return to this thread's cache.
      std::vector<Tensor<T>> gw;
      for (int c = 0; want_w && c < chunks; ++c) gw.push_back(Tensor<T>::zeros(w.shape()));
      cpu::parallel_chunks(n, chunks, [&](int chunk, int64_t i0, int64_t i1) {
        Tensor<T> cols = Tensor<T>::empty({k, p});
        for (int64_t i = i0; i < i1; ++i) {
          cpu::im2col(g.data() + i * image, geo, cols.data());
          if (want_x)
            cpu::gemm(detail::block(w.data(), c_in, k), detail::block(cols.data(), k, p), gx.data() + i * c_in * p, p);
          if (want_w)
            cpu::gemm(detail::block(x.data() + i * c_in * p, c_in, p), detail::block_t(cols.data(), k, p),
                      gw[static_cast<size_t>(chunk)].data(), k, /*accumulate=*/true);
        }
      });
      if (want_x) node.send(0, std::move(gx));
      if (want_w) node.send(1, detail::sum_partials(gw));
      if (node.num_inputs() > 2 && node.needs_grad(2))
        node.send(2, detail::channel_sums(g, n, geo.channels, geo.height * geo.width));
    };
    if (has_bias) record("conv_transpose2d", out, {&x, &weight, &bias}, std::move(backward));
    else record("conv_transpose2d", out, {&x, &weight}, std::move(backward));
  }
  return out;
}

}  // namespace nabla
