// cpu::gemm (nabla's packed kernel where the CPU has AVX-512 or AVX2, Eigen otherwise) against a
// plain triple loop in long double: every operand layout (row-major, column-major, strided rows),
// sizes around the kernel's register tile and cache blocks, accumulate on and off, 1 and 2
// threads, float and double.
#include <catch2/catch.hpp>
#include <cmath>
#include <nabla/nabla.hpp>
#include <random>
#include <vector>

using namespace nabla;

namespace {

enum class Form { RowMajor, ColMajor, Padded };

template <class T>
struct Operand {
  std::vector<T> storage;
  cpu::MatrixRef<const T> ref;
};

// A rows x cols matrix of values in [-1, 1] laid out as asked; Padded = row-major with 3 unused
// elements after each row.
template <class T>
Operand<T> make(int64_t rows, int64_t cols, Form form, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-1, 1);
  Operand<T> o;
  const int64_t ld = form == Form::ColMajor ? rows : cols + (form == Form::Padded ? 3 : 0);
  o.storage.assign(static_cast<size_t>(form == Form::ColMajor ? ld * cols : ld * rows + 1), T(0));
  for (auto& v : o.storage) v = static_cast<T>(dist(rng));
  if (form == Form::ColMajor)
    o.ref = {o.storage.data(), rows, cols, 1, ld};
  else
    o.ref = {o.storage.data(), rows, cols, ld, 1};
  return o;
}

template <class T>
T at(const cpu::MatrixRef<const T>& m, int64_t i, int64_t j) {
  return m.data[i * m.row_stride + j * m.col_stride];
}

template <class T>
void check_product(int64_t m, int64_t n, int64_t k, Form fa, Form fb, bool accumulate, int threads,
                   std::mt19937& rng) {
  const Operand<T> a = make<T>(m, k, fa, rng), b = make<T>(k, n, fb, rng);
  const int64_t ldc = n + 5;
  std::vector<T> c(static_cast<size_t>(m * ldc));
  std::uniform_real_distribution<double> dist(-1, 1);
  for (auto& v : c) v = static_cast<T>(dist(rng));
  const std::vector<T> before = c;
  set_num_threads(threads);
  cpu::gemm(a.ref, b.ref, c.data(), ldc, accumulate);
  set_num_threads(1);
  const double tol = (std::is_same_v<T, float> ? 2e-6 : 1e-14) * static_cast<double>(k + 1);
  double worst = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t idx = static_cast<size_t>(i * ldc + j);
      if (j >= n) {  // outside C: untouched
        REQUIRE(c[idx] == before[idx]);
        continue;
      }
      long double want = accumulate ? before[idx] : 0;
      for (int64_t p = 0; p < k; ++p)
        want += static_cast<long double>(at(a.ref, i, p)) * at(b.ref, p, j);
      worst =
          std::max(worst, static_cast<double>(std::fabs(want - static_cast<long double>(c[idx]))));
    }
  }
  INFO("m=" << m << " n=" << n << " k=" << k << " forms " << int(fa) << int(fb) << " accumulate "
            << accumulate << " threads " << threads);
  CHECK(worst <= tol);
}

}  // namespace

TEMPLATE_TEST_CASE("gemm matches a reference product", "[gemm]", float, double) {
  std::mt19937 rng(42);
  const int64_t sizes[][3] = {{2, 2, 2},      {1, 37, 5},    {37, 1, 5},    {13, 31, 7},
                              {14, 32, 1},    {15, 33, 17},  {28, 64, 384}, {29, 65, 385},
                              {6, 16, 3},     {7, 17, 800},  {170, 50, 20}, {3, 700, 9},
                              {100, 2100, 4}, {40, 16, 600}, {33, 9, 100}};
  for (const auto& s : sizes)
    for (Form fa : {Form::RowMajor, Form::ColMajor, Form::Padded})
      for (Form fb : {Form::RowMajor, Form::ColMajor, Form::Padded})
        for (bool accumulate : {false, true})
          check_product<TestType>(s[0], s[1], s[2], fa, fb, accumulate, 1, rng);
}

TEMPLATE_TEST_CASE("gemm splits across threads without changing the result", "[gemm]", float,
                   double) {
  std::mt19937 rng(7);
  for (bool accumulate : {false, true}) {
    check_product<TestType>(300, 257, 513, Form::RowMajor, Form::RowMajor, accumulate, 2, rng);
    check_product<TestType>(517, 90, 200, Form::ColMajor, Form::RowMajor, accumulate, 2, rng);
    check_product<TestType>(64, 700, 100, Form::RowMajor, Form::ColMajor, accumulate, 2, rng);
  }
}

#if NABLA_HAVE_GEMM_KERNEL
TEMPLATE_TEST_CASE("kernel::transpose moves every element once, at any size and stride", "[gemm]",
                   float, double) {
  // Sizes below, at and across the 8 x 8 vector blocks; source and destination rows padded.
  for (int64_t rows : {1, 7, 8, 9, 16, 23})
    for (int64_t cols : {1, 5, 8, 13, 24}) {
      const int64_t lds = cols + 3, ldd = rows + 5;
      std::vector<TestType> src(static_cast<size_t>(rows * lds));
      for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<TestType>(i) + TestType(0.5);
      std::vector<TestType> dst(static_cast<size_t>(cols * ldd), TestType(-1));
      cpu::kernel::transpose(src.data(), lds, rows, cols, dst.data(), ldd);
      INFO(rows << " x " << cols);
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t i = 0; i < ldd; ++i)
          REQUIRE(dst[static_cast<size_t>(j * ldd + i)] ==
                  (i < rows ? src[static_cast<size_t>(i * lds + j)] : TestType(-1)));
    }
}

TEMPLATE_TEST_CASE("kernel::pack_panels: a last panel one vector wide where it fits", "[gemm]",
                   float, double) {
  constexpr int64_t W = cpu::kernel::Simd<TestType>::kWidth;
  const int64_t k = 3;
  for (int64_t n : {int64_t{1}, W, W + 1, 2 * W, 2 * W + 3, 3 * W, 5 * W + 1}) {
    std::vector<TestType> packed(
        static_cast<size_t>(cpu::kernel::packed_panels_size<TestType>(k, n)), TestType(-1));
    std::vector<TestType> rows(static_cast<size_t>(k * n));
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j)
        rows[static_cast<size_t>(p * n + j)] = static_cast<TestType>(100 * p + j);
    cpu::kernel::pack_panels<TestType>(
        k, n, [&](int64_t p) { return rows.data() + p * n; }, packed.data());
    INFO("n = " << n);
    // Every element where packed_offset says, and the padding zero.
    std::vector<int> used(packed.size(), 0);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) {
        const auto at = static_cast<size_t>(cpu::kernel::packed_offset<TestType>(k, n, p, j));
        REQUIRE(at < packed.size());
        CHECK(packed[at] == static_cast<TestType>(100 * p + j));
        ++used[at];
      }
    for (size_t i = 0; i < packed.size(); ++i)
      if (used[i] == 0) CHECK(packed[i] == TestType(0));
    // No lane wasted beyond rounding n up to a whole vector (two-vector panels alone would
    // pad 2W + 3 columns to 4W).
    CHECK(static_cast<int64_t>(packed.size()) == k * ((n + W - 1) / W * W));
  }
}
#endif
