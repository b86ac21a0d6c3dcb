// nabla-eval: judges generated MNIST digits with a small CNN classifier trained by nabla itself.
//
// The classifier, Conv(1,32,3,1,1)-ReLU-MaxPool2-Conv(32,64,3,1,1)-ReLU-MaxPool2-Flatten-
// Linear(3136,128)-ReLU-Dropout(0.5)-Linear(128,10), is trained once on the training split (random
// one-pixel shifts, Adam) and cached as a checkpoint. For an IDX file of generated images
// it prints the Fréchet distance between the classifier's 128-d penultimate features of the
// samples and of the held-out real images ("FID" in this feature space), the class histogram, the
// number of classes holding at least 5 % of the samples, the mean top-class confidence and an
// Inception-Score-like value; with --labels, the fraction classified as their intended class. The
// same figures for the held-out real images come first, as the reference line.
#include <Eigen/Eigenvalues>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "common/example.hpp"

using namespace nabla;
namespace ex = nabla::examples;
namespace fs = std::filesystem;

namespace {
constexpr int64_t kClasses = 10, kFeatures = 128, kSide = 28;
// Part of the checkpoint's fingerprint: a checkpoint of another architecture is retrained.
constexpr std::string_view kArchitecture =
    "v1 Conv(1,32,3,1,1)-ReLU-MaxPool2-Conv(32,64,3,1,1)-ReLU-MaxPool2-"
    "Flatten-Linear(3136,128)-ReLU-Dropout(0.5)-Linear(128,10), input [0,1]";
// Training images in the reference FID when no samples are given.
constexpr int64_t kReferenceImages = 1000;
// A class "holds" the samples when it gets at least this share of them.
constexpr double kClassShare = 0.05;

struct Classifier {
  // Image -> the 128-d penultimate features (after the ReLU: what the last layer sees).
  nn::Sequential<float> features{nn::Conv2d<float>(1, 32, 3, 1, 1),
                                 nn::ReLU<float>(),
                                 nn::MaxPool2d<float>(2),
                                 nn::Conv2d<float>(32, 64, 3, 1, 1),
                                 nn::ReLU<float>(),
                                 nn::MaxPool2d<float>(2),
                                 nn::Flatten<float>(),
                                 nn::Linear<float>(64 * 7 * 7, kFeatures),
                                 nn::ReLU<float>()};
  nn::Sequential<float> head{nn::Dropout<float>(0.5), nn::Linear<float>(kFeatures, kClasses)};

  void train(bool on) {
    features.train(on);
    head.train(on);
  }
  std::vector<Tensor<float>> parameters() {
    std::vector<Tensor<float>> p = features.parameters();
    for (const Tensor<float>& h : head.parameters()) p.push_back(h);
    return p;
  }
};

struct TrainSettings {
  int64_t epochs = 3;
  int64_t steps = 0;
  int64_t batch = 64;
  double lr = 1e-3;
  int64_t max_shift = 1;
  uint64_t seed = 1;
};

// FNV-1a over the training data and the architecture: the cache is valid for exactly these.
uint64_t fingerprint(const data::ImageDataset& train) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  mix(kArchitecture.data(), kArchitecture.size());
  if (train.size() > 0)
    mix(train.example(0), static_cast<size_t>(train.size() * train.example_bytes()));
  mix(train.labels().data(), train.labels().size() * sizeof(int64_t));
  return h;
}

// Each image moved by a random whole-pixel offset in [-max_shift, max_shift]^2, zeros shifted in.
Tensor<float> shift_images(const Tensor<float>& images, int64_t max_shift, std::mt19937_64& rng) {
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  Tensor<float> out = Tensor<float>::zeros(images.shape());
  const float* src = images.data();
  float* dst = out.data();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t span = 2 * max_shift + 1;
    const int64_t dy = static_cast<int64_t>(rng() % span) - max_shift,
                  dx = static_cast<int64_t>(rng() % span) - max_shift;
    for (int64_t y = std::max<int64_t>(0, dy); y < std::min(h, h + dy); ++y)
      for (int64_t x = std::max<int64_t>(0, dx); x < std::min(w, w + dx); ++x)
        dst[(i * h + y) * w + x] = src[(i * h + y - dy) * w + x - dx];
  }
  return out;
}

struct TrainResult {
  int64_t steps = 0;
  double seconds = 0;      // wall-clock
  double cpu_seconds = 0;  // all threads of the process
};

