// One layer's forward and backward at the shapes the GAN variants use; the cases and their names
// are in layer_cases.hpp. benchmarks/libtorch/bench_layers_torch.cpp does the same work with
// libtorch under the same names prefixed with torch_.
//
// Every iteration: zero_grad() on the layer (gradients set to none, and the input's where it has
// one), y = layer(x), y.backward(gy) with a fixed upstream gradient gy. x and gy are N(0, 1), made
// once; the layer has its default initialisation. Each case runs at 1 and 2 threads; the
// convolutions (batch 128) run a fixed number of iterations, the Linear layers for
// --benchmark_min_time.
#include <benchmark/benchmark.h>

#include <memory>
#include <nabla/nabla.hpp>

#include "layer_cases.hpp"
#include "op_cases.hpp"
#include "threaded_benchmark.hpp"

namespace {

using T = nabla::Tensor<float>;

T randn(const nabla::Shape& shape, uint64_t seed) {
  nabla::Generator gen(seed);
  return T::randn(shape, gen);
}

// `warmup` untimed iterations (caches, the storage pool, the thread pool), then the timed loop.
void run_layer(benchmark::State& state, nabla::nn::Module<float>& layer, T x, const T& gy,
               int warmup) {
  auto step = [&] {
    layer.zero_grad();
    if (x.requires_grad()) x.zero_grad();
    const T y = layer(x);
    y.backward(gy);
  };
  for (int i = 0; i < warmup; ++i) step();
  for (auto _ : state) step();
  benchmark::DoNotOptimize(x.requires_grad() ? x.grad().data()
                                             : layer.parameters().front().grad().data());
}

void linear(benchmark::State& state, const bench::LinearCase& c) {
  nabla::manual_seed(21);
  nabla::nn::Linear<float> layer(c.in, c.out);
  run_layer(state, layer, randn({c.batch, c.in}, 22), randn({c.batch, c.out}, 23), 10);
}

void conv(benchmark::State& state, const bench::ConvCase& c) {
  nabla::manual_seed(31);
  std::unique_ptr<nabla::nn::Module<float>> layer;
  if (c.transposed)
    layer = std::make_unique<nabla::nn::ConvTranspose2d<float>>(c.in, c.out, c.kernel, c.stride,
                                                                c.padding);
  else
    layer = std::make_unique<nabla::nn::Conv2d<float>>(c.in, c.out, c.kernel, c.stride, c.padding);
  T x = randn({c.batch, c.in, c.size, c.size}, 32);
  if (c.input_grad) x.requires_grad_();
  run_layer(state, *layer, x, randn({c.batch, c.out, c.out_size(), c.out_size()}, 33), 1);
}

std::unique_ptr<nabla::nn::Module<float>> probe_module(const bench::ProbeModuleCase& c) {
  namespace nn = nabla::nn;
  switch (c.kind) {
    case bench::ProbeKind::BatchNorm2d: return std::make_unique<nn::BatchNorm2d<float>>(c.features);
    case bench::ProbeKind::BatchNorm1d: return std::make_unique<nn::BatchNorm1d<float>>(c.features);
    case bench::ProbeKind::MaxPool2d: return std::make_unique<nn::MaxPool2d<float>>(2);
    case bench::ProbeKind::Upsample2x: return std::make_unique<nn::Upsample<float>>(2);
    case bench::ProbeKind::LeakyReLU: return std::make_unique<nn::LeakyReLU<float>>(0.2);
    case bench::ProbeKind::Tanh: return std::make_unique<nn::Tanh<float>>();
    case bench::ProbeKind::LayerNorm:
      return std::make_unique<nn::LayerNorm<float>>(nabla::Shape{c.features});
  }
  return nullptr;
}

void probe(benchmark::State& state, const bench::ProbeModuleCase& c) {
  nabla::manual_seed(41);
  const auto layer = probe_module(c);
  const nabla::Shape shape = c.shape[2] > 0
                                 ? nabla::Shape{c.shape[0], c.shape[1], c.shape[2], c.shape[3]}
                                 : nabla::Shape{c.shape[0], c.shape[1]};
  T x = randn(shape, 42);
  x.requires_grad_();
  const T gy = randn((*layer)(x).shape(), 43);
  run_layer(state, *layer, x, gy, 2);
}

// One op of op_cases.hpp: the inputs made once, then per iteration the gradients reset to none,
// y = op(x) and (for fwd_bwd) y.backward(gy).
void op(benchmark::State& state, const bench::OpCase& c) {
  using bench::Op;
  nabla::Shape shape;
  for (int i = 0; i < c.dims(); ++i) shape.push_back(c.shape[static_cast<size_t>(i)]);
  const int64_t rows = shape[0], cols = shape[shape.size() - 1];
  T x = randn(shape, 51);
  T w;  // the second operand, with gradient
  T fixed;  // a second operand without gradient
  nabla::Tensor<int64_t> labels;
  switch (c.op) {
    case Op::AddBias: w = randn({cols}, 52); break;
    case Op::Mul: w = randn(shape, 52); break;
    case Op::LayerNorm: w = randn({cols}, 52), fixed = randn({cols}, 53); break;
    case Op::Matmul: w = randn({cols, cols}, 52); break;
    case Op::Bmm: w = randn({shape[0], cols, cols}, 52); break;
    case Op::MseLoss: fixed = randn(shape, 53); break;
    case Op::CrossEntropy: {
      std::vector<int64_t> v(static_cast<size_t>(rows));
      for (int64_t i = 0; i < rows; ++i) v[static_cast<size_t>(i)] = i % cols;
      labels = nabla::Tensor<int64_t>::from(v);
      break;
    }
    default: break;
  }
  if (c.backward) {
    x.requires_grad_();
    if (w.defined()) w.requires_grad_();
  }
  const auto apply = [&]() -> T {
    switch (c.op) {
      case Op::Relu: return nabla::relu(x);
      case Op::LeakyRelu: return nabla::leaky_relu(x, 0.2f);
      case Op::Sigmoid: return nabla::sigmoid(x);
      case Op::Tanh: return nabla::tanh(x);
      case Op::Exp: return nabla::exp(x);
      case Op::Gelu: return nabla::gelu(x);
      case Op::GeluTanh: return nabla::gelu(x, "tanh");
      case Op::Silu: return nabla::silu(x);
      case Op::Elu: return nabla::elu(x);
      case Op::Softplus: return nabla::softplus(x);
      case Op::AddBias: return x + w;
      case Op::Mul: return x * w;
      case Op::SumAll: return nabla::sum(x);
      case Op::SumDim0: return nabla::sum(x, 0);
      case Op::SumDim1: return nabla::sum(x, 1);
      case Op::Softmax: return nabla::softmax(x, -1);
      case Op::LogSoftmax: return nabla::log_softmax(x, -1);
      case Op::CrossEntropy: return nabla::cross_entropy(x, labels);
      case Op::LayerNorm: return nabla::layer_norm(x, nabla::Shape{cols}, w, fixed);
      case Op::MseLoss: return nabla::mse_loss(x, fixed);
      case Op::TransposeCopy: return x.transpose(0, 1).contiguous();
      case Op::Cat: return nabla::cat({x, x}, 1);
      case Op::Matmul:
      case Op::Bmm: return nabla::matmul(x, w);
    }
    return {};
  };
  if (!c.backward) {
    const nabla::NoGradGuard no_grad;
    for (int i = 0; i < 2; ++i) benchmark::DoNotOptimize(apply().data());
    for (auto _ : state) benchmark::DoNotOptimize(apply().data());
    return;
  }
  const T gy = apply().dim() == 0 ? T() : randn(apply().shape(), 54);
  auto step = [&] {
    x.zero_grad();
    if (w.defined()) w.zero_grad();
    const T y = apply();
    if (gy.defined()) y.backward(gy);
    else y.backward();
  };
  for (int i = 0; i < 2; ++i) step();
  for (auto _ : state) step();
  benchmark::DoNotOptimize(x.grad().data());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const auto set_threads = [](int t) { nabla::set_num_threads(t); };
  for (const bench::LinearCase& c : bench::kLinearCases)
    bench::register_threaded(bench::linear_name("", c), set_threads,
                             [c](benchmark::State& s) { linear(s, c); },
                             {benchmark::kMicrosecond, 0});
  for (const bench::ConvCase& c : bench::kConvCases)
    bench::register_threaded(bench::conv_name("", c), set_threads,
                             [c](benchmark::State& s) { conv(s, c); },
                             {benchmark::kMillisecond, c.iterations});
  for (const bench::LinearCase& c : bench::kProbeLinearCases)
    bench::register_threaded(bench::linear_name("probe/", c), set_threads,
                             [c](benchmark::State& s) { linear(s, c); },
                             {benchmark::kMicrosecond, 0});
  for (const bench::ConvCase& c : bench::kProbeConvCases)
    bench::register_threaded(bench::conv_name("probe/", c), set_threads,
                             [c](benchmark::State& s) { conv(s, c); },
                             {benchmark::kMillisecond, c.iterations});
  for (const bench::ProbeModuleCase& c : bench::kProbeModuleCases)
    bench::register_threaded(std::string("probe/") + c.name, set_threads,
                             [c](benchmark::State& s) { probe(s, c); },
                             {benchmark::kMicrosecond, c.iterations});
  for (const bench::OpCase& c : bench::kOpCases)
    bench::register_threaded(c.full_name(), set_threads, [c](benchmark::State& s) { op(s, c); },
                             {benchmark::kMicrosecond, 0});
  bench::wait_for_idle_threads();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bench::report_idle_waits("bench_layers");
}
