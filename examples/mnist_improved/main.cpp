// Row 3 of GAN_VARIANTS.md (documents 000 and 002): the MNIST GAN improved step by step, and
// (row 3b) the seed experiments on its trained generator.
// G: Linear(zdim,200)-LReLU(0.02)-LN(200)-Linear(200,784)-Sigmoid
// D: Linear(784,200)-LReLU(0.02)-LN(200)-Linear(200,1)-Sigmoid
// BCE, Adam lr 1e-4 for both, batch 1, the training images in order, pixels / 255. One
// iteration = D on the real image (target 1), D on G(z).detach() (target 0), G through D
// (target 1), each its own optimizer step as in the documents. The stages:
//   uniform1    zdim 1,   z uniform in [0, 1)   still one image for every z (mode collapse)
//   uniform100  zdim 100, z uniform in [0, 1)   still collapsed
//   normal100   zdim 100, z ~ N(0, 1)           different digits: the documents' final GAN
// --experiments loads the trained G of a stage from its checkpoint and writes the seed
// experiments: seed1, seed2, the seeds between them, seed1 + seed2, seed1 - seed2, seed1 x seed2.
#include <cmath>
#include <numbers>

#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kImage = 784;

struct Stage {
  std::string name;
  int64_t zdim;
  bool normal;     // z ~ N(0, 1); otherwise uniform in [0, 1)
  int64_t epochs;  // the default
};
const std::vector<Stage> kStages = {
    {"uniform1", 1, false, 1}, {"uniform100", 100, false, 1}, {"normal100", 100, true, 4}};

nn::Sequential<float> make_generator(int64_t zdim) {
  return nn::Sequential<float>(nn::Linear<float>(zdim, 200), nn::LeakyReLU<float>(0.02),
                               nn::LayerNorm<float>({200}), nn::Linear<float>(200, kImage),
                               nn::Sigmoid<float>());
}
nn::Sequential<float> make_discriminator() {
  return nn::Sequential<float>(nn::Linear<float>(kImage, 200), nn::LeakyReLU<float>(0.02),
                               nn::LayerNorm<float>({200}), nn::Linear<float>(200, 1),
                               nn::Sigmoid<float>());
}
Tensor<float> as_images(const Tensor<float>& flat) {
  return flat.reshape({flat.size(0), 1, 28, 28});
}