TrainResult train_classifier(Classifier& c, const data::ImageDataset& train,
                             const TrainSettings& s) {
  NABLA_CHECK(train.example_shape() == Shape({1, kSide, kSide}), "training images of '",
              train.source(), "' are ", train.example_shape(), ", expected 1 x 28 x 28");
  NABLA_CHECK(train.has_labels() && train.num_classes() <= kClasses, "training labels of '",
              train.source(), "' must be classes 0 to 9");
  NABLA_CHECK(train.size() >= s.batch, "'", train.source(), "' has ", train.size(),
              " training images, fewer than a batch of ", s.batch);
  data::DataLoader loader(
      train, {.batch_size = s.batch, .shuffle = true, .drop_last = true, .seed = s.seed});
  optim::Adam<float> opt(c.parameters(), s.lr);
  std::mt19937_64 rng(s.seed);
  const int64_t total = s.steps > 0 ? s.steps : s.epochs * loader.size();
  io::Progress progress(total, "training the classifier", {.out = stderr, .unit = "step"});
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  c.train(true);
  int64_t step = 0;
  for (int64_t epoch = 0; step < total; ++epoch) {
    loader.set_epoch(epoch);
    for (const data::Batch& batch : loader) {
      if (step == total * 2 / 3)
        opt.set_lr(s.lr / 10);  // a tenth for the last third: settles the weights
      const Tensor<float> logits = c.head(c.features(shift_images(batch.images, s.max_shift, rng)));
      const Tensor<float> loss = cross_entropy(logits, batch.labels);
      opt.zero_grad();
      loss.backward();
      opt.step();
      ++step;
      progress.set_status("loss " + std::to_string(loss.item()).substr(0, 6));
      progress.advance();
      if (step >= total) break;
    }
  }
  progress.finish();
  c.train(false);
  return {step, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC};
}

// What the classifier says about a set of images: features (N x 128) and class probabilities
// (N x 10), in double.
struct Outputs {
  Eigen::MatrixXd features, probs;
};

Outputs classify(Classifier& c, const data::Dataset& images) {
  NoGradGuard no_grad;
  c.train(false);
  Outputs out{Eigen::MatrixXd(images.size(), kFeatures), Eigen::MatrixXd(images.size(), kClasses)};
  data::DataLoader loader(images, {.batch_size = 250});
  int64_t row = 0;
  for (const data::Batch& batch : loader) {
    const Tensor<float> f = c.features(batch.images);
    const Tensor<float> p = softmax(c.head(f), 1);
    const int64_t n = batch.size();
    out.features.middleRows(row, n) =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            f.data(), n, kFeatures)
            .cast<double>();
    out.probs.middleRows(row, n) =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            p.data(), n, kClasses)
            .cast<double>();
    row += n;
  }
  return out;
}

struct Gaussian {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
};

Gaussian fit_gaussian(const Eigen::MatrixXd& x) {
  NABLA_CHECK(x.rows() >= 2, "a Frechet distance needs at least 2 images, got ", x.rows());
  Gaussian g;
  g.mean = x.colwise().mean().transpose();
  const Eigen::MatrixXd centred = x.rowwise() - g.mean.transpose();
  g.cov = centred.transpose() * centred / static_cast<double>(x.rows() - 1);
  return g;
}

// Rounding leaves eigenvalues of a singular covariance slightly negative; they count as 0. (A
// scalar square root: GCC 12 warns falsely inside Eigen's AVX-512 packet square root.)
Eigen::VectorXd clamped_roots(const Eigen::VectorXd& eigenvalues) {
  return eigenvalues.unaryExpr([](double v) { return v > 0 ? std::sqrt(v) : 0.0; });
}

// ||m1 - m2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2), with tr((S1 S2)^1/2) taken as
// tr((S1^1/2 S2 S1^1/2)^1/2): the same eigenvalues, but of a symmetric positive semi-definite
// matrix, so both roots come from symmetric eigen-decompositions (no complex parts, no
// ill-conditioned general square root).
double frechet_distance(const Gaussian& a, const Gaussian& b) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ea(a.cov);
  const Eigen::VectorXd roots = clamped_roots(ea.eigenvalues());
  const Eigen::MatrixXd sqrt_a =
      ea.eigenvectors() * roots.asDiagonal() * ea.eigenvectors().transpose();
  Eigen::MatrixXd m = sqrt_a * b.cov * sqrt_a;
  m = (0.5 * (m + m.transpose())).eval();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> em(m, Eigen::EigenvaluesOnly);
  const double trace_sqrt = clamped_roots(em.eigenvalues()).sum();
  const double d = (a.mean - b.mean).squaredNorm() + a.cov.trace() + b.cov.trace() - 2 * trace_sqrt;
  return std::max(d, 0.0);
}

