#pragma once
// The layers of nabla::nn. Each is a thin Module over the op that does the work (ops/), with
// PyTorch's constructor arguments, defaults and initialisation.
#include <array>
#include <cmath>
#include <optional>
#include <string>

#include "nabla/nn/init.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/ops/activation.hpp"
#include "nabla/ops/conv.hpp"
#include "nabla/ops/indexing.hpp"
#include "nabla/ops/linear.hpp"
#include "nabla/ops/norm.hpp"
#include "nabla/ops/pool.hpp"
#include "nabla/ops/reduce.hpp"
#include "nabla/ops/shape.hpp"

namespace nabla::nn {

namespace detail {
inline void check_positive(int64_t v, const char* layer, const char* what) {
  NABLA_CHECK(v > 0, layer, ": ", what, " must be positive, got ", v);
}
inline std::string pair_str(std::array<int64_t, 2> a) {
  return "(" + std::to_string(a[0]) + ", " + std::to_string(a[1]) + ")";
}
}  // namespace detail

template <Floating T>
class Linear : public Module<T> {
 public:
  Tensor<T> weight;  // [out_features, in_features]
  Tensor<T> bias;    // [out_features], or undefined

  Linear(int64_t in_features, int64_t out_features, bool with_bias = true)
      : in_features_(in_features), out_features_(out_features) {
    detail::check_positive(in_features, "Linear", "in_features");
    detail::check_positive(out_features, "Linear", "out_features");
    weight = Tensor<T>::empty({out_features, in_features});
    if (with_bias) bias = Tensor<T>::empty({out_features});
    init::default_layer_init(weight, &bias);
    weight.requires_grad_();
    if (with_bias) bias.requires_grad_();
  }
  Tensor<T> forward(const Tensor<T>& x) override { return linear(x, weight, bias); }
  std::string describe() const override {
    return "Linear(in_features=" + std::to_string(in_features_) +
           ", out_features=" + std::to_string(out_features_) +
           ", bias=" + (bias.defined() ? "true" : "false") + ")";
  }
  void visit(Visitor<T>& v) override {
    v.parameter("weight", weight);
    if (bias.defined()) v.parameter("bias", bias);
  }

 private:
  int64_t in_features_, out_features_;
};

// Goodfellow et al. 2013: out_j = max over k pieces of (W_jk x + b_jk). The weight is stored as
// one Linear(in, out * pieces) whose rows are grouped per output unit (pieces contiguous).
template <Floating T>
class Maxout : public Module<T> {
 public:
  Tensor<T> weight;  // [out_features * pieces, in_features]
  Tensor<T> bias;    // [out_features * pieces]

  Maxout(int64_t in_features, int64_t out_features, int64_t pieces = 3)
      : in_features_(in_features), out_features_(out_features), pieces_(pieces) {
    detail::check_positive(in_features, "Maxout", "in_features");
    detail::check_positive(out_features, "Maxout", "out_features");
    detail::check_positive(pieces, "Maxout", "pieces");
    weight = Tensor<T>::empty({out_features * pieces, in_features});
    bias = Tensor<T>::empty({out_features * pieces});
    init::default_layer_init(weight, &bias);
    weight.requires_grad_();
    bias.requires_grad_();
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    NABLA_CHECK(x.dim() == 2 && x.shape()[1] == in_features_, "Maxout(", in_features_, ", ",
                out_features_, "): expected input [N, ", in_features_, "], got shape ", x.shape());
    const Tensor<T> z = linear(x, weight, bias);
    return max(z.view({x.shape()[0], out_features_, pieces_}), 2).values;
  }
  std::string describe() const override {
    return "Maxout(in_features=" + std::to_string(in_features_) +
           ", out_features=" + std::to_string(out_features_) +
           ", pieces=" + std::to_string(pieces_) + ")";
  }
  void visit(Visitor<T>& v) override {
    v.parameter("weight", weight);
    v.parameter("bias", bias);
  }

