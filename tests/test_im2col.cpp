// cpu::im2col / cpu::col2im (the vector paths for strides 1 and 2, the scalar loops otherwise)
// against a plain loop over every (channel, ky, kx, oy, ox), for many geometries: strides 1-3,
// padding 0-2, dilation 1-2, kernels 1-5, odd and even sizes, rows narrower than a vector and
// wider than two, non-square images and kernels; float and double; columns side by side in a
// wider matrix (ld > out_h * out_w), with the cells outside the image's columns left untouched.
// Also conv2d with its forward's columns kept for the weight gradient against recomputing them,
// and built a block of channels at a time against all at once.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <nabla/nabla.hpp>
#include <random>
#include <sstream>
#include <vector>

using namespace nabla;

namespace {

cpu::ConvGeometry geometry(int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,
                           int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  const int64_t eh = dh * (kh - 1) + 1, ew = dw * (kw - 1) + 1;
  return {c,
          h,
          w,
          kh,
          kw,
          sh,
          sw,
          ph,
          pw,
          dh,
          dw,
          (h + 2 * ph - eh) / sh + 1,
          (w + 2 * pw - ew) / sw + 1};
}

std::string describe(const cpu::ConvGeometry& g) {
  std::ostringstream s;
  s << "C " << g.channels << ", image " << g.height << "x" << g.width << ", kernel " << g.kernel_h
    << "x" << g.kernel_w << ", stride " << g.stride_h << "," << g.stride_w << ", pad " << g.pad_h
    << "," << g.pad_w << ", dilation " << g.dilation_h << "," << g.dilation_w << ", out " << g.out_h
    << "x" << g.out_w;
  return s.str();
}

// The image position im2col reads for (c, ky, kx, oy, ox), or -1 in the padding.
int64_t source(const cpu::ConvGeometry& g, int64_t c, int64_t ky, int64_t kx, int64_t oy,
               int64_t ox) {
  const int64_t iy = oy * g.stride_h - g.pad_h + ky * g.dilation_h;
  const int64_t ix = ox * g.stride_w - g.pad_w + kx * g.dilation_w;
  if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) return -1;
  return (c * g.height + iy) * g.width + ix;
}

template <class T>
void reference_im2col(const std::vector<T>& image, const cpu::ConvGeometry& g, std::vector<T>& cols,
                      int64_t ld, int64_t col0) {
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ky = 0; ky < g.kernel_h; ++ky)
      for (int64_t kx = 0; kx < g.kernel_w; ++kx)
        for (int64_t oy = 0; oy < g.out_h; ++oy)
          for (int64_t ox = 0; ox < g.out_w; ++ox) {
            const int64_t src = source(g, c, ky, kx, oy, ox);
            cols[static_cast<size_t>(((c * g.kernel_h + ky) * g.kernel_w + kx) * ld + col0 +
                                     oy * g.out_w + ox)] =
                src < 0 ? T(0) : image[static_cast<size_t>(src)];
          }
}

// Adds in the same order as the scalar col2im (c, ky, kx, oy, ox), so results are identical.
template <class T>
void reference_col2im(const std::vector<T>& cols, const cpu::ConvGeometry& g, std::vector<T>& image,
                      int64_t ld, int64_t col0) {
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t ky = 0; ky < g.kernel_h; ++ky)
      for (int64_t kx = 0; kx < g.kernel_w; ++kx)
        for (int64_t oy = 0; oy < g.out_h; ++oy)
          for (int64_t ox = 0; ox < g.out_w; ++ox) {
            const int64_t dst = source(g, c, ky, kx, oy, ox);
            if (dst >= 0)
              image[static_cast<size_t>(dst)] += cols[static_cast<size_t>(
                  ((c * g.kernel_h + ky) * g.kernel_w + kx) * ld + col0 + oy * g.out_w + ox)];
          }
}

