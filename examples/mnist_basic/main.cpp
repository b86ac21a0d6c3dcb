// Row 2 of GAN_VARIANTS.md (documents 000 and 002): the first MNIST GAN, with sigmoids, MSE and
// plain SGD, and the discriminator test that comes before it.
// G: Linear(1,200)-Sigmoid-Linear(200,784)-Sigmoid, z uniform in [0, 1), one number
// D: Linear(784,200)-Sigmoid-Linear(200,1)-Sigmoid
// MSE, SGD lr 0.01 for both, batch 1, the training images in order, pixels / 255. The document
// makes one pass over MNIST's 70,000 images (training and test); one epoch of the 60,000 training
// images here is nearly as many iterations.
//   --mode discriminator-test: D alone, on each real image (target 1) and on an image of uniform
//     noise (target 0); then it scores held-out real images against fresh noise.
//   --mode gan: one iteration = D on the real image (target 1), D on G(z).detach() (target 0),
//     G through D (target 1), each its own optimizer step as in the document. G collapses onto
//     one digit-like image: the documents' "mode collapse".
#include <cmath>

#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 1, kImage = 784;

nn::Sequential<float> make_generator() {
  return nn::Sequential<float>(nn::Linear<float>(kLatent, 200), nn::Sigmoid<float>(),
                               nn::Linear<float>(200, kImage), nn::Sigmoid<float>());
}
nn::Sequential<float> make_discriminator() {
  return nn::Sequential<float>(nn::Linear<float>(kImage, 200), nn::Sigmoid<float>(),
                               nn::Linear<float>(200, 1), nn::Sigmoid<float>());
}
Tensor<float> as_images(const Tensor<float>& flat) {
  return flat.reshape({flat.size(0), 1, 28, 28});
}
Tensor<float> noise_images(int64_t n) { return Tensor<float>::rand({n, kImage}); }
Tensor<float> latent(int64_t n) { return Tensor<float>::rand({n, kLatent}); }

// Every image of a data set as one N x 784 tensor in [0, 1].
std::string status_line(const char* a, double va, const char* b, double vb) {
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%s %.4f  %s %.4f", a, va, b, vb);
  return buffer;
}

struct Run {
  ex::Options& o;
  nn::Sequential<float> G = make_generator();
  nn::Sequential<float> D = make_discriminator();
  optim::SGD<float> opt_g{G.parameters(), o.lr_g}, opt_d{D.parameters(), o.lr_d};
  nn::MSELoss<float> mse;
  ex::Checkpoints checkpoints{o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}}};
  ex::TrainState state;

  explicit Run(ex::Options& options) : o(options) {}

  // Restores the checkpoint and the loss history when --resume is given.
  void resume(io::LossHistory& history) {
    if (!o.resume) return;
    state = checkpoints.load();
    const std::string csv = ex::out_path(o, "loss.csv");
    if (fs::exists(csv)) history = io::LossHistory::load_csv(csv);
    history.truncate_after(state.step);
    std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                static_cast<long long>(state.epoch), static_cast<long long>(state.step));
  }
  bool done() const { return o.epochs <= state.epoch || (o.steps > 0 && state.step >= o.steps); }

  // Trains D on `input` towards `target` with one SGD step; returns the loss.
  double train_d(const Tensor<float>& input, const Tensor<float>& target) {
    const Tensor<float> loss = mse(D(input), target);
    opt_d.zero_grad();
    loss.backward();
    opt_d.step();
    return loss.item();
  }

  // One pass over `mnist` per epoch, calling `step(real images)` for each batch of the images in
  // order; `after_epoch(epoch)` then writes the epoch's outputs.
  template <class Step, class AfterEpoch>
  void train(const data::ImageDataset& mnist, Step step, AfterEpoch after_epoch) {
    data::DataLoader loader(mnist, {.batch_size = o.batch, .shuffle = false, .drop_last = true});
    for (int64_t epoch = state.epoch; epoch < o.epochs && !done(); ++epoch) {
      io::Progress progress(loader.size(),
                            "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs));
      int64_t i = 0;
      for (const data::Batch& batch : loader) {
        step(batch.images.reshape({o.batch, kImage}), ++i % 100 == 0 ? &progress : nullptr);
        ++state.step;
        progress.advance();
        if (o.steps > 0 && state.step >= o.steps) break;
      }
      progress.finish();
      state.epoch = epoch + 1;
      after_epoch(epoch + 1);
    }
  }
};

