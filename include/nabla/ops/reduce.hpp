#pragma once
// sum, mean (all or over dims, keepdim), max/min (all, or along a dim with indices).
#include <limits>
#include <vector>

#include "nabla/ops/elementwise.hpp"

namespace nabla {

namespace detail {
// Broadcasts a gradient of a reduction (dims kept or dropped) back to the input's shape.
template <Floating T>
Tensor<T> expand_grad(const Tensor<T>& g, const Shape& keep_shape, const Shape& input_shape) {
  const Tensor<T> gc = contiguous_or_self(g);
  Tensor<T> out = Tensor<T>::empty(input_shape);
  cpu::copy(out, restride(gc, keep_shape, contiguous_strides(keep_shape), gc.storage_offset()));
  return out;
}

inline Shape drop_dims(const Shape& keep, const bool (&reduce)[Dims::kMaxDims]) {
  Shape out;
  for (int d = 0; d < keep.size(); ++d)
    if (!reduce[d]) out.push_back(keep[d]);
  return out;
}

template <Floating T>
void mark_dims(const Tensor<T>& x, std::span<const int64_t> dims, const char* op, bool (&reduce)[Dims::kMaxDims]) {
  for (int64_t dim : dims) {
    const int d = wrap_dim(dim, x.dim(), op);
    NABLA_CHECK(!reduce[d], op, ": dim ", dim, " appears more than once");
    reduce[d] = true;
  }
}

template <Floating T>
Tensor<T> sum_dims(const char* op, const Tensor<T>& x, std::span<const int64_t> dims, bool keepdim, T scale) {
  check_operand(x, op);
  bool reduce[Dims::kMaxDims] = {};
  mark_dims(x, dims, op, reduce);
  Tensor<T> kept = sum_dims_keep(x, reduce);
  if (kept.impl()->storage == x.impl()->storage) kept = contiguous_copy(kept);  // nothing reduced
  if (scale != T(1)) kept.mul_(scale);
  const Shape keep_shape = kept.shape();
  const Shape out_shape = keepdim ? keep_shape : drop_dims(keep_shape, reduce);
  Tensor<T> out = restride(kept, out_shape, contiguous_strides(out_shape), 0);
  if (needs_graph(x))
    record(op, out, {&x}, [keep_shape, in_shape = x.shape(), scale](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = expand_grad(g, keep_shape, in_shape);
      if (scale != T(1)) gx.mul_(scale);
      n.send(0, std::move(gx));
    });
  return out;
}
}  // namespace detail

template <Floating T>
Tensor<T> sum(const Tensor<T>& x) {
  detail::check_operand(x, "sum");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  Tensor<T> out = Tensor<T>::scalar(cpu::sum_contiguous(xc.data(), xc.numel()));
  if (needs_graph(x))
    record("sum", out, {&x}, [shape = x.shape()](Node<T>& n, const Tensor<T>& g) {
      n.send(0, Tensor<T>::full(shape, g.item()));
    });
  return out;
}

template <Floating T>
Tensor<T> sum(const Tensor<T>& x, std::span<const int64_t> dims, bool keepdim = false) {
  return detail::sum_dims<T>("sum", x, dims, keepdim, T(1));
}
template <Floating T>
Tensor<T> sum(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return sum(x, std::span<const int64_t>(&dim, 1), keepdim);
}
template <Floating T>
Tensor<T> sum(const Tensor<T>& x, std::initializer_list<int64_t> dims, bool keepdim = false) {
  return sum(x, std::span<const int64_t>(dims.begin(), dims.size()), keepdim);
}

template <Floating T>
Tensor<T> mean(const Tensor<T>& x) {
  detail::check_operand(x, "mean");
  NABLA_CHECK(x.numel() > 0, "mean: the input is empty (shape ", x.shape(), ")");
  const Tensor<T> xc = detail::contiguous_or_self(x);
  const T inv = T(1) / static_cast<T>(x.numel());
  Tensor<T> out = Tensor<T>::scalar(cpu::sum_contiguous(xc.data(), xc.numel()) * inv);
  if (needs_graph(x))
    record("mean", out, {&x}, [shape = x.shape(), inv](Node<T>& n, const Tensor<T>& g) {
      n.send(0, Tensor<T>::full(shape, g.item() * inv));
    });
  return out;
}

template <Floating T>
Tensor<T> mean(const Tensor<T>& x, std::span<const int64_t> dims, bool keepdim = false) {
  detail::check_operand(x, "mean");
  int64_t count = 1;
  for (int64_t dim : dims) count *= x.shape()[wrap_dim(dim, x.dim(), "mean")];
  NABLA_CHECK(count > 0, "mean: reducing over an empty dim (shape ", x.shape(), ")");
  return detail::sum_dims<T>("mean", x, dims, keepdim, T(1) / static_cast<T>(count));
}
template <Floating T>
Tensor<T> mean(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return mean(x, std::span<const int64_t>(&dim, 1), keepdim);
}
template <Floating T>
Tensor<T> mean(const Tensor<T>& x, std::initializer_list<int64_t> dims, bool keepdim = false) {
  return mean(x, std::span<const int64_t>(dims.begin(), dims.size()), keepdim);
}

// ---------------- max / min ----------------

template <Floating T>
struct ValuesIndices {
  Tensor<T> values;
  Tensor<int64_t> indices;
};

namespace detail {
template <Floating T, bool Max>
ValuesIndices<T> extreme_dim(const char* op, const Tensor<T>& x, int64_t dim, bool keepdim) {
  check_operand(x, op);
  const int d = wrap_dim(dim, x.dim(), op);
  const int64_t n = x.dim() ? x.shape()[d] : 1;
  NABLA_CHECK(n > 0, op, ": cannot reduce over dim ", dim, " of size 0 (shape ", x.shape(), ")");
  const Tensor<T> xc = contiguous_or_self(x);
  const cpu::ReduceView view(x.shape(), x.dim() ? d : 0, x.dim() ? d : -1);
  Shape keep_shape = x.shape();
  if (x.dim()) keep_shape[d] = 1;
  Shape out_shape = keep_shape;
  if (!keepdim && x.dim()) out_shape.erase(d);
  Tensor<T> values = Tensor<T>::empty(out_shape);
  Tensor<int64_t> indices = Tensor<int64_t>::empty(out_shape);
  const T* xs = xc.data();
  T* vs = values.data();
  int64_t* is = indices.data();
  cpu::parallel_for(view.outer * view.inner, std::max<int64_t>(1, cpu::kElementwiseGrain / n), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const T* row = xs + (j / view.inner) * n * view.inner + j % view.inner;
      int64_t best = 0;
      T v = row[0];
      for (int64_t r = 1; r < n && !std::isnan(v); ++r) {
        const T c = row[r * view.inner];
        if (std::isnan(c) || (Max ? c > v : c < v)) {
          v = c;
          best = r;
        }
      }
      vs[j] = v;
      is[j] = best;
    }
  });
  if (needs_graph(x))
    record(op, values, {&x}, [indices, view, in_shape = x.shape()](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> gx = Tensor<T>::zeros(in_shape);
      const Tensor<T> gc = contiguous_or_self(g);
      for (int64_t j = 0; j < view.outer * view.inner; ++j)
        gx.data()[(j / view.inner) * view.reduced * view.inner + j % view.inner + indices.data()[j] * view.inner] = gc.data()[j];
      n.send(0, std::move(gx));
    });
  return {values, indices};
}

