#pragma once
// The layer benchmarks' cases, shared by bench_layers.cpp (nabla) and
// libtorch/bench_layers_torch.cpp, so that both run the same shapes under the same names (the
// libtorch ones prefixed with torch_).
//
//   linear/<in>x<out>/batch:<n>              Linear(in, out) on x [n, in], x without grad;
//                                            784x200: D's first layer (rows 2-3), 100x256: row 5's
//                                            G input, 256x784: row 6's G output; n = 1 and 64
//   conv2d/1to64_28x28/batch:128             Conv(1,64,4,2,1) on [128,1,28,28], x without grad
//                                            (row 7's D on real images)
//   conv2d/64to128_14x14/batch:128           Conv(64,128,4,2,1) on [128,64,14,14], with x's grad
//   conv_transpose2d/128to64_7x7/batch:128   ConvT(128,64,4,2,1) on [128,128,7,7], with x's grad
//   conv_transpose2d/64to1_14x14/batch:128   ConvT(64,1,4,2,1) on [128,64,14,14], with x's grad
// Row 8 (dcgan_keras), kernel 5, stride 1, padding 2 (the side is kept):
//   conv2d/1to256_28x28_k5/batch:128         D's first layer, x without grad
//   conv2d/256to512_14x14_k5/batch:128       D's second layer (about 0.5 TFLOP per iteration)
//   conv2d/128to64_14x14_k5/batch:128        G's first convolution (after Upsample x2)
//   conv2d/64to1_28x28_k5/batch:128          G's output convolution
#include <cstdint>
#include <string>

