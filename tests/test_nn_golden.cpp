// Golden-value tests of nabla::nn and nabla::optim against PyTorch, plus finite-difference
// gradchecks, statistical checks of the initialisers and of Dropout, and the errors bad input
// gets.
//
// The fixtures (tests/fixtures/nn_<family>.txt) are written by tools/gen_nn_fixtures.py, whose
// docstring documents the ops and tensor roles; the record format is that of
// tools/gen_fixtures.py, read by fixture_reader.hpp.
//
// - Layers and losses (nn_layers, nn_norm, nn_loss): the layer is built from the case's op, its
//   parameters and buffers are set from the fixture, and it runs in double and in float: the
//   output, after backward(gout) the gradient of the input and of every parameter, and the
//   buffers after one and two calls are compared with PyTorch's float64 values. Then
//   nabla::gradcheck runs in double over the differentiable inputs and all the parameters,
//   through the functional ops (linear, conv2d, batch_norm, ...).
// - Optimisers (nn_optim): 20 steps with the fixture's gradients; the parameters after every step
//   and the state after the last one are compared.
// - One iteration of GAN_VARIANTS.md row 3 (nn_gan): the three losses and every updated weight.
//
// Without fixtures: convolutions over batches large enough for several sample groups and
// threads against the per-sample results, gradient accumulation, non-contiguous inputs, Dropout
// in training (statistics), the initialisers (bounds and moments over many draws), and the
// nabla::Error that bad input and bad hyper-parameters get.
#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nabla/nabla.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "fixture_reader.hpp"

namespace {

using golden::compare;
using golden::Fixture;
using golden::FixtureCase;
using golden::FixtureTensor;
using golden::make_tensor;
using golden::parse_error;
using golden::Tolerance;
using nabla::Shape;
using nabla::Tensor;

template <class T>
using Inputs = std::vector<Tensor<T>>;

template <class T>
constexpr const char* type_name() {
  return std::is_same_v<T, double> ? "double" : "float";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// ------------------------------------------------------------------------------------------
// The op description: Kind(key=value,...), values an integer, a float, a word or a tuple "(a,b)".

class Spec {
 public:
  explicit Spec(const std::string& text) : text_(text) {
    const size_t open = text.find('(');
    if (open == std::string::npos || text.back() != ')') fail("expected Kind(key=value,...)");
    kind_ = text.substr(0, open);
    const std::string body = text.substr(open + 1, text.size() - open - 2);
    int depth = 0;
    std::string item;
    auto flush = [&] {
      if (item.empty()) return;
      const size_t eq = item.find('=');
      if (eq == std::string::npos) fail("argument '" + item + "' has no '='");
      if (!args_.emplace(item.substr(0, eq), item.substr(eq + 1)).second)
        fail("argument repeated: " + item);
      item.clear();
    };
    for (char ch : body) {
      if (ch == '(') ++depth;
      if (ch == ')') --depth;
      if (ch == ',' && depth == 0)
        flush();
      else
        item += ch;
    }
    flush();
  }

  const std::string& kind() const { return kind_; }
  const std::string& text() const { return text_; }

  int64_t i(const std::string& key) const { return to_int(raw(key)); }
  double f(const std::string& key) const {
    const std::string& v = raw(key);
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end) fail(key + "=" + v + " is not a number");
    return d;
  }
  bool b(const std::string& key) const {
    const int64_t v = i(key);
    if (v != 0 && v != 1) fail(key + " must be 0 or 1");
    return v == 1;
  }
  std::string word(const std::string& key) const { return raw(key); }
  bool has(const std::string& key) const { return args_.count(key) == 1; }
  std::vector<int64_t> ints(const std::string& key) const {
    const std::string& v = raw(key);
    if (v.size() < 2 || v.front() != '(' || v.back() != ')')
      fail(key + "=" + v + " is not a tuple");
    std::vector<int64_t> out;
    std::string item;
    for (char ch : v.substr(1, v.size() - 2) + ",") {
      if (ch != ',') {
        item += ch;
        continue;
      }
      out.push_back(to_int(item));
      item.clear();
    }
    return out;
  }
  std::array<int64_t, 2> pair(const std::string& key) const {
    const std::vector<int64_t> v = ints(key);
    if (v.size() != 2) fail(key + " must be a pair");
    return {v[0], v[1]};
  }
  Shape shape(const std::string& key) const {
    const std::vector<int64_t> v = ints(key);
    return Shape(std::span<const int64_t>(v));
  }
  // Every argument must have been read: a misspelt or forgotten setting fails the case.
  void check_all_used() const {
    for (const auto& entry : args_)
      if (!used_.count(entry.first)) fail("argument " + entry.first + " is not used by the test");
  }

 private:
  const std::string& raw(const std::string& key) const {
    const auto it = args_.find(key);
    if (it == args_.end()) fail("no argument " + key);
    used_.insert(key);
    return it->second;
  }
  int64_t to_int(const std::string& v) const {
    char* end = nullptr;
    const long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end) fail("'" + v + "' is not an integer");
    return n;
  }
  [[noreturn]] void fail(const std::string& message) const {
    throw std::runtime_error("op " + text_ + ": " + message);
  }

  std::string text_, kind_;
  std::map<std::string, std::string> args_;
  mutable std::set<std::string> used_;
};

nabla::Reduction reduction(const Spec& s) {
  const std::string r = s.word("reduction");
  if (r == "mean") return nabla::Reduction::Mean;
  if (r == "sum") return nabla::Reduction::Sum;
  if (r == "none") return nabla::Reduction::None;
  throw std::runtime_error("op " + s.text() + ": unknown reduction " + r);
}

// ------------------------------------------------------------------------------------------
// Layers and losses: op kind -> how nabla builds it, and the same computation through the
// functional ops for gradcheck.

template <class T>
struct Built {
  std::shared_ptr<nabla::nn::Module<T>> module;  // null for a loss
  std::function<Tensor<T>(const Inputs<T>&)> call;
};

template <class T, class M>
Built<T> layer(std::shared_ptr<M> m) {
  return {m, [m](const Inputs<T>& in) { return m->forward(in[0]); }};
}

// The functional form: (spec, differentiable-or-not inputs, parameters in named_parameters()
// order, buffers by name) -> output.
using Functional =
    std::function<Tensor<double>(const Spec&, const Inputs<double>&, const Inputs<double>&,
                                 const std::map<std::string, Tensor<double>>&)>;

struct Kind {
  std::function<Built<double>(const Spec&)> make64;
  std::function<Built<float>(const Spec&)> make32;
  Functional functional;

  template <class T>
  Built<T> make(const Spec& s) const {
    if constexpr (std::is_same_v<T, double>)
      return make64(s);
    else
      return make32(s);
  }
};

// `make` is a generic lambda (spec, T{}) -> Built<T>, instantiated for double and float.
template <class F>
Kind kind(F make, Functional functional) {
  return {[make](const Spec& s) { return make(s, double{}); },
          [make](const Spec& s) { return make(s, float{}); }, std::move(functional)};
}

Tensor<double> optional(const Inputs<double>& p, size_t i) {
  return i < p.size() ? p[i] : Tensor<double>();
}

nabla::Conv2dOptions conv_options(const Spec& s, bool transposed) {
  nabla::Conv2dOptions o;
  o.stride = s.pair("stride");
  o.padding = s.pair("padding");
  o.dilation = s.pair("dilation");
  if (transposed) o.output_padding = s.pair("output_padding");
  return o;
}

bool square(std::array<int64_t, 2> a) { return a[0] == a[1]; }

// BatchNorm through the functional op: batch statistics in training (no running tensors, so that
// gradcheck's many calls change nothing), the fixture's running statistics in eval.
Tensor<double> batch_norm_functional(const Spec& s, const Inputs<double>& in,
                                     const Inputs<double>& p,
                                     const std::map<std::string, Tensor<double>>& buffers) {
  const bool training = s.word("mode") == "train", track = s.b("track");
  Tensor<double> mean, var;
  if (!training && track) {
    mean = buffers.at("running_mean").clone();
    var = buffers.at("running_var").clone();
  }
  return nabla::batch_norm(in[0], mean, var, optional(p, 0), optional(p, 1), training,
                           s.f("momentum"), s.f("eps"));
}

// A fixture's class indices (float64 integers) as the int64 target of a class-index loss.
template <class T>
nabla::Tensor<int64_t> labels_of(const nabla::Tensor<T>& t) {
  const std::vector<T> v = t.to_vector();
  const std::vector<int64_t> l(v.begin(), v.end());
  return nabla::Tensor<int64_t>::from(std::span<const int64_t>(l), t.shape());
}
template <class T>
nabla::nn::CrossEntropyLoss<T> with_weight(const nabla::nn::CrossEntropyLoss<T>& loss,
                                           const nabla::Tensor<T>& weight) {
  nabla::CrossEntropyOptions<T> o = loss.options();
  o.weight = weight;
  return nabla::nn::CrossEntropyLoss<T>(o);
}

