// Row 5 of GAN_VARIANTS.md (document 001): the fully connected GAN of Goodfellow et al. 2014 on
// MNIST in [0, 1], batches of 64 (shuffled, drop_last), in the document's three stages:
//   paper: G Linear(100,256)-ReLU-Linear(256,512)-ReLU-Linear(512,784)-Sigmoid,
//          D Maxout(784,512)-Dropout(0.5)-Maxout(512,256)-Linear(256,1)-Sigmoid,
//          BCE, SGD with momentum 0.9 and lr 0.01 for both;
//   adam:  G on Adam, and both learning rates 2e-4;
//   final: adam + BatchNorm1d after each hidden Linear of G + one-sided label smoothing (D's real
//          targets uniform in [0.9, 1]).
// The document's Linear+Maxout pairs are nabla's standard Maxout layers (k = 3 pieces), as
// GAN_VARIANTS.md asks; --maxout document puts the document's own Maxout class there instead (a
// Linear, then one fixed random piecewise-linear function of k lines). See the README.
// z ~ N(0, 0.1) (variance 0.1, as the document draws it); a fixed batch of such z is rendered
// after every epoch into a history strip. --opt-d adam (the author's notebook) with --maxout
// document is the run that reproduces the document's result; the README measures it and the
// other variants against the document's text recipe.
#include <memory>

#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kLatent = 100, kImage = 784;
constexpr int64_t kHistoryColumns = 10;  // images of the fixed batch per history row
constexpr int64_t kHistoryRows = 25;  // history.png shows at most this many epochs, evenly spread
const float kLatentStd = std::sqrt(0.1f);

enum class Stage { paper, adam, final_ };

nn::Sequential<float> make_generator(Stage stage) {
  nn::Sequential<float> g;
  g.push_back(nn::Linear<float>(kLatent, 256));
  if (stage == Stage::final_) g.push_back(nn::BatchNorm1d<float>(256));
  g.push_back(nn::ReLU<float>());
  g.push_back(nn::Linear<float>(256, 512));
  if (stage == Stage::final_) g.push_back(nn::BatchNorm1d<float>(512));
  g.push_back(nn::ReLU<float>());
  g.push_back(nn::Linear<float>(512, kImage));
  g.push_back(nn::Sigmoid<float>());
  return g;
}

// The document's own Maxout class: one scalar function max_j (w_j x + b_j) of k lines, applied
// to every element. Its 2k numbers are drawn from N(0, 1) and, as in the document (which creates
// them outside the module's parameters), never trained; they are buffers, so checkpoints keep them.
class DocumentMaxout : public nn::Module<float> {
 public:
  Tensor<float> weight, bias;  // [k] each

  explicit DocumentMaxout(int64_t pieces)
      : weight(Tensor<float>::normal({pieces}, 0.f, 1.f)),
        bias(Tensor<float>::normal({pieces}, 0.f, 1.f)) {}
  Tensor<float> forward(const Tensor<float>& x) override {
    const float* w = weight.data();
    const float* b = bias.data();
    Tensor<float> y = x * w[0] + b[0];
    for (int64_t j = 1; j < weight.numel(); ++j) y = maximum(y, x * w[j] + b[j]);
    return y;
  }
  std::string describe() const override {
    return "DocumentMaxout(pieces=" + std::to_string(weight.numel()) + ")";
  }
  void visit(nn::Visitor<float>& v) override {
    v.buffer("weight", weight);
    v.buffer("bias", bias);
  }
};

nn::Sequential<float> make_discriminator(int64_t pieces, bool document_maxout) {
  if (document_maxout)
    return nn::Sequential<float>(nn::Linear<float>(kImage, 512), DocumentMaxout(pieces),
                                 nn::Dropout<float>(0.5), nn::Linear<float>(512, 256),
                                 DocumentMaxout(pieces), nn::Linear<float>(256, 1),
                                 nn::Sigmoid<float>());
  return nn::Sequential<float>(nn::Maxout<float>(kImage, 512, pieces), nn::Dropout<float>(0.5),
                               nn::Maxout<float>(512, 256, pieces), nn::Linear<float>(256, 1),
                               nn::Sigmoid<float>());
}

Tensor<float> noise(int64_t n) { return Tensor<float>::normal({n, kLatent}, 0.f, kLatentStd); }
Tensor<float> as_images(const Tensor<float>& flat) {
  return flat.reshape({flat.size(0), 1, 28, 28});
}

