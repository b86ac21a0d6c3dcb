#pragma once
// Single ops, forward or forward + backward, at a small and a large size, shared by
// bench_layers.cpp (nabla) and libtorch/bench_layers_torch.cpp under the same names (the libtorch
// ones prefixed with torch_):
//
//   ops/fwd_bwd/<op>/<shape>   x (and the second operand, where the op has one that is a
//                              parameter) with gradients; y = op(x); y.backward(gy) (or
//                              y.backward() for a scalar y); gradients reset to none each time
//   ops/fwd/<op>/<shape>       y = op(x) under no_grad (inference)
//
// They are not GAN shapes: they show where an op's kernel (vectorisation, threading, memory
// traffic) or its bookkeeping falls behind libtorch's, which a user comparing the two would meet.
#include <array>
#include <cstdint>
#include <string>

namespace bench {

enum class Op {
  Relu,
  LeakyRelu,   // slope 0.2
  Sigmoid,
  Tanh,
  Exp,
  Gelu,        // exact (erf)
  GeluTanh,    // the tanh approximation
  Silu,
  Elu,
  Softplus,
  AddBias,     // x [N, C] + b [C], b with gradient
  Mul,         // x * w, w of x's shape with gradient
  SumAll,
  SumDim0,     // [N, C] -> [C]
  SumDim1,     // [N, C] -> [N]
  Softmax,     // over the last dim
  LogSoftmax,  // over the last dim
  CrossEntropy,  // logits [N, C], class indices i % C
  LayerNorm,     // over the last dim, with weight and bias
  MseLoss,       // against a fixed target of x's shape
  TransposeCopy, // x.t().contiguous()
  Cat,           // cat({x, x}, 1)
  Matmul,        // x [M, K] @ w [K, K], w with gradient
  Bmm,           // x [B, M, K] @ w [B, K, K], w with gradient
};

struct OpCase {
  const char* name;
  Op op;
  std::array<int64_t, 3> shape;  // x's shape; trailing zeros are absent dims
  bool backward;
  int64_t dims() const { return shape[2] > 0 ? 3 : 2; }
  std::string full_name() const {
    std::string s = std::string("ops/") + (backward ? "fwd_bwd/" : "fwd/") + name + "/";
    for (int i = 0; i < dims(); ++i) {
      if (i > 0) s += 'x';
      s += std::to_string(shape[static_cast<size_t>(i)]);
    }
    return s;
  }
};

constexpr std::array<int64_t, 3> kSmall{64, 64, 0}, kLarge{1024, 1024, 0};

constexpr OpCase kOpCases[] = {
    {"relu", Op::Relu, kSmall, true},
    {"relu", Op::Relu, kLarge, true},
    {"leaky_relu", Op::LeakyRelu, kLarge, true},
    {"sigmoid", Op::Sigmoid, kSmall, true},
    {"sigmoid", Op::Sigmoid, kLarge, true},
    {"tanh", Op::Tanh, kLarge, true},
    {"exp", Op::Exp, kLarge, true},
    {"gelu", Op::Gelu, kLarge, true},
    {"gelu_tanh", Op::GeluTanh, kLarge, true},
    {"silu", Op::Silu, kLarge, true},
    {"elu", Op::Elu, kLarge, true},
    {"softplus", Op::Softplus, kLarge, true},
    {"relu", Op::Relu, kLarge, false},
    {"sigmoid", Op::Sigmoid, kLarge, false},
    {"tanh", Op::Tanh, kLarge, false},
    {"gelu", Op::Gelu, kLarge, false},
    {"add_bias", Op::AddBias, kSmall, true},
    {"add_bias", Op::AddBias, kLarge, true},
    {"mul", Op::Mul, kLarge, true},
    {"sum", Op::SumAll, kLarge, true},
    {"sum_dim0", Op::SumDim0, kLarge, true},
    {"sum_dim1", Op::SumDim1, kLarge, true},
    {"softmax", Op::Softmax, {128, 1000, 0}, true},
    {"softmax", Op::Softmax, kLarge, true},
    {"log_softmax", Op::LogSoftmax, {128, 1000, 0}, true},
    {"softmax", Op::Softmax, kLarge, false},
    {"cross_entropy", Op::CrossEntropy, {128, 1000, 0}, true},
    {"layer_norm", Op::LayerNorm, {128, 1024, 0}, true},
    {"layer_norm", Op::LayerNorm, {128, 1024, 0}, false},
    {"mse_loss", Op::MseLoss, kLarge, true},
    {"transpose_copy", Op::TransposeCopy, kLarge, true},
    {"cat", Op::Cat, {512, 512, 0}, true},
    {"matmul", Op::Matmul, {256, 256, 0}, true},
    {"matmul", Op::Matmul, {1, 1024, 0}, true},
    {"bmm", Op::Bmm, {32, 64, 64}, true},
};

}  // namespace bench