template <class T>
std::vector<T> random_values(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// Every cell is compared exactly: im2col copies, and col2im adds each image cell's contributions
// in the same order as the reference.
template <class T, bool simd>
void check_geometry(const cpu::ConvGeometry& g, std::mt19937& rng) {
  INFO(describe(g) << (simd ? " (vector path)" : " (scalar path)")
                   << (sizeof(T) == 4 ? ", float" : ", double"));
  const int64_t p = g.cols(), col0 = 3, ld = p + 7;  // the image's columns inside a wider matrix
  const size_t image_size = static_cast<size_t>(g.channels * g.height * g.width);
  const size_t cols_size = static_cast<size_t>(g.rows() * ld);
  const std::vector<T> image = random_values<T>(image_size, rng);

  const T sentinel = T(1234.5);
  std::vector<T> cols(cols_size, sentinel), expected(cols_size, sentinel);
  cpu::detail::im2col_impl<T, simd>(image.data(), g, cols.data() + col0, ld);
  reference_im2col(image, g, expected, ld, col0);
  CHECK(cols == expected);

  const std::vector<T> grad_cols = random_values<T>(cols_size, rng);
  const std::vector<T> start = random_values<T>(image_size, rng);
  std::vector<T> got = start, want = start;
  cpu::detail::col2im_impl<T, simd>(grad_cols.data() + col0, g, got.data(), ld);
  reference_col2im(grad_cols, g, want, ld, col0);
  CHECK(got == want);
}

template <class T>
void check_many(std::mt19937& rng) {
  int checked = 0;
  for (int64_t stride : {1, 2, 3})
    for (int64_t pad : {0, 1, 2})
      for (int64_t dilation : {1, 2})
        for (int64_t kernel : {1, 2, 3, 4, 5})
          for (int64_t w : {1, 3, 4, 7, 8, 14, 15, 16, 17, 28, 33, 40, 67}) {
            const int64_t h = 1 + (w * 5 + kernel) % 9;  // non-square, 1 to 9 rows
            const int64_t kh = 1 + (kernel + stride) % 5;
            const int64_t eh = dilation * (kh - 1) + 1, ew = dilation * (kernel - 1) + 1;
            const int64_t ph = (pad + 1) % 3;
            if (h + 2 * ph < eh || w + 2 * pad < ew) continue;
            const cpu::ConvGeometry g = geometry(2, h, w, kh, kernel, (stride % 3) + 1, stride, ph,
                                                 pad, 1 + (w % 2), dilation);
            if (g.out_h < 1 || g.out_w < 1) continue;
            check_geometry<T, true>(g, rng);
            check_geometry<T, false>(g, rng);
            ++checked;
          }
  CHECK(checked > 500);
}

}  // namespace

TEST_CASE("im2col and col2im match a plain loop for many geometries", "[im2col]") {
  std::mt19937 rng(7);
  SECTION("float") { check_many<float>(rng); }
  SECTION("double") { check_many<double>(rng); }
}

TEST_CASE("im2col and col2im at the DCGAN and MNIST shapes", "[im2col]") {
  std::mt19937 rng(11);
  const cpu::ConvGeometry shapes[] = {
      geometry(3, 14, 14, 4, 4, 2, 2, 1, 1, 1, 1),  // Conv2d 64->128 on 14x14, ConvT 128->64 on 7x7
      geometry(1, 28, 28, 4, 4, 2, 2, 1, 1, 1, 1),  // Conv2d 1->64 on 28x28, ConvT 64->1 on 14x14
      geometry(2, 32, 32, 5, 5, 2, 2, 2, 2, 1, 1),  // kernel 5, stride 2, pad 2
      geometry(2, 64, 64, 4, 4, 2, 2, 1, 1, 1, 1),  // 64x64 DCGAN
      geometry(2, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1),  // kernel 3, stride 1, pad 1
      geometry(2, 9, 40, 3, 5, 1, 2, 0, 2, 2, 1),   // mixed strides
  };
  for (const auto& g : shapes) {
    check_geometry<float, true>(g, rng);
    check_geometry<double, true>(g, rng);
    check_geometry<float, false>(g, rng);
  }
}

