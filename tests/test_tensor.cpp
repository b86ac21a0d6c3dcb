// Tensor<T>: shapes, storage sharing, views, factories, random numbers, element access, printing.
#include <catch2/catch.hpp>

#include <nabla/nabla.hpp>

#include <sstream>

using namespace nabla;
using Catch::Contains;

TEST_CASE("shapes are inline and checked", "[tensor]") {
  Shape s{2, 3, 4};
  CHECK(s.size() == 3);
  CHECK(s.numel() == 24);
  CHECK(to_string(s) == "[2, 3, 4]");
  CHECK(contiguous_strides(s) == Strides{12, 4, 1});
  CHECK(Shape{}.numel() == 1);
  CHECK_THROWS_WITH((Shape{1, 2, 3, 4, 5, 6, 7}), Contains("at most 6 dims"));
  CHECK(broadcast_shapes({2, 1, 4}, {3, 1}, "op") == Shape{2, 3, 4});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4}, "myop"), Contains("myop") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THROWS_AS(Tensor<float>::zeros({2, -1}), Error);
}

TEST_CASE("factories", "[tensor]") {
  auto z = Tensor<float>::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.is_contiguous());
  CHECK(z.to_vector() == std::vector<float>(6, 0.f));
  CHECK(Tensor<double>::ones({4}).to_vector() == std::vector<double>(4, 1.0));
  CHECK(Tensor<float>::full({2}, 7.5f).to_vector() == std::vector<float>{7.5f, 7.5f});
  CHECK(Tensor<float>::arange(5.f).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(Tensor<double>::arange(1.0, 2.0, 0.25).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(Tensor<float>::arange(3.f, 0.f, -1.f).to_vector() == std::vector<float>{3, 2, 1});
  CHECK_THROWS_WITH(Tensor<float>::arange(0.f, 1.f, 0.f), Contains("step"));
  CHECK_THROWS_WITH(Tensor<float>::arange(0.f, 1.f, -1.f), Contains("arange"));

  auto v = Tensor<float>::from({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(v(1, 2) == 6.f);
  CHECK(v(-1, -1) == 6.f);
  CHECK_THROWS_WITH(Tensor<float>::from({1, 2, 3}, {2, 2}), Contains("3 values") && Contains("[2, 2]"));

  Tensor<float> list = {1.f, 2.f, 3.f};
  CHECK(list.shape() == Shape{3});
  Tensor<double> rows = {{1, 2}, {3, 4}, {5, 6}};
  CHECK(rows.shape() == Shape{3, 2});
  CHECK(rows(2, 0) == 5.0);
  CHECK_THROWS_WITH((Tensor<double>{{1, 2}, {3}}), Contains("rows of different lengths"));

  auto s = Tensor<double>::scalar(3.5);
  CHECK(s.dim() == 0);
  CHECK(s.item() == 3.5);
  CHECK_THROWS_WITH(v.item(), Contains("one element") && Contains("[2, 3]"));

  auto e = Tensor<float>::zeros({0, 3});
  CHECK(e.numel() == 0);
  CHECK(e.to_vector().empty());
}

TEST_CASE("element access is bounds-checked and versioned", "[tensor]") {
  auto t = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH(t(2, 0), Contains("out of range") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(t(0), Contains("1 indices") && Contains("2 dims"));
  const auto v0 = t.version();
  t.set({1, 1}, 4.f);
  CHECK(t(1, 1) == 4.f);
  CHECK(t.version() == v0 + 1);
}

TEST_CASE("views share storage without copying", "[tensor]") {
  auto a = Tensor<float>::arange(6.f);
  auto m = a.view({2, 3});
  CHECK(m.data() == a.data());
  auto tr = m.t();
  CHECK(tr.shape() == Shape{3, 2});
  CHECK(tr.strides() == Strides{1, 3});
  CHECK_FALSE(tr.is_contiguous());
  CHECK(tr.data() == a.data());
  CHECK(tr(2, 1) == 5.f);
  CHECK(tr.to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});

  auto c = tr.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.data() != a.data());
  CHECK(c.to_vector() == tr.to_vector());
  CHECK(m.contiguous().data() == m.data());  // already contiguous: no copy

  auto n = m.narrow(1, 1, 2);
  CHECK(n.shape() == Shape{2, 2});
  CHECK(n.to_vector() == std::vector<float>{1, 2, 4, 5});
  CHECK(m.select(0, 1).to_vector() == std::vector<float>{3, 4, 5});
  CHECK(m.select(1, -1).to_vector() == std::vector<float>{2, 5});

  auto p = Tensor<float>::arange(24.f).view({2, 3, 4}).permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p(3, 1, 2) == 23.f);
  CHECK(p(1, 0, 2) == 9.f);

  auto r = Tensor<float>::from({1, 2, 3}, {3, 1}).expand({3, 4});
  CHECK(r.strides() == Strides{1, 0});
  CHECK(r.to_vector() == std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  CHECK(Tensor<float>::ones({3}).expand({2, 3}).shape() == Shape{2, 3});

  auto u = a.unsqueeze(0);
  CHECK(u.shape() == Shape{1, 6});
  CHECK(u.squeeze(0).shape() == Shape{6});
  CHECK(a.view({-1, 2}).shape() == Shape{3, 2});
  CHECK(a.view({2, 3}).flatten().shape() == Shape{6});
  CHECK(Tensor<float>::zeros({2, 3, 4, 5}).flatten(1, 2).shape() == Shape{2, 12, 5});

  // reshape of a non-contiguous tensor copies; view refuses.
  CHECK_THROWS_WITH(tr.view({6}), Contains("not contiguous") && Contains("reshape"));
  CHECK(tr.reshape({6}).to_vector() == std::vector<float>{0, 3, 1, 4, 2, 5});

  auto cl = m.clone();
  CHECK(cl.data() != m.data());
  CHECK(cl.to_vector() == m.to_vector());
}

TEST_CASE("bad view arguments throw nabla::Error", "[tensor]") {
  auto m = Tensor<float>::zeros({2, 3});
  CHECK_THROWS_WITH(m.view({4, 2}), Contains("view") && Contains("[4, 2]") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(m.view({-1, -1}), Contains("only one dim can be -1"));
  CHECK_THROWS_WITH(m.transpose(0, 2), Contains("transpose") && Contains("dim 2"));
  CHECK_THROWS_WITH(m.permute({0, 0}), Contains("more than once"));
  CHECK_THROWS_WITH(m.permute({0}), Contains("permute"));
  CHECK_THROWS_WITH(m.narrow(1, 2, 2), Contains("narrow") && Contains("out of bounds"));
  CHECK_THROWS_WITH(m.select(0, 2), Contains("select") && Contains("out of range"));
  CHECK_THROWS_WITH(m.expand({3, 3}), Contains("cannot expand") && Contains("[2, 3]"));
  CHECK_THROWS_WITH(Tensor<float>::zeros({2, 3, 4}).t(), Contains("at most 2 dims"));
  CHECK_THROWS_WITH(m.unsqueeze(4), Contains("unsqueeze"));
  Tensor<float> undefined;
  CHECK_THROWS_WITH(undefined.shape(), Contains("undefined tensor"));
}

TEST_CASE("in-place ops write through views and bump the version", "[tensor]") {
  auto a = Tensor<float>::zeros({2, 3});
  auto col = a.narrow(1, 1, 1);
  const auto v0 = a.version();
  col.fill_(5.f);
  CHECK(a.to_vector() == std::vector<float>{0, 5, 0, 0, 5, 0});
  CHECK(a.version() > v0);
  a.t().copy_(Tensor<float>::from({1, 2, 3, 4, 5, 6}, {3, 2}));
  CHECK(a.to_vector() == std::vector<float>{1, 3, 5, 2, 4, 6});
  a.add_(Tensor<float>::ones({3}), 2.f);
  CHECK(a.to_vector() == std::vector<float>{3, 5, 7, 4, 6, 8});
  a.mul_(0.5f);
  CHECK(a(0, 0) == 1.5f);
  a.zero_();
  CHECK(a.to_vector() == std::vector<float>(6, 0.f));
  CHECK_THROWS_WITH(a.copy_(Tensor<float>::ones({4})), Contains("copy_") && Contains("[4]"));
}

TEST_CASE("random numbers are seeded and independent of the thread count", "[tensor][random]") {
  auto draw = [] {
    manual_seed(42);
    auto u = Tensor<float>::rand({100000});
    auto n = Tensor<double>::randn({100001});
    auto b = Tensor<float>::bernoulli({1000}, 0.3);
    return std::tuple{u.to_vector(), n.to_vector(), b.to_vector()};
  };
  const int threads = get_num_threads();
  set_num_threads(1);
  const auto one = draw();
  set_num_threads(2);
  const auto two = draw();
  set_num_threads(threads);
  CHECK(one == two);
  manual_seed(43);
  CHECK(Tensor<float>::rand({100000}).to_vector() != std::get<0>(one));

  // Moments of the distributions.
  const auto& u = std::get<0>(one);
  double mean = 0, lo = 1, hi = 0;
  for (float x : u) mean += x, lo = std::min<double>(lo, x), hi = std::max<double>(hi, x);
  mean /= static_cast<double>(u.size());
  CHECK(mean == Approx(0.5).margin(0.01));
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  const auto& n = std::get<1>(one);
  double m = 0, var = 0;
  for (double x : n) m += x;
  m /= static_cast<double>(n.size());
  for (double x : n) var += (x - m) * (x - m);
  var /= static_cast<double>(n.size());
  CHECK(m == Approx(0.0).margin(0.02));
  CHECK(var == Approx(1.0).margin(0.02));
  double ones = 0;
  for (float x : std::get<2>(one)) ones += x;
  CHECK(ones / 1000 == Approx(0.3).margin(0.05));

  Generator gen(7);
  auto g1 = Tensor<float>::normal({10}, 2.f, 0.5f, gen).to_vector();
  gen.manual_seed(7);
  auto g2 = Tensor<float>::normal({10}, 2.f, 0.5f, gen).to_vector();
  CHECK(g1 == g2);
  auto w = Tensor<float>::zeros({4, 5});
  w.t().uniform_(-1.f, 1.f, gen);  // strided target
  for (float x : w.to_vector()) CHECK((x >= -1.f && x < 1.f));
  CHECK_THROWS_WITH(Tensor<float>::bernoulli({2}, 1.5), Contains("bernoulli") && Contains("1.5"));
  CHECK_THROWS_WITH(Tensor<float>::uniform({2}, 1.f, 0.f), Contains("lo <= hi"));
}

TEST_CASE("printing shows values, dtype and shape", "[tensor]") {
  std::ostringstream s;
  s << Tensor<float>::from({1, 2, 3, 4}, {2, 2});
  CHECK(s.str() == "[[1, 2],\n [3, 4]] (float32, shape [2, 2])");
  std::ostringstream big;
  big << Tensor<double>::zeros({2000});
  CHECK_THAT(big.str(), Contains("...") && Contains("float64, shape [2000]"));
  auto x = Tensor<float>::ones({2}).requires_grad_();
  std::ostringstream g;
  g << nabla::exp(x);
  CHECK_THAT(g.str(), Contains("grad_fn exp"));
}

TEST_CASE("devices", "[tensor]") {
  auto t = Tensor<float>::ones({2});
  CHECK(t.device() == Device::cpu());
  CHECK(t.to(Device::cpu()).data() == t.data());
  if (!cuda_available()) CHECK_THROWS_WITH(t.to(Device::cuda()), Contains("NABLA_CUDA"));
}

TEST_CASE("int64 tensors hold indices", "[tensor]") {
  auto labels = Tensor<int64_t>::from({3, 0, 1});
  CHECK(labels(0) == 3);
  auto oh = one_hot<float>(labels, 4);
  CHECK(oh.shape() == Shape{3, 4});
  CHECK(oh.to_vector() == std::vector<float>{0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0});
  CHECK_THROWS_WITH(one_hot<float>(labels, 3), Contains("label 3") && Contains("[0, 3)"));
  CHECK_THROWS_WITH(Tensor<int64_t>::zeros({2}).requires_grad_(), Contains("int64"));
}

TEST_CASE("the block cache reuses freed buffers", "[tensor][pool]") {
  if constexpr (!detail::kPoolEnabled) return;  // bypassed under AddressSanitizer
  const float* first;
  {
    auto t = Tensor<float>::empty({200});
    first = t.data();
  }
  auto again = Tensor<float>::empty({200});
  CHECK(again.data() == first);
}