 private:
  int64_t in_features_, out_features_, pieces_;
};

template <Floating T>
class Conv2d : public Module<T> {
 public:
  Tensor<T> weight;  // [out_channels, in_channels, kh, kw]
  Tensor<T> bias;    // [out_channels], or undefined

  Conv2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel,
         Conv2dOptions options = {}, bool with_bias = true)
      : in_(in_channels), out_(out_channels), kernel_(kernel), options_(options) {
    detail::check_positive(in_channels, "Conv2d", "in_channels");
    detail::check_positive(out_channels, "Conv2d", "out_channels");
    detail::check_positive(kernel[0], "Conv2d", "kernel_size");
    detail::check_positive(kernel[1], "Conv2d", "kernel_size");
    nabla::detail::check_conv_options(options, "Conv2d");
    weight = Tensor<T>::empty({out_channels, in_channels, kernel[0], kernel[1]});
    if (with_bias) bias = Tensor<T>::empty({out_channels});
    init::default_layer_init(weight, &bias);
    weight.requires_grad_();
    if (with_bias) bias.requires_grad_();
  }
  // Conv(ci, co, k, s, p) in GAN_VARIANTS.md notation.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
         int64_t padding = 0, bool with_bias = true, int64_t dilation = 1)
      : Conv2d(in_channels, out_channels, {kernel, kernel},
               Conv2dOptions{{stride, stride}, {padding, padding}, {dilation, dilation}, {0, 0}},
               with_bias) {}

  Tensor<T> forward(const Tensor<T>& x) override { return conv2d(x, weight, bias, options_); }
  std::string describe() const override {
    return "Conv2d(" + std::to_string(in_) + ", " + std::to_string(out_) +
           ", kernel_size=" + detail::pair_str(kernel_) +
           ", stride=" + detail::pair_str(options_.stride) +
           ", padding=" + detail::pair_str(options_.padding) +
           (options_.dilation != std::array<int64_t, 2>{1, 1}
                ? ", dilation=" + detail::pair_str(options_.dilation)
                : "") +
           (bias.defined() ? "" : ", bias=false") + ")";
  }
  void visit(Visitor<T>& v) override {
    v.parameter("weight", weight);
    if (bias.defined()) v.parameter("bias", bias);
  }

 private:
  int64_t in_, out_;
  std::array<int64_t, 2> kernel_;
  Conv2dOptions options_;
};

template <Floating T>
class ConvTranspose2d : public Module<T> {
 public:
  Tensor<T> weight;  // [in_channels, out_channels, kh, kw]
  Tensor<T> bias;    // [out_channels], or undefined

  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 2> kernel,
                  Conv2dOptions options = {}, bool with_bias = true)
      : in_(in_channels), out_(out_channels), kernel_(kernel), options_(options) {
    detail::check_positive(in_channels, "ConvTranspose2d", "in_channels");
    detail::check_positive(out_channels, "ConvTranspose2d", "out_channels");
    detail::check_positive(kernel[0], "ConvTranspose2d", "kernel_size");
    detail::check_positive(kernel[1], "ConvTranspose2d", "kernel_size");
    nabla::detail::check_conv_options(options, "ConvTranspose2d");
    for (int i = 0; i < 2; ++i)
      NABLA_CHECK(options.output_padding[i] < std::max(options.stride[i], options.dilation[i]),
                  "ConvTranspose2d: output_padding ", options.output_padding[i],
                  " must be smaller than either stride or dilation");
    weight = Tensor<T>::empty({in_channels, out_channels, kernel[0], kernel[1]});
    if (with_bias) bias = Tensor<T>::empty({out_channels});
    init::default_layer_init(weight, &bias);
    weight.requires_grad_();
    if (with_bias) bias.requires_grad_();
  }
  // ConvT(ci, co, k, s, p) in GAN_VARIANTS.md notation.
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1,
                  int64_t padding = 0, int64_t output_padding = 0, bool with_bias = true,
                  int64_t dilation = 1)
      : ConvTranspose2d(in_channels, out_channels, {kernel, kernel},
                        Conv2dOptions{{stride, stride},
                                      {padding, padding},
                                      {dilation, dilation},
                                      {output_padding, output_padding}},
                        with_bias) {}

  Tensor<T> forward(const Tensor<T>& x) override {
    return conv_transpose2d(x, weight, bias, options_);
  }
  std::string describe() const override {
    return "ConvTranspose2d(" + std::to_string(in_) + ", " + std::to_string(out_) +
           ", kernel_size=" + detail::pair_str(kernel_) +
           ", stride=" + detail::pair_str(options_.stride) +
           ", padding=" + detail::pair_str(options_.padding) +
           (options_.output_padding != std::array<int64_t, 2>{0, 0}
                ? ", output_padding=" + detail::pair_str(options_.output_padding)
                : "") +
           (bias.defined() ? "" : ", bias=false") + ")";
  }
  void visit(Visitor<T>& v) override {
    v.parameter("weight", weight);
    if (bias.defined()) v.parameter("bias", bias);
  }

 private:
  int64_t in_, out_;
  std::array<int64_t, 2> kernel_;
  Conv2dOptions options_;
};

