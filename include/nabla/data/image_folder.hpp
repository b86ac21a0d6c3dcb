#pragma once
// A folder of JPEG and PNG images as a dataset, decoded one at a time as the loader asks. Images
// directly in the folder make an unlabelled dataset (an unzipped CelebA); otherwise, as in
// torchvision's ImageFolder, every subfolder is a class, numbered in name order.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "nabla/data/dataset.hpp"
#include "nabla/io/image.hpp"

namespace nabla::data {

struct ImageFolderOptions {
  int64_t channels = 3;  // 1 (gray) or 3 (RGB); images are converted to it
  // A center crop taken first (0 = none), then a resize (0 = none); without a resize every image
  // must come out the same size.
  int64_t crop_height = 0, crop_width = 0;
  int64_t height = 0, width = 0;
};

namespace detail {
inline bool is_image_file(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The entries of `folder` that pass `keep`, in name order (so that every run sees one order).
template <class Keep>
std::vector<std::filesystem::path> list_folder(const std::filesystem::path& folder, Keep keep) {
  std::error_code error;
  std::filesystem::directory_iterator it(folder, error), end;
  std::vector<std::filesystem::path> found;
  for (; !error && it != end; it.increment(error))
    if (keep(*it)) found.push_back(it->path());
  NABLA_CHECK(!error, "cannot list folder '", folder.string(), "': ", error.message());
  std::sort(found.begin(), found.end());
  return found;
}

inline std::vector<std::filesystem::path> list_images(const std::filesystem::path& folder) {
  return list_folder(folder, [](const std::filesystem::directory_entry& e) {
    std::error_code ignored;
    return e.is_regular_file(ignored) && is_image_file(e.path());
  });
}
}  // namespace detail

// An image as the options want it: converted to their channels, center-cropped, resized.
inline io::Image prepare_image(io::Image image, const ImageFolderOptions& options, const std::string& name) {
  image = io::convert_channels(std::move(image), options.channels);
  if (options.crop_height > 0) {
    NABLA_CHECK(options.crop_height <= image.height && options.crop_width <= image.width, "image '", name,
                "' is ", image.width, "x", image.height, ", smaller than the ", options.crop_width, "x",
                options.crop_height, " center crop");
    image = io::center_crop(image, options.crop_height, options.crop_width);
  }
  if (options.height > 0) image = io::resize(image, options.height, options.width);
  return image;
}

class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const std::filesystem::path& folder, ImageFolderOptions options = {})
      : folder_(folder.string()), options_(options) {
    NABLA_CHECK(std::filesystem::is_directory(folder), "image folder '", folder_, "' does not exist");
    NABLA_CHECK(options.channels == 1 || options.channels == 3, "image folder '", folder_,
                "': channels must be 1 (gray) or 3 (RGB), got ", options.channels);
    NABLA_CHECK((options.crop_height > 0) == (options.crop_width > 0) && options.crop_height >= 0 &&
                    (options.height > 0) == (options.width > 0) && options.height >= 0,
                "image folder '", folder_, "': give both sides of the crop and of the size, or neither");
    files_ = detail::list_images(folder);
    if (files_.empty()) {
      const auto subfolders = detail::list_folder(folder, [](const std::filesystem::directory_entry& e) {
        std::error_code ignored;
        return e.is_directory(ignored);
      });
      for (const auto& sub : subfolders) {
        const std::vector<std::filesystem::path> images = detail::list_images(sub);
        if (images.empty()) continue;
        classes_.push_back(sub.filename().string());
        files_.insert(files_.end(), images.begin(), images.end());
        labels_.insert(labels_.end(), images.size(), static_cast<int64_t>(classes_.size()) - 1);
      }
    }
    NABLA_CHECK(!files_.empty(), "image folder '", folder_,
                "' holds no .jpg, .jpeg or .png files (nor subfolders with any)");
    if (options.height > 0) {
      shape_ = {options.channels, options.height, options.width};
    } else {
      const io::Image first = prepare_image(io::read_image(files_[0]), options_, files_[0].string());
      shape_ = {options.channels, first.height, first.width};
    }
  }

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  Shape example_shape() const override { return shape_; }
  bool has_labels() const override { return !labels_.empty(); }
  bool reads_from_disk() const override { return true; }
  std::string source() const override { return folder_; }

  int64_t read(int64_t index, uint8_t* pixels) const override {
    detail::check_index(*this, index);
    const std::filesystem::path& file = files_[static_cast<size_t>(index)];
    const io::Image image = prepare_image(io::read_image(file), options_, file.string());
    NABLA_CHECK(image.height == shape_[1] && image.width == shape_[2], "image '", file.string(), "' is ",
                image.width, "x", image.height, ", expected ", shape_[2], "x", shape_[1], " like '",
                files_[0].string(), "' (give the image folder a size to resize every image to)");
    const int64_t c = shape_[0], hw = shape_[1] * shape_[2];
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t ch = 0; ch < c; ++ch) pixels[ch * hw + p] = image.pixels[static_cast<size_t>(p * c + ch)];
    return labels_.empty() ? -1 : labels_[static_cast<size_t>(index)];
  }

  const std::vector<std::filesystem::path>& files() const { return files_; }
  // Class names (the subfolders), indexed by label; empty for an unlabelled folder.
  const std::vector<std::string>& classes() const { return classes_; }

 private:
  std::string folder_;
  ImageFolderOptions options_;
  std::vector<std::filesystem::path> files_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
  Shape shape_;
};

}  // namespace nabla::data
