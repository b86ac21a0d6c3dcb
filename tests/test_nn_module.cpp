// nn::Module mechanics: naming, recursion, train/eval, zero_grad, printing, Sequential.
#include <catch2/catch.hpp>

#include <nabla/nabla.hpp>

#include <sstream>

using namespace nabla;
using Catch::Contains;

namespace {
// A user-defined module with a parameter, a buffer and a child, as a user would write one.
struct Block : nn::Module<double> {
  nn::Linear<double> fc{3, 2};
  Tensor<double> scale = Tensor<double>::ones({2}).requires_grad_();
  Tensor<double> calls = Tensor<double>::zeros({1});

  Tensor<double> forward(const Tensor<double>& x) override {
    NoGradGuard g;
    calls.add_(Tensor<double>::ones({1}));
    return mul(fc(x), scale.detach());
  }
  std::string describe() const override { return "Block"; }
  void visit(nn::Visitor<double>& v) override {
    v.parameter("scale", scale);
    v.buffer("calls", calls);
    v.module("fc", fc);
  }
};
}  // namespace

TEST_CASE("parameters and buffers are found recursively with dotted names", "[nn][module]") {
  nn::Sequential<double> net(Block{}, nn::ReLU<double>(), nn::BatchNorm1d<double>(2));
  std::vector<std::string> names;
  for (auto& [n, p] : net.named_parameters()) {
    names.push_back(n);
    CHECK(p.requires_grad());
  }
  CHECK(names == std::vector<std::string>{"0.scale", "0.fc.weight", "0.fc.bias", "2.weight", "2.bias"});
  std::vector<std::string> buffers;
  for (auto& [n, b] : net.named_buffers()) buffers.push_back(n);
  CHECK(buffers == std::vector<std::string>{"0.calls", "2.running_mean", "2.running_var"});
  CHECK(net.state_dict().size() == 8);
  CHECK(net.num_parameters() == 2 + 6 + 2 + 2 + 2);
  // Handles share storage with the module's members.
  net.parameters()[0].zero_grad();
  auto& block = net.get<Block>(0);
  CHECK(net.parameters()[0].data() == block.scale.data());
  CHECK_THROWS_WITH(net.get<nn::Linear<double>>(1), Contains("module 1") && Contains("ReLU"));
  CHECK_THROWS_WITH(net[7], Contains("out of range"));
}

TEST_CASE("train and eval reach every submodule", "[nn][module]") {
  nn::Sequential<float> net(nn::Linear<float>(2, 2), nn::Sequential<float>(nn::Dropout<float>(0.5), nn::ReLU<float>()));
  CHECK(net.is_training());
  net.eval();
  CHECK_FALSE(net.is_training());
  CHECK_FALSE(net.get<nn::Sequential<float>>(1)[0].is_training());
  auto x = Tensor<float>::ones({4, 2});
  CHECK(net(x).to_vector() == net(x).to_vector());  // dropout is the identity in eval
  net.train();
  CHECK(net.get<nn::Sequential<float>>(1)[0].is_training());
}

TEST_CASE("zero_grad clears every parameter's gradient", "[nn][module]") {
  nn::Sequential<double> net(nn::Linear<double>(3, 4), nn::Tanh<double>(), nn::Linear<double>(4, 1));
  sum(net(Tensor<double>::ones({2, 3}))).backward();
  for (auto& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad(/*set_to_none=*/false);
  for (auto& p : net.parameters()) {
    for (double g : p.grad().to_vector()) CHECK(g == 0.0);
  }
  net.zero_grad();
  for (auto& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("modules print as a tree like PyTorch", "[nn][module]") {
  nn::Sequential<float> net(nn::Linear<float>(784, 200), nn::LeakyReLU<float>(0.02),
                            nn::Sequential<float>(nn::Conv2d<float>(1, 64, 4, 2, 1), nn::Tanh<float>()));
  std::ostringstream s;
  s << net;
  CHECK(s.str() ==
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=200, bias=true)\n"
        "  (1): LeakyReLU(negative_slope=0.02)\n"
        "  (2): Sequential(\n"
        "    (0): Conv2d(1, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))\n"
        "    (1): Tanh()\n"
        "  )\n"
        ")");
}

TEST_CASE("Sequential shares a module given by shared_ptr", "[nn][module]") {
  auto layer = std::make_shared<nn::Linear<float>>(2, 3);
  nn::Sequential<float> net;
  net.push_back(layer).push_back(nn::Sigmoid<float>());
  CHECK(net.size() == 2);
  CHECK(net.parameters()[0].data() == layer->weight.data());
  std::shared_ptr<nn::Linear<float>> null;
  CHECK_THROWS_WITH(net.push_back(null), Contains("null module"));
  CHECK_THROWS_WITH(net.to(Device::cuda()), Contains("NABLA_CUDA"));
}

TEST_CASE("layers take the same seed to the same weights", "[nn][init]") {
  manual_seed(3);
  nn::Linear<float> a(10, 5);
  manual_seed(3);
  nn::Linear<float> b(10, 5);
  CHECK(a.weight.to_vector() == b.weight.to_vector());
  CHECK(a.bias.to_vector() == b.bias.to_vector());
  nn::Linear<float> c(10, 5);
  CHECK(a.weight.to_vector() != c.weight.to_vector());
}