TEST_CASE("im2col with padding wider than the image", "[im2col]") {
  // Kernel positions whose whole row lies in the padding (an old valid_range edge case).
  std::mt19937 rng(13);
  check_geometry<float, true>(geometry(1, 1, 1, 11, 11, 1, 1, 5, 5, 1, 1), rng);
  check_geometry<float, false>(geometry(1, 1, 1, 11, 11, 1, 1, 5, 5, 1, 1), rng);
  check_geometry<double, true>(geometry(2, 3, 2, 5, 7, 2, 2, 4, 6, 1, 1), rng);
  check_geometry<float, true>(geometry(2, 3, 2, 5, 7, 3, 3, 4, 6, 1, 1), rng);
}

namespace {

// conv2d forward + backward (input, weight and bias gradients) with the forward's columns kept
// for the weight gradient and with them recomputed: the same arithmetic, so identical results.
// And with the columns in blocks of one channel against all channels in one block: the GEMMs
// then sum in another order, so equal to rounding.
template <class T>
void check_kept_columns(const Shape& x_shape, const Shape& w_shape, Conv2dOptions o) {
  struct Result {
    std::vector<T> y, gx, gw, gb;
  };
  auto run = [&](int64_t keep_bytes, int64_t block_bytes) {
    const int64_t saved_keep = detail::conv_keep_columns_bytes;
    const int64_t saved_block = detail::conv_block_bytes;
    detail::conv_keep_columns_bytes = keep_bytes;
    detail::conv_block_bytes = block_bytes;
    Generator gen(3);
    Tensor<T> x = Tensor<T>::uniform(x_shape, -1, 1, gen).requires_grad_();
    Tensor<T> w = Tensor<T>::uniform(w_shape, -1, 1, gen).requires_grad_();
    Tensor<T> b = Tensor<T>::uniform({w_shape[0]}, -1, 1, gen).requires_grad_();
    const Tensor<T> y = conv2d(x, w, b, o);
    y.backward(Tensor<T>::uniform(y.shape(), -1, 1, gen));
    detail::conv_keep_columns_bytes = saved_keep;
    detail::conv_block_bytes = saved_block;
    return Result{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
  };
  auto close = [](const std::vector<T>& a, const std::vector<T>& b) {
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-13;
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::abs(double(a[i]) - double(b[i])) > tol * (1 + std::abs(double(b[i])))) return false;
    return true;
  };
  const int previous_threads = get_num_threads();
  const int64_t all = int64_t{1} << 40;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const Result whole = run(all, all);
    for (int64_t block : {all, int64_t{1}}) {
      INFO("input " << x_shape << ", weight " << w_shape << ", " << threads << " threads, "
                    << (block == 1 ? "one channel per block" : "one block"));
      const Result kept = run(all, block), recomputed = run(0, block);
      CHECK(kept.y == recomputed.y);
      CHECK(kept.gx == recomputed.gx);
      CHECK(kept.gw == recomputed.gw);
      CHECK(kept.gb == recomputed.gb);
      CHECK(close(kept.y, whole.y));
      CHECK(close(kept.gx, whole.gx));
      CHECK(close(kept.gw, whole.gw));
      CHECK(close(kept.gb, whole.gb));
    }
  }
  set_num_threads(previous_threads);
}

}  // namespace

TEST_CASE("conv2d: kept and recomputed columns, one block of channels or many", "[im2col][conv]") {
  // Batches of several sample groups (about 512 output positions each), one group short.
  check_kept_columns<float>({29, 3, 14, 14}, {5, 3, 4, 4}, {{2, 2}, {1, 1}});
  check_kept_columns<double>({23, 2, 9, 11}, {4, 2, 3, 3}, {{1, 1}, {1, 1}});
  check_kept_columns<double>({7, 2, 10, 9}, {3, 2, 5, 2}, {{2, 3}, {2, 0}, {1, 2}});
  check_kept_columns<float>({9, 5, 8, 8}, {2, 5, 5, 5}, {{1, 1}, {2, 2}});
}

