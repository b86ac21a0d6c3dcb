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
#include <limits>
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

// elu, silu, gelu (both forms) and softplus run block by block (cpu::for_blocks), with exp,
// expm1, tanh, logistic and erf staged through Eigen or nabla's own float approximations. On a
// tensor of several blocks plus a tail, strided, over [-12, 12] (every branch: softplus's
// threshold, erf's clamp, expm1's Taylor range), forward and backward must match the scalar
// formulas in long double to a few ulp (relative) or a few ulp of 1 + |x| (absolute, where the
// formula cancels to near 0).
template <class T>
void check_blockwise_activations() {
  using L = long double;
  nabla::Generator gen(9);
  Tensor<T> base = Tensor<T>::uniform({9, 131}, -12, 12, gen);  // 1179 elements: 4 blocks + tail
  for (int64_t i = 0; i < 200; ++i) base.data()[i] = T(-1 + 0.01 * static_cast<double>(i));
  base.data()[0] = T(0);
  base.data()[1] = T(1e-6);
  base.data()[2] = T(-1e-6);
  const Tensor<T> strided = base.transpose(0, 1);
  constexpr L kPi = 3.141592653589793238462643383279502884L;
  struct Case {
    const char* name;
    std::function<Tensor<T>(const Tensor<T>&)> op;
    std::function<L(L)> f, df;
    // The float formula cancels (gelu: x (1 + erf) for x << 0; sigmoid's and silu's gradients:
    // 1 - y for x >> 0, as PyTorch's): absolute slack there, else relative only.
    bool fwd_cancels = false, bwd_cancels = false;
  };
  const L a = 0.7L, b = 2.0L, th = 15.0L;
  const std::vector<Case> cases = {
      {"elu", [&](const Tensor<T>& x) { return nabla::elu(x, T(a)); },
       [&](L v) { return v > 0 ? v : a * std::expm1(v); }, [&](L v) { return v > 0 ? 1 : a * std::exp(v); }},
      {"silu", [](const Tensor<T>& x) { return nabla::silu(x); },
       [](L v) { return v / (1 + std::exp(-v)); },
       [](L v) {
         const L s = 1 / (1 + std::exp(-v));
         return s * (1 + v * (1 - s));
       },
       false, true},
      {"gelu", [](const Tensor<T>& x) { return nabla::gelu(x); },
       [](L v) { return v * 0.5L * (1 + std::erf(v / std::sqrt(2.0L))); },
       [&](L v) { return 0.5L * (1 + std::erf(v / std::sqrt(2.0L))) + v * std::exp(-v * v / 2) / std::sqrt(2 * kPi); },
       true, true},
      {"gelu_tanh", [](const Tensor<T>& x) { return nabla::gelu(x, "tanh"); },
       [&](L v) { return 0.5L * v * (1 + std::tanh(std::sqrt(2 / kPi) * (v + 0.044715L * v * v * v))); },
       [&](L v) {
         const L k = std::sqrt(2 / kPi), t = std::tanh(k * (v + 0.044715L * v * v * v));
         return 0.5L * (1 + t) + 0.5L * v * (1 - t * t) * k * (1 + 3 * 0.044715L * v * v);
       },
       true, true},
      {"sigmoid", [](const Tensor<T>& x) { return nabla::sigmoid(x); },
       [](L v) { return 1 / (1 + std::exp(-v)); },
       [](L v) {
         const L s = 1 / (1 + std::exp(-v));
         return s * (1 - s);
       },
       false, true},
      {"exp", [](const Tensor<T>& x) { return nabla::exp(x); }, [](L v) { return std::exp(v); },
       [](L v) { return std::exp(v); }},
      {"softplus", [&](const Tensor<T>& x) { return nabla::softplus(x, T(b), T(th)); },
       [&](L v) { return b * v > th ? v : std::log1p(std::exp(b * v)) / b; },
       [&](L v) { return b * v > th ? 1 : 1 / (1 + std::exp(-b * v)); }},
  };
  const L ulp = std::numeric_limits<T>::epsilon();
  for (const Case& c : cases)
    for (const Tensor<T>& x0 : {base, strided}) {
      INFO(c.name << (x0.is_contiguous() ? ", contiguous" : ", strided"));
      const Tensor<T> x = x0.detach().requires_grad_(), xc = x0.contiguous();
      const Tensor<T> y = c.op(x);
      const Tensor<T> g = Tensor<T>::uniform(y.shape(), -1, 1, gen);
      y.backward(g);
      const Tensor<T> yc = y.contiguous(), gc = g.contiguous(), gx = x.grad().contiguous();
      for (int64_t i = 0; i < xc.numel(); ++i) {
        const L v = xc.data()[i];
        INFO("element " << i << ": x = " << static_cast<double>(v));
        const L want = c.f(v), want_g = static_cast<L>(gc.data()[i]) * c.df(v);
        // Absolute slack grows with |x|: gelu's x (1 + erf) and x (1 + tanh) cancel for x << 0,
        // where erf and tanh are near -1 and carry an absolute error of an ulp of 1 (PyTorch's
        // float formulas cancel the same way).
        // The others are checked relative only (down to sigmoid(-12) = 6e-6 and its gradient), with
        // the smallest normal as the floor.
        const L cancel_slack = 4 * ulp * (1 + std::abs(v)), floor = std::numeric_limits<T>::min();
        CHECK(std::abs(yc.data()[i] - want) <= 8 * ulp * std::abs(want) + (c.fwd_cancels ? cancel_slack : floor));
        CHECK(std::abs(gx.data()[i] - want_g) <=
              8 * ulp * std::abs(want_g) + (c.bwd_cancels ? cancel_slack : floor));
      }
    }
}

