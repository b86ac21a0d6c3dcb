#pragma once
// one_hot: integer labels to one-hot rows (no gradient: labels are data).
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
    NABLA_CHECK(values[i] >= 0 && values[i] < num_classes, "one_hot: label ", values[i], " at position ", i,
                " is outside [0, ", num_classes, ")");
    out.data()[static_cast<int64_t>(i) * num_classes + values[i]] = T(1);
  }
  return out;
}

}  // namespace nabla
