#pragma once
// GEMM through Eigen maps over nabla's buffers: a transposed or row-strided operand maps
// directly (row- or column-major with an outer stride), so no copy is made. Large products are
// split into one column (or row) block per thread, each block a single-threaded Eigen GEMM:
// measured 1.7–1.85x on two cores, where a BLAS pool beside OpenMP's made things slower.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>

#include "nabla/backend/cpu/gemm_kernel.hpp"
#include "nabla/backend/cpu/parallel.hpp"

namespace nabla::cpu {

// Element (i, j) of a matrix operand is data[i * row_stride + j * col_stride].
template <class T>
struct MatrixRef {
  T* data;
  int64_t rows, cols, row_stride, col_stride;
};

enum class Layout { RowMajor, ColMajor };

// The Eigen layout and leading dimension that address this operand without a copy, if any.
template <class T>
std::optional<std::pair<Layout, int64_t>> eigen_layout(const MatrixRef<T>& m) {
  if ((m.col_stride == 1 || m.cols == 1) && (m.rows == 1 || m.row_stride >= m.cols))
    return std::pair{Layout::RowMajor, m.rows == 1 ? m.cols : m.row_stride};
  if ((m.row_stride == 1 || m.rows == 1) && (m.cols == 1 || m.col_stride >= m.rows))
    return std::pair{Layout::ColMajor, m.cols == 1 ? m.rows : m.col_stride};
  return std::nullopt;
}

// Below this many multiply-adds a product runs on one thread.
inline constexpr int64_t kGemmParallelWork = int64_t{1} << 18;

namespace detail {
template <class T, int Order>
using ConstMatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, 0,
                               Eigen::OuterStride<>>;

template <class T, class F>
void with_map(const MatrixRef<const T>& m, Layout layout, int64_t ld, F&& f) {
  if (layout == Layout::RowMajor)
    f(ConstMatMap<T, Eigen::RowMajor>(m.data, m.rows, m.cols, Eigen::OuterStride<>(ld)));
  else
    f(ConstMatMap<T, Eigen::ColMajor>(m.data, m.rows, m.cols, Eigen::OuterStride<>(ld)));
}

// C[r0:r1, c0:c1] (+)= A[r0:r1, :] * B[:, c0:c1], single-threaded Eigen.
template <class T>
void gemm_block(const MatrixRef<const T>& a, std::pair<Layout, int64_t> la,
                const MatrixRef<const T>& b, std::pair<Layout, int64_t> lb, T* c, int64_t ldc,
                bool accumulate, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
#if NABLA_HAVE_GEMM_KERNEL
  // Matrix-vector products (one row or one column) stay with Eigen's GEMV: nothing to block.
  if (r1 - r0 >= 2 && c1 - c0 >= 2) {
    kernel::gemm<T>(r1 - r0, c1 - c0, a.cols, a.data + r0 * a.row_stride, a.row_stride,
                    a.col_stride, b.data + c0 * b.col_stride, b.row_stride, b.col_stride,
                    c + r0 * ldc + c0, ldc, accumulate);
    return;
  }
#endif
  MatrixRef<const T> ab{a.data + r0 * a.row_stride, r1 - r0, a.cols, a.row_stride, a.col_stride};
  MatrixRef<const T> bb{b.data + c0 * b.col_stride, b.rows, c1 - c0, b.row_stride, b.col_stride};
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
             Eigen::OuterStride<>>
      cm(c + r0 * ldc + c0, r1 - r0, c1 - c0, Eigen::OuterStride<>(ldc));
  with_map<T>(ab, la.first, la.second, [&](const auto& am) {
    with_map<T>(bb, lb.first, lb.second, [&](const auto& bm) {
      if (accumulate)
        cm.noalias() += am * bm;
      else
        cm.noalias() = am * bm;
    });
  });
}
}  // namespace detail

// C (row-major, leading dimension ldc) = A * B, or += with accumulate. Both operands must have
// an eigen_layout.
template <class T>
void gemm(const MatrixRef<const T>& a, const MatrixRef<const T>& b, T* c, int64_t ldc,
          bool accumulate = false) {
  const int64_t m = a.rows, n = b.cols, k = a.cols;
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, T(0));
    return;
  }
  if (k == 1 && b.col_stride == 1) {
    // An outer product (the weight gradient of a layer at batch 1): Eigen's GEMM would pack both
    // operands for a rank-1 update; scaling rows of b is three times faster.
    parallel_for(m, std::max<int64_t>(1, kElementwiseGrain / n), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const T s = a.data[i * a.row_stride];
        T* row = c + i * ldc;
        if (accumulate)
          for (int64_t j = 0; j < n; ++j) row[j] += s * b.data[j];
        else
          for (int64_t j = 0; j < n; ++j) row[j] = s * b.data[j];
      }
    });
    return;
  }
  const auto la = *eigen_layout(a), lb = *eigen_layout(b);
  const int threads = get_num_threads();
  if (threads <= 1 || omp_in_parallel() || m * n * k < kGemmParallelWork) {
    detail::gemm_block(a, la, b, lb, c, ldc, accumulate, 0, m, 0, n);
    return;
  }
  // One block per thread along the longer side of C, block edges on multiples of 16.
  const bool split_cols = n >= m;
  const int64_t extent = split_cols ? n : m;
  const int parts = static_cast<int>(std::min<int64_t>(threads, (extent + 15) / 16));
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const int64_t lo = (extent * p / parts) / 16 * 16;
    const int64_t hi = p + 1 == parts ? extent : (extent * (p + 1) / parts) / 16 * 16;
    if (lo >= hi) continue;
    if (split_cols)
      detail::gemm_block(a, la, b, lb, c, ldc, accumulate, 0, m, lo, hi);
    else
      detail::gemm_block(a, la, b, lb, c, ldc, accumulate, lo, hi, 0, n);
  }
}

}  // namespace nabla::cpu
