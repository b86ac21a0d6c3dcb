// Row 4 of GAN_VARIANTS.md (document 000): a fully connected GAN on aligned CelebA faces
// (218 x 178 x 3 RGB, pixels / 255), one image at a time.
// G: Linear(100,300)-LReLU-LN(300)-Linear(300,3*218*178)-Sigmoid-View(3,218,178)
// D: View(3*218*178)-Linear(116412,100)-LReLU-LN(100)-Linear(100,1)-Sigmoid
// BCE, Adam lr 1e-4 for both, z ~ N(0, 1)^100. For each image, in file order: a D step on the
// image (target 1), a D step on G(z).detach() (target 0), a G step through D (target 1). LeakyReLU
// has PyTorch's default slope, 0.01.
// --mode discriminator-test trains D alone, on each image (target 1) and on a uniform-noise image
// (target 0), as the document does before building G.
// Data: an HDF5 file in the CelebA layout (group img_align_celeba, datasets 0.jpg, 1.jpg, ..., each
// uint8 H x W x 3; tools/images_to_hdf5 makes one from the CelebA zip) or a folder of JPEG/PNG
// images. --synthetic N writes N generated cartoon faces in that HDF5 layout and trains on them,
// for machines without CelebA (CI, a quick look). The networks take their size from the data.
#include <memory>
#include <random>

#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 100;

nn::Sequential<float> make_generator(const Shape& image) {
  return nn::Sequential<float>(nn::Linear<float>(kLatent, 300), nn::LeakyReLU<float>(),
                               nn::LayerNorm<float>({300}), nn::Linear<float>(300, image.numel()),
                               nn::Sigmoid<float>(),
                               nn::View<float>({-1, image[0], image[1], image[2]}));
}

nn::Sequential<float> make_discriminator(const Shape& image) {
  return nn::Sequential<float>(nn::Flatten<float>(), nn::Linear<float>(image.numel(), 100),
                               nn::LeakyReLU<float>(), nn::LayerNorm<float>({100}),
                               nn::Linear<float>(100, 1), nn::Sigmoid<float>());
}

void set_trainable(nn::Module<float>& m, bool on) {
  for (Tensor<float>& p : m.parameters()) p.requires_grad_(on);
}

