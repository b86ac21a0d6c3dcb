// What one small autograd step costs at batch 1, where the arithmetic is a few hundred flops and
// everything else (allocation, graph recording, dispatch, the backward walk) is overhead.
// benchmarks/libtorch/bench_overhead_torch.cpp does the same work with libtorch under the same
// names prefixed with torch_.
//
//   sigmoid_add/*   x, b: [1, 200] float, requires_grad;  y = sigmoid(x + b)
//     fwd_bwd         y, then sum(y).backward() (x.grad and b.grad accumulate across iterations)
//     fwd_record      y and sum(y) with the graph recorded, then dropped without a backward
//     fwd_nograd      y and sum(y) under NoGradGuard
//   mlp/*           a batch-1 discriminator, 10 recorded ops:
//                     p = sigmoid(leaky_relu(x·W1 + b1, 0.2)·W2 + b2),  loss = mean(-clamp_min(log
//                     p, -100))
//                   x: [1, 784]; W1: [784, 200]; b1: [200]; W2: [200, 1]; b2: [1]
//     fwd_bwd         zero_grad() on the four parameters, loss, loss.backward()
//     fwd_nograd      loss under NoGradGuard
//
// Each runs at 1 and 2 threads; nabla never fans out at these sizes, so the two should agree.
#include <benchmark/benchmark.h>

#include <nabla/nabla.hpp>
#include <string>

#include "machine_load.hpp"

namespace {

using nabla::Tensor;
using T = Tensor<float>;

struct SigmoidAdd {
  T x, b;
  SigmoidAdd() {
    nabla::Generator gen(7);
    x = T::randn({1, 200}, gen);
    b = T::randn({1, 200}, gen);
    x.requires_grad_();
    b.requires_grad_();
  }
  T forward() const { return nabla::sum(nabla::sigmoid(x + b)); }
};

void sigmoid_add_fwd_bwd(benchmark::State& state) {
  SigmoidAdd m;
  for (auto _ : state) {
    T s = m.forward();
    s.backward();
  }
  benchmark::DoNotOptimize(m.x.grad().data());
}

void sigmoid_add_fwd_record(benchmark::State& state) {
  SigmoidAdd m;
  for (auto _ : state) {
    T s = m.forward();
    benchmark::DoNotOptimize(s.data());
  }
}

void sigmoid_add_fwd_nograd(benchmark::State& state) {
  SigmoidAdd m;
  nabla::NoGradGuard no_grad;
  for (auto _ : state) {
    T s = m.forward();
    benchmark::DoNotOptimize(s.data());
  }
}

struct Mlp {
  T x, w1, b1, w2, b2;
  Mlp() {
    nabla::Generator gen(11);
    x = T::uniform({1, 784}, -1.f, 1.f, gen);
    w1 = T::uniform({784, 200}, -0.0357f, 0.0357f, gen);  // ±1/sqrt(784), as nn.Linear
    b1 = T::uniform({200}, -0.0357f, 0.0357f, gen);
    w2 = T::uniform({200, 1}, -0.0707f, 0.0707f, gen);  // ±1/sqrt(200)
    b2 = T::uniform({1}, -0.0707f, 0.0707f, gen);
    for (T* p : {&w1, &b1, &w2, &b2}) p->requires_grad_();
  }
  T loss() const {
    const T h = nabla::leaky_relu(nabla::matmul(x, w1) + b1, 0.2f);
    const T p = nabla::sigmoid(nabla::matmul(h, w2) + b2);
    return nabla::mean(-nabla::clamp_min(nabla::log(p), -100.f));
  }
  void zero_grad() {
    for (T* p : {&w1, &b1, &w2, &b2}) p->zero_grad();
  }
};

void mlp_fwd_bwd(benchmark::State& state) {
  Mlp m;
  for (auto _ : state) {
    m.zero_grad();
    T loss = m.loss();
    loss.backward();
  }
  benchmark::DoNotOptimize(m.w1.grad().data());
}

void mlp_fwd_nograd(benchmark::State& state) {
  Mlp m;
  nabla::NoGradGuard no_grad;
  for (auto _ : state) {
    T loss = m.loss();
    benchmark::DoNotOptimize(loss.data());
  }
}

void register_all() {
  struct Case {
    const char* name;
    void (*fn)(benchmark::State&);
  };
  const Case cases[] = {
      {"sigmoid_add/fwd_bwd", sigmoid_add_fwd_bwd},
      {"sigmoid_add/fwd_record", sigmoid_add_fwd_record},
      {"sigmoid_add/fwd_nograd", sigmoid_add_fwd_nograd},
      {"mlp/fwd_bwd", mlp_fwd_bwd},
      {"mlp/fwd_nograd", mlp_fwd_nograd},
  };
  for (const Case& c : cases)
    for (int threads : {1, 2}) {
      const std::string name = std::string(c.name) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [fn = c.fn, threads](benchmark::State& state) {
                                     nabla::set_num_threads(threads);
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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
