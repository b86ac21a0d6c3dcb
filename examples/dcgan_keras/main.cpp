// Row 8 of GAN_VARIANTS.md (document 004): the Keras DCGAN on MNIST in [-1, 1], random batches.
// G: Linear(100,512)-LReLU(0.2)-Linear(512,128*7*7)-LReLU(0.2)-BN-Reshape(128,7,7)
//      -Upsample x2-Conv(128,64,5,1,2)-Tanh-Upsample x2-Conv(64,1,5,1,2)-Tanh, z uniform(-1,1)^100
// D: Conv(1,256,5,1,2)-LReLU(0.2)-MaxPool2-Dropout(0.3)-Conv(256,512,5,1,2)-LReLU(0.2)-MaxPool2
//      -Dropout(0.3)-Flatten-Linear(512*7*7,256)-LReLU(0.2)-Dropout(0.3)-Linear(256,1)-Sigmoid
// BCE, Adam lr 2e-4 beta1 0.5, batch 128. One "epoch" of the document's code is one outer
// iteration: 1 D step on 128 random real images (target 0.9) and 128 fakes (target 0) in one batch
// of 256, then 5 G steps through the frozen D (target 1). A sample grid every 20 iterations, the
// loss graph, and histograms of real vs fake pixel values before and after training.
//
// The Keras behaviour kept on purpose: the fakes D trains on come from G.predict, i.e. G in
// inference mode (BatchNorm with its moving averages, momentum 0.99, epsilon 1e-3), while the G
// steps run G in training mode (batch statistics) and D with dropout on but its weights frozen;
// Keras's initialisers (Glorot-uniform kernels, zero biases, N(0, 0.02) for D's first kernel);
// Adam's epsilon 1e-7.
#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 100;

nn::Sequential<float> make_generator() {
  return nn::Sequential<float>(nn::Linear<float>(kLatent, 512), nn::LeakyReLU<float>(0.2),
                               nn::Linear<float>(512, 128 * 7 * 7), nn::LeakyReLU<float>(0.2),
                               nn::BatchNorm1d<float>(128 * 7 * 7, /*eps=*/1e-3, /*momentum=*/0.01),
                               nn::Reshape<float>({-1, 128, 7, 7}), nn::Upsample<float>(2),
                               nn::Conv2d<float>(128, 64, 5, 1, 2), nn::Tanh<float>(),
                               nn::Upsample<float>(2), nn::Conv2d<float>(64, 1, 5, 1, 2),
                               nn::Tanh<float>());
}

nn::Sequential<float> make_discriminator() {
  return nn::Sequential<float>(
      nn::Conv2d<float>(1, 256, 5, 1, 2), nn::LeakyReLU<float>(0.2), nn::MaxPool2d<float>(2),
      nn::Dropout<float>(0.3), nn::Conv2d<float>(256, 512, 5, 1, 2), nn::LeakyReLU<float>(0.2),
      nn::MaxPool2d<float>(2), nn::Dropout<float>(0.3), nn::Flatten<float>(),
      nn::Linear<float>(512 * 7 * 7, 256), nn::LeakyReLU<float>(0.2), nn::Dropout<float>(0.3),
      nn::Linear<float>(256, 1), nn::Sigmoid<float>());
}

// Keras's defaults: Glorot-uniform kernels, zero biases; BatchNorm's gamma stays 1.
void keras_init(nn::Module<float>& m) {
  for (auto& [name, p] : m.named_parameters()) {
    if (p.dim() > 1)
      nn::init::xavier_uniform_(p);
    else if (name.ends_with("bias"))
      nn::init::zeros_(p);
  }
}

// Keras's D.trainable = False inside the combined model: D's weights stay as they are, and no
// gradient is computed for them.
void set_trainable(nn::Module<float>& m, bool on) {
  for (Tensor<float>& p : m.parameters()) p.requires_grad_(on);
}

Tensor<float> uniform_z(int64_t n) { return Tensor<float>::uniform({n, kLatent}, -1.f, 1.f); }

