#pragma once
// RMSprop (Tieleman & Hinton) in PyTorch's formulation, the optimiser of the original WGAN:
// d = g + wd * p; s = alpha * s + (1 - alpha) * d^2; centered: a = alpha * a + (1 - alpha) * d and
// the denominator is sqrt(s - a^2) + eps, else sqrt(s) + eps; with momentum,
// buf = momentum * buf + d / denominator and p -= lr * buf, else p -= lr * d / denominator.
#include <cmath>

#include "nabla/optim/optimizer.hpp"

namespace nabla::optim {

struct RMSpropOptions {
  double lr = 0.01;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

template <Floating T>
class RMSprop : public Optimizer<T> {
 public:
  struct State {
    int64_t step = 0;
    Tensor<T> square_avg, momentum_buffer, grad_avg;  // the last two with momentum / centered
  };

  RMSprop(std::vector<Tensor<T>> params, RMSpropOptions options)
      : Optimizer<T>(std::move(params), options.lr, "RMSprop"), o_(options) {
    NABLA_CHECK(o_.alpha >= 0, "RMSprop: alpha must be non-negative, got ", o_.alpha);
    NABLA_CHECK(o_.eps >= 0, "RMSprop: eps must be non-negative, got ", o_.eps);
    NABLA_CHECK(o_.weight_decay >= 0, "RMSprop: weight_decay must be non-negative, got ",
                o_.weight_decay);
    NABLA_CHECK(o_.momentum >= 0, "RMSprop: momentum must be non-negative, got ", o_.momentum);
    state_.resize(this->params_.size());
  }
  RMSprop(std::vector<Tensor<T>> params, double lr)
      : RMSprop(std::move(params), RMSpropOptions{.lr = lr}) {}

  void step() override {
    const T lr = static_cast<T>(this->lr_), alpha = static_cast<T>(o_.alpha),
            rest = static_cast<T>(1 - o_.alpha), eps = static_cast<T>(o_.eps),
            wd = static_cast<T>(o_.weight_decay), momentum = static_cast<T>(o_.momentum);
    const bool centered = o_.centered, use_momentum = o_.momentum > 0;
    this->for_each_grad([&](size_t i, T* __restrict p, const T* __restrict g, int64_t n) {
      State& s = state_[i];
      if (s.step == 0) {
        const Shape& shape = this->params_[i].shape();
        s.square_avg = Tensor<T>::zeros(shape);
        if (use_momentum) s.momentum_buffer = Tensor<T>::zeros(shape);
        if (centered) s.grad_avg = Tensor<T>::zeros(shape);
      }
      ++s.step;
      T* __restrict sq = s.square_avg.data();
      T* __restrict buf = use_momentum ? s.momentum_buffer.data() : nullptr;
      T* __restrict ga = centered ? s.grad_avg.data() : nullptr;
      cpu::parallel_for(n, kOptimizerGrain, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          const T d = wd != T(0) ? g[k] + wd * p[k] : g[k];
          sq[k] = alpha * sq[k] + rest * (d * d);
          T var = sq[k];
          if (ga) {
            ga[k] = alpha * ga[k] + rest * d;
            var -= ga[k] * ga[k];
          }
          const T denom = std::sqrt(var) + eps;
          if (buf) {
            buf[k] = momentum * buf[k] + d / denom;
            p[k] -= lr * buf[k];
          } else {
            p[k] -= lr * (d / denom);
          }
        }
      });
    });
  }

  const State& state(size_t i) const { return state_.at(i); }
  const RMSpropOptions& options() const { return o_; }

  nn::NamedTensors<T> state_dict() const override {
    nn::NamedTensors<T> out;
    for (size_t i = 0; i < state_.size(); ++i) {
      const State& s = state_[i];
      if (s.step == 0) continue;
      const std::string k = std::to_string(i) + ".";
      out.emplace_back(k + "step", Tensor<T>::scalar(static_cast<T>(s.step)));
      out.emplace_back(k + "square_avg", s.square_avg.clone());
      if (s.momentum_buffer.defined())
        out.emplace_back(k + "momentum_buffer", s.momentum_buffer.clone());
      if (s.grad_avg.defined()) out.emplace_back(k + "grad_avg", s.grad_avg.clone());
    }
    return out;
  }
  void load_state_dict(const nn::NamedTensors<T>& state) override {
    std::vector<State> next(state_.size());
    size_t used = 0;
    for (size_t i = 0; i < state_.size(); ++i) {
      const std::string k = std::to_string(i) + ".";
      const Shape& shape = this->params_[i].shape();
      const Tensor<T>* step = this->find(state, k + "step", {});
      if (!step) continue;
      const Tensor<T>* sq = this->find(state, k + "square_avg", shape);
      const Tensor<T>* buf = this->find(state, k + "momentum_buffer", shape);
      const Tensor<T>* ga = this->find(state, k + "grad_avg", shape);
      NABLA_CHECK(sq, "RMSprop::load_state_dict: parameter ", i,
                  " has a step count but no square_avg");
      NABLA_CHECK(o_.momentum == 0 || buf, "RMSprop::load_state_dict: parameter ", i,
                  " has no momentum_buffer, which momentum needs");
      NABLA_CHECK(!o_.centered || ga, "RMSprop::load_state_dict: parameter ", i,
                  " has no grad_avg, which centered needs");
      next[i] = State{static_cast<int64_t>(step->item()), sq->clone(),
                      buf ? buf->clone() : Tensor<T>(), ga ? ga->clone() : Tensor<T>()};
      used += 2 + (buf != nullptr) + (ga != nullptr);
    }
    NABLA_CHECK(used == state.size(), "RMSprop::load_state_dict: the state has ",
                state.size() - used,
                " entries this optimizer does not know (a different parameter list?)");
    state_ = std::move(next);
  }

 private:
  RMSpropOptions o_;
  std::vector<State> state_;
};

}  // namespace nabla::optim
