// Row 9 of GAN_VARIANTS.md (the idea from document 004, the one-hot targets of document 000): a
// conditional GAN on MNIST in [0, 1]. Row 3's networks with the one-hot label concatenated to
// their inputs:
//   G: [z(100), onehot(10)] -> Linear(110,200)-LReLU(0.02)-LN(200)-Linear(200,784)-Sigmoid
//   D: [image(784), onehot(10)] -> Linear(794,200)-LReLU(0.02)-LN(200)-Linear(200,1)-Sigmoid
// BCE, Adam lr 1e-4 for both, z ~ N(0, 1). One iteration, as in row 3: a D step on real images
// with their labels (target 1), a D step on G(z, random label) with that label (target 0), and a
// G step on G(z, random label) through D (target 1). Writes digits.png, a 10 x N grid with one row
// per digit (each column shares its z), after every epoch.
#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 100, kImage = 784, kClasses = 10;

nn::Sequential<float> make_generator() {
  return nn::Sequential<float>(nn::Linear<float>(kLatent + kClasses, 200),
                               nn::LeakyReLU<float>(0.02), nn::LayerNorm<float>({200}),
                               nn::Linear<float>(200, kImage), nn::Sigmoid<float>());
}
nn::Sequential<float> make_discriminator() {
  return nn::Sequential<float>(nn::Linear<float>(kImage + kClasses, 200),
                               nn::LeakyReLU<float>(0.02), nn::LayerNorm<float>({200}),
                               nn::Linear<float>(200, 1), nn::Sigmoid<float>());
}

// G and D as functions of (input, label): the one-hot label is concatenated to the input.
Tensor<float> generate(nn::Module<float>& G, const Tensor<float>& z, const Tensor<float>& label) {
  return G(cat({z, label}, 1));
}
Tensor<float> judge(nn::Module<float>& D, const Tensor<float>& image, const Tensor<float>& label) {
  return D(cat({image, label}, 1));
}

Tensor<int64_t> random_labels(int64_t n) {
  const Tensor<float> u = Tensor<float>::rand({n});
  auto labels = Tensor<int64_t>::empty({n});
  for (int64_t i = 0; i < n; ++i)
    labels.data()[i] =
        std::min<int64_t>(kClasses - 1, static_cast<int64_t>(u.data()[i] * kClasses));
  return labels;
}

// Labels 0, 1, ..., 9, 0, 1, ... for n images.
Tensor<int64_t> cycling_labels(int64_t n, int64_t offset = 0) {
  auto labels = Tensor<int64_t>::empty({n});
  for (int64_t i = 0; i < n; ++i) labels.data()[i] = (offset + i) % kClasses;
  return labels;
}

Tensor<float> as_images(const Tensor<float>& flat) {
  return flat.reshape({flat.size(0), 1, 28, 28});
}

