#include <nabla/nabla.hpp>

#include <cstdio>

int main() {
  const auto ones = nabla::Tensor<float>::ones({2, 3});
  const float total = nabla::sum(ones).item();
  std::printf("nabla consumer: sum(ones({2, 3})) = %g\n", static_cast<double>(total));
  return total == 6.0f ? 0 : 1;
}
