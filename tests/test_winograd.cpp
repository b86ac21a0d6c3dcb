// conv2d's Winograd path (float, stride 1, kernels 3x3 to 5x5; cpu/winograd.hpp and conv.hpp):
// forward, input gradient and weight gradient against the same convolution in double on the
// direct path, for square and non-square kernels and images, padding 0 to beyond k - 1, tiles
// cut by the image's edge, several tile blocks, 1 and 2 threads. Also the transforms' algebra
// (exact in double), that the path is taken where it should be and not elsewhere, and that
// turning it off gives the direct path's results.
#include <catch2/catch.hpp>
#include <cmath>
#include <nabla/nabla.hpp>
#include <vector>

using namespace nabla;

#if NABLA_HAVE_GEMM_KERNEL
namespace {

Tensor<float> to_float(const Tensor<double>& t) {
  const std::vector<double> v = t.to_vector();
  const std::vector<float> f(v.begin(), v.end());
  return Tensor<float>::from(std::span<const float>(f), t.shape());
}

// max |a - ref| / max |ref|
double relative_error(const std::vector<float>& a, const std::vector<double>& ref) {
  REQUIRE(a.size() == ref.size());
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return err / std::max(scale, 1e-30);
}

cpu::ConvGeometry geometry_of(const Shape& x, const Shape& w, int64_t ph, int64_t pw) {
  return {x[1], x[2], x[3], w[2], w[3], 1, 1, ph, pw, 1, 1, x[2] + 2 * ph - w[2] + 1,
          x[3] + 2 * pw - w[3] + 1};
}

struct Grads {
  std::vector<float> y, gx, gw, gb;
};

Grads run_float(const Tensor<double>& xd, const Tensor<double>& wd, const Tensor<double>& bd,
                const Tensor<double>& gyd, Conv2dOptions o, bool winograd) {
  const bool saved = detail::conv_winograd;
  detail::conv_winograd = winograd;
  Tensor<float> x = to_float(xd).requires_grad_(), w = to_float(wd).requires_grad_();
  Tensor<float> b = to_float(bd).requires_grad_();
  const Tensor<float> y = conv2d(x, w, b, o);
  y.backward(to_float(gyd));
  detail::conv_winograd = saved;
  return {y.to_vector(), x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
}

void check_winograd(const Shape& x_shape, const Shape& w_shape, int64_t ph, int64_t pw,
                    int64_t block_bytes = detail::conv_winograd_block_bytes,
                    int64_t group_bytes = detail::conv_winograd_group_bytes) {
  const int64_t saved_block = detail::conv_winograd_block_bytes;
  const int64_t saved_group = detail::conv_winograd_group_bytes;
  const int64_t saved_tiles = detail::conv_winograd_min_tiles;
  detail::conv_winograd_block_bytes = block_bytes;
  detail::conv_winograd_group_bytes = group_bytes;
  // The path's results at small shapes, whatever the machine's threshold for choosing it.
  detail::conv_winograd_min_tiles = 1;
  Conv2dOptions o;
  o.padding = {ph, pw};
  const cpu::ConvGeometry geo = geometry_of(x_shape, w_shape, ph, pw);
  const int64_t n = x_shape[0], c_out = w_shape[0];
  // The shape takes the Winograd forward and weight gradient; the input gradient too when the
  // padding is at most k - 1.
  REQUIRE(detail::winograd_forward<float>(geo, n, c_out));
  const bool input_grad = ph <= w_shape[2] - 1 && pw <= w_shape[3] - 1;
  CHECK(detail::winograd_input_grad<float>(geo, n, c_out) == input_grad);
  CHECK_FALSE(detail::winograd_forward<double>(geo, n, c_out));

  Generator gen(11);
  Tensor<double> xd = Tensor<double>::uniform(x_shape, -1, 1, gen).requires_grad_();
  Tensor<double> wd = Tensor<double>::uniform(w_shape, -0.2, 0.2, gen).requires_grad_();
  Tensor<double> bd = Tensor<double>::uniform({c_out}, -1, 1, gen).requires_grad_();
  const Tensor<double> yd = conv2d(xd, wd, bd, o);
  const Tensor<double> gyd = Tensor<double>::uniform(yd.shape(), -1, 1, gen);
  yd.backward(gyd);

  const int previous = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    INFO("input " << x_shape << ", weight " << w_shape << ", padding " << ph << "x" << pw << ", "
                  << threads << " threads");
    const Grads wino = run_float(xd, wd, bd, gyd, o, true);
    const Grads direct = run_float(xd, wd, bd, gyd, o, false);
    // The direct float path is ~5e-7 from double here; Winograd's transforms add a few 1e-6
    // (the largest transform coefficient is 8). 3e-5 is an order of magnitude above what was
    // measured and far below what a wrong tap or tile would give (errors of order 1).
    constexpr double kTol = 3e-5;
    CHECK(relative_error(wino.y, yd.to_vector()) < kTol);
    CHECK(relative_error(wino.gx, xd.grad().to_vector()) < kTol);
    CHECK(relative_error(wino.gw, wd.grad().to_vector()) < kTol);
    CHECK(relative_error(wino.gb, bd.grad().to_vector()) < 1e-5);
    CHECK(relative_error(direct.y, yd.to_vector()) < 1e-5);
    // Off, the direct path: not the same rounding as Winograd.
    CHECK(direct.y != wino.y);
  }
  set_num_threads(previous);
  detail::conv_winograd_block_bytes = saved_block;
  detail::conv_winograd_group_bytes = saved_group;
  detail::conv_winograd_min_tiles = saved_tiles;
}

}  // namespace

