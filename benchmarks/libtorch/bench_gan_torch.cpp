// The libtorch twin of benchmarks/bench_gan.cpp: one whole training iteration of rows 3, 6 and 7
// of GAN_VARIANTS.md, written with libtorch's C++ API (torch::nn modules, BCELoss, Adam) as a
// libtorch user would, step for step the same as the nabla version (see that file for the
// recipes), under the same names prefixed with torch_. Gradients are cleared with set_to_none,
// as nabla's zero_grad() does.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <string>

#include "threaded_benchmark.hpp"
#include "torch_threads.hpp"

namespace {

using torch::Tensor;
namespace nn = torch::nn;
namespace optim = torch::optim;

struct Row3 {
  static nn::Sequential net(int64_t in, int64_t out) {
    return nn::Sequential(
        nn::Linear(in, 200), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.02)),
        nn::LayerNorm(nn::LayerNormOptions({200})), nn::Linear(200, out), nn::Sigmoid());
  }
  nn::Sequential G = net(100, 784), D = net(784, 1);
  optim::Adam opt_g{G->parameters(), optim::AdamOptions(1e-4)},
      opt_d{D->parameters(), optim::AdamOptions(1e-4)};
  nn::BCELoss bce;
  Tensor real = torch::rand({784}), one = torch::full({1}, 1.f), zero = torch::full({1}, 0.f);
  Tensor d_loss, g_loss;

  void d_train(const Tensor& x, const Tensor& target) {
    d_loss = bce(D->forward(x), target);
    bench::zero_grad_to_none(opt_d);
    d_loss.backward();
    opt_d.step();
  }
  void step() {
    d_train(real, one);
    d_train(G->forward(torch::randn({100})).detach(), zero);
    g_loss = bce(D->forward(G->forward(torch::randn({100}))), one);
    bench::zero_grad_to_none(opt_g);
    g_loss.backward();
    opt_g.step();
  }
};

struct Row6 {
  static constexpr int64_t kBatch = 100, kLatent = 64;
  nn::Sequential G{nn::Linear(kLatent, 256), nn::ReLU(), nn::Linear(256, 256), nn::ReLU(),
                   nn::Linear(256, 784),     nn::Tanh()};
  nn::Sequential D{nn::Linear(784, 256), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
                   nn::Linear(256, 256), nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
                   nn::Linear(256, 1),   nn::Sigmoid()};
  optim::Adam opt_g{G->parameters(), optim::AdamOptions(2e-4)},
      opt_d{D->parameters(), optim::AdamOptions(2e-4)};
  nn::BCELoss bce;
  Tensor real = torch::empty({kBatch, 784}).uniform_(-1, 1), ones = torch::ones({kBatch, 1}),
         zeros = torch::zeros({kBatch, 1});
  Tensor d_loss, g_loss;

  void step() {
    const Tensor real_out = D->forward(real);
    const Tensor fake = G->forward(torch::randn({kBatch, kLatent}));
    const Tensor fake_out = D->forward(fake.detach());
    d_loss = bce(real_out, ones) + bce(fake_out, zeros);
    bench::zero_grad_to_none(opt_d);
    d_loss.backward();
    opt_d.step();
    g_loss = bce(D->forward(G->forward(torch::randn({kBatch, kLatent}))), ones);
    bench::zero_grad_to_none(opt_g);
    bench::zero_grad_to_none(opt_d);
    g_loss.backward();
    opt_g.step();
  }
};

