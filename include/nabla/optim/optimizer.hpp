#pragma once
// Optimizers update parameters in place from their .grad(), skipping parameters without one,
// and bump each parameter's version (a graph that saved it reports the change). Per-parameter
// state (momentum buffers, Adam moments) is created on the first step and is named, so that a
// checkpoint can store and restore it.
#include <cmath>
#include <string>
#include <vector>

#include "nabla/autograd/engine.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/nn/module.hpp"

namespace nabla::optim {

// Parameter updates split over threads only above this many elements. They stream memory that
// the forward and backward passes left in this core's caches: at batch 1 (row 3 of
// GAN_VARIANTS.md, 157k-element weights) splitting them made the whole step 1.7x slower on two
// cores, from cache lines moving between cores, though the update alone ran 1.46x faster.
inline constexpr int64_t kOptimizerGrain = int64_t{1} << 20;

template <Floating T>
class Optimizer {
 public:
  Optimizer(std::vector<Tensor<T>> params, double lr, const char* name) : params_(std::move(params)), lr_(lr), name_(name) {
    NABLA_CHECK(lr >= 0 && std::isfinite(lr), name_, ": learning rate must be a non-negative number, got ", lr);
    for (size_t i = 0; i < params_.size(); ++i) {
      NABLA_CHECK(params_[i].defined() && params_[i].is_leaf() && params_[i].requires_grad(), name_, ": parameter ", i,
                  " must be a leaf tensor that requires grad");
      NABLA_CHECK(params_[i].is_contiguous(), name_, ": parameter ", i, " (shape ", params_[i].shape(),
                  ") must be contiguous");
    }
  }
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;

  virtual void step() = 0;

  void zero_grad(bool set_to_none = true) {
    for (Tensor<T>& p : params_) p.zero_grad(set_to_none);
  }
  double lr() const { return lr_; }
  void set_lr(double lr) {
    NABLA_CHECK(lr >= 0 && std::isfinite(lr), name_, ": learning rate must be a non-negative number, got ", lr);
    lr_ = lr;
  }
  const std::vector<Tensor<T>>& params() const { return params_; }

  // The per-parameter state as named tensors ("<param index>.<name>"; counts as 0-dim tensors).
  // The learning rate is not in it: it is a double, and Checkpoint stores it as one.
  virtual nn::NamedTensors<T> state_dict() const = 0;
  // Restores state_dict(); checks every name and shape before changing anything.
  virtual void load_state_dict(const nn::NamedTensors<T>& state) = 0;

 protected:
  // Runs f(index, param data, grad data, count) for every parameter that has a gradient.
  template <class F>
  void for_each_grad(F&& f) {
    NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor<T>& p = params_[i];
      const Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      const Tensor<T> gc = g.is_contiguous() ? g : g.contiguous();
      f(i, p.data(), gc.data(), p.numel());
      p.impl()->storage->bump_version();
    }
  }

  // Looks up `name` in `state`; checks its shape.
  const Tensor<T>* find(const nn::NamedTensors<T>& state, const std::string& name, const Shape& shape) const {
    for (const auto& [n, t] : state)
      if (n == name) {
        NABLA_CHECK(t.shape() == shape, name_, "::load_state_dict: '", name, "' has shape ", t.shape(), ", expected ",
                    shape);
        return &t;
      }
    return nullptr;
  }

  std::vector<Tensor<T>> params_;
  double lr_;
  const char* name_;
};

}  // namespace nabla::optim