struct Figures {
  std::string name, source, fid_note;
  int64_t images = 0;
  double fid = 0;
  std::array<int64_t, kClasses> histogram{};
  int classes_held = 0;  // classes with at least kClassShare of the images
  double confidence = 0;
  double inception_score = 0;
  std::optional<double> label_accuracy;  // real images: the classifier's test accuracy
  int64_t label_hits = 0;
};

std::vector<int64_t> predictions(const Outputs& o) {
  std::vector<int64_t> out(static_cast<size_t>(o.probs.rows()));
  for (int64_t i = 0; i < o.probs.rows(); ++i)
    o.probs.row(i).maxCoeff(&out[static_cast<size_t>(i)]);
  return out;
}

// Everything but the FID.
Figures describe(const Outputs& o, const std::vector<int64_t>& labels) {
  Figures f;
  const int64_t n = o.probs.rows();
  f.images = n;
  const std::vector<int64_t> predicted = predictions(o);
  for (int64_t c : predicted) ++f.histogram[static_cast<size_t>(c)];
  for (int64_t count : f.histogram)
    f.classes_held += static_cast<double>(count) >= kClassShare * static_cast<double>(n);
  f.confidence = o.probs.rowwise().maxCoeff().mean();
  // exp(E_x[KL(p(y|x) || p(y))]), p(y) the mean of p(y|x) over the set; 0 log 0 = 0.
  const Eigen::RowVectorXd marginal = o.probs.colwise().mean();
  double kl_sum = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < kClasses; ++c) {
      const double p = o.probs(i, c);
      if (p > 0) kl_sum += p * (std::log(p) - std::log(marginal(c)));
    }
  f.inception_score = std::exp(kl_sum / static_cast<double>(n));
  if (!labels.empty()) {
    for (size_t i = 0; i < labels.size(); ++i) f.label_hits += predicted[i] == labels[i];
    f.label_accuracy = static_cast<double>(f.label_hits) / static_cast<double>(n);
  }
  return f;
}

// The samples' IDX file as 28 x 28 gray images, with a one-line error for anything else.
data::ImageDataset load_samples(const std::string& path, const std::string& labels) {
  NABLA_CHECK(fs::exists(path), "samples file '", path, "' does not exist");
  NABLA_CHECK(labels.empty() || fs::exists(labels), "--labels file '", labels, "' does not exist");
  data::ImageDataset samples = data::load_idx(path, labels);
  const Shape s = samples.example_shape();
  NABLA_CHECK(
      s == Shape({1, kSide, kSide}), "'", path, "' holds ", samples.size(), " images of ", s[0],
      " x ", s[1], " x ", s[2],
      " (channels x height x width); expected 28 x 28 gray images (an N x 28 x 28 IDX file)");
  NABLA_CHECK(samples.size() >= 2, "'", path, "' holds ", samples.size(),
              " image(s); the figures need at least 2");
  for (size_t i = 0; i < samples.labels().size(); ++i)
    NABLA_CHECK(samples.labels()[i] < kClasses, "--labels '", labels, "': label ", i, " is ",
                samples.labels()[i], ", expected a digit 0 to 9");
  return samples;
}

// data/mnist -> data/nabla-eval-mnist.nabla: beside the data folder, named after it.
std::string default_classifier_path(const std::string& data_folder) {
  fs::path folder = fs::path(data_folder).lexically_normal();
  if (!folder.has_filename()) folder = folder.parent_path();  // "data/mnist/"
  if (folder.empty() || folder.filename() == "." || folder.filename() == "..")
    folder = fs::absolute(folder).lexically_normal();
  if (!folder.has_filename()) folder = folder.parent_path();
  const std::string name = folder.filename().empty() ? "data" : folder.filename().string();
  return (folder.parent_path() / ("nabla-eval-" + name + ".nabla")).string();
}

struct ClassifierInfo {
  std::string path;
  bool trained_now = false;
  int64_t steps = 0;
  double train_seconds = 0, train_cpu_seconds = 0;
  int threads = 1;
  double test_accuracy = 0;
  int64_t test_hits = 0, test_images = 0;
};

