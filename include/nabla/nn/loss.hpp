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

// Class-index targets (Tensor<int64_t>) or, for CrossEntropyLoss, class probabilities.
template <Floating T>
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(CrossEntropyOptions<T> options = {}) : o_(std::move(options)) {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<int64_t>& target) const {
    return cross_entropy(input, target, o_);
  }
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<T>& target) const {
    return cross_entropy(input, target, o_);
  }
  const CrossEntropyOptions<T>& options() const { return o_; }

 private:
  CrossEntropyOptions<T> o_;
};

// input: log-probabilities (log_softmax's output).
template <Floating T>
class NLLLoss {
 public:
  explicit NLLLoss(NLLLossOptions<T> options = {}) : o_(std::move(options)) {}
  Tensor<T> operator()(const Tensor<T>& input, const Tensor<int64_t>& target) const {
    return nll_loss(input, target, o_);
  }
  const NLLLossOptions<T>& options() const { return o_; }

 private:
  NLLLossOptions<T> o_;
};

}  // namespace nabla::nn