namespace bench {

struct LinearCase {
  int64_t in, out, batch;
};
constexpr LinearCase kLinearCases[] = {{784, 200, 1},  {784, 200, 64}, {100, 256, 1},
                                       {100, 256, 64}, {256, 784, 1},  {256, 784, 64}};

// Row 7 of GAN_VARIANTS.md: kernel 4, stride 2, padding 1 (a convolution halves the side, a
// transposed one doubles it); row 8: kernel 5, stride 1, padding 2.
constexpr int64_t kConvBatch = 128;
struct ConvCase {
  bool transposed;
  int64_t in, out, size;  // channels in and out; input height = width
  bool input_grad;
  int iterations;  // timed, after one untimed warm-up
  int64_t kernel = 4, stride = 2, padding = 1;
  int64_t batch = kConvBatch;
  int64_t out_size() const {
    return transposed ? (size - 1) * stride - 2 * padding + kernel
                      : (size + 2 * padding - kernel) / stride + 1;
  }
};
constexpr ConvCase kConvCases[] = {{false, 1, 64, 28, false, 20},
                                   {false, 64, 128, 14, true, 8},
                                   {true, 128, 64, 7, true, 8},
                                   {true, 64, 1, 14, true, 20},
                                   {false, 1, 256, 28, false, 4, 5, 1, 2},
                                   {false, 256, 512, 14, true, 1, 5, 1, 2},
                                   {false, 128, 64, 14, true, 2, 5, 1, 2},
                                   {false, 64, 1, 28, true, 8, 5, 1, 2}};

// Shapes no GAN row uses, that a user comparing libraries is likely to try: a CIFAR-sized
// 3-channel first layer, 3x3 stride-1 blocks (VGG / ResNet), the 64x64 DCGAN's layers (CelebA),
// a stride-2 3x3, LeNet's 5x5 without padding. Named probe/..., with no target; they show where
// nabla is weak beyond the rows' own shapes.
constexpr ConvCase kProbeConvCases[] = {
    {false, 3, 64, 32, false, 8, 3, 1, 1, 64},
    {false, 64, 64, 32, true, 4, 3, 1, 1, 64},
    {false, 128, 128, 16, true, 4, 3, 1, 1, 64},
    {false, 64, 128, 32, true, 4, 3, 2, 1, 64},
    {false, 3, 64, 64, false, 8, 4, 2, 1, 64},
    {false, 128, 256, 16, true, 4, 4, 2, 1, 64},
    {true, 100, 512, 1, true, 20, 4, 1, 0, 64},
    {true, 256, 128, 8, true, 4, 4, 2, 1, 64},
    {true, 64, 3, 32, true, 8, 4, 2, 1, 64},
    {false, 20, 50, 12, true, 20, 5, 1, 0, 64},
    {false, 1, 20, 28, false, 20, 5, 1, 0, 64},
    // Batch 1, as the documents train: rows 7 and 8's layers and a 3x3 block, where the cost of
    // packing and transposing per call is not spread over a batch.
    {false, 64, 128, 14, true, 200, 4, 2, 1, 1},
    {true, 128, 64, 7, true, 200, 4, 2, 1, 1},
    {false, 256, 512, 14, true, 10, 5, 1, 2, 1},
    {false, 128, 64, 14, true, 50, 5, 1, 2, 1},
    {false, 64, 64, 32, true, 50, 3, 1, 1, 1}};
constexpr LinearCase kProbeLinearCases[] = {{1024, 1024, 128}, {512, 10, 1}, {4096, 1024, 1}};

// Other layers a user is likely to time, forward + backward with the input's gradient, no
// target: each binary builds its own module for the kind (bench_layers.cpp, its libtorch twin).
enum class ProbeKind {
  BatchNorm2d,
  BatchNorm1d,
  MaxPool2d,
  Upsample2x,
  LeakyReLU,
  Tanh,
  LayerNorm
};
struct ProbeModuleCase {
  const char* name;  // under probe/
  ProbeKind kind;
  int64_t features;  // channels (BatchNorm), normalised size (LayerNorm); else unused
  int64_t shape[4];  // the input; a 2-d input leaves the last two 0
  int iterations;
};
constexpr ProbeModuleCase kProbeModuleCases[] = {
    {"batchnorm2d/64ch_32x32/batch:64", ProbeKind::BatchNorm2d, 64, {64, 64, 32, 32}, 20},
    {"batchnorm1d/6272/batch:128", ProbeKind::BatchNorm1d, 6272, {128, 6272, 0, 0}, 50},
    {"maxpool2d/64ch_32x32/batch:64", ProbeKind::MaxPool2d, 0, {64, 64, 32, 32}, 20},
    {"upsample2x/128ch_7x7/batch:128", ProbeKind::Upsample2x, 0, {128, 128, 7, 7}, 50},
    {"leaky_relu/64ch_32x32/batch:64", ProbeKind::LeakyReLU, 0, {64, 64, 32, 32}, 20},
    {"tanh/64ch_32x32/batch:64", ProbeKind::Tanh, 0, {64, 64, 32, 32}, 20},
    {"layernorm/1024/batch:256", ProbeKind::LayerNorm, 1024, {256, 1024, 0, 0}, 50}};

inline std::string linear_name(const std::string& prefix, const LinearCase& c) {
  return prefix + "linear/" + std::to_string(c.in) + "x" + std::to_string(c.out) +
         "/batch:" + std::to_string(c.batch);
}
// The geometry beyond channels and size appears in the name where it differs from the rows'
// (kernel 4 with stride 2 and padding 1; other kernels with stride 1 and padding (k - 1) / 2).
inline std::string conv_name(const std::string& prefix, const ConvCase& c) {
  const bool k4 = c.kernel == 4;
  return prefix + (c.transposed ? "conv_transpose2d/" : "conv2d/") + std::to_string(c.in) + "to" +
         std::to_string(c.out) + "_" + std::to_string(c.size) + "x" + std::to_string(c.size) +
         (k4 ? "" : "_k" + std::to_string(c.kernel)) +
         (c.stride == (k4 ? 2 : 1) ? "" : "_s" + std::to_string(c.stride)) +
         (c.padding == (k4 ? 1 : (c.kernel - 1) / 2) ? "" : "_p" + std::to_string(c.padding)) +
         "/batch:" + std::to_string(c.batch);
}

}  // namespace bench
