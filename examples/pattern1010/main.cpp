// Row 1 of GAN_VARIANTS.md (document 002): the smallest GAN there is. The "real" data are noisy
// copies of the pattern 1010 (each value uniform in 0.8-1.0 or 0.0-0.2); G turns the constant
// input 0.5 into four values and learns to make them look like 1010.
// G: Linear(1,3)-Sigmoid-Linear(3,4)-Sigmoid     D: Linear(4,3)-Sigmoid-Linear(3,1)-Sigmoid
// MSE, SGD lr 0.01 for both, batch 1; one iteration = D on a real pattern (target 1), D on
// G(0.5).detach() (target 0), G through D (target 1). 20,000 iterations: at the book's 10,000, G
// is still on its way for some seeds (see README.md). There is no data set: the program makes
// its own patterns, so it has no --data and no --epochs.
#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kWidth = 4;
constexpr float kSeed = 0.5f;  // G's only input, as in the document

nn::Sequential<float> make_generator() {
  return nn::Sequential<float>(nn::Linear<float>(1, 3), nn::Sigmoid<float>(),
                               nn::Linear<float>(3, kWidth), nn::Sigmoid<float>());
}
nn::Sequential<float> make_discriminator() {
  return nn::Sequential<float>(nn::Linear<float>(kWidth, 3), nn::Sigmoid<float>(),
                               nn::Linear<float>(3, 1), nn::Sigmoid<float>());
}

// `n` noisy 1010 patterns: the ones uniform in [0.8, 1.0), the zeros in [0.0, 0.2).
Tensor<float> real_patterns(int64_t n) {
  Tensor<float> p = Tensor<float>::uniform({n, kWidth}, 0.0f, 0.2f);
  for (int64_t i = 0; i < n; ++i) {
    p.data()[i * kWidth + 0] += 0.8f;
    p.data()[i * kWidth + 2] += 0.8f;
  }
  return p;
}

