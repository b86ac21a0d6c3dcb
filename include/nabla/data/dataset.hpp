#pragma once
// Datasets of 8-bit images: every source nabla reads (IDX, CSV, HDF5, JPEG/PNG) stores bytes, so
// a Dataset hands out each example as C x H x W bytes and the DataLoader turns batches of them
// into float tensors in one place, with the value range the model wants.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nabla/core/shape.hpp"
#include "nabla/data/limits.hpp"

namespace nabla::data {

// How a pixel byte p becomes a float: p / 255 (torchvision's ToTensor), or that mapped to
// [-1, 1] as Normalize(0.5, 0.5) does it, (p / 255 - 0.5) / 0.5, so the values match PyTorch's
// bit for bit.
enum class PixelRange { zero_one, minus_one_one };

inline const std::array<float, 256>& pixel_table(PixelRange range) {
  static const auto tables = [] {
    std::array<std::array<float, 256>, 2> t{};
    for (int p = 0; p < 256; ++p) {
      t[0][p] = static_cast<float>(p) / 255.0f;
      t[1][p] = (t[0][p] - 0.5f) / 0.5f;
    }
    return t;
  }();
  return tables[range == PixelRange::zero_one ? 0 : 1];
}

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // [channels, height, width], the same for every example.
  virtual Shape example_shape() const = 0;
  virtual bool has_labels() const = 0;
  // Copies example `index` (0 <= index < size()) into `pixels` as channels x height x width bytes
  // and returns its label, or -1 for a dataset without labels. Called from the DataLoader's
  // prefetch thread, so implementations must not depend on the calling thread.
  virtual int64_t read(int64_t index, uint8_t* pixels) const = 0;
  // True when read() goes to disk and decodes: the DataLoader then reads ahead on a second thread.
  virtual bool reads_from_disk() const { return false; }
  // Where the examples come from (a file or folder name), for messages.
  virtual std::string source() const = 0;

  int64_t example_bytes() const { return example_shape().numel(); }
};

namespace detail {
inline void check_index(const Dataset& d, int64_t index) {
  NABLA_CHECK(index >= 0 && index < d.size(), "dataset '", d.source(), "': index ", index,
              " is out of range for ", d.size(), " examples");
}
}  // namespace detail

// Images held in memory (MNIST-sized data): N x C x H x W bytes and, optionally, N labels.
class ImageDataset : public Dataset {
 public:
  ImageDataset(std::vector<uint8_t> pixels, const Shape& shape, std::vector<int64_t> labels,
               std::string source)
      : pixels_(std::move(pixels)), shape_(shape), labels_(std::move(labels)), source_(std::move(source)) {
    NABLA_CHECK(shape_.size() == 4, "ImageDataset '", source_, "': expected an N x C x H x W shape, got ",
                shape_);
    const std::optional<int64_t> example = checked_numel({shape_[1], shape_[2], shape_[3]});
    NABLA_CHECK(example && *example <= kMaxExampleBytes, "ImageDataset '", source_, "': images of ", shape_[1],
                " x ", shape_[2], " x ", shape_[3], " are larger than nabla accepts (", kMaxExampleBytes, " bytes)");
    NABLA_CHECK(static_cast<int64_t>(pixels_.size()) == *example * shape_[0], "ImageDataset '", source_, "': ",
                pixels_.size(), " bytes do not fill shape ", shape_);
    NABLA_CHECK(labels_.empty() || static_cast<int64_t>(labels_.size()) == shape_[0], "ImageDataset '",
                source_, "': ", labels_.size(), " labels for ", shape_[0], " images");
  }

  int64_t size() const override { return shape_[0]; }
  Shape example_shape() const override { return {shape_[1], shape_[2], shape_[3]}; }
  bool has_labels() const override { return !labels_.empty(); }
  int64_t read(int64_t index, uint8_t* pixels) const override {
    detail::check_index(*this, index);
    std::copy_n(example(index), example_bytes(), pixels);
    return labels_.empty() ? -1 : labels_[static_cast<size_t>(index)];
  }
  std::string source() const override { return source_; }

  const uint8_t* example(int64_t index) const { return pixels_.data() + index * example_bytes(); }
  const std::vector<int64_t>& labels() const { return labels_; }
  // The number of classes the labels suggest: the largest label plus one.
  int64_t num_classes() const {
    int64_t top = -1;
    for (int64_t l : labels_) top = std::max(top, l);
    return top + 1;
  }

 private:
  std::vector<uint8_t> pixels_;
  Shape shape_;
  std::vector<int64_t> labels_;
  std::string source_;
};

// Examples [begin, begin + count) of another dataset, which must outlive it: the first 20,000
// CelebA faces, or a quick run on part of MNIST.
class Subset : public Dataset {
 public:
  Subset(const Dataset& base, int64_t begin, int64_t count) : base_(base), begin_(begin), count_(count) {
    NABLA_CHECK(begin >= 0 && count >= 0 && begin <= base.size() - count, "Subset of '", base.source(),
                "': examples [", begin, ", ", begin + count, ") are not within its ", base.size());
  }
  Subset(const Dataset&&, int64_t, int64_t) = delete;  // would dangle

  int64_t size() const override { return count_; }
  Shape example_shape() const override { return base_.example_shape(); }
  bool has_labels() const override { return base_.has_labels(); }
  int64_t read(int64_t index, uint8_t* pixels) const override {
    detail::check_index(*this, index);
    return base_.read(begin_ + index, pixels);
  }
  bool reads_from_disk() const override { return base_.reads_from_disk(); }
  std::string source() const override { return base_.source(); }

 private:
  const Dataset& base_;
  int64_t begin_, count_;
};

}  // namespace nabla::data
