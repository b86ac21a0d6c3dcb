#pragma once
// mse_loss, binary_cross_entropy (logs clamped at -100, as PyTorch), and
// binary_cross_entropy_with_logits (the numerically stable form). Targets may be soft labels.
// cross_entropy and nll_loss for class-index targets (PyTorch's weight, ignore_index, reduction
// and label_smoothing), each one fused node; cross_entropy also takes class probabilities.
#include <cmath>
#include <limits>
#include <vector>

#include "nabla/ops/activation.hpp"
#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/reduce.hpp"

namespace nabla {

enum class Reduction { None, Mean, Sum };

namespace detail {
template <Floating T>
void check_loss_shapes(const char* op, const Tensor<T>& input, const Tensor<T>& target) {
  check_same_device(input, target, op);
  NABLA_CHECK(input.shape() == target.shape(), op, ": target shape ", target.shape(),
              " does not match input shape ", input.shape());
}

// Applies the reduction to elementwise losses `l`, whose backward is already recorded.
template <Floating T>
Tensor<T> reduce_loss(const Tensor<T>& l, Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return mean(l);
    case Reduction::Sum:
      return sum(l);
    default:
      return l;
  }
}
}  // namespace detail

// Mean and sum are one fused node (one pass forward, one backward); none is (x - t)^2.
template <Floating T>
Tensor<T> mse_loss(const Tensor<T>& input, const Tensor<T>& target,
                   Reduction reduction = Reduction::Mean) {
  detail::check_loss_shapes("mse_loss", input, target);
  if (reduction == Reduction::None) {
    const Tensor<T> diff = sub(input, target);
    return mul(diff, diff);
  }
  const int64_t n = input.numel();
  NABLA_CHECK(n > 0 || reduction != Reduction::Mean, "mse_loss: the input is empty (shape ",
              input.shape(), "), so its mean is undefined");
  const Tensor<T> x = detail::contiguous_or_self(input), t = detail::contiguous_or_self(target);
  const T scale = reduction == Reduction::Mean ? T(1) / static_cast<T>(n) : T(1);
  Tensor<T> out = Tensor<T>::scalar(cpu::sum_squared_diff(x.data(), t.data(), n) * scale);
  if (needs_graph(input, target))
    record("mse_loss", out, {&input, &target},
           [sx = Saved<T>(x), st = Saved<T>(t), scale](Node<T>& nd, const Tensor<T>& g) {
             const T k = T(2) * g.item() * scale;
             Tensor<T> gx = Tensor<T>::empty(sx.get(nd).shape());
             cpu::map(gx, [k](T a, T b) { return k * (a - b); }, sx.get(nd), st.get(nd));
             if (nd.needs_grad(1)) {
               Tensor<T> gt = Tensor<T>::empty(gx.shape());
               cpu::map(gt, [](T v) { return -v; }, gx);
               nd.send(1, std::move(gt));
             }
             if (nd.needs_grad(0)) nd.send(0, std::move(gx));
           });
  return out;
}

// input holds probabilities in [0, 1].
template <Floating T>
Tensor<T> binary_cross_entropy(const Tensor<T>& input, const Tensor<T>& target,
                               Reduction reduction = Reduction::Mean) {
  detail::check_loss_shapes("binary_cross_entropy", input, target);
  NABLA_CHECK(!(grad_enabled() && target.requires_grad()),
              "binary_cross_entropy: the gradient with respect to the target is not defined (as in "
              "PyTorch); "
              "detach() the target or use binary_cross_entropy_with_logits");
  const Tensor<T> in = detail::contiguous_or_self(input);
  for (int64_t i = 0; i < in.numel(); ++i) {
    const T v = in.data()[i];
    NABLA_CHECK(v >= T(0) && v <= T(1),
                "binary_cross_entropy: input values must be in [0, 1], got ", v, " at element ", i,
                " (did you mean binary_cross_entropy_with_logits?)");
  }
  Tensor<T> l = Tensor<T>::empty(input.shape());
  cpu::map(
      l,
      [](T p, T t) {
        const T log_p = std::max(std::log(p), T(-100)), log_q = std::max(std::log1p(-p), T(-100));
        return -(t * log_p + (1 - t) * log_q);
      },
      in, target);
  if (needs_graph(input))
    record("binary_cross_entropy", l, {&input},
           [sp = Saved<T>(in), st = Saved<T>(target)](Node<T>& n, const Tensor<T>& g) {
             Tensor<T> gp = Tensor<T>::empty(g.shape());
             cpu::map(
                 gp, [](T gv, T p, T t) { return gv * (p - t) / std::max((1 - p) * p, T(1e-12)); },
                 g, sp.get(n), st.get(n));
             n.send(0, std::move(gp));
           });
  return detail::reduce_loss(l, reduction);
}

