#pragma once
// SGD with momentum, dampening, Nesterov and L2 weight decay, in PyTorch's formulation:
// d = g + wd * p; buf = momentum * buf + (1 - dampening) * d (buf = d on the first step);
// d = nesterov ? d + momentum * buf : buf; p -= lr * d.
#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

struct SGDOptions {
  double lr = 0.01;
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

template <Floating T>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Tensor<T>> params, SGDOptions options) : Optimizer<T>(std::move(params), options.lr, "SGD"), o_(options) {
    NABLA_CHECK(o_.momentum >= 0, "SGD: momentum must be non-negative, got ", o_.momentum);
    NABLA_CHECK(o_.weight_decay >= 0, "SGD: weight_decay must be non-negative, got ", o_.weight_decay);
    NABLA_CHECK(!o_.nesterov || (o_.momentum > 0 && o_.dampening == 0),
                "SGD: Nesterov momentum requires a positive momentum and zero dampening");
    buffers_.resize(this->params_.size());
  }
  SGD(std::vector<Tensor<T>> params, double lr) : SGD(std::move(params), SGDOptions{.lr = lr}) {}

  void step() override {
    const T lr = static_cast<T>(this->lr_), momentum = static_cast<T>(o_.momentum),
            keep = static_cast<T>(1 - o_.dampening), wd = static_cast<T>(o_.weight_decay);
    const bool nesterov = o_.nesterov;
    this->for_each_grad([&](size_t i, T* __restrict p, const T* __restrict g, int64_t n) {
      if (momentum == T(0)) {
        cpu::parallel_for(n, kOptimizerGrain, [&](int64_t b, int64_t e) {
          for (int64_t k = b; k < e; ++k) p[k] -= lr * (g[k] + wd * p[k]);
        });
        return;
      }
      const bool first = !buffers_[i].defined();
      if (first) buffers_[i] = Tensor<T>::empty(this->params_[i].shape());
      T* __restrict buf = buffers_[i].data();
      cpu::parallel_for(n, kOptimizerGrain, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          const T d = g[k] + wd * p[k];
          const T v = first ? d : momentum * buf[k] + keep * d;
          buf[k] = v;
          p[k] -= lr * (nesterov ? d + momentum * v : v);
        }
      });
    });
  }

  // The momentum buffer of parameter i (undefined before the first step or without momentum).
  const Tensor<T>& momentum_buffer(size_t i) const { return buffers_.at(i); }
  const SGDOptions& options() const { return o_; }

  nn::NamedTensors<T> state_dict() const override {
    nn::NamedTensors<T> out;
    for (size_t i = 0; i < buffers_.size(); ++i)
      if (buffers_[i].defined()) out.emplace_back(std::to_string(i) + ".momentum_buffer", buffers_[i].clone());
    return out;
  }
  void load_state_dict(const nn::NamedTensors<T>& state) override {
    std::vector<Tensor<T>> next(buffers_.size());
    size_t used = 0;
    for (size_t i = 0; i < buffers_.size(); ++i)
      if (const Tensor<T>* b = this->find(state, std::to_string(i) + ".momentum_buffer", this->params_[i].shape())) {
        next[i] = b->clone();
        ++used;
      }
    NABLA_CHECK(used == state.size(), "SGD::load_state_dict: the state has ", state.size() - used,
                " entries this optimizer does not know (a different parameter list?)");
    buffers_ = std::move(next);
  }

 private:
  SGDOptions o_;
  std::vector<Tensor<T>> buffers_;
};

}  // namespace nabla::optim