template <Floating T>
class MaxPool2d : public Module<T> {
 public:
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0)
      : kernel_(kernel), stride_(stride ? stride : kernel), padding_(padding) {
    detail::check_positive(kernel, "MaxPool2d", "kernel_size");
    NABLA_CHECK(stride >= 0, "MaxPool2d: stride must be positive, got ", stride);
    NABLA_CHECK(padding >= 0 && 2 * padding <= kernel, "MaxPool2d: padding ", padding,
                " must be between 0 and half the kernel size ", kernel);
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    return max_pool2d(x, {kernel_, kernel_}, {stride_, stride_}, {padding_, padding_});
  }
  std::string describe() const override {
    return "MaxPool2d(kernel_size=" + std::to_string(kernel_) +
           ", stride=" + std::to_string(stride_) + ", padding=" + std::to_string(padding_) + ")";
  }

 private:
  int64_t kernel_, stride_, padding_;
};

// Nearest-neighbour upsampling by an integer factor (the only mode the variants use).
template <Floating T>
class AvgPool2d : public Module<T> {
 public:
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0,
                     bool count_include_pad = true)
      : kernel_(kernel),
        stride_(stride ? stride : kernel),
        padding_(padding),
        count_include_pad_(count_include_pad) {
    detail::check_positive(kernel, "AvgPool2d", "kernel_size");
    NABLA_CHECK(stride >= 0, "AvgPool2d: stride must be positive, got ", stride);
    NABLA_CHECK(padding >= 0 && 2 * padding <= kernel, "AvgPool2d: padding ", padding,
                " must be between 0 and half the kernel size ", kernel);
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    return avg_pool2d(x, {kernel_, kernel_}, {stride_, stride_}, {padding_, padding_},
                      count_include_pad_);
  }
  std::string describe() const override {
    return "AvgPool2d(kernel_size=" + std::to_string(kernel_) +
           ", stride=" + std::to_string(stride_) + ", padding=" + std::to_string(padding_) + ")";
  }

 private:
  int64_t kernel_, stride_, padding_;
  bool count_include_pad_;
};

template <Floating T>
class AdaptiveAvgPool2d : public Module<T> {
 public:
  explicit AdaptiveAvgPool2d(int64_t size)
      : AdaptiveAvgPool2d(std::array<int64_t, 2>{size, size}) {}
  explicit AdaptiveAvgPool2d(std::array<int64_t, 2> size) : size_(size) {
    detail::check_positive(size[0], "AdaptiveAvgPool2d", "output height");
    detail::check_positive(size[1], "AdaptiveAvgPool2d", "output width");
  }
  Tensor<T> forward(const Tensor<T>& x) override { return adaptive_avg_pool2d(x, size_); }
  std::string describe() const override {
    return "AdaptiveAvgPool2d(output_size=" + detail::pair_str(size_) + ")";
  }

