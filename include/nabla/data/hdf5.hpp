#pragma once
// Images in HDF5, in the layout h5py gives the CelebA recipe of GAN_VARIANTS.md row 4: a group
// (img_align_celeba) holding one uint8 H x W x C dataset per image, named 0.jpg, 1.jpg, ...
// Hdf5Images reads one image at a time, so 200,000 faces never sit in memory together;
// Hdf5ImageWriter makes such files (tools/images_to_hdf5 uses it).
#include <hdf5.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "nabla/data/dataset.hpp"
#include "nabla/io/image.hpp"

namespace nabla::data {

inline constexpr const char* kCelebaGroup = "img_align_celeba";

namespace detail {
// HDF5 prints its own error stack to stderr when a call fails; nabla reports failures itself, so
// printing is off while a nabla call runs and the caller's setting comes back afterwards.
class Hdf5Quiet {
 public:
  Hdf5Quiet() {
    H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~Hdf5Quiet() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }
  Hdf5Quiet(const Hdf5Quiet&) = delete;
  Hdf5Quiet& operator=(const Hdf5Quiet&) = delete;

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
};

// An HDF5 identifier closed by the matching H5?close.
class Hdf5Id {
 public:
  Hdf5Id() = default;
  Hdf5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hdf5Id(Hdf5Id&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Hdf5Id& operator=(Hdf5Id&& other) noexcept {
    std::swap(id_, other.id_);
    std::swap(close_, other.close_);
    return *this;
  }
  ~Hdf5Id() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports whether HDF5 managed to (a file's close flushes it).
  bool close() {
    const herr_t status = id_ >= 0 ? close_(id_) : 0;
    id_ = H5I_INVALID_HID;
    return status >= 0;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

inline std::string hdf5_dims_string(const std::vector<hsize_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}
}  // namespace detail

class Hdf5Images : public Dataset {
 public:
  explicit Hdf5Images(const std::filesystem::path& path, std::string group = kCelebaGroup)
      : path_(path.string()), group_name_(std::move(group)) {
    detail::Hdf5Quiet quiet;
    NABLA_CHECK(std::filesystem::is_regular_file(path), "HDF5 file '", path_, "' does not exist");
    NABLA_CHECK(H5Fis_hdf5(path_.c_str()) > 0, "HDF5 file '", path_, "' is not an HDF5 file");
    file_ = detail::Hdf5Id(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    NABLA_CHECK(file_.valid(), "HDF5 file '", path_, "' cannot be opened (damaged or truncated?)");
    NABLA_CHECK(H5Lexists(file_.get(), group_name_.c_str(), H5P_DEFAULT) > 0, "HDF5 file '", path_,
                "' has no group '", group_name_, "' (expected the CelebA layout: a group '", group_name_,
                "' with one uint8 H x W x 3 dataset per image, named 0.jpg, 1.jpg, ...)");
    group_ = detail::Hdf5Id(H5Gopen2(file_.get(), group_name_.c_str(), H5P_DEFAULT), H5Gclose);
    NABLA_CHECK(group_.valid(), "HDF5 file '", path_, "': '", group_name_, "' is not a group");
    H5G_info_t info;
    NABLA_CHECK(H5Gget_info(group_.get(), &info) >= 0, "HDF5 file '", path_, "': cannot list group '",
                group_name_, "'");
    size_ = static_cast<int64_t>(info.nlinks);
    NABLA_CHECK(size_ > 0, "HDF5 file '", path_, "': group '", group_name_, "' holds no images");
    dims_ = open_image(0).second;
  }

  int64_t size() const override { return size_; }
  Shape example_shape() const override {
    return {static_cast<int64_t>(dims_[2]), static_cast<int64_t>(dims_[0]), static_cast<int64_t>(dims_[1])};
  }
  bool has_labels() const override { return false; }
  bool reads_from_disk() const override { return true; }
  std::string source() const override { return path_; }

  int64_t read(int64_t index, uint8_t* pixels) const override {
    detail::check_index(*this, index);
    const io::Image image = read_image(index);
    const int64_t c = image.channels, hw = image.height * image.width;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t ch = 0; ch < c; ++ch) pixels[ch * hw + p] = image.pixels[static_cast<size_t>(p * c + ch)];
    return -1;
  }

  // Image `index` as stored (H x W x C).
  io::Image read_image(int64_t index) const {
    detail::check_index(*this, index);
    detail::Hdf5Quiet quiet;
    auto [dataset, dims] = open_image(index);
    NABLA_CHECK(dims == dims_, "HDF5 file '", path_, "': image ", image_name(index), " is ",
                detail::hdf5_dims_string(dims), ", expected ", detail::hdf5_dims_string(dims_), " like ",
                image_name(0));
    io::Image image(static_cast<int64_t>(dims[0]), static_cast<int64_t>(dims[1]), static_cast<int64_t>(dims[2]));
    NABLA_CHECK(H5Dread(dataset.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, image.pixels.data()) >= 0,
                "HDF5 file '", path_, "': cannot read image ", image_name(index), " (damaged or truncated file?)");
    return image;
  }

 private:
  std::string image_name(int64_t index) const {
    return "'" + group_name_ + "/" + std::to_string(index) + ".jpg'";
  }

  // Opens dataset `index`.jpg and checks that it is a uint8 H x W x C image (C = 1 or 3).
  std::pair<detail::Hdf5Id, std::vector<hsize_t>> open_image(int64_t index) const {
    const std::string name = std::to_string(index) + ".jpg";
    NABLA_CHECK(H5Lexists(group_.get(), name.c_str(), H5P_DEFAULT) > 0, "HDF5 file '", path_, "' has no image ",
                image_name(index), " (its group holds ", size_, " members; expected 0.jpg to ", size_ - 1, ".jpg)");
    detail::Hdf5Id dataset(H5Dopen2(group_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
    NABLA_CHECK(dataset.valid(), "HDF5 file '", path_, "': ", image_name(index), " is not a dataset");
    detail::Hdf5Id type(H5Dget_type(dataset.get()), H5Tclose);
    NABLA_CHECK(H5Tget_class(type.get()) == H5T_INTEGER && H5Tget_size(type.get()) == 1 &&
                    H5Tget_sign(type.get()) == H5T_SGN_NONE,
                "HDF5 file '", path_, "': image ", image_name(index), " does not hold uint8 pixels");
    detail::Hdf5Id space(H5Dget_space(dataset.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    NABLA_CHECK(rank == 3 && dims[0] > 0 && dims[1] > 0 && (dims[2] == 1 || dims[2] == 3), "HDF5 file '", path_,
                "': image ", image_name(index), " is shaped ", detail::hdf5_dims_string(dims),
                ", expected height x width x channels with 1 or 3 channels");
    NABLA_CHECK(static_cast<int64_t>(dims[0] * dims[1] * dims[2]) <= io::kMaxImageBytes, "HDF5 file '", path_,
                "': image ", image_name(index), " is ", detail::hdf5_dims_string(dims),
                ", more than nabla accepts for one image");
    return {std::move(dataset), std::move(dims)};
  }

  std::string path_, group_name_;
  detail::Hdf5Id file_, group_;
  int64_t size_ = 0;
  std::vector<hsize_t> dims_;
};

// Writes images into a new HDF5 file in the CelebA layout, each dataset gzip-compressed at
// `level` (0 = stored; h5py's compression="gzip" uses 4).
class Hdf5ImageWriter {
 public:
  explicit Hdf5ImageWriter(const std::filesystem::path& path, std::string group = kCelebaGroup, int level = 4)
      : path_(path.string()), level_(level) {
    NABLA_CHECK(level >= 0 && level <= 9, "Hdf5ImageWriter: compression level must be 0..9, got ", level);
    detail::Hdf5Quiet quiet;
    file_ = detail::Hdf5Id(H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    NABLA_CHECK(file_.valid(), "cannot create HDF5 file '", path_, "' (does its folder exist and is it writable?)");
    group_ = detail::Hdf5Id(H5Gcreate2(file_.get(), group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    NABLA_CHECK(group_.valid(), "HDF5 file '", path_, "': cannot create group '", group, "'");
  }

  // Adds the next image, named "<count>.jpg".
  void add(const io::Image& image) {
    NABLA_CHECK(file_.valid(), "Hdf5ImageWriter '", path_, "': add() after close()");
    NABLA_CHECK(image.channels == 1 || image.channels == 3, "Hdf5ImageWriter '", path_,
                "': expected 1 or 3 channels, got ", image.channels);
    detail::Hdf5Quiet quiet;
    const std::string name = std::to_string(count_) + ".jpg";
    const hsize_t dims[3] = {static_cast<hsize_t>(image.height), static_cast<hsize_t>(image.width),
                             static_cast<hsize_t>(image.channels)};
    detail::Hdf5Id space(H5Screate_simple(3, dims, nullptr), H5Sclose);
    detail::Hdf5Id properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (level_ > 0) {
      H5Pset_chunk(properties.get(), 3, dims);
      H5Pset_deflate(properties.get(), static_cast<unsigned>(level_));
    }
    detail::Hdf5Id dataset(H5Dcreate2(group_.get(), name.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                      properties.get(), H5P_DEFAULT),
                           H5Dclose);
    const bool written = dataset.valid() && H5Dwrite(dataset.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL,
                                                     H5P_DEFAULT, image.pixels.data()) >= 0;
    NABLA_CHECK(written && dataset.close(), "HDF5 file '", path_, "': cannot write image '", name,
                "' (disk full?)");
    ++count_;
  }

  int64_t count() const { return count_; }

  // Flushes and closes the file; the destructor does the same but cannot report a failure.
  void close() {
    detail::Hdf5Quiet quiet;
    const bool group_closed = group_.close();
    NABLA_CHECK(file_.close() && group_closed, "HDF5 file '", path_, "': closing failed (disk full?)");
  }

 private:
  std::string path_;
  int level_;
  detail::Hdf5Id file_, group_;
  int64_t count_ = 0;
};

}  // namespace nabla::data