namespace {

// conv2d's direct paths (gather GEMM over the padded input; row kernels for few output channels;
// conv.hpp) against the im2col path, on the same inputs: forward, input, weight and bias gradients
// equal to rounding.
template <class T>
void check_direct_against_im2col(const Shape& x_shape, const Shape& w_shape, Conv2dOptions o) {
  struct Result {
    std::vector<T> y, gx, gw, gb;
  };
  // min_channels 0: the im2col path (conv_direct off).
  auto run = [&](int64_t min_channels) {
    const int64_t saved = detail::conv_direct_min_channels;
    const bool saved_direct = detail::conv_direct;
    detail::conv_direct_min_channels = min_channels;
    detail::conv_direct = min_channels > 0;
    Generator gen(7);
    Tensor<T> x = Tensor<T>::uniform(x_shape, -1, 1, gen).requires_grad_();
    Tensor<T> w = Tensor<T>::uniform(w_shape, -1, 1, gen).requires_grad_();
    Tensor<T> b = Tensor<T>::uniform({w_shape[0]}, -1, 1, gen).requires_grad_();
    const Tensor<T> y = conv2d(x, w, b, o);
    y.backward(Tensor<T>::uniform(y.shape(), -1, 1, gen));
    detail::conv_direct_min_channels = saved;
    detail::conv_direct = saved_direct;
    return Result{y.to_vector(), x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
  };
  // Both paths sum the same products in different orders (which differ again between AVX2 and
  // AVX-512), so the float tolerance grows like the square root of the longest sum: the input
  // gradient's C_out kh kw terms, the output's C_in kh kw, the weight gradient's N H_out W_out.
  const int64_t longest_sum =
      std::max({x_shape[1] * w_shape[2] * w_shape[3], w_shape[0] * w_shape[2] * w_shape[3],
                x_shape[0] * x_shape[2] * x_shape[3]});
  const double float_tol = 2e-5 * std::max(1.0, std::sqrt(double(longest_sum) / 256));
  auto check_close = [float_tol](const char* what, const std::vector<T>& a, const std::vector<T>& b) {
    INFO(what);
    REQUIRE(a.size() == b.size());
    const double tol = sizeof(T) == 4 ? float_tol : 1e-12;
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i)
      worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / (1 + std::abs(double(b[i]))));
    CHECK(worst <= tol);
  };
  const int previous_threads = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    INFO("input " << x_shape << ", weight " << w_shape << ", " << threads << " threads");
    const Result im2col = run(0);
    // All through the gather GEMM; and, with fewer output channels than the threshold, the row
    // kernels (stride 1, with the input gradient through the gather GEMM when C_in reaches the
    // threshold) or im2col.
    for (int64_t min_channels : {int64_t{1}, w_shape[0] + 1, int64_t{1} << 40}) {
      INFO("direct from " << min_channels << " channels");
      const Result direct = run(min_channels);
      check_close("output", direct.y, im2col.y);
      check_close("input gradient", direct.gx, im2col.gx);
      check_close("weight gradient", direct.gw, im2col.gw);
      check_close("bias gradient", direct.gb, im2col.gb);
    }
  }
  set_num_threads(previous_threads);
}

}  // namespace