 private:
  std::array<int64_t, 2> size_;
};

template <Floating T>
class Upsample : public Module<T> {
 public:
  explicit Upsample(int64_t scale_factor, const std::string& mode = "nearest")
      : scale_(scale_factor) {
    detail::check_positive(scale_factor, "Upsample", "scale_factor");
    NABLA_CHECK(mode == "nearest", "Upsample: mode '", mode, "' is not supported (only 'nearest')");
  }
  Tensor<T> forward(const Tensor<T>& x) override { return upsample_nearest2d(x, scale_); }
  std::string describe() const override {
    return "Upsample(scale_factor=" + std::to_string(scale_) + ", mode='nearest')";
  }

 private:
  int64_t scale_;
};

template <Floating T>
class Flatten : public Module<T> {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : start_(start_dim), end_(end_dim) {}
  Tensor<T> forward(const Tensor<T>& x) override { return x.flatten(start_, end_); }
  std::string describe() const override {
    return "Flatten(start_dim=" + std::to_string(start_) + ", end_dim=" + std::to_string(end_) +
           ")";
  }

 private:
  int64_t start_, end_;
};

// x.view(shape) of the whole tensor (one -1 allowed), as the documents' View module.
template <Floating T>
class View : public Module<T> {
 public:
  explicit View(Shape shape) : shape_(shape) {}
  Tensor<T> forward(const Tensor<T>& x) override { return x.view(shape_); }
  std::string describe() const override { return "View(" + to_string(shape_) + ")"; }

 private:
  Shape shape_;
};

// Like View, but copies when the input is not contiguous.
template <Floating T>
class Reshape : public Module<T> {
 public:
  explicit Reshape(Shape shape) : shape_(shape) {}
  Tensor<T> forward(const Tensor<T>& x) override { return x.reshape(shape_); }
  std::string describe() const override { return "Reshape(" + to_string(shape_) + ")"; }

 private:
  Shape shape_;
};

template <Floating T>
class ReLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return relu(x); }
  std::string describe() const override { return "ReLU()"; }
};

template <Floating T>
class LeakyReLU : public Module<T> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor<T> forward(const Tensor<T>& x) override { return leaky_relu(x, static_cast<T>(slope_)); }
  std::string describe() const override {
    std::ostringstream s;
    s << "LeakyReLU(negative_slope=" << slope_ << ")";
    return s.str();
  }

 private:
  double slope_;
};

template <Floating T>
class Sigmoid : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return sigmoid(x); }
  std::string describe() const override { return "Sigmoid()"; }
};

template <Floating T>
class Tanh : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return tanh(x); }
  std::string describe() const override { return "Tanh()"; }
};

// A table of num_embeddings vectors of embedding_dim, initialised N(0, 1) (the padding row, if
// any, zero), looked up by int64 indices: the label embedding of a conditional GAN.
template <Floating T>
class Embedding : public Module<T> {
 public:
  Tensor<T> weight;  // [num_embeddings, embedding_dim]