const std::map<std::string, Kind>& kinds() {
  using namespace nabla;
  using Buffers = std::map<std::string, Tensor<double>>;
  static const std::map<std::string, Kind> table = {
      {"Linear", kind(
                     [](const Spec& s, auto t) {
                       using T = decltype(t);
                       return layer<T>(
                           std::make_shared<nn::Linear<T>>(s.i("in"), s.i("out"), s.b("bias")));
                     },
                     [](const Spec&, const Inputs<double>& in, const Inputs<double>& p,
                        const Buffers&) { return linear(in[0], p[0], optional(p, 1)); })},
      {"Maxout",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::Maxout<T>>(s.i("in"), s.i("out"), s.i("pieces")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             const Tensor<double> z = linear(in[0], p[0], p[1]);
             return nabla::max(z.view({in[0].shape()[0], s.i("out"), s.i("pieces")}), 2).values;
           })},
      // Square settings go through the Conv(ci, co, k, s, p) constructor, the others through
      // the array one.
      {"Conv2d",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const auto k = s.pair("kernel");
             const Conv2dOptions o = conv_options(s, false);
             if (square(k) && square(o.stride) && square(o.padding) && square(o.dilation))
               return layer<T>(std::make_shared<nn::Conv2d<T>>(s.i("in"), s.i("out"), k[0],
                                                               o.stride[0], o.padding[0],
                                                               s.b("bias"), o.dilation[0]));
             return layer<T>(
                 std::make_shared<nn::Conv2d<T>>(s.i("in"), s.i("out"), k, o, s.b("bias")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             return conv2d(in[0], p[0], optional(p, 1), conv_options(s, false));
           })},
      {"ConvTranspose2d",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const auto k = s.pair("kernel");
             const Conv2dOptions o = conv_options(s, true);
             if (square(k) && square(o.stride) && square(o.padding) && square(o.dilation) &&
                 square(o.output_padding))
               return layer<T>(std::make_shared<nn::ConvTranspose2d<T>>(
                   s.i("in"), s.i("out"), k[0], o.stride[0], o.padding[0], o.output_padding[0],
                   s.b("bias"), o.dilation[0]));
             return layer<T>(std::make_shared<nn::ConvTranspose2d<T>>(s.i("in"), s.i("out"), k, o,
                                                                      s.b("bias")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             return conv_transpose2d(in[0], p[0], optional(p, 1), conv_options(s, true));
           })},
      {"MaxPool2d",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(
                 std::make_shared<nn::MaxPool2d<T>>(s.i("kernel"), s.i("stride"), s.i("padding")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             const int64_t k = s.i("kernel"), st = s.i("stride"), pad = s.i("padding");
             return max_pool2d(in[0], {k, k}, {st, st}, {pad, pad});
           })},
      {"AvgPool2d",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::AvgPool2d<T>>(
                 s.i("kernel"), s.i("stride"), s.i("padding"), s.b("count_include_pad")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             const int64_t k = s.i("kernel"), st = s.i("stride"), pad = s.i("padding");
             return avg_pool2d(in[0], {k, k}, {st, st}, {pad, pad}, s.b("count_include_pad"));
           })},
      {"AdaptiveAvgPool2d",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::AdaptiveAvgPool2d<T>>(s.pair("size")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return adaptive_avg_pool2d(in[0], s.pair("size"));
           })},
      {"Upsample", kind(
                       [](const Spec& s, auto t) {
                         using T = decltype(t);
                         return layer<T>(std::make_shared<nn::Upsample<T>>(s.i("scale")));
                       },
                       [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                          const Buffers&) { return upsample_nearest2d(in[0], s.i("scale")); })},
      {"Flatten", kind(
                      [](const Spec& s, auto t) {
                        using T = decltype(t);
                        return layer<T>(std::make_shared<nn::Flatten<T>>(s.i("start"), s.i("end")));
                      },
                      [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                         const Buffers&) { return in[0].flatten(s.i("start"), s.i("end")); })},
      {"View", kind(
                   [](const Spec& s, auto t) {
                     using T = decltype(t);
                     return layer<T>(std::make_shared<nn::View<T>>(s.shape("shape")));
                   },
                   [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                      const Buffers&) { return in[0].view(s.shape("shape")); })},
      {"Reshape", kind(
                      [](const Spec& s, auto t) {
                        using T = decltype(t);
                        return layer<T>(std::make_shared<nn::Reshape<T>>(s.shape("shape")));
                      },
                      [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                         const Buffers&) { return in[0].reshape(s.shape("shape")); })},
      {"ReLU", kind(
                   [](const Spec&, auto t) {
                     using T = decltype(t);
                     return layer<T>(std::make_shared<nn::ReLU<T>>());
                   },
                   [](const Spec&, const Inputs<double>& in, const Inputs<double>&,
                      const Buffers&) { return relu(in[0]); })},
      {"LeakyReLU", kind(
                        [](const Spec& s, auto t) {
                          using T = decltype(t);
                          return layer<T>(std::make_shared<nn::LeakyReLU<T>>(s.f("slope")));
                        },
                        [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                           const Buffers&) { return leaky_relu(in[0], s.f("slope")); })},
      {"Sigmoid", kind(
                      [](const Spec&, auto t) {
                        using T = decltype(t);
                        return layer<T>(std::make_shared<nn::Sigmoid<T>>());
                      },
                      [](const Spec&, const Inputs<double>& in, const Inputs<double>&,
                         const Buffers&) { return sigmoid(in[0]); })},
      {"Tanh", kind(
                   [](const Spec&, auto t) {
                     using T = decltype(t);
                     return layer<T>(std::make_shared<nn::Tanh<T>>());
                   },
                   [](const Spec&, const Inputs<double>& in, const Inputs<double>&,
                      const Buffers&) { return nabla::tanh(in[0]); })},
      {"ELU", kind(
                  [](const Spec& s, auto t) {
                    using T = decltype(t);
                    return layer<T>(std::make_shared<nn::ELU<T>>(s.f("alpha")));
                  },
                  [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                     const Buffers&) { return elu(in[0], s.f("alpha")); })},
      {"SiLU", kind(
                   [](const Spec&, auto t) {
                     using T = decltype(t);
                     return layer<T>(std::make_shared<nn::SiLU<T>>());
                   },
                   [](const Spec&, const Inputs<double>& in, const Inputs<double>&,
                      const Buffers&) { return silu(in[0]); })},
      {"GELU", kind(
                   [](const Spec& s, auto t) {
                     using T = decltype(t);
                     return layer<T>(std::make_shared<nn::GELU<T>>(s.word("approximate")));
                   },
                   [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                      const Buffers&) { return gelu(in[0], s.word("approximate")); })},
      {"Softplus",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::Softplus<T>>(s.f("beta"), s.f("threshold")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return softplus(in[0], s.f("beta"), s.f("threshold"));
           })},
      {"Softmax", kind(
                      [](const Spec& s, auto t) {
                        using T = decltype(t);
                        return layer<T>(std::make_shared<nn::Softmax<T>>(s.i("dim")));
                      },
                      [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                         const Buffers&) { return softmax(in[0], s.i("dim")); })},
      {"LogSoftmax", kind(
                         [](const Spec& s, auto t) {
                           using T = decltype(t);
                           return layer<T>(std::make_shared<nn::LogSoftmax<T>>(s.i("dim")));
                         },
                         [](const Spec& s, const Inputs<double>& in, const Inputs<double>&,
                            const Buffers&) { return log_softmax(in[0], s.i("dim")); })},
      {"Embedding",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             std::optional<int64_t> padding;
             if (s.has("padding")) padding = s.i("padding");
             return layer<T>(std::make_shared<nn::Embedding<T>>(s.i("num"), s.i("dim"), padding));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             std::optional<int64_t> padding;
             if (s.has("padding")) padding = s.i("padding");
             return embedding(labels_of(in[0]), p[0], padding);
           })},
      {"Dropout",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::Dropout<T>>(s.f("p")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return dropout(in[0], s.f("p"), s.word("mode") == "train");
           })},
      {"LayerNorm",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(
                 std::make_shared<nn::LayerNorm<T>>(s.shape("shape"), s.f("eps"), s.b("affine")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             return layer_norm(in[0], s.shape("shape"), optional(p, 0), optional(p, 1), s.f("eps"));
           })},
      {"InstanceNorm2d",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::InstanceNorm2d<T>>(s.i("features"), s.f("eps"),
                                                                     s.b("affine")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             return instance_norm(in[0], optional(p, 0), optional(p, 1), s.f("eps"));
           })},
      {"GroupNorm",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             return layer<T>(std::make_shared<nn::GroupNorm<T>>(s.i("groups"), s.i("channels"),
                                                                s.f("eps"), s.b("affine")));
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>& p, const Buffers&) {
             return group_norm(in[0], s.i("groups"), optional(p, 0), optional(p, 1), s.f("eps"));
           })},
      {"BatchNorm1d", kind(
                          [](const Spec& s, auto t) {
                            using T = decltype(t);
                            return layer<T>(std::make_shared<nn::BatchNorm1d<T>>(
                                s.i("features"), s.f("eps"), s.f("momentum"), s.b("affine"),
                                s.b("track")));
                          },
                          batch_norm_functional)},
      {"BatchNorm2d", kind(
                          [](const Spec& s, auto t) {
                            using T = decltype(t);
                            return layer<T>(std::make_shared<nn::BatchNorm2d<T>>(
                                s.i("features"), s.f("eps"), s.f("momentum"), s.b("affine"),
                                s.b("track")));
                          },
                          batch_norm_functional)},
      {"MSELoss",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const nn::MSELoss<T> loss(reduction(s));
             return Built<T>{nullptr, [loss](const Inputs<T>& in) { return loss(in[0], in[1]); }};
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return mse_loss(in[0], in[1], reduction(s));
           })},
      {"BCELoss",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const nn::BCELoss<T> loss(reduction(s));
             return Built<T>{nullptr, [loss](const Inputs<T>& in) { return loss(in[0], in[1]); }};
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return binary_cross_entropy(in[0], in[1], reduction(s));
           })},
      {"BCEWithLogitsLoss",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const nn::BCEWithLogitsLoss<T> loss(reduction(s));
             return Built<T>{nullptr, [loss](const Inputs<T>& in) { return loss(in[0], in[1]); }};
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return binary_cross_entropy_with_logits(in[0], in[1], reduction(s));
           })},
      {"CrossEntropyLoss",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const nn::CrossEntropyLoss<T> loss({.ignore_index = s.i("ignore"),
                                                 .reduction = reduction(s),
                                                 .label_smoothing = s.f("smoothing")});
             const bool weighted = s.b("weighted"), probs = s.b("probs");
             return Built<T>{nullptr, [loss, weighted, probs](const Inputs<T>& in) {
                               nn::CrossEntropyLoss<T> l = loss;
                               if (weighted) l = with_weight(loss, in[2]);
                               return probs ? l(in[0], in[1]) : l(in[0], labels_of(in[1]));
                             }};
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             CrossEntropyOptions<double> o{.ignore_index = s.i("ignore"),
                                           .reduction = reduction(s),
                                           .label_smoothing = s.f("smoothing")};
             if (s.b("weighted")) o.weight = in[2];
             return s.b("probs") ? cross_entropy(in[0], in[1], o)
                                 : cross_entropy(in[0], labels_of(in[1]), o);
           })},
      {"NLLLoss",
       kind(
           [](const Spec& s, auto t) {
             using T = decltype(t);
             const int64_t ignore = s.i("ignore");
             const Reduction red = reduction(s);
             const bool weighted = s.b("weighted");
             return Built<T>{nullptr, [ignore, red, weighted](const Inputs<T>& in) {
                               const nn::NLLLoss<T> loss({.weight = weighted ? in[2] : Tensor<T>(),
                                                          .ignore_index = ignore,
                                                          .reduction = red});
                               return loss(in[0], labels_of(in[1]));
                             }};
           },
           [](const Spec& s, const Inputs<double>& in, const Inputs<double>&, const Buffers&) {
             return nll_loss(in[0], labels_of(in[1]),
                             {.weight = s.b("weighted") ? in[2] : Tensor<double>(),
                              .ignore_index = s.i("ignore"),
                              .reduction = reduction(s)});
           })},
  };
  return table;
}

