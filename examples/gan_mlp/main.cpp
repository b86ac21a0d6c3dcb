// Row 6 of GAN_VARIANTS.md (document 003): a fully connected GAN on MNIST in [-1, 1].
// G: Linear(64,256)-ReLU-Linear(256,256)-ReLU-Linear(256,784)-Tanh
// D: Linear(784,256)-LReLU(0.2)-Linear(256,256)-LReLU(0.2)-Linear(256,1)-Sigmoid
// BCE, Adam lr 2e-4 for both, batch 100; one D step (real target 1, fake target 0) and one G step
// per batch. Writes real_images.png once, fake_images-<epoch>.png each epoch, loss curves, and
// checkpoints of G, D and both optimizers.
#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 64, kImage = 784;

nn::Sequential<float> make_generator() {
  return nn::Sequential<float>(nn::Linear<float>(kLatent, 256), nn::ReLU<float>(), nn::Linear<float>(256, 256),
                               nn::ReLU<float>(), nn::Linear<float>(256, kImage), nn::Tanh<float>());
}
nn::Sequential<float> make_discriminator() {
  return nn::Sequential<float>(nn::Linear<float>(kImage, 256), nn::LeakyReLU<float>(0.2), nn::Linear<float>(256, 256),
                               nn::LeakyReLU<float>(0.2), nn::Linear<float>(256, 1), nn::Sigmoid<float>());
}
Tensor<float> as_images(const Tensor<float>& flat) { return flat.reshape({flat.size(0), 1, 28, 28}); }
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.epochs = 200;
  o.batch = 100;
  o.lr_g = o.lr_d = 2e-4;
  CLI::App app{"gan_mlp: row 6 of GAN_VARIANTS.md, a fully connected GAN on MNIST in [-1, 1]"};
  ex::add_common_flags(app, o);
  int64_t log_every = 200;
  app.add_option("--log-every", log_every, "steps between log lines")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  return ex::run("gan_mlp", [&] {
    ex::setup(o, "gan_mlp");
    auto G = make_generator();
    auto D = make_discriminator();
    optim::Adam<float> opt_g(G.parameters(), o.lr_g), opt_d(D.parameters(), o.lr_d);
    nn::BCELoss<float> bce;
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}});
    io::LossHistory history({"d_loss", "g_loss"});
    // Drawn before a resume moves the generator, so that every run shows the same z.
    const Tensor<float> fixed_z = Tensor<float>::randn({64, kLatent});
    ex::TrainState state;
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(ex::out_path(o, "loss.csv"))) history = io::LossHistory::load_csv(ex::out_path(o, "loss.csv"));
      history.truncate_after(state.step);
      std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.epoch), static_cast<long long>(state.step));
    }

    const io::GridOptions grid{.nrow = 8, .normalize = true, .value_range = {{-1.f, 1.f}}};
    if (o.epochs > state.epoch && (o.steps == 0 || state.step < o.steps)) {
      const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
      data::DataLoader loader(mnist, {.batch_size = o.batch, .shuffle = true, .drop_last = true, .seed = o.seed,
                                      .range = data::PixelRange::minus_one_one});
      const int64_t per_epoch = loader.size();
      const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}), zeros = Tensor<float>::zeros({o.batch, 1});
      bool wrote_real = fs::exists(ex::out_path(o, "real_images.png"));
      for (int64_t epoch = state.epoch; epoch < o.epochs; ++epoch) {
        loader.set_epoch(epoch);
        io::Progress progress(per_epoch, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs));
        int64_t i = 0;
        for (const data::Batch& batch : loader) {
          const Tensor<float> real = batch.images.reshape({o.batch, kImage});
          if (!wrote_real) {
            io::save_image(as_images(real), ex::out_path(o, "real_images.png"), grid);
            wrote_real = true;
          }
          // D: real -> 1, G(z) -> 0.
          const Tensor<float> real_out = D(real);
          const Tensor<float> fake = G(Tensor<float>::randn({o.batch, kLatent}));
          const Tensor<float> fake_out = D(fake.detach());
          const Tensor<float> d_loss = bce(real_out, ones) + bce(fake_out, zeros);
          opt_d.zero_grad();
          d_loss.backward();
          opt_d.step();
          // G: D(G(z)) -> 1.
          const Tensor<float> g_out = D(G(Tensor<float>::randn({o.batch, kLatent})));
          const Tensor<float> g_loss = bce(g_out, ones);
          opt_g.zero_grad();
          opt_d.zero_grad();
          g_loss.backward();
          opt_g.step();

          ++state.step;
          ++i;
          history.add(state.step, {d_loss.item(), g_loss.item()});
          if (i % log_every == 0) {
            std::printf("Epoch [%lld/%lld], Step [%lld/%lld], d_loss: %.4f, g_loss: %.4f, D(x): %.2f, D(G(z)): %.2f\n",
                        static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs),
                        static_cast<long long>(i), static_cast<long long>(per_epoch), d_loss.item(), g_loss.item(),
                        mean(real_out).item(), mean(fake_out).item());
          }
          progress.set_status("d_loss " + std::to_string(d_loss.item()).substr(0, 6) + "  g_loss " +
                              std::to_string(g_loss.item()).substr(0, 6));
          progress.advance();
          if (o.steps > 0 && state.step >= o.steps) break;
        }
        progress.finish();
        state.epoch = epoch + 1;
        {
          NoGradGuard no_grad;
          io::save_image(as_images(G(fixed_z)), ex::out_path(o, "fake_images-" + std::to_string(epoch + 1) + ".png"),
                         grid);
        }
        checkpoints.save(state);
        history.save_csv(ex::out_path(o, "loss.csv"));
        history.save_png(ex::out_path(o, "loss.png"));
        if (o.steps > 0 && state.step >= o.steps) break;
      }
    }
    if (!o.dump_samples.empty()) {
      G.eval();
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::minus_one_one,
                       [&](int64_t n) { return as_images(G(Tensor<float>::randn({n, kLatent}))); });
    }
    std::printf("gan_mlp: outputs in %s (fake_images-*.png, loss.png, loss.csv, checkpoint.nabla)\n", o.out.c_str());
    return 0;
  });
}
