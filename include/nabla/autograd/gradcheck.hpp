#pragma once
// gradcheck: compares backward's gradients with central finite differences, in double.
// The output is reduced to a scalar with fixed random weights w (L = sum(w * f(x))), so one
// backward gives every input's gradient; each input element is then perturbed by ±eps.
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/reduce.hpp"

namespace nabla {

struct GradcheckResult {
  bool ok = true;
  double max_error = 0;   // worst |analytic - numeric| - (atol + rtol * |numeric|), if positive
  int input = -1;         // where the worst element is
  int64_t element = -1;
  double analytic = 0, numeric = 0;
  std::string message;    // human-readable summary naming the worst element
};

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  uint64_t seed = 1234;
};

using GradcheckFn = std::function<Tensor<double>(const std::vector<Tensor<double>>&)>;

inline GradcheckResult gradcheck(const GradcheckFn& f, std::vector<Tensor<double>> inputs,
                                 GradcheckOptions options = {}) {
  for (auto& x : inputs) {
    NABLA_CHECK(x.defined() && x.is_leaf(), "gradcheck: inputs must be defined leaf tensors");
    x = x.detach().contiguous().clone();
    x.requires_grad_(true);
  }
  Generator gen(options.seed);
  Tensor<double> weights;
  auto loss = [&](const std::vector<Tensor<double>>& xs) {
    Tensor<double> y = f(xs);
    if (!weights.defined()) weights = Tensor<double>::uniform(y.shape(), 0.5, 1.5, gen);
    return sum(mul(y, weights));
  };
  loss(inputs).backward();

  GradcheckResult result;
  double worst = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor<double>& x = inputs[i];
    const Tensor<double> analytic = x.grad();
    double* p = x.data();
    for (int64_t e = 0; e < x.numel(); ++e) {
      const double saved = p[e];
      double plus, minus;
      {
        NoGradGuard no_grad;
        p[e] = saved + options.eps;
        plus = loss(inputs).item();
        p[e] = saved - options.eps;
        minus = loss(inputs).item();
        p[e] = saved;
      }
      const double numeric = (plus - minus) / (2 * options.eps);
      const double a = analytic.defined() ? analytic.data()[e] : 0.0;
      const double excess = std::abs(a - numeric) - (options.atol + options.rtol * std::abs(numeric));
      if (excess > worst) {
        worst = excess;
        result.input = static_cast<int>(i);
        result.element = e;
        result.analytic = a;
        result.numeric = numeric;
      }
    }
  }
  result.ok = worst <= 0;
  result.max_error = std::max(worst, 0.0);
  std::ostringstream msg;
  if (result.input < 0) msg << "gradcheck: no input elements";
  else
    msg << "gradcheck " << (result.ok ? "passed" : "FAILED") << ": worst element is input " << result.input
        << " [" << result.element << "]: analytic " << result.analytic << ", numeric " << result.numeric;
  result.message = msg.str();
  return result;
}

}  // namespace nabla
