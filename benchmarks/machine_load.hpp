#pragma once
// How much of the machine other processes took while a benchmark ran. The benchmarks run on
// machines that other work may share; a timing taken while another process held a core says
// little about the code, so each benchmark reports, as the counter "others_cpu", the share of all
// cores' time that went to other processes during its timed loop:
//   (busy CPU time of the whole machine - CPU time of this process) / (wall time x cores).
// scripts/bench.sh's summary leaves out the rounds where it is high.
//
// Linux only: machine-wide time from /proc/stat (in clock ticks, 10 ms), this process's from
// getrusage (all threads).
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

namespace bench {

inline double machine_busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq)) return 0;
  return static_cast<double>(user + nice + system + irq + softirq) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

inline double own_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

class OthersCpu {
 public:
  OthersCpu()
      : busy_(machine_busy_seconds()),
        own_(own_cpu_seconds()),
        start_(std::chrono::steady_clock::now()) {}

  double share() const {
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double others = (machine_busy_seconds() - busy_) - (own_cpu_seconds() - own_);
    const long cores = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
    return wall > 0 ? std::max(0.0, others) / (wall * static_cast<double>(cores)) : 0.0;
  }
  void report(benchmark::State& state) const { state.counters["others_cpu"] = share(); }

 private:
  double busy_, own_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace bench
