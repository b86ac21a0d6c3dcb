#pragma once
// Thread count for the libtorch twins. torch::set_num_threads(t) sets libtorch's OpenMP pool (its
// own loops and oneDNN's convolutions); its GEMMs run in OpenBLAS's pthread pool, which
// torch::set_num_threads does not reach (libtorch 1.13 imports only sgemm_ from it), so that is
// set to t too. A "1 thread" libtorch figure is then really one thread.
//
// At t = 2 on two cores that is two pools spinning against each other (libtorch's default
// here, since OpenBLAS starts one thread per core); NABLA_BENCH_BLAS_THREADS=1 in the environment
// keeps OpenBLAS on one thread whatever t is, which scripts/bench.sh also measures, so that the
// two-thread comparison is against libtorch's best configuration too.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#ifdef NABLA_BENCH_OPENBLAS
extern "C" void openblas_set_num_threads(int num_threads);
extern "C" char* openblas_get_corename(void);
#endif

namespace bench {

// NABLA_BENCH_BLAS_THREADS, or 0 when unset.
inline int blas_threads_override() {
  const char* v = std::getenv("NABLA_BENCH_BLAS_THREADS");
  return v ? std::atoi(v) : 0;
}

inline void torch_set_threads(int threads) {
  torch::set_num_threads(threads);
#ifdef NABLA_BENCH_OPENBLAS
  const int blas = blas_threads_override();
  openblas_set_num_threads(blas > 0 ? blas : threads);
#endif
}

// Gradients to none, as nabla's zero_grad() and PyTorch 2's default (libtorch 1.13's
// Optimizer::zero_grad() fills them with zeros instead).
inline void zero_grad_to_none(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params()) p.mutable_grad().reset();
}

// The benchmark context every libtorch program records: which libtorch, which OpenBLAS kernels
// and how many OpenBLAS threads, whether oneDNN (mkldnn) is on.
inline void add_torch_context() {
  benchmark::AddCustomContext("torch_version", TORCH_VERSION);
  for (const char* name : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}) {
    const char* value = std::getenv(name);
    benchmark::AddCustomContext(name, value ? value : "(unset)");
  }
#ifdef NABLA_BENCH_OPENBLAS
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
#endif
  const int blas = blas_threads_override();
  benchmark::AddCustomContext("openblas_threads", blas > 0 ? std::to_string(blas) : "as torch");
  benchmark::AddCustomContext(
      "mkldnn", at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() ? "on" : "off");
}

}  // namespace bench