void save_histogram(nn::Module<float>& G, const Tensor<float>& real, const Tensor<float>& z,
                    const std::string& path, const std::string& when) {
  NoGradGuard no_grad;
  G.eval();
  const Tensor<float> fake = G(z);
  G.train();
  const std::vector<io::Sample> samples = {io::Sample::of("real images", real),
                                           io::Sample::of("generated images", fake)};
  io::plot_histogram(
      path, samples,
      {.title = "Pixel values, real vs generated, " + when, .bins = 20, .range = {{-1.0, 1.0}}});
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.epochs = 1000;
  o.batch = 128;
  o.lr_g = o.lr_d = 2e-4;
  CLI::App app{
      "dcgan_keras: row 8 of GAN_VARIANTS.md, the Keras DCGAN on MNIST in [-1, 1] with random "
      "batches"};
  ex::add_common_flags(app, o);
  int64_t d_steps = 1, g_steps = 5, sample_every = 20, checkpoint_every = 20;
  double real_target = 0.9;
  app.add_option("--d-steps", d_steps, "D steps per iteration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--g-steps", g_steps, "G steps per iteration")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--real-target", real_target,
                 "D's target for real images (one-sided label smoothing)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--sample-every", sample_every, "iterations between sample grids")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--checkpoint-every", checkpoint_every, "iterations between checkpoints")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.footer(
      "--epochs counts outer iterations, as the document's code does (epochs = 1000): each is "
      "--d-steps D steps and --g-steps G steps on random batches. --steps stops after that many "
      "iterations.");
  CLI11_PARSE(app, argc, argv);

  return ex::run("dcgan_keras", [&] {
    ex::setup(o, "dcgan_keras");
    auto G = make_generator();
    auto D = make_discriminator();
    keras_init(G);
    keras_init(D);
    nn::init::normal_(D.get<nn::Conv2d<float>>(0).weight, 0.0, 0.02);
    optim::Adam<float> opt_g(G.parameters(), {.lr = o.lr_g, .beta1 = 0.5, .eps = 1e-7});
    optim::Adam<float> opt_d(D.parameters(), {.lr = o.lr_d, .beta1 = 0.5, .eps = 1e-7});
    nn::BCELoss<float> bce;
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}});
    io::LossHistory history({"d_loss", "g_loss"});
    ex::TrainState state;
    // Drawn before a resume moves the generator, so that every run shows the same z.
    const Tensor<float> fixed_z = uniform_z(64);
    const Tensor<float> histogram_z = uniform_z(100);
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(ex::out_path(o, "loss.csv")))
        history = io::LossHistory::load_csv(ex::out_path(o, "loss.csv"));
      history.truncate_after(state.step);
      std::printf("resumed from %s at iteration %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.step));
    }

    const io::GridOptions grid{.nrow = 8, .normalize = true, .value_range = {{-1.f, 1.f}}};
    const int64_t iterations = o.steps > 0 ? std::min(o.steps, o.epochs) : o.epochs;
    if (state.step < iterations) {
      const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
      Generator histogram_gen(o.seed + 1);
      const Tensor<float> histogram_real =
          data::random_batch(mnist, 100, histogram_gen, data::PixelRange::minus_one_one).images;
      if (!fs::exists(ex::out_path(o, "histogram_before.png")))
        save_histogram(G, histogram_real, histogram_z, ex::out_path(o, "histogram_before.png"),
                       "before training");
      const int64_t b = o.batch;
      Tensor<float> d_target = Tensor<float>::zeros({2 * b, 1});
      d_target.narrow(0, 0, b).fill_(static_cast<float>(real_target));
      const Tensor<float> g_target = Tensor<float>::ones({b, 1});
      io::Progress progress(iterations - state.step, "iterations");
      while (state.step < iterations) {
        double d_loss = 0, g_loss = 0;
        for (int64_t k = 0; k < d_steps; ++k) {
          const Tensor<float> real =
              data::random_batch(mnist, b, default_generator(), data::PixelRange::minus_one_one)
                  .images;
          Tensor<float> fake;
          {
            NoGradGuard no_grad;  // G.predict
            G.eval();
            fake = G(uniform_z(b));
            G.train();
          }
          const Tensor<float> loss = bce(D(cat({real, fake}, 0)), d_target);
          opt_d.zero_grad();
          loss.backward();
          opt_d.step();
          d_loss = loss.item();
        }
        set_trainable(D, false);
        for (int64_t k = 0; k < g_steps; ++k) {
          const Tensor<float> loss = bce(D(G(uniform_z(b))), g_target);
          opt_g.zero_grad();
          loss.backward();
          opt_g.step();
          g_loss = loss.item();
        }
        set_trainable(D, true);

        const int64_t iteration = state.step;  // the document's epoch counter, from 0
        ++state.step;
        state.epoch = state.step;
        history.add(state.step, {d_loss, g_loss});
        if (iteration % sample_every == 0) {
          NoGradGuard no_grad;
          G.eval();
          io::save_image(G(fixed_z),
                         ex::out_path(o, "samples-" + std::to_string(iteration) + ".png"), grid);
          G.train();
          std::printf("Epoch: %lld\nDiscriminator loss: %.6f\nGenerator loss: %.6f\n",
                      static_cast<long long>(iteration), d_loss, g_loss);
        }
        progress.set_status("d_loss " + std::to_string(d_loss).substr(0, 6) + "  g_loss " +
                            std::to_string(g_loss).substr(0, 6));
        progress.advance();
        if (state.step % checkpoint_every == 0 || state.step == iterations) {
          checkpoints.save(state);
          history.save_csv(ex::out_path(o, "loss.csv"));
          history.save_png(ex::out_path(o, "loss.png"), {.x_label = "iteration"});
        }
      }
      progress.finish();
      {
        NoGradGuard no_grad;
        G.eval();
        io::save_image(G(fixed_z), ex::out_path(o, "samples-final.png"), grid);
      }
      save_histogram(G, histogram_real, histogram_z, ex::out_path(o, "histogram_after.png"),
                     "after " + std::to_string(state.step) + " iterations");
    }
    if (!o.dump_samples.empty()) {
      G.eval();
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::minus_one_one,
                       [&](int64_t n) { return G(uniform_z(n)); });
    }
    std::printf(
        "dcgan_keras: outputs in %s (samples-*.png, histogram_before.png, histogram_after.png, "
        "loss.png, "
        "loss.csv, checkpoint.nabla)\n",
        o.out.c_str());
    return 0;
  });
}