// ------------------------------------------------------------------------------------------
// Fixture checks: the roles each kind of case may carry, and a record of which were compared.

// Every tensor of a case must be compared by the test; Used records which were.
class Used {
 public:
  explicit Used(const FixtureCase& c) : c_(c) {}
  const FixtureTensor& need(const std::string& role) {
    const FixtureTensor* t = c_.find(role);
    if (!t) throw std::runtime_error("case " + c_.name + ": the fixture has no tensor " + role);
    used_.insert(role);
    return *t;
  }
  const FixtureTensor* find(const std::string& role) {
    const FixtureTensor* t = c_.find(role);
    if (t) used_.insert(role);
    return t;
  }
  // The roles starting with prefix, minus the prefix.
  std::vector<std::string> names(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& entry : c_.tensors)
      if (starts_with(entry.first, prefix)) out.push_back(entry.first.substr(prefix.size()));
    return out;
  }
  void check_all_used() const {
    std::string unused;
    for (const auto& entry : c_.tensors)
      if (!used_.count(entry.first)) unused += " " + entry.first;
    INFO("fixture tensors of case " << c_.name << " that the test did not compare:" << unused);
    CHECK(unused.empty());
  }

 private:
  const FixtureCase& c_;
  std::set<std::string> used_;
};

void finish_layer_case(FixtureCase& c, const std::string& path, int line) {
  auto fail = [&](const std::string& m) { parse_error(path, line, "case " + c.name + ": " + m); };
  if (c.num_inputs == 0) fail("no inputs");
  if (!c.find("out") || !c.find("gout")) fail("no out or gout");
  for (int k : c.requires_grad) {
    if (k < 0 || k >= c.num_inputs) fail("requires_grad names input " + std::to_string(k));
    if (!c.find("grad" + std::to_string(k))) fail("no grad" + std::to_string(k));
  }
  for (const auto& entry : c.tensors) {
    const std::string& role = entry.first;
    if (starts_with(role, "param.") && !c.find("grad." + role.substr(6)))
      fail("no gradient for " + role);
    if (starts_with(role, "buffer.") && !c.find("buffer_after1." + role.substr(7)))
      fail("no update of " + role);
  }
  // gradcheck needs something to differentiate: an input, or a parameter (Embedding's weight).
  bool has_param = false;
  for (const auto& entry : c.tensors) has_param = has_param || starts_with(entry.first, "param.");
  if (c.gradcheck && c.requires_grad.empty() && !has_param)
    fail("gradcheck without differentiable inputs or parameters");
}

void finish_optim_case(FixtureCase& c, const std::string& path, int line) {
  if (!c.find("lr") || !c.find("param.0"))
    parse_error(path, line, "case " + c.name + ": no lr or param.0");
}

void finish_gan_case(FixtureCase& c, const std::string& path, int line) {
  for (const char* role :
       {"real", "z_fake", "z_gen", "fake", "loss_d_real", "loss_d_fake", "loss_g"})
    if (!c.find(role)) parse_error(path, line, "case " + c.name + ": no " + role);
}

std::string fixture_path(const std::string& file) {
  return std::string(NABLA_TEST_FIXTURES) + "/" + file;
}

// The number of cases tools/gen_nn_fixtures.py wrote to each file: a shorter file is a damaged one.
struct FixtureFile {
  std::string name;
  int cases;
  golden::FinishCase finish;
};
const std::vector<FixtureFile>& fixture_files() {
  static const std::vector<FixtureFile> files = {
      {"nn_layers.txt", 48, finish_layer_case}, {"nn_norm.txt", 20, finish_layer_case},
      {"nn_loss.txt", 17, finish_layer_case},   {"nn_optim.txt", 16, finish_optim_case},
      {"nn_gan.txt", 1, finish_gan_case},
  };
  return files;
}

Fixture read_checked(const std::string& file) {
  const FixtureFile* entry = nullptr;
  for (const auto& f : fixture_files())
    if (f.name == file) entry = &f;
  REQUIRE(entry != nullptr);
  const Fixture fixture = golden::read_fixture(fixture_path(file), entry->finish);
  INFO(file << " declares " << fixture.declared_count << " cases, has " << fixture.cases.size()
            << "; the generator wrote " << entry->cases);
  REQUIRE(static_cast<int>(fixture.cases.size()) == fixture.declared_count);
  REQUIRE(static_cast<int>(fixture.cases.size()) >= entry->cases);
  return fixture;
}

template <class F>
void guarded(const char* what, F f) {
  try {
    f();
  } catch (const std::exception& e) {
    FAIL_CHECK(what << " threw: " << e.what());
  }
}

#define CHECK_SAME(diff_expr)            \
  do {                                   \
    const std::string diff_ = diff_expr; \
    INFO(diff_);                         \
    CHECK(diff_.empty());                \
  } while (0)

template <class T>
void assign(Tensor<T>& dst, const FixtureTensor& src) {
  nabla::NoGradGuard no_grad;
  dst.copy_(make_tensor<T>(src));
}

// ------------------------------------------------------------------------------------------
// Layer and loss cases

template <class T>
void check_layer(const FixtureCase& c, const Kind& kind, bool check_coverage) {
  const std::string type = type_name<T>();
  const Tolerance tol = golden::tolerance<T>();
  const Spec spec(c.op);
  Used used(c);
  Built<T> built = kind.make<T>(spec);

  nabla::nn::NamedTensors<T> params, buffers;
  if (built.module) {
    if (spec.has("mode")) built.module->train(spec.word("mode") == "train");
    params = built.module->named_parameters();
    buffers = built.module->named_buffers();
  }
  if (check_coverage) spec.check_all_used();
  // The layer has exactly the parameters and buffers PyTorch's has.
  std::set<std::string> nabla_params, nabla_buffers;
  for (auto& [name, p] : params) {
    nabla_params.insert(name);
    assign(p, used.need("param." + name));
  }
  for (auto& [name, b] : buffers) {
    nabla_buffers.insert(name);
    assign(b, used.need("buffer." + name));
  }
  const auto torch_params = used.names("param."), torch_buffers = used.names("buffer.");
  CHECK(nabla_params == std::set<std::string>(torch_params.begin(), torch_params.end()));
  CHECK(nabla_buffers == std::set<std::string>(torch_buffers.begin(), torch_buffers.end()));

  Inputs<T> inputs;
  for (int k = 0; k < c.num_inputs; ++k)
    inputs.push_back(make_tensor<T>(used.need("in" + std::to_string(k))));
  for (int k : c.requires_grad) inputs[static_cast<size_t>(k)].requires_grad_();
  const Tensor<T> out = built.call(inputs);
  CHECK_SAME(compare(type + " forward", out, used.need("out"), tol));

  out.backward(make_tensor<T>(used.need("gout")));
  for (int k : c.requires_grad) {
    const std::string role = "grad" + std::to_string(k);
    CHECK_SAME(
        compare(type + " " + role, inputs[static_cast<size_t>(k)].grad(), used.need(role), tol));
  }
  for (auto& [name, p] : params)
    CHECK_SAME(compare(type + " grad." + name, p.grad(), used.need("grad." + name), tol));
  for (auto& [name, b] : buffers)
    CHECK_SAME(
        compare(type + " " + name + " after the call", b, used.need("buffer_after1." + name), tol));

  if (const FixtureTensor* next = used.find("next_in0")) {
    nabla::NoGradGuard no_grad;
    built.call({make_tensor<T>(*next)});
    for (auto& [name, b] : buffers)
      CHECK_SAME(compare(type + " " + name + " after a second call", b,
                         used.need("buffer_after2." + name), tol));
  }
  if (check_coverage) used.check_all_used();
}

// Sets the number of threads for its scope.
class Threads {
 public:
  explicit Threads(int n) : previous_(nabla::get_num_threads()) { nabla::set_num_threads(n); }
  ~Threads() { nabla::set_num_threads(previous_); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

 private:
  int previous_;
};

// gradcheck over the differentiable inputs and every parameter, through the functional op.
// It calls the op twice per element, so it runs on one thread: a thread team per call costs
// seconds when the cores are busy (the parallel paths have their own test below).
void check_layer_gradcheck(const FixtureCase& c, const Kind& kind) {
  const Threads one_thread(1);
  const Spec spec(c.op);
  const Built<double> built = kind.make<double>(spec);
  Inputs<double> inputs, params;
  std::map<std::string, Tensor<double>> buffers;
  for (int k = 0; k < c.num_inputs; ++k)
    inputs.push_back(make_tensor<double>(*c.find("in" + std::to_string(k))));
  if (built.module) {
    for (auto& [name, p] : built.module->named_parameters())
      params.push_back(make_tensor<double>(*c.find("param." + name)));
    for (auto& [name, b] : built.module->named_buffers())
      buffers.emplace(name, make_tensor<double>(*c.find("buffer." + name)));
  }
  const std::vector<int> diff = c.requires_grad;
  const Functional& f = kind.functional;
  nabla::GradcheckFn fn = [&](const Inputs<double>& xs) {
    Inputs<double> in = inputs, p;
    for (size_t i = 0; i < diff.size(); ++i) in[static_cast<size_t>(diff[i])] = xs[i];
    p.assign(xs.begin() + static_cast<std::ptrdiff_t>(diff.size()), xs.end());
    return f(spec, in, p, buffers);
  };
  Inputs<double> variables;
  for (int k : diff) variables.push_back(inputs[static_cast<size_t>(k)]);
  variables.insert(variables.end(), params.begin(), params.end());
  const nabla::GradcheckResult result = nabla::gradcheck(fn, variables);
  const size_t worst = result.input >= 0 ? static_cast<size_t>(result.input) : 0;
  INFO("the worst element is in " << (result.input < 0 ? std::string("none")
                                      : worst < diff.size()
                                          ? "input " + std::to_string(diff[worst])
                                          : "parameter " + std::to_string(worst - diff.size())));
  INFO(result.message);
  CHECK(result.ok);
}

void run_layer_fixture(const std::string& file) {
  const Fixture fixture = read_checked(file);
  for (const FixtureCase& c : fixture.cases) {
    INFO("case " << c.name << " (" << c.where << "), op " << c.op);
    const std::string kind_name = Spec(c.op).kind();
    const auto it = kinds().find(kind_name);
    if (it == kinds().end()) {
      FAIL_CHECK("no C++ implementation of '" << kind_name << "' in test_nn_golden.cpp's table");
      continue;
    }
    guarded("double run", [&] { check_layer<double>(c, it->second, /*check_coverage=*/true); });
    guarded("float run", [&] { check_layer<float>(c, it->second, false); });
    if (c.gradcheck) guarded("gradcheck", [&] { check_layer_gradcheck(c, it->second); });
  }
}

}  // namespace

