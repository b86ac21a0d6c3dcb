#pragma once
// The one thread pool of the process is OpenMP's. Work is split into a fixed number of static
// chunks only when there is enough of it; below `grain` items it runs inline on the caller, so
// small tensors (batch 1) never pay for waking threads.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>

#include <omp.h>

#include "nabla/core/error.hpp"

namespace nabla {

namespace detail {
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> n{0};  // 0 = not set yet: OpenMP's default
  return n;
}
}  // namespace detail

inline void set_num_threads(int n) {
  NABLA_CHECK(n >= 1, "set_num_threads: expected at least 1 thread, got ", n);
  detail::thread_setting() = n;
  omp_set_num_threads(n);
}

inline int get_num_threads() {
  const int n = detail::thread_setting().load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

namespace cpu {

// Elementwise work below this many elements runs on one thread.
inline constexpr int64_t kElementwiseGrain = 32768;

// Calls f(begin, end) over [0, n) split into contiguous chunks, one per thread. The split depends
// only on n and the thread count, so results are reproducible for a given thread count.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), n / std::max<int64_t>(grain, 1)));
  if (threads <= 1 || omp_in_parallel()) {
    f(int64_t{0}, n);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    try {
      f(begin, end);
    } catch (...) {
#pragma omp critical(nabla_parallel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace cpu
}  // namespace nabla
