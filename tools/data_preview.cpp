// data_preview: the first images of any dataset nabla reads, as one PNG grid, and a summary of
// the dataset on stdout: the quickest way to see that a data file is what it should be.
//
//   data_preview data/mnist mnist.png               (an MNIST-layout folder, training split)
//   data_preview data/mnist mnist-test.png --test
//   data_preview train-images-idx3-ubyte.gz a.png   (an IDX file; mnist_784.csv; celeba.h5;
//   data_preview photos/ photos.png --size 64x64     a folder of JPEG/PNG images)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nabla/data.hpp>
#include <nabla/io.hpp>

namespace fs = std::filesystem;
using namespace nabla;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::unique_ptr<data::Dataset> open_dataset(const fs::path& input, bool test, const data::ImageFolderOptions& images) {
  const std::string name = input.string();
  NABLA_CHECK(fs::exists(input), "'", name, "' does not exist");
  if (fs::is_directory(input)) {
    const bool mnist_layout = fs::exists(input / "train-images-idx3-ubyte.gz") ||
                              fs::exists(input / "train-images-idx3-ubyte") || fs::exists(input / "t10k-images-idx3-ubyte.gz");
    if (mnist_layout)
      return std::make_unique<data::ImageDataset>(data::load_mnist(input, test ? data::Split::test : data::Split::train));
    return std::make_unique<data::ImageFolder>(input, images);
  }
  if (ends_with(name, ".csv") || ends_with(name, ".csv.gz"))
    return std::make_unique<data::ImageDataset>(data::load_mnist_csv(input));
  if (ends_with(name, ".h5") || ends_with(name, ".hdf5") || ends_with(name, ".h5py"))
    return std::make_unique<data::Hdf5Images>(input);
  return std::make_unique<data::ImageDataset>(data::load_idx(input));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Writes the first images of a dataset as a PNG grid and prints a summary of it."};
  std::string input, output, size;
  int64_t count = 64, nrow = 8;
  bool test = false;
  data::ImageFolderOptions images;
  app.add_option("input", input, "an MNIST-layout folder, an IDX file, a CSV (mnist_784), an HDF5 file "
                                 "(CelebA layout) or a folder of JPEG/PNG images")->required();
  app.add_option("output", output, "the PNG grid to write")->required();
  app.add_option("--count", count, "how many images")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--nrow", nrow, "images per row")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_flag("--test", test, "the test split of an MNIST-layout folder (t10k-*)");
  app.add_option("--size", size, "resize images of a folder to WIDTHxHEIGHT (they may differ in size)");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!size.empty()) {
      long long w = 0, h = 0;
      NABLA_CHECK(std::sscanf(size.c_str(), "%lldx%lld", &w, &h) == 2 && w > 0 && h > 0,
                  "--size: expected WIDTHxHEIGHT, got '", size, "'");
      images.width = w, images.height = h;
    }
    const std::unique_ptr<data::Dataset> dataset = open_dataset(input, test, images);
    const Shape shape = dataset->example_shape();
    std::printf("%s: %lld images, %lld x %lld, %s\n", dataset->source().c_str(), static_cast<long long>(dataset->size()),
                static_cast<long long>(shape[2]), static_cast<long long>(shape[1]), shape[0] == 1 ? "gray" : "RGB");
    if (auto* labelled = dynamic_cast<const data::ImageDataset*>(dataset.get()); labelled && labelled->has_labels()) {
      std::map<int64_t, int64_t> per_class;
      for (int64_t label : labelled->labels()) ++per_class[label];
      std::printf("labels:");
      for (const auto& [label, n] : per_class) std::printf(" %lld: %lld", static_cast<long long>(label), static_cast<long long>(n));
      std::printf("\n");
    }
    const data::Subset first(*dataset, 0, std::min(count, dataset->size()));
    data::DataLoader loader(first, {.batch_size = first.size()});
    const data::Batch batch = *loader.begin();
    io::save_image(batch.images, output, {.nrow = nrow});
    if (batch.labels.defined()) {
      std::printf("first labels, row by row:\n");
      for (int64_t i = 0; i < batch.size(); ++i)
        std::printf("%lld%s", static_cast<long long>(batch.labels.data()[i]), (i + 1) % nrow == 0 || i + 1 == batch.size() ? "\n" : " ");
    }
    std::printf("wrote %s\n", output.c_str());
  } catch (const std::exception& e) {  // nabla::Error, and std::filesystem's errors
    std::fprintf(stderr, "data_preview: %s\n", e.what());
    return 1;
  }
  return 0;
}