namespace {
// conv2d takes its direct path (gather GEMM, no im2col matrix) from this many output channels
// on CPUs with nabla's GEMM kernel; the golden cases are small, so every path is forced in turn.
// With min_channels 0 every convolution goes through im2col (conv_direct off); with a huge one,
// stride-1 convolutions take the row kernels.
struct ConvPath {
  int64_t saved = nabla::detail::conv_direct_min_channels;
  bool saved_direct = nabla::detail::conv_direct;
  explicit ConvPath(int64_t min_channels) {
    nabla::detail::conv_direct_min_channels = min_channels;
    nabla::detail::conv_direct = min_channels > 0;
  }
  ~ConvPath() {
    nabla::detail::conv_direct_min_channels = saved;
    nabla::detail::conv_direct = saved_direct;
  }
};
constexpr int64_t kConvPaths[] = {1, int64_t{1} << 40, 0};  // gather GEMM, row kernels, im2col
}  // namespace

TEST_CASE(
    "golden: Linear, Maxout, Embedding, convolutions, pooling, shapes and activations match "
    "PyTorch",
    "[golden][nn][layers]") {
  for (int64_t min_channels : kConvPaths) {
    const ConvPath path(min_channels);
    INFO("conv2d direct from " << min_channels << " output channels");
    run_layer_fixture("nn_layers.txt");
  }
}
TEST_CASE(
    "golden: LayerNorm, InstanceNorm2d, GroupNorm and BatchNorm match PyTorch, running statistics "
    "included",
    "[golden][nn][norm]") {
  run_layer_fixture("nn_norm.txt");
}
TEST_CASE("golden: MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss and NLLLoss match PyTorch",
          "[golden][nn][loss]") {
  run_layer_fixture("nn_loss.txt");
}

// ------------------------------------------------------------------------------------------
// Optimisers

namespace {

template <class T>
std::unique_ptr<nabla::optim::Optimizer<T>> make_optimizer(const Spec& s,
                                                           std::vector<Tensor<T>> params) {
  using namespace nabla::optim;
  if (s.kind() == "SGD")
    return std::make_unique<SGD<T>>(std::move(params),
                                    SGDOptions{.lr = s.f("lr"),
                                               .momentum = s.f("momentum"),
                                               .dampening = s.f("dampening"),
                                               .weight_decay = s.f("weight_decay"),
                                               .nesterov = s.b("nesterov")});
  if (s.kind() == "Adam")
    return std::make_unique<Adam<T>>(std::move(params),
                                     AdamOptions{.lr = s.f("lr"),
                                                 .beta1 = s.f("beta1"),
                                                 .beta2 = s.f("beta2"),
                                                 .eps = s.f("eps"),
                                                 .weight_decay = s.f("weight_decay"),
                                                 .amsgrad = s.b("amsgrad")});
  if (s.kind() == "AdamW")
    return std::make_unique<AdamW<T>>(std::move(params),
                                      AdamWOptions{.lr = s.f("lr"),
                                                   .beta1 = s.f("beta1"),
                                                   .beta2 = s.f("beta2"),
                                                   .eps = s.f("eps"),
                                                   .weight_decay = s.f("weight_decay"),
                                                   .amsgrad = s.b("amsgrad")});
  if (s.kind() == "RMSprop")
    return std::make_unique<RMSprop<T>>(std::move(params),
                                        RMSpropOptions{.lr = s.f("lr"),
                                                       .alpha = s.f("alpha"),
                                                       .eps = s.f("eps"),
                                                       .weight_decay = s.f("weight_decay"),
                                                       .momentum = s.f("momentum"),
                                                       .centered = s.b("centered")});
  throw std::runtime_error("no optimiser " + s.kind());
}

// Parameters: relative 1e-5 in float (1e-6 absolute near zero), 1e-10 in double. The state's
// second moments are small (squared gradients), so they are compared relatively.
template <class T>
constexpr Tolerance param_tolerance() {
  if constexpr (std::is_same_v<T, double>)
    return {1e-12, 1e-10};
  else
    return {1e-6, 1e-5};
}
template <class T>
constexpr Tolerance state_tolerance() {
  if constexpr (std::is_same_v<T, double>)
    return {1e-14, 1e-10};
  else
    return {1e-9, 1e-4};
}

template <class T>
void check_optimizer(const FixtureCase& c) {
  const std::string type = type_name<T>();
  const Spec spec(c.op);
  Used used(c);
  std::vector<Tensor<T>> params;
  for (size_t i = 0; used.find("param." + std::to_string(i)); ++i)
    params.push_back(make_tensor<T>(used.need("param." + std::to_string(i))).requires_grad_());
  auto opt = make_optimizer<T>(spec, params);
  spec.check_all_used();
  const std::vector<double> lrs = used.need("lr").values;
  for (size_t step = 1; step <= lrs.size(); ++step) {
    opt->set_lr(lrs[step - 1]);
    for (size_t i = 0; i < params.size(); ++i) {
      const FixtureTensor* g = used.find("grad@" + std::to_string(step) + "." + std::to_string(i));
      if (g)
        params[i].set_grad(make_tensor<T>(*g));
      else
        params[i].zero_grad(/*set_to_none=*/true);
    }
    opt->step();
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string role = "param@" + std::to_string(step) + "." + std::to_string(i);
      CHECK_SAME(compare(type + " " + role, params[i], used.need(role), param_tolerance<T>()));
    }
  }
  // The state after the last step: every tensor PyTorch keeps, and no other.
  const Tolerance tol = state_tolerance<T>();
  auto check_state = [&](size_t i, const std::string& name, const Tensor<T>& got) {
    const std::string role = "state." + std::to_string(i) + "." + name;
    if (const FixtureTensor* want = used.find(role))
      CHECK_SAME(compare(type + " " + role, got, *want, tol));
    else {
      INFO(type << ": nabla has " << role << ", PyTorch has not");
      CHECK_FALSE(got.defined());
    }
  };
  for (size_t i = 0; i < params.size(); ++i) {
    if (auto* sgd = dynamic_cast<nabla::optim::SGD<T>*>(opt.get())) {
      check_state(i, "momentum_buffer", sgd->momentum_buffer(i));
    } else if (auto* rms = dynamic_cast<nabla::optim::RMSprop<T>*>(opt.get())) {
      const auto& s = rms->state(i);
      check_state(i, "square_avg", s.square_avg);
      check_state(i, "momentum_buffer", s.momentum_buffer);
      check_state(i, "grad_avg", s.grad_avg);
      CHECK(static_cast<double>(s.step) ==
            used.need("state." + std::to_string(i) + ".step").values.at(0));
    } else {
      const auto& s = dynamic_cast<nabla::optim::Adam<T>&>(*opt).state(i);
      check_state(i, "exp_avg", s.exp_avg);
      check_state(i, "exp_avg_sq", s.exp_avg_sq);
      check_state(i, "max_exp_avg_sq", s.max_exp_avg_sq);
      CHECK(static_cast<double>(s.step) ==
            used.need("state." + std::to_string(i) + ".step").values.at(0));
    }
  }
  used.check_all_used();
}

}  // namespace

TEST_CASE("golden: SGD, Adam, AdamW and RMSprop follow PyTorch's 20-step trajectories",
          "[golden][nn][optim]") {
  const Fixture fixture = read_checked("nn_optim.txt");
  for (const FixtureCase& c : fixture.cases) {
    INFO("case " << c.name << " (" << c.where << "), op " << c.op);
    guarded("double run", [&] { check_optimizer<double>(c); });
    guarded("float run", [&] { check_optimizer<float>(c); });
  }
}

// ------------------------------------------------------------------------------------------
// One iteration of GAN_VARIANTS.md row 3

namespace {

// The splitmix64 draws of tools/gen_nn_fixtures.py: k * 2^(e - 22), k the top 23 bits - 2^22.
std::vector<double> splitmix_values(uint64_t seed, int64_t n, int e) {
  std::vector<double> out;
  uint64_t state = seed;
  for (int64_t i = 0; i < n; ++i) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    out.push_back(std::ldexp(
        static_cast<double>(static_cast<int64_t>(z >> 41) - (int64_t{1} << 22)), e - 22));
  }
  return out;
}

// PyTorch's Adam (1.13, single tensor) on one element, from p0 over the given gradients.
double adam_rebuild(double p, const std::vector<double>& grads, double lr) {
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double m = 0, v = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const double g = grads[i], step = static_cast<double>(i + 1);
    m = m * beta1 + g * (1 - beta1);
    v = v * beta2 + (1 - beta2) * g * g;
    const double bc1 = 1 - std::pow(beta1, step), bc2 = 1 - std::pow(beta2, step);
    p = p - (lr / bc1) * (m / (std::sqrt(v) / std::sqrt(bc2) + eps));
  }
  return p;
}

template <class T>
nabla::nn::Sequential<T> row3_net(int64_t in, int64_t hidden, int64_t out, double slope) {
  using namespace nabla::nn;
  return Sequential<T>(Linear<T>(in, hidden), LeakyReLU<T>(slope), LayerNorm<T>(Shape{hidden}),
                       Linear<T>(hidden, out), Sigmoid<T>());
}

// Updated weights move by about lr per step; compare them far more tightly than that.
template <class T>
constexpr Tolerance gan_tolerance() {
  if constexpr (std::is_same_v<T, double>)
    return {1e-12, 1e-10};
  else
    return {1e-7, 1e-6};
}

