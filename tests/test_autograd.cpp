// Autograd rules: leaves and non-leaves, accumulation, graph lifetime, no-grad, in-place checks.
#include <catch2/catch.hpp>

#include <nabla/nabla.hpp>

using namespace nabla;
using Catch::Contains;

namespace {
std::vector<double> grad_of(const Tensor<double>& t) { return t.grad().to_vector(); }
}  // namespace

TEST_CASE("backward on a scalar fills the leaves' grads", "[autograd]") {
  auto x = Tensor<double>::from({1, 2, 3}).requires_grad_();
  auto y = sum(x * x);
  CHECK(y.requires_grad());
  CHECK_FALSE(y.is_leaf());
  CHECK(x.is_leaf());
  y.backward();
  CHECK(grad_of(x) == std::vector<double>{2, 4, 6});
  CHECK_FALSE(y.grad().defined());  // non-leaf grads are not kept
}

TEST_CASE("backward with an explicit output gradient", "[autograd]") {
  auto x = Tensor<double>::from({1, 2, 3}).requires_grad_();
  auto y = x * 3.0;
  y.backward(Tensor<double>::from({1, 10, 100}));
  CHECK(grad_of(x) == std::vector<double>{3, 30, 300});
  auto z = x * 2.0;
  CHECK_THROWS_WITH(z.backward(), Contains("scalar") && Contains("[3]"));
  CHECK_THROWS_WITH(z.backward(Tensor<double>::ones({2})), Contains("[2]") && Contains("[3]"));
}

TEST_CASE("gradients accumulate over uses and over backward calls", "[autograd]") {
  auto x = Tensor<double>::from({2.0}).requires_grad_();
  auto y = x * x + x;  // x used three times
  y.backward(Tensor<double>::ones({1}), /*retain_graph=*/true);
  CHECK(grad_of(x) == std::vector<double>{5});
  y.backward(Tensor<double>::ones({1}));
  CHECK(grad_of(x) == std::vector<double>{10});
  auto z = sum(exp(x));
  z.backward();
  CHECK(x.grad().item() == Approx(10 + std::exp(2.0)));
  x.zero_grad(/*set_to_none=*/false);
  CHECK(grad_of(x) == std::vector<double>{0});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("a user's handle on a grad is not changed behind its back", "[autograd]") {
  auto x = Tensor<double>::from({1.0}).requires_grad_();
  (x * 2.0).backward(Tensor<double>::ones({1}));
  Tensor<double> first = x.grad();
  (x * 3.0).backward(Tensor<double>::ones({1}));
  CHECK(x.grad().item() == 5.0);
  CHECK(first.item() == 2.0);
}

TEST_CASE("the graph is freed after backward unless retained", "[autograd]") {
  auto x = Tensor<double>::from({1, 2}).requires_grad_();
  auto y = sum(sigmoid(x));
  y.backward();
  CHECK_THROWS_WITH(y.backward(), Contains("already freed") && Contains("retain_graph"));
  auto z = sum(tanh(x));
  z.backward({}, true);
  z.backward();  // retained once: a second pass works
}

TEST_CASE("shared subgraphs and diamonds", "[autograd]") {
  auto x = Tensor<double>::from({0.5, -1.0}).requires_grad_();
  auto h = tanh(x);
  auto y = sum(h * h + sigmoid(h));
  y.backward();
  const auto hv = h.to_vector();
  for (int i = 0; i < 2; ++i) {
    const double t = hv[static_cast<size_t>(i)], s = 1 / (1 + std::exp(-t));
    CHECK(x.grad()(i) == Approx((2 * t + s * (1 - s)) * (1 - t * t)));
  }
}

TEST_CASE("intermediate tensors may die before backward", "[autograd]") {
  auto x = Tensor<double>::from({1, 2, 3}).requires_grad_();
  Tensor<double> loss;
  {
    auto a = x * 2.0;
    auto b = exp(a);
    loss = sum(b);
  }
  loss.backward();
  CHECK(x.grad()(1) == Approx(2 * std::exp(4.0)));
}

TEST_CASE("detach and NoGradGuard stop the graph", "[autograd]") {
  auto x = Tensor<double>::from({1, 2}).requires_grad_();
  auto d = x.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.data() == x.data());
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    auto y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(grad_enabled());
  auto y = sum(x * d);  // d is a constant
  y.backward();
  CHECK(grad_of(x) == std::vector<double>{1, 2});
  auto c = Tensor<double>::ones({2});
  CHECK_THROWS_WITH(sum(c * 2.0).backward(), Contains("does not require grad"));
}

