#pragma once
// Image grids, as torchvision's make_grid and save_image make them: N x C x H x W values in
// [0, 1] (or any range, with normalize) tiled nrow to a row with padding between, written as PNG.
// Gray stays gray (a one-channel PNG), RGB stays RGB; the bytes match torchvision's.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "nabla/core/tensor.hpp"
#include "nabla/io/image.hpp"

namespace nabla::io {

struct GridOptions {
  int64_t nrow = 8;        // images per row
  int64_t padding = 2;     // pixels between images and around them
  float pad_value = 0;     // in output units: 0 black, 1 white
  // Maps values to [0, 1] before saving: from value_range when given (clamping first), else from
  // the tensor's min and max (each image's own with scale_each). Without it, values are taken as
  // [0, 1] and clamped. A [-1, 1] tanh output wants {.normalize = true, .value_range = {{-1, 1}}}.
  bool normalize = false;
  std::optional<std::pair<float, float>> value_range{};
  bool scale_each = false;
};

// H x W, C x H x W and N x C x H x W tensors, with C = 1 (gray) or 3 (RGB).
template <Floating T>
Image make_grid(const Tensor<T>& images, const GridOptions& options = {}) {
  NABLA_CHECK(images.defined(), "make_grid: the tensor is undefined");
  Shape s = images.shape();
  if (s.size() == 2) s = {1, 1, s[0], s[1]};
  else if (s.size() == 3) s = {1, s[0], s[1], s[2]};
  NABLA_CHECK(s.size() == 4 && (s[1] == 1 || s[1] == 3) && s[2] > 0 && s[3] > 0,
              "make_grid: expected N x C x H x W images (or C x H x W, or H x W) with C = 1 or 3, got shape ",
              images.shape());
  NABLA_CHECK(s[0] > 0, "make_grid: no images to draw (shape ", images.shape(), ")");
  NABLA_CHECK(options.nrow > 0 && options.padding >= 0, "make_grid: expected nrow > 0 and padding >= 0, got ",
              options.nrow, " and ", options.padding);
  const int64_t n = s[0], c = s[1], h = s[2], w = s[3], per_image = c * h * w;
  std::vector<T> values = images.to_vector();

  if (options.normalize) {
    const auto normalize = [&](int64_t begin, int64_t end) {
      T lo, hi;
      if (options.value_range) {
        lo = static_cast<T>(options.value_range->first);
        hi = static_cast<T>(options.value_range->second);
      } else {
        const auto [mn, mx] = std::minmax_element(values.begin() + begin, values.begin() + end);
        lo = *mn, hi = *mx;
      }
      const T span = std::max(hi - lo, static_cast<T>(1e-5));
      for (int64_t i = begin; i < end; ++i)
        values[static_cast<size_t>(i)] = (std::clamp(values[static_cast<size_t>(i)], lo, hi) - lo) / span;
    };
    if (options.scale_each) {
      for (int64_t k = 0; k < n; ++k) normalize(k * per_image, (k + 1) * per_image);
    } else {
      normalize(0, n * per_image);
    }
  }
  // torchvision's mul(255).add_(0.5).clamp_(0, 255) then a cast that truncates; NaN becomes 0.
  const auto to_byte = [](T v) {
    const T x = v * T(255) + T(0.5);
    return static_cast<uint8_t>(x >= T(0) ? std::min(x, T(255)) : T(0));
  };

  // torchvision returns a lone image without any padding.
  const int64_t pad = n == 1 ? 0 : options.padding;
  const int64_t columns = std::min(options.nrow, n), rows = (n + columns - 1) / columns;
  const int64_t cell_h = h + pad, cell_w = w + pad;
  Image grid(rows * cell_h + pad, columns * cell_w + pad, c, to_byte(static_cast<T>(options.pad_value)));
  for (int64_t k = 0; k < n; ++k) {
    const int64_t top = (k / columns) * cell_h + pad, left = (k % columns) * cell_w + pad;
    const T* image = values.data() + k * per_image;
    for (int64_t y = 0; y < h; ++y) {
      uint8_t* out = grid.row(top + y) + left * c;
      for (int64_t x = 0; x < w; ++x)
        for (int64_t ch = 0; ch < c; ++ch) out[x * c + ch] = to_byte(image[(ch * h + y) * w + x]);
    }
  }
  return grid;
}

template <Floating T>
void save_image(const Tensor<T>& images, const std::filesystem::path& path, const GridOptions& options = {}) {
  write_png(path, make_grid(images, options));
}

}  // namespace nabla::io
