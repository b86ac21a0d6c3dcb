// The libtorch twin of benchmarks/bench_overhead.cpp: the same tensors, the same ops in the same
// order, the same names prefixed with torch_. See that file for what each case measures.
//
// Threads: bench::torch_set_threads (torch_threads.hpp) sets libtorch's OpenMP pool and OpenBLAS's.
// zero_grad() here resets each gradient to undefined (PyTorch 2.x's default, set_to_none), which
// is what nabla's Tensor::zero_grad() does.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <string>

#include "machine_load.hpp"
#include "torch_threads.hpp"

namespace {

using torch::Tensor;

struct SigmoidAdd {
  Tensor x, b;
  SigmoidAdd() {
    torch::manual_seed(7);
    x = torch::randn({1, 200}).requires_grad_();
    b = torch::randn({1, 200}).requires_grad_();
  }
  Tensor forward() const { return torch::sigmoid(x + b).sum(); }
};

void sigmoid_add_fwd_bwd(benchmark::State& state) {
  SigmoidAdd m;
  for (auto _ : state) {
    Tensor s = m.forward();
    s.backward();
  }
  benchmark::DoNotOptimize(m.x.grad().data_ptr());
}

void sigmoid_add_fwd_record(benchmark::State& state) {
  SigmoidAdd m;
  for (auto _ : state) {
    Tensor s = m.forward();
    benchmark::DoNotOptimize(s.data_ptr());
  }
}

void sigmoid_add_fwd_nograd(benchmark::State& state) {
  SigmoidAdd m;
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor s = m.forward();
    benchmark::DoNotOptimize(s.data_ptr());
  }
}

Tensor uniform(at::IntArrayRef shape, double bound) {
  return torch::empty(shape).uniform_(-bound, bound);
}

struct Mlp {
  Tensor x, w1, b1, w2, b2;
  Mlp() {
    torch::manual_seed(11);
    x = uniform({1, 784}, 1.0);
    w1 = uniform({784, 200}, 0.0357).requires_grad_();
    b1 = uniform({200}, 0.0357).requires_grad_();
    w2 = uniform({200, 1}, 0.0707).requires_grad_();
    b2 = uniform({1}, 0.0707).requires_grad_();
  }
  Tensor loss() const {
    const Tensor h = torch::leaky_relu(torch::matmul(x, w1) + b1, 0.2);
    const Tensor p = torch::sigmoid(torch::matmul(h, w2) + b2);
    return torch::mean(-torch::clamp_min(torch::log(p), -100.0));
  }
  void zero_grad() {
    for (Tensor* p : {&w1, &b1, &w2, &b2}) p->mutable_grad().reset();
  }
};

void mlp_fwd_bwd(benchmark::State& state) {
  Mlp m;
  for (auto _ : state) {
    m.zero_grad();
    Tensor loss = m.loss();
    loss.backward();
  }
  benchmark::DoNotOptimize(m.w1.grad().data_ptr());
}

void mlp_fwd_nograd(benchmark::State& state) {
  Mlp m;
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor loss = m.loss();
    benchmark::DoNotOptimize(loss.data_ptr());
  }
}

void register_all() {
  struct Case {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  const Case cases[] = {
      {"torch_sigmoid_add/fwd_bwd", sigmoid_add_fwd_bwd},
      {"torch_sigmoid_add/fwd_record", sigmoid_add_fwd_record},
      {"torch_sigmoid_add/fwd_nograd", sigmoid_add_fwd_nograd},
      {"torch_mlp/fwd_bwd", mlp_fwd_bwd},
      {"torch_mlp/fwd_nograd", mlp_fwd_nograd},
  };
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      const std::string name = std::string(c.name) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [fn = c.fn, threads](benchmark::State& state) {
                                     bench::torch_set_threads(threads);
                                     const bench::OthersCpu others;
                                     fn(state);
                                     others.report(state);
                                   })
          ->UseRealTime()
          ->Unit(benchmark::kNanosecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  bench::add_torch_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