const io::PlotOptions kLossPlot{.title = "", .y_range = {{0.0, 1.0}}};

int discriminator_test(ex::Options& o, int64_t log_every) {
  NABLA_CHECK(o.dump_samples.empty(),
              "--dump-samples: --mode discriminator-test trains no generator (use --mode gan)");
  Run run(o);
  io::LossHistory history({"d_loss_real", "d_loss_noise"});
  run.resume(history);
  const data::ImageDataset test = ex::load_mnist_or_fail(o.data, data::Split::test);
  if (!run.done()) {
    const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
    const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                        zeros = Tensor<float>::zeros({o.batch, 1});
    run.train(
        mnist,
        [&](const Tensor<float>& real, io::Progress* progress) {
          const double real_loss = run.train_d(real, ones);
          const double noise_loss = run.train_d(noise_images(o.batch), zeros);
          if ((run.state.step + 1) % log_every == 0)
            history.add(run.state.step + 1, {real_loss, noise_loss});
          if (progress) progress->set_status(status_line("real", real_loss, "noise", noise_loss));
        },
        [&](int64_t) {
          run.checkpoints.save(run.state);
          history.save_csv(ex::out_path(o, "loss.csv"));
          io::PlotOptions plot = kLossPlot;
          plot.title = "mnist_basic discriminator test: MSE of D on real images and on noise";
          history.save_png(ex::out_path(o, "loss.png"), plot);
        });
  }

  // Held-out real images against as many fresh noise images.
  NoGradGuard no_grad;
  const Tensor<float> real = ex::all_images(test), noise = noise_images(test.size());
  const std::vector<float> on_real = run.D(real).to_vector(), on_noise = run.D(noise).to_vector();
  int64_t correct = 0;
  double mean_real = 0, mean_noise = 0;
  for (float v : on_real) correct += v > 0.5f, mean_real += v;
  for (float v : on_noise) correct += v < 0.5f, mean_noise += v;
  mean_real /= static_cast<double>(on_real.size());
  mean_noise /= static_cast<double>(on_noise.size());
  const std::vector<io::Sample> scores{{"held-out real images", {on_real.begin(), on_real.end()}},
                                       {"uniform noise", {on_noise.begin(), on_noise.end()}}};
  io::plot_histogram(ex::out_path(o, "d_scores.png"), scores,
                     {.title = "D's output on held-out real images and on noise",
                      .x_label = "D(x)",
                      .y_label = "fraction of images",
                      .bins = 50,
                      .range = {{0.0, 1.0}}});
  // Eight real images above eight noise images: what D tells apart.
  const int64_t shown = std::min<int64_t>(8, test.size());
  io::save_image(as_images(cat({real.narrow(0, 0, shown), noise.narrow(0, 0, shown)}, 0)),
                 ex::out_path(o, "test_images.png"), {.nrow = shown});
  std::printf(
      "D on %lld held-out real images: mean %.4f; on %lld noise images: mean %.4f; "
      "%.2f%% of the %lld classified right at 0.5\n",
      static_cast<long long>(on_real.size()), mean_real, static_cast<long long>(on_noise.size()),
      mean_noise,
      100.0 * static_cast<double>(correct) / static_cast<double>(on_real.size() + on_noise.size()),
      static_cast<long long>(on_real.size() + on_noise.size()));
  std::printf(
      "mnist_basic: outputs in %s (d_scores.png, test_images.png, loss.png, loss.csv, "
      "checkpoint.nabla)\n",
      o.out.c_str());
  return 0;
}

