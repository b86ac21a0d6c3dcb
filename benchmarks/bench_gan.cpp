// One whole training iteration of rows 3, 6 and 7 of GAN_VARIANTS.md, written with nabla as a
// user would (nn modules, BCELoss, Adam). benchmarks/libtorch/bench_gan_torch.cpp writes the same
// iterations with libtorch's C++ API under the same names prefixed with torch_. The "real" data is
// a fixed random batch (no data set needed); z is drawn fresh inside the iteration, as in training.
//
//   gan/row3/batch:1     G: Linear(100,200)-LReLU(0.02)-LN(200)-Linear(200,784)-Sigmoid,
//                        D: Linear(784,200)-LReLU(0.02)-LN(200)-Linear(200,1)-Sigmoid; BCE, Adam
//                        lr 1e-4 for both; vectors of 784 and 100 without a batch dimension, as the
//                        document's code. The document's loop: D on the real image (target 1) and a
//                        D step; D on G(z).detach() (target 0) and a D step; D(G(z')) (target 1)
//                        and a G step. z ~ N(0, 1).
//   gan/row6/batch:100   examples/gan_mlp: G: Linear(64,256)-ReLU-Linear(256,256)-ReLU-
//                        Linear(256,784)-Tanh, D: Linear(784,256)-LReLU(0.2)-Linear(256,256)-
//                        LReLU(0.2)-Linear(256,1)-Sigmoid; BCE, Adam lr 2e-4; one D step on
//                        BCE(D(real), 1) + BCE(D(G(z).detach()), 0), one G step on
//                        BCE(D(G(z')), 1) with fresh z'.
//   train/mlp_classifier/batch:<n>  not a GAN: Linear(784,256)-ReLU-Linear(256,10), cross_entropy,
//                        Adam 1e-3; n = 1 and 64.
//   gan/row7/batch:128   DCGAN. G: Linear(100,128*7*7)-View(128,7,7)-BN2d-ReLU-ConvT(128,64,4,2,1)-
//                        BN2d-ReLU-ConvT(64,1,4,2,1)-Tanh, D: Conv(1,64,4,2,1)-LReLU(0.2)-
//                        Conv(64,128,4,2,1)-BN2d-LReLU(0.2)-Flatten-Linear(6272,1)-Sigmoid; weights
//                        N(0, 0.02), BN scales N(1, 0.02), biases 0; BCE, Adam lr 2e-4 betas
//                        (0.5, 0.999). One D step on BCE(D(real), 1) + BCE(D(fake.detach()), 0),
//                        then one G step on BCE(D(fake), 1), fake = G(z) (examples/dcgan).
//
// Gradients are cleared with set_to_none (nabla's zero_grad(); the twin resets them the same way).
// Each row runs at 1 and 2 threads, after untimed warm-up iterations (Adam creates its moments on
// its first step). Row 7 runs a fixed number of iterations (threaded_benchmark.hpp). The counters
// d_loss and g_loss are the last iteration's losses: a sanity check (finite, of the usual size),
// not a cross-check, since the two libraries start from different random weights.
#include <benchmark/benchmark.h>

#include <nabla/nabla.hpp>

#include "handwritten_row3.hpp"
#include "threaded_benchmark.hpp"

namespace {

using namespace nabla;
using T = Tensor<float>;
using Net = nn::Sequential<float>;

struct Row3 {
  static Net net(int64_t in, int64_t out) {
    return Net(nn::Linear<float>(in, 200), nn::LeakyReLU<float>(0.02),
               nn::LayerNorm<float>(Shape{200}), nn::Linear<float>(200, out), nn::Sigmoid<float>());
  }
  Generator gen{301};
  Net G = net(100, 784), D = net(784, 1);
  optim::Adam<float> opt_g{G.parameters(), 1e-4}, opt_d{D.parameters(), 1e-4};
  nn::BCELoss<float> bce;
  T real = T::uniform({784}, 0.f, 1.f, gen), one = T::full({1}, 1.f), zero = T::full({1}, 0.f);
  T d_loss, g_loss;