// The labels file written beside a --dump-samples file: samples.idx -> samples.labels.idx.
std::string labels_path(const std::string& samples) {
  return fs::path(samples).replace_extension(".labels.idx").string();
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.epochs = 4;
  o.batch = 1;
  o.lr_g = o.lr_d = 1e-4;
  CLI::App app{
      "cgan: row 9 of GAN_VARIANTS.md, a conditional GAN on MNIST (row 3's networks, label "
      "concatenated)"};
  ex::add_common_flags(app, o);
  int64_t columns = 10;
  app.add_option("--columns", columns, "images per digit in digits.png")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  int64_t log_every = 1000;
  app.add_option("--log-every", log_every, "iterations between log lines")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  int64_t record_every = 10;
  app.add_option("--record-every", record_every, "iterations averaged into each row of loss.csv")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  return ex::run("cgan", [&] {
    ex::setup(o, "cgan");
    auto G = make_generator();
    auto D = make_discriminator();
    optim::Adam<float> opt_g(G.parameters(), o.lr_g), opt_d(D.parameters(), o.lr_d);
    nn::BCELoss<float> bce;
    // digits.png: row d shows digit d; column c uses the same z in every row. Drawn before
    // anything is restored, so that a resumed run draws the same z.
    const Tensor<float> grid_z =
        cat(std::vector<Tensor<float>>(kClasses, Tensor<float>::randn({columns, kLatent})), 0);
    // interpolation.png: row d walks in `columns` steps from one z to another, as digit d. Its own
    // generator, so that the training run draws exactly what it drew without this picture.
    Generator walk_gen(o.seed + 1);
    const Tensor<float> z_from = Tensor<float>::randn({1, kLatent}, walk_gen);
    const Tensor<float> z_to = Tensor<float>::randn({1, kLatent}, walk_gen);
    const Tensor<float> t = Tensor<float>::arange(0.f, static_cast<float>(columns)).reshape({columns, 1}) /
                            static_cast<float>(std::max<int64_t>(columns - 1, 1));
    const Tensor<float> walk_z = cat(std::vector<Tensor<float>>(kClasses, z_from * (1.f - t) + z_to * t), 0);
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}});
    io::LossHistory losses({"d_loss", "g_loss"});
    ex::TrainState state;
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(ex::out_path(o, "loss.csv")))
        losses = io::LossHistory::load_csv(ex::out_path(o, "loss.csv"));
      losses.truncate_after(state.step);
      std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.epoch), static_cast<long long>(state.step));
    }

    Tensor<int64_t> grid_digits = Tensor<int64_t>::empty({kClasses * columns});
    for (int64_t i = 0; i < kClasses * columns; ++i) grid_digits.data()[i] = i / columns;
    const Tensor<float> grid_labels = one_hot<float>(grid_digits, kClasses);
    const auto save_digits = [&] {
      NoGradGuard no_grad;
      G.eval();
      io::save_image(as_images(generate(G, grid_z, grid_labels)), ex::out_path(o, "digits.png"),
                     {.nrow = columns});
      io::save_image(as_images(generate(G, walk_z, grid_labels)), ex::out_path(o, "interpolation.png"),
                     {.nrow = columns});
      G.train();
    };

    if (o.epochs > state.epoch && (o.steps == 0 || state.step < o.steps)) {
      const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
      NABLA_CHECK(mnist.has_labels(), "data '", o.data,
                  "' has no labels; the conditional GAN needs them");
      data::DataLoader loader(
          mnist, {.batch_size = o.batch, .shuffle = true, .drop_last = true, .seed = o.seed});
      const int64_t per_epoch = loader.size();
      NABLA_CHECK(per_epoch > 0, "data '", o.data, "' has ", mnist.size(),
                  " images, fewer than one batch of ", o.batch);
      const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                          zeros = Tensor<float>::zeros({o.batch, 1});
      double d_sum = 0, g_sum = 0;
      int64_t summed = 0;
      for (int64_t epoch = state.epoch; epoch < o.epochs; ++epoch) {
        loader.set_epoch(epoch);
        io::Progress progress(
            per_epoch, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs));
        int64_t i = 0;
        for (const data::Batch& batch : loader) {
          const Tensor<float> real = batch.images.reshape({o.batch, kImage});
          // D on real images with their own labels -> 1.
          const Tensor<float> d_real = bce(judge(D, real, batch.one_hot(kClasses)), ones);
          opt_d.zero_grad();
          d_real.backward();
          opt_d.step();
          // D on G(z, label) with that label -> 0.
          const Tensor<float> fake_label = one_hot<float>(random_labels(o.batch), kClasses);
          const Tensor<float> fake =
              generate(G, Tensor<float>::randn({o.batch, kLatent}), fake_label).detach();
          const Tensor<float> d_fake = bce(judge(D, fake, fake_label), zeros);
          opt_d.zero_grad();
          d_fake.backward();
          opt_d.step();
          // G through D -> 1.
          const Tensor<float> g_label = one_hot<float>(random_labels(o.batch), kClasses);
          const Tensor<float> g_loss =
              bce(judge(D, generate(G, Tensor<float>::randn({o.batch, kLatent}), g_label), g_label),
                  ones);
          opt_g.zero_grad();
          opt_d.zero_grad();
          g_loss.backward();
          opt_g.step();

          ++state.step;
          ++i;
          d_sum += 0.5 * (d_real.item() + d_fake.item());
          g_sum += g_loss.item();
          if (++summed == record_every) {
            losses.add(state.step, {d_sum / summed, g_sum / summed});
            d_sum = g_sum = 0;
            summed = 0;
          }
          if (i % log_every == 0) {
            std::printf(
                "Epoch [%lld/%lld], Step [%lld/%lld], d_loss(real): %.4f, d_loss(fake): %.4f, "
                "g_loss: %.4f\n",
                static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs),
                static_cast<long long>(i), static_cast<long long>(per_epoch), d_real.item(),
                d_fake.item(), g_loss.item());
          }
          progress.advance();
          if (o.steps > 0 && state.step >= o.steps) break;
        }
        progress.finish();
        state.epoch = epoch + 1;
        save_digits();
        checkpoints.save(state);
        losses.save_csv(ex::out_path(o, "loss.csv"));
        losses.save_png(ex::out_path(o, "loss.png"));
        if (o.steps > 0 && state.step >= o.steps) break;
      }
    } else {
      save_digits();
    }
    if (!o.dump_samples.empty()) {
      // Image i is conditioned on digit i mod 10; the labels go to an IDX file beside the images.
      G.eval();
      int64_t next = 0;
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::zero_one, [&](int64_t n) {
        const Tensor<float> label = one_hot<float>(cycling_labels(n, next), kClasses);
        next += n;
        return as_images(generate(G, Tensor<float>::randn({n, kLatent}), label));
      });
      data::save_idx_labels(labels_path(o.dump_samples), cycling_labels(o.dump_count));
      std::printf("wrote the %lld intended labels to %s\n", static_cast<long long>(o.dump_count),
                  labels_path(o.dump_samples).c_str());
    }
    std::printf("cgan: outputs in %s (digits.png, interpolation.png, loss.png, loss.csv, checkpoint.nabla)\n",
                o.out.c_str());
    return 0;
  });
}