int gan(ex::Options& o, int64_t log_every) {
  Run run(o);
  io::LossHistory history({"d_loss_real", "d_loss_fake", "g_loss"});
  run.resume(history);
  const Tensor<float> fixed_z = latent(64);
  const io::GridOptions grid{.nrow = 8};
  if (!run.done()) {
    const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
    const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                        zeros = Tensor<float>::zeros({o.batch, 1});
    if (!fs::exists(ex::out_path(o, "real_images.png"))) {
      std::vector<int64_t> first(static_cast<size_t>(std::min<int64_t>(64, mnist.size())));
      for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
      io::save_image(data::make_batch(mnist, first, data::PixelRange::zero_one).images,
                     ex::out_path(o, "real_images.png"), grid);
    }
    run.train(
        mnist,
        [&](const Tensor<float>& real, io::Progress* progress) {
          const double d_real = run.train_d(real, ones);
          const double d_fake = run.train_d(run.G(latent(o.batch)).detach(), zeros);
          const Tensor<float> g_loss = run.mse(run.D(run.G(latent(o.batch))), ones);
          run.opt_g.zero_grad();
          g_loss.backward();
          run.opt_g.step();
          if ((run.state.step + 1) % log_every == 0)
            history.add(run.state.step + 1, {d_real, d_fake, g_loss.item()});
          if (progress)
            progress->set_status(status_line("d_loss", d_fake, "g_loss", g_loss.item()));
        },
        [&](int64_t epoch) {
          {
            NoGradGuard no_grad;
            io::save_image(as_images(run.G(fixed_z)),
                           ex::out_path(o, "fake_images-" + std::to_string(epoch) + ".png"), grid);
          }
          run.checkpoints.save(run.state);
          history.save_csv(ex::out_path(o, "loss.csv"));
          io::PlotOptions plot = kLossPlot;
          plot.title = "mnist_basic GAN: MSE losses";
          history.save_png(ex::out_path(o, "loss.png"), plot);
        });
  }

  NoGradGuard no_grad;
  // How different the samples are from one another, against the same figure for real digits.
  const data::ImageDataset test = ex::load_mnist_or_fail(o.data, data::Split::test);
  std::printf(
      "pixel spread (mean per-pixel std): 1000 samples %.4f, %lld held-out real images %.4f\n",
      ex::pixel_spread(run.G(latent(1000))), static_cast<long long>(test.size()),
      ex::pixel_spread(ex::all_images(test)));
  if (!o.dump_samples.empty())
    ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::zero_one,
                     [&](int64_t n) { return as_images(run.G(latent(n))); });
  std::printf(
      "mnist_basic: outputs in %s (fake_images-*.png, real_images.png, loss.png, loss.csv, "
      "checkpoint.nabla)\n",
      o.out.c_str());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.batch = 1;
  o.lr_g = o.lr_d = 0.01;
  CLI::App app{
      "mnist_basic: row 2 of GAN_VARIANTS.md, the first MNIST GAN (sigmoids, MSE, SGD) and its "
      "discriminator test"};
  ex::add_common_flags(app, o);
  std::string mode = "gan";
  app.add_option("--mode", mode,
                 "gan, or discriminator-test (D alone: real images against uniform noise)")
      ->capture_default_str()
      ->check(CLI::IsMember({"gan", "discriminator-test"}));
  int64_t log_every = 10;
  app.add_option("--log-every", log_every,
                 "steps between loss records (the document keeps every 10th)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  return ex::run("mnist_basic", [&] {
    if (o.out.empty()) o.out = "out/mnist_basic/" + mode;
    ex::setup(o, "mnist_basic");
    return mode == "gan" ? gan(o, log_every) : discriminator_test(o, log_every);
  });
}