// input holds logits: loss = max(x, 0) - x t + log(1 + exp(-|x|)).
template <Floating T>
Tensor<T> binary_cross_entropy_with_logits(const Tensor<T>& input, const Tensor<T>& target,
                                           Reduction reduction = Reduction::Mean) {
  detail::check_loss_shapes("binary_cross_entropy_with_logits", input, target);
  Tensor<T> l = Tensor<T>::empty(input.shape());
  cpu::map(
      l, [](T x, T t) { return std::max(x, T(0)) - x * t + std::log1p(std::exp(-std::abs(x))); },
      input, target);
  if (needs_graph(input, target))
    record("binary_cross_entropy_with_logits", l, {&input, &target},
           [sx = Saved<T>(input), st = Saved<T>(target)](Node<T>& n, const Tensor<T>& g) {
             const Tensor<T>&x = sx.get(n), &t = st.get(n);
             if (n.needs_grad(0)) {
               Tensor<T> gx = Tensor<T>::empty(g.shape());
               cpu::map(
                   gx, [](T gv, T xv, T tv) { return gv * (T(1) / (T(1) + std::exp(-xv)) - tv); },
                   g, x, t);
               n.send(0, std::move(gx));
             }
             if (n.needs_grad(1)) {
               Tensor<T> gt = Tensor<T>::empty(g.shape());
               cpu::map(
                   gt, [](T gv, T xv) { return -gv * xv; }, g, x);
               n.send(1, std::move(gt));
             }
           });
  return detail::reduce_loss(l, reduction);
}

// Options of nll_loss and cross_entropy, PyTorch's defaults: `weight` ([C], optional) scales each
// class's terms, targets equal to `ignore_index` contribute nothing (and do not count in the
// mean), `label_smoothing` (cross_entropy only) mixes the target with the uniform distribution.
template <Floating T>
struct NLLLossOptions {
  Tensor<T> weight{};
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};
template <Floating T>
struct CrossEntropyOptions {
  Tensor<T> weight{};
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
  double label_smoothing = 0.0;
};

