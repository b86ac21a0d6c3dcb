#pragma once
// one_hot: integer labels to one-hot rows (no gradient: labels are data); embedding: rows of a
// weight table picked by integer indices (the gradient is added back into the picked rows).
#include <optional>
#include <vector>

#include "nabla/ops/common.hpp"

namespace nabla {

// labels of any shape -> labels.shape + [num_classes], 1 at each label's class.
template <Floating T>
Tensor<T> one_hot(const Tensor<int64_t>& labels, int64_t num_classes) {
  detail::check_operand(labels, "one_hot");
  NABLA_CHECK(num_classes > 0, "one_hot: num_classes must be positive, got ", num_classes);
  Shape shape = labels.shape();
  shape.push_back(num_classes);
  Tensor<T> out = Tensor<T>::zeros(shape);
  const std::vector<int64_t> values = labels.to_vector();
  for (size_t i = 0; i < values.size(); ++i) {
    NABLA_CHECK(values[i] >= 0 && values[i] < num_classes, "one_hot: label ", values[i],
                " at position ", i, " is outside [0, ", num_classes, ")");
    out.data()[static_cast<int64_t>(i) * num_classes + values[i]] = T(1);
  }
  return out;
}

// indices of any shape -> indices.shape + [dim]: row indices[...] of weight [num, dim]. Rows
// picked by padding_idx (negative counts from the end, as PyTorch) get no gradient.
template <Floating T>
Tensor<T> embedding(const Tensor<int64_t>& indices, const Tensor<T>& weight,
                    std::optional<int64_t> padding_idx = std::nullopt) {
  detail::check_operand(indices, "embedding");
  detail::check_operand(weight, "embedding");
  NABLA_CHECK(indices.device() == weight.device(), "embedding: indices are on ", indices.device(),
              ", the weight on ", weight.device());
  NABLA_CHECK(weight.dim() == 2,
              "embedding: weight must be [num_embeddings, embedding_dim], got shape ",
              weight.shape());
  const int64_t num = weight.shape()[0], dim = weight.shape()[1];
  if (padding_idx) {
    NABLA_CHECK(*padding_idx >= -num && *padding_idx < num, "embedding: padding_idx ", *padding_idx,
                " is outside [", -num, ", ", num, ")");
    if (*padding_idx < 0) *padding_idx += num;
  }
  std::vector<int64_t> idx = indices.to_vector();
  for (size_t i = 0; i < idx.size(); ++i)
    NABLA_CHECK(idx[i] >= 0 && idx[i] < num, "embedding: index ", idx[i], " at position ", i,
                " is outside [0, ", num, ")");
  Shape shape = indices.shape();
  shape.push_back(dim);
  Tensor<T> out = Tensor<T>::empty(shape);
  const Tensor<T> w = detail::contiguous_or_self(weight);
  for (size_t i = 0; i < idx.size(); ++i)
    std::copy_n(w.data() + idx[i] * dim, dim, out.data() + static_cast<int64_t>(i) * dim);
  if (needs_graph(weight))
    record("embedding", out, {&weight},
           [idx = std::move(idx), num, dim, padding_idx](Node<T>& n, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             Tensor<T> gw = Tensor<T>::zeros({num, dim});
             for (size_t i = 0; i < idx.size(); ++i) {
               if (padding_idx && idx[i] == *padding_idx) continue;
               T* row = gw.data() + idx[i] * dim;
               const T* gr = g.data() + static_cast<int64_t>(i) * dim;
               for (int64_t j = 0; j < dim; ++j) row[j] += gr[j];
             }
             n.send(0, std::move(gw));
           });
  return out;
}

}  // namespace nabla
