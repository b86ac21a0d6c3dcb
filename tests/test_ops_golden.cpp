// Golden-value tests: every op of nabla's foundation against values computed by PyTorch, plus a
// finite-difference gradcheck in double.
//
// The fixtures (tests/fixtures/ops_<family>.txt) are written by tools/gen_fixtures.py, whose
// docstring documents the format; in short, one record per line:
//
//   count <N>
//   case <name>
//   op <description>                      the key into ops() below
//   gradcheck <0|1>
//   requires_grad [<k> ...]
//   tensor <role> <f64|i64> <ndim> [<dims>] : [<values>]    roles: in<k> out indices gout grad<k>
//   end
//
// For every case the op runs in double and in float: the forward result (and the indices of
// max/min/argmax) and, after backward(gout), the gradient of every differentiable input are
// compared with PyTorch's float64 values. Then, unless the case sits on a tie or has no
// differentiable input, nabla::gradcheck runs on it in double.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nabla/nabla.hpp>

#include "fixture_reader.hpp"

namespace {

using nabla::Shape;
using nabla::Tensor;

// ------------------------------------------------------------------------------------------
// Fixture checks (the reader itself is in fixture_reader.hpp)

using golden::compare;
using golden::Fixture;
using golden::FixtureCase;
using golden::FixtureTensor;
using golden::make_tensor;
using golden::parse_error;
using golden::Tolerance;
using golden::tolerance;

// Checks that a finished case has everything the test needs, so that a damaged fixture fails
// loudly instead of testing less.
void finish_case(FixtureCase& c, const std::string& path, int line) {
  auto fail = [&](const std::string& m) { parse_error(path, line, "case " + c.name + ": " + m); };
  if (c.num_inputs == 0) fail("no inputs");
  for (int k : c.requires_grad) {
    if (k < 0 || k >= c.num_inputs) fail("requires_grad names input " + std::to_string(k));
    if (!c.find("grad" + std::to_string(k))) fail("no grad" + std::to_string(k));
  }
  for (const auto& entry : c.tensors) {
    const std::string& role = entry.first;
    bool known = role == "out" || role == "indices" || role == "gout" || golden::indexed_role(role, "in", c.num_inputs);
    for (int k : c.requires_grad) known = known || role == "grad" + std::to_string(k);
    if (!known) fail("unexpected tensor " + role);
  }
  if (!c.find("out") && !c.find("indices")) fail("neither out nor indices");
  if (!c.requires_grad.empty() && !c.find("gout")) fail("differentiable inputs but no gout");
  if (c.gradcheck && c.requires_grad.empty()) fail("gradcheck without differentiable inputs");
}

Fixture read_fixture(const std::string& path) { return golden::read_fixture(path, finish_case); }

// ------------------------------------------------------------------------------------------
// The ops: fixture description -> nabla call. Each lambda takes the inputs in the fixture's
// order (as Tensor<double> or Tensor<float>) and returns the result the fixture checks.

// What an op returns: a value tensor, its indices (max/min along a dim), or indices alone.
template <class T>
struct Result {
  Tensor<T> values;
  Tensor<int64_t> indices;
  Result(Tensor<T> v) : values(std::move(v)) {}
  Result(nabla::ValuesIndices<T> vi) : values(std::move(vi.values)), indices(std::move(vi.indices)) {}
  Result(Tensor<int64_t> i) : indices(std::move(i)) {}
};

template <class T>
using Inputs = std::vector<Tensor<T>>;

struct Op {
  std::function<Result<double>(const Inputs<double>&)> f64;
  std::function<Result<float>(const Inputs<float>&)> f32;