namespace detail {
// The layout of a class-index loss: input [N, C, d1...] (or [C], unbatched) as `rows` = N * d1...
// rows of C values `inner` apart; target [N, d1...] (or []) holds one class per row.
struct ClassRows {
  int64_t rows, classes, inner;
  int64_t at(int64_t r, int64_t c) const { return (r / inner * classes + c) * inner + r % inner; }
};

template <Floating T>
ClassRows check_class_loss(const char* op, const Tensor<T>& input, const Tensor<int64_t>& target,
                           const Tensor<T>& weight, int64_t ignore_index,
                           std::vector<int64_t>& labels) {
  check_operand(input, op);
  check_operand(target, op);
  NABLA_CHECK(input.device() == target.device(), op, ": input is on ", input.device(),
              ", target on ", target.device());
  NABLA_CHECK(input.dim() >= 1, op, ": expected input [N, C], [N, C, d1, ...] or [C], got shape ",
              input.shape());
  const bool unbatched = input.dim() == 1;
  const int64_t classes = input.shape()[unbatched ? 0 : 1];
  Shape expected;
  if (!unbatched) {
    expected.push_back(input.shape()[0]);
    for (int64_t d = 2; d < input.dim(); ++d) expected.push_back(input.shape()[d]);
  }
  NABLA_CHECK(target.shape() == expected, op, ": target shape ", target.shape(),
              " does not match input shape ", input.shape(), " (expected ", expected,
              ": one class index per row of the class dimension)");
  NABLA_CHECK(classes > 0, op, ": the input has no classes (shape ", input.shape(), ")");
  if (weight.defined()) {
    check_same_device(input, weight, op);
    NABLA_CHECK(weight.dim() == 1 && weight.shape()[0] == classes, op, ": weight has shape ",
                weight.shape(), ", expected [", classes, "] (one weight per class)");
    NABLA_CHECK(!(grad_enabled() && weight.requires_grad()), op,
                ": the gradient with respect to the class weights is not defined (as in PyTorch); "
                "detach() them");
  }
  labels = target.to_vector();
  for (size_t i = 0; i < labels.size(); ++i)
    NABLA_CHECK(labels[i] == ignore_index || (labels[i] >= 0 && labels[i] < classes), op,
                ": target ", labels[i], " at position ", i, " is outside [0, ", classes, ")",
                ignore_index < 0 || ignore_index >= classes ? " and is not ignore_index" : "");
  int64_t inner = 1;
  for (int64_t d = 2; d < input.dim(); ++d) inner *= input.shape()[d];
  return {static_cast<int64_t>(labels.size()), classes, inner};
}

// The reduction's divisor for the mean: the summed weights of the rows not ignored (their count
// without weights). 0 when every row is ignored: the mean is then NaN, as in PyTorch.
template <Floating T>
T class_loss_divisor(const std::vector<int64_t>& labels, const T* w, int64_t ignore_index) {
  T d = 0;
  for (const int64_t y : labels)
    if (y != ignore_index) d += w ? w[y] : T(1);
  return d;
}

template <Floating T>
Tensor<T> reduced_class_loss(const std::vector<T>& per_row, const Shape& shape, Reduction reduction,
                             T divisor) {
  if (reduction == Reduction::None) return Tensor<T>::from(std::span<const T>(per_row), shape);
  T total = 0;
  for (const T v : per_row) total += v;
  Tensor<T> out = Tensor<T>::empty({});
  out.data()[0] = reduction == Reduction::Sum ? total : total / divisor;
  return out;
}
}  // namespace detail

// input: log-probabilities [N, C] (or [N, C, d1, ...], or [C]); target: class indices [N] (or
// [N, d1, ...], or []). loss_n = -weight[y_n] * input[n, y_n].
template <Floating T>
Tensor<T> nll_loss(const Tensor<T>& input, const Tensor<int64_t>& target,
                   const NLLLossOptions<T>& o = {}) {
  std::vector<int64_t> labels;
  const detail::ClassRows cr =
      detail::check_class_loss("nll_loss", input, target, o.weight, o.ignore_index, labels);
  const Tensor<T> x = detail::contiguous_or_self(input);
  const Tensor<T> wc = o.weight.defined() ? detail::contiguous_or_self(o.weight) : Tensor<T>();
  const T* w = wc.defined() ? wc.data() : nullptr;
  std::vector<T> per_row(static_cast<size_t>(cr.rows), T(0));
  for (int64_t r = 0; r < cr.rows; ++r) {
    const int64_t y = labels[static_cast<size_t>(r)];
    if (y != o.ignore_index)
      per_row[static_cast<size_t>(r)] = -(w ? w[y] : T(1)) * x.data()[cr.at(r, y)];
  }
  const T divisor = detail::class_loss_divisor(labels, w, o.ignore_index);
  Tensor<T> out = detail::reduced_class_loss(per_row, target.shape(), o.reduction, divisor);
  if (needs_graph(input))
    record("nll_loss", out, {&input},
           [labels = std::move(labels), wc, cr, ignore = o.ignore_index, reduction = o.reduction,
            divisor, shape = input.shape()](Node<T>& n, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             const T* w = wc.defined() ? wc.data() : nullptr;
             Tensor<T> gx = Tensor<T>::zeros(shape);
             for (int64_t r = 0; r < cr.rows; ++r) {
               const int64_t y = labels[static_cast<size_t>(r)];
               if (y == ignore) continue;
               const T scale = reduction == Reduction::None  ? g.data()[r]
                               : reduction == Reduction::Sum ? g.data()[0]
                                                             : g.data()[0] / divisor;
               gx.data()[cr.at(r, y)] = -scale * (w ? w[y] : T(1));
             }
             n.send(0, std::move(gx));
           });
  return out;
}