TEST_CASE("blockwise activations on long and strided tensors match the formulas", "[ops][activation]") {
  check_blockwise_activations<float>();
  check_blockwise_activations<double>();
}

// softmax, log_softmax and cross_entropy on rows longer than one 256-element block (with a tail),
// forward and backward, against long-double formulas: the fixtures' rows are short.
TEST_CASE("softmax family on long rows matches the formulas", "[ops][activation]") {
  using L = long double;
  nabla::Generator gen(12);
  const int64_t rows = 3, n = 1000;
  const Tensor<float> x0 = Tensor<float>::uniform({rows, n}, -30, 30, gen);
  const Tensor<float> g = Tensor<float>::uniform({rows, n}, -1, 1, gen);
  const Tensor<int64_t> labels = Tensor<int64_t>::from(std::vector<int64_t>{7, 500, 999}, {rows});
  const L eps = std::numeric_limits<float>::epsilon();
  for (int which = 0; which < 3; ++which) {
    INFO((which == 0 ? "softmax" : which == 1 ? "log_softmax" : "cross_entropy"));
    const Tensor<float> x = x0.detach().requires_grad_();
    const Tensor<float> y = which == 0 ? nabla::softmax(x, 1)
                            : which == 1 ? nabla::log_softmax(x, 1)
                                         : nabla::cross_entropy(x, labels);
    if (which < 2)
      y.backward(g);
    else
      y.backward();
    L loss = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x0.data() + r * n;
      L m = xr[0], s = 0, gsum = 0, gy = 0, gabs = 0;
      for (int64_t c = 1; c < n; ++c) m = std::max<L>(m, xr[c]);
      for (int64_t c = 0; c < n; ++c) s += std::exp(static_cast<L>(xr[c]) - m);
      for (int64_t c = 0; c < n; ++c) {
        const L p = std::exp(static_cast<L>(xr[c]) - m) / s;
        gsum += g.data()[r * n + c];
        gabs += std::abs(static_cast<L>(g.data()[r * n + c]));
        gy += g.data()[r * n + c] * p;
      }
      loss += m + std::log(s) - xr[labels.data()[r]];
      for (int64_t c = 0; c < n; ++c) {
        const L p = std::exp(static_cast<L>(xr[c]) - m) / s, gc = g.data()[r * n + c];
        const L want = which == 0 ? p : std::log(p);
        const L want_g = which == 0   ? p * (gc - gy)
                         : which == 1 ? gc - p * gsum
                                      : (p - (c == labels.data()[r] ? 1 : 0)) / rows;
        // Float softmax rounds x - max first: an absolute error of up to |x - max| eps / 2 in the
        // exponent, so a relative error growing with |x - max| (PyTorch's the same); the sums over
        // the row add their own (bounded by eps times the sum of magnitudes).
        const L d = std::abs(static_cast<L>(xr[c]) - m);
        if (which == 0) CHECK(std::abs(y.data()[r * n + c] - want) <= eps * (8 + d) * want + 1e-38L);
        if (which == 1) CHECK(std::abs(y.data()[r * n + c] - want) <= eps * (8 * std::abs(want) + 8));
        CHECK(std::abs(x.grad().data()[r * n + c] - want_g) <=
              eps * (16 + d) * (std::abs(want_g) + p * (std::abs(gc) + std::abs(gy) + gabs + 1)) + 1e-38L);
      }
    }
    if (which == 2) CHECK(std::abs(y.item() - loss / rows) <= 8 * eps * std::abs(loss / rows));
  }
}