template <class T>
void check_gan_row3(const FixtureCase& c) {
  using namespace nabla;
  const std::string type = type_name<T>();
  const Spec spec(c.op);
  Used used(c);
  const double lr = spec.f("lr");
  auto G = row3_net<T>(spec.i("zdim"), spec.i("hidden"), spec.i("image"), spec.f("slope"));
  auto D = row3_net<T>(spec.i("image"), spec.i("hidden"), 1, spec.f("slope"));
  spec.check_all_used();

  std::map<std::string, Tensor<T>> params;  // "G.0.weight" -> G's parameter
  std::map<std::string, std::vector<double>> initial;
  for (auto [prefix, net] : {std::pair<std::string, nn::Sequential<T>*>{"G.", &G}, {"D.", &D}})
    for (auto& [name, p] : net->named_parameters()) {
      const std::string key = prefix + name;
      params[key] = p;
      if (const FixtureTensor* init = used.find("init." + key)) {
        const auto values = splitmix_values(static_cast<uint64_t>(init->values.at(0)), p.numel(),
                                            static_cast<int>(init->values.at(1)));
        NoGradGuard no_grad;
        std::vector<T> cast(values.begin(), values.end());
        p.copy_(Tensor<T>::from(cast, p.shape()));
      }
      const std::vector<T> values = p.to_vector();
      initial[key] = std::vector<double>(values.begin(), values.end());
    }

  optim::Adam<T> opt_d(D.parameters(), lr), opt_g(G.parameters(), lr);
  const nn::BCELoss<T> bce;
  std::map<std::string, std::vector<Tensor<T>>> grads;  // the gradients each step used
  auto keep_grads = [&](const std::string& prefix) {
    for (auto& [key, p] : params)
      if (starts_with(key, prefix)) grads[key].push_back(p.grad().clone());
  };
  auto d_train = [&](const Tensor<T>& x, T target) {
    const Tensor<T> loss = bce(D(x), Tensor<T>::full({1}, target));
    opt_d.zero_grad();
    loss.backward();
    keep_grads("D.");
    opt_d.step();
    return loss;
  };
  const Tolerance tol = golden::tolerance<T>();
  const Tensor<T> real = make_tensor<T>(used.need("real"));
  CHECK_SAME(
      compare(type + " D loss on the real image", d_train(real, 1), used.need("loss_d_real"), tol));
  const Tensor<T> fake = G(make_tensor<T>(used.need("z_fake"))).detach();
  CHECK_SAME(compare(type + " G(z_fake)", fake, used.need("fake"), tol));
  CHECK_SAME(
      compare(type + " D loss on G(z).detach()", d_train(fake, 0), used.need("loss_d_fake"), tol));
  const Tensor<T> loss_g =
      bce(D(G(make_tensor<T>(used.need("z_gen")))), Tensor<T>::full({1}, T(1)));
  opt_g.zero_grad();
  loss_g.backward();
  keep_grads("G.");
  opt_g.step();
  CHECK_SAME(compare(type + " G loss", loss_g, used.need("loss_g"), tol));

  const Tolerance ptol = gan_tolerance<T>();
  for (auto& [key, p] : params) {
    if (const FixtureTensor* want = used.find("final." + key)) {
      CHECK_SAME(compare(type + " updated " + key, p, *want, ptol));
      continue;
    }
    // A large weight matrix: PyTorch's gradients are outer products; PyTorch's Adam on them gives
    // its updated matrix (tools/gen_nn_fixtures.py checks that), rebuilt here per element.
    const int64_t rows = p.shape()[0], cols = p.shape()[1];
    std::vector<FixtureTensor> outer;
    for (size_t s = 1; used.find("gradu@" + std::to_string(s) + "." + key); ++s) {
      const auto& u = used.need("gradu@" + std::to_string(s) + "." + key).values;
      const auto& v = used.need("gradv@" + std::to_string(s) + "." + key).values;
      REQUIRE(static_cast<int64_t>(u.size()) == rows);
      REQUIRE(static_cast<int64_t>(v.size()) == cols);
      FixtureTensor g{false, {rows, cols}, {}};
      for (double ui : u)
        for (double vj : v) g.values.push_back(ui * vj);
      outer.push_back(std::move(g));
    }
    INFO(key << " took " << grads[key].size() << " steps, the fixture has " << outer.size());
    REQUIRE(outer.size() == grads[key].size());
    for (size_t s = 0; s < outer.size(); ++s)
      CHECK_SAME(compare(type + " gradient of " + key + " at step " + std::to_string(s + 1),
                         grads[key][s], outer[s], tol));
    FixtureTensor rebuilt{false, {rows, cols}, {}};
    for (int64_t e = 0; e < rows * cols; ++e) {
      std::vector<double> g;
      for (const auto& o : outer) g.push_back(o.values[static_cast<size_t>(e)]);
      rebuilt.values.push_back(adam_rebuild(initial[key][static_cast<size_t>(e)], g, lr));
    }
    CHECK_SAME(compare(type + " updated " + key, p, rebuilt, ptol));
    // PyTorch's own values at a few positions: for nabla, and for the rebuild.
    const FixtureTensor& index = used.need("spot_index." + key);
    const FixtureTensor& spot = used.need("spot." + key);
    const std::vector<T> got = p.to_vector();
    FixtureTensor rebuilt_spots{false, spot.shape, {}};
    std::vector<T> got_spots;
    for (double i : index.values) {
      got_spots.push_back(got.at(static_cast<size_t>(i)));
      rebuilt_spots.values.push_back(rebuilt.values.at(static_cast<size_t>(i)));
    }
    CHECK_SAME(compare(type + " updated " + key + " at PyTorch's spot checks",
                       Tensor<T>::from(got_spots, Shape(std::span<const int64_t>(spot.shape))),
                       spot, ptol));
    CHECK_SAME(compare(
        "the rebuild of " + key + " at PyTorch's spot checks",
        Tensor<double>::from(rebuilt_spots.values, Shape(std::span<const int64_t>(spot.shape))),
        spot, {1e-15, 0}));
  }
  used.check_all_used();
}

}  // namespace

TEST_CASE("golden: one iteration of the row-3 GAN (batch 1, BCE, Adam) matches PyTorch",
          "[golden][nn][gan]") {
  const Fixture fixture = read_checked("nn_gan.txt");
  for (const FixtureCase& c : fixture.cases) {
    INFO("case " << c.name << " (" << c.where << "), op " << c.op);
    guarded("double run", [&] { check_gan_row3<double>(c); });
    guarded("float run", [&] { check_gan_row3<float>(c); });
  }
}

TEST_CASE("golden: every nn fixture file is read, case names are unique, every layer kind is used",
          "[golden][nn]") {
  std::set<std::string> listed;
  for (const auto& f : fixture_files()) listed.insert(f.name);
  for (const auto& entry : std::filesystem::directory_iterator(NABLA_TEST_FIXTURES)) {
    const std::string file = entry.path().filename().string();
    if (!starts_with(file, "nn_")) continue;
    INFO(file << " is not in fixture_files(), so no test reads it");
    CHECK(listed.count(file) == 1);
  }
  std::set<std::string> names, used_kinds;
  for (const auto& f : fixture_files()) {
    const Fixture fixture = read_checked(f.name);
    for (const FixtureCase& c : fixture.cases) {
      INFO("case " << c.name << " at " << c.where);
      CHECK(names.insert(c.name).second);
      used_kinds.insert(Spec(c.op).kind());
    }
  }
  for (const auto& entry : kinds()) {
    INFO("'" << entry.first << "' is in the C++ table but in no fixture");
    CHECK(used_kinds.count(entry.first) == 1);
  }
}

// ------------------------------------------------------------------------------------------
// Views as inputs: a layer gives the same output and gradients for a non-contiguous input as for
// its contiguous copy (the fixtures' inputs are all contiguous)

TEST_CASE("layers and losses treat a non-contiguous input like its contiguous copy",
          "[nn][layers]") {
  using namespace nabla;
  Generator gen(99);
  // Each layer gets x = base.transpose(0, last), a view with permuted strides.
  auto check = [&](const std::string& what, const Shape& base_shape,
                   const std::function<Tensor<double>(const Tensor<double>&)>& f) {
    INFO(what);
    const Tensor<double> base = Tensor<double>::uniform(base_shape, 0.05, 0.95, gen);
    Tensor<double> view = base.transpose(0, -1).requires_grad_();
    Tensor<double> copy = base.transpose(0, -1).contiguous().requires_grad_();
    REQUIRE_FALSE(view.is_contiguous());
    const Tensor<double> y_view = f(view), y_copy = f(copy);
    const Tensor<double> gout = Tensor<double>::uniform(y_copy.shape(), -1, 1, gen);
    y_view.backward(gout);
    y_copy.backward(gout);
    FixtureTensor want_y{
        false, std::vector<int64_t>(y_copy.shape().begin(), y_copy.shape().end()), {}};
    for (double v : y_copy.to_vector()) want_y.values.push_back(v);
    FixtureTensor want_g{false, std::vector<int64_t>(copy.shape().begin(), copy.shape().end()), {}};
    for (double v : copy.grad().to_vector()) want_g.values.push_back(v);
    CHECK_SAME(compare("output", y_view, want_y, {1e-13, 1e-12}));
    CHECK_SAME(compare("input gradient", view.grad(), want_g, {1e-13, 1e-12}));
  };
  nn::Linear<double> linear(3, 4);
  check("Linear", {3, 5}, [&](const Tensor<double>& x) { return linear(x); });
  nn::Maxout<double> maxout(3, 2, 3);
  check("Maxout", {3, 4}, [&](const Tensor<double>& x) { return maxout(x); });
  nn::Conv2d<double> conv(3, 2, 3, 1, 1);
  check("Conv2d", {5, 3, 4, 2}, [&](const Tensor<double>& x) { return conv(x); });
  nn::ConvTranspose2d<double> convt(3, 2, 4, 2, 1);
  check("ConvTranspose2d", {3, 3, 4, 2}, [&](const Tensor<double>& x) { return convt(x); });
  nn::MaxPool2d<double> pool(2);
  check("MaxPool2d", {4, 3, 4, 2}, [&](const Tensor<double>& x) { return pool(x); });
  nn::Upsample<double> up(2);
  check("Upsample", {3, 2, 3, 2}, [&](const Tensor<double>& x) { return up(x); });
  nn::LayerNorm<double> ln(Shape{3});
  check("LayerNorm", {3, 4}, [&](const Tensor<double>& x) { return ln(x); });
  nn::BatchNorm1d<double> bn1(3);
  check("BatchNorm1d", {4, 3, 2}, [&](const Tensor<double>& x) { return bn1(x); });
  nn::BatchNorm2d<double> bn2(2);
  check("BatchNorm2d", {3, 2, 2, 2}, [&](const Tensor<double>& x) { return bn2(x); });
  nn::Flatten<double> flatten;
  check("Flatten", {3, 2, 4}, [&](const Tensor<double>& x) { return flatten(x); });
  nn::Reshape<double> reshape(Shape{-1});
  check("Reshape", {3, 4}, [&](const Tensor<double>& x) { return reshape(x); });
  const Tensor<double> target = Tensor<double>::uniform({4, 3}, 0, 1, gen);
  check("MSELoss", {3, 4},
        [&](const Tensor<double>& x) { return nn::MSELoss<double>()(x, target); });
  check("BCELoss", {3, 4},
        [&](const Tensor<double>& x) { return nn::BCELoss<double>()(x, target); });
  check("BCEWithLogitsLoss", {3, 4}, [&](const Tensor<double>& x) {
    return nn::BCEWithLogitsLoss<double>(Reduction::None)(x, target);
  });
  const Tensor<double> target_view = Tensor<double>::uniform({3, 4}, 0, 1, gen).t();
  for (const char* loss : {"MSELoss", "BCELoss", "BCEWithLogitsLoss"})
    check(std::string(loss) + " with a non-contiguous target", {3, 4},
          [&](const Tensor<double>& x) {
            const std::string l = loss;
            if (l == "MSELoss") return nn::MSELoss<double>(Reduction::Sum)(x, target_view);
            if (l == "BCELoss") return nn::BCELoss<double>(Reduction::Sum)(x, target_view);
            return nn::BCEWithLogitsLoss<double>(Reduction::Sum)(x, target_view);
          });
}

