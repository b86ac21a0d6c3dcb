// Bad input to every op family throws nabla::Error naming the op and the shapes involved.
#include <catch2/catch.hpp>
#include <nabla/nabla.hpp>

using namespace nabla;
using Catch::Contains;

TEST_CASE("elementwise ops reject shapes that do not broadcast", "[ops][errors]") {
  auto a = Tensor<float>::zeros({2, 3});
  auto b = Tensor<float>::zeros({4, 3});
  CHECK_THROWS_WITH(add(a, b), Contains("add") && Contains("[2, 3]") && Contains("[4, 3]"));
  CHECK_THROWS_WITH(a - b, Contains("sub"));
  CHECK_THROWS_WITH(a * b, Contains("mul"));
  CHECK_THROWS_WITH(a / b, Contains("div"));
  CHECK_THROWS_WITH(pow(a, b), Contains("pow"));
  CHECK_THROWS_WITH(maximum(a, b), Contains("maximum"));
  CHECK_THROWS_WITH(minimum(a, b), Contains("minimum"));
  CHECK_THROWS_WITH(gt(a, b), Contains("gt"));
  CHECK_THROWS_WITH(where(a, a, b), Contains("where"));
  CHECK_THROWS_WITH(masked_fill(a, Tensor<float>::zeros({2, 2}), 1.f), Contains("masked_fill"));
  CHECK_THROWS_WITH(masked_fill(Tensor<float>::zeros({3}), a, 1.f),
                    Contains("masked_fill") && Contains("[3]"));
  CHECK_THROWS_WITH(clamp(a, 1.f, 0.f), Contains("clamp") && Contains("lo <= hi"));
  Tensor<float> undefined;
  CHECK_THROWS_WITH(exp(undefined), Contains("exp") && Contains("undefined"));
  CHECK_THROWS_WITH(add(a, undefined), Contains("add") && Contains("undefined"));
}

TEST_CASE("reductions reject bad dims and empty inputs", "[ops][errors]") {
  auto a = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH(sum(a, 2), Contains("sum") && Contains("dim 2") && Contains("2 dims"));
  CHECK_THROWS_WITH(sum(a, -3), Contains("sum") && Contains("dim -3"));
  CHECK_THROWS_WITH(sum(a, {0, 0}), Contains("more than once"));
  CHECK_THROWS_WITH(mean(a, 5), Contains("mean"));
  CHECK_THROWS_WITH(mean(Tensor<float>::zeros({0})), Contains("mean") && Contains("empty"));
  CHECK_THROWS_WITH(max(Tensor<float>::zeros({0, 2})), Contains("max") && Contains("empty"));
  CHECK_THROWS_WITH(max(Tensor<float>::zeros({0, 2}), 0), Contains("max") && Contains("size 0"));
  CHECK_THROWS_WITH(min(a, 3), Contains("min"));
  CHECK_THROWS_WITH(softmax(a, 2), Contains("softmax"));
  CHECK_THROWS_WITH(log_softmax(a, -3), Contains("log_softmax"));
  // Empty tensors that are fine: sums of nothing are 0.
  CHECK(sum(Tensor<float>::zeros({0})).item() == 0.f);
  CHECK(sum(Tensor<float>::zeros({0, 3}), 0).to_vector() == std::vector<float>{0, 0, 0});
}

TEST_CASE("matmul checks its operands", "[ops][errors]") {
  auto a = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH(matmul(a, Tensor<float>::zeros({4, 2})),
                    Contains("matmul") && Contains("[2, 3]") && Contains("[4, 2]"));
  CHECK_THROWS_WITH(matmul(a, Tensor<float>::scalar(1.f)),
                    Contains("matmul") && Contains("at least 1 dim"));
  CHECK_THROWS_WITH(matmul(Tensor<float>::zeros({2, 2, 3}), Tensor<float>::zeros({3, 3, 4})),
                    Contains("matmul") && Contains("broadcast"));
}