// Cartoon faces, aligned the way CelebA's are (eyes and mouth at about the same place in every
// image): a background, hair, a face, two eyes and a mouth, with random colours, sizes and
// offsets. Enough structure for a GAN to show something face-like in a few hundred steps.
void write_synthetic_faces(const std::string& path, int64_t count, int64_t height, int64_t width,
                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  struct Rgb {
    double r, g, b;
  };
  const Rgb skins[] = {
      {241, 194, 167}, {224, 172, 135}, {198, 134, 96}, {141, 85, 60}, {250, 215, 190}};
  const Rgb hairs[] = {{40, 28, 20}, {90, 60, 35}, {20, 20, 22}, {200, 160, 90}, {140, 70, 40}};
  data::Hdf5ImageWriter writer(path);
  for (int64_t n = 0; n < count; ++n) {
    io::Image image(height, width, 3);
    auto jitter = [&](Rgb c, double amount) {
      return Rgb{c.r + uniform(-amount, amount), c.g + uniform(-amount, amount),
                 c.b + uniform(-amount, amount)};
    };
    const Rgb background{uniform(40, 230), uniform(40, 230), uniform(40, 230)};
    const Rgb skin = jitter(skins[rng() % 5], 12), hair = jitter(hairs[rng() % 5], 10);
    const Rgb eye{35, 30, 30}, lips = jitter({180, 70, 75}, 20);
    const double cx = width * (0.5 + uniform(-0.03, 0.03)),
                 cy = height * (0.52 + uniform(-0.02, 0.02));
    const double face_rx = width * uniform(0.22, 0.27), face_ry = height * uniform(0.26, 0.31);
    const double hair_rx = face_rx * uniform(1.1, 1.35), hair_ry = face_ry * uniform(1.05, 1.25);
    const double eye_dx = width * 0.095, eye_y = cy - face_ry * 0.15, mouth_y = cy + face_ry * 0.45;
    const double mouth_rx = width * uniform(0.05, 0.09), mouth_ry = height * uniform(0.012, 0.03);
    auto inside = [](double x, double y, double ex_, double ey, double rx, double ry) {
      const double dx = (x - ex_) / rx, dy = (y - ey) / ry;
      return dx * dx + dy * dy <= 1;
    };
    for (int64_t y = 0; y < height; ++y)
      for (int64_t x = 0; x < width; ++x) {
        const double px = static_cast<double>(x) + 0.5, py = static_cast<double>(y) + 0.5;
        Rgb c = background;
        if (inside(px, py, cx, cy - face_ry * 0.18, hair_rx, hair_ry)) c = hair;
        if (py > cy + face_ry * 0.2 &&
            inside(px, py, cx, cy + face_ry * 1.6, face_rx * 1.6, face_ry * 0.9))
          c = {background.r * 0.6, background.g * 0.6, background.b * 0.6};  // shoulders
        if (inside(px, py, cx, cy, face_rx, face_ry)) c = skin;
        if (inside(px, py, cx - eye_dx, eye_y, width * 0.03, height * 0.014) ||
            inside(px, py, cx + eye_dx, eye_y, width * 0.03, height * 0.014))
          c = eye;
        if (inside(px, py, cx, mouth_y, mouth_rx, mouth_ry)) c = lips;
        uint8_t* p = image.row(y) + x * 3;
        p[0] = static_cast<uint8_t>(std::clamp(c.r + uniform(-6, 6), 0.0, 255.0));
        p[1] = static_cast<uint8_t>(std::clamp(c.g + uniform(-6, 6), 0.0, 255.0));
        p[2] = static_cast<uint8_t>(std::clamp(c.b + uniform(-6, 6), 0.0, 255.0));
      }
    writer.add(image);
  }
  writer.close();
}

// An HDF5 file in the CelebA layout, or a folder of images.
std::unique_ptr<data::Dataset> open_faces(const std::string& path) {
  NABLA_CHECK(
      fs::exists(path), "data path '", path,
      "' does not exist (pass --data with a CelebA-layout HDF5 file or a folder of JPEG/PNG "
      "images; "
      "tools/images_to_hdf5 converts the CelebA zip; --synthetic N trains on generated faces)");
  if (fs::is_directory(path)) return std::make_unique<data::ImageFolder>(path);
  return std::make_unique<data::Hdf5Images>(path);
}