// Max/min of all elements; the gradient is shared evenly among the elements that attain it.
template <Floating T, bool Max>
Tensor<T> extreme_all(const char* op, const Tensor<T>& x) {
  check_operand(x, op);
  NABLA_CHECK(x.numel() > 0, op, ": the input is empty (shape ", x.shape(), ")");
  const Tensor<T> xc = contiguous_or_self(x);
  const T* p = xc.data();
  T v = p[0];
  for (int64_t i = 1; i < xc.numel() && !std::isnan(v); ++i)
    if (std::isnan(p[i]) || (Max ? p[i] > v : p[i] < v)) v = p[i];
  Tensor<T> out = Tensor<T>::scalar(v);
  if (needs_graph(x))
    record(op, out, {&x}, [sx = Saved<T>(x), v](Node<T>& n, const Tensor<T>& g) {
      Tensor<T> mask = eq(sx.get(n), v);
      const T count = cpu::sum_contiguous(mask.data(), mask.numel());
      n.send(0, mul(mask, g.item() / count));
    });
  return out;
}
}  // namespace detail

template <Floating T>
ValuesIndices<T> max(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return detail::extreme_dim<T, true>("max", x, dim, keepdim);
}
template <Floating T>
ValuesIndices<T> min(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  return detail::extreme_dim<T, false>("min", x, dim, keepdim);
}
template <Floating T>
Tensor<T> max(const Tensor<T>& x) {
  return detail::extreme_all<T, true>("max", x);
}
template <Floating T>
Tensor<T> min(const Tensor<T>& x) {
  return detail::extreme_all<T, false>("min", x);
}
template <Floating T>
Tensor<int64_t> argmax(const Tensor<T>& x, int64_t dim, bool keepdim = false) {
  NoGradGuard no_grad;
  return max(x, dim, keepdim).indices;
}

}  // namespace nabla
