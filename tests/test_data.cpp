// The data loaders: IDX, CSV, HDF5 and image folders read back what was written, match small
// hand-made files byte for byte, and refuse damaged input with a nabla::Error that names the file
// and the problem. The DataLoader batches, shuffles reproducibly and drops the last batch on demand.
// Every file is written by the test itself, in a fresh temporary folder.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nabla/data.hpp>
#include <nabla/io.hpp>

#include <jpeglib.h>  // after <cstdio>: it needs FILE and size_t

using namespace nabla;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// A folder of its own per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("nabla_test_data_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path operator/(const std::string& name) const { return path / name; }
};

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) { io::write_file(path, bytes); }

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A small RGB gradient, different for every `seed`.
io::Image test_image(int64_t height, int64_t width, int64_t channels, int seed) {
  io::Image image(height, width, channels);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < channels; ++c)
        image.row(y)[x * channels + c] = static_cast<uint8_t>((seed * 37 + y * 20 + x * 7 + c * 50) % 256);
  return image;
}

// JPEG files for the image-folder tests (nabla itself only decodes JPEG).
void write_jpeg(const fs::path& path, const io::Image& image, int quality = 95) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr error{};
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = static_cast<int>(image.channels);
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.row(cinfo.next_scanline));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  write_bytes(path, std::vector<uint8_t>(buffer, buffer + size));
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
}

