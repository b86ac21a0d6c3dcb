// Row 7 of GAN_VARIANTS.md (document 003): a DCGAN on MNIST in [-1, 1].
// G: z(100) -> ConvT(100,128,7,1,0) (or Linear(100,128*7*7)) -> BN -> ReLU
//      -> ConvT(128,64,4,2,1)-BN2d-ReLU -> ConvT(64,1,4,2,1)-Tanh
// D: Conv(1,64,4,2,1)-LReLU(0.2) -> Conv(64,128,4,2,1)-BN2d-LReLU(0.2) -> Linear(128*7*7,1)-Sigmoid
// BCE, Adam lr 2e-4 betas (0.5, 0.999) for both, batch 128, every weight drawn from N(0, 0.02)
// (BatchNorm scales from N(1, 0.02)), biases 0 — the DCGAN paper's rules: strided convolutions
// instead of pooling, no hidden fully connected layer, BatchNorm everywhere except G's output and
// D's input, ReLU in G with Tanh at the end, LeakyReLU in D.
// Besides sample grids and loss curves it writes the two pictures the document shows for DCGAN:
// a walk in the latent space (rows interpolating between two z) and vector arithmetic on z.
// Any IDX image set whose sides divide by 4 works (the first layer then makes C' x H/4 x W/4).
#include <sstream>

#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 100;

struct ImageShape {
  int64_t channels, height, width;
};

nn::Sequential<float> make_generator(const ImageShape& s, bool linear_projection) {
  const int64_t h = s.height / 4, w = s.width / 4;
  nn::Sequential<float> g;
  if (linear_projection) {
    g.push_back(nn::Linear<float>(kLatent, 128 * h * w));
    g.push_back(nn::BatchNorm1d<float>(128 * h * w));
    g.push_back(nn::ReLU<float>());
    g.push_back(nn::View<float>({-1, 128, h, w}));
  } else {
    g.push_back(nn::View<float>({-1, kLatent, 1, 1}));
    g.push_back(nn::ConvTranspose2d<float>(kLatent, 128, {h, w}));
    g.push_back(nn::BatchNorm2d<float>(128));
    g.push_back(nn::ReLU<float>());
  }
  g.push_back(nn::ConvTranspose2d<float>(128, 64, 4, 2, 1));
  g.push_back(nn::BatchNorm2d<float>(64));
  g.push_back(nn::ReLU<float>());
  g.push_back(nn::ConvTranspose2d<float>(64, s.channels, 4, 2, 1));
  g.push_back(nn::Tanh<float>());
  return g;
}

nn::Sequential<float> make_discriminator(const ImageShape& s) {
  return nn::Sequential<float>(
      nn::Conv2d<float>(s.channels, 64, 4, 2, 1), nn::LeakyReLU<float>(0.2),
      nn::Conv2d<float>(64, 128, 4, 2, 1), nn::BatchNorm2d<float>(128), nn::LeakyReLU<float>(0.2),
      nn::Flatten<float>(), nn::Linear<float>(128 * (s.height / 4) * (s.width / 4), 1),
      nn::Sigmoid<float>());
}

// The DCGAN paper's initialisation: weights of (transposed) convolutions and linear layers from
// N(0, 0.02), BatchNorm scales from N(1, 0.02), every bias 0.
void dcgan_init(nn::Module<float>& m) {
  for (auto& [name, p] : m.named_parameters()) {
    if (name.ends_with("bias"))
      nn::init::zeros_(p);
    else if (p.dim() == 1)
      nn::init::normal_(p, 1.0, 0.02);
    else
      nn::init::normal_(p, 0.0, 0.02);
  }
}

// "i,j,k" -> {i, j, k}, each an index into the 64 fixed z of the sample grids.
std::vector<int64_t> parse_triple(const std::string& text) {
  std::vector<int64_t> v;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    char* end = nullptr;
    const long long x = std::strtoll(item.c_str(), &end, 10);
    NABLA_CHECK(!item.empty() && *end == '\0' && x >= 0 && x < 64, "--arithmetic: '", text,
                "' should be three indices 0..63 into the fixed sample grid, like 3,17,42");
    v.push_back(x);
  }
  NABLA_CHECK(v.size() == 3, "--arithmetic: '", text, "' should be three indices, like 3,17,42");
  return v;
}