// cpu::exp_affine, the float exp behind exp, sigmoid, silu, elu, gelu, softplus and the softmax
// family: within 2 ulp of exp over the whole float range (1 smallest denormal of slack where the
// result is denormal), 0 and inf beyond it, NaN kept, and a x + b applied before the exp.
TEST_CASE("float exp_affine is within 2 ulp of exp everywhere", "[ops][activation]") {
  std::vector<float> x;
  for (double v = -110; v <= 95; v += 0.000731) x.push_back(static_cast<float>(v));
  for (float v : {-104.0f, -103.97f, -103.28f, -87.34f, -87.33f, -0.34657f, 0.34657f, 0.0f, -0.0f, 1e-30f,
                  88.72f, 88.7228f, 88.73f, 89.0f})
    x.push_back(v);
  std::vector<float> y(x.size());
  nabla::cpu::exp_affine(x.data(), 1.0f, 0.0f, y.data(), static_cast<int64_t>(x.size()));
  const long double denorm = std::numeric_limits<float>::denorm_min();
  int64_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const long double want = std::exp(static_cast<long double>(x[i]));
    // One ulp of the result: 2^(e - 23) for want in [2^e, 2^(e+1)), the smallest denormal below.
    const long double want_ulp =
        want < std::numeric_limits<float>::min() ? denorm : std::ldexp(1.0L, std::ilogb(want) - 23);
    const bool ok = want > std::numeric_limits<float>::max() ? std::isinf(y[i])
                                                             : std::abs(y[i] - want) <= 2 * want_ulp;
    if (!ok && bad++ < 5) FAIL_CHECK("exp(" << x[i] << ") = " << y[i] << ", want " << static_cast<double>(want));
  }
  CHECK(bad == 0);
  // 16 elements: one whole vector plus a tail (and no GCC -Warray-bounds false positive on Eigen's
  // packet path for a short constant-size array).
  std::vector<float> sp = {-INFINITY, INFINITY, NAN, -1e30f, 1e30f}, out(16);
  sp.resize(16, 0.0f);
  nabla::cpu::exp_affine(sp.data(), 1.0f, 0.0f, out.data(), 16);
  CHECK(out[0] == 0.0f);
  CHECK(std::isinf(out[1]));
  CHECK(std::isnan(out[2]));
  CHECK(out[3] == 0.0f);
  CHECK(std::isinf(out[4]));
  std::vector<float> ab = {1.0f, -2.0f, 3.0f};
  ab.resize(16, 0.0f);
  nabla::cpu::exp_affine(ab.data(), -0.5f, 0.25f, ab.data(), 16);  // in place
  CHECK(ab[0] == Approx(std::exp(-0.25)).epsilon(4e-7));
  CHECK(ab[1] == Approx(std::exp(1.25)).epsilon(4e-7));
  CHECK(ab[2] == Approx(std::exp(-1.25)).epsilon(4e-7));
}

