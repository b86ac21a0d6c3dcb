#pragma once
// nn::init: in-place initialisers with PyTorch's formulas (fan-in/fan-out from the weight's
// shape, gains per nonlinearity). They run without recording a graph.
#include <cmath>
#include <string>

#include "nabla/ops/inplace.hpp"

namespace nabla::nn::init {

struct Fans {
  int64_t in, out;
};

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (PyTorch's rule, also
// for transposed-convolution weights).
template <Floating T>
Fans fans(const Tensor<T>& t) {
  NABLA_CHECK(t.dim() >= 2, "nn::init: fan in and fan out need a tensor with at least 2 dims, got shape ", t.shape());
  int64_t receptive = 1;
  for (int d = 2; d < t.dim(); ++d) receptive *= t.shape()[d];
  return {t.shape()[1] * receptive, t.shape()[0] * receptive};
}

// The recommended gain for a nonlinearity: "linear", "conv2d", "sigmoid", "tanh", "relu",
// "leaky_relu" (param = negative slope, default 0.01), "selu".
inline double calculate_gain(const std::string& nonlinearity, double param = 0.01) {
  if (nonlinearity == "linear" || nonlinearity == "conv2d" || nonlinearity == "conv_transpose2d" ||
      nonlinearity == "sigmoid")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  detail::fail("nn::init::calculate_gain: unknown nonlinearity '", nonlinearity, "'");
}

enum class FanMode { FanIn, FanOut };

template <Floating T>
Tensor<T>& uniform_(Tensor<T>& t, double a = 0, double b = 1, Generator& gen = default_generator()) {
  NoGradGuard no_grad;
  return t.uniform_(static_cast<T>(a), static_cast<T>(b), gen);
}
template <Floating T>
Tensor<T>& normal_(Tensor<T>& t, double mean = 0, double std = 1, Generator& gen = default_generator()) {
  NoGradGuard no_grad;
  return t.normal_(static_cast<T>(mean), static_cast<T>(std), gen);
}
template <Floating T>
Tensor<T>& constant_(Tensor<T>& t, double value) {
  NoGradGuard no_grad;
  return t.fill_(static_cast<T>(value));
}
template <Floating T>
Tensor<T>& zeros_(Tensor<T>& t) {
  return constant_(t, 0.0);
}
template <Floating T>
Tensor<T>& ones_(Tensor<T>& t) {
  return constant_(t, 1.0);
}
template <Floating T>
Tensor<T>& xavier_uniform_(Tensor<T>& t, double gain = 1, Generator& gen = default_generator()) {
  const Fans f = fans(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.in + f.out));
  return uniform_(t, -bound, bound, gen);
}
template <Floating T>
Tensor<T>& xavier_normal_(Tensor<T>& t, double gain = 1, Generator& gen = default_generator()) {
  const Fans f = fans(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.in + f.out)), gen);
}
template <Floating T>
Tensor<T>& kaiming_uniform_(Tensor<T>& t, double a = 0, FanMode mode = FanMode::FanIn,
                            const std::string& nonlinearity = "leaky_relu", Generator& gen = default_generator()) {
  const Fans f = fans(t);
  const int64_t fan = mode == FanMode::FanIn ? f.in : f.out;
  NABLA_CHECK(fan > 0, "nn::init::kaiming_uniform_: zero fan for a tensor of shape ", t.shape());
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / static_cast<double>(fan));
  return uniform_(t, -bound, bound, gen);
}
template <Floating T>
Tensor<T>& kaiming_normal_(Tensor<T>& t, double a = 0, FanMode mode = FanMode::FanIn,
                           const std::string& nonlinearity = "leaky_relu", Generator& gen = default_generator()) {
  const Fans f = fans(t);
  const int64_t fan = mode == FanMode::FanIn ? f.in : f.out;
  NABLA_CHECK(fan > 0, "nn::init::kaiming_normal_: zero fan for a tensor of shape ", t.shape());
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan)), gen);
}

// PyTorch's default for Linear and convolution layers: kaiming_uniform_ with a = sqrt(5) on the
// weight (a bound of 1/sqrt(fan_in)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias.
template <Floating T>
void default_layer_init(Tensor<T>& weight, Tensor<T>* bias, Generator& gen = default_generator()) {
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, "leaky_relu", gen);
  if (bias && bias->defined()) {
    const int64_t fan_in = fans(weight).in;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    uniform_(*bias, -bound, bound, gen);
  }
}

}  // namespace nabla::nn::init
