#pragma once
// Many JPEG/PNG files to one HDF5 file in the CelebA layout (see hdf5.hpp): what the recipe of
// GAN_VARIANTS.md row 4 does with h5py, here with optional crop and resize. The files are read
// in order, decoded a chunk at a time on all threads, and written in order.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/data/hdf5.hpp"
#include "nabla/data/image_folder.hpp"
#include "nabla/io/progress.hpp"

namespace nabla::data {

struct ConvertOptions {
  std::string group = kCelebaGroup;
  int level = 4;  // gzip level of each image, 0..9 (h5py's compression="gzip" uses 4)
  ImageFolderOptions image{};  // channels, crop and resize, as the image folder loader has them
};

// One input image: a name for messages and its encoded bytes.
struct EncodedImage {
  std::string name;
  std::vector<uint8_t> bytes;
};

// Writes images 0 .. count-1, each fetched by `fetch(i)` (called in order, on this thread), to
// `output`; without a resize every image must have the size of the first. Reports to `progress`
// when given. Returns the number of images written.
inline int64_t images_to_hdf5(int64_t count, const std::function<EncodedImage(int64_t)>& fetch,
                              const std::filesystem::path& output, const ConvertOptions& options = {},
                              io::Progress* progress = nullptr) {
  const ImageFolderOptions& o = options.image;
  NABLA_CHECK(o.channels == 1 || o.channels == 3, "images_to_hdf5: channels must be 1 or 3, got ", o.channels);
  Hdf5ImageWriter writer(output, options.group, options.level);
  constexpr int64_t kChunk = 64;
  int64_t first_height = 0, first_width = 0;
  std::string first_name;
  std::vector<EncodedImage> encoded(kChunk);
  std::vector<io::Image> decoded(kChunk);
  for (int64_t begin = 0; begin < count; begin += kChunk) {
    const int64_t n = std::min(kChunk, count - begin);
    for (int64_t k = 0; k < n; ++k) encoded[static_cast<size_t>(k)] = fetch(begin + k);
    cpu::parallel_for(n, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const EncodedImage& e = encoded[static_cast<size_t>(k)];
        io::Image image = prepare_image(io::decode_image(e.bytes, e.name), o, e.name);
        decoded[static_cast<size_t>(k)] = std::move(image);
      }
    });
    for (int64_t k = 0; k < n; ++k) {
      const io::Image& image = decoded[static_cast<size_t>(k)];
      if (begin + k == 0) {
        first_height = image.height, first_width = image.width;
        first_name = encoded[0].name;
      }
      NABLA_CHECK(image.height == first_height && image.width == first_width, "image '",
                  encoded[static_cast<size_t>(k)].name, "' is ", image.width, "x", image.height, ", expected ",
                  first_width, "x", first_height, " like '", first_name, "' (give a size to resize every image to)");
      writer.add(image);
    }
    if (progress) progress->update(begin + n);
  }
  writer.close();
  return writer.count();
}

// The JPEG and PNG files of a folder (not its subfolders), in name order, into `output`.
inline int64_t image_folder_to_hdf5(const std::filesystem::path& folder, const std::filesystem::path& output,
                                    const ConvertOptions& options = {}, int64_t limit = 0,
                                    io::Progress* progress = nullptr) {
  NABLA_CHECK(std::filesystem::is_directory(folder), "image folder '", folder.string(), "' does not exist");
  std::vector<std::filesystem::path> files = detail::list_images(folder);
  NABLA_CHECK(!files.empty(), "image folder '", folder.string(), "' holds no .jpg, .jpeg or .png files");
  if (limit > 0 && static_cast<int64_t>(files.size()) > limit) files.resize(static_cast<size_t>(limit));
  return images_to_hdf5(
      static_cast<int64_t>(files.size()),
      [&](int64_t i) {
        const std::filesystem::path& file = files[static_cast<size_t>(i)];
        return EncodedImage{file.string(), io::read_file(file)};
      },
      output, options, progress);
}

}  // namespace nabla::data
