// Writes a tiny MNIST-shaped data set (IDX files, like data/mnist) for the examples' smoke tests:
// blurred random strokes with random labels. It looks like nothing, and that is enough to run a
// few training steps without the network.
#include <cstdio>
#include <string>

#include <nabla/data.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_tiny_mnist <folder>\n");
    return 2;
  }
  try {
    const std::filesystem::path folder = argv[1];
    std::filesystem::create_directories(folder);
    nabla::manual_seed(7);
    for (auto [prefix, count] : {std::pair{"train", 256}, std::pair{"t10k", 64}}) {
      auto images = nabla::Tensor<float>::rand({count, 1, 28, 28});
      auto labels = nabla::Tensor<int64_t>::empty({count});
      for (int64_t i = 0; i < count; ++i) labels.data()[i] = i % 10;
      nabla::data::save_idx_images(folder / (std::string(prefix) + "-images-idx3-ubyte.gz"), images);
      nabla::data::save_idx_labels(folder / (std::string(prefix) + "-labels-idx1-ubyte.gz"), labels);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_tiny_mnist: %s\n", e.what());
    return 1;
  }
  return 0;
}
