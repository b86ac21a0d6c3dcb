#pragma once
// Sizes a file may claim before nabla believes it. Headers are checked against these before
// anything is allocated or multiplied further, so a damaged or hostile file ends in a
// nabla::Error, never in an overflow or an enormous allocation.
#include <cstdint>
#include <optional>

#include "nabla/core/shape.hpp"

namespace nabla::data {

// Elements in one array: nabla's limit for one tensor.
inline constexpr int64_t kMaxElements = int64_t{1} << 48;
// Bytes in one example (image) of a dataset.
inline constexpr int64_t kMaxExampleBytes = int64_t{1} << 30;

// The number of elements of `shape`, or nothing when it passes kMaxElements. Any zero size makes
// it 0, however large the others; each product step is checked before it could overflow.
inline std::optional<int64_t> checked_numel(const Shape& shape) {
  for (int64_t size : shape)
    if (size == 0) return 0;
  int64_t numel = 1;
  for (int64_t size : shape) {
    if (size < 0 || numel > kMaxElements / size) return std::nullopt;
    numel *= size;
  }
  return numel;
}

}  // namespace nabla::data