// Loads the cached classifier when it was trained on this data with this architecture, else
// trains one and saves it.
ClassifierInfo load_or_train(Classifier& c, const data::ImageDataset& train,
                             const std::string& path, bool retrain, const TrainSettings& settings,
                             int threads) {
  ClassifierInfo info{.path = path, .threads = threads};
  const int64_t fp = static_cast<int64_t>(fingerprint(train));
  if (!retrain && fs::exists(path)) {
    Checkpoint cp;
    try {
      cp = Checkpoint::load(path);
    } catch (const Error& e) {
      nabla::detail::fail(e.what(), " (pass --retrain to replace it)");
    }
    bool complete = true;
    for (const char* key :
         {"fingerprint", "train_steps", "train_seconds", "train_cpu_seconds", "train_threads"})
      complete = complete && cp.contains(key);
    if (complete && cp.tensor<int64_t>("fingerprint").item() == fp) {
      cp.restore("features.", c.features);
      cp.restore("head.", c.head);
      info.steps = cp.tensor<int64_t>("train_steps").item();
      info.train_seconds = cp.tensor<double>("train_seconds").item();
      info.train_cpu_seconds = cp.tensor<double>("train_cpu_seconds").item();
      info.threads = static_cast<int>(cp.tensor<int64_t>("train_threads").item());
      return info;
    }
    std::fprintf(stderr,
                 "nabla-eval: %s was trained on other data or is another model; retraining\n",
                 path.c_str());
  }
  std::fprintf(stderr, "nabla-eval: training the classifier on the %lld images of %s\n",
               static_cast<long long>(train.size()), train.source().c_str());
  const TrainResult r = train_classifier(c, train, settings);
  info.trained_now = true;
  info.steps = r.steps;
  info.train_seconds = r.seconds;
  info.train_cpu_seconds = r.cpu_seconds;
  Checkpoint cp;
  cp.add("features.", c.features);
  cp.add("head.", c.head);
  cp.add_tensor("fingerprint", Tensor<int64_t>::scalar(fp));
  cp.add_tensor("train_steps", Tensor<int64_t>::scalar(r.steps));
  cp.add_tensor("train_seconds", Tensor<double>::scalar(r.seconds));
  cp.add_tensor("train_cpu_seconds", Tensor<double>::scalar(r.cpu_seconds));
  cp.add_tensor("train_threads", Tensor<int64_t>::scalar(threads));
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  cp.save(path);
  return info;
}

nlohmann::ordered_json to_json(const Figures& f) {
  nlohmann::ordered_json j;
  j["source"] = f.source;
  j["images"] = f.images;
  j["fid"] = f.fid;
  j["fid_against"] = f.fid_note;
  j["histogram"] = f.histogram;
  j["classes_at_least_5_percent"] = f.classes_held;
  j["confidence"] = f.confidence;
  j["inception_score"] = f.inception_score;
  if (f.label_accuracy) j["label_accuracy"] = *f.label_accuracy;
  return j;
}

void print_figures(const Figures& f, const char* accuracy_name) {
  std::printf("%s: %s, %lld images\n", f.name.c_str(), f.source.c_str(),
              static_cast<long long>(f.images));
  std::printf("  FID                %10.3f  (%s)\n", f.fid, f.fid_note.c_str());
  std::printf("  class              ");
  for (int c = 0; c < kClasses; ++c) std::printf("%6d", c);
  std::printf("\n  count              ");
  for (int64_t count : f.histogram) std::printf("%6lld", static_cast<long long>(count));
  std::printf("\n  share %%            ");
  for (int64_t count : f.histogram)
    std::printf("%6.1f", 100.0 * static_cast<double>(count) / static_cast<double>(f.images));
  std::printf("\n  classes >= 5 %%     %6d of 10\n", f.classes_held);
  std::printf("  confidence         %10.3f  (mean top-class probability)\n", f.confidence);
  std::printf("  IS                 %10.3f  (exp E[KL(p(y|x) || p(y))], at most 10)\n",
              f.inception_score);
  if (f.label_accuracy)
    std::printf("  %-18s %9.2f %%  (%lld of %lld classified as their label)\n", accuracy_name,
                100 * *f.label_accuracy, static_cast<long long>(f.label_hits),
                static_cast<long long>(f.images));
}
}  // namespace

