#pragma once
// DataLoader: batches of a Dataset as float tensors, in a seeded shuffled order or in order, with
// drop_last, for one epoch per range-for loop. Datasets that decode from disk are read one batch
// ahead on a second thread, so decoding overlaps training.
#include <array>
#include <condition_variable>
#include <deque>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "nabla/core/random.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/ops/indexing.hpp"

namespace nabla::data {

struct Batch {
  Tensor<float> images;    // B x C x H x W, in the loader's PixelRange
  Tensor<int64_t> labels;  // B; undefined for a dataset without labels

  int64_t size() const { return images.size(0); }
  // The labels as one-hot rows, B x classes (targets for a conditional GAN).
  Tensor<float> one_hot(int64_t classes) const {
    NABLA_CHECK(labels.defined(), "Batch::one_hot: this batch has no labels (the dataset is unlabelled)");
    return nabla::one_hot<float>(labels, classes);
  }
};

namespace detail {
// A batch as the dataset gives it. The prefetch thread builds these and the loop's thread turns
// them into tensors: tensors come from per-thread block caches, and blocks allocated on one
// thread and freed on another would pile up in the second thread's cache.
struct RawBatch {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  int64_t count = 0;
};

inline RawBatch read_examples(const Dataset& dataset, std::span<const int64_t> indices) {
  RawBatch raw;
  raw.count = static_cast<int64_t>(indices.size());
  const int64_t bytes = dataset.example_bytes();
  raw.pixels.resize(static_cast<size_t>(raw.count * bytes));
  raw.labels.resize(indices.size());
  for (int64_t i = 0; i < raw.count; ++i)
    raw.labels[static_cast<size_t>(i)] = dataset.read(indices[static_cast<size_t>(i)], raw.pixels.data() + i * bytes);
  return raw;
}

inline Batch to_batch(const RawBatch& raw, const Dataset& dataset, PixelRange range) {
  const Shape example = dataset.example_shape();
  Batch batch;
  batch.images = Tensor<float>::empty({raw.count, example[0], example[1], example[2]});
  const std::array<float, 256>& table = pixel_table(range);
  float* out = batch.images.data();
  for (size_t p = 0; p < raw.pixels.size(); ++p) out[p] = table[raw.pixels[p]];
  if (dataset.has_labels()) batch.labels = Tensor<int64_t>::from(raw.labels, {raw.count});
  return batch;
}
}  // namespace detail

// The examples at `indices` as one batch.
inline Batch make_batch(const Dataset& dataset, std::span<const int64_t> indices, PixelRange range) {
  return detail::to_batch(detail::read_examples(dataset, indices), dataset, range);
}

// `batch_size` examples drawn uniformly with replacement (Keras-style random batches).
inline Batch random_batch(const Dataset& dataset, int64_t batch_size, Generator& gen = default_generator(),
                          PixelRange range = PixelRange::zero_one) {
  NABLA_CHECK(batch_size > 0, "random_batch: batch_size must be positive, got ", batch_size);
  NABLA_CHECK(dataset.size() > 0, "random_batch: dataset '", dataset.source(), "' is empty");
  std::vector<int64_t> indices(static_cast<size_t>(batch_size));
  const uint64_t base = gen.reserve(static_cast<uint64_t>(batch_size));
  for (int64_t i = 0; i < batch_size; ++i) {
    const auto r = gen.block(base + static_cast<uint64_t>(i));
    const uint64_t bits = (uint64_t{r[0]} << 32) | r[1];
    indices[static_cast<size_t>(i)] = static_cast<int64_t>(bits % static_cast<uint64_t>(dataset.size()));
  }
  return make_batch(dataset, indices, range);
}

// The order of epoch `epoch` of n examples: a Fisher-Yates shuffle whose every draw is a Philox
// value of (seed, epoch, position), so any epoch can be recomputed on its own (resuming training
// at epoch 7 sees epoch 7's order).
inline std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch) {
  NABLA_CHECK(n >= 0 && n < (int64_t{1} << 32), "shuffled_order: ", n, " examples, expected fewer than 2^32");
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  const Generator gen(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto r = gen.block((static_cast<uint64_t>(epoch) << 32) | static_cast<uint64_t>(i));
    const uint64_t bits = (uint64_t{r[0]} << 32) | r[1];
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(bits % static_cast<uint64_t>(i + 1))]);
  }
  return order;
}

enum class Prefetch { automatic, on, off };

struct LoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;  // leave out the last batch when it would be smaller than batch_size
  std::optional<uint64_t> seed{};  // the shuffle's seed; by default the default generator's seed
  PixelRange range = PixelRange::zero_one;
  // Reading ahead on a second thread pays for datasets that decode from disk; for data in memory
  // a hand-over between threads costs more than building the batch (automatic decides so).
  Prefetch prefetch = Prefetch::automatic;
};

