// The libtorch twin of benchmarks/bench_layers.cpp: the same layers, shapes and steps
// (layer_cases.hpp), under the same names prefixed with torch_. Every iteration:
// layer->zero_grad(/*set_to_none=*/true) (and the input's gradient reset where it has one),
// y = layer(x), y.backward(gy).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "layer_cases.hpp"
#include "op_cases.hpp"
#include "threaded_benchmark.hpp"
#include "torch_threads.hpp"

namespace {

using torch::Tensor;

template <class Layer>
void run_layer(benchmark::State& state, Layer& layer, Tensor x, const Tensor& gy, int warmup) {
  auto step = [&] {
    layer->zero_grad(/*set_to_none=*/true);
    if (x.requires_grad()) x.mutable_grad().reset();
    const Tensor y = layer(x);
    y.backward(gy);
  };
  for (int i = 0; i < warmup; ++i) step();
  for (auto _ : state) step();
  benchmark::DoNotOptimize(layer->parameters().front().grad().data_ptr());
}

Tensor randn(at::IntArrayRef shape, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape);
}

void linear(benchmark::State& state, const bench::LinearCase& c) {
  torch::manual_seed(21);
  torch::nn::Linear layer(c.in, c.out);
  run_layer(state, layer, randn({c.batch, c.in}, 22), randn({c.batch, c.out}, 23), 10);
}

void conv(benchmark::State& state, const bench::ConvCase& c) {
  torch::manual_seed(31);
  Tensor x = randn({c.batch, c.in, c.size, c.size}, 32);
  if (c.input_grad) x.requires_grad_();
  const Tensor gy = randn({c.batch, c.out, c.out_size(), c.out_size()}, 33);
  if (c.transposed) {
    torch::nn::ConvTranspose2d layer(torch::nn::ConvTranspose2dOptions(c.in, c.out, c.kernel)
                                         .stride(c.stride)
                                         .padding(c.padding));
    run_layer(state, layer, x, gy, 1);
  } else {
    torch::nn::Conv2d layer(
        torch::nn::Conv2dOptions(c.in, c.out, c.kernel).stride(c.stride).padding(c.padding));
    run_layer(state, layer, x, gy, 1);
  }
}