// Row 3b. Each row of a picture is one pair of seeds drawn from the stage's distribution.
void seed_experiments(nn::Sequential<float>& G, const Stage& stage, int64_t pairs, int64_t between,
                      const ex::Options& o) {
  NoGradGuard no_grad;
  G.eval();
  auto draw = [&](int64_t n) {
    return stage.normal ? Tensor<float>::randn({n, stage.zdim})
                        : Tensor<float>::rand({n, stage.zdim});
  };
  const Tensor<float> seed1 = draw(pairs), seed2 = draw(pairs);
  const Tensor<float> img1 = G(seed1), img2 = G(seed2);

  // seed1 | seed2
  std::vector<Tensor<float>> both;
  for (int64_t p = 0; p < pairs; ++p)
    both.insert(both.end(), {img1.narrow(0, p, 1), img2.narrow(0, p, 1)});
  io::save_image(as_images(cat(both, 0)), ex::out_path(o, "seeds.png"), {.nrow = 2});

  // seed1, then `between` seeds on the straight line to seed2, then seed2.
  std::vector<Tensor<float>> line;
  for (int64_t p = 0; p < pairs; ++p) {
    const Tensor<float> a = seed1.narrow(0, p, 1), b = seed2.narrow(0, p, 1);
    for (int64_t k = 0; k <= between + 1; ++k) {
      const float t = static_cast<float>(k) / static_cast<float>(between + 1);
      line.push_back(G(a * (1.0f - t) + b * t));
    }
  }
  io::save_image(as_images(cat(line, 0)), ex::out_path(o, "interpolation.png"),
                 {.nrow = between + 2});

  // seed1, seed2, seed1 + seed2, seed1 - seed2, seed1 x seed2
  std::vector<Tensor<float>> arithmetic;
  for (int64_t p = 0; p < pairs; ++p) {
    const Tensor<float> a = seed1.narrow(0, p, 1), b = seed2.narrow(0, p, 1);
    arithmetic.insert(arithmetic.end(),
                      {img1.narrow(0, p, 1), img2.narrow(0, p, 1), G(a + b), G(a - b), G(a * b)});
  }
  io::save_image(as_images(cat(arithmetic, 0)), ex::out_path(o, "arithmetic.png"), {.nrow = 5});
  std::printf(
      "seed experiments (%lld pairs, one a row): seeds.png (seed1, seed2), interpolation.png "
      "(seed1, %lld "
      "between, seed2), arithmetic.png (seed1, seed2, seed1+seed2, seed1-seed2, seed1*seed2)\n",
      static_cast<long long>(pairs), static_cast<long long>(between));
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.batch = 1;
  o.lr_g = o.lr_d = 1e-4;
  CLI::App app{
      "mnist_improved: row 3 of GAN_VARIANTS.md, the MNIST GAN with LeakyReLU, LayerNorm, BCE and "
      "Adam, "
      "in stages; --experiments: row 3b, the seed experiments"};
  ex::add_common_flags(app, o);
  app.get_option("--epochs")->default_str("1 for the uniform stages, 4 for normal100");
  std::string stage_name = "normal100";
  app.add_option("--stage", stage_name,
                 "uniform1 (zdim 1, uniform z), uniform100 (zdim 100, uniform z) or "
                 "normal100 (zdim 100, normal z)")
      ->capture_default_str()
      ->check(CLI::IsMember({"uniform1", "uniform100", "normal100"}));
  bool experiments = false;
  int64_t pairs = 4, between = 10, log_every = 10;
  app.add_flag("--experiments", experiments,
               "row 3b: load the stage's trained G from the checkpoint in the output folder and "
               "write the seed "
               "experiments instead of training");
  app.add_option("--pairs", pairs, "--experiments: pairs of seeds, one row each")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--between", between, "--experiments: seeds between seed1 and seed2")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--log-every", log_every,
                 "steps between loss records (the documents keep every 10th)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const Stage& stage = *std::find_if(kStages.begin(), kStages.end(),
                                     [&](const Stage& s) { return s.name == stage_name; });
  if (app.count("--epochs") == 0) o.epochs = stage.epochs;

  return ex::run("mnist_improved", [&] {
    if (o.out.empty()) o.out = "out/mnist_improved/" + stage.name;
    ex::setup(o, "mnist_improved");
    auto G = make_generator(stage.zdim);
    auto D = make_discriminator();
    optim::Adam<float> opt_g(G.parameters(), o.lr_g), opt_d(D.parameters(), o.lr_d);
    nn::BCELoss<float> bce;
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}});
    // A checkpoint of another stage has another zdim: say which file and which stage.
    auto load_checkpoint = [&] {
      try {
        return checkpoints.load();
      } catch (const Error& e) {
        if (!fs::exists(checkpoints.path())) throw;
        throw Error("'" + checkpoints.path() + "' does not fit --stage " + stage.name + " (zdim " +
                    std::to_string(stage.zdim) + "): " + e.what());
      }
    };
    auto latent = [&](int64_t n) {
      return stage.normal ? Tensor<float>::randn({n, stage.zdim})
                          : Tensor<float>::rand({n, stage.zdim});
    };

    if (experiments) {
      NABLA_CHECK(fs::exists(checkpoints.path()), "--experiments: no checkpoint at '",
                  checkpoints.path(), "' (train first: mnist_improved --stage ", stage.name,
                  " --out ", o.out, ")");
      load_checkpoint();
      seed_experiments(G, stage, pairs, between, o);
      if (!o.dump_samples.empty())
        ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::zero_one,
                         [&](int64_t n) { return as_images(G(latent(n))); });
      std::printf("mnist_improved: outputs in %s (seeds.png, interpolation.png, arithmetic.png)\n",
                  o.out.c_str());
      return 0;
    }

    io::LossHistory history({"d_loss_real", "d_loss_fake", "g_loss"});
    ex::TrainState state;
    const std::string loss_csv = ex::out_path(o, "loss.csv");
    if (o.resume) {
      state = load_checkpoint();
      if (fs::exists(loss_csv)) history = io::LossHistory::load_csv(loss_csv);
      history.truncate_after(state.step);
      std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.epoch), static_cast<long long>(state.step));
    }

    const Tensor<float> fixed_z = latent(64);
    const io::GridOptions grid{.nrow = 8};
    auto done = [&] { return o.epochs <= state.epoch || (o.steps > 0 && state.step >= o.steps); };
    if (!done()) {
      const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
      if (!fs::exists(ex::out_path(o, "real_images.png"))) {
        std::vector<int64_t> first(static_cast<size_t>(std::min<int64_t>(64, mnist.size())));
        for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
        io::save_image(data::make_batch(mnist, first, data::PixelRange::zero_one).images,
                       ex::out_path(o, "real_images.png"), grid);
      }
      data::DataLoader loader(mnist, {.batch_size = o.batch, .shuffle = false, .drop_last = true});
      const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                          zeros = Tensor<float>::zeros({o.batch, 1});
      auto train_d = [&](const Tensor<float>& input, const Tensor<float>& target) {
        const Tensor<float> loss = bce(D(input), target);
        opt_d.zero_grad();
        loss.backward();
        opt_d.step();
        return loss.item();
      };
      for (int64_t epoch = state.epoch; epoch < o.epochs && !done(); ++epoch) {
        io::Progress progress(loader.size(), stage.name + " epoch " + std::to_string(epoch + 1) +
                                                 "/" + std::to_string(o.epochs));
        for (const data::Batch& batch : loader) {
          const double d_real = train_d(batch.images.reshape({o.batch, kImage}), ones);
          const double d_fake = train_d(G(latent(o.batch)).detach(), zeros);
          const Tensor<float> g_loss = bce(D(G(latent(o.batch))), ones);
          opt_g.zero_grad();
          g_loss.backward();
          opt_g.step();

          ++state.step;
          if (state.step % log_every == 0) history.add(state.step, {d_real, d_fake, g_loss.item()});
          if (state.step % 100 == 0) {
            char status[64];
            std::snprintf(status, sizeof status, "d_loss %.4f  g_loss %.4f", d_fake, g_loss.item());
            progress.set_status(status);
          }
          progress.advance();
          if (o.steps > 0 && state.step >= o.steps) break;
        }
        progress.finish();
        state.epoch = epoch + 1;
        {
          NoGradGuard no_grad;
          io::save_image(as_images(G(fixed_z)),
                         ex::out_path(o, "fake_images-" + std::to_string(state.epoch) + ".png"),
                         grid);
        }
        checkpoints.save(state);
        history.save_csv(loss_csv);
        history.save_png(
            ex::out_path(o, "loss.png"),
            {.title = "mnist_improved " + stage.name + ": BCE losses (balance: ln 2 = 0.693)"});
      }
    }

    // The documents read the loss curves against ln 2: the mean of the last tenth of the records.
    if (history.size() > 0) {
      const size_t from = history.size() - std::max<size_t>(1, history.size() / 10);
      double sums[3] = {0, 0, 0};
      for (size_t r = from; r < history.size(); ++r)
        for (size_t k = 0; k < 3; ++k) sums[k] += history.value(r, k);
      const auto n = static_cast<double>(history.size() - from);
      std::printf(
          "mean losses over the last %zu records: d_real %.3f, d_fake %.3f, g %.3f (ln 2 = %.3f)\n",
          history.size() - from, sums[0] / n, sums[1] / n, sums[2] / n, std::numbers::ln2);
    }
    NoGradGuard no_grad;
    G.eval();
    const data::ImageDataset test = ex::load_mnist_or_fail(o.data, data::Split::test);
    std::printf(
        "pixel spread (mean per-pixel std): 1000 samples %.4f, %lld held-out real images %.4f\n",
        ex::pixel_spread(G(latent(1000))), static_cast<long long>(test.size()),
        ex::pixel_spread(ex::all_images(test)));
    if (!o.dump_samples.empty())
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::zero_one,
                       [&](int64_t n) { return as_images(G(latent(n))); });
    std::printf(
        "mnist_improved: outputs in %s (fake_images-*.png, real_images.png, loss.png, loss.csv, "
        "checkpoint.nabla; --experiments for the seed experiments)\n",
        o.out.c_str());
    return 0;
  });
}