// input: unnormalised logits, laid out as nll_loss's; target: class indices. The loss of row n is
// (1 - s) * nll(log_softmax(x)_n, y_n) + (s / C) * sum_c -weight[c] log_softmax(x)_nc with
// s = label_smoothing; the mean divides both parts by the summed weights of the rows not ignored
// (PyTorch's rule). One fused node: log-sum-exp per row forward, softmax minus target backward.
template <Floating T>
Tensor<T> cross_entropy(const Tensor<T>& input, const Tensor<int64_t>& target,
                        const CrossEntropyOptions<T>& o = {}) {
  const char* op = "cross_entropy";
  NABLA_CHECK(o.label_smoothing >= 0 && o.label_smoothing <= 1, op,
              ": label_smoothing must be in [0, 1], got ", o.label_smoothing);
  std::vector<int64_t> labels;
  const detail::ClassRows cr =
      detail::check_class_loss(op, input, target, o.weight, o.ignore_index, labels);
  const Tensor<T> x = detail::contiguous_or_self(input);
  const Tensor<T> wc = o.weight.defined() ? detail::contiguous_or_self(o.weight) : Tensor<T>();
  const T* w = wc.defined() ? wc.data() : nullptr;
  const T eps = static_cast<T>(o.label_smoothing), keep = T(1) - eps;
  const int64_t C = cr.classes;
  Tensor<T> lse = Tensor<T>::empty({cr.rows});  // log-sum-exp of every row, for the backward
  std::vector<T> per_row(static_cast<size_t>(cr.rows), T(0));
  const T* px = x.data();
  // Rows are independent (an exp per element): split over threads at kTranscendentalGrain.
  const int64_t grain = std::max<int64_t>(1, cpu::kTranscendentalGrain / std::max<int64_t>(C, 1));
  cpu::parallel_for(cr.rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = px + cr.at(r, 0);
      T m, l;
      if (cr.inner == 1) {  // contiguous classes: vectorised
        m = cpu::ConstArrayMap<T>(row, C).maxCoeff();
        l = m + std::log(cpu::sum_exp_shifted(row, m, C));
      } else {
        m = row[0];
        for (int64_t c = 1; c < C; ++c) m = std::max(m, row[c * cr.inner]);
        T s = 0;
        for (int64_t c = 0; c < C; ++c) s += std::exp(row[c * cr.inner] - m);
        l = m + std::log(s);
      }
      lse.data()[r] = l;
      const int64_t y = labels[static_cast<size_t>(r)];
      if (y == o.ignore_index) continue;
      T loss = -(w ? w[y] : T(1)) * (row[y * cr.inner] - l);
      if (eps != T(0)) {
        T smooth = 0;
        for (int64_t c = 0; c < C; ++c) smooth -= (w ? w[c] : T(1)) * (row[c * cr.inner] - l);
        loss = keep * loss + eps / static_cast<T>(C) * smooth;
      }
      per_row[static_cast<size_t>(r)] = loss;
    }
  });
  const T divisor = detail::class_loss_divisor(labels, w, o.ignore_index);
  Tensor<T> out = detail::reduced_class_loss(per_row, target.shape(), o.reduction, divisor);
  if (needs_graph(input))
    record(op, out, {&input},
           [sx = Saved<T>(x), lse, labels = std::move(labels), wc, cr, ignore = o.ignore_index,
            reduction = o.reduction, divisor, eps, keep](Node<T>& n, const Tensor<T>& g_in) {
             const Tensor<T> g = detail::contiguous_or_self(g_in);
             const Tensor<T>& xs = sx.get(n);
             const T* w = wc.defined() ? wc.data() : nullptr;
             const int64_t C = cr.classes;
             T w_total = static_cast<T>(C);
             if (w) {
               w_total = 0;
               for (int64_t c = 0; c < C; ++c) w_total += w[c];
             }
             Tensor<T> gx = Tensor<T>::empty(xs.shape());
             const int64_t grain = std::max<int64_t>(1, cpu::kTranscendentalGrain / std::max<int64_t>(C, 1));
             cpu::parallel_for(cr.rows, grain, [&](int64_t r0, int64_t r1) {
               for (int64_t r = r0; r < r1; ++r) {
                 const int64_t y = labels[static_cast<size_t>(r)];
                 const T* row = xs.data() + cr.at(r, 0);
                 T* out = gx.data() + cr.at(r, 0);
                 if (y == ignore) {
                   for (int64_t c = 0; c < C; ++c) out[c * cr.inner] = T(0);
                   continue;
                 }
                 const T scale = reduction == Reduction::None  ? g.data()[r]
                                 : reduction == Reduction::Sum ? g.data()[0]
                                                               : g.data()[0] / divisor;
                 // d/dx_c: (1 - s) w_y (p_c - [c = y]) + (s / C) (p_c W - w_c), W = sum of weights.
                 const T l = lse.data()[r], wy = w ? w[y] : T(1);
                 const T a = scale * (keep * wy + eps / static_cast<T>(C) * w_total),
                         b = scale * eps / static_cast<T>(C);
                 if (cr.inner == 1) {  // contiguous classes: one vectorised exp_map pass
                   if (w)
                     cpu::exp_map(row, T(1), -l, out, C,
                                  [a, b, w](T e, int64_t c) { return a * e - b * w[c]; });
                   else
                     cpu::exp_map(row, T(1), -l, out, C, [a, b](T e, int64_t) { return a * e - b; });
                 } else {
                   for (int64_t c = 0; c < C; ++c)
                     out[c * cr.inner] = a * std::exp(row[c * cr.inner] - l) - b * (w ? w[c] : T(1));
                 }
                 out[y * cr.inner] -= scale * keep * wy;
               }
             });
             n.send(0, std::move(gx));
           });
  return out;
}