template <int64_t Batch>
struct Row7 {
  static constexpr int64_t kBatch = Batch, kLatent = 100;
  static nn::Sequential dcgan_init(nn::Sequential net) {
    torch::NoGradGuard no_grad;
    for (auto& item : net->named_parameters()) {
      const std::string& name = item.key();
      Tensor& p = item.value();
      if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0)
        p.zero_();
      else if (p.dim() == 1)
        p.normal_(1.0, 0.02);
      else
        p.normal_(0.0, 0.02);
    }
    return net;
  }
  static optim::AdamOptions adam() { return optim::AdamOptions(2e-4).betas({0.5, 0.999}); }
  nn::Sequential G = dcgan_init(nn::Sequential(
      nn::Linear(kLatent, 128 * 7 * 7), nn::Unflatten(nn::UnflattenOptions(1, {128, 7, 7})),
      nn::BatchNorm2d(128), nn::ReLU(),
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(128, 64, 4).stride(2).padding(1)),
      nn::BatchNorm2d(64), nn::ReLU(),
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(64, 1, 4).stride(2).padding(1)), nn::Tanh()));
  nn::Sequential D = dcgan_init(nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(1, 64, 4).stride(2).padding(1)),
      nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)),
      nn::Conv2d(nn::Conv2dOptions(64, 128, 4).stride(2).padding(1)), nn::BatchNorm2d(128),
      nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)), nn::Flatten(),
      nn::Linear(128 * 7 * 7, 1), nn::Sigmoid()));
  optim::Adam opt_g{G->parameters(), adam()}, opt_d{D->parameters(), adam()};
  nn::BCELoss bce;
  Tensor real = torch::empty({kBatch, 1, 28, 28}).uniform_(-1, 1), ones = torch::ones({kBatch, 1}),
         zeros = torch::zeros({kBatch, 1});
  Tensor d_loss, g_loss;

  void step() {
    const Tensor fake = G->forward(torch::randn({kBatch, kLatent}));
    d_loss = bce(D->forward(real), ones) + bce(D->forward(fake.detach()), zeros);
    bench::zero_grad_to_none(opt_d);
    d_loss.backward();
    opt_d.step();
    g_loss = bce(D->forward(fake), ones);
    bench::zero_grad_to_none(opt_g);
    bench::zero_grad_to_none(opt_d);
    g_loss.backward();
    opt_g.step();
  }
};

template <int64_t Batch>
struct MlpClassifier {
  nn::Sequential net{nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10)};
  optim::Adam opt{net->parameters(), optim::AdamOptions(1e-3)};
  Tensor images = torch::rand({Batch, 784}), labels = torch::arange(Batch, torch::kLong) % 10;
  Tensor d_loss, g_loss;

  void step() {
    d_loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    bench::zero_grad_to_none(opt);
    d_loss.backward();
    opt.step();
    g_loss = d_loss;
  }
};

template <class Row>
void gan(benchmark::State& state, int warmup) {
  torch::manual_seed(7);
  Row row;
  for (int i = 0; i < warmup; ++i) row.step();
  for (auto _ : state) row.step();
  state.counters["d_loss"] = row.d_loss.template item<float>();
  state.counters["g_loss"] = row.g_loss.template item<float>();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::register_threaded("torch_gan/row3/batch:1", bench::torch_set_threads,
                           [](benchmark::State& s) { gan<Row3>(s, 20); },
                           {benchmark::kMicrosecond, 0});
  bench::register_threaded("torch_gan/row6/batch:100", bench::torch_set_threads,
                           [](benchmark::State& s) { gan<Row6>(s, 3); },
                           {benchmark::kMillisecond, 0});
  bench::register_threaded("torch_gan/row7/batch:128", bench::torch_set_threads,
                           [](benchmark::State& s) { gan<Row7<128>>(s, 1); },
                           {benchmark::kMillisecond, 4});
  // Row 7's networks at batch 1: per-layer overhead of the convolutions, batch norm included.
  bench::register_threaded("torch_gan/row7/batch:1", bench::torch_set_threads,
                           [](benchmark::State& s) { gan<Row7<1>>(s, 5); },
                           {benchmark::kMicrosecond, 0});
  bench::register_threaded("torch_train/mlp_classifier/batch:1", bench::torch_set_threads,
                           [](benchmark::State& s) { gan<MlpClassifier<1>>(s, 20); },
                           {benchmark::kMicrosecond, 0});
  bench::register_threaded("torch_train/mlp_classifier/batch:64", bench::torch_set_threads,
                           [](benchmark::State& s) { gan<MlpClassifier<64>>(s, 5); },
                           {benchmark::kMicrosecond, 0});
  bench::add_torch_context();
  bench::wait_for_idle_threads();  // OpenBLAS starts its workers when it is loaded
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bench::report_idle_waits("bench_gan_torch");
}