#endif  // NABLA_HAVE_GEMM_KERNEL

TEST_CASE("winograd transforms reproduce the direct convolution exactly in double",
          "[winograd]") {
  namespace wg = cpu::winograd;
  // One 6 x 6 input tile d and one kernel g: A_h^T [(G_h g G_w^T) . (B^T d B)] A_w equals the
  // correlation of d with g on the m_h x m_w outputs.
  const double bt[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                           {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  for (int kh = 3; kh <= 5; ++kh)
    for (int kw = 3; kw <= 5; ++kw) {
      const int mh = wg::output_tile(kh), mw = wg::output_tile(kw);
      double d[6][6], g[5][5];
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) d[i][j] = std::sin(1.3 * i + 0.7 * j + kh);
      for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j) g[i][j] = std::cos(0.9 * i - 1.1 * j + kw);
      double u[36], v[36] = {};
      wg::kernel_transform<double>(kh, kw, [&](int y, int x) { return g[y][x]; }, u, 1);
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j)
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b) v[i * 6 + j] += bt[i][a] * d[a][b] * bt[j][b];
      // A^T[i][k] = p_k^i for the points 0, 1, -1, 2, -2, and 1 at (m - 1, infinity).
      auto at = [](int m, int i, int k) {
        const double p[5] = {0, 1, -1, 2, -2};
        if (k == 5) return i == m - 1 ? 1.0 : 0.0;
        return std::pow(p[k], i);
      };
      for (int oy = 0; oy < mh; ++oy)
        for (int ox = 0; ox < mw; ++ox) {
          double y = 0, ref = 0;
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b) y += at(mh, oy, a) * u[a * 6 + b] * v[a * 6 + b] * at(mw, ox, b);
          for (int ky = 0; ky < kh; ++ky)
            for (int kx = 0; kx < kw; ++kx) ref += d[oy + ky][ox + kx] * g[ky][kx];
          INFO("kernel " << kh << "x" << kw << ", output (" << oy << ", " << ox << ")");
          CHECK(y == Approx(ref).margin(1e-12));
        }
      // The adjoint transform is G^T . G: for dU = U's own transform of a unit tap it returns
      // (G^T G g G^T G); check it against that product directly.
      double gw[5][5];
      wg::kernel_transform_adjoint<double>(kh, kw, u, 1, [&](int y, int x, double val) { gw[y][x] = val; });
      for (int y = 0; y < kh; ++y)
        for (int x = 0; x < kw; ++x) {
          double ref = 0;
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b)
              ref += wg::g_coef(a, y, kh) * u[a * 6 + b] * wg::g_coef(b, x, kw);
          CHECK(gw[y][x] == Approx(ref).margin(1e-12));
        }
    }
}

