#pragma once
// Reads the PyTorch golden-value fixtures (tests/fixtures/*.txt, written by tools/gen_fixtures.py
// and tools/gen_nn_fixtures.py, whose docstrings document the format) and compares nabla's tensors
// with their values. Shared by test_ops_golden.cpp and test_nn_golden.cpp; what the tensor roles
// mean, and which a case must have, is up to each test (the `finish` hook of read_fixture).
//
//   count <N>
//   case <name>
//   op <description>
//   gradcheck <0|1>
//   requires_grad [<k> ...]
//   tensor <role> <f64|i64> <ndim> [<dims>] : [<values>]
//   end
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nabla/nabla.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace golden {

struct FixtureTensor {
  bool is_int = false;
  std::vector<int64_t> shape;
  std::vector<double> values;  // i64 values are small labels, indices and seeds: exact as doubles
};

struct FixtureCase {
  std::string where;  // file:line of the `case` record
  std::string name, op;
  bool gradcheck = true;
  std::vector<int> requires_grad;
  std::map<std::string, FixtureTensor> tensors;
  int num_inputs = 0;  // in0, in1, ... present without a gap

  const FixtureTensor* find(const std::string& role) const {
    auto it = tensors.find(role);
    return it == tensors.end() ? nullptr : &it->second;
  }
};

struct Fixture {
  int declared_count = -1;
  std::vector<FixtureCase> cases;
};

[[noreturn]] inline void parse_error(const std::string& path, int line,
                                     const std::string& message) {
  throw std::runtime_error(path + ":" + std::to_string(line) + ": " + message);
}

inline double parse_double(const std::string& token, const std::string& path, int line) {
  char* end = nullptr;
  const double v = std::strtod(token.c_str(), &end);
  if (token.empty() || *end != '\0') parse_error(path, line, "not a number: '" + token + "'");
  return v;
}

inline int64_t parse_int(const std::string& token, const std::string& path, int line) {
  char* end = nullptr;
  const long long v = std::strtoll(token.c_str(), &end, 10);
  if (token.empty() || *end != '\0') parse_error(path, line, "not an integer: '" + token + "'");
  return v;
}

// True when `role` is `prefix` followed by an index in [0, limit).
inline bool indexed_role(const std::string& role, const std::string& prefix, int limit) {
  if (role.size() <= prefix.size() || role.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string digits = role.substr(prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(digits) < limit;
}

// Checks a finished case (path and the line of its `case` record given), so that a damaged
// fixture fails loudly instead of testing less; throws through parse_error.
using FinishCase = std::function<void(FixtureCase&, const std::string& path, int line)>;

inline Fixture read_fixture(const std::string& path, const FinishCase& finish) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open fixture " + path);
  Fixture fixture;
  FixtureCase current;
  bool open = false;
  int case_line = 0;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    if (text.empty() || text[0] == '#') continue;
    std::istringstream tokens(text);
    std::string keyword;
    tokens >> keyword;
    std::vector<std::string> rest;
    for (std::string t; tokens >> t;) rest.push_back(t);
    if (keyword == "count") {
      if (rest.size() != 1 || fixture.declared_count >= 0)
        parse_error(path, line, "bad count record");
      fixture.declared_count = static_cast<int>(parse_int(rest[0], path, line));
    } else if (keyword == "case") {
      if (open) parse_error(path, line, "case " + current.name + " has no end");
      if (rest.size() != 1) parse_error(path, line, "expected: case <name>");
      current = FixtureCase{};
      current.name = rest[0];
      current.where = path + ":" + std::to_string(line);
      open = true;
      case_line = line;
    } else if (!open) {
      parse_error(path, line, "record '" + keyword + "' outside a case");
    } else if (keyword == "op") {
      if (rest.size() != 1) parse_error(path, line, "expected: op <description>");
      current.op = rest[0];
    } else if (keyword == "gradcheck") {
      if (rest.size() != 1 || (rest[0] != "0" && rest[0] != "1"))
        parse_error(path, line, "expected: gradcheck 0|1");
      current.gradcheck = rest[0] == "1";
    } else if (keyword == "requires_grad") {
      for (const auto& t : rest)
        current.requires_grad.push_back(static_cast<int>(parse_int(t, path, line)));
    } else if (keyword == "tensor") {
      if (rest.size() < 4) parse_error(path, line, "short tensor record");
      FixtureTensor t;
      const std::string& role = rest[0];
      if (rest[1] != "f64" && rest[1] != "i64") parse_error(path, line, "unknown dtype " + rest[1]);
      t.is_int = rest[1] == "i64";
      const int64_t ndim = parse_int(rest[2], path, line);
      if (ndim < 0 || static_cast<size_t>(3 + ndim) >= rest.size() ||
          rest[static_cast<size_t>(3 + ndim)] != ":")
        parse_error(path, line, "tensor " + role + ": dims do not end with ':'");
      int64_t numel = 1;
      for (int64_t d = 0; d < ndim; ++d) {
        t.shape.push_back(parse_int(rest[static_cast<size_t>(3 + d)], path, line));
        numel *= t.shape.back();
      }
      for (size_t i = static_cast<size_t>(4 + ndim); i < rest.size(); ++i)
        t.values.push_back(t.is_int ? static_cast<double>(parse_int(rest[i], path, line))
                                    : parse_double(rest[i], path, line));
      if (static_cast<int64_t>(t.values.size()) != numel)
        parse_error(path, line,
                    "tensor " + role + ": " + std::to_string(t.values.size()) + " values for " +
                        std::to_string(numel) + " elements");
      if (!current.tensors.emplace(role, std::move(t)).second)
        parse_error(path, line, "duplicate tensor " + role);
    } else if (keyword == "end") {
      if (current.op.empty())
        parse_error(path, case_line, "case " + current.name + ": no op record");
      while (current.find("in" + std::to_string(current.num_inputs))) ++current.num_inputs;
      finish(current, path, case_line);
      fixture.cases.push_back(std::move(current));
      open = false;
    } else {
      parse_error(path, line, "unknown record '" + keyword + "'");
    }
  }
  if (open)
    parse_error(path, case_line, "case " + current.name + " is not closed (truncated file?)");
  if (fixture.declared_count < 0) throw std::runtime_error(path + ": no count record");
  return fixture;
}

// ------------------------------------------------------------------------------------------
// Comparing with the fixture's values

struct Tolerance {
  double atol, rtol;
};

// The default tolerance of a golden comparison in T.
template <class T>
constexpr Tolerance tolerance() {
  if constexpr (std::is_same_v<T, double>)
    return {1e-10, 1e-8};
  else
    return {1e-5, 1e-4};
}

inline std::string shape_string(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  return os.str() + ']';
}

// "" when `got` matches `want` within the tolerance, otherwise what differs.
template <class U>
std::string compare(const std::string& what, const nabla::Tensor<U>& got, const FixtureTensor& want,
                    Tolerance tol) {
  if (!got.defined()) return what + ": nabla gave no tensor";
  const std::vector<int64_t> got_shape(got.shape().begin(), got.shape().end());
  if (got_shape != want.shape)
    return what + ": shape " + shape_string(got_shape) + ", expected " + shape_string(want.shape);
  const std::vector<U> values = got.to_vector();
  size_t bad = 0, worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double g = static_cast<double>(values[i]), w = want.values[i];
    double excess = std::abs(g - w) - (tol.atol + tol.rtol * std::abs(w));
    if (std::isnan(excess)) excess = INFINITY;
    if (excess <= 0) continue;
    if (bad++ == 0 || excess > worst_excess) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (!bad) return "";
  std::ostringstream os;
  os.precision(17);
  os << what << ": " << bad << " of " << values.size() << " elements differ; worst is [" << worst
     << "]: got " << static_cast<double>(values[worst]) << ", expected " << want.values[worst]
     << " (atol " << tol.atol << ", rtol " << tol.rtol << ")";
  return os.str();
}

template <class T>
nabla::Tensor<T> make_tensor(const FixtureTensor& f) {
  std::vector<T> values;
  values.reserve(f.values.size());
  for (double v : f.values) values.push_back(static_cast<T>(v));
  return nabla::Tensor<T>::from(values, nabla::Shape(std::span<const int64_t>(f.shape)));
}

}  // namespace golden