  Embedding(int64_t num_embeddings, int64_t embedding_dim,
            std::optional<int64_t> padding_idx = std::nullopt)
      : num_(num_embeddings), dim_(embedding_dim), padding_(padding_idx) {
    detail::check_positive(num_embeddings, "Embedding", "num_embeddings");
    detail::check_positive(embedding_dim, "Embedding", "embedding_dim");
    if (padding_) {
      NABLA_CHECK(*padding_ >= -num_ && *padding_ < num_, "Embedding: padding_idx ", *padding_,
                  " is outside [", -num_, ", ", num_, ")");
      if (*padding_ < 0) *padding_ += num_;
    }
    weight = Tensor<T>::empty({num_embeddings, embedding_dim});
    init::normal_(weight, 0.0, 1.0);
    if (padding_) std::fill_n(weight.data() + *padding_ * dim_, dim_, T(0));
    weight.requires_grad_();
  }
  using Module<T>::operator();
  Tensor<T> operator()(const Tensor<int64_t>& indices) {
    return embedding(indices, weight, padding_);
  }
  // Indices held in a floating tensor (for a Sequential): each must be a whole number.
  Tensor<T> forward(const Tensor<T>& x) override {
    const std::vector<T> v = x.to_vector();
    std::vector<int64_t> idx(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      NABLA_CHECK(std::isfinite(v[i]) && v[i] == std::floor(v[i]), "Embedding: index ", v[i],
                  " at position ", i, " is not a whole number");
      idx[i] = static_cast<int64_t>(v[i]);
    }
    return embedding(Tensor<int64_t>::from(std::span<const int64_t>(idx), x.shape()), weight,
                     padding_);
  }
  std::string describe() const override {
    return "Embedding(" + std::to_string(num_) + ", " + std::to_string(dim_) +
           (padding_ ? ", padding_idx=" + std::to_string(*padding_) : std::string()) + ")";
  }
  void visit(Visitor<T>& v) override { v.parameter("weight", weight); }

 private:
  int64_t num_, dim_;
  std::optional<int64_t> padding_;
};

template <Floating T>
class ELU : public Module<T> {
 public:
  explicit ELU(double alpha = 1.0) : alpha_(alpha) {}
  Tensor<T> forward(const Tensor<T>& x) override { return elu(x, static_cast<T>(alpha_)); }
  std::string describe() const override {
    std::ostringstream s;
    s << "ELU(alpha=" << alpha_ << ")";
    return s.str();
  }

 private:
  double alpha_;
};

template <Floating T>
class SiLU : public Module<T> {
 public:
  Tensor<T> forward(const Tensor<T>& x) override { return silu(x); }
  std::string describe() const override { return "SiLU()"; }
};

template <Floating T>
class GELU : public Module<T> {
 public:
  // approximate: "none" (the exact form, PyTorch's default) or "tanh".
  explicit GELU(std::string approximate = "none") : approximate_(std::move(approximate)) {
    NABLA_CHECK(approximate_ == "none" || approximate_ == "tanh",
                "GELU: approximate must be \"none\" or \"tanh\", got \"", approximate_, "\"");
  }
  Tensor<T> forward(const Tensor<T>& x) override { return gelu(x, approximate_); }
  std::string describe() const override { return "GELU(approximate='" + approximate_ + "')"; }

 private:
  std::string approximate_;
};

template <Floating T>
class Softplus : public Module<T> {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0)
      : beta_(beta), threshold_(threshold) {
    NABLA_CHECK(beta != 0, "Softplus: beta must not be 0");
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    return softplus(x, static_cast<T>(beta_), static_cast<T>(threshold_));
  }
  std::string describe() const override {
    std::ostringstream s;
    s << "Softplus(beta=" << beta_ << ", threshold=" << threshold_ << ")";
    return s.str();
  }

 private:
  double beta_, threshold_;
};

template <Floating T>
class Softmax : public Module<T> {
 public:
  explicit Softmax(int64_t dim) : dim_(dim) {}
  Tensor<T> forward(const Tensor<T>& x) override { return softmax(x, dim_); }
  std::string describe() const override { return "Softmax(dim=" + std::to_string(dim_) + ")"; }

 private:
  int64_t dim_;
};

template <Floating T>
class LogSoftmax : public Module<T> {
 public:
  explicit LogSoftmax(int64_t dim) : dim_(dim) {}
  Tensor<T> forward(const Tensor<T>& x) override { return log_softmax(x, dim_); }
  std::string describe() const override { return "LogSoftmax(dim=" + std::to_string(dim_) + ")"; }

 private:
  int64_t dim_;
};