int main(int argc, char** argv) {
  std::string samples_path, labels_path, data_folder = "data/mnist", classifier_path;
  bool retrain = false, json = false;
  int threads = 1;
  TrainSettings settings;
  CLI::App app{
      "nabla-eval: judges generated MNIST digits (an IDX file, as --dump-samples writes) with a "
      "CNN classifier trained by nabla on the training split and cached as a checkpoint; without a "
      "samples file it reports the classifier and the real held-out images"};
  app.add_option("samples", samples_path,
                 "IDX file of generated 28 x 28 gray images (N x 28 x 28, .gz allowed)");
  app.add_option("--labels", labels_path,
                 "IDX label file: the class each sample was generated for (conditional GANs)");
  app.add_option("--data", data_folder,
                 "MNIST folder: training split for the classifier, test split as the reference")
      ->capture_default_str();
  app.add_option("--classifier", classifier_path,
                 "classifier checkpoint (default: nabla-eval-<data folder name>.nabla next to the "
                 "data folder)");
  app.add_flag("--retrain", retrain, "train the classifier even if the checkpoint exists");
  app.add_option("--epochs", settings.epochs, "classifier training epochs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--steps", settings.steps,
                 "stop classifier training after this many steps (0: all epochs)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", settings.batch, "classifier training batch size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--lr", settings.lr, "classifier Adam learning rate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--shift", settings.max_shift,
                 "classifier training: shift images by up to this many pixels")
      ->capture_default_str()
      ->check(CLI::Range(0, 8));
  app.add_option("--seed", settings.seed, "random seed for the classifier's training")
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", json, "print the figures as one JSON object (messages go to stderr)");
  CLI11_PARSE(app, argc, argv);

  return ex::run("nabla-eval", [&] {
    set_num_threads(threads);
    manual_seed(settings.seed);
    if (classifier_path.empty()) classifier_path = default_classifier_path(data_folder);
    // The samples are checked before anything is trained: a typo should not cost a training run.
    std::optional<data::ImageDataset> samples;
    if (!samples_path.empty()) samples = load_samples(samples_path, labels_path);
    NABLA_CHECK(labels_path.empty() || samples, "--labels needs a samples file");

    const data::ImageDataset test = ex::load_mnist_or_fail(data_folder, data::Split::test);
    NABLA_CHECK(test.example_shape() == Shape({1, kSide, kSide}) && test.size() >= 2,
                "test split of '", data_folder, "': expected at least 2 images of 28 x 28, got ",
                test.size(), " of ", test.example_shape());
    const data::ImageDataset train = ex::load_mnist_or_fail(data_folder, data::Split::train);
    Classifier classifier;
    ClassifierInfo info =
        load_or_train(classifier, train, classifier_path, retrain, settings, threads);

    // The reference: the held-out images' histogram, confidence and IS, and the FID that as many
    // real images as there are samples (other than the held-out ones: the first of the training
    // split) reach against the held-out images, since the FID of a set depends on its size.
    const Outputs real = classify(classifier, test);
    const Gaussian real_gaussian = fit_gaussian(real.features);
    Figures reference = describe(real, test.labels());
    reference.name = "real held-out images (reference)";
    reference.source = test.source();
    const int64_t matched = std::min(train.size(), samples ? samples->size() : kReferenceImages);
    reference.fid = frechet_distance(
        fit_gaussian(classify(classifier, data::Subset(train, 0, matched)).features),
        real_gaussian);
    reference.fid_note = "the first " + std::to_string(matched) + " training images vs the " +
                         std::to_string(test.size()) + " held-out";
    info.test_accuracy = reference.label_accuracy.value_or(0);
    info.test_hits = reference.label_hits;
    info.test_images = reference.images;

    std::optional<Figures> generated;
    if (samples) {
      const Outputs out = classify(classifier, *samples);
      generated = describe(out, samples->labels());
      generated->name = "samples";
      generated->source = samples_path;
      generated->fid = frechet_distance(fit_gaussian(out.features), real_gaussian);
      generated->fid_note = "vs the " + std::to_string(test.size()) + " held-out real images";
    }

    if (json) {
      nlohmann::ordered_json j;
      j["classifier"] = {{"path", info.path},
                         {"test_accuracy", info.test_accuracy},
                         {"test_images", info.test_images},
                         {"train_steps", info.steps},
                         {"train_seconds", info.train_seconds},
                         {"train_cpu_seconds", info.train_cpu_seconds},
                         {"train_threads", info.threads},
                         {"trained_now", info.trained_now}};
      j["reference"] = to_json(reference);
      if (generated) j["samples"] = to_json(*generated);
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    std::printf(
        "classifier: %s, test accuracy %.2f %% (%lld of %lld held-out images); %s %lld steps in "
        "%.0f s "
        "(%.0f s CPU) on %d thread(s)\n",
        info.path.c_str(), 100 * info.test_accuracy, static_cast<long long>(info.test_hits),
        static_cast<long long>(info.test_images),
        info.trained_now ? "trained now," : "cached, trained", static_cast<long long>(info.steps),
        info.train_seconds, info.train_cpu_seconds, info.threads);
    print_figures(reference, "test accuracy");
    if (generated) print_figures(*generated, "label accuracy");
    return 0;
  });
}