TEST_CASE("conv2d: the direct path equals the im2col path", "[im2col][conv]") {
  // Output channels below, at and above one and two vectors; stride 1 (direct input gradient)
  // and not (col2im); padding 0, 1, 2 and beyond the flipped kernel's reach; dilation;
  // non-square images and kernels; batches of several sample groups.
  check_direct_against_im2col<float>({3, 5, 14, 14}, {9, 5, 5, 5}, {{1, 1}, {2, 2}});
  check_direct_against_im2col<float>({29, 3, 14, 14}, {17, 3, 4, 4}, {{2, 2}, {1, 1}});
  check_direct_against_im2col<float>({4, 2, 9, 11}, {33, 2, 3, 3}, {{1, 1}, {0, 0}});
  check_direct_against_im2col<float>({2, 1, 28, 28}, {64, 1, 4, 4}, {{2, 2}, {1, 1}});
  check_direct_against_im2col<double>({23, 2, 9, 11}, {4, 2, 3, 3}, {{1, 1}, {1, 1}});
  check_direct_against_im2col<double>({7, 2, 10, 9}, {3, 2, 5, 2}, {{2, 3}, {2, 0}, {1, 2}});
  check_direct_against_im2col<double>({5, 3, 8, 7}, {6, 3, 3, 2}, {{1, 1}, {1, 1}, {2, 1}});
  check_direct_against_im2col<double>({3, 2, 6, 6}, {5, 2, 3, 3}, {{1, 1}, {3, 2}});  // pad > k - 1
  check_direct_against_im2col<double>({2, 4, 5, 8}, {1, 4, 1, 1}, {});
  check_direct_against_im2col<float>({3, 12, 28, 28}, {1, 12, 5, 5}, {{1, 1}, {2, 2}});
  // Channel counts that are multiples of four vectors (the 3 x 32 tiles with AVX2), as the
  // input gradient's width (C_in) and as the output's (C_out).
  check_direct_against_im2col<float>({2, 32, 9, 9}, {8, 32, 3, 3}, {{1, 1}, {1, 1}});
  check_direct_against_im2col<double>({2, 16, 7, 7}, {16, 16, 3, 3}, {{1, 1}, {1, 1}});
  check_direct_against_im2col<double>({3, 4, 6, 5}, {32, 4, 3, 3}, {{2, 2}, {1, 1}});
  // The input gradient per phase at strides > 1 (StridedInputGrad): phases with no kernel taps
  // (kernel smaller than the stride), 1x1 kernels, unequal strides and kernels not a multiple
  // of the stride, padding that shifts the phases.
  check_direct_against_im2col<double>({3, 4, 11, 10}, {9, 4, 2, 2}, {{3, 3}, {1, 0}});
  check_direct_against_im2col<float>({2, 8, 9, 9}, {16, 8, 1, 1}, {{2, 2}, {0, 0}});
  check_direct_against_im2col<double>({2, 3, 12, 13}, {10, 3, 5, 4}, {{3, 2}, {2, 1}});
  check_direct_against_im2col<float>({5, 64, 14, 14}, {32, 64, 4, 4}, {{2, 2}, {1, 1}});
  // Channel counts with a last packed panel one vector wide (20 = 16 + 4 of 8, 50 = 3 x 16 + 2
  // of 8, 24 = 16 + 8 with AVX2; 10 = 8 + 2 of 4 doubles). Without padding a 5x5 kernel on 12x12
  // takes the columns path for the input gradient (the direct one would be 2.25x the work); on
  // 28x28 a 3x3 kernel without padding keeps the direct one.
  check_direct_against_im2col<float>({3, 20, 12, 12}, {50, 20, 5, 5}, {{1, 1}, {0, 0}});
  check_direct_against_im2col<float>({3, 20, 12, 12}, {50, 20, 5, 5}, {{1, 1}, {2, 2}});
  check_direct_against_im2col<float>({2, 8, 28, 28}, {24, 8, 3, 3}, {{1, 1}, {0, 0}});
  check_direct_against_im2col<double>({3, 10, 9, 8}, {10, 10, 3, 3}, {{1, 1}, {1, 1}});
  check_direct_against_im2col<double>({2, 6, 11, 9}, {18, 6, 4, 4}, {{2, 2}, {1, 1}});
  // Batch 1 with enough work that, at two threads, the products split by rows and the strided
  // input gradient by phases (one sample group: nothing above them splits), and the weight's
  // packing by columns.
  check_direct_against_im2col<float>({1, 64, 14, 14}, {128, 64, 4, 4}, {{2, 2}, {1, 1}});
  check_direct_against_im2col<float>({1, 64, 14, 14}, {64, 64, 5, 5}, {{1, 1}, {2, 2}});
  check_direct_against_im2col<float>({1, 256, 7, 7}, {512, 256, 3, 3}, {{1, 1}, {1, 1}});
}