  template <class T>
  Result<T> run(const Inputs<T>& in) const {
    if constexpr (std::is_same_v<T, double>) return f64(in);
    else return f32(in);
  }
};

// `f` is a generic lambda, instantiated for double and float.
template <class F>
Op op(F f) {
  return {[f](const Inputs<double>& in) { return Result<double>(f(in)); },
          [f](const Inputs<float>& in) { return Result<float>(f(in)); }};
}

template <class V>
using elem_t = typename std::decay_t<V>::value_type::value_type;

template <class T>
Tensor<int64_t> as_labels(const Tensor<T>& t) {
  std::vector<int64_t> v;
  for (T x : t.to_vector()) v.push_back(static_cast<int64_t>(x));
  return Tensor<int64_t>::from(v, t.shape());
}

const std::map<std::string, Op>& ops() {
  using namespace nabla;
  static const std::map<std::string, Op> table = {
      // binary arithmetic (broadcasting)
      {"add", op([](const auto& in) { return add(in[0], in[1]); })},
      {"sub", op([](const auto& in) { return sub(in[0], in[1]); })},
      {"mul", op([](const auto& in) { return mul(in[0], in[1]); })},
      {"div", op([](const auto& in) { return div(in[0], in[1]); })},
      {"pow", op([](const auto& in) { return nabla::pow(in[0], in[1]); })},
      {"maximum", op([](const auto& in) { return maximum(in[0], in[1]); })},
      {"minimum", op([](const auto& in) { return minimum(in[0], in[1]); })},
      // with a scalar
      {"pow(x,2)", op([](const auto& in) { return nabla::pow(in[0], 2); })},
      {"pow(x,0.5)", op([](const auto& in) { return nabla::pow(in[0], 0.5); })},
      {"pow(x,3)", op([](const auto& in) { return nabla::pow(in[0], 3); })},
      {"pow(x,-1.5)", op([](const auto& in) { return nabla::pow(in[0], -1.5); })},
      {"x+2.5", op([](const auto& in) { return in[0] + 2.5; })},
      {"2.5+x", op([](const auto& in) { return 2.5 + in[0]; })},
      {"2.5-x", op([](const auto& in) { return 2.5 - in[0]; })},
      {"x-1", op([](const auto& in) { return in[0] - 1; })},
      {"x*3", op([](const auto& in) { return in[0] * 3; })},
      {"3*x", op([](const auto& in) { return 3 * in[0]; })},
      {"1/x", op([](const auto& in) { return 1 / in[0]; })},
      {"x/4", op([](const auto& in) { return in[0] / 4; })},
      // unary math
      {"neg", op([](const auto& in) { return -in[0]; })},
      {"exp", op([](const auto& in) { return nabla::exp(in[0]); })},
      {"log", op([](const auto& in) { return nabla::log(in[0]); })},
      {"sqrt", op([](const auto& in) { return nabla::sqrt(in[0]); })},
      {"abs", op([](const auto& in) { return nabla::abs(in[0]); })},
      {"clamp(x,-0.5,0.6)", op([](const auto& in) { return clamp(in[0], -0.5, 0.6); })},
      {"clamp(x,-0.5,0.75)", op([](const auto& in) { return clamp(in[0], -0.5, 0.75); })},
      {"clamp_min(x,-0.25)", op([](const auto& in) { return clamp_min(in[0], -0.25); })},
      {"clamp_max(x,0.5)", op([](const auto& in) { return clamp_max(in[0], 0.5); })},
      // comparisons
      {"gt", op([](const auto& in) { return gt(in[0], in[1]); })},
      {"lt", op([](const auto& in) { return lt(in[0], in[1]); })},
      {"ge", op([](const auto& in) { return ge(in[0], in[1]); })},
      {"le", op([](const auto& in) { return le(in[0], in[1]); })},
      {"eq", op([](const auto& in) { return eq(in[0], in[1]); })},
      {"ne", op([](const auto& in) { return ne(in[0], in[1]); })},
      {"gt(x,0.5)", op([](const auto& in) { return gt(in[0], 0.5); })},
      {"lt(x,0.5)", op([](const auto& in) { return lt(in[0], 0.5); })},
      {"ge(x,0.5)", op([](const auto& in) { return ge(in[0], 0.5); })},
      {"le(x,0.5)", op([](const auto& in) { return le(in[0], 0.5); })},
      {"eq(x,0.5)", op([](const auto& in) { return eq(in[0], 0.5); })},
      {"ne(x,0.5)", op([](const auto& in) { return ne(in[0], 0.5); })},
      // selection
      {"where", op([](const auto& in) { return where(in[0], in[1], in[2]); })},
      {"masked_fill(x,mask,-2)", op([](const auto& in) { return masked_fill(in[0], in[1], -2); })},
      // reductions
      {"sum", op([](const auto& in) { return sum(in[0]); })},
      {"sum(x,0)", op([](const auto& in) { return sum(in[0], 0); })},
      {"sum(x,1)", op([](const auto& in) { return sum(in[0], 1); })},
      {"sum(x,1,keepdim)", op([](const auto& in) { return sum(in[0], 1, true); })},
      {"sum(x,-1)", op([](const auto& in) { return sum(in[0], -1); })},
      {"sum(x,{0,2})", op([](const auto& in) { return sum(in[0], {0, 2}); })},
      {"sum(x,{0,2},keepdim)", op([](const auto& in) { return sum(in[0], {0, 2}, true); })},
      {"sum(x,{-1,-3},keepdim)", op([](const auto& in) { return sum(in[0], {-1, -3}, true); })},
      {"sum(x,{0,1,2})", op([](const auto& in) { return sum(in[0], {0, 1, 2}); })},
      {"mean", op([](const auto& in) { return mean(in[0]); })},
      {"mean(x,0)", op([](const auto& in) { return mean(in[0], 0); })},
      {"mean(x,1)", op([](const auto& in) { return mean(in[0], 1); })},
      {"mean(x,1,keepdim)", op([](const auto& in) { return mean(in[0], 1, true); })},
      {"mean(x,-1)", op([](const auto& in) { return mean(in[0], -1); })},
      {"mean(x,{0,2})", op([](const auto& in) { return mean(in[0], {0, 2}); })},
      {"mean(x,{0,2},keepdim)", op([](const auto& in) { return mean(in[0], {0, 2}, true); })},
      {"mean(x,{-1,-3},keepdim)", op([](const auto& in) { return mean(in[0], {-1, -3}, true); })},
      {"max", op([](const auto& in) { return nabla::max(in[0]); })},
      {"min", op([](const auto& in) { return nabla::min(in[0]); })},
      {"max(x,0)", op([](const auto& in) { return nabla::max(in[0], 0); })},
      {"max(x,1)", op([](const auto& in) { return nabla::max(in[0], 1); })},
      {"max(x,-1)", op([](const auto& in) { return nabla::max(in[0], -1); })},
      {"max(x,0,keepdim)", op([](const auto& in) { return nabla::max(in[0], 0, true); })},
      {"max(x,1,keepdim)", op([](const auto& in) { return nabla::max(in[0], 1, true); })},
      {"min(x,0)", op([](const auto& in) { return nabla::min(in[0], 0); })},
      {"min(x,1)", op([](const auto& in) { return nabla::min(in[0], 1); })},
      {"min(x,-1)", op([](const auto& in) { return nabla::min(in[0], -1); })},
      {"min(x,1,keepdim)", op([](const auto& in) { return nabla::min(in[0], 1, true); })},
      {"argmax(x,0)", op([](const auto& in) { return argmax(in[0], 0); })},
      {"argmax(x,1)", op([](const auto& in) { return argmax(in[0], 1); })},
      {"argmax(x,-1,keepdim)", op([](const auto& in) { return argmax(in[0], -1, true); })},
      // activations
      {"relu", op([](const auto& in) { return relu(in[0]); })},
      {"leaky_relu", op([](const auto& in) { return leaky_relu(in[0]); })},
      {"leaky_relu(x,0.2)", op([](const auto& in) { return leaky_relu(in[0], 0.2); })},
      {"sigmoid", op([](const auto& in) { return sigmoid(in[0]); })},
      {"tanh", op([](const auto& in) { return nabla::tanh(in[0]); })},
      {"softmax(x,-1)", op([](const auto& in) { return softmax(in[0], -1); })},
      {"softmax(x,0)", op([](const auto& in) { return softmax(in[0], 0); })},
      {"softmax(x,1)", op([](const auto& in) { return softmax(in[0], 1); })},
      {"log_softmax(x,-1)", op([](const auto& in) { return log_softmax(in[0], -1); })},
      {"log_softmax(x,0)", op([](const auto& in) { return log_softmax(in[0], 0); })},
      {"log_softmax(x,1)", op([](const auto& in) { return log_softmax(in[0], 1); })},
      // matmul
      {"matmul", op([](const auto& in) { return matmul(in[0], in[1]); })},
      {"matmul(a.t(),b)", op([](const auto& in) { return matmul(in[0].t(), in[1]); })},
      {"matmul(a,b.t())", op([](const auto& in) { return matmul(in[0], in[1].t()); })},
      // shape
      {"cat({a,b},0)", op([](const auto& in) { return cat({in[0], in[1]}, 0); })},
      {"cat({a,b},1)", op([](const auto& in) { return cat({in[0], in[1]}, 1); })},
      {"cat({a,b,c},1)", op([](const auto& in) { return cat({in[0], in[1], in[2]}, 1); })},
      {"cat({a,b,c},0)", op([](const auto& in) { return cat({in[0], in[1], in[2]}, 0); })},
      {"cat({a,b},-1)", op([](const auto& in) { return cat({in[0], in[1]}, -1); })},
      {"stack({a,b,c},0)", op([](const auto& in) { return stack({in[0], in[1], in[2]}, 0); })},
      {"stack({a,b,c},1)", op([](const auto& in) { return stack({in[0], in[1], in[2]}, 1); })},
      {"stack({a,b,c},-1)", op([](const auto& in) { return stack({in[0], in[1], in[2]}, -1); })},
      {"flatten", op([](const auto& in) { return in[0].flatten(); })},
      {"flatten(x,1,2)", op([](const auto& in) { return in[0].flatten(1, 2); })},
      {"flatten(x,0,1)", op([](const auto& in) { return in[0].flatten(0, 1); })},
      {"flatten(x,-2,-1)", op([](const auto& in) { return in[0].flatten(-2, -1); })},
      {"reshape(x,{-1,4})", op([](const auto& in) { return in[0].reshape({-1, 4}); })},
      {"reshape(x,{3,-1})", op([](const auto& in) { return in[0].reshape({3, -1}); })},
      {"reshape(x.t(),{-1})", op([](const auto& in) { return in[0].t().reshape({-1}); })},
      {"view(x,{4,6})", op([](const auto& in) { return in[0].view({4, 6}); })},
      {"view(x,{-1})", op([](const auto& in) { return in[0].view({-1}); })},
      {"view(x,{2,-1,2})", op([](const auto& in) { return in[0].view({2, -1, 2}); })},
      {"transpose(x,0,2)", op([](const auto& in) { return in[0].transpose(0, 2); })},
      {"transpose(x,-1,-2)", op([](const auto& in) { return in[0].transpose(-1, -2); })},
      {"permute(x,{2,0,1})", op([](const auto& in) { return in[0].permute({2, 0, 1}); })},
      {"permute(x,{-1,0,-2})", op([](const auto& in) { return in[0].permute({-1, 0, -2}); })},
      {"narrow(x,1,1,2)", op([](const auto& in) { return in[0].narrow(1, 1, 2); })},
      {"narrow(x,-1,0,2)", op([](const auto& in) { return in[0].narrow(-1, 0, 2); })},
      {"narrow(x,0,2,2)*y", op([](const auto& in) { return in[0].narrow(0, 2, 2) * in[1]; })},
      {"select(x,0,1)", op([](const auto& in) { return in[0].select(0, 1); })},
      {"select(x,-1,2)", op([](const auto& in) { return in[0].select(-1, 2); })},
      {"select(x,1,-1)", op([](const auto& in) { return in[0].select(1, -1); })},
      {"expand(x,{2,3,4})*y", op([](const auto& in) { return in[0].expand({2, 3, 4}) * in[1]; })},
      {"expand(x,{3,-1})", op([](const auto& in) { return in[0].expand({3, -1}); })},
      {"exp(expand(x,{2,4,3}))", op([](const auto& in) { return nabla::exp(in[0].expand({2, 4, 3})); })},
      {"squeeze(x,1)", op([](const auto& in) { return in[0].squeeze(1); })},
      {"squeeze(x,-1)", op([](const auto& in) { return in[0].squeeze(-1); })},
      {"squeeze(x,0)", op([](const auto& in) { return in[0].squeeze(0); })},
      {"unsqueeze(x,0)", op([](const auto& in) { return in[0].unsqueeze(0); })},
      {"unsqueeze(x,1)", op([](const auto& in) { return in[0].unsqueeze(1); })},
      {"unsqueeze(x,-1)", op([](const auto& in) { return in[0].unsqueeze(-1); })},
      {"t", op([](const auto& in) { return in[0].t(); })},
      {"t(x)*y", op([](const auto& in) { return in[0].t() * in[1]; })},
      {"contiguous(t(x))", op([](const auto& in) { return in[0].t().contiguous(); })},
      {"view(contiguous(transpose(x,0,1)),{-1})",
       op([](const auto& in) { return in[0].transpose(0, 1).contiguous().view({-1}); })},
      {"clone", op([](const auto& in) { return in[0].clone(); })},
      {"clone(x)*x", op([](const auto& in) { return in[0].clone() * in[0]; })},
      {"one_hot(labels,5)",
       op([](const auto& in) { return one_hot<elem_t<decltype(in)>>(as_labels(in[0]), 5); })},
      {"one_hot(labels,4)",
       op([](const auto& in) { return one_hot<elem_t<decltype(in)>>(as_labels(in[0]), 4); })},
      // compositions
      {"mlp", op([](const auto& in) {
         return sigmoid(matmul(leaky_relu(matmul(in[0], in[1]) + in[2], 0.02), in[3]) + in[4]);
       })},
      {"x*x+x", op([](const auto& in) { return in[0] * in[0] + in[0]; })},
      {"x*sigmoid(x)", op([](const auto& in) { return in[0] * sigmoid(in[0]); })},
      {"mean((a-b)^2)", op([](const auto& in) { return mean(nabla::pow(in[0] - in[1], 2)); })},
      {"bce(sigmoid(x),t)", op([](const auto& in) {
         const auto& t = in[1];
         return -mean(t * nabla::log(sigmoid(in[0])) + (1 - t) * nabla::log(1 - sigmoid(in[0])));
       })},
      {"nll(log_softmax(x,1),onehot)",
       op([](const auto& in) { return -mean(sum(log_softmax(in[0], 1) * in[1], 1)); })},
      {"tanh(x@w)*sum(x,1,keepdim)",
       op([](const auto& in) { return nabla::tanh(matmul(in[0], in[1])) * sum(in[0], 1, true); })},
  };
  return table;
}

// ------------------------------------------------------------------------------------------
// Checks

template <class T>
Inputs<T> make_inputs(const FixtureCase& c) {
  Inputs<T> inputs;
  for (int k = 0; k < c.num_inputs; ++k) inputs.push_back(make_tensor<T>(*c.find("in" + std::to_string(k))));
  return inputs;
}

// Runs the case in T: forward, backward(gout), and every comparison.
template <class T>
void check_golden(const FixtureCase& c, const Op& impl) {
  const char* type = std::is_same_v<T, double> ? "double" : "float";
  const Tolerance tol = tolerance<T>();
  Inputs<T> inputs = make_inputs<T>(c);
  for (int k : c.requires_grad) inputs[static_cast<size_t>(k)].requires_grad_();
  const Result<T> result = impl.run<T>(inputs);

  if (const FixtureTensor* want = c.find("out")) {
    const std::string diff = compare(std::string(type) + " forward", result.values, *want, tol);
    INFO(diff);
    CHECK(diff.empty());
  } else {
    INFO(type << ": the op returned values where the fixture expects indices only");
    CHECK(!result.values.defined());
  }
  if (const FixtureTensor* want = c.find("indices")) {
    const std::string diff = compare(std::string(type) + " indices", result.indices, *want, {0, 0});
    INFO(diff);
    CHECK(diff.empty());
  }
  if (c.requires_grad.empty()) return;

  result.values.backward(make_tensor<T>(*c.find("gout")));
  for (int k : c.requires_grad) {
    const std::string role = "grad" + std::to_string(k);
    const std::string diff =
        compare(std::string(type) + " " + role, inputs[static_cast<size_t>(k)].grad(), *c.find(role), tol);
    INFO(diff);
    CHECK(diff.empty());
  }
}

// nabla::gradcheck over the differentiable inputs; the others (conditions, masks, targets) stay
// fixed, since perturbing a 0/1 mask by eps would change which branch is taken.
void check_gradcheck(const FixtureCase& c, const Op& impl) {
  const Inputs<double> all = make_inputs<double>(c);
  const std::vector<int> diff = c.requires_grad;
  nabla::GradcheckFn f = [&impl, all, diff](const Inputs<double>& xs) {
    Inputs<double> full = all;
    for (size_t i = 0; i < diff.size(); ++i) full[static_cast<size_t>(diff[i])] = xs[i];
    return impl.f64(full).values;
  };
  Inputs<double> variables;
  for (int k : diff) variables.push_back(all[static_cast<size_t>(k)]);
  const nabla::GradcheckResult result = nabla::gradcheck(f, variables);
  // gradcheck numbers only the inputs it was given; name the fixture's input instead.
  const std::string worst_input =
      result.input >= 0 ? "in" + std::to_string(diff[static_cast<size_t>(result.input)]) : "none";
  INFO("the worst element is in fixture input " << worst_input);
  INFO(result.message);
  CHECK(result.ok);
}

template <class F>
void guarded(const char* what, F f) {
  try {
    f();
  } catch (const std::exception& e) {
    FAIL_CHECK(what << " threw: " << e.what());
  }
}

std::string fixture_path(const std::string& file) { return std::string(NABLA_TEST_FIXTURES) + "/" + file; }

// The number of cases tools/gen_fixtures.py wrote to each file: a shorter file is a damaged one.
const std::vector<std::pair<std::string, int>>& fixture_files() {
  static const std::vector<std::pair<std::string, int>> files = {
      {"ops_elementwise.txt", 71}, {"ops_reduce.txt", 41}, {"ops_activation.txt", 14},
      {"ops_matmul.txt", 12},      {"ops_shape.txt", 46},  {"ops_composite.txt", 8},
  };
  return files;
}

void run_fixture(const std::string& file) {
  int generated = 0;
  for (const auto& entry : fixture_files())
    if (entry.first == file) generated = entry.second;
  REQUIRE(generated > 0);
  const Fixture fixture = read_fixture(fixture_path(file));
  INFO(file << " declares " << fixture.declared_count << " cases, has " << fixture.cases.size()
            << "; the generator wrote " << generated);
  REQUIRE(static_cast<int>(fixture.cases.size()) == fixture.declared_count);
  REQUIRE(static_cast<int>(fixture.cases.size()) >= generated);

  for (const FixtureCase& c : fixture.cases) {
    INFO("case " << c.name << " (" << c.where << "), op " << c.op);
    const auto it = ops().find(c.op);
    if (it == ops().end()) {
      FAIL_CHECK("no C++ implementation of op '" << c.op << "' in test_ops_golden.cpp's table");
      continue;
    }
    const Op& impl = it->second;
    guarded("double run", [&] { check_golden<double>(c, impl); });
    guarded("float run", [&] { check_golden<float>(c, impl); });
    if (c.gradcheck) guarded("gradcheck", [&] { check_gradcheck(c, impl); });
  }
}

}  // namespace