// The history: kHistoryColumns images of the fixed batch per finished epoch, kept as an IDX file
// beside the checkpoint so that a resumed run continues the strip.
class History {
 public:
  explicit History(std::string path) : path_(std::move(path)) {}
  void load(int64_t epochs) {
    rows_.clear();
    if (!fs::exists(path_)) return;
    const data::ImageDataset saved = data::load_idx(path_);
    const int64_t rows = std::min(epochs, saved.size() / kHistoryColumns);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int64_t> indices(kHistoryColumns);
      for (int64_t c = 0; c < kHistoryColumns; ++c)
        indices[static_cast<size_t>(c)] = r * kHistoryColumns + c;
      rows_.push_back(data::make_batch(saved, indices, data::PixelRange::zero_one).images);
    }
  }
  void add(const Tensor<float>& images) { rows_.push_back(images); }
  void save(const std::string& png) const {
    data::save_idx_images(path_, cat(rows_, 0));
    // At most kHistoryRows epochs, evenly spread, always the first and the last.
    const int64_t n = static_cast<int64_t>(rows_.size());
    const int64_t shown = std::min(n, kHistoryRows);
    std::vector<Tensor<float>> picked;
    for (int64_t i = 0; i < shown; ++i)
      picked.push_back(rows_[static_cast<size_t>(shown == 1 ? n - 1 : i * (n - 1) / (shown - 1))]);
    io::save_image(cat(picked, 0), png, {.nrow = kHistoryColumns});
  }

 private:
  std::string path_;
  std::vector<Tensor<float>> rows_;
};
}  // namespace

