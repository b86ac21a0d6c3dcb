#pragma once
// Waits until no other thread of this process is burning CPU. Thread pools spin for a while after
// their last job before they sleep: OpenBLAS's pthread workers for 2^28 TSC cycles (about 0.1 s),
// libgomp's for its spin count. On two cores a pool still spinning from the previous benchmark
// takes a core from the next one, so every multi-threaded benchmark ends with this wait, and its
// cost is kept out of the timings (it runs in Teardown).
//
// Linux only: it reads each thread's on-CPU time (ns) from /proc/self/task/<tid>/schedstat.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

namespace bench {

inline std::map<long, uint64_t> other_threads_cpu_ns() {
  std::map<long, uint64_t> out;
  const long self = static_cast<long>(::syscall(SYS_gettid));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    const long tid = std::stol(entry.path().filename().string());
    if (tid == self) continue;
    std::ifstream in(entry.path() / "schedstat");
    uint64_t ns = 0;
    if (in >> ns) out[tid] = ns;
  }
  return out;
}

struct IdleStats {
  double max_wait_ms = 0;
  double total_wait_ms = 0;
  int timeouts = 0;
};
inline IdleStats& idle_stats() {
  static IdleStats stats;
  return stats;
}

// Returns once, over a 5 ms window, every other thread used under 0.5 ms of CPU (or after
// `limit`); the time waited goes into idle_stats().
inline void wait_for_idle_threads(
    std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
  using clock = std::chrono::steady_clock;
  constexpr auto window = std::chrono::milliseconds(5);
  constexpr uint64_t busy_ns = 500'000;
  const auto start = clock::now();
  auto before = other_threads_cpu_ns();
  for (;;) {
    std::this_thread::sleep_for(window);
    auto after = other_threads_cpu_ns();
    bool idle = true;
    for (const auto& [tid, ns] : after) {
      const auto it = before.find(tid);
      if (it != before.end() && ns - it->second > busy_ns) idle = false;
    }
    const double waited = std::chrono::duration<double, std::milli>(clock::now() - start).count();
    if (idle || clock::now() - start > limit) {
      IdleStats& s = idle_stats();
      if (!idle) ++s.timeouts;
      s.max_wait_ms = std::max(s.max_wait_ms, waited);
      s.total_wait_ms += waited;
      return;
    }
    before = std::move(after);
  }
}

// The line each program prints to stderr at its end.
inline void report_idle_waits(const char* program) {
  const IdleStats& s = idle_stats();
  std::fprintf(stderr,
               "%s: waited %.0f ms in all (at most %.0f ms at once, %d timeouts) for thread pools "
               "to go idle\n",
               program, s.total_wait_ms, s.max_wait_ms, s.timeouts);
}

}  // namespace bench