  void d_train(const T& x, const T& target) {
    d_loss = bce(D(x), target);
    opt_d.zero_grad();
    d_loss.backward();
    opt_d.step();
  }
  void step() {
    d_train(real, one);
    d_train(G(T::randn({100}, gen)).detach(), zero);
    g_loss = bce(D(G(T::randn({100}, gen))), one);
    opt_g.zero_grad();
    g_loss.backward();
    opt_g.step();
  }
};

struct Row6 {
  static constexpr int64_t kBatch = 100, kLatent = 64;
  Generator gen{601};
  Net G{nn::Linear<float>(kLatent, 256), nn::ReLU<float>(),
        nn::Linear<float>(256, 256),     nn::ReLU<float>(),
        nn::Linear<float>(256, 784),     nn::Tanh<float>()};
  Net D{nn::Linear<float>(784, 256), nn::LeakyReLU<float>(0.2), nn::Linear<float>(256, 256),
        nn::LeakyReLU<float>(0.2),   nn::Linear<float>(256, 1), nn::Sigmoid<float>()};
  optim::Adam<float> opt_g{G.parameters(), 2e-4}, opt_d{D.parameters(), 2e-4};
  nn::BCELoss<float> bce;
  T real = T::uniform({kBatch, 784}, -1.f, 1.f, gen), ones = T::ones({kBatch, 1}),
    zeros = T::zeros({kBatch, 1});
  T d_loss, g_loss;

  void step() {
    const T real_out = D(real);
    const T fake = G(T::randn({kBatch, kLatent}, gen));
    const T fake_out = D(fake.detach());
    d_loss = bce(real_out, ones) + bce(fake_out, zeros);
    opt_d.zero_grad();
    d_loss.backward();
    opt_d.step();
    g_loss = bce(D(G(T::randn({kBatch, kLatent}, gen))), ones);
    opt_g.zero_grad();
    opt_d.zero_grad();
    g_loss.backward();
    opt_g.step();
  }
};

template <int64_t Batch>
struct Row7 {
  static constexpr int64_t kBatch = Batch, kLatent = 100;
  static Net dcgan_init(Net net) {
    for (auto& [name, p] : net.named_parameters()) {
      if (name.ends_with("bias"))
        nn::init::zeros_(p);
      else if (p.dim() == 1)
        nn::init::normal_(p, 1.0, 0.02);
      else
        nn::init::normal_(p, 0.0, 0.02);
    }
    return net;
  }
  Generator gen{701};
  Net G = dcgan_init(Net(nn::Linear<float>(kLatent, 128 * 7 * 7), nn::View<float>({-1, 128, 7, 7}),
                         nn::BatchNorm2d<float>(128), nn::ReLU<float>(),
                         nn::ConvTranspose2d<float>(128, 64, 4, 2, 1), nn::BatchNorm2d<float>(64),
                         nn::ReLU<float>(), nn::ConvTranspose2d<float>(64, 1, 4, 2, 1),
                         nn::Tanh<float>()));
  Net D = dcgan_init(Net(nn::Conv2d<float>(1, 64, 4, 2, 1), nn::LeakyReLU<float>(0.2),
                         nn::Conv2d<float>(64, 128, 4, 2, 1), nn::BatchNorm2d<float>(128),
                         nn::LeakyReLU<float>(0.2), nn::Flatten<float>(),
                         nn::Linear<float>(128 * 7 * 7, 1), nn::Sigmoid<float>()));
  optim::Adam<float> opt_g{G.parameters(), {.lr = 2e-4, .beta1 = 0.5}},
      opt_d{D.parameters(), {.lr = 2e-4, .beta1 = 0.5}};
  nn::BCELoss<float> bce;
  T real = T::uniform({kBatch, 1, 28, 28}, -1.f, 1.f, gen), ones = T::ones({kBatch, 1}),
    zeros = T::zeros({kBatch, 1});
  T d_loss, g_loss;

