// sgemm C = A·B on square row-major float matrices, side by side: nabla's GEMM kernel
// (nabla::cpu::gemm), nabla::matmul on Tensor<float> (which should add nothing to the kernel), and
// OpenBLAS's cblas_sgemm. For every size and thread count the three are registered one after the
// other, so they run back to back in one process, on the same operand buffers.
//
// Thread pools: nabla runs on OpenMP's pool (nabla::set_num_threads), OpenBLAS (the pthread
// build) on its own. Each benchmark sets its library's thread count right before it runs, and
// every multi-threaded benchmark ends, outside the timing, by waiting until no other thread of the
// process uses CPU (idle_threads.hpp), so no pool is still spinning when the next benchmark starts.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nabla/nabla.hpp>
#include <string>

#include "idle_threads.hpp"
#include "machine_load.hpp"

#ifdef NABLA_BENCH_OPENBLAS
#include <cblas.h>
// OpenBLAS's extensions; declared here too in case the cblas.h found is not OpenBLAS's own.
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_corename(void);
char* openblas_get_config(void);
}
#endif

namespace {

constexpr int64_t kSizes[] = {256, 512, 1024, 2048};
constexpr int kThreadCounts[] = {1, 2};

struct Operands {
  nabla::Tensor<float> a, b, c;
};

// One set of operands per size, shared by every implementation.
Operands& operands(int64_t n) {
  static std::map<int64_t, Operands> cache;
  auto it = cache.find(n);
  if (it == cache.end()) {
    nabla::Generator gen(1234 + static_cast<uint64_t>(n));
    Operands o{nabla::Tensor<float>::uniform({n, n}, -1.f, 1.f, gen),
               nabla::Tensor<float>::uniform({n, n}, -1.f, 1.f, gen),
               nabla::Tensor<float>::zeros({n, n})};
    it = cache.emplace(n, std::move(o)).first;
  }
  return it->second;
}

nabla::cpu::MatrixRef<const float> row_major(const nabla::Tensor<float>& t) {
  const int64_t r = t.size(0), c = t.size(1);
  return {t.data(), r, c, c, 1};
}

void report_flops(benchmark::State& state, int64_t n) {
  state.counters["GFLOPs"] = benchmark::Counter(
      2e-9 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n),
      benchmark::Counter::kIsIterationInvariantRate);
  state.counters["n"] = static_cast<double>(n);
}

void nabla_gemm(benchmark::State& state, int64_t n, int threads) {
  nabla::set_num_threads(threads);
  Operands& o = operands(n);
  const auto a = row_major(o.a), b = row_major(o.b);
  float* c = o.c.data();
  nabla::cpu::gemm(a, b, c, n);  // warm-up: caches, page tables, the thread pool
  for (auto _ : state) {
    nabla::cpu::gemm(a, b, c, n);
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  report_flops(state, n);
}

void nabla_matmul(benchmark::State& state, int64_t n, int threads) {
  nabla::set_num_threads(threads);
  Operands& o = operands(n);
  benchmark::DoNotOptimize(nabla::matmul(o.a, o.b).data());
  for (auto _ : state) {
    nabla::Tensor<float> c = nabla::matmul(o.a, o.b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, n);
}

#ifdef NABLA_BENCH_OPENBLAS
void blas_sgemm(const Operands& o, int64_t n) {
  const int ni = static_cast<int>(n);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.f, o.a.data(), ni,
              o.b.data(), ni, 0.f, o.c.data(), ni);
}

void openblas_sgemm(benchmark::State& state, int64_t n, int threads) {
  openblas_set_num_threads(threads);
  Operands& o = operands(n);
  blas_sgemm(o, n);
  for (auto _ : state) {
    blas_sgemm(o, n);
    benchmark::DoNotOptimize(o.c.data());
    benchmark::ClobberMemory();
  }
  report_flops(state, n);
}

// Both must compute the same product; a benchmark of a wrong result is worthless.
void check_against_openblas() {
  constexpr int64_t n = 256;
  Operands& o = operands(n);
  openblas_set_num_threads(1);
  blas_sgemm(o, n);
  const nabla::Tensor<float> expected = o.c.clone();
  nabla::set_num_threads(1);
  const nabla::Tensor<float> got = nabla::matmul(o.a, o.b);
  double worst = 0;
  for (int64_t i = 0; i < n * n; ++i)
    worst = std::max(worst, std::abs(double(got.data()[i]) - double(expected.data()[i])));
  if (worst > 1e-3) {
    std::fprintf(stderr, "bench_gemm: nabla::matmul and cblas_sgemm differ by %g at n=%lld\n",
                 worst, static_cast<long long>(n));
    std::exit(1);
  }
}
#endif

const char* env_or_unset(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "(unset)";
}

void register_all() {
  using Fn = void (*)(benchmark::State&, int64_t, int);
  struct Impl {
    const char* name;
    Fn fn;
  };
  const Impl impls[] = {
      {"nabla_gemm", nabla_gemm},
      {"nabla_matmul", nabla_matmul},
#ifdef NABLA_BENCH_OPENBLAS
      {"openblas_sgemm", openblas_sgemm},
#endif
  };
  for (int64_t n : kSizes)
    for (int threads : kThreadCounts)
      for (const Impl& impl : impls) {
        const std::string name = std::string(impl.name) + "/" + std::to_string(n) +
                                 "/threads:" + std::to_string(threads);
        auto* b = benchmark::RegisterBenchmark(name.c_str(),
                                               [fn = impl.fn, n, threads](benchmark::State& state) {
                                                 const bench::OthersCpu others;
                                                 fn(state, n, threads);
                                                 others.report(state);
                                               });
        b->UseRealTime()->Unit(benchmark::kMillisecond);
        if (threads > 1)
          b->Teardown([](const benchmark::State&) { bench::wait_for_idle_threads(); });
      }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", env_or_unset("OPENBLAS_CORETYPE"));
  benchmark::AddCustomContext("OPENBLAS_L2_SIZE", env_or_unset("OPENBLAS_L2_SIZE"));
  benchmark::AddCustomContext("OMP_WAIT_POLICY", env_or_unset("OMP_WAIT_POLICY"));
#ifdef NABLA_BENCH_OPENBLAS
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  check_against_openblas();
#endif
  bench::wait_for_idle_threads();  // OpenBLAS's workers spin for a while after it loads
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  bench::report_idle_waits("bench_gemm");
}