// Example i has every pixel equal to i and label i % 3.
class CountingDataset : public data::Dataset {
 public:
  explicit CountingDataset(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  int64_t size() const override { return n_; }
  Shape example_shape() const override { return {1, 2, 2}; }
  bool has_labels() const override { return true; }
  int64_t read(int64_t index, uint8_t* pixels) const override {
    NABLA_CHECK(index != fail_at_, "dataset 'counting': example ", index, " is damaged");
    std::fill_n(pixels, 4, static_cast<uint8_t>(index));
    return index % 3;
  }
  bool reads_from_disk() const override { return false; }
  std::string source() const override { return "counting"; }

 private:
  int64_t n_, fail_at_;
};

// The example numbers of each batch of one epoch (CountingDataset stores them in the pixels).
std::vector<std::vector<int64_t>> epoch_indices(data::DataLoader& loader) {
  std::vector<std::vector<int64_t>> batches;
  for (const data::Batch& batch : loader) {
    std::vector<int64_t> indices;
    for (int64_t i = 0; i < batch.size(); ++i)
      indices.push_back(std::lround(batch.images.data()[i * 4] * 255.0f));
    batches.push_back(indices);
  }
  return batches;
}

std::vector<int64_t> flatten(const std::vector<std::vector<int64_t>>& batches) {
  std::vector<int64_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// IDX

TEST_CASE("IDX: a hand-made file reads as the format says", "[data][idx]") {
  TempDir dir;
  // ubyte, 3 dims: 2 x 2 x 3.
  write_bytes(dir / "images.idx", {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                   0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255});
  const data::IdxArray images = data::read_idx(dir / "images.idx");
  CHECK(images.type == data::IdxType::u8);
  CHECK(images.shape == Shape{2, 2, 3});
  CHECK(images.values<float>() == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255});

  // int32 (big-endian), 1 dim: 258, -2.
  write_bytes(dir / "ints.idx", {0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE});
  CHECK(data::read_idx(dir / "ints.idx").integers() == std::vector<int64_t>{258, -2});

  // float32: 1.5 and -0.25; int16: -300.
  write_bytes(dir / "floats.idx", {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xBE, 0x80, 0, 0});
  CHECK(data::read_idx(dir / "floats.idx").values<float>() == std::vector<float>{1.5f, -0.25f});
  write_bytes(dir / "short.idx", {0, 0, 0x0B, 1, 0, 0, 0, 1, 0xFE, 0xD4});
  CHECK(data::read_idx(dir / "short.idx").value(0) == -300);
  CHECK_THROWS_WITH(data::read_idx(dir / "floats.idx").integers(), Contains("expected integer elements"));
}

TEST_CASE("IDX: every element type survives a write and a read, plain and gzip'd", "[data][idx]") {
  TempDir dir;
  const std::vector<double> values = {0, 1, -2, 100, -128, 127, 3, -7};
  const std::vector<std::pair<data::IdxType, std::vector<double>>> cases = {
      {data::IdxType::u8, {0, 1, 2, 100, 128, 255, 3, 7}},
      {data::IdxType::i8, values},
      {data::IdxType::i16, {0, 1, -2, 30000, -32768, 32767, 3, -7}},
      {data::IdxType::i32, {0, 1, -2, 2147483647, -2147483648.0, 65536, 3, -7}},
      {data::IdxType::f32, {0, 1.5, -2.25, double{1e30f}, double{-1e-30f}, double{3.14159265f}, 3, -7}},
      {data::IdxType::f64, {0, 1.5, -2.25, 1e300, -1e-300, 3.141592653589793, 3, -7}},
  };
  for (const auto& [type, v] : cases) {
    for (const std::string name : {"a.idx", "a.idx.gz"}) {
      INFO(data::idx_type_name(type) << " " << name);
      const data::IdxArray written = data::make_idx(type, {2, 2, 2}, std::span<const double>(v));
      data::write_idx(dir / name, written);
      const std::vector<uint8_t> raw = io::read_file(dir / name);
      CHECK(data::is_gzip(raw) == (name == "a.idx.gz"));
      const data::IdxArray read = data::read_idx(dir / name);
      CHECK(read.type == type);
      CHECK(read.shape == Shape{2, 2, 2});
      CHECK(read.bytes == written.bytes);
      for (int64_t i = 0; i < 8; ++i) CHECK(read.value(i) == v[static_cast<size_t>(i)]);
    }
  }
  CHECK_THROWS_WITH(data::make_idx(data::IdxType::u8, {1}, std::span<const double>(std::vector<double>{256})),
                    Contains("256") && Contains("[0, 255]"));
}

TEST_CASE("IDX: damaged files are refused with the file name and the problem", "[data][idx]") {
  TempDir dir;
  const std::vector<uint8_t> good = {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  const auto fails_with = [&](const std::string& name, const std::vector<uint8_t>& bytes, const std::string& problem) {
    INFO(name);
    write_bytes(dir / name, bytes);
    CHECK_THROWS_WITH(data::read_idx(dir / name), Contains(name) && Contains(problem));
    CHECK_THROWS_AS(data::read_idx(dir / name), Error);
  };
  CHECK(data::read_idx((write_bytes(dir / "good.idx", good), dir / "good.idx")).numel() == 6);

  fails_with("magic.idx", {0, 1, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}, "wrong magic number (00 01 08 02)");
  fails_with("png.idx", {0x89, 'P', 'N', 'G', 0, 0, 0, 2}, "wrong magic number");
  fails_with("type.idx", {0, 0, 0x07, 1, 0, 0, 0, 1, 0}, "unknown element type 0x07");
  fails_with("nodims.idx", {0, 0, 0x08, 0}, "0 dimensions");
  fails_with("manydims.idx", {0, 0, 0x08, 7}, "7 dimensions, expected 1 to 6");
  fails_with("short.idx", {0, 0}, "too short for the 4-byte IDX magic number");
  fails_with("empty.idx", {}, "0 bytes long");
  fails_with("header.idx", {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0}, "the header is truncated");
  fails_with("body.idx", {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4}, "truncated");
  fails_with("body2.idx", {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4}, "need 6 bytes");
  fails_with("long.idx", concat(good, {7}), "longer than the 18 bytes");
  // 2^31 x 2^31 elements: refused from the header alone.
  fails_with("huge.idx", {0, 0, 0x08, 2, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 1, 2, 3}, "more than 2^48 elements");
  // 2^16 x 2^16 float64 (32 GiB) over 3 bytes: found short without allocating the claim.
  fails_with("big.idx", {0, 0, 0x0E, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3}, "has only 3");
  // The same checks inside gzip, and gzip's own damage.
  fails_with("body.idx.gz", data::gzip(std::vector<uint8_t>(good.begin(), good.end() - 1)), "decompressed data has only 5");
  std::vector<uint8_t> compressed = data::gzip(good);
  fails_with("cut.idx.gz", std::vector<uint8_t>(compressed.begin(), compressed.end() - 6), "truncated");
  std::vector<uint8_t> corrupt = compressed;
  corrupt[corrupt.size() - 5] ^= 0xFF;  // the checksum in the gzip trailer
  fails_with("corrupt.idx.gz", corrupt, "corrupt gzip data");
  fails_with("garbage.idx.gz", concat(compressed, {1, 2, 3}), "something other than gzip data");
  CHECK_THROWS_WITH(data::read_idx(dir / "missing.idx"), Contains("missing.idx") && Contains("No such file"));
  CHECK_THROWS_WITH(data::read_idx(dir.path), Contains("is a directory"));

  // Concatenated gzip members are one stream, as gzip(1) reads them.
  const std::vector<uint8_t> head(good.begin(), good.begin() + 10), tail(good.begin() + 10, good.end());
  write_bytes(dir / "members.idx.gz", concat(data::gzip(head), data::gzip(tail)));
  CHECK(data::read_idx(dir / "members.idx.gz").bytes == std::vector<uint8_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("MNIST layout: images with labels, gray or colour, and checks that they agree", "[data][idx]") {
  TempDir dir;
  const std::vector<int64_t> pixels = {0, 255, 128, 64, 1, 2, 3, 4, 10, 20, 30, 40};  // 3 images of 2 x 2
  data::write_idx(dir / "train-images-idx3-ubyte.gz", data::make_idx(data::IdxType::u8, {3, 2, 2}, std::span<const int64_t>(pixels)));
  data::write_idx(dir / "train-labels-idx1-ubyte.gz", data::make_idx(data::IdxType::u8, {3}, std::span<const int64_t>(std::vector<int64_t>{7, 0, 9})));
  // The test split unpacked, under the name some unpackers give it.
  data::write_idx(dir / "t10k-images.idx3-ubyte", data::make_idx(data::IdxType::u8, {1, 2, 2}, std::span<const int64_t>(pixels).first(4)));
  data::write_idx(dir / "t10k-labels-idx1-ubyte", data::make_idx(data::IdxType::u8, {1}, std::span<const int64_t>(std::vector<int64_t>{5})));

  const data::ImageDataset train = data::load_mnist(dir.path);
  CHECK(train.size() == 3);
  CHECK(train.example_shape() == Shape{1, 2, 2});
  CHECK(train.labels() == std::vector<int64_t>{7, 0, 9});
  CHECK(train.num_classes() == 10);
  std::vector<uint8_t> example(4);
  CHECK(train.read(1, example.data()) == 0);
  CHECK(example == std::vector<uint8_t>{1, 2, 3, 4});
  CHECK_THROWS_WITH(train.read(3, example.data()), Contains("index 3 is out of range for 3"));
  const data::ImageDataset test = data::load_mnist(dir.path, data::Split::test);
  CHECK(test.size() == 1);
  CHECK(test.labels() == std::vector<int64_t>{5});

  data::write_idx(dir / "two-labels.idx", data::make_idx(data::IdxType::u8, {2}, std::span<const int64_t>(std::vector<int64_t>{1, 2})));
  CHECK_THROWS_WITH(data::load_idx(dir / "train-images-idx3-ubyte.gz", dir / "two-labels.idx"),
                    Contains("two-labels.idx") && Contains("3 images but 2 labels"));
  CHECK_THROWS_WITH(data::load_idx(dir / "train-labels-idx1-ubyte.gz"),
                    Contains("train-labels-idx1-ubyte.gz") && Contains("expected images shaped"));
  CHECK_THROWS_WITH(data::load_idx(dir / "train-images-idx3-ubyte.gz", dir / "train-images-idx3-ubyte.gz"),
                    Contains("expected labels, one per image"));
  CHECK_THROWS_WITH(data::load_mnist(dir / "nowhere"), Contains("nowhere") && Contains("does not exist"));
  fs::remove(dir / "t10k-labels-idx1-ubyte");
  CHECK_THROWS_WITH(data::load_mnist(dir.path, data::Split::test),
                    Contains("no t10k-labels file") && Contains("t10k-labels-idx1-ubyte.gz"));

  // N x H x W x 3 colour images become N x 3 x H x W.
  const std::vector<int64_t> rgb = {1, 2, 3, 4, 5, 6};  // one 1 x 2 image: pixels (1,2,3), (4,5,6)
  data::write_idx(dir / "rgb.idx", data::make_idx(data::IdxType::u8, {1, 1, 2, 3}, std::span<const int64_t>(rgb)));
  const data::ImageDataset colour = data::load_idx(dir / "rgb.idx");
  CHECK(colour.example_shape() == Shape{3, 1, 2});
  CHECK_FALSE(colour.has_labels());
  example.resize(6);
  CHECK(colour.read(0, example.data()) == -1);
  CHECK(example == std::vector<uint8_t>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("IDX: generated images go out as bytes, rounded like save_image, and come back", "[data][idx]") {
  TempDir dir;
  const auto images = Tensor<float>::from(std::vector<float>{0.0f, 1.0f, 0.5f, 0.2f, 1.7f, -0.3f, 0.998f, 0.001f},
                                          {2, 1, 2, 2});
  data::save_idx_images(dir / "samples.idx.gz", images);
  const data::IdxArray written = data::read_idx(dir / "samples.idx.gz");
  CHECK(written.shape == Shape{2, 2, 2});
  CHECK(written.bytes == std::vector<uint8_t>{0, 255, 128, 51, 255, 0, 254, 0});
  const data::ImageDataset back = data::load_idx(dir / "samples.idx.gz");
  data::DataLoader loader(back, {.batch_size = 2});
  const data::Batch batch = *loader.begin();
  CHECK(batch.images.shape() == Shape{2, 1, 2, 2});
  CHECK(batch.images.data()[2] == 128.0f / 255.0f);

  // [-1, 1] colour images: written N x H x W x C.
  const auto tanh_images = Tensor<float>::from(std::vector<float>{-1, 1, 0, -1, 1, 0}, {1, 3, 1, 2});
  data::save_idx_images(dir / "rgb.idx", tanh_images, data::PixelRange::minus_one_one);
  const data::IdxArray rgb = data::read_idx(dir / "rgb.idx");
  CHECK(rgb.shape == Shape{1, 1, 2, 3});
  CHECK(rgb.bytes == std::vector<uint8_t>{0, 128, 255, 255, 0, 128});
  CHECK_THROWS_WITH(data::save_idx_images(dir / "bad.idx", Tensor<float>::zeros({2, 2, 2})),
                    Contains("bad.idx") && Contains("expected N x C x H x W"));

  data::save_idx_labels(dir / "labels.idx", Tensor<int64_t>::from(std::vector<int64_t>{3, 1, 4}));
  CHECK(data::load_idx_labels(dir / "labels.idx") == std::vector<int64_t>{3, 1, 4});
}

// ---------------------------------------------------------------------------------------------
// CSV

TEST_CASE("CSV: the OpenML mnist_784 layout, golden values", "[data][csv]") {
  TempDir dir;
  // BOM, CRLF line ends, quoted labels, spaces, a blank line and no final line end.
  write_text(dir / "mnist.csv",
             "\xEF\xBB\xBFpixel1,pixel2,pixel3,pixel4,class\r\n"
             "0,255,17,3,'5'\r\n"
             "\r\n"
             " 1 , 2 ,3,4,\"0\"\r\n"
             "9,8,7,6,9");
  const data::ImageDataset d = data::load_mnist_csv(dir / "mnist.csv");
  CHECK(d.size() == 3);
  CHECK(d.example_shape() == Shape{1, 2, 2});
  CHECK(d.labels() == std::vector<int64_t>{5, 0, 9});
  CHECK(std::vector<uint8_t>(d.example(0), d.example(0) + 12) ==
        std::vector<uint8_t>{0, 255, 17, 3, 1, 2, 3, 4, 9, 8, 7, 6});

  // Kaggle's copies: the label first, called "label"; gzip'd.
  const std::string kaggle = "label,1x1,1x2,1x3,1x4\n2,10,20,30,40\n";
  write_bytes(dir / "kaggle.csv.gz", data::gzip(std::vector<uint8_t>(kaggle.begin(), kaggle.end())));
  const data::ImageDataset k = data::load_mnist_csv(dir / "kaggle.csv.gz");
  CHECK(k.labels() == std::vector<int64_t>{2});
  CHECK(std::vector<uint8_t>(k.example(0), k.example(0) + 4) == std::vector<uint8_t>{10, 20, 30, 40});
}

TEST_CASE("CSV: malformed files are refused with the file, the line and the problem", "[data][csv]") {
  TempDir dir;
  const auto fails_with = [&](const std::string& name, const std::string& text, const std::vector<std::string>& parts) {
    INFO(name);
    write_text(dir / name, text);
    try {
      data::load_mnist_csv(dir / name);
      FAIL("no error");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK_THAT(message, Contains(name));
      for (const std::string& part : parts) CHECK_THAT(message, Contains(part));
    }
  };
  const std::string header = "pixel1,pixel2,pixel3,pixel4,class\n";
  fails_with("columns.csv", header + "1,2,3,4,5\n1,2,3,4\n", {"line 3", "expected 5 fields", "got 4"});
  fails_with("extra.csv", header + "1,2,3,4,5,6\n", {"line 2", "expected 5 fields", "got 6"});
  fails_with("text.csv", header + "1,2,abc,4,5\n", {"line 2", "column 3 (pixel3)", "'abc'", "0..255"});
  fails_with("decimal.csv", header + "1,2,3.5,4,5\n", {"line 2", "'3.5'"});
  fails_with("range.csv", header + "1,2,3,256,5\n", {"line 2", "column 4 (pixel4)", "'256'"});
  fails_with("negative.csv", header + "1,2,3,-1,5\n", {"'-1'"});
  fails_with("empty_field.csv", header + "1,,3,4,5\n", {"column 2 (pixel2)", "''"});
  fails_with("label.csv", header + "1,2,3,4,five\n", {"line 2", "column 5 (class)", "'five'", "class number"});
  fails_with("noheader.csv", "1,2,3,4,5\n", {"line 1", "expected a header row"});
  fails_with("nolabel.csv", "pixel1,pixel2,pixel3,pixel4\n1,2,3,4\n", {"expected one column named 'class' or 'label'"});
  fails_with("square.csv", "pixel1,pixel2,pixel3,class\n1,2,3,4\n", {"3 pixel columns do not make a square image"});
  fails_with("empty.csv", "", {"is empty"});
  CHECK_THROWS_WITH(data::load_mnist_csv(dir / "missing.csv"), Contains("missing.csv") && Contains("No such file"));
}

// ---------------------------------------------------------------------------------------------
// HDF5

TEST_CASE("HDF5: CelebA-layout files round-trip, one image at a time", "[data][hdf5]") {
  TempDir dir;
  for (int level : {0, 9}) {
    INFO("compression level " << level);
    const fs::path path = dir / ("faces" + std::to_string(level) + ".h5");
    {
      data::Hdf5ImageWriter writer(path, data::kCelebaGroup, level);
      for (int i = 0; i < 3; ++i) writer.add(test_image(5, 4, 3, i));
      CHECK(writer.count() == 3);
      writer.close();
    }
    const data::Hdf5Images faces(path);
    CHECK(faces.size() == 3);
    CHECK(faces.example_shape() == Shape{3, 5, 4});
    CHECK_FALSE(faces.has_labels());
    CHECK(faces.reads_from_disk());
    for (int i = 0; i < 3; ++i) CHECK(faces.read_image(i).pixels == test_image(5, 4, 3, i).pixels);
    // Planar (C x H x W) through read(): channel c of pixel (y, x).
    std::vector<uint8_t> planar(60);
    CHECK(faces.read(2, planar.data()) == -1);
    const io::Image expected = test_image(5, 4, 3, 2);
    CHECK(planar[static_cast<size_t>(1 * 20 + 3 * 4 + 2)] == expected.row(3)[2 * 3 + 1]);

    data::DataLoader loader(faces, {.batch_size = 2});
    std::vector<int64_t> sizes;
    for (const data::Batch& b : loader) {
      CHECK(b.images.shape() == Shape{b.size(), 3, 5, 4});
      CHECK_FALSE(b.labels.defined());
      sizes.push_back(b.size());
    }
    CHECK(sizes == std::vector<int64_t>{2, 1});
  }
}

TEST_CASE("HDF5: missing group, wrong sizes and non-HDF5 files are refused", "[data][hdf5]") {
  TempDir dir;
  {
    data::Hdf5ImageWriter writer(dir / "other_group.h5", "faces");
    writer.add(test_image(2, 2, 3, 0));
  }
  CHECK_THROWS_WITH(data::Hdf5Images(dir / "other_group.h5"),
                    Contains("other_group.h5") && Contains("has no group 'img_align_celeba'"));
  CHECK(data::Hdf5Images(dir / "other_group.h5", "faces").size() == 1);

  {
    data::Hdf5ImageWriter writer(dir / "sizes.h5");
    writer.add(test_image(5, 4, 3, 0));
    writer.add(test_image(6, 4, 3, 1));
    writer.add(test_image(5, 4, 1, 2));
  }
  const data::Hdf5Images sizes(dir / "sizes.h5");
  std::vector<uint8_t> pixels(60);
  CHECK_NOTHROW(sizes.read(0, pixels.data()));
  CHECK_THROWS_WITH(sizes.read(1, pixels.data()),
                    Contains("sizes.h5") && Contains("'img_align_celeba/1.jpg' is 6x4x3, expected 5x4x3"));
  CHECK_THROWS_WITH(sizes.read(2, pixels.data()), Contains("is 5x4x1, expected 5x4x3"));
  // The failure reaches the training loop from the prefetch thread.
  data::DataLoader loader(sizes, {.batch_size = 1, .prefetch = data::Prefetch::on});
  int batches = 0;
  CHECK_THROWS_WITH([&] { for (const data::Batch& b : loader) batches += static_cast<int>(b.size()); }(),
                    Contains("1.jpg' is 6x4x3"));
  CHECK(batches == 1);

  write_text(dir / "text.h5", "not an HDF5 file at all");
  CHECK_THROWS_WITH(data::Hdf5Images(dir / "text.h5"), Contains("text.h5") && Contains("not an HDF5 file"));
  CHECK_THROWS_WITH(data::Hdf5Images(dir / "missing.h5"), Contains("missing.h5") && Contains("does not exist"));
  const std::vector<uint8_t> whole = io::read_file(dir / "sizes.h5");
  write_bytes(dir / "cut.h5", std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2)));
  CHECK_THROWS_AS(
      [&] {
        const data::Hdf5Images cut(dir / "cut.h5");
        for (int64_t i = 0; i < cut.size(); ++i) cut.read_image(i);
      }(),
      Error);
  CHECK_THROWS_WITH(data::Hdf5ImageWriter(dir / "no" / "such" / "folder.h5"), Contains("cannot create HDF5 file"));
}

// ---------------------------------------------------------------------------------------------
// Images and image folders

TEST_CASE("Image folders: PNG and JPEG, flat or one subfolder per class", "[data][images]") {
  TempDir dir;
  fs::create_directories(dir / "flat");
  io::write_png(dir / "flat/b.png", test_image(6, 4, 3, 1));
  io::write_png(dir / "flat/a.png", test_image(6, 4, 3, 0));
  io::write_png(dir / "flat/c.PNG", test_image(6, 4, 1, 2));  // gray, converted to RGB
  write_jpeg(dir / "flat/d.jpg", io::Image(6, 4, 3, 200));
  write_text(dir / "flat/notes.txt", "not an image");
  const data::ImageFolder flat(dir / "flat");
  CHECK(flat.size() == 4);
  CHECK(flat.files()[0].filename() == "a.png");  // name order
  CHECK(flat.example_shape() == Shape{3, 6, 4});
  CHECK_FALSE(flat.has_labels());
  std::vector<uint8_t> pixels(72);
  CHECK(flat.read(0, pixels.data()) == -1);
  CHECK(pixels[0] == test_image(6, 4, 3, 0).pixels[0]);
  CHECK(pixels[24] == test_image(6, 4, 3, 0).pixels[1]);  // green plane
  flat.read(2, pixels.data());
  CHECK(pixels[5] == pixels[24 + 5]);  // gray: equal channels
  flat.read(3, pixels.data());
  for (uint8_t p : pixels) CHECK(std::abs(int{p} - 200) <= 1);

  fs::create_directories(dir / "classes/cat");
  fs::create_directories(dir / "classes/dog");
  io::write_png(dir / "classes/dog/1.png", test_image(6, 4, 3, 3));
  io::write_png(dir / "classes/cat/1.png", test_image(6, 4, 3, 4));
  io::write_png(dir / "classes/cat/2.png", test_image(6, 4, 3, 5));
  const data::ImageFolder classes(dir / "classes", {.channels = 1});
  CHECK(classes.classes() == std::vector<std::string>{"cat", "dog"});
  CHECK(classes.example_shape() == Shape{1, 6, 4});
  data::DataLoader loader(classes, {.batch_size = 3});
  const data::Batch batch = *loader.begin();
  CHECK(batch.labels.to_vector() == std::vector<int64_t>{0, 0, 1});
  CHECK(batch.one_hot(2).to_vector() == std::vector<float>{1, 0, 1, 0, 0, 1});
}

TEST_CASE("Image folders: crop and resize, and refusals naming the image", "[data][images]") {
  TempDir dir;
  fs::create_directories(dir / "mixed");
  io::write_png(dir / "mixed/1.png", test_image(218, 178, 3, 0));
  io::write_png(dir / "mixed/2.png", test_image(200, 178, 3, 1));
  const data::ImageFolder as_is(dir / "mixed");
  std::vector<uint8_t> pixels(3 * 218 * 178);
  CHECK_NOTHROW(as_is.read(0, pixels.data()));
  CHECK_THROWS_WITH(as_is.read(1, pixels.data()),
                    Contains("2.png") && Contains("is 178x200, expected 178x218") && Contains("resize"));

  const data::ImageFolder square(dir / "mixed", {.crop_height = 178, .crop_width = 178, .height = 64, .width = 64});
  CHECK(square.example_shape() == Shape{3, 64, 64});
  CHECK_NOTHROW(square.read(1, pixels.data()));
  const data::ImageFolder too_big(dir / "mixed", {.crop_height = 210, .crop_width = 178, .height = 64, .width = 64});
  CHECK_THROWS_WITH(too_big.read(1, pixels.data()), Contains("2.png") && Contains("smaller than the 178x210 center crop"));

  fs::create_directories(dir / "broken");
  io::write_png(dir / "broken/1.png", test_image(8, 8, 3, 0));
  const std::vector<uint8_t> png = io::read_file(dir / "broken/1.png");
  write_bytes(dir / "broken/2.png", std::vector<uint8_t>(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() - 20)));
  write_jpeg(dir / "broken/3.jpg", test_image(64, 64, 3, 0));
  const std::vector<uint8_t> jpeg = io::read_file(dir / "broken/3.jpg");
  write_bytes(dir / "broken/3.jpg", std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 2)));
  write_text(dir / "broken/4.jpg", "plain text");
  const data::ImageFolder broken(dir / "broken");
  CHECK_NOTHROW(broken.read(0, pixels.data()));
  CHECK_THROWS_WITH(broken.read(1, pixels.data()), Contains("2.png"));
  CHECK_THROWS_WITH(broken.read(2, pixels.data()), Contains("3.jpg") && Contains("damaged or truncated"));
  CHECK_THROWS_WITH(broken.read(3, pixels.data()), Contains("4.jpg") && Contains("not a PNG or JPEG"));

  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH(data::ImageFolder(dir / "empty"), Contains("empty") && Contains("holds no .jpg"));
  CHECK_THROWS_WITH(data::ImageFolder(dir / "nowhere"), Contains("nowhere") && Contains("does not exist"));
}

TEST_CASE("Images: center crop sits where torchvision puts it; resize keeps flat areas flat", "[data][images]") {
  io::Image image(9, 10, 1);
  for (int64_t y = 0; y < 9; ++y)
    for (int64_t x = 0; x < 10; ++x) image.row(y)[x] = static_cast<uint8_t>(10 * y + x);
  // torchvision: top = round((9 - 4) / 2) = round(2.5) = 2, left = round((10 - 3) / 2) = round(3.5) = 4.
  const io::Image crop = io::center_crop(image, 4, 3);
  CHECK(crop.row(0)[0] == 24);
  CHECK(crop.row(3)[2] == 56);
  CHECK_THROWS_WITH(io::center_crop(image, 10, 3), Contains("does not fit"));

  const io::Image flat(20, 30, 3, 77);
  for (auto [h, w] : {std::pair{5, 7}, std::pair{40, 45}, std::pair{20, 11}}) {
    const io::Image r = io::resize(flat, h, w);
    CHECK(r.height == h);
    CHECK(r.width == w);
    for (uint8_t p : r.pixels) CHECK(p == 77);
  }
  // A horizontal ramp stays a ramp, and halving averages neighbours.
  io::Image ramp(1, 8, 1);
  for (int64_t x = 0; x < 8; ++x) ramp.pixels[static_cast<size_t>(x)] = static_cast<uint8_t>(x * 30);
  const io::Image half = io::resize(ramp, 1, 4);
  for (int64_t x = 1; x < 4; ++x) CHECK(half.pixels[static_cast<size_t>(x)] > half.pixels[static_cast<size_t>(x - 1)]);
  CHECK(std::abs(int{half.pixels[1]} - 75) <= 8);
}

TEST_CASE("Converter: a folder of images becomes a CelebA-layout HDF5 file", "[data][hdf5][images]") {
  TempDir dir;
  fs::create_directories(dir / "faces");
  for (int i = 0; i < 70; ++i) {  // more than one chunk of 64
    char name[32];
    std::snprintf(name, sizeof name, "%06d.png", i + 1);
    io::write_png(dir / "faces" / name, test_image(9, 7, 3, i));
  }
  io::Progress progress(70, "convert", {.out = nullptr});
  CHECK(data::image_folder_to_hdf5(dir / "faces", dir / "faces.h5", {}, 0, &progress) == 70);
  CHECK(progress.done() == 70);
  const data::Hdf5Images faces(dir / "faces.h5");
  CHECK(faces.size() == 70);
  CHECK(faces.read_image(0).pixels == test_image(9, 7, 3, 0).pixels);
  CHECK(faces.read_image(69).pixels == test_image(9, 7, 3, 69).pixels);

  data::ConvertOptions small;
  small.image = {.channels = 1, .crop_height = 7, .crop_width = 7, .height = 4, .width = 4};
  CHECK(data::image_folder_to_hdf5(dir / "faces", dir / "small.h5", small, 10) == 10);
  CHECK(data::Hdf5Images(dir / "small.h5").example_shape() == Shape{1, 4, 4});

  io::write_png(dir / "faces/000071.png", test_image(8, 7, 3, 0));
  CHECK_THROWS_WITH(data::image_folder_to_hdf5(dir / "faces", dir / "mixed.h5"),
                    Contains("000071.png") && Contains("is 7x8, expected 7x9 like"));
  CHECK_THROWS_WITH(data::image_folder_to_hdf5(dir / "nowhere", dir / "x.h5"), Contains("does not exist"));
}

// ---------------------------------------------------------------------------------------------
// DataLoader

TEST_CASE("DataLoader: batches in order, the last one short unless dropped", "[data][loader]") {
  const CountingDataset d(10);
  data::DataLoader loader(d, {.batch_size = 4});
  CHECK(loader.size() == 3);
  CHECK(epoch_indices(loader) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}});
  data::DataLoader dropping(d, {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(epoch_indices(dropping) == std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
  data::DataLoader exact(d, {.batch_size = 5, .drop_last = true});
  CHECK(epoch_indices(exact).size() == 2);

  const data::Batch first = *loader.begin();
  CHECK(first.images.shape() == Shape{4, 1, 2, 2});
  CHECK(first.labels.to_vector() == std::vector<int64_t>{0, 1, 2, 0});
  CHECK(first.one_hot(3).shape() == Shape{4, 3});
  CHECK(first.one_hot(3).to_vector() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0});
  CHECK_THROWS_WITH(first.one_hot(2), Contains("one_hot") && Contains("label 2"));
  CHECK_THROWS_WITH(data::DataLoader(d, {.batch_size = 0}), Contains("batch_size must be positive"));
  STATIC_REQUIRE_FALSE(std::is_constructible_v<data::DataLoader, CountingDataset>);  // would dangle

  const CountingDataset empty(0);
  data::DataLoader none(empty, {.batch_size = 4});
  CHECK(none.size() == 0);
  CHECK(epoch_indices(none).empty());
}

TEST_CASE("DataLoader: the shuffle is a function of the seed and the epoch", "[data][loader]") {
  const CountingDataset d(50);
  data::DataLoader a(d, {.batch_size = 8, .shuffle = true, .seed = 42});
  data::DataLoader b(d, {.batch_size = 8, .shuffle = true, .seed = 42});
  data::DataLoader c(d, {.batch_size = 8, .shuffle = true, .seed = 43});
  const auto a0 = epoch_indices(a), a1 = epoch_indices(a), a2 = epoch_indices(a);
  CHECK(a.epoch() == 3);
  CHECK(epoch_indices(b) == a0);
  CHECK(epoch_indices(b) == a1);
  CHECK(a0 != a1);
  CHECK(a1 != a2);
  CHECK(epoch_indices(c) != a0);
  // Every example once per epoch.
  std::vector<int64_t> all = flatten(a0);
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 50; ++i) CHECK(all[static_cast<size_t>(i)] == i);
  // Resuming at epoch 2 sees epoch 2's order.
  data::DataLoader resumed(d, {.batch_size = 8, .shuffle = true, .seed = 42});
  resumed.set_epoch(2);
  CHECK(epoch_indices(resumed) == a2);
  CHECK(data::shuffled_order(50, 42, 1) == flatten(a1));

  // The default seed is the default generator's, so manual_seed decides it.
  manual_seed(42);
  data::DataLoader seeded(d, {.batch_size = 8, .shuffle = true});
  CHECK(epoch_indices(seeded) == a0);
  manual_seed(0x5eed);

  // random_batch draws with replacement from a generator: same seed, same batch.
  Generator g1(7), g2(7);
  const auto r1 = data::random_batch(d, 16, g1), r2 = data::random_batch(d, 16, g2);
  CHECK(r1.images.to_vector() == r2.images.to_vector());
  CHECK(data::random_batch(d, 16, g1).images.to_vector() != r1.images.to_vector());
}

