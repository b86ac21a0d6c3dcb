#pragma once
// Views (no copy: view, reshape of contiguous data, flatten, transpose, permute, narrow, select,
// expand, squeeze, unsqueeze), copies (contiguous, clone), and cat/stack.
#include <numeric>
#include <vector>

#include "nabla/ops/common.hpp"

namespace nabla {

namespace detail {
// Records a view's backward: the gradient of the input is `back(g)`.
template <Element T, class Back>
Tensor<T> make_view(const char* op, const Tensor<T>& x, const Shape& shape, const Strides& strides,
                    int64_t offset, Back back) {
  Tensor<T> out = restride(x, shape, strides, offset);
  if constexpr (Floating<T>) {
    if (needs_graph(x))
      record(op, out, {&x}, [back](Node<T>& n, const Tensor<T>& g) { n.send(0, back(g)); });
  }
  return out;
}

template <Element T>
Tensor<T> copy_with_grad(const char* op, const Tensor<T>& x) {
  check_operand(x, op);
  Tensor<T> out = Tensor<T>::empty(x.shape());
  cpu::copy(out, x);
  if constexpr (Floating<T>) {
    if (needs_graph(x)) record(op, out, {&x}, [](Node<T>& n, const Tensor<T>& g) { n.send(0, g); });
  }
  return out;
}

// Resolves one -1 in `shape` against numel; checks the element count.
inline Shape infer_shape(Shape shape, int64_t numel, const Shape& from, const char* op) {
  int infer = -1;
  int64_t known = 1;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      NABLA_CHECK(infer < 0, op, ": only one dim can be -1, got ", shape);
      infer = d;
    } else {
      NABLA_CHECK(shape[d] >= 0, op, ": invalid size ", shape[d], " in shape ", shape);
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    NABLA_CHECK(known > 0 && numel % known == 0, op, ": shape ", shape, " is invalid for input of shape ",
                from, " (", numel, " elements)");
    shape[infer] = numel / known;
  }
  NABLA_CHECK(shape.numel() == numel, op, ": shape ", shape, " is invalid for input of shape ", from, " (",
              numel, " elements)");
  return shape;
}
}  // namespace detail

template <Element T>
Tensor<T> Tensor<T>::contiguous() const {
  return is_contiguous() ? *this : detail::copy_with_grad("contiguous", *this);
}

template <Element T>
Tensor<T> Tensor<T>::clone() const {
  return detail::copy_with_grad("clone", *this);
}

template <Element T>
Tensor<T> Tensor<T>::view(const Shape& new_shape) const {
  const Shape s = detail::infer_shape(new_shape, numel(), shape(), "view");
  NABLA_CHECK(is_contiguous(), "view: the input (shape ", shape(), ", strides ", strides(),
              ") is not contiguous; use reshape(), which copies when it must");
  return detail::make_view("view", *this, s, contiguous_strides(s), storage_offset(),
                           [in = shape()](const Tensor<T>& g) { return g.reshape(in); });
}

template <Element T>
Tensor<T> Tensor<T>::reshape(const Shape& new_shape) const {
  return is_contiguous() ? view(new_shape) : contiguous().view(new_shape);
}

template <Element T>
Tensor<T> Tensor<T>::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const int s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  NABLA_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape out;
  for (int d = 0; d < s; ++d) out.push_back(shape()[d]);
  int64_t merged = 1;
  for (int d = s; d <= e; ++d) merged *= shape()[d];
  out.push_back(merged);
  for (int d = e + 1; d < dim(); ++d) out.push_back(shape()[d]);
  return reshape(out);
}

template <Element T>
Tensor<T> Tensor<T>::transpose(int64_t dim0, int64_t dim1) const {
  const int a = wrap_dim(dim0, dim(), "transpose"), b = wrap_dim(dim1, dim(), "transpose");
  Shape s = shape();
  Strides st = strides();
  if (dim() > 0) {
    std::swap(s[a], s[b]);
    std::swap(st[a], st[b]);
  }
  return detail::make_view("transpose", *this, s, st, storage_offset(),
                           [a, b](const Tensor<T>& g) { return g.transpose(a, b); });
}

template <Element T>
Tensor<T> Tensor<T>::t() const {
  NABLA_CHECK(dim() <= 2, "t: expected a tensor with at most 2 dims, got shape ", shape(),
              "; use transpose(dim0, dim1)");
  return dim() < 2 ? *this : transpose(0, 1);
}