TEST_CASE("golden: elementwise ops match PyTorch", "[golden][elementwise]") { run_fixture("ops_elementwise.txt"); }
TEST_CASE("golden: reductions match PyTorch", "[golden][reduce]") { run_fixture("ops_reduce.txt"); }
TEST_CASE("golden: activations match PyTorch", "[golden][activation]") { run_fixture("ops_activation.txt"); }
TEST_CASE("golden: matmul matches PyTorch", "[golden][matmul]") { run_fixture("ops_matmul.txt"); }
TEST_CASE("golden: shape ops match PyTorch", "[golden][shape]") { run_fixture("ops_shape.txt"); }
TEST_CASE("golden: compositions match PyTorch", "[golden][composite]") { run_fixture("ops_composite.txt"); }

TEST_CASE("golden: every fixture file is tested, case names are unique, every table entry is used",
          "[golden]") {
  std::set<std::string> listed;
  for (const auto& entry : fixture_files()) listed.insert(entry.first);
  for (const auto& entry : std::filesystem::directory_iterator(NABLA_TEST_FIXTURES)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("ops_", 0) != 0) continue;
    INFO(file << " is not in fixture_files(), so no test reads it");
    CHECK(listed.count(file) == 1);
  }

  std::set<std::string> names, used_ops;
  int total = 0;
  for (const auto& entry : fixture_files()) {
    const Fixture fixture = read_fixture(fixture_path(entry.first));
    total += static_cast<int>(fixture.cases.size());
    for (const FixtureCase& c : fixture.cases) {
      INFO("case " << c.name << " at " << c.where);
      CHECK(names.insert(c.name).second);
      used_ops.insert(c.op);
    }
  }
  int generated_total = 0;
  for (const auto& entry : fixture_files()) generated_total += entry.second;
  CHECK(total >= generated_total);
  for (const auto& entry : ops()) {
    INFO("op '" << entry.first << "' is in the C++ table but in no fixture");
    CHECK(used_ops.count(entry.first) == 1);
  }
}