TEST_CASE("leaf rules", "[autograd]") {
  auto x = Tensor<double>::ones({2}).requires_grad_();
  auto y = x * 2.0;
  CHECK_THROWS_WITH(y.requires_grad_(false), Contains("leaf"));
  CHECK_THROWS_WITH(x.mul_(2.0), Contains("requires grad") && Contains("NoGradGuard"));
  {
    NoGradGuard guard;
    x.mul_(2.0);  // parameter updates are allowed without grad mode
  }
  CHECK(x(0) == 2.0);
  // A leaf can backward itself.
  x.backward(Tensor<double>::ones({2}));
  CHECK(grad_of(x) == std::vector<double>{1, 1});
}

TEST_CASE("modifying a saved tensor in place is an error, not a wrong gradient", "[autograd]") {
  auto w = Tensor<double>::from({1, 2}).requires_grad_();
  auto x = Tensor<double>::from({3, 4});
  auto y = sum(w * x);
  x.fill_(0.0);
  CHECK_THROWS_WITH(y.backward(), Contains("mul") && Contains("modified in place"));

  // A saved output, reached through a view.
  auto z = sigmoid(w);
  auto loss = sum(z);
  {
    NoGradGuard guard;
    auto view = z.detach().narrow(0, 0, 1);
    view.fill_(0.5);
  }
  CHECK_THROWS_WITH(loss.backward(), Contains("sigmoid") && Contains("modified in place"));
  // After the error nothing half-accumulated is left behind.
  w.zero_grad();
  auto ok = sum(w * 2.0);
  ok.backward();
  CHECK(grad_of(w) == std::vector<double>{2, 2});
}

TEST_CASE("gradcheck finds a wrong backward and names the element", "[autograd][gradcheck]") {
  auto wrong_square = [](const std::vector<Tensor<double>>& in) {
    const Tensor<double>& x = in[0];
    Tensor<double> out = Tensor<double>::empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) out.data()[i] = x.data()[i] * x.data()[i];
    if (needs_graph(x))
      record("wrong_square", out, {&x}, [sx = Saved<double>(x)](Node<double>& n, const Tensor<double>& g) {
        n.send(0, mul(g, sx.get(n)));  // should be 2 * x * g
      });
    return out;
  };
  auto bad = gradcheck(wrong_square, {Tensor<double>::from({1.0, -2.0, 3.0})});
  CHECK_FALSE(bad.ok);
  CHECK(bad.input == 0);
  CHECK(bad.element == 2);
  CHECK_THAT(bad.message, Contains("FAILED") && Contains("input 0 [2]"));

  auto good = gradcheck([](const std::vector<Tensor<double>>& in) { return in[0] * in[0]; },
                        {Tensor<double>::from({1.0, -2.0, 3.0})});
  CHECK(good.ok);
}

TEST_CASE("backward is bit-identical for a given thread count", "[autograd]") {
  auto run = [] {
    manual_seed(5);
    auto w = Tensor<float>::randn({300, 400}).requires_grad_();
    auto x = Tensor<float>::randn({64, 300});
    auto loss = mean(sigmoid(matmul(x, w)));
    loss.backward();
    return std::pair{loss.item(), w.grad().to_vector()};
  };
  CHECK(run() == run());
}