  void step() {
    const T fake = G(T::randn({kBatch, kLatent}, gen));
    d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros);
    opt_d.zero_grad();
    d_loss.backward();
    opt_d.step();
    g_loss = bce(D(fake), ones);
    opt_g.zero_grad();
    opt_d.zero_grad();
    g_loss.backward();
    opt_g.step();
  }
};

// Not a GAN: the step a user comparing libraries likely writes first, an MNIST-sized MLP
// classifier, Linear(784,256)-ReLU-Linear(256,10), cross_entropy on class indices, Adam(1e-3).
template <int64_t Batch>
struct MlpClassifier {
  Generator gen{801};
  Net net{nn::Linear<float>(784, 256), nn::ReLU<float>(), nn::Linear<float>(256, 10)};
  optim::Adam<float> opt{net.parameters(), 1e-3};
  T images = T::uniform({Batch, 784}, 0.f, 1.f, gen);
  Tensor<int64_t> labels = Tensor<int64_t>::from([] {
    std::vector<int64_t> v(Batch);
    for (int64_t i = 0; i < Batch; ++i) v[static_cast<size_t>(i)] = i % 10;
    return v;
  }());
  T d_loss, g_loss;  // g_loss unused: the counters of gan() below

  void step() {
    d_loss = cross_entropy(net(images), labels);
    opt.zero_grad();
    d_loss.backward();
    opt.step();
    g_loss = d_loss;
  }
};

template <class Row>
void gan(benchmark::State& state, int warmup) {
  manual_seed(7);  // the layers' initialisation
  Row row;
  for (int i = 0; i < warmup; ++i) row.step();
  for (auto _ : state) row.step();
  state.counters["d_loss"] = row.d_loss.item();
  state.counters["g_loss"] = row.g_loss.item();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const auto set_threads = [](int t) { set_num_threads(t); };
  bench::register_threaded("gan/row3/batch:1", set_threads,
                           [](benchmark::State& s) { gan<Row3>(s, 20); },
                           {benchmark::kMicrosecond, 0});
  // The same row-3 iteration written by hand (no framework): the yardstick for nabla's overhead.
  bench::register_threaded("gan/row3_handwritten/batch:1", set_threads,
                           [](benchmark::State& s) {
                             bench::handwritten::Row3 row;
                             for (int i = 0; i < 20; ++i) row.step();
                             for (auto _ : s) row.step();
                             s.counters["d_loss"] = row.d_loss;
                             s.counters["g_loss"] = row.g_loss;
                           },
                           {benchmark::kMicrosecond, 0});
  bench::register_threaded("gan/row6/batch:100", set_threads,
                           [](benchmark::State& s) { gan<Row6>(s, 3); },
                           {benchmark::kMillisecond, 0});
  bench::register_threaded("gan/row7/batch:128", set_threads,
                           [](benchmark::State& s) { gan<Row7<128>>(s, 1); },
                           {benchmark::kMillisecond, 4});
  // Row 7's networks at batch 1: per-layer overhead of the convolutions, batch norm included.
  bench::register_threaded("gan/row7/batch:1", set_threads,
                           [](benchmark::State& s) { gan<Row7<1>>(s, 5); },
                           {benchmark::kMicrosecond, 0});
  bench::register_threaded("train/mlp_classifier/batch:1", set_threads,
                           [](benchmark::State& s) { gan<MlpClassifier<1>>(s, 20); },
                           {benchmark::kMicrosecond, 0});
  bench::register_threaded("train/mlp_classifier/batch:64", set_threads,
                           [](benchmark::State& s) { gan<MlpClassifier<64>>(s, 5); },
                           {benchmark::kMicrosecond, 0});
  bench::wait_for_idle_threads();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bench::report_idle_waits("bench_gan");
}