// leaky_relu runs through explicit vector blends (cpu::select_scaled); on tensors longer than a
// vector, with a tail, strided, and with zeros of both signs, it must give exactly the scalar
// formula x > 0 ? x : x * slope, and the gradient g > 0 ? g : g * slope by the input's sign.
template <class T>
void check_leaky_relu_long() {
  nabla::Generator gen(5);
  Tensor<T> base = Tensor<T>::uniform({7, 37}, -2, 2, gen);
  base.data()[0] = T(0);
  base.data()[1] = -T(0);
  base.data()[2] = T(1e-30);
  const Tensor<T> strided = base.transpose(0, 1);  // not contiguous
  for (const Tensor<T>& x0 : {base, strided}) {
    const Tensor<T> x = x0.detach().requires_grad_(), xc = x0.contiguous();
    const Tensor<T> y = nabla::leaky_relu(x, T(0.2));
    const Tensor<T> g = Tensor<T>::uniform(y.shape(), -1, 1, gen);
    y.backward(g);
    const Tensor<T> yc = y.contiguous(), gc = g.contiguous(), gx = x.grad().contiguous();
    for (int64_t i = 0; i < xc.numel(); ++i) {
      const T v = xc.data()[i];
      INFO("element " << i << ": x = " << v);
      const T want = v > T(0) ? v : v * T(0.2);
      CHECK(yc.data()[i] == want);
      CHECK(std::signbit(yc.data()[i]) == std::signbit(want));
      CHECK(gx.data()[i] == (v > T(0) ? gc.data()[i] : gc.data()[i] * T(0.2)));
    }
  }
}

TEST_CASE("leaky_relu on long and strided tensors equals the scalar formula", "[ops]") {
  check_leaky_relu_long<float>();
  check_leaky_relu_long<double>();
}
