// libFuzzer target for the MNIST CSV reader (data/csv.hpp): any input either parses to a dataset
// whose examples can all be read, or throws nabla::Error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nabla/data/csv.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nabla::data::ImageDataset dataset = nabla::data::decode_mnist_csv({data, size}, "fuzz.csv");
    std::vector<uint8_t> pixels(static_cast<size_t>(dataset.example_bytes()));
    for (int64_t i = 0; i < dataset.size(); ++i) dataset.read(i, pixels.data());
  } catch (const nabla::Error&) {
  }
  return 0;
}
