// The libtorch twin of benchmarks/bench_gemm.cpp: torch::mm on square float matrices at the same
// sizes and thread counts, under the name torch_mm. libtorch's CPU GEMM is a BLAS call; on Debian
// that is OpenBLAS (pthread build), so its thread count is set with the OpenBLAS call, next to
// torch::set_num_threads, and the figures follow OPENBLAS_CORETYPE like OpenBLAS's own.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "idle_threads.hpp"
#include "machine_load.hpp"

#ifdef NABLA_BENCH_OPENBLAS
extern "C" {
void openblas_set_num_threads(int num_threads);
char* openblas_get_corename(void);
}
#endif

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
  torch::set_num_threads(threads);
#ifdef NABLA_BENCH_OPENBLAS
  openblas_set_num_threads(threads);
#endif
  const Operands& o = operands(n);
  benchmark::DoNotOptimize(torch::mm(o.a, o.b).data_ptr());
  for (auto _ : state) {
    torch::Tensor c = torch::mm(o.a, o.b);
    benchmark::DoNotOptimize(c.data_ptr());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] =
      benchmark::Counter(2e-9 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n),
                         benchmark::Counter::kIsIterationInvariantRate);
  state.counters["n"] = static_cast<double>(n);
}

const char* env_or_unset(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "(unset)";
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (int64_t n : kSizes)
    for (int threads : kThreadCounts) {
      const std::string name = "torch_mm/" + std::to_string(n) + "/threads:" + std::to_string(threads);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), [n, threads](benchmark::State& state) {
        const bench::OthersCpu others;
        torch_mm(state, n, threads);
        others.report(state);
      });
      b->UseRealTime()->Unit(benchmark::kMillisecond);
      if (threads > 1) b->Teardown([](const benchmark::State&) { bench::wait_for_idle_threads(); });
    }
  benchmark::AddCustomContext("torch_version", TORCH_VERSION);
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", env_or_unset("OPENBLAS_CORETYPE"));
  benchmark::AddCustomContext("OPENBLAS_L2_SIZE", env_or_unset("OPENBLAS_L2_SIZE"));
#ifdef NABLA_BENCH_OPENBLAS
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
#endif
  bench::wait_for_idle_threads();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const bench::IdleStats& idle = bench::idle_stats();
  std::fprintf(stderr, "bench_gemm_torch: waited %.0f ms in all (at most %.0f ms at once, %d timeouts) for thread pools to go idle\n",
               idle.total_wait_ms, idle.max_wait_ms, idle.timeouts);
}
