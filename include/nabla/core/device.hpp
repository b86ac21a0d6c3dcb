#pragma once
#include <cstdint>
#include <ostream>

namespace nabla {

enum class DeviceType : uint8_t { CPU, CUDA };

// Where a storage lives. Ops dispatch on it; a CUDA backend (NABLA_CUDA) adds the second kind.
struct Device {
  DeviceType type = DeviceType::CPU;
  int8_t index = 0;

  static constexpr Device cpu() { return {}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::CUDA, static_cast<int8_t>(index)}; }
  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  friend constexpr bool operator==(Device a, Device b) = default;
  friend std::ostream& operator<<(std::ostream& os, Device d) {
    return d.is_cpu() ? os << "cpu" : os << "cuda:" << int(d.index);
  }
};

inline constexpr bool cuda_available() {
#ifdef NABLA_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace nabla
