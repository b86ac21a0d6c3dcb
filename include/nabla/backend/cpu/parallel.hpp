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

// Memory-bound work splits over threads only in chunks of at least this many elements (1 MiB of
// floats, half a core's L2 here). Below that, the cache lines a second core would touch have to
// move between cores afterwards, which costs more than the split saves: at batch 1 a 32k grain
// made a whole GAN step 1.5x slower on two threads than on one.
inline constexpr int64_t kElementwiseGrain = int64_t{1} << 18;

// Work that costs an exp or a log per element (softmax rows, cross-entropy) is compute-bound:
// 32k elements take 50-100 us here, well above a fork-join, so it splits from this size on.
inline constexpr int64_t kTranscendentalGrain = int64_t{1} << 15;

// How many chunks parallel_chunks would use for n items with at least `grain` items each.
inline int chunk_count(int64_t n, int64_t grain) {
  if (omp_in_parallel()) return 1;
  return static_cast<int>(std::clamp<int64_t>(n / std::max<int64_t>(grain, 1), 1, get_num_threads()));
}

// Calls f(chunk, begin, end) over [0, n) split into `chunks` contiguous ranges, one per thread.
// The split depends only on n and chunks, so results are reproducible for a given thread count.
template <class F>
void parallel_chunks(int64_t n, int chunks, F&& f) {
  if (n <= 0) return;
  if (chunks <= 1) {
    f(0, int64_t{0}, n);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int t = 0; t < chunks; ++t) {
    try {
      f(t, n * t / chunks, n * (t + 1) / chunks);
    } catch (...) {
#pragma omp critical(nabla_parallel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Calls f(begin, end) over [0, n); below 2 * grain items it runs inline on the caller.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n < 2 * grain) {  // the common case at batch 1: no call into the OpenMP runtime at all
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  parallel_chunks(n, chunk_count(n, grain), [&](int, int64_t begin, int64_t end) { f(begin, end); });
}

}  // namespace cpu
}  // namespace nabla