// x.transpose(...).contiguous() and permutes that swap the two innermost dims go through tiled
// transposes (cpu::detail::copy_transposed); every shape around the tile and vector widths must
// give exactly the element-by-element result, and so must the gradient (a transposed copy back).
TEST_CASE("transposed copies equal the element-by-element copy", "[ops][shape]") {
  nabla::Generator gen(3);
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
           {16, 16}, {17, 23}, {64, 64}, {65, 130}, {200, 9}, {129, 257}}) {
    INFO(rows << " x " << cols);
    const Tensor<float> x = Tensor<float>::randn({rows, cols}, gen).requires_grad_();
    const Tensor<float> y = x.t().contiguous();
    REQUIRE(y.shape() == Shape{cols, rows});
    bool same = true;
    for (int64_t r = 0; r < cols; ++r)
      for (int64_t c = 0; c < rows; ++c) same = same && y.data()[r * rows + c] == x.data()[c * cols + r];
    CHECK(same);
    const Tensor<float> g = Tensor<float>::randn(y.shape(), gen);
    y.backward(g);
    const Tensor<float> gx = x.grad().contiguous();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) same = same && gx.data()[r * cols + c] == g.data()[c * rows + r];
    CHECK(same);
  }
  // Batched: [B, H, W] -> [B, W, H], and NCHW -> NHWC ([2, 3, 20, 24] -> [2, 20, 24, 3]).
  const Tensor<double> b = Tensor<double>::randn({3, 40, 33}, gen);
  const Tensor<double> bt = b.transpose(1, 2).contiguous();
  bool same = true;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t h = 0; h < 40; ++h)
      for (int64_t w = 0; w < 33; ++w) same = same && bt.data()[(i * 33 + w) * 40 + h] == b.data()[(i * 40 + h) * 33 + w];
  CHECK(same);
  const Tensor<float> n = Tensor<float>::randn({2, 3, 20, 24}, gen);
  const Tensor<float> nhwc = n.permute({0, 2, 3, 1}).contiguous();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 20; ++h)
        for (int64_t w = 0; w < 24; ++w)
          same = same && nhwc.data()[((i * 20 + h) * 24 + w) * 3 + c] == n.data()[((i * 3 + c) * 20 + h) * 24 + w];
  CHECK(same);
}

// mse_loss with mean or sum is one fused node: its value and both gradients against the unfused
// (x - t)^2 reduced, on a tensor of several 4096-element chunks, strided, and at 1 and 2 threads.
TEST_CASE("fused mse_loss equals the composite form", "[ops][loss]") {
  nabla::Generator gen(4);
  const Tensor<double> base = Tensor<double>::randn({257, 263}, gen), tb = Tensor<double>::randn({263, 257}, gen);
  const int previous_threads = nabla::get_num_threads();
  for (int threads : {1, 2}) {
    nabla::set_num_threads(threads);
    for (nabla::Reduction r : {nabla::Reduction::Mean, nabla::Reduction::Sum}) {
      const Tensor<double> x = base.detach().requires_grad_(), t = tb.detach().requires_grad_();
      const Tensor<double> loss = nabla::mse_loss(x, t.t(), r);
      loss.backward();
      const Tensor<double> x2 = base.detach().requires_grad_(), t2 = tb.detach().requires_grad_();
      const Tensor<double> d = x2 - t2.t();
      const Tensor<double> ref = r == nabla::Reduction::Mean ? nabla::mean(d * d) : nabla::sum(d * d);
      ref.backward();
      CHECK(loss.item() == Approx(ref.item()).epsilon(1e-12));
      const Tensor<double> gx = x.grad().contiguous(), gx2 = x2.grad().contiguous();
      const Tensor<double> gt = t.grad().contiguous(), gt2 = t2.grad().contiguous();
      double worst = 0;
      for (int64_t i = 0; i < gx.numel(); ++i)
        worst = std::max({worst, std::abs(gx.data()[i] - gx2.data()[i]), std::abs(gt.data()[i] - gt2.data()[i])});
      CHECK(worst < 1e-15);
    }
  }
  nabla::set_num_threads(previous_threads);
  CHECK_THROWS_WITH(nabla::mse_loss(Tensor<float>::zeros({0}), Tensor<float>::zeros({0})),
                    Catch::Contains("mse_loss") && Catch::Contains("empty"));
  CHECK(nabla::mse_loss(Tensor<float>::zeros({0}), Tensor<float>::zeros({0}), nabla::Reduction::Sum).item() == 0);
}