template <Element T>
Tensor<T> Tensor<T>::permute(const Dims& dims) const {
  NABLA_CHECK(dims.size() == dim(), "permute: got ", dims.size(), " dims ", dims, " for a tensor with ",
              dim(), " dims (shape ", shape(), ")");
  Shape s;
  Strides st;
  Dims inverse = Dims::filled(dim(), -1);
  for (int i = 0; i < dim(); ++i) {
    const int d = wrap_dim(dims[i], dim(), "permute");
    NABLA_CHECK(inverse[d] < 0, "permute: dim ", dims[i], " appears more than once in ", dims);
    inverse[d] = i;
    s.push_back(shape()[d]);
    st.push_back(strides()[d]);
  }
  return detail::make_view("permute", *this, s, st, storage_offset(),
                           [inverse](const Tensor<T>& g) { return g.permute(inverse); });
}

template <Element T>
Tensor<T> Tensor<T>::narrow(int64_t dim_, int64_t start, int64_t length) const {
  const int d = wrap_dim(dim_, dim(), "narrow");
  NABLA_CHECK(dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  const int64_t n = shape()[d];
  if (start < 0) start += n;
  NABLA_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: range [", start, ", ",
              start + length, ") is out of bounds for dim ", d, " of size ", n, " (shape ", shape(), ")");
  Shape s = shape();
  s[d] = length;
  return detail::make_view("narrow", *this, s, strides(), storage_offset() + start * strides()[d],
                           [in = shape(), d, start, length](const Tensor<T>& g) {
                             Tensor<T> gx = Tensor<T>::zeros(in);
                             Tensor<T> slot = gx.detach().narrow(d, start, length);
                             cpu::copy(slot, g);
                             return gx;
                           });
}

template <Element T>
Tensor<T> Tensor<T>::select(int64_t dim_, int64_t index) const {
  const int d = wrap_dim(dim_, dim(), "select");
  NABLA_CHECK(dim() > 0, "select: cannot select from a 0-dim tensor");
  const int64_t n = shape()[d];
  NABLA_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d,
              " of size ", n, " (shape ", shape(), ")");
  return narrow(d, index < 0 ? index + n : index, 1).squeeze(d);
}

template <Element T>
Tensor<T> Tensor<T>::expand(const Shape& target) const {
  NABLA_CHECK(target.size() >= dim(), "expand: target shape ", target, " has fewer dims than the input ",
              shape());
  const int lead = target.size() - dim();
  Shape s = target;
  Strides st = Dims::filled(target.size(), 0);
  for (int d = 0; d < target.size(); ++d) {
    const int src = d - lead;
    if (src < 0) {
      NABLA_CHECK(target[d] >= 0, "expand: -1 is not allowed for a new leading dim (target ", target, ")");
      continue;
    }
    const int64_t have = shape()[src];
    if (target[d] == -1 || target[d] == have) {
      s[d] = have;
      st[d] = strides()[src];
    } else {
      NABLA_CHECK(have == 1, "expand: cannot expand shape ", shape(), " to ", target, " (dim ", d, ": ", have,
                  " vs ", target[d], ")");
    }
  }
  return detail::make_view("expand", *this, s, st, storage_offset(),
                           [in = shape()](const Tensor<T>& g) { return detail::sum_to(g, in); });
}

template <Element T>
Tensor<T> Tensor<T>::squeeze(int64_t dim_) const {
  if (dim() == 0) return *this;
  const int d = wrap_dim(dim_, dim(), "squeeze");
  if (shape()[d] != 1) return *this;
  Shape s = shape();
  Strides st = strides();
  s.erase(d);
  st.erase(d);
  return detail::make_view("squeeze", *this, s, st, storage_offset(),
                           [in = shape()](const Tensor<T>& g) { return g.reshape(in); });
}

template <Element T>
Tensor<T> Tensor<T>::unsqueeze(int64_t dim_) const {
  const int d = wrap_dim(dim_, dim() + 1, "unsqueeze");
  Shape s = shape();
  Strides st = strides();
  s.insert(d, 1);
  st.insert(d, d < dim() ? strides()[d] * shape()[d] : 1);
  return detail::make_view("unsqueeze", *this, s, st, storage_offset(),
                           [in = shape()](const Tensor<T>& g) { return g.reshape(in); });
}