// ------------------------------------------------------------------------------------------
// Large batches: convolutions run groups of samples as one GEMM, the groups split over threads
// with per-thread weight-gradient partials. The golden cases are too small for more than one
// group, so a large batch is checked against the per-sample calls (golden-checked at batch 1).

namespace {

template <class Layer>
void check_batch_against_samples(Layer& layer, const Shape& input_shape) {
  using namespace nabla;
  Generator gen(5);
  const int64_t n = input_shape[0];
  Tensor<double> x = Tensor<double>::uniform(input_shape, -1, 1, gen).requires_grad_();
  const Tensor<double> y = layer(x);
  const Tensor<double> gout = Tensor<double>::uniform(y.shape(), -1, 1, gen);
  layer.zero_grad();
  y.backward(gout);
  const Tensor<double> gx = x.grad(), gw = layer.weight.grad().clone(),
                       gb = layer.bias.grad().clone();

  std::vector<double> want_y, want_gx, want_gw(static_cast<size_t>(gw.numel())),
      want_gb(static_cast<size_t>(gb.numel()));
  for (int64_t i = 0; i < n; ++i) {
    Tensor<double> xi = x.detach().narrow(0, i, 1).contiguous().requires_grad_();
    const Tensor<double> yi = layer(xi);
    layer.zero_grad();
    yi.backward(gout.narrow(0, i, 1).contiguous());
    for (double v : yi.to_vector()) want_y.push_back(v);
    for (double v : xi.grad().to_vector()) want_gx.push_back(v);
    const auto wi = layer.weight.grad().to_vector(), bi = layer.bias.grad().to_vector();
    for (size_t k = 0; k < wi.size(); ++k) want_gw[k] += wi[k];
    for (size_t k = 0; k < bi.size(); ++k) want_gb[k] += bi[k];
  }
  auto fixture = [](const Tensor<double>& like, std::vector<double> values) {
    return FixtureTensor{false, std::vector<int64_t>(like.shape().begin(), like.shape().end()),
                         std::move(values)};
  };
  const Tolerance tol{1e-12, 1e-10};
  CHECK_SAME(compare("output", y, fixture(y, want_y), tol));
  CHECK_SAME(compare("input gradient", gx, fixture(gx, want_gx), tol));
  CHECK_SAME(compare("weight gradient", gw, fixture(gw, want_gw), tol));
  CHECK_SAME(compare("bias gradient", gb, fixture(gb, want_gb), tol));
}

}  // namespace

TEST_CASE("convolutions over a large batch equal the per-sample results", "[nn][layers]") {
  using namespace nabla;
  for (int64_t min_channels : kConvPaths)
    for (int threads : {1, 2, 3}) {
      const ConvPath path(min_channels);
      const Threads scope(threads);
      INFO(threads << " threads, conv2d direct from " << min_channels << " output channels");
      // A group holds about 512 positions (conv2d: output positions; conv_transpose2d: input
      // positions). 7x9 outputs: groups of 9 samples, so 21 samples make groups of 9, 9 and 3.
      nn::Conv2d<double> conv(2, 3, 3, 1, 1);
      check_batch_against_samples(conv, {21, 2, 7, 9});
      // 4x7 outputs: groups of 19; 30 samples make 19 and 11.
      nn::Conv2d<double> strided(2, 3, {2, 3}, Conv2dOptions{{2, 1}, {1, 0}, {1, 1}, {0, 0}});
      check_batch_against_samples(strided, {30, 2, 7, 9});
      // 7x9 inputs: groups of 9; 19 samples make 9, 9 and 1.
      nn::ConvTranspose2d<double> convt(3, 2, 4, 2, 1);
      check_batch_against_samples(convt, {19, 3, 7, 9});
      // 8x8 inputs: groups of 8; 17 samples make 8, 8 and 1.
      nn::ConvTranspose2d<double> convt_op(2, 2, 3, 2, 1, 1);
      check_batch_against_samples(convt_op, {17, 2, 8, 8});
    }
}

TEST_CASE("parameter gradients accumulate over backward calls until zero_grad", "[nn][layers]") {
  using namespace nabla;
  Generator gen(11);
  auto check = [&](const std::string& what, nn::Module<double>& layer, const Shape& input_shape) {
    INFO(what);
    const Tensor<double> x = Tensor<double>::uniform(input_shape, -1, 1, gen);
    auto grads = [&] {
      std::vector<std::vector<double>> out;
      for (auto& p : layer.parameters())
        out.push_back(p.grad().defined() ? p.grad().to_vector() : std::vector<double>{});
      return out;
    };
    layer.zero_grad();
    sum(layer(x)).backward();
    const auto once = grads();
    sum(layer(x)).backward();
    const auto twice = grads();
    for (size_t i = 0; i < once.size(); ++i) {
      REQUIRE(once[i].size() == twice[i].size());
      for (size_t k = 0; k < once[i].size(); ++k)
        CHECK(twice[i][k] == Approx(2 * once[i][k]).margin(1e-14));
    }
    layer.zero_grad(/*set_to_none=*/false);
    sum(layer(x)).backward();
    const auto after_zeroing = grads();
    for (size_t i = 0; i < once.size(); ++i)
      for (size_t k = 0; k < once[i].size(); ++k)
        CHECK(after_zeroing[i][k] == Approx(once[i][k]).margin(1e-14));
  };
  nn::Linear<double> linear(4, 3);
  check("Linear, batch 1", linear, {1, 4});
  check("Linear, batch 5", linear, {5, 4});
  check("Linear, 1-d input", linear, {4});
  nn::Maxout<double> maxout(4, 2, 3);
  check("Maxout", maxout, {3, 4});
  nn::Conv2d<double> conv(2, 3, 3, 1, 1);
  check("Conv2d", conv, {2, 2, 4, 5});
  nn::ConvTranspose2d<double> convt(2, 3, 3, 2, 1, 1);
  check("ConvTranspose2d", convt, {2, 2, 3, 4});
  nn::LayerNorm<double> ln(Shape{5});
  check("LayerNorm", ln, {3, 5});
  nn::BatchNorm2d<double> bn(2);
  check("BatchNorm2d", bn, {3, 2, 2, 2});
}

// ------------------------------------------------------------------------------------------
// Dropout in training: statistics, not PyTorch's values (the random streams differ)

namespace {

template <class T>
void check_dropout_statistics(double p) {
  using namespace nabla;
  INFO(type_name<T>() << ", p = " << p);
  const int64_t n = 200000;
  Generator gen(20240611);
  nn::Dropout<T> drop(p, gen);
  Tensor<T> x = Tensor<T>::uniform({n}, T(0.5), T(1.5), gen).requires_grad_();
  const Tensor<T> y = drop(x);
  const Tensor<T> gout = Tensor<T>::uniform({n}, T(-1), T(1), gen);
  y.backward(gout);
  const std::vector<T> xs = x.to_vector(), ys = y.to_vector(), gs = x.grad().to_vector(),
                       go = gout.to_vector();
  const double scale = 1 / (1 - p);
  int64_t kept = 0, bad_value = 0, bad_grad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<size_t>(i);
    const bool keep = ys[k] != T(0);
    kept += keep;
    const double mask = keep ? scale : 0.0;
    const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-6;
    if (std::abs(ys[k] - mask * xs[k]) > tol * scale * 2)
      ++bad_value;  // kept values are scaled by 1/(1-p)
    if (std::abs(gs[k] - mask * go[k]) > tol * scale * 2) ++bad_grad;  // the gradient is mask/(1-p)
  }
  const double keep_rate = static_cast<double>(kept) / static_cast<double>(n);
  const double sigma = std::sqrt(p * (1 - p) / static_cast<double>(n));
  INFO("kept " << keep_rate << " of the elements, expected " << 1 - p);
  CHECK(std::abs(keep_rate - (1 - p)) < 5 * sigma);
  CHECK(bad_value == 0);
  CHECK(bad_grad == 0);

  // Another call draws another mask; eval() is the identity.
  const std::vector<T> again = drop(x.detach()).to_vector();
  int64_t same = 0;
  for (size_t k = 0; k < again.size(); ++k) same += (again[k] != T(0)) == (ys[k] != T(0));
  CHECK(same < n);
  drop.eval();
  CHECK(drop(x.detach()).to_vector() == xs);
}

}  // namespace

TEST_CASE(
    "Dropout in training keeps 1-p of the values, scaled by 1/(1-p), and routes the gradient "
    "likewise",
    "[nn][dropout]") {
  check_dropout_statistics<double>(0.5);
  check_dropout_statistics<double>(0.3);
  check_dropout_statistics<float>(0.3);
  check_dropout_statistics<float>(0.05);
}

TEST_CASE("Dropout draws the same masks from the same seed", "[nn][dropout]") {
  using namespace nabla;
  Generator a(7), b(7);
  nn::Dropout<float> da(0.5, a), db(0.5, b);
  const Tensor<float> x = Tensor<float>::ones({1000});
  CHECK(da(x).to_vector() == db(x).to_vector());
}

