#pragma once
// Registration shared by the layer and GAN-step benchmarks of both libraries (bench_layers,
// bench_gan and their libtorch twins): one benchmark per thread count, named
// "<name>/threads:<t>", which sets the library's thread count right before it runs, reports
// "others_cpu" (machine_load.hpp), and, when it used more than one thread, waits in Teardown (not
// timed) until the process's thread pools stop spinning (idle_threads.hpp).
//
// Heavy cases (a batch-128 convolution, a DCGAN step: tens to hundreds of ms) run a fixed number
// of iterations instead of --benchmark_min_time: Google Benchmark would otherwise call them
// several times to size the run, each call building and warming up its model again.
#include <benchmark/benchmark.h>

#include <functional>
#include <string>

#include "idle_threads.hpp"
#include "machine_load.hpp"

namespace bench {

constexpr int kThreadCounts[] = {1, 2};

struct Run {
  benchmark::TimeUnit unit = benchmark::kMicrosecond;
  int iterations = 0;  // 0: as many as --benchmark_min_time asks for
};

// set_threads(t) sets the library's pools; fn(state) builds the case, warms it up and runs the
// timed loop.
inline void register_threaded(const std::string& name, const std::function<void(int)>& set_threads,
                              const std::function<void(benchmark::State&)>& fn, Run run) {
  for (int threads : kThreadCounts) {
    const std::string full = name + "/threads:" + std::to_string(threads);
    auto* b = benchmark::RegisterBenchmark(full.c_str(),
                                           [set_threads, fn, threads](benchmark::State& state) {
                                             set_threads(threads);
                                             const OthersCpu others;
                                             fn(state);
                                             others.report(state);
                                           });
    b->UseRealTime()->Unit(run.unit);
    if (run.iterations > 0) b->Iterations(run.iterations);
    if (threads > 1) b->Teardown([](const benchmark::State&) { wait_for_idle_threads(); });
  }
}

}  // namespace bench