int main(int argc, char** argv) {
  ex::Options o;
  o.epochs = 50;
  o.batch = 64;
  o.lr_g = o.lr_d = 2e-4;
  CLI::App app{
      "gan_paper: row 5 of GAN_VARIANTS.md, the GAN paper's MLP with maxout on MNIST, in three "
      "stages"};
  std::string stage_name = "final";
  app.add_option(
         "--stage", stage_name,
         "paper: SGD for both (lr 0.01); adam: G on Adam, lr 2e-4; final: adam + BatchNorm in G + "
         "one-sided label smoothing")
      ->capture_default_str()
      ->check(CLI::IsMember({"paper", "adam", "final"}));
  ex::add_common_flags(app, o);
  app.get_option("--out")->description("output folder (default: out/gan_paper/<stage>)");
  int64_t pieces = 3;
  app.add_option("--maxout-pieces", pieces, "pieces k of each maxout unit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  std::string maxout_name = "standard";
  app.add_option("--maxout", maxout_name,
                 "D's maxout: standard (Goodfellow et al. 2013, k learned pieces per unit) or "
                 "document (the document's class: one fixed random piecewise-linear function of "
                 "k lines after each hidden Linear, never trained)")
      ->capture_default_str()
      ->check(CLI::IsMember({"standard", "document"}));
  std::string opt_d_name = "sgd";
  app.add_option(
         "--opt-d", opt_d_name,
         "D's optimizer: sgd (momentum 0.9, the document's text) or adam (the author's notebook)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sgd", "adam"}));
  double beta1 = 0.9;
  app.add_option("--beta1", beta1, "Adam's beta1 (the document keeps PyTorch's default)")
      ->capture_default_str();
  int64_t log_every = 100;
  app.add_option("--log-every", log_every, "steps between log lines")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const Stage stage = stage_name == "paper"  ? Stage::paper
                      : stage_name == "adam" ? Stage::adam
                                             : Stage::final_;
  // The learning rates' defaults depend on the stage; the flags win when given.
  if (stage == Stage::paper) {
    if (app.count("--lr-g") == 0) o.lr_g = 0.01;
    if (app.count("--lr-d") == 0) o.lr_d = 0.01;
  }
  if (o.out.empty()) o.out = "out/gan_paper/" + stage_name;

  return ex::run("gan_paper", [&] {
    ex::setup(o, "gan_paper");
    auto G = make_generator(stage);
    auto D = make_discriminator(pieces, maxout_name == "document");
    std::unique_ptr<optim::Optimizer<float>> opt_g;
    if (stage == Stage::paper)
      opt_g = std::make_unique<optim::SGD<float>>(G.parameters(),
                                                  optim::SGDOptions{.lr = o.lr_g, .momentum = 0.9});
    else
      opt_g = std::make_unique<optim::Adam<float>>(
          G.parameters(), optim::AdamOptions{.lr = o.lr_g, .beta1 = beta1});
    std::unique_ptr<optim::Optimizer<float>> opt_d;
    if (opt_d_name == "adam")
      opt_d = std::make_unique<optim::Adam<float>>(
          D.parameters(), optim::AdamOptions{.lr = o.lr_d, .beta1 = beta1});
    else
      opt_d = std::make_unique<optim::SGD<float>>(D.parameters(),
                                                  optim::SGDOptions{.lr = o.lr_d, .momentum = 0.9});
    nn::BCELoss<float> bce;
    // Drawn right after the networks, before anything is restored, so that a resumed run draws
    // the same ones. As in the document, the smoothed real targets are drawn once and reused for
    // every batch.
    const Tensor<float> fixed_z = noise(64);
    const Tensor<float> ones = Tensor<float>::ones({o.batch, 1}),
                        zeros = Tensor<float>::zeros({o.batch, 1});
    const Tensor<float> real_targets =
        stage == Stage::final_ ? Tensor<float>::uniform({o.batch, 1}, 0.9f, 1.0f) : ones;
    ex::Checkpoints checkpoints(o, {{"G", &G}, {"D", &D}},
                                {{"opt_g", opt_g.get()}, {"opt_d", opt_d.get()}});
    io::LossHistory losses({"d_loss", "g_loss"});
    History history(ex::out_path(o, "history.idx"));
    ex::TrainState state;
    if (o.resume) {
      state = checkpoints.load();
      if (fs::exists(ex::out_path(o, "loss.csv")))
        losses = io::LossHistory::load_csv(ex::out_path(o, "loss.csv"));
      losses.truncate_after(state.step);
      history.load(state.epoch);
      std::printf("resumed from %s at epoch %lld, step %lld\n", checkpoints.path().c_str(),
                  static_cast<long long>(state.epoch), static_cast<long long>(state.step));
    }

    if (o.epochs > state.epoch && (o.steps == 0 || state.step < o.steps)) {
      const data::ImageDataset mnist = ex::load_mnist_or_fail(o.data);
      data::DataLoader loader(
          mnist, {.batch_size = o.batch, .shuffle = true, .drop_last = true, .seed = o.seed});
      const int64_t per_epoch = loader.size();
      NABLA_CHECK(per_epoch > 0, "data '", o.data, "' has ", mnist.size(),
                  " images, fewer than one batch of ", o.batch);
      for (int64_t epoch = state.epoch; epoch < o.epochs; ++epoch) {
        loader.set_epoch(epoch);
        io::Progress progress(
            per_epoch, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs));
        int64_t i = 0;
        for (const data::Batch& batch : loader) {
          const Tensor<float> real = batch.images.reshape({o.batch, kImage});
          const Tensor<float> z = noise(o.batch);
          // D: real -> 1 (0.9..1 in the final stage), G(z) -> 0; the mean of the two losses.
          const Tensor<float> real_out = D(real);
          const Tensor<float> fake_out = D(G(z).detach());
          const Tensor<float> d_loss = (bce(real_out, real_targets) + bce(fake_out, zeros)) * 0.5f;
          opt_d->zero_grad();
          d_loss.backward();
          opt_d->step();
          // G: D(G(z)) -> 1, on the same z.
          const Tensor<float> g_loss = bce(D(G(z)), ones);
          opt_g->zero_grad();
          opt_d->zero_grad();
          g_loss.backward();
          opt_g->step();

          ++state.step;
          ++i;
          losses.add(state.step, {d_loss.item(), g_loss.item()});
          if (i % log_every == 0) {
            std::printf(
                "Epoch [%lld/%lld], Step [%lld/%lld], d_loss: %.4f, g_loss: %.4f, D(x): %.2f, "
                "D(G(z)): %.2f\n",
                static_cast<long long>(epoch + 1), static_cast<long long>(o.epochs),
                static_cast<long long>(i), static_cast<long long>(per_epoch), d_loss.item(),
                g_loss.item(), mean(real_out).item(), mean(fake_out).item());
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
          const Tensor<float> samples = as_images(G(fixed_z));
          G.train();
          io::save_image(samples, ex::out_path(o, "samples.png"));
          history.add(samples.narrow(0, 0, kHistoryColumns));
          history.save(ex::out_path(o, "history.png"));
        }
        checkpoints.save(state);
        losses.save_csv(ex::out_path(o, "loss.csv"));
        losses.save_png(ex::out_path(o, "loss.png"));
        if (o.steps > 0 && state.step >= o.steps) break;
      }
    }
    if (!o.dump_samples.empty()) {
      G.eval();
      ex::dump_samples(o.dump_samples, o.dump_count, data::PixelRange::zero_one,
                       [&](int64_t n) { return as_images(G(noise(n))); });
    }
    std::printf(
        "gan_paper: outputs in %s (samples.png, history.png, loss.png, loss.csv, "
        "checkpoint.nabla)\n",
        o.out.c_str());
    return 0;
  });
}