// ------------------------------------------------------------------------------------------
// Initialisation: PyTorch's bounds and distributions (statistics over many draws)

namespace {

struct Stats {
  double min, max, mean, var;
  int64_t n;
};

template <class T>
Stats stats(const Tensor<T>& t) {
  const std::vector<T> v = t.to_vector();
  Stats s{INFINITY, -INFINITY, 0, 0, static_cast<int64_t>(v.size())};
  for (T x : v) {
    s.min = std::min(s.min, static_cast<double>(x));
    s.max = std::max(s.max, static_cast<double>(x));
    s.mean += static_cast<double>(x);
  }
  s.mean /= static_cast<double>(v.size());
  for (T x : v) s.var += (static_cast<double>(x) - s.mean) * (static_cast<double>(x) - s.mean);
  s.var /= static_cast<double>(v.size());
  return s;
}

// U(-bound, bound): inside the bounds, reaching within 10 / n of both (missed with probability
// e^-5 each for n draws), mean near 0, variance bound^2/3 within `var_rtol`.
template <class T>
void check_uniform(const Tensor<T>& t, double bound, double var_rtol = 0.03) {
  const Stats s = stats(t);
  const double reach = 1 - std::min(0.5, 10.0 / static_cast<double>(s.n));
  INFO("n " << s.n << ", min " << s.min << ", max " << s.max << ", mean " << s.mean << ", variance "
            << s.var << "; expected U(" << -bound << ", " << bound << "), variance "
            << bound * bound / 3);
  CHECK(s.min >= -bound);
  CHECK(s.max <= bound);
  CHECK(s.min < -reach * bound);
  CHECK(s.max > reach * bound);
  CHECK(std::abs(s.mean) < 5 * bound / std::sqrt(3.0 * static_cast<double>(s.n)));
  CHECK(std::abs(s.var / (bound * bound / 3) - 1) < var_rtol);
}

template <class T>
void check_normal(const Tensor<T>& t, double mean, double std, double var_rtol = 0.03) {
  const Stats s = stats(t);
  INFO("n " << s.n << ", mean " << s.mean << ", variance " << s.var << "; expected N(" << mean
            << ", " << std << "^2)");
  CHECK(std::abs(s.mean - mean) < 5 * std / std::sqrt(static_cast<double>(s.n)));
  CHECK(std::abs(s.var / (std * std) - 1) < var_rtol);
}

}  // namespace

TEST_CASE("Linear, Conv2d and ConvTranspose2d are initialised as PyTorch: U(+-1/sqrt(fan_in))",
          "[nn][init]") {
  using namespace nabla;
  manual_seed(11);  // the draws do not depend on which tests ran before
  SECTION("Linear") {
    nn::Linear<double> wide(500, 400);
    check_uniform(wide.weight, 1 / std::sqrt(500.0), 0.02);
    check_uniform(wide.bias, 1 / std::sqrt(500.0), 0.2);
    nn::Linear<float> many_biases(3, 20000);
    check_uniform(many_biases.bias, 1 / std::sqrt(3.0));
  }
  SECTION("Conv2d: fan_in = in_channels * kh * kw") {
    nn::Conv2d<double> conv(64, 48, 5);
    check_uniform(conv.weight, 1 / std::sqrt(64.0 * 25), 0.02);
    nn::Conv2d<float> rect(3, 40, {2, 5});
    check_uniform(rect.weight, 1 / std::sqrt(3.0 * 10), 0.1);
    nn::Conv2d<double> many_biases(2, 20000, 1);
    check_uniform(many_biases.bias, 1 / std::sqrt(2.0));
  }
  SECTION(
      "ConvTranspose2d: fan_in = weight.size(1) * kh * kw = out_channels * kh * kw, as PyTorch "
      "computes it") {
    nn::ConvTranspose2d<double> convt(64, 40, 5, 2, 2);
    check_uniform(convt.weight, 1 / std::sqrt(40.0 * 25), 0.02);
    nn::ConvTranspose2d<double> many_biases(2, 20000, 1);
    check_uniform(many_biases.bias, 1 / std::sqrt(20000.0));
  }
  SECTION("Maxout: as a Linear(in, out * pieces)") {
    nn::Maxout<double> maxout(300, 100, 3);
    check_uniform(maxout.weight, 1 / std::sqrt(300.0), 0.03);
  }
  SECTION("LayerNorm and BatchNorm start at weight 1, bias 0, running mean 0 and variance 1") {
    nn::LayerNorm<float> ln(Shape{3, 4});
    CHECK(ln.weight.to_vector() == std::vector<float>(12, 1.0f));
    CHECK(ln.bias.to_vector() == std::vector<float>(12, 0.0f));
    nn::BatchNorm2d<double> bn(5);
    CHECK(bn.weight.to_vector() == std::vector<double>(5, 1.0));
    CHECK(bn.bias.to_vector() == std::vector<double>(5, 0.0));
    CHECK(bn.running_mean.to_vector() == std::vector<double>(5, 0.0));
    CHECK(bn.running_var.to_vector() == std::vector<double>(5, 1.0));
  }
}

TEST_CASE("nn::init matches PyTorch's formulas", "[nn][init]") {
  using namespace nabla;
  namespace init = nn::init;
  manual_seed(12);
  SECTION("calculate_gain") {
    CHECK(init::calculate_gain("linear") == 1.0);
    CHECK(init::calculate_gain("conv2d") == 1.0);
    CHECK(init::calculate_gain("conv_transpose2d") == 1.0);
    CHECK(init::calculate_gain("sigmoid") == 1.0);
    CHECK(init::calculate_gain("tanh") == Approx(5.0 / 3.0).epsilon(1e-15));
    CHECK(init::calculate_gain("relu") == Approx(std::sqrt(2.0)).epsilon(1e-15));
    CHECK(init::calculate_gain("leaky_relu") ==
          Approx(std::sqrt(2.0 / (1 + 0.01 * 0.01))).epsilon(1e-15));
    CHECK(init::calculate_gain("leaky_relu", 0.2) == Approx(std::sqrt(2.0 / 1.04)).epsilon(1e-15));
    CHECK(init::calculate_gain("selu") == 0.75);
    CHECK_THROWS_WITH(init::calculate_gain("swish"), Catch::Contains("swish"));
  }
  SECTION("fans: size(1) and size(0) times the receptive field") {
    const auto f = init::fans(Tensor<double>::zeros({16, 8, 3, 5}));
    CHECK(f.in == 8 * 15);
    CHECK(f.out == 16 * 15);
    CHECK_THROWS_WITH(init::fans(Tensor<double>::zeros({7})), Catch::Contains("at least 2 dims"));
  }
  SECTION("normal_ and uniform_, also on a parameter (DCGAN's N(0, 0.02))") {
    Tensor<double> t = Tensor<double>::zeros({100000});
    init::normal_(t, 0.5, 0.02);
    check_normal(t, 0.5, 0.02);
    nn::Conv2d<float> conv(64, 128, 4, 2, 1);
    init::normal_(conv.weight, 0.0, 0.02);
    check_normal(conv.weight, 0.0, 0.02);
    CHECK(conv.weight.requires_grad());
    init::uniform_(t, -2.0, 3.0);
    const Stats s = stats(t);
    CHECK(s.min >= -2.0);
    CHECK(s.max < 3.0);
    CHECK(std::abs(s.mean - 0.5) < 5 * 5 / std::sqrt(12.0 * 100000));
    CHECK(std::abs(s.var / (25.0 / 12) - 1) < 0.03);
  }
  SECTION("constant_, zeros_, ones_") {
    nn::Linear<float> lin(3, 2);
    init::constant_(lin.bias, 0.25);
    CHECK(lin.bias.to_vector() == std::vector<float>{0.25f, 0.25f});
    init::zeros_(lin.weight);
    CHECK(lin.weight.to_vector() == std::vector<float>(6, 0.0f));
    init::ones_(lin.bias);
    CHECK(lin.bias.to_vector() == std::vector<float>{1.0f, 1.0f});
  }
  SECTION("xavier: gain * sqrt(6 / (fan_in + fan_out)) and gain * sqrt(2 / (fan_in + fan_out))") {
    Tensor<double> w = Tensor<double>::zeros({300, 500});
    init::xavier_uniform_(w, 2.0);
    check_uniform(w, 2.0 * std::sqrt(6.0 / 800));
    init::xavier_normal_(w);
    check_normal(w, 0.0, std::sqrt(2.0 / 800));
    Tensor<float> conv = Tensor<float>::zeros({32, 16, 3, 3});
    init::xavier_uniform_(conv, init::calculate_gain("relu"));
    check_uniform(conv, std::sqrt(2.0) * std::sqrt(6.0 / (16 * 9 + 32 * 9)), 0.05);
  }
  SECTION("kaiming: gain(nonlinearity, a) * sqrt(3 / fan) and gain / sqrt(fan), fan by mode") {
    Tensor<double> w = Tensor<double>::zeros({400, 250});
    init::kaiming_uniform_(w, 0.0, init::FanMode::FanIn, "relu");
    check_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 250));
    init::kaiming_uniform_(w, 0.2, init::FanMode::FanOut, "leaky_relu");
    check_uniform(w, std::sqrt(2.0 / 1.04) * std::sqrt(3.0 / 400));
    init::kaiming_uniform_(w);  // PyTorch's defaults: a = 0, fan_in, leaky_relu
    check_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 250));
    init::kaiming_normal_(w, 0.0, init::FanMode::FanOut, "relu");
    check_normal(w, 0.0, std::sqrt(2.0) / std::sqrt(400.0));
    Tensor<float> conv = Tensor<float>::zeros({64, 32, 5, 5});
    init::kaiming_normal_(conv, 0.0, init::FanMode::FanIn, "tanh");
    check_normal(conv, 0.0, 5.0 / 3.0 / std::sqrt(32.0 * 25));
  }
}

// ------------------------------------------------------------------------------------------
// Bad input: a nabla::Error whose message says what was expected and what came

