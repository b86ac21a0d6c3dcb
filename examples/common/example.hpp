#pragma once
// What every example shares: the common flags (defaults are the example's recipe), the run
// folder, the loss log, resumable checkpoints, sample dumps for nabla-eval, and a main() wrapper
// that turns any nabla::Error into one line and a non-zero exit.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <nabla/data.hpp>
#include <nabla/io.hpp>
#include <nabla/nabla.hpp>

namespace nabla::examples {

namespace fs = std::filesystem;

// The flags every example has. An example sets the defaults to its recipe, then calls
// add_common_flags, so that --help shows the recipe.
struct Options {
  int64_t epochs = 1;
  int64_t steps = 0;  // > 0: stop after this many training steps (smoke runs), whatever the epochs
  int64_t batch = 1;
  double lr_g = 1e-4;
  double lr_d = 1e-4;
  std::string data = "data/mnist";
  std::string out;  // default: out/<example name>
  uint64_t seed = 1;
  int threads = 1;
  std::string device = "cpu";
  bool resume = false;
  std::string dump_samples;  // write dump_count generated images to this IDX file, then exit
  int64_t dump_count = 1000;
};

inline void add_common_flags(CLI::App& app, Options& o) {
  app.add_option("--epochs", o.epochs, "training epochs")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--steps", o.steps, "stop after this many training steps (0: run all epochs)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", o.batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--lr-g", o.lr_g, "generator learning rate")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--lr-d", o.lr_d, "discriminator learning rate")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--data", o.data, "data path")->capture_default_str();
  app.add_option("--out", o.out, "output folder (default: out/<example>)");
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
  app.add_option("--threads", o.threads, "CPU threads")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--device", o.device, "cpu, or cuda with a CUDA build")->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the checkpoint in the output folder");
  app.add_option("--dump-samples", o.dump_samples,
                 "after training (or from the checkpoint with --resume --epochs 0), write --dump-count "
                 "generated images to this IDX file");
  app.add_option("--dump-count", o.dump_count, "images for --dump-samples")->capture_default_str()->check(CLI::PositiveNumber);
}

// Applies the seed, threads and device, and creates the output folder.
inline void setup(Options& o, const std::string& name) {
  if (o.out.empty()) o.out = "out/" + name;
  NABLA_CHECK(o.device == "cpu" || o.device == "cuda", "unknown device '", o.device, "' (expected cpu or cuda)");
  NABLA_CHECK(o.device == "cpu" || cuda_available(),
              "--device cuda: this build of nabla has no CUDA backend (configure with NABLA_CUDA=ON)");
  set_num_threads(o.threads);
  manual_seed(o.seed);
  fs::create_directories(o.out);
}

inline std::string out_path(const Options& o, const std::string& file) { return (fs::path(o.out) / file).string(); }

// Runs an example's body; a nabla::Error (a missing data file, a bad flag value, ...) or any
// other exception ends the program with one line and exit code 1.
inline int run(const std::string& name, const std::function<int()>& body) {
  try {
    return body();
  } catch (const nabla::Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), e.what());
  }
  return 1;
}

// Modules and optimizers saved together with the training position and the default generator's
// position, in one checkpoint file; the loss history goes to a CSV beside it. Draw fixed tensors
// (a fixed z for sample grids) before load(): load() moves the generator to where the saved run was.
struct TrainState {
  int64_t epoch = 0;  // epochs completed
  int64_t step = 0;   // training steps completed
};

class Checkpoints {
 public:
  Checkpoints(const Options& o, std::vector<std::pair<std::string, nn::Module<float>*>> modules,
              std::vector<std::pair<std::string, optim::Optimizer<float>*>> optimizers)
      : path_(out_path(o, "checkpoint.nabla")), modules_(std::move(modules)), optimizers_(std::move(optimizers)) {}

  void save(const TrainState& s) const {
    Checkpoint c;
    for (auto& [name, m] : modules_) c.add(name + ".", *m);
    for (auto& [name, opt] : optimizers_) c.add(name + ".", *opt);
    c.add_tensor("epoch", Tensor<int64_t>::scalar(s.epoch));
    c.add_tensor("step", Tensor<int64_t>::scalar(s.step));
    c.add_tensor("rng_offset", Tensor<int64_t>::scalar(static_cast<int64_t>(default_generator().offset())));
    c.save(path_);
  }
  // Restores everything from the checkpoint; throws naming the file if it is missing or does not fit.
  TrainState load() const {
    NABLA_CHECK(fs::exists(path_), "--resume: no checkpoint at '", path_, "'");
    const Checkpoint c = Checkpoint::load(path_);
    try {
      for (auto& [name, m] : modules_) c.restore(name + ".", *m);
      for (auto& [name, opt] : optimizers_) c.restore(name + ".", *opt);
      if (c.contains("rng_offset"))
        default_generator().set_offset(static_cast<uint64_t>(c.tensor<int64_t>("rng_offset").item()));
      return {c.tensor<int64_t>("epoch").item(), c.tensor<int64_t>("step").item()};
    } catch (const Error& e) {
      detail::fail("'", path_, "' does not fit this model: ", e.what());
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::pair<std::string, nn::Module<float>*>> modules_;
  std::vector<std::pair<std::string, optim::Optimizer<float>*>> optimizers_;
};

// Writes `count` images from `generate(n)` (N x C x H x W in `range`) as an IDX file, in batches.
inline void dump_samples(const std::string& path, int64_t count, data::PixelRange range,
                         const std::function<Tensor<float>(int64_t)>& generate, int64_t batch = 100) {
  NoGradGuard no_grad;
  std::vector<Tensor<float>> parts;
  for (int64_t done = 0; done < count; done += batch) parts.push_back(generate(std::min(batch, count - done)));
  data::save_idx_images(path, cat(parts, 0), range);
  std::printf("wrote %lld samples to %s\n", static_cast<long long>(count), path.c_str());
}

// Every image of a dataset in [0, 1], one flattened image per row.
inline Tensor<float> all_images(const data::Dataset& dataset) {
  std::vector<int64_t> indices(static_cast<size_t>(dataset.size()));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
  const Tensor<float> images = data::make_batch(dataset, indices, data::PixelRange::zero_one).images;
  return images.reshape({dataset.size(), images.numel() / std::max<int64_t>(dataset.size(), 1)});
}

// The mean over pixels of the per-pixel standard deviation across a set of images (one per row):
// about 0.3 for real digits, near 0 when every image is the same one (mode collapse).
inline double pixel_spread(const Tensor<float>& images) {
  const int64_t n = images.size(0), d = images.size(1);
  const Tensor<float> c = images.contiguous();
  const float* x = c.data();
  double total = 0;
  for (int64_t j = 0; j < d; ++j) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) s += x[i * d + j], s2 += static_cast<double>(x[i * d + j]) * x[i * d + j];
    const double mean = s / static_cast<double>(n);
    total += std::sqrt(std::max(0.0, s2 / static_cast<double>(n) - mean * mean));
  }
  return total / static_cast<double>(d);
}

// Loads MNIST-style IDX files from a folder, with a one-line error naming what is missing.
inline data::ImageDataset load_mnist_or_fail(const std::string& folder, data::Split split = data::Split::train) {
  NABLA_CHECK(fs::is_directory(folder), "data folder '", folder,
              "' does not exist (run scripts/get-data.sh, or pass --data with the MNIST IDX files)");
  return data::load_mnist(folder, split);
}

}  // namespace nabla::examples