template <Floating T>
class Dropout : public Module<T> {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator()) : p_(p), gen_(&gen) {
    NABLA_CHECK(p >= 0 && p < 1, "Dropout: probability must be in [0, 1), got ", p);
  }
  Tensor<T> forward(const Tensor<T>& x) override { return dropout(x, p_, this->training_, *gen_); }
  std::string describe() const override {
    std::ostringstream s;
    s << "Dropout(p=" << p_ << ")";
    return s.str();
  }

 private:
  double p_;
  Generator* gen_;
};

template <Floating T>
class LayerNorm : public Module<T> {
 public:
  Tensor<T> weight;  // normalized_shape, ones; undefined without elementwise_affine
  Tensor<T> bias;    // normalized_shape, zeros

  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true)
      : shape_(normalized_shape), eps_(eps) {
    NABLA_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape must not be empty");
    for (int64_t d : normalized_shape) detail::check_positive(d, "LayerNorm", "normalized_shape");
    NABLA_CHECK(eps >= 0, "LayerNorm: eps must be non-negative, got ", eps);
    if (elementwise_affine) {
      weight = Tensor<T>::ones(normalized_shape).requires_grad_();
      bias = Tensor<T>::zeros(normalized_shape).requires_grad_();
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    return layer_norm(x, shape_, weight, bias, eps_);
  }
  std::string describe() const override {
    std::ostringstream s;
    s << "LayerNorm(" << shape_ << ", eps=" << eps_
      << ", elementwise_affine=" << (weight.defined() ? "true" : "false") << ")";
    return s.str();
  }
  void visit(Visitor<T>& v) override {
    if (weight.defined()) {
      v.parameter("weight", weight);
      v.parameter("bias", bias);
    }
  }

 private:
  Shape shape_;
  double eps_;
};

// Shared by BatchNorm1d and BatchNorm2d; `dims` lists the input ranks the layer accepts.
// InstanceNorm2d (pix2pix, CycleGAN): without running statistics (PyTorch's default); affine
// (off by default, as PyTorch) adds weight (ones) and bias (zeros) per channel.
template <Floating T>
class InstanceNorm2d : public Module<T> {
 public:
  Tensor<T> weight, bias;  // [C] with affine, else undefined

  explicit InstanceNorm2d(int64_t num_features, double eps = 1e-5, bool affine = false)
      : features_(num_features), eps_(eps) {
    detail::check_positive(num_features, "InstanceNorm2d", "num_features");
    NABLA_CHECK(eps >= 0, "InstanceNorm2d: eps must be non-negative, got ", eps);
    if (affine) {
      weight = Tensor<T>::ones({num_features}).requires_grad_();
      bias = Tensor<T>::zeros({num_features}).requires_grad_();
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    NABLA_CHECK(x.dim() == 4 && x.shape()[1] == features_, "InstanceNorm2d(", features_,
                "): expected input [N, ", features_, ", H, W], got shape ", x.shape());
    return instance_norm(x, weight, bias, eps_);
  }
  std::string describe() const override {
    std::ostringstream s;
    s << "InstanceNorm2d(" << features_ << ", eps=" << eps_
      << ", affine=" << (weight.defined() ? "true" : "false") << ")";
    return s.str();
  }
  void visit(Visitor<T>& v) override {
    if (weight.defined()) {
      v.parameter("weight", weight);
      v.parameter("bias", bias);
    }
  }

 private:
  int64_t features_;
  double eps_;
};

template <Floating T>
class GroupNorm : public Module<T> {
 public:
  Tensor<T> weight, bias;  // [C] with affine (the default), else undefined

  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true)
      : groups_(num_groups), channels_(num_channels), eps_(eps) {
    detail::check_positive(num_groups, "GroupNorm", "num_groups");
    detail::check_positive(num_channels, "GroupNorm", "num_channels");
    NABLA_CHECK(num_channels % num_groups == 0, "GroupNorm: ", num_channels,
                " channels do not split into ", num_groups, " groups");
    NABLA_CHECK(eps >= 0, "GroupNorm: eps must be non-negative, got ", eps);
    if (affine) {
      weight = Tensor<T>::ones({num_channels}).requires_grad_();
      bias = Tensor<T>::zeros({num_channels}).requires_grad_();
    }
  }
  Tensor<T> forward(const Tensor<T>& x) override {
    NABLA_CHECK(x.dim() >= 2 && x.shape()[1] == channels_, "GroupNorm(", groups_, ", ", channels_,
                "): expected input [N, ", channels_, ", ...], got shape ", x.shape());
    return group_norm(x, groups_, weight, bias, eps_);
  }
  std::string describe() const override {
    std::ostringstream s;
    s << "GroupNorm(" << groups_ << ", " << channels_ << ", eps=" << eps_
      << ", affine=" << (weight.defined() ? "true" : "false") << ")";
    return s.str();
  }
  void visit(Visitor<T>& v) override {
    if (weight.defined()) {
      v.parameter("weight", weight);
      v.parameter("bias", bias);
    }
  }

