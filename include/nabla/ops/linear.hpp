#pragma once
// linear(x, W, b) = x W^T + b, fused: one node instead of transpose + matmul + add, and the
// weight is read in place through a column-major map (no transposed copy).
#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/ops/common.hpp"

namespace nabla {

namespace detail {
template <Floating T>
cpu::MatrixRef<const T> as_matrix(const Tensor<T>& t) {
  return {t.data(), t.shape()[0], t.shape()[1], t.strides()[0], t.strides()[1]};
}
template <Floating T>
cpu::MatrixRef<const T> as_matrix_t(const Tensor<T>& t) {
  return {t.data(), t.shape()[1], t.shape()[0], t.strides()[1], t.strides()[0]};
}
}  // namespace detail

// x [N, in] (or [in]), weight [out, in], bias [out] or undefined -> [N, out] (or [out]).
template <Floating T>
Tensor<T> linear(const Tensor<T>& x_in, const Tensor<T>& weight, const Tensor<T>& bias = {}) {
  detail::check_same_device(x_in, weight, "linear");
  NABLA_CHECK(weight.dim() == 2, "linear: weight must be [out_features, in_features], got shape ", weight.shape());
  const int64_t out_f = weight.shape()[0], in_f = weight.shape()[1];
  NABLA_CHECK((x_in.dim() == 2 || x_in.dim() == 1) && x_in.shape().back() == in_f, "Linear(", in_f, ", ", out_f,
              "): input has ", x_in.dim() ? x_in.shape().back() : 0, " features, expected ", in_f,
              " (input shape ", x_in.shape(), "; expected [N, ", in_f, "] or [", in_f, "])");
  if (bias.defined())
    NABLA_CHECK(bias.dim() == 1 && bias.shape()[0] == out_f, "Linear(", in_f, ", ", out_f, "): bias has shape ",
                bias.shape(), ", expected [", out_f, "]");
  const Tensor<T> x = x_in.dim() == 1 ? detail::restride(x_in, {1, in_f}, {in_f * x_in.strides()[0], x_in.strides()[0]}, x_in.storage_offset()) : x_in;
  const Tensor<T> xm = cpu::eigen_layout(detail::as_matrix(x)) ? x : detail::contiguous_copy(x);
  const Tensor<T> wm = cpu::eigen_layout(detail::as_matrix(weight)) ? weight : detail::contiguous_copy(weight);
  const int64_t n = x.shape()[0];
  Tensor<T> out = Tensor<T>::empty(x_in.dim() == 1 ? Shape{out_f} : Shape{n, out_f});
  cpu::gemm(detail::as_matrix(xm), detail::as_matrix_t(wm), out.data(), out_f);
  if (bias.defined()) {
    const Tensor<T> bc = detail::contiguous_or_self(bias);
    const T* b = bc.data();
    T* o = out.data();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out_f; ++j) o[i * out_f + j] += b[j];
  }
  const bool has_bias = bias.defined();
  if (has_bias ? needs_graph({&x_in, &weight, &bias}) : needs_graph(x_in, weight)) {
    auto backward = [sx = Saved<T>(xm), sw = Saved<T>(wm), vector_input = x_in.dim() == 1, n, in_f, out_f](
                        Node<T>& node, const Tensor<T>& g_in) {
      const Tensor<T> g = detail::contiguous_or_self(g_in);
      const cpu::MatrixRef<const T> gm{g.data(), n, out_f, out_f, 1};
      if (node.needs_grad(0)) {
        Tensor<T> gx = Tensor<T>::empty(vector_input ? Shape{in_f} : Shape{n, in_f});
        cpu::gemm(gm, detail::as_matrix(sw.get(node)), gx.data(), in_f);
        node.send(0, std::move(gx));
      }
      if (node.needs_grad(1)) {
        const cpu::MatrixRef<const T> gt{g.data(), out_f, n, 1, out_f};
        if (T* acc = node.grad_buffer(1)) {
          cpu::gemm(gt, detail::as_matrix(sx.get(node)), acc, in_f, /*accumulate=*/true);
        } else {
          Tensor<T> gw = Tensor<T>::empty({out_f, in_f});
          cpu::gemm(gt, detail::as_matrix(sx.get(node)), gw.data(), in_f);
          node.send(1, std::move(gw));
        }
      }
      if (node.num_inputs() > 2 && node.needs_grad(2)) {
        Tensor<T> gb = Tensor<T>::empty({out_f});
        if (n == 1) {
          std::copy_n(g.data(), out_f, gb.data());
        } else {
          cpu::sum_reduce(g.data(), gb.data(), cpu::ReduceView(g.shape(), 0, 0));
        }
        node.send(2, std::move(gb));
      }
    };
    if (has_bias) record("linear", out, {&x_in, &weight, &bias}, std::move(backward));
    else record("linear", out, {&x_in, &weight}, std::move(backward));
  }
  return out;
}

}  // namespace nabla
