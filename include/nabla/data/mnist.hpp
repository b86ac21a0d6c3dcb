#pragma once
// MNIST-style datasets from IDX files: images (N x H x W, or N x H x W x C) and labels (N), as the
// official MNIST and Fashion-MNIST distributions ship them; and the reverse, generated images
// written as IDX for evaluation outside nabla.
#include <filesystem>
#include <string>
#include <vector>

#include "nabla/core/tensor.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/data/idx.hpp"

namespace nabla::data {

// IDX images as a dataset: N x H x W is gray; N x H x W x C (C = 1 or 3) is converted to the
// channels-first layout. `labels` may be empty.
inline ImageDataset idx_to_dataset(IdxArray images, std::vector<int64_t> labels, const std::string& name) {
  const std::string where = "IDX file '" + name + "'";
  NABLA_CHECK(images.type == IdxType::u8, where, ": expected images of unsigned bytes (type 0x08), got ",
              idx_type_name(images.type));
  const Shape& s = images.shape;
  NABLA_CHECK(s.size() == 3 || (s.size() == 4 && (s[3] == 1 || s[3] == 3)), where,
              ": expected images shaped N x H x W or N x H x W x C with C = 1 or 3, got ", s);
  if (s.size() == 3 || s[3] == 1)
    return ImageDataset(std::move(images.bytes), {s[0], 1, s[1], s[2]}, std::move(labels), name);
  const int64_t n = s[0], h = s[1], w = s[2], c = s[3];
  std::vector<uint8_t> planar(images.bytes.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < h * w; ++p)
      for (int64_t ch = 0; ch < c; ++ch)
        planar[static_cast<size_t>((i * c + ch) * h * w + p)] = images.bytes[static_cast<size_t>((i * h * w + p) * c + ch)];
  return ImageDataset(std::move(planar), {n, c, h, w}, std::move(labels), name);
}

inline std::vector<int64_t> load_idx_labels(const std::filesystem::path& path) {
  const IdxArray array = read_idx(path);
  const std::string where = "IDX file '" + path.string() + "'";
  NABLA_CHECK(array.shape.size() == 1, where, ": expected labels, one per image (1 dimension), got shape ",
              array.shape);
  std::vector<int64_t> out = array.integers(where);
  for (size_t i = 0; i < out.size(); ++i)
    NABLA_CHECK(out[i] >= 0, where, ": label ", i, " is ", out[i], ", expected a class number >= 0");
  return out;
}

// Images and, when `labels` is given, their labels; the counts must agree.
inline ImageDataset load_idx(const std::filesystem::path& images, const std::filesystem::path& labels = {}) {
  std::vector<int64_t> label_values;
  IdxArray array = read_idx(images);
  if (!labels.empty()) {
    label_values = load_idx_labels(labels);
    NABLA_CHECK(array.shape.size() >= 1 && static_cast<int64_t>(label_values.size()) == array.shape[0],
                "IDX files '", images.string(), "' and '", labels.string(), "': ", array.shape[0],
                " images but ", label_values.size(), " labels");
  }
  return idx_to_dataset(std::move(array), std::move(label_values), images.string());
}

enum class Split { train, test };

namespace detail {
// The names MNIST's files go by: as distributed, and as some unpackers leave them.
inline std::filesystem::path find_mnist_file(const std::filesystem::path& folder, const std::string& stem,
                                             const std::string& kind) {
  const std::vector<std::string> names = {stem + "-" + kind + ".gz", stem + "-" + kind,
                                          stem + "." + kind};
  for (const std::string& name : names)
    if (std::filesystem::is_regular_file(folder / name)) return folder / name;
  std::string tried;
  for (const std::string& name : names) tried += (tried.empty() ? "" : ", ") + name;
  NABLA_CHECK(std::filesystem::is_directory(folder), "MNIST folder '", folder.string(),
              "' does not exist (run scripts/get-data.sh, or point at a folder with the IDX files)");
  nabla::detail::fail("MNIST folder '", folder.string(), "': no ", stem, " file (looked for ", tried, ")");
}
}  // namespace detail

// MNIST, Fashion-MNIST or any dataset in their file layout: train-images-idx3-ubyte.gz with
// train-labels-idx1-ubyte.gz, or t10k-... for the test split (the .gz may be absent).
inline ImageDataset load_mnist(const std::filesystem::path& folder, Split split = Split::train) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  return load_idx(detail::find_mnist_file(folder, prefix + "-images", "idx3-ubyte"),
                  detail::find_mnist_file(folder, prefix + "-labels", "idx1-ubyte"));
}

// Images (N x C x H x W floats in `range`) as an unsigned-byte IDX file, N x H x W for gray and
// N x H x W x C for colour, rounded as torchvision's save_image rounds; gzip'd for a ".gz" name.
inline void save_idx_images(const std::filesystem::path& path, const Tensor<float>& images,
                            PixelRange range = PixelRange::zero_one) {
  NABLA_CHECK(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), "save_idx_images '",
              path.string(), "': expected N x C x H x W images with C = 1 or 3, got shape ", images.shape());
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const std::vector<float> values = images.to_vector();
  IdxArray array{IdxType::u8, c == 1 ? Shape{n, h, w} : Shape{n, h, w, c}, {}};
  array.bytes.resize(values.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        float x = values[static_cast<size_t>((i * c + ch) * h * w + p)];
        if (range == PixelRange::minus_one_one) x = x * 0.5f + 0.5f;
        const float scaled = std::clamp(x * 255.0f + 0.5f, 0.0f, 255.0f);  // NaN clamps to 0 below
        array.bytes[static_cast<size_t>((i * h * w + p) * c + ch)] =
            static_cast<uint8_t>(scaled == scaled ? scaled : 0.0f);
      }
  write_idx(path, array);
}

inline void save_idx_labels(const std::filesystem::path& path, const Tensor<int64_t>& labels) {
  NABLA_CHECK(labels.dim() == 1, "save_idx_labels '", path.string(), "': expected a 1-D tensor, got shape ",
              labels.shape());
  const std::vector<int64_t> values = labels.to_vector();
  write_idx(path, make_idx(IdxType::u8, labels.shape(), std::span<const int64_t>(values)));
}

}  // namespace nabla::data