// cross_entropy with class probabilities as the target (same shape as the input, each row
// summing to 1): loss_n = -sum_c weight[c] t'_nc log_softmax(x)_nc with t' = (1 - s) t + s / C;
// the mean divides by the number of rows, N * d1 * ... (PyTorch's rule for probability targets).
// ignore_index does not apply to it.
template <Floating T>
Tensor<T> cross_entropy(const Tensor<T>& input, const Tensor<T>& target,
                        const CrossEntropyOptions<T>& o = {}) {
  const char* op = "cross_entropy";
  detail::check_operand(input, op);
  NABLA_CHECK(input.dim() >= 1, op, ": expected input [N, C], [N, C, d1, ...] or [C], got shape ",
              input.shape());
  detail::check_loss_shapes(op, input, target);
  NABLA_CHECK(o.label_smoothing >= 0 && o.label_smoothing <= 1, op,
              ": label_smoothing must be in [0, 1], got ", o.label_smoothing);
  const int64_t class_dim = input.dim() == 1 ? 0 : 1, C = input.shape()[class_dim];
  Tensor<T> t = target;
  if (o.label_smoothing != 0)
    t = add(mul(target, Scalar<T>(static_cast<T>(1 - o.label_smoothing))),
            Scalar<T>(static_cast<T>(o.label_smoothing / static_cast<double>(C))));
  Tensor<T> terms = mul(t, log_softmax(input, class_dim));
  if (o.weight.defined()) {
    NABLA_CHECK(o.weight.dim() == 1 && o.weight.shape()[0] == C, op, ": weight has shape ",
                o.weight.shape(), ", expected [", C, "] (one weight per class)");
    Shape ws;
    for (int64_t d = 0; d < input.dim(); ++d) ws.push_back(d == class_dim ? C : 1);
    terms = mul(terms, o.weight.reshape(ws));
  }
  const Tensor<T> per_row = neg(sum(terms, class_dim));
  switch (o.reduction) {
    case Reduction::Sum:
      return sum(per_row);
    case Reduction::Mean:
      return mul(sum(per_row),
                 Scalar<T>(T(1) / static_cast<T>(std::max<int64_t>(per_row.numel(), 1))));
    default:
      return per_row;
  }
}

}  // namespace nabla