class DataLoader {
 public:
  // The dataset must outlive the loader.
  explicit DataLoader(const Dataset& dataset, LoaderOptions options = {})
      : dataset_(dataset), options_(options), seed_(options.seed ? *options.seed : default_generator().seed()) {
    NABLA_CHECK(options.batch_size > 0, "DataLoader: batch_size must be positive, got ", options.batch_size);
    prefetch_ = options.prefetch == Prefetch::on ||
                (options.prefetch == Prefetch::automatic && dataset.reads_from_disk());
  }
  DataLoader(const Dataset&&, LoaderOptions = {}) = delete;  // a temporary dataset would dangle
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;
  ~DataLoader() { stop_worker(); }

  // Batches per epoch.
  int64_t size() const {
    const int64_t n = dataset_.size(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  const Dataset& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return options_; }
  // The epoch the next loop runs (counting from 0); set it to resume a run.
  int64_t epoch() const { return epoch_; }
  void set_epoch(int64_t epoch) {
    NABLA_CHECK(epoch >= 0, "DataLoader::set_epoch: expected epoch >= 0, got ", epoch);
    epoch_ = epoch;
  }

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    const Batch& operator*() const { return loader_->current_; }
    const Batch* operator->() const { return &loader_->current_; }
    Iterator& operator++() {
      loader_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !loader_->has_current_; }

   private:
    friend class DataLoader;
    explicit Iterator(DataLoader* loader) : loader_(loader) {}
    DataLoader* loader_;
  };

  // Starts the next epoch. One loop at a time: starting another abandons the one in progress.
  Iterator begin() {
    stop_worker();
    if (options_.shuffle) {
      order_ = shuffled_order(dataset_.size(), seed_, epoch_);
    } else {
      order_.resize(static_cast<size_t>(dataset_.size()));
      for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
    }
    ++epoch_;
    next_ = 0;
    if (prefetch_) worker_ = std::thread([this] { produce(); });
    advance();
    return Iterator(this);
  }
  std::default_sentinel_t end() const { return {}; }

 private:
  std::span<const int64_t> batch_indices(int64_t b) const {
    const int64_t first = b * options_.batch_size;
    const int64_t count = std::min(options_.batch_size, dataset_.size() - first);
    return std::span<const int64_t>(order_).subspan(static_cast<size_t>(first), static_cast<size_t>(count));
  }

  void advance() {
    has_current_ = next_ < size();
    if (!has_current_) {
      current_ = Batch{};
      return;
    }
    if (!prefetch_) {
      current_ = make_batch(dataset_, batch_indices(next_++), options_.range);
      return;
    }
    Slot slot;
    {
      std::unique_lock lock(mutex_);
      ready_changed_.wait(lock, [&] { return !ready_.empty(); });
      slot = std::move(ready_.front());
      ready_.pop_front();
    }
    ready_changed_.notify_all();
    ++next_;
    if (slot.error) {
      has_current_ = false;
      next_ = size();  // the prefetch thread stopped at the failure; so does this epoch
      std::rethrow_exception(slot.error);
    }
    current_ = detail::to_batch(slot.raw, dataset_, options_.range);
  }

  // The prefetch thread: reads the epoch's batches in order, at most kAhead ahead of the loop.
  void produce() {
    static constexpr size_t kAhead = 2;
    for (int64_t b = 0; b < size(); ++b) {
      {
        std::unique_lock lock(mutex_);
        ready_changed_.wait(lock, [&] { return stopping_ || ready_.size() < kAhead; });
        if (stopping_) return;
      }
      Slot slot;
      try {
        slot.raw = detail::read_examples(dataset_, batch_indices(b));
      } catch (...) {
        slot.error = std::current_exception();
      }
      const bool failed = static_cast<bool>(slot.error);
      {
        std::lock_guard lock(mutex_);
        ready_.push_back(std::move(slot));
      }
      ready_changed_.notify_all();
      if (failed) return;
    }
  }

  void stop_worker() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_changed_.notify_all();
    worker_.join();
    ready_.clear();
    stopping_ = false;
  }

  struct Slot {
    detail::RawBatch raw;
    std::exception_ptr error;
  };

  const Dataset& dataset_;
  LoaderOptions options_;
  uint64_t seed_;
  bool prefetch_ = false;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t next_ = 0;
  Batch current_;
  bool has_current_ = false;

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable ready_changed_;
  std::deque<Slot> ready_;
  bool stopping_ = false;
};

}  // namespace nabla::data