// Rows of `steps` images, each walking in a straight line from one z to another.
void save_latent_walk(nn::Module<float>& G, const std::string& path, int64_t rows, int64_t steps,
                      Generator& gen, const io::GridOptions& grid) {
  const Tensor<float> from = Tensor<float>::randn({rows, kLatent}, gen),
                      to = Tensor<float>::randn({rows, kLatent}, gen);
  std::vector<Tensor<float>> z;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t s = 0; s < steps; ++s) {
      const float t = static_cast<float>(s) / static_cast<float>(steps - 1);
      z.push_back(from.narrow(0, r, 1) * (1 - t) + to.narrow(0, r, 1) * t);
    }
  io::GridOptions walk = grid;
  walk.nrow = steps;
  io::save_image(G(cat(z, 0)), path, walk);
}

// One row per equation A - B + C: the images of A, B and C, a blank, the image of A - B + C and
// three of its neighbours (the paper adds noise to the result to show it is stable).
void save_arithmetic(nn::Module<float>& G, const Tensor<float>& fixed_z,
                     const std::vector<std::vector<int64_t>>& rows, const std::string& path,
                     Generator& gen, const io::GridOptions& grid) {
  std::vector<Tensor<float>> z;
  for (const auto& r : rows) {
    const Tensor<float> a = fixed_z.narrow(0, r[0], 1), b = fixed_z.narrow(0, r[1], 1),
                        c = fixed_z.narrow(0, r[2], 1);
    const Tensor<float> result = a - b + c;
    z.insert(z.end(), {a, b, c, result});
    for (int k = 0; k < 3; ++k)
      z.push_back(result + Tensor<float>::uniform({1, kLatent}, -0.25f, 0.25f, gen));
  }
  const Tensor<float> images = G(cat(z, 0));
  const int64_t n = images.size(0);
  // A blank column between the operands and the results.
  std::vector<Tensor<float>> laid_out;
  const Tensor<float> blank =
      Tensor<float>::full({1, images.size(1), images.size(2), images.size(3)}, -1.f);
  for (int64_t i = 0; i < n; ++i) {
    if (i % 7 == 3) laid_out.push_back(blank);
    laid_out.push_back(images.narrow(0, i, 1));
  }
  io::GridOptions arithmetic = grid;
  arithmetic.nrow = 8;
  io::save_image(cat(laid_out, 0), path, arithmetic);
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.epochs = 5;  // 2,340 steps on the 60,000 digits; the document gives no length
  o.batch = 128;
  o.lr_g = o.lr_d = 2e-4;
  CLI::App app{"dcgan: row 7 of GAN_VARIANTS.md, a DCGAN on MNIST in [-1, 1]"};
  ex::add_common_flags(app, o);
  double beta1 = 0.5;
  bool linear_projection = false;
  int64_t log_every = 50;
  std::vector<std::string> arithmetic = {"0,1,2", "3,4,5", "6,7,8", "9,10,11"};
  app.add_option("--beta1", beta1, "Adam beta1 for both optimizers")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.999));
  app.add_flag(
      "--linear-projection", linear_projection,
      "project z with Linear(100,128*7*7)+BatchNorm1d instead of ConvT(100,128,7)+BatchNorm2d");
  app.add_option("--log-every", log_every, "steps between log lines")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option(
      "--arithmetic", arithmetic,
      "an equation A-B+C for arithmetic.png: three indices into the 64 images of fake_images-*.png "
      "(row by row), e.g. --arithmetic 3,17,42 --arithmetic 5,9,60 (default: 0,1,2 3,4,5 6,7,8 "
      "9,10,11)");
  CLI11_PARSE(app, argc, argv);

  return ex::run("dcgan", [&] {
    std::vector<std::vector<int64_t>> equations;
    for (const std::string& a : arithmetic) equations.push_back(parse_triple(a));
    ex::setup(o, "dcgan");
    // The image shape comes from the data; a run that only dumps samples from a checkpoint reads
    // it too, so that the model it builds fits the checkpoint.
    const data::ImageDataset images = ex::load_mnist_or_fail(o.data);
    const Shape example = images.example_shape();
    const ImageShape shape{example[0], example[1], example[2]};
    NABLA_CHECK(shape.height % 4 == 0 && shape.width % 4 == 0, "dcgan: images of '", o.data,
                "' are ", shape.height, "x", shape.width,
                "; this DCGAN needs sides that divide by 4");

    auto G = make_generator(shape, linear_projection);
    auto D = make_discriminator(shape);
    dcgan_init(G);
    dcgan_init(D);
    optim::Adam<float> opt_g(G.parameters(), {.lr = o.lr_g, .beta1 = beta1});
    optim::Adam<float> opt_d(D.parameters(), {.lr = o.lr_d, .beta1 = beta1});
    nn::BCELoss<float> bce;
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}});
    io::LossHistory history({"d_loss", "g_loss", "D(x)", "D(G(z))"});
    ex::TrainState state;
    // Drawn before a resume moves the generator, so that every run shows the same z.
    const Tensor<float> fixed_z = Tensor<float>::randn({64, kLatent});
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(ex::out_path(o, "loss.csv")))
        history = io::LossHistory::load_csv(ex::out_path(o, "loss.csv"));
      history.truncate_after(state.step);
      std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.epoch), static_cast<long long>(state.step));
    }

    const io::GridOptions grid{.nrow = 8, .normalize = true, .value_range = {{-1.f, 1.f}}};
    if (o.epochs > state.epoch && (o.steps == 0 || state.step < o.steps)) {
      data::DataLoader loader(images, {.batch_size = o.batch,
                                       .shuffle = true,
                                       .drop_last = true,
                                       .seed = o.seed,
                                       .range = data::PixelRange::minus_one_one});
      const int64_t per_epoch = loader.size();
      NABLA_CHECK(per_epoch > 0, "dcgan: '", o.data, "' holds ", images.size(),
                  " images, fewer than one batch of ", o.batch);
      const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                          zeros = Tensor<float>::zeros({o.batch, 1});
      bool wrote_real = fs::exists(ex::out_path(o, "real_images.png"));
      for (int64_t epoch = state.epoch; epoch < o.epochs; ++epoch) {
        loader.set_epoch(epoch);
        io::Progress progress(
            per_epoch, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs));
        int64_t i = 0;
        for (const data::Batch& batch : loader) {
          if (!wrote_real) {
            io::save_image(batch.images.narrow(0, 0, std::min<int64_t>(64, o.batch)),
                           ex::out_path(o, "real_images.png"), grid);
            wrote_real = true;
          }
          // D: real -> 1, G(z) -> 0.
          const Tensor<float> real_out = D(batch.images);
          const Tensor<float> fake = G(Tensor<float>::randn({o.batch, kLatent}));
          const Tensor<float> fake_out = D(fake.detach());
          const Tensor<float> d_loss = bce(real_out, ones) + bce(fake_out, zeros);
          opt_d.zero_grad();
          d_loss.backward();
          opt_d.step();
          // G: D(G(z)) -> 1, on the same fakes, through the updated D.
          const Tensor<float> g_loss = bce(D(fake), ones);
          opt_g.zero_grad();
          opt_d.zero_grad();
          g_loss.backward();
          opt_g.step();

          ++state.step;
          ++i;
          const double dx = mean(real_out).item(), dgz = mean(fake_out).item();
          history.add(state.step, {d_loss.item(), g_loss.item(), dx, dgz});
          if (i % log_every == 0) {
            std::printf(
                "Epoch [%lld/%lld], Step [%lld/%lld], d_loss: %.4f, g_loss: %.4f, D(x): %.2f, "
                "D(G(z)): %.2f\n",
                static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs),
                static_cast<long long>(i), static_cast<long long>(per_epoch), d_loss.item(),
                g_loss.item(), dx, dgz);
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
          G.eval();
          io::save_image(G(fixed_z),
                         ex::out_path(o, "fake_images-" + std::to_string(epoch + 1) + ".png"),
                         grid);
          G.train();
        }
        checkpoints.save(state);
        history.save_csv(ex::out_path(o, "loss.csv"));
        history.save_png(ex::out_path(o, "loss.png"));
        if (o.steps > 0 && state.step >= o.steps) break;
      }
    }

    NoGradGuard no_grad;
    G.eval();
    Generator extras(o.seed + 1);
    save_latent_walk(G, ex::out_path(o, "latent_walk.png"), 8, 10, extras, grid);
    save_arithmetic(G, fixed_z, equations, ex::out_path(o, "arithmetic.png"), extras, grid);
    if (!o.dump_samples.empty())
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::minus_one_one,
                       [&](int64_t n) {
                         return G(Tensor<float>::randn({n, kLatent}));
                       });
    std::printf(
        "dcgan: outputs in %s (fake_images-*.png, latent_walk.png, arithmetic.png, loss.png, "
        "loss.csv, "
        "checkpoint.nabla)\n",
        o.out.c_str());
    return 0;
  });
}
