#pragma once
// Loss modules over ops/loss.hpp: callables of (input, target), PyTorch's names and defaults.
#include "nabla/ops/loss.hpp"

namespace nabla::nn {

template <Floating T>
class MSELoss {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return mse_loss(input, target, reduction_);
  }

 private:
  Reduction reduction_;
};

template <Floating T>
class BCELoss {
 public:
  explicit BCELoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return binary_cross_entropy(input, target, reduction_);
  }

 private:
  Reduction reduction_;
};

template <Floating T>
class BCEWithLogitsLoss {
 public:
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::Mean) : reduction_(reduction) {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return binary_cross_entropy_with_logits(input, target, reduction_);
  }

 private:
  Reduction reduction_;
};

}  // namespace nabla::nn
