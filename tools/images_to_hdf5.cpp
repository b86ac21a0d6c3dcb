// images_to_hdf5: a folder (or a zip file) of JPEG/PNG images to one HDF5 file in the CelebA
// layout that nabla::data::Hdf5Images reads lazily: group img_align_celeba, one uint8
// H x W x C dataset per image, named 0.jpg, 1.jpg, ... in file-name order.
//
//   images_to_hdf5 img_align_celeba.zip celeba.h5 --limit 20000
//   images_to_hdf5 photos/ faces64.h5 --crop 178x178 --size 64x64
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nabla/data.hpp>
#include <nabla/io.hpp>

#ifdef NABLA_WITH_LIBZIP
#include <zip.h>
#endif

namespace fs = std::filesystem;
using namespace nabla;

namespace {

// "178x218" -> height 218, width 178 (written width x height, as image sizes usually are).
void parse_size(const std::string& text, const char* flag, int64_t& height, int64_t& width) {
  if (text.empty()) return;
  long long w = 0, h = 0;
  char x = 0, rest = 0;
  NABLA_CHECK(std::sscanf(text.c_str(), "%lld%c%lld%c", &w, &x, &h, &rest) == 3 && x == 'x' && w > 0 && h > 0,
              flag, ": expected WIDTHxHEIGHT, e.g. 64x64, got '", text, "'");
  width = w, height = h;
}

#ifdef NABLA_WITH_LIBZIP
class ZipArchive {
 public:
  explicit ZipArchive(const fs::path& path) : path_(path.string()) {
    int code = 0;
    archive_ = zip_open(path_.c_str(), ZIP_RDONLY, &code);
    if (!archive_) {
      zip_error_t error;
      zip_error_init_with_code(&error, code);
      const std::string message = zip_error_strerror(&error);
      zip_error_fini(&error);
      nabla::detail::fail("zip file '", path_, "': ", message);
    }
    const zip_int64_t entries = zip_get_num_entries(archive_, 0);
    for (zip_int64_t i = 0; i < entries; ++i) {
      const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), 0);
      if (name && data::detail::is_image_file(name)) images_.push_back({name, static_cast<zip_uint64_t>(i)});
    }
    std::sort(images_.begin(), images_.end());
  }
  ~ZipArchive() { zip_discard(archive_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  int64_t size() const { return static_cast<int64_t>(images_.size()); }
  void keep_first(int64_t n) {
    if (n > 0 && n < size()) images_.resize(static_cast<size_t>(n));
  }

  data::EncodedImage read(int64_t i) const {
    const auto& [name, index] = images_[static_cast<size_t>(i)];
    const std::string where = path_ + ":" + name;
    zip_stat_t stat;
    NABLA_CHECK(zip_stat_index(archive_, index, 0, &stat) == 0 && (stat.valid & ZIP_STAT_SIZE), "zip entry '",
                where, "': ", zip_strerror(archive_));
    NABLA_CHECK(stat.size <= static_cast<zip_uint64_t>(io::kMaxImageBytes), "zip entry '", where, "' is ",
                stat.size, " bytes, too large for an image");
    data::EncodedImage image{where, std::vector<uint8_t>(static_cast<size_t>(stat.size))};
    zip_file_t* file = zip_fopen_index(archive_, index, 0);
    NABLA_CHECK(file, "zip entry '", where, "': ", zip_strerror(archive_));
    const zip_int64_t got = zip_fread(file, image.bytes.data(), image.bytes.size());
    const std::string error = got < 0 ? zip_file_strerror(file) : "";
    zip_fclose(file);
    NABLA_CHECK(got == static_cast<zip_int64_t>(image.bytes.size()), "zip entry '", where, "': ",
                got < 0 ? error : "shorter than its directory entry says (damaged zip file?)");
    return image;
  }

 private:
  std::string path_;
  zip_t* archive_ = nullptr;
  std::vector<std::pair<std::string, zip_uint64_t>> images_;
};
#endif

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Converts a folder or zip file of JPEG/PNG images into one HDF5 file in the CelebA layout\n"
               "(group img_align_celeba, datasets 0.jpg, 1.jpg, ... of uint8 height x width x channels),\n"
               "which nabla::data::Hdf5Images reads one image at a time."};
  std::string input, output, crop, size;
  data::ConvertOptions options;
  int64_t limit = 0;
  app.add_option("input", input, "a folder of .jpg/.jpeg/.png files, or a .zip file of them")->required();
  app.add_option("output", output, "the HDF5 file to write (replaced if it exists)")->required();
  app.add_option("--limit", limit, "convert only the first N images, in name order (0: all)")->check(CLI::NonNegativeNumber);
  app.add_option("--group", options.group, "the group holding the images")->capture_default_str();
  app.add_option("--level", options.level, "gzip level of each image, 0 (none) to 9")->check(CLI::Range(0, 9))->capture_default_str();
  app.add_option("--channels", options.image.channels, "1 (gray) or 3 (RGB)")->check(CLI::IsMember({1, 3}))->capture_default_str();
  app.add_option("--crop", crop, "center-crop each image to WIDTHxHEIGHT first, e.g. 178x178");
  app.add_option("--size", size, "then resize each image to WIDTHxHEIGHT, e.g. 64x64");
  CLI11_PARSE(app, argc, argv);

  try {
    parse_size(crop, "--crop", options.image.crop_height, options.image.crop_width);
    parse_size(size, "--size", options.image.height, options.image.width);
    const fs::path in(input);
    int64_t written = 0;
    if (fs::is_directory(in)) {
      const auto files = data::detail::list_images(in);
      const int64_t count = limit > 0 ? std::min<int64_t>(limit, static_cast<int64_t>(files.size()))
                                      : static_cast<int64_t>(files.size());
      io::Progress progress(count, "images_to_hdf5", {.unit = "img"});
      written = data::image_folder_to_hdf5(in, output, options, limit, &progress);
      progress.finish();
    } else {
      NABLA_CHECK(fs::exists(in), "'", input, "' does not exist");
#ifdef NABLA_WITH_LIBZIP
      ZipArchive zip(in);
      zip.keep_first(limit);
      NABLA_CHECK(zip.size() > 0, "zip file '", input, "' holds no .jpg, .jpeg or .png files");
      io::Progress progress(zip.size(), "images_to_hdf5", {.unit = "img"});
      written = data::images_to_hdf5(zip.size(), [&](int64_t i) { return zip.read(i); }, output, options, &progress);
      progress.finish();
#else
      nabla::detail::fail("'", input, "' is not a folder, and this build reads no zip files "
                          "(rebuild with libzip-dev installed, or unzip it first)");
#endif
    }
    const data::Hdf5Images check(output, options.group);
    const Shape shape = check.example_shape();
    std::printf("images_to_hdf5: wrote %lld images of %lldx%lldx%lld (height x width x channels) to %s, %.1f MB\n",
                static_cast<long long>(written), static_cast<long long>(shape[1]), static_cast<long long>(shape[2]),
                static_cast<long long>(shape[0]), output.c_str(), static_cast<double>(fs::file_size(output)) / 1e6);
  } catch (const std::exception& e) {  // nabla::Error, and std::filesystem's errors
    std::fprintf(stderr, "images_to_hdf5: %s\n", e.what());
    return 1;
  }
  return 0;
}