TEST_CASE("cat and stack check shapes", "[ops][errors]") {
  auto a = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH(
      cat({a, Tensor<float>::zeros({2, 4})}, 0),
      Contains("cat") && Contains("tensor 1") && Contains("[2, 4]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(cat({a, a}, 2), Contains("cat") && Contains("dim 2"));
  CHECK_THROWS_WITH(cat(std::vector<Tensor<float>>{}, 0), Contains("at least one"));
  CHECK_THROWS_WITH(stack({a, Tensor<float>::zeros({3, 2})}, 0),
                    Contains("stack") && Contains("[3, 2]"));
  CHECK_THROWS_WITH(stack({a, a}, 3), Contains("stack"));
}

TEST_CASE("ops compute on empty tensors without touching memory", "[ops]") {
  auto e = Tensor<float>::zeros({0, 4});
  CHECK((e + 1.f).shape() == Shape{0, 4});
  CHECK(sigmoid(e).numel() == 0);
  CHECK(matmul(e, Tensor<float>::zeros({4, 2})).shape() == Shape{0, 2});
  CHECK(matmul(Tensor<float>::zeros({2, 0}), Tensor<float>::zeros({0, 3})).to_vector() ==
        std::vector<float>(6, 0.f));
  CHECK(cat({e, Tensor<float>::ones({1, 4})}, 0).shape() == Shape{1, 4});
  CHECK(softmax(e, 1).numel() == 0);
}

TEST_CASE("cross_entropy and nll_loss check targets, weights and options", "[ops][errors][loss]") {
  auto x = Tensor<float>::zeros({3, 4});
  auto labels = [](std::vector<int64_t> v, Shape s) {
    return Tensor<int64_t>::from(std::span<const int64_t>(v), s);
  };
  const auto t = labels({0, 3, 1}, {3});
  CHECK_THROWS_WITH(
      cross_entropy(x, labels({0, 4, 1}, {3})),
      Contains("cross_entropy") && Contains("target 4 at position 1") && Contains("[0, 4)"));
  CHECK_THROWS_WITH(nll_loss(x, labels({-1, 0, 1}, {3})),
                    Contains("nll_loss") && Contains("target -1"));
  CHECK_THROWS_WITH(cross_entropy(x, labels({0, 1}, {2})), Contains("cross_entropy") &&
                                                               Contains("target shape [2]") &&
                                                               Contains("[3, 4]"));
  CHECK_THROWS_WITH(cross_entropy(x, labels({0, 1, 2}, {3, 1})), Contains("expected [3]"));
  CHECK_THROWS_WITH(cross_entropy(Tensor<float>::zeros({2, 3, 5}), labels({0, 1}, {2})),
                    Contains("expected [2, 5]"));
  CHECK_THROWS_WITH(cross_entropy(x, t, {.weight = Tensor<float>::ones({3})}),
                    Contains("weight has shape [3]") && Contains("expected [4]"));
  CHECK_THROWS_WITH(cross_entropy(x, t, {.label_smoothing = 1.5}),
                    Contains("label_smoothing") && Contains("1.5"));
  CHECK_THROWS_WITH(cross_entropy(Tensor<float>::scalar(1.f), labels({0}, {})),
                    Contains("cross_entropy"));
  CHECK_THROWS_WITH(cross_entropy(x, t, {.weight = Tensor<float>::ones({4}).requires_grad_()}),
                    Contains("class weights"));
  CHECK_THROWS_WITH(cross_entropy(x, Tensor<float>::zeros({3, 5})),
                    Contains("cross_entropy") && Contains("[3, 5]"));
  // Not errors: a target equal to ignore_index, even outside [0, C); every row ignored gives NaN,
  // as PyTorch.
  CHECK(cross_entropy(x, labels({-100, 2, 1}, {3})).item() == Approx(std::log(4.0)));
  CHECK(std::isnan(cross_entropy(x, labels({-100, -100, -100}, {3})).item()));
  CHECK(nll_loss(x, labels({7, 7, 7}, {3}), {.ignore_index = 7, .reduction = Reduction::Sum})
            .item() == 0.f);
}

TEST_CASE("embedding checks its indices, weight and padding_idx", "[ops][errors]") {
  const auto w = Tensor<float>::zeros({4, 3});
  auto idx = [](std::vector<int64_t> v) { return Tensor<int64_t>::from(v); };
  CHECK_THROWS_WITH(embedding(idx({0, 4}), w), Contains("embedding") &&
                                                   Contains("index 4 at position 1") &&
                                                   Contains("[0, 4)"));
  CHECK_THROWS_WITH(embedding(idx({-1}), w), Contains("index -1"));
  CHECK_THROWS_WITH(embedding(idx({0}), Tensor<float>::zeros({4})),
                    Contains("embedding") && Contains("[4]"));
  CHECK_THROWS_WITH(embedding(idx({0}), w, 4), Contains("padding_idx 4"));
  CHECK_THROWS_WITH(embedding(idx({0}), w, -5), Contains("padding_idx -5"));
  CHECK_THROWS_WITH(nn::Embedding<float>(0, 3),
                    Contains("Embedding") && Contains("num_embeddings"));
  CHECK_THROWS_WITH(nn::Embedding<float>(4, 3, 7),
                    Contains("Embedding") && Contains("padding_idx 7"));
  nn::Embedding<float> e(4, 3, -1);
  CHECK(e.weight.to_vector()[9] == 0.f);  // the padding row starts at zero
  CHECK_THROWS_WITH(e(Tensor<float>::from({1.5f})),
                    Contains("Embedding") && Contains("whole number"));
  CHECK(e(Tensor<float>::from({2.f})).shape() == Shape{1, 3});
  CHECK(e(Tensor<int64_t>::scalar(1)).shape() == Shape{3});
}

TEST_CASE("activations with settings refuse bad ones", "[ops][errors]") {
  const auto x = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH(gelu(x, "erf"), Contains("gelu") && Contains("\"erf\""));
  CHECK_THROWS_WITH(nn::GELU<float>("fast"), Contains("GELU") && Contains("\"fast\""));
  CHECK_THROWS_WITH(softplus(x, 0.f), Contains("softplus") && Contains("beta"));
  CHECK_THROWS_WITH(nn::Softplus<float>(0.0), Contains("Softplus"));
  CHECK_THROWS_WITH(nn::Softmax<float>(2)(x), Contains("softmax"));
  CHECK_THROWS_WITH(elu(Tensor<float>()), Contains("elu") && Contains("undefined"));
}

TEST_CASE("average pools check their input and settings", "[ops][errors]") {
  const auto x = Tensor<float>::zeros({1, 2, 5, 5});
  CHECK_THROWS_WITH(avg_pool2d(Tensor<float>::zeros({2, 5, 5}), {2, 2}),
                    Contains("avg_pool2d") && Contains("[2, 5, 5]"));
  CHECK_THROWS_WITH(avg_pool2d(x, {3, 3}, {1, 1}, {2, 2}),
                    Contains("avg_pool2d") && Contains("padding 2"));
  CHECK_THROWS_WITH(avg_pool2d(x, {7, 7}), Contains("avg_pool2d") && Contains("larger"));
  CHECK_THROWS_WITH(avg_pool2d(x, {0, 2}), Contains("positive"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(x, {0, 1}),
                    Contains("adaptive_avg_pool2d") && Contains("positive"));
  CHECK_THROWS_WITH(adaptive_avg_pool2d(Tensor<float>::zeros({5, 5}), {1, 1}),
                    Contains("adaptive_avg_pool2d"));
  CHECK_THROWS_WITH(nn::AvgPool2d<float>(2, 2, 3), Contains("AvgPool2d") && Contains("padding 3"));
  CHECK_THROWS_WITH(nn::AdaptiveAvgPool2d<float>(0), Contains("AdaptiveAvgPool2d"));
}

TEST_CASE("instance_norm and group_norm check channels, groups and affine shapes",
          "[ops][errors]") {
  const auto x = Tensor<float>::zeros({2, 4, 3, 3});
  CHECK_THROWS_WITH(group_norm(x, 3),
                    Contains("group_norm") && Contains("4 channels") && Contains("3 groups"));
  CHECK_THROWS_WITH(group_norm(x, 2, Tensor<float>::ones({3})),
                    Contains("group_norm") && Contains("[4]"));
  CHECK_THROWS_WITH(instance_norm(Tensor<float>::zeros({2, 4})), Contains("instance_norm"));
  CHECK_THROWS_WITH(nn::GroupNorm<float>(3, 4), Contains("GroupNorm") && Contains("3 groups"));
  CHECK_THROWS_WITH(nn::InstanceNorm2d<float>(3)(x),
                    Contains("InstanceNorm2d(3)") && Contains("[2, 4, 3, 3]"));
}