#if NABLA_HAVE_GEMM_KERNEL
TEST_CASE("conv2d: the Winograd path against double", "[winograd][conv]") {
  // The row-8 shapes in small: 5x5 with padding 2 on 14x14 and 7x7.
  check_winograd({6, 16, 14, 14}, {32, 16, 5, 5}, 2, 2);
  check_winograd({9, 32, 7, 7}, {16, 32, 5, 5}, 2, 2);
  // 3x3 (4x4 output tiles) with the image's edge cutting tiles; 4x4 (3x3 tiles), no padding.
  check_winograd({8, 16, 13, 11}, {32, 16, 3, 3}, 1, 1);
  // A last packed panel one vector wide (3 and 5 vectors: 24 = 16 + 8, 40 = 2 x 16 + 8 with
  // AVX2; 48 and 80 with AVX-512), in C_out for the forward and the weight gradient and in C_in
  // for the input gradient.
  constexpr int64_t W = cpu::kernel::Simd<float>::kWidth;
  check_winograd({8, 3 * W, 10, 10}, {3 * W, 3 * W, 3, 3}, 1, 1);
  check_winograd({5, 16, 9, 9}, {5 * W, 16, 5, 5}, 2, 2);
  check_winograd({8, 32, 13, 11}, {32, 32, 4, 4}, 0, 0);
  // Non-square kernels and padding, beyond k - 1 (no Winograd input gradient there).
  check_winograd({8, 16, 9, 10}, {16, 16, 3, 5}, 1, 2);
  check_winograd({4, 16, 8, 8}, {16, 16, 5, 5}, 4, 4);
  // Many tile blocks (the smallest, 24 tiles), and a short last one, per thread.
  check_winograd({40, 16, 12, 12}, {16, 16, 3, 3}, 1, 1, 1);
  check_winograd({7, 16, 14, 14}, {16, 16, 5, 5}, 2, 2, 1);
  // Batch 1 with 64 tiles: at two threads, two smaller blocks instead of one.
  check_winograd({1, 16, 32, 32}, {32, 16, 3, 3}, 1, 1);
  // The batch in groups of samples: one sample per group, and groups of two.
  check_winograd({7, 16, 14, 14}, {32, 16, 5, 5}, 2, 2, detail::conv_winograd_block_bytes, 1);
  check_winograd({8, 16, 9, 10}, {16, 16, 3, 5}, 1, 2, 1, 3 * 16 * 16 * 19 * 4);
}

TEST_CASE("conv2d: where the Winograd path applies", "[winograd][conv]") {
  auto fwd = [](Shape x, Shape w, int64_t stride, int64_t dilation) {
    const int64_t eh = dilation * (w[2] - 1) + 1, ew = dilation * (w[3] - 1) + 1;
    const cpu::ConvGeometry geo{x[1], x[2], x[3], w[2], w[3], stride, stride, 1, 1, dilation,
                                dilation, (x[2] + 2 - eh) / stride + 1, (x[3] + 2 - ew) / stride + 1};
    return detail::winograd_forward<float>(geo, x[0], w[0]);
  };
  CHECK(fwd({128, 128, 14, 14}, {64, 128, 5, 5}, 1, 1));
  CHECK(fwd({64, 16, 8, 8}, {16, 16, 3, 3}, 1, 1));
  CHECK_FALSE(fwd({128, 64, 14, 14}, {128, 64, 4, 4}, 2, 1));   // stride 2
  CHECK_FALSE(fwd({128, 16, 14, 14}, {16, 16, 3, 3}, 1, 2));    // dilation
  CHECK_FALSE(fwd({128, 16, 14, 14}, {16, 16, 2, 2}, 1, 1));    // 2x2 kernel
  CHECK_FALSE(fwd({128, 16, 14, 14}, {16, 16, 7, 7}, 1, 1));    // 7x7 kernel
  CHECK_FALSE(fwd({128, 1, 28, 28}, {256, 1, 5, 5}, 1, 1));     // one input channel
  CHECK_FALSE(fwd({128, 12, 14, 14}, {16, 12, 3, 3}, 1, 1));    // not a multiple of the vector
  CHECK_FALSE(fwd({1, 16, 8, 8}, {16, 16, 3, 3}, 1, 1));        // batch 1: 4 tiles
  // The tile threshold (64 with AVX2, 256 with AVX-512): 3x3 on 16x16 is 16 tiles per sample.
  const int64_t at_threshold = (detail::conv_winograd_min_tiles + 15) / 16;
  CHECK(fwd({at_threshold, 16, 16, 16}, {16, 16, 3, 3}, 1, 1));
  CHECK_FALSE(fwd({at_threshold - 1, 16, 16, 16}, {16, 16, 3, 3}, 1, 1));
  const bool saved = conv_winograd();
  set_conv_winograd(false);
  CHECK_FALSE(fwd({128, 128, 14, 14}, {64, 128, 5, 5}, 1, 1));
  set_conv_winograd(saved);
  CHECK(fwd({128, 128, 14, 14}, {64, 128, 5, 5}, 1, 1) == saved);
}
#endif  // NABLA_HAVE_GEMM_KERNEL