Tensor<float> d_output_mean(nn::Module<float>& D, const Tensor<float>& x) {
  NoGradGuard no_grad;
  return mean(D(x));
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.epochs = 1;
  o.batch = 1;
  o.lr_g = o.lr_d = 1e-4;
  o.data = "data/celeba/celeba_aligned_small.h5";
  CLI::App app{
      "celeba_fc: row 4 of GAN_VARIANTS.md, a fully connected GAN on aligned CelebA faces (HDF5 or "
      "a "
      "folder of images)"};
  ex::add_common_flags(app, o);
  std::string mode = "gan";
  int64_t synthetic = 0, sample_every = 1000, log_every = 1000;
  std::string synthetic_size = "178x218";
  app.add_option("--mode", mode,
                 "gan, or discriminator-test (D alone: real images vs uniform noise)")
      ->capture_default_str()
      ->check(CLI::IsMember({"gan", "discriminator-test"}));
  app.add_option("--synthetic", synthetic,
                 "write this many generated cartoon faces (RGB, --synthetic-size) to "
                 "<out>/synthetic_faces.h5 and train on "
                 "them instead of --data")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--synthetic-size", synthetic_size, "WIDTHxHEIGHT of the --synthetic faces")
      ->capture_default_str();
  app.add_option("--sample-every", sample_every, "steps between sample grids (and log lines)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  log_every = sample_every;
  const bool gan = mode == "gan";

  return ex::run("celeba_fc", [&] {
    NABLA_CHECK(gan || o.dump_samples.empty(),
                "--dump-samples: the discriminator test has no generator");
    ex::setup(o, gan ? "celeba_fc" : "celeba_fc_discriminator_test");
    if (synthetic > 0) {
      o.data = ex::out_path(o, "synthetic_faces.h5");
      long long w = 0, h = 0;
      char x = 0, rest = 0;
      NABLA_CHECK(
          std::sscanf(synthetic_size.c_str(), "%lld%c%lld%c", &w, &x, &h, &rest) == 3 && x == 'x' &&
              w >= 8 && h >= 8 && w <= 4096 && h <= 4096,
          "--synthetic-size: expected WIDTHxHEIGHT between 8x8 and 4096x4096, e.g. 178x218, got '",
          synthetic_size, "'");
      write_synthetic_faces(o.data, synthetic, h, w, o.seed);
      std::printf("wrote %lld synthetic faces to %s\n", static_cast<long long>(synthetic),
                  o.data.c_str());
    }
    const std::unique_ptr<data::Dataset> faces = open_faces(o.data);
    const Shape image = faces->example_shape();
    NABLA_CHECK(image[0] == 3, "data '", o.data, "' holds ", image[0],
                "-channel images, expected RGB");

    auto D = make_discriminator(image);
    optim::Adam<float> opt_d(D.parameters(), o.lr_d);
    std::unique_ptr<nn::Sequential<float>> G;
    std::unique_ptr<optim::Adam<float>> opt_g;
    std::vector<std::pair<std::string, nn::Module<float>*>> modules = {{"D", &D}};
    std::vector<std::pair<std::string, optim::Optimizer<float>*>> optimizers = {{"opt_d", &opt_d}};
    if (gan) {
      G = std::make_unique<nn::Sequential<float>>(make_generator(image));
      opt_g = std::make_unique<optim::Adam<float>>(G->parameters(), o.lr_g);
      modules.emplace_back("G", G.get());
      optimizers.emplace_back("opt_g", opt_g.get());
    }
    nn::BCELoss<float> bce;
    ex::Checkpoints checkpoints(o, modules, optimizers);
    io::LossHistory history(gan ? std::vector<std::string>{"D real", "D fake", "G"}
                                : std::vector<std::string>{"D real", "D noise"});
    ex::TrainState state;
    // Drawn before a resume moves the generator, so that every run shows the same z.
    const Tensor<float> fixed_z = Tensor<float>::randn({6, kLatent});
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(ex::out_path(o, "loss.csv")))
        history = io::LossHistory::load_csv(ex::out_path(o, "loss.csv"));
      history.truncate_after(state.step);
      std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.epoch), static_cast<long long>(state.step));
    }

    const io::GridOptions grid{.nrow = 3};
    auto save_samples = [&](const std::string& name) {
      NoGradGuard no_grad;
      io::save_image((*G)(fixed_z), ex::out_path(o, name), grid);
    };
    const int64_t b = o.batch;
    const Tensor<float> ones = Tensor<float>::ones({b, 1}), zeros = Tensor<float>::zeros({b, 1});
    if (o.epochs > state.epoch && (o.steps == 0 || state.step < o.steps)) {
      // The document walks through the data set in order, one image at a time.
      data::DataLoader loader(*faces, {.batch_size = b, .shuffle = false, .drop_last = true});
      const int64_t per_epoch = loader.size();
      NABLA_CHECK(per_epoch > 0, "data '", o.data, "' holds ", faces->size(),
                  " images, fewer than one batch of ", b);
      if (!fs::exists(ex::out_path(o, "real_images.png"))) {
        std::vector<int64_t> first(static_cast<size_t>(std::min<int64_t>(6, faces->size())));
        for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
        io::save_image(data::make_batch(*faces, first, data::PixelRange::zero_one).images,
                       ex::out_path(o, "real_images.png"), grid);
      }
      for (int64_t epoch = state.epoch; epoch < o.epochs; ++epoch) {
        io::Progress progress(
            per_epoch, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs));
        int64_t i = 0;
        for (const data::Batch& batch : loader) {
          // Resuming mid-epoch skips the images already seen.
          if (i < state.step - epoch * per_epoch) {
            ++i;
            progress.advance();
            continue;
          }
          const Tensor<float> d_real = bce(D(batch.images), ones);
          opt_d.zero_grad();
          d_real.backward();
          opt_d.step();
          Tensor<float> fake;
          {
            NoGradGuard no_grad;
            fake = gan ? (*G)(Tensor<float>::randn({b, kLatent}))
                       : Tensor<float>::rand(batch.images.shape());
          }
          const Tensor<float> d_fake = bce(D(fake), zeros);
          opt_d.zero_grad();
          d_fake.backward();
          opt_d.step();
          double g_value = 0;
          if (gan) {
            set_trainable(D,
                          false);  // G's step changes G only; D's weight gradients are not needed
            const Tensor<float> g_loss = bce(D((*G)(Tensor<float>::randn({b, kLatent}))), ones);
            opt_g->zero_grad();
            g_loss.backward();
            opt_g->step();
            set_trainable(D, true);
            g_value = g_loss.item();
          }

          ++state.step;
          ++i;
          if (gan)
            history.add(state.step, {d_real.item(), d_fake.item(), g_value});
          else
            history.add(state.step, {d_real.item(), d_fake.item()});
          if (state.step % log_every == 0) {
            std::printf("step %lld: D real %.4f, D %s %.4f%s\n", static_cast<long long>(state.step),
                        d_real.item(), gan ? "fake" : "noise", d_fake.item(),
                        gan ? (", G " + std::to_string(g_value).substr(0, 6)).c_str() : "");
            if (gan) save_samples("fake_images-step" + std::to_string(state.step) + ".png");
          }
          progress.set_status("D real " + std::to_string(d_real.item()).substr(0, 6) + "  D " +
                              (gan ? "fake " : "noise ") +
                              std::to_string(d_fake.item()).substr(0, 6) +
                              (gan ? "  G " + std::to_string(g_value).substr(0, 6) : ""));
          progress.advance();
          if (o.steps > 0 && state.step >= o.steps) break;
        }
        progress.finish();
        if (o.steps > 0 && state.step >= o.steps && i < per_epoch) {
          state.epoch = epoch;
        } else {
          state.epoch = epoch + 1;
          if (gan) save_samples("fake_images-" + std::to_string(epoch + 1) + ".png");
        }
        checkpoints.save(state);
        history.save_csv(ex::out_path(o, "loss.csv"));
        history.save_png(ex::out_path(o, "loss.png"),
                         {.title = gan ? "GAN training losses" : "Discriminator test"});
        if (o.steps > 0 && state.step >= o.steps) break;
      }
    }

    if (gan) {
      G->eval();
      save_samples("fake_images-final.png");
      if (!o.dump_samples.empty())
        ex::dump_samples(
            o.dump_samples, o.dump_count, data::PixelRange::zero_one,
            [&](int64_t n) {
              return (*G)(Tensor<float>::randn({n, kLatent}));
            },
            10);
    } else {
      // What the test shows: D tells the images from noise.
      std::vector<int64_t> first(static_cast<size_t>(std::min<int64_t>(4, faces->size())));
      for (size_t i = 0; i < first.size(); ++i) first[i] = static_cast<int64_t>(i);
      D.eval();
      const Tensor<float> real = data::make_batch(*faces, first, data::PixelRange::zero_one).images;
      const Tensor<float> noise = Tensor<float>::rand(real.shape());
      io::save_image(noise, ex::out_path(o, "noise_images.png"), grid);
      std::printf("D on %lld real images: %.4f on average; on %lld uniform-noise images: %.4f\n",
                  static_cast<long long>(real.size(0)), d_output_mean(D, real).item(),
                  static_cast<long long>(noise.size(0)), d_output_mean(D, noise).item());
    }
    std::printf("celeba_fc: outputs in %s (%s)\n", o.out.c_str(),
                gan ? "fake_images-*.png, real_images.png, loss.png, loss.csv, checkpoint.nabla"
                    : "real_images.png, noise_images.png, loss.png, loss.csv, checkpoint.nabla");
    return 0;
  });
}