// The rows of `history` (one snapshot of G's four outputs each) as a picture: one band per
// snapshot, top to bottom in training order, a square per value, white = 1, black = 0.
void save_pattern_history(const io::LossHistory& history, const std::string& path) {
  constexpr int64_t cell = 24;
  const auto rows = static_cast<int64_t>(history.size());
  if (rows == 0) return;
  Tensor<float> picture = Tensor<float>::zeros({1, 1, rows * cell, kWidth * cell});
  float* px = picture.data();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t y = 0; y < cell; ++y)
      for (int64_t x = 0; x < kWidth * cell; ++x)
        px[(r * cell + y) * kWidth * cell + x] = static_cast<float>(
            history.value(static_cast<size_t>(r), static_cast<size_t>(x / cell)));
  io::save_image(picture, path);
}
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.steps = 20000;
  o.lr_g = o.lr_d = 0.01;
  CLI::App app{"pattern1010: row 1 of GAN_VARIANTS.md, a tiny GAN that learns the pattern 1010"};
  ex::add_common_flags(app, o);
  for (const char* unused : {"--data", "--epochs", "--steps"})
    app.remove_option(app.get_option(unused));
  app.add_option("--steps", o.steps, "training iterations (each: D on real, D on fake, G)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  int64_t log_every = 10, snapshot_every = 1000;
  app.add_option("--log-every", log_every,
                 "iterations between loss records (the document keeps every 10th)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--snapshot-every", snapshot_every, "iterations between rows of patterns.png")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  return ex::run("pattern1010", [&] {
    ex::setup(o, "pattern1010");
    auto G = make_generator();
    auto D = make_discriminator();
    optim::SGD<float> opt_g(G.parameters(), o.lr_g), opt_d(D.parameters(), o.lr_d);
    nn::MSELoss<float> mse;
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}}, {{"opt_g", &opt_g}, {"opt_d", &opt_d}});
    io::LossHistory history({"d_loss_real", "d_loss_fake", "g_loss"});
    io::LossHistory patterns({"g0", "g1", "g2", "g3"});
    const std::string loss_csv = ex::out_path(o, "loss.csv"),
                      patterns_csv = ex::out_path(o, "patterns.csv");
    ex::TrainState state;
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(loss_csv)) history = io::LossHistory::load_csv(loss_csv);
      if (fs::exists(patterns_csv)) patterns = io::LossHistory::load_csv(patterns_csv);
      history.truncate_after(state.step);
      patterns.truncate_after(state.step);
      std::printf("resumed from %s at step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.step));
    }

    const Tensor<float> seed = Tensor<float>::full({o.batch, 1}, kSeed);
    const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                        zeros = Tensor<float>::zeros({o.batch, 1});
    auto snapshot = [&] {
      NoGradGuard no_grad;
      const std::vector<float> g = G(Tensor<float>::full({1, 1}, kSeed)).to_vector();
      patterns.add(state.step, {g[0], g[1], g[2], g[3]});
    };
    auto save_outputs = [&] {
      checkpoints.save(state);
      history.save_csv(loss_csv);
      history.save_png(
          ex::out_path(o, "loss.png"),
          {.title = "pattern1010: MSE losses (equilibrium 0.25)", .y_range = {{0.0, 1.0}}});
      patterns.save_csv(patterns_csv);
      save_pattern_history(patterns, ex::out_path(o, "patterns.png"));
    };

    if (state.step < o.steps) {
      if (state.step == 0) snapshot();
      io::Progress progress(o.steps, "pattern1010");
      progress.update(state.step);
      while (state.step < o.steps) {
        // D: a real pattern -> 1, then G(0.5) -> 0.
        opt_d.zero_grad();
        const Tensor<float> d_loss_real = mse(D(real_patterns(o.batch)), ones);
        d_loss_real.backward();
        opt_d.step();
        opt_d.zero_grad();
        const Tensor<float> d_loss_fake = mse(D(G(seed).detach()), zeros);
        d_loss_fake.backward();
        opt_d.step();
        // G: D(G(0.5)) -> 1.
        opt_g.zero_grad();
        const Tensor<float> g_loss = mse(D(G(seed)), ones);
        g_loss.backward();
        opt_g.step();

        ++state.step;
        if (state.step % log_every == 0)
          history.add(state.step, {d_loss_real.item(), d_loss_fake.item(), g_loss.item()});
        if (state.step % snapshot_every == 0 || state.step == o.steps) {
          snapshot();
          save_outputs();
        }
        if (state.step % 100 == 0)
          progress.set_status("d_loss " + std::to_string(d_loss_fake.item()).substr(0, 6) +
                              "  g_loss " + std::to_string(g_loss.item()).substr(0, 6));
        progress.advance();
      }
      progress.finish();
    }

    NoGradGuard no_grad;
    const std::vector<float> g = G(Tensor<float>::full({1, 1}, kSeed)).to_vector();
    const float target[kWidth] = {1, 0, 1, 0};
    float worst = 0;
    for (int64_t i = 0; i < kWidth; ++i)
      worst = std::max(worst, std::abs(g[static_cast<size_t>(i)] - target[i]));
    std::printf("G(0.5) = [%.3f, %.3f, %.3f, %.3f]: at most %.3f from 1010 (%s)\n", g[0], g[1],
                g[2], g[3], worst, worst <= 0.1f ? "within 0.1" : "NOT within 0.1");
    // The mean of each loss over the last tenth of the records: the document's curves sit at 0.25.
    if (history.size() > 0) {
      const size_t from = history.size() - std::max<size_t>(1, history.size() / 10);
      double sums[3] = {0, 0, 0};
      for (size_t r = from; r < history.size(); ++r)
        for (size_t k = 0; k < 3; ++k) sums[k] += history.value(r, k);
      const auto n = static_cast<double>(history.size() - from);
      std::printf("mean losses over the last %zu records: d_real %.3f, d_fake %.3f, g %.3f\n",
                  history.size() - from, sums[0] / n, sums[1] / n, sums[2] / n);
    }

    if (!o.dump_samples.empty()) {
      // Each sample is G's output for its constant input: a 1 x 4 image.
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::zero_one, [&](int64_t n) {
        return G(Tensor<float>::full({n, 1}, kSeed)).reshape({n, 1, 1, kWidth});
      });
    }
    std::printf(
        "pattern1010: outputs in %s (patterns.png, loss.png, loss.csv, patterns.csv, "
        "checkpoint.nabla)\n",
        o.out.c_str());
    return 0;
  });
}