 private:
  int64_t groups_, channels_;
  double eps_;
};

template <Floating T>
class BatchNormBase : public Module<T> {
 public:
  Tensor<T> weight, bias;               // [C]: ones and zeros; undefined without affine
  Tensor<T> running_mean, running_var;  // [C]: zeros and ones; undefined without tracking

  Tensor<T> forward(const Tensor<T>& x) override {
    NABLA_CHECK(x.dim() == min_dim_ || x.dim() == max_dim_, name_, "(", features_, "): expected a ",
                min_dim_, (min_dim_ == max_dim_ ? "" : " or " + std::to_string(max_dim_)),
                "-d input, got shape ", x.shape());
    NABLA_CHECK(x.shape()[1] == features_, name_, "(", features_, "): input has ", x.shape()[1],
                " channels, expected ", features_, " (input shape ", x.shape(), ")");
    return batch_norm(x, running_mean, running_var, weight, bias, this->training_, momentum_, eps_);
  }
  std::string describe() const override {
    std::ostringstream s;
    s << name_ << "(" << features_ << ", eps=" << eps_ << ", momentum=" << momentum_
      << ", affine=" << (weight.defined() ? "true" : "false")
      << ", track_running_stats=" << (running_mean.defined() ? "true" : "false") << ")";
    return s.str();
  }
  void visit(Visitor<T>& v) override {
    if (weight.defined()) {
      v.parameter("weight", weight);
      v.parameter("bias", bias);
    }
    if (running_mean.defined()) {
      v.buffer("running_mean", running_mean);
      v.buffer("running_var", running_var);
    }
  }

 protected:
  BatchNormBase(const char* name, int min_dim, int max_dim, int64_t features, double eps,
                double momentum, bool affine, bool track_running_stats)
      : name_(name),
        min_dim_(min_dim),
        max_dim_(max_dim),
        features_(features),
        eps_(eps),
        momentum_(momentum) {
    detail::check_positive(features, name, "num_features");
    NABLA_CHECK(eps >= 0, name, ": eps must be non-negative, got ", eps);
    NABLA_CHECK(momentum >= 0 && momentum <= 1, name, ": momentum must be in [0, 1], got ",
                momentum);
    if (affine) {
      weight = Tensor<T>::ones({features}).requires_grad_();
      bias = Tensor<T>::zeros({features}).requires_grad_();
    }
    if (track_running_stats) {
      running_mean = Tensor<T>::zeros({features});
      running_var = Tensor<T>::ones({features});
    }
  }

 private:
  const char* name_;
  int min_dim_, max_dim_;
  int64_t features_;
  double eps_, momentum_;
};

template <Floating T>
class BatchNorm1d : public BatchNormBase<T> {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase<T>("BatchNorm1d", 2, 3, num_features, eps, momentum, affine,
                         track_running_stats) {}
};

template <Floating T>
class BatchNorm2d : public BatchNormBase<T> {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true)
      : BatchNormBase<T>("BatchNorm2d", 4, 4, num_features, eps, momentum, affine,
                         track_running_stats) {}
};

}  // namespace nabla::nn
