#pragma once
// matmul with PyTorch's semantics: 1-D operands are promoted (and the added dim removed after),
// 2-D is a plain product, more dims are batches of matrices with broadcast batch dims.
#include "nabla/backend/cpu/gemm.hpp"
#include "nabla/ops/common.hpp"

namespace nabla {

namespace detail {
template <Element T>
Tensor<T> transpose_last2(const Tensor<T>& t) {
  Shape s = t.shape();
  Strides st = t.strides();
  const int n = t.dim();
  std::swap(s[n - 2], s[n - 1]);
  std::swap(st[n - 2], st[n - 1]);
  return restride(t, s, st, t.storage_offset());
}

template <Floating T>
cpu::MatrixRef<const T> matrix_ref(const Tensor<T>& t, int64_t offset) {
  const int n = t.dim();
  return {t.data() + offset, t.shape()[n - 2], t.shape()[n - 1], t.strides()[n - 2], t.strides()[n - 1]};
}

// a [..., M, K] @ b [..., K, N] with broadcast batch dims; no autograd.
template <Floating T>
Tensor<T> matmul_nd(const Tensor<T>& a_in, const Tensor<T>& b_in) {
  const int na = a_in.dim(), nb = b_in.dim();
  const int64_t m = a_in.shape()[na - 2], k = a_in.shape()[na - 1], n = b_in.shape()[nb - 1];
  if (na == 2 && nb == 2) {
    const Tensor<T> a = cpu::eigen_layout(matrix_ref(a_in, 0)) ? a_in : contiguous_copy(a_in);
    const Tensor<T> b = cpu::eigen_layout(matrix_ref(b_in, 0)) ? b_in : contiguous_copy(b_in);
    Tensor<T> out = Tensor<T>::empty({m, n});
    cpu::gemm(matrix_ref(a, 0), matrix_ref(b, 0), out.data(), n);
    return out;
  }
  Shape batch_a(std::span<const int64_t>(a_in.shape().begin(), static_cast<size_t>(na - 2)));
  Shape batch_b(std::span<const int64_t>(b_in.shape().begin(), static_cast<size_t>(nb - 2)));
  const Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape sa = batch, sb = batch, so = batch;
  sa.push_back(m), sa.push_back(k);
  sb.push_back(k), sb.push_back(n);
  so.push_back(m), so.push_back(n);
  Tensor<T> a = restride(a_in, sa, cpu::broadcast_strides(a_in, sa), a_in.storage_offset());
  Tensor<T> b = restride(b_in, sb, cpu::broadcast_strides(b_in, sb), b_in.storage_offset());
  if (!cpu::eigen_layout(matrix_ref(a, 0))) a = contiguous_copy(a);
  if (!cpu::eigen_layout(matrix_ref(b, 0))) b = contiguous_copy(b);
  Tensor<T> out = Tensor<T>::empty(so);
  const int64_t count = batch.numel();
  const int nbatch = batch.size();
  cpu::parallel_for(count, std::max<int64_t>(1, cpu::kGemmParallelWork / std::max<int64_t>(m * n * k, 1)),
                    [&](int64_t i0, int64_t i1) {
                      for (int64_t i = i0; i < i1; ++i) {
                        int64_t oa = 0, ob = 0, rest = i;
                        for (int d = nbatch - 1; d >= 0; --d) {
                          const int64_t idx = rest % batch[d];
                          rest /= batch[d];
                          oa += idx * a.strides()[d];
                          ob += idx * b.strides()[d];
                        }
                        cpu::gemm(matrix_ref(a, oa), matrix_ref(b, ob), out.data() + i * m * n, n);
                      }
                    });
  return out;
}
}  // namespace detail

template <Floating T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  detail::check_same_device(a, b, "matmul");
  NABLA_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands need at least 1 dim, got shapes ", a.shape(),
              " and ", b.shape());
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  const int64_t ka = a.shape()[a.dim() - 1], kb = b.shape()[b.dim() - 2];
  NABLA_CHECK(ka == kb, "matmul: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (", ka, " vs ",
              kb, " in the contracted dim)");
  Tensor<T> out = detail::matmul_nd(a, b);
  if (needs_graph(a, b))
    record("matmul", out, {&a, &b}, [sa = Saved<T>(a), sb = Saved<T>(b)](Node<T>& n, const Tensor<T>& g) {
      const Tensor<T>&x = sa.get(n), &y = sb.get(n);
      if (n.needs_grad(0)) n.send(0, detail::sum_to(detail::matmul_nd(g, detail::transpose_last2(y)), x.shape()));
      if (n.needs_grad(1)) n.send(1, detail::sum_to(detail::matmul_nd(detail::transpose_last2(x), g), y.shape()));
    });
  return out;
}

}  // namespace nabla
