#pragma once
// mse_loss, binary_cross_entropy (logs clamped at -100, as PyTorch), and
// binary_cross_entropy_with_logits (the numerically stable form). Targets may be soft labels.
#include <cmath>

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
    case Reduction::Mean: return mean(l);
    case Reduction::Sum: return sum(l);
    default: return l;
  }
}
}  // namespace detail

template <Floating T>
Tensor<T> mse_loss(const Tensor<T>& input, const Tensor<T>& target, Reduction reduction = Reduction::Mean) {
  detail::check_loss_shapes("mse_loss", input, target);
  const Tensor<T> diff = sub(input, target);
  return detail::reduce_loss(mul(diff, diff), reduction);
}

// input holds probabilities in [0, 1].
template <Floating T>
Tensor<T> binary_cross_entropy(const Tensor<T>& input, const Tensor<T>& target, Reduction reduction = Reduction::Mean) {
  detail::check_loss_shapes("binary_cross_entropy", input, target);
  NABLA_CHECK(!(grad_enabled() && target.requires_grad()),
              "binary_cross_entropy: the gradient with respect to the target is not defined (as in PyTorch); "
              "detach() the target or use binary_cross_entropy_with_logits");
  const Tensor<T> in = detail::contiguous_or_self(input);
  for (int64_t i = 0; i < in.numel(); ++i) {
    const T v = in.data()[i];
    NABLA_CHECK(v >= T(0) && v <= T(1), "binary_cross_entropy: input values must be in [0, 1], got ", v,
                " at element ", i, " (did you mean binary_cross_entropy_with_logits?)");
  }
  Tensor<T> l = Tensor<T>::empty(input.shape());
  cpu::map(l, [](T p, T t) {
    const T log_p = std::max(std::log(p), T(-100)), log_q = std::max(std::log1p(-p), T(-100));
    return -(t * log_p + (1 - t) * log_q);
  }, in, target);
  if (needs_graph(input))
    record("binary_cross_entropy", l, {&input}, [sp = Saved<T>(in), st = Saved<T>(target)](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gp = Tensor<T>::empty(g.shape());
      cpu::map(gp, [](T gv, T p, T t) { return gv * (p - t) / std::max((1 - p) * p, T(1e-12)); }, g, sp.get(n),
               st.get(n));
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
  cpu::map(l, [](T x, T t) { return std::max(x, T(0)) - x * t + std::log1p(std::exp(-std::abs(x))); }, input, target);
  if (needs_graph(input, target))
    record("binary_cross_entropy_with_logits", l, {&input, &target},
           [sx = Saved<T>(input), st = Saved<T>(target)](Node<T>& n, const Tensor<T>& g) {
             const Tensor<T>&x = sx.get(n), &t = st.get(n);
             if (n.needs_grad(0)) {
               Tensor<T> gx = Tensor<T>::empty(g.shape());
               cpu::map(gx, [](T gv, T xv, T tv) { return gv * (T(1) / (T(1) + std::exp(-xv)) - tv); }, g, x, t);
               n.send(0, std::move(gx));
             }
             if (n.needs_grad(1)) {
               Tensor<T> gt = Tensor<T>::empty(g.shape());
               cpu::map(gt, [](T gv, T xv) { return -gv * xv; }, g, x);
               n.send(1, std::move(gt));
             }
           });
  return detail::reduce_loss(l, reduction);
}

}  // namespace nabla