torch::nn::AnyModule probe_module(const bench::ProbeModuleCase& c) {
  namespace nn = torch::nn;
  switch (c.kind) {
    case bench::ProbeKind::BatchNorm2d: return nn::AnyModule(nn::BatchNorm2d(c.features));
    case bench::ProbeKind::BatchNorm1d: return nn::AnyModule(nn::BatchNorm1d(c.features));
    case bench::ProbeKind::MaxPool2d: return nn::AnyModule(nn::MaxPool2d(nn::MaxPool2dOptions(2)));
    case bench::ProbeKind::Upsample2x:
      return nn::AnyModule(nn::Upsample(nn::UpsampleOptions()
                                            .scale_factor(std::vector<double>{2, 2})
                                            .mode(torch::kNearest)));
    case bench::ProbeKind::LeakyReLU:
      return nn::AnyModule(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    case bench::ProbeKind::Tanh: return nn::AnyModule(nn::Tanh());
    case bench::ProbeKind::LayerNorm:
      return nn::AnyModule(nn::LayerNorm(nn::LayerNormOptions({c.features})));
  }
  return {};
}

void probe(benchmark::State& state, const bench::ProbeModuleCase& c) {
  torch::manual_seed(41);
  torch::nn::AnyModule layer = probe_module(c);
  std::vector<int64_t> shape(c.shape, c.shape + (c.shape[2] > 0 ? 4 : 2));
  Tensor x = randn(shape, 42);
  x.requires_grad_();
  const Tensor gy = randn(layer.forward(x).sizes(), 43);
  auto step = [&] {
    layer.ptr()->zero_grad(/*set_to_none=*/true);
    x.mutable_grad().reset();
    const Tensor y = layer.forward(x);
    y.backward(gy);
  };
  for (int i = 0; i < 2; ++i) step();
  for (auto _ : state) step();
  benchmark::DoNotOptimize(x.grad().data_ptr());
}

// The twin of bench_layers.cpp's op(): the same inputs' shapes and the same step.
void op(benchmark::State& state, const bench::OpCase& c) {
  using bench::Op;
  std::vector<int64_t> shape(c.shape.begin(), c.shape.begin() + c.dims());
  const int64_t rows = shape[0], cols = shape.back();
  Tensor x = randn(shape, 51);
  Tensor w, fixed, labels;
  switch (c.op) {
    case Op::AddBias: w = randn({cols}, 52); break;
    case Op::Mul: w = randn(shape, 52); break;
    case Op::LayerNorm: w = randn({cols}, 52), fixed = randn({cols}, 53); break;
    case Op::Matmul: w = randn({cols, cols}, 52); break;
    case Op::Bmm: w = randn({shape[0], cols, cols}, 52); break;
    case Op::MseLoss: fixed = randn(shape, 53); break;
    case Op::CrossEntropy: labels = torch::arange(rows, torch::kLong).remainder(cols); break;
    default: break;
  }
  if (c.backward) {
    x.requires_grad_();
    if (w.defined()) w.requires_grad_();
  }
  const auto apply = [&]() -> Tensor {
    switch (c.op) {
      case Op::Relu: return torch::relu(x);
      case Op::LeakyRelu: return torch::leaky_relu(x, 0.2);
      case Op::Sigmoid: return torch::sigmoid(x);
      case Op::Tanh: return torch::tanh(x);
      case Op::Exp: return torch::exp(x);
      case Op::Gelu: return torch::gelu(x);
      case Op::GeluTanh: return torch::gelu(x, "tanh");
      case Op::Silu: return torch::silu(x);
      case Op::Elu: return torch::elu(x);
      case Op::Softplus: return torch::softplus(x);
      case Op::AddBias: return x + w;
      case Op::Mul: return x * w;
      case Op::SumAll: return x.sum();
      case Op::SumDim0: return x.sum(0);
      case Op::SumDim1: return x.sum(1);
      case Op::Softmax: return torch::softmax(x, -1);
      case Op::LogSoftmax: return torch::log_softmax(x, -1);
      case Op::CrossEntropy: return torch::nn::functional::cross_entropy(x, labels);
      case Op::LayerNorm: return torch::layer_norm(x, {cols}, w, fixed);
      case Op::MseLoss: return torch::mse_loss(x, fixed);
      case Op::TransposeCopy: return x.t().contiguous();
      case Op::Cat: return torch::cat({x, x}, 1);
      case Op::Matmul:
      case Op::Bmm: return torch::matmul(x, w);
    }
    return {};
  };
  if (!c.backward) {
    const torch::NoGradGuard no_grad;
    for (int i = 0; i < 2; ++i) benchmark::DoNotOptimize(apply().data_ptr());
    for (auto _ : state) benchmark::DoNotOptimize(apply().data_ptr());
    return;
  }
  const Tensor gy = apply().dim() == 0 ? Tensor() : randn(apply().sizes(), 54);
  auto step = [&] {
    x.mutable_grad().reset();
    if (w.defined()) w.mutable_grad().reset();
    const Tensor y = apply();
    if (gy.defined()) y.backward(gy);
    else y.backward();
  };
  for (int i = 0; i < 2; ++i) step();
  for (auto _ : state) step();
  benchmark::DoNotOptimize(x.grad().data_ptr());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (const bench::LinearCase& c : bench::kLinearCases)
    bench::register_threaded(bench::linear_name("torch_", c), bench::torch_set_threads,
                             [c](benchmark::State& s) { linear(s, c); },
                             {benchmark::kMicrosecond, 0});
  for (const bench::ConvCase& c : bench::kConvCases)
    bench::register_threaded(bench::conv_name("torch_", c), bench::torch_set_threads,
                             [c](benchmark::State& s) { conv(s, c); },
                             {benchmark::kMillisecond, c.iterations});
  for (const bench::LinearCase& c : bench::kProbeLinearCases)
    bench::register_threaded(bench::linear_name("torch_probe/", c), bench::torch_set_threads,
                             [c](benchmark::State& s) { linear(s, c); },
                             {benchmark::kMicrosecond, 0});
  for (const bench::ConvCase& c : bench::kProbeConvCases)
    bench::register_threaded(bench::conv_name("torch_probe/", c), bench::torch_set_threads,
                             [c](benchmark::State& s) { conv(s, c); },
                             {benchmark::kMillisecond, c.iterations});
  for (const bench::ProbeModuleCase& c : bench::kProbeModuleCases)
    bench::register_threaded(std::string("torch_probe/") + c.name, bench::torch_set_threads,
                             [c](benchmark::State& s) { probe(s, c); },
                             {benchmark::kMicrosecond, c.iterations});
  for (const bench::OpCase& c : bench::kOpCases)
    bench::register_threaded("torch_" + c.full_name(), bench::torch_set_threads,
                             [c](benchmark::State& s) { op(s, c); }, {benchmark::kMicrosecond, 0});
  bench::add_torch_context();
  bench::wait_for_idle_threads();  // OpenBLAS starts its workers when it is loaded
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bench::report_idle_waits("bench_layers_torch");
}
