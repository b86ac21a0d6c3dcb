#pragma once
// What every op file shares: input checks, device dispatch, and reducing a broadcast gradient
// back to an input's shape.
#include "nabla/autograd/engine.hpp"
#include "nabla/backend/cpu/kernels.hpp"

namespace nabla {

namespace detail {

// Every op checks its operands with this: defined, and on a device this build can compute on.
// (A CUDA backend adds its branch to the ops' dispatch; until then CUDA storage cannot exist.)
template <Element T>
void check_operand(const Tensor<T>& t, const char* op) {
  NABLA_CHECK(t.defined(), op, ": got an undefined tensor");
}
template <Element T>
void check_same_device(const Tensor<T>& a, const Tensor<T>& b, const char* op) {
  check_operand(a, op);
  check_operand(b, op);
  NABLA_CHECK(a.device() == b.device(), op, ": operands are on different devices (", a.device(),
              " and ", b.device(), ")");
}

template <Floating T>
Tensor<T> contiguous_or_self(const Tensor<T>& t) {
  return t.is_contiguous() ? t : contiguous_copy(t);
}

// A tensor sharing t's storage with another shape and strides (no autograd).
template <Element T>
Tensor<T> restride(const Tensor<T>& t, const Shape& shape, const Strides& strides, int64_t offset) {
  Tensor<T> v = t.detach();
  v.impl()->shape = shape;
  v.impl()->strides = strides;
  v.impl()->offset = offset;
  return v;
}

// Sums x over the dims where reduce[d] is set, keeping them as size 1. No autograd.
template <Floating T>
Tensor<T> sum_dims_keep(const Tensor<T>& x, const bool (&reduce)[Dims::kMaxDims]) {
  Tensor<T> cur = contiguous_or_self(x);
  for (int last = x.dim() - 1; last >= 0; --last) {
    if (!reduce[last] || cur.shape()[last] == 1) continue;
    int first = last;
    while (first > 0 && reduce[first - 1]) --first;
    const cpu::ReduceView view(cur.shape(), first, last);
    Shape out_shape = cur.shape();
    for (int d = first; d <= last; ++d) out_shape[d] = 1;
    Tensor<T> out = Tensor<T>::empty(out_shape);
    cpu::sum_reduce(cur.data(), out.data(), view);
    cur = std::move(out);
    last = first;
  }
  return cur;
}

// Reduces a gradient of a broadcast result to the shape of the operand that was broadcast.
// Takes g by value so that an unreduced gradient passes on with its refcount at one (a leaf
// adopts a sole-owned buffer instead of copying it).
template <Floating T>
Tensor<T> sum_to(Tensor<T> g, const Shape& shape) {
  if (g.shape() == shape) return g;
  bool reduce[Dims::kMaxDims] = {};
  const int lead = g.dim() - shape.size();
  for (int d = 0; d < g.dim(); ++d) reduce[d] = d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1);
  Tensor<T> summed = sum_dims_keep(g, reduce);
  return restride(summed, shape, contiguous_strides(shape), summed.storage_offset());
}

}  // namespace detail

}  // namespace nabla