// Free-function spellings.
template <Element T> Tensor<T> reshape(const Tensor<T>& x, const Shape& s) { return x.reshape(s); }
template <Element T> Tensor<T> flatten(const Tensor<T>& x, int64_t start = 0, int64_t end = -1) { return x.flatten(start, end); }
template <Element T> Tensor<T> transpose(const Tensor<T>& x, int64_t a, int64_t b) { return x.transpose(a, b); }
template <Element T> Tensor<T> permute(const Tensor<T>& x, const Dims& dims) { return x.permute(dims); }

// Concatenates along an existing dim.
template <Floating T>
Tensor<T> cat(std::span<const Tensor<T>> tensors, int64_t dim) {
  NABLA_CHECK(!tensors.empty(), "cat: expected at least one tensor");
  const Tensor<T>& first = tensors[0];
  detail::check_operand(first, "cat");
  const int d = wrap_dim(dim, first.dim(), "cat");
  NABLA_CHECK(first.dim() > 0, "cat: cannot concatenate 0-dim tensors; use stack");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor<T>& t = tensors[i];
    detail::check_same_device(first, t, "cat");
    bool same = t.dim() == first.dim();
    for (int k = 0; same && k < t.dim(); ++k) same = k == d || t.shape()[k] == first.shape()[k];
    NABLA_CHECK(same, "cat: tensor ", i, " has shape ", t.shape(), ", which does not match tensor 0's shape ",
                first.shape(), " outside dim ", d);
    out_shape[d] += t.shape()[d];
  }
  Tensor<T> out = Tensor<T>::empty(out_shape);
  std::vector<int64_t> starts;
  starts.reserve(tensors.size());
  int64_t at = 0;
  bool any_grad = false;
  for (const Tensor<T>& t : tensors) {
    Tensor<T> slot = out.detach().narrow(d, at, t.shape()[d]);
    cpu::copy(slot, t);
    starts.push_back(at);
    at += t.shape()[d];
    any_grad = any_grad || t.requires_grad();
  }
  if (any_grad && grad_enabled()) {
    std::vector<const Tensor<T>*> inputs;
    std::vector<int64_t> lengths;
    for (const Tensor<T>& t : tensors) {
      inputs.push_back(&t);
      lengths.push_back(t.shape()[d]);
    }
    record("cat", out, std::span<const Tensor<T>* const>(inputs),
           [d, starts = std::move(starts), lengths = std::move(lengths)](Node<T>& n, const Tensor<T>& g) {
             for (int i = 0; i < n.num_inputs(); ++i)
               if (n.needs_grad(i)) n.send(i, g.narrow(d, starts[static_cast<size_t>(i)], lengths[static_cast<size_t>(i)]));
           });
  }
  return out;
}
template <Floating T>
Tensor<T> cat(std::initializer_list<Tensor<T>> tensors, int64_t dim) {
  return cat(std::span<const Tensor<T>>(tensors.begin(), tensors.size()), dim);
}
template <Floating T>
Tensor<T> cat(const std::vector<Tensor<T>>& tensors, int64_t dim) {
  return cat(std::span<const Tensor<T>>(tensors), dim);
}

// Stacks equally shaped tensors along a new dim.
template <Floating T>
Tensor<T> stack(std::span<const Tensor<T>> tensors, int64_t dim) {
  NABLA_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  detail::check_operand(tensors[0], "stack");
  const int d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor<T>> expanded;
  expanded.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check_operand(tensors[i], "stack");
    NABLA_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ", tensors[i].shape(),
                ", expected tensor 0's shape ", tensors[0].shape());
    expanded.push_back(tensors[i].unsqueeze(d));
  }
  return cat(std::span<const Tensor<T>>(expanded), d);
}
template <Floating T>
Tensor<T> stack(std::initializer_list<Tensor<T>> tensors, int64_t dim) {
  return stack(std::span<const Tensor<T>>(tensors.begin(), tensors.size()), dim);
}
template <Floating T>
Tensor<T> stack(const std::vector<Tensor<T>>& tensors, int64_t dim) {
  return stack(std::span<const Tensor<T>>(tensors), dim);
}

}  // namespace nabla
