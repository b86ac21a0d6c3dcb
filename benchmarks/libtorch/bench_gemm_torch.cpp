// The libtorch twin of benchmarks/bench_gemm.cpp: torch::mm on square float matrices at the same
// sizes and thread counts, under the name torch_mm. libtorch's CPU GEMM is a BLAS call; on Debian
// that is OpenBLAS (pthread build), so its thread count is set with the OpenBLAS call, next to
// torch::set_num_threads, and the figures follow OPENBLAS_CORETYPE like OpenBLAS's own.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "idle_threads.hpp"
#include "machine_load.hpp"
#include "torch_threads.hpp"

namespace {

constexpr int64_t kSizes[] = {256, 512, 1024, 2048};
constexpr int kThreadCounts[] = {1, 2};

struct Operands {
  torch::Tensor a, b;
};

Operands& operands(int64_t n) {
  static std::map<int64_t, Operands> cache;
  auto it = cache.find(n);
  if (it == cache.end()) {
    torch::manual_seed(1234 + n);
    Operands o{torch::empty({n, n}).uniform_(-1, 1), torch::empty({n, n}).uniform_(-1, 1)};
    it = cache.emplace(n, std::move(o)).first;
  }
  return it->second;
}

void torch_mm(benchmark::State& state, int64_t n, int threads) {
  torch::NoGradGuard no_grad;
  bench::torch_set_threads(threads);
  const Operands& o = operands(n);
  benchmark::DoNotOptimize(torch::mm(o.a, o.b).data_ptr());
  for (auto _ : state) {
    torch::Tensor c = torch::mm(o.a, o.b);
    benchmark::DoNotOptimize(c.data_ptr());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] = benchmark::Counter(
      2e-9 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n),
      benchmark::Counter::kIsIterationInvariantRate);
  state.counters["n"] = static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (int64_t n : kSizes)
    for (int threads : kThreadCounts) {
      const std::string name =
          "torch_mm/" + std::to_string(n) + "/threads:" + std::to_string(threads);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), [n, threads](benchmark::State& state) {
        const bench::OthersCpu others;
        torch_mm(state, n, threads);
        others.report(state);
      });
      b->UseRealTime()->Unit(benchmark::kMillisecond);
      if (threads > 1) b->Teardown([](const benchmark::State&) { bench::wait_for_idle_threads(); });
    }
  bench::add_torch_context();
  bench::wait_for_idle_threads();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bench::report_idle_waits("bench_gemm_torch");
}
