#include <nabla/data.hpp>
#include <nabla/io.hpp>
#include <nabla/nabla.hpp>

#include <cstdio>
#include <filesystem>

int main() {
  const auto ones = nabla::Tensor<float>::ones({2, 3});
  const float total = nabla::sum(ones).item();
  std::printf("nabla consumer: sum(ones({2, 3})) = %g\n", static_cast<double>(total));
  // nabla::data links the image libraries: write a PNG grid of two 4x4 images.
  const auto png = std::filesystem::temp_directory_path() / "nabla_consumer.png";
  nabla::io::save_image(nabla::Tensor<float>::ones({2, 1, 4, 4}), png);
  const bool wrote = std::filesystem::file_size(png) > 0;
  std::filesystem::remove(png);
  return total == 6.0f && wrote ? 0 : 1;
}