TEST_CASE("DataLoader: prefetching gives the same batches and survives an abandoned loop", "[data][loader]") {
  const CountingDataset d(37);
  data::DataLoader plain(d, {.batch_size = 4, .shuffle = true, .seed = 1, .prefetch = data::Prefetch::off});
  data::DataLoader ahead(d, {.batch_size = 4, .shuffle = true, .seed = 1, .prefetch = data::Prefetch::on});
  for (int epoch = 0; epoch < 3; ++epoch) CHECK(epoch_indices(plain) == epoch_indices(ahead));
  // Leave a loop early, start another: the reader thread is stopped and restarted.
  for (int round = 0; round < 5; ++round) {
    int seen = 0;
    for (const data::Batch& b : ahead) {
      seen += static_cast<int>(b.size());
      if (seen >= 8) break;
    }
    CHECK(seen == 8);
  }
  // A failure while reading ahead reaches the loop, with the dataset's message.
  const CountingDataset damaged(20, 13);
  data::DataLoader failing(damaged, {.batch_size = 4, .prefetch = data::Prefetch::on});
  std::vector<int64_t> seen;
  CHECK_THROWS_WITH(
      [&] {
        for (const data::Batch& b : failing) seen.push_back(b.size());
      }(),
      Contains("example 13 is damaged"));
  CHECK(seen == std::vector<int64_t>{4, 4, 4});
  data::DataLoader failing_inline(damaged, {.batch_size = 4, .prefetch = data::Prefetch::off});
  CHECK_THROWS_WITH(epoch_indices(failing_inline), Contains("example 13 is damaged"));
}

TEST_CASE("DataLoader: pixel ranges match torchvision's ToTensor and Normalize(0.5, 0.5)", "[data][loader]") {
  std::vector<uint8_t> pixels = {0, 1, 127, 128, 254, 255};
  data::ImageDataset d(std::move(pixels), {1, 1, 1, 6}, {}, "memory");
  data::DataLoader unit(d, {});
  data::DataLoader symmetric(d, {.range = data::PixelRange::minus_one_one});
  const std::vector<float> u = (*unit.begin()).images.to_vector();
  const std::vector<float> s = (*symmetric.begin()).images.to_vector();
  const std::vector<int> bytes = {0, 1, 127, 128, 254, 255};
  for (size_t i = 0; i < bytes.size(); ++i) {
    const float expected = static_cast<float>(bytes[i]) / 255.0f;
    CHECK(u[i] == expected);
    CHECK(s[i] == (expected - 0.5f) / 0.5f);
  }
  CHECK(s.front() == -1.0f);
  CHECK(s.back() == 1.0f);

  const data::Subset part(d, 0, 1);
  CHECK(part.size() == 1);
  CHECK_THROWS_WITH(data::Subset(d, 1, 1), Contains("memory") && Contains("are not within its 1"));
}