TEST_CASE("nn layers reject bad input with a useful nabla::Error", "[nn][errors]") {
  using namespace nabla;
  using Catch::Contains;
  SECTION("Linear: wrong input width") {
    nn::Linear<double> lin(784, 200);
    CHECK_THROWS_AS(lin(Tensor<double>::zeros({1, 100})), Error);
    CHECK_THROWS_WITH(lin(Tensor<double>::zeros({1, 100})),
                      Contains("Linear(784, 200)") && Contains("[1, 100]") &&
                          Contains("100 features") && Contains("expected 784"));
    CHECK_THROWS_WITH(lin(Tensor<double>::zeros({100})),
                      Contains("Linear(784, 200)") && Contains("[100]"));
    CHECK_THROWS_WITH(lin(Tensor<double>::zeros({2, 3, 784})),
                      Contains("Linear(784, 200)") && Contains("[2, 3, 784]"));
    nn::Maxout<double> maxout(10, 4, 3);
    CHECK_THROWS_WITH(maxout(Tensor<double>::zeros({2, 9})), Contains("[2, 9]") && Contains("10"));
  }
  SECTION("Conv2d, ConvTranspose2d, BatchNorm: wrong channel count") {
    nn::Conv2d<float> conv(3, 8, 3);
    CHECK_THROWS_AS(conv(Tensor<float>::zeros({1, 1, 8, 8})), Error);
    CHECK_THROWS_WITH(conv(Tensor<float>::zeros({1, 1, 8, 8})),
                      Contains("1 channels") && Contains("expected 3") && Contains("[1, 1, 8, 8]"));
    CHECK_THROWS_WITH(conv(Tensor<float>::zeros({3, 8, 8})),
                      Contains("[N, C, H, W]") && Contains("[3, 8, 8]"));
    nn::ConvTranspose2d<float> convt(4, 2, 4, 2, 1);
    CHECK_THROWS_WITH(convt(Tensor<float>::zeros({2, 3, 5, 5})),
                      Contains("3 channels") && Contains("expected 4") && Contains("[2, 3, 5, 5]"));
    nn::BatchNorm2d<double> bn(4);
    CHECK_THROWS_WITH(bn(Tensor<double>::zeros({2, 3, 5, 5})), Contains("BatchNorm2d(4)") &&
                                                                   Contains("3 channels") &&
                                                                   Contains("[2, 3, 5, 5]"));
    CHECK_THROWS_WITH(bn(Tensor<double>::zeros({2, 4})),
                      Contains("BatchNorm2d(4)") && Contains("[2, 4]"));
    nn::BatchNorm1d<double> bn1(4);
    CHECK_THROWS_WITH(bn1(Tensor<double>::zeros({2, 5})),
                      Contains("BatchNorm1d(4)") && Contains("5 channels"));
    nn::LayerNorm<double> ln(Shape{200});
    CHECK_THROWS_WITH(ln(Tensor<double>::zeros({1, 100})),
                      Contains("[1, 100]") && Contains("[200]"));
  }
  SECTION("kernel larger than the padded input") {
    nn::Conv2d<double> conv(1, 1, 5);
    CHECK_THROWS_WITH(conv(Tensor<double>::zeros({1, 1, 3, 3})),
                      Contains("larger than the padded input") && Contains("[1, 1, 3, 3]"));
    nn::Conv2d<double> padded(1, 1, 5, 1, 1);
    CHECK_NOTHROW(padded(Tensor<double>::zeros({1, 1, 3, 3})));
    nn::Conv2d<double> dilated(1, 1, 3, 1, 0, true, 3);
    CHECK_THROWS_WITH(dilated(Tensor<double>::zeros({1, 1, 6, 6})),
                      Contains("larger than the padded input"));
    nn::MaxPool2d<double> pool(4);
    CHECK_THROWS_WITH(pool(Tensor<double>::zeros({1, 1, 3, 3})),
                      Contains("larger than the padded input") && Contains("[1, 1, 3, 3]"));
  }
  SECTION("BatchNorm in training with one value per channel") {
    nn::BatchNorm1d<double> bn(3);
    CHECK_THROWS_WITH(bn(Tensor<double>::ones({1, 3})), Contains("more than 1 value per channel"));
    nn::BatchNorm2d<double> bn2(3);
    CHECK_THROWS_WITH(bn2(Tensor<double>::ones({1, 3, 1, 1})),
                      Contains("more than 1 value per channel"));
    bn2.eval();
    CHECK_NOTHROW(bn2(Tensor<double>::ones({1, 3, 1, 1})));
  }
}

TEST_CASE("losses reject a wrong target shape and BCE an input outside [0, 1]", "[nn][errors]") {
  using namespace nabla;
  using Catch::Contains;
  const Tensor<double> input = Tensor<double>::full({4, 1}, 0.5),
                       target = Tensor<double>::ones({4});
  CHECK_THROWS_WITH(nn::MSELoss<double>()(input, target), Contains("[4]") && Contains("[4, 1]"));
  CHECK_THROWS_WITH(nn::BCELoss<double>()(input, target), Contains("[4]") && Contains("[4, 1]"));
  CHECK_THROWS_WITH(nn::BCEWithLogitsLoss<double>()(input, target),
                    Contains("[4]") && Contains("[4, 1]"));
  CHECK_THROWS_AS(nn::BCELoss<float>()(Tensor<float>::ones({1}), Tensor<float>::ones({1, 1})),
                  Error);
  CHECK_THROWS_WITH(nn::BCELoss<double>()(Tensor<double>{0.5, 1.5}, Tensor<double>{1.0, 0.0}),
                    Contains("[0, 1]") && Contains("1.5"));
  CHECK_THROWS_WITH(nn::BCELoss<float>()(Tensor<float>{-0.25f}, Tensor<float>{1.0f}),
                    Contains("[0, 1]"));
}

TEST_CASE("invalid hyper-parameters are refused with a nabla::Error", "[nn][errors]") {
  using namespace nabla;
  using Catch::Contains;
  nn::Linear<double> lin(3, 2);
  SECTION("optimisers") {
    CHECK_THROWS_AS(optim::SGD<double>(lin.parameters(), -0.1), Error);
    CHECK_THROWS_WITH(optim::SGD<double>(lin.parameters(), -0.1),
                      Contains("learning rate") && Contains("-0.1"));
    CHECK_THROWS_WITH(optim::Adam<double>(lin.parameters(), -1e-3), Contains("learning rate"));
    CHECK_THROWS_WITH(optim::Adam<double>(lin.parameters(), optim::AdamOptions{.beta1 = 1.0}),
                      Contains("beta1") && Contains("[0, 1)"));
    CHECK_THROWS_WITH(optim::Adam<double>(lin.parameters(), optim::AdamOptions{.beta2 = -0.5}),
                      Contains("beta2") && Contains("[0, 1)"));
    CHECK_THROWS_WITH(optim::Adam<double>(lin.parameters(), optim::AdamOptions{.beta2 = 1.5}),
                      Contains("beta2"));
    CHECK_THROWS_WITH(
        optim::SGD<double>(lin.parameters(),
                           optim::SGDOptions{.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
        Contains("Nesterov"));
    CHECK_THROWS_WITH(optim::SGD<double>(lin.parameters(), optim::SGDOptions{.nesterov = true}),
                      Contains("Nesterov"));
    CHECK_THROWS_WITH(optim::SGD<double>(lin.parameters(), optim::SGDOptions{.momentum = -0.5}),
                      Contains("momentum"));
    CHECK_THROWS_WITH(optim::AdamW<double>(lin.parameters(), optim::AdamWOptions{.beta1 = -0.1}),
                      Contains("AdamW") && Contains("beta1"));
    CHECK_THROWS_WITH(
        optim::AdamW<double>(lin.parameters(), optim::AdamWOptions{.weight_decay = -1}),
        Contains("AdamW") && Contains("weight_decay"));
    CHECK_THROWS_WITH(optim::RMSprop<double>(lin.parameters(), -0.01),
                      Contains("RMSprop") && Contains("learning rate"));
    CHECK_THROWS_WITH(
        optim::RMSprop<double>(lin.parameters(), optim::RMSpropOptions{.alpha = -0.5}),
        Contains("alpha"));
    CHECK_THROWS_WITH(
        optim::RMSprop<double>(lin.parameters(), optim::RMSpropOptions{.momentum = -1}),
        Contains("momentum"));
    optim::Adam<double> adam(lin.parameters(), 1e-3);
    CHECK_THROWS_WITH(adam.set_lr(-1), Contains("learning rate"));
    CHECK(adam.lr() == 1e-3);
  }
  SECTION("Dropout p outside [0, 1)") {
    CHECK_THROWS_AS(nn::Dropout<double>(1.0), Error);
    CHECK_THROWS_WITH(nn::Dropout<double>(1.0), Contains("[0, 1)") && Contains("1"));
    CHECK_THROWS_WITH(nn::Dropout<float>(-0.1), Contains("[0, 1)") && Contains("-0.1"));
    CHECK_THROWS_WITH(dropout(Tensor<double>::ones({3}), 1.5, true), Contains("[0, 1)"));
  }
  SECTION("output_padding not smaller than stride (or dilation)") {
    CHECK_THROWS_AS(nn::ConvTranspose2d<double>(1, 1, 3, 2, 0, 2), Error);
    CHECK_THROWS_WITH(nn::ConvTranspose2d<double>(1, 1, 3, 2, 0, 2), Contains("output_padding"));
    CHECK_THROWS_WITH(nn::ConvTranspose2d<double>(1, 1, 3, 1, 0, 1), Contains("output_padding"));
    CHECK_THROWS_WITH(
        conv_transpose2d(Tensor<double>::zeros({1, 1, 3, 3}), Tensor<double>::zeros({1, 1, 3, 3}),
                         Tensor<double>(), Conv2dOptions{{2, 2}, {0, 0}, {1, 1}, {2, 2}}),
        Contains("output_padding"));
  }
  SECTION("sizes and strides") {
    CHECK_THROWS_WITH(nn::Linear<double>(0, 3), Contains("in_features"));
    CHECK_THROWS_WITH(nn::Conv2d<double>(1, 1, 3, 0), Contains("stride"));
    CHECK_THROWS_WITH(nn::Conv2d<double>(1, 1, 3, 1, -1), Contains("padding"));
    CHECK_THROWS_WITH(nn::MaxPool2d<double>(2, 2, 2), Contains("padding"));
    CHECK_THROWS_WITH(nn::Upsample<double>(0), Contains("scale_factor"));
    CHECK_THROWS_WITH(nn::Upsample<double>(2, "bilinear"), Contains("bilinear"));
    CHECK_THROWS_WITH(nn::BatchNorm1d<double>(3, 1e-5, 1.5), Contains("momentum"));
    CHECK_THROWS_WITH(nn::LayerNorm<double>(Shape{4}, -1.0), Contains("eps"));
  }
}
