#pragma once
// In-place ops. Each bumps the storage's version counter, so that a backward which saved this
// tensor (or a view of it) reports the modification instead of using the new values. On a tensor
// that requires grad they are refused while grad mode is on: nabla does not rewrite graphs
// through in-place ops (use the out-of-place op, or NoGradGuard for parameter updates).
#include "nabla/ops/common.hpp"

namespace nabla {

namespace detail {
template <Element T>
void check_inplace(const Tensor<T>& t, const char* op) {
  check_operand(t, op);
  NABLA_CHECK(!(grad_enabled() && t.requires_grad()), op, ": in-place update of a tensor that requires grad (shape ",
              t.shape(), ") while grad mode is on; use the out-of-place op, or wrap the update in NoGradGuard");
}
}  // namespace detail

template <Element T>
Tensor<T>& Tensor<T>::fill_(T value) {
  detail::check_inplace(*this, "fill_");
  if (is_contiguous()) {
    std::fill_n(data(), numel(), value);
  } else {
    cpu::copy(*this, Tensor<T>::scalar(value));
  }
  impl_->storage->bump_version();
  return *this;
}

template <Element T>
Tensor<T>& Tensor<T>::zero_() {
  return fill_(T(0));
}

template <Element T>
Tensor<T>& Tensor<T>::copy_(const Tensor<T>& src) {
  detail::check_inplace(*this, "copy_");
  detail::check_operand(src, "copy_");
  NABLA_CHECK(broadcast_shapes(shape(), src.shape(), "copy_") == shape(), "copy_: source of shape ", src.shape(),
              " does not broadcast to the destination's shape ", shape());
  cpu::copy(*this, src);
  impl_->storage->bump_version();
  return *this;
}

template <Element T>
Tensor<T>& Tensor<T>::add_(const Tensor<T>& other, T alpha) {
  detail::check_inplace(*this, "add_");
  detail::check_same_device(*this, other, "add_");
  NABLA_CHECK(broadcast_shapes(shape(), other.shape(), "add_") == shape(), "add_: operand of shape ",
              other.shape(), " does not broadcast to the destination's shape ", shape());
  cpu::map(*this, [alpha](T x, T y) { return x + alpha * y; }, *this, other);
  impl_->storage->bump_version();
  return *this;
}

template <Element T>
Tensor<T>& Tensor<T>::mul_(T factor) {
  detail::check_inplace(*this, "mul_");
  cpu::map(*this, [factor](T x) { return x * factor; }, *this);
  impl_->storage->bump_version();
  return *this;
}

template <Element T>
Tensor<T>& Tensor<T>::uniform_(T lo, T hi, Generator& gen) {
  if constexpr (!Floating<T>) {
    detail::fail("uniform_: needs a float32 or float64 tensor, this one is ", dtype_name<T>());
  } else {
    detail::check_inplace(*this, "uniform_");
    NABLA_CHECK(lo <= hi, "uniform_: expected lo <= hi, got [", lo, ", ", hi, ")");
    if (is_contiguous()) {
      detail::fill_uniform(data(), numel(), lo, hi, gen);
      impl_->storage->bump_version();
    } else {
      copy_(Tensor<T>::uniform(shape(), lo, hi, gen));
    }
  }
  return *this;
}

template <Element T>
Tensor<T>& Tensor<T>::normal_(T mean, T std, Generator& gen) {
  if constexpr (!Floating<T>) {
    detail::fail("normal_: needs a float32 or float64 tensor, this one is ", dtype_name<T>());
  } else {
    detail::check_inplace(*this, "normal_");
    NABLA_CHECK(std >= T(0), "normal_: expected std >= 0, got ", std);
    if (is_contiguous()) {
      detail::fill_normal(data(), numel(), mean, std, gen);
      impl_->storage->bump_version();
    } else {
      copy_(Tensor<T>::normal(shape(), mean, std, gen));
    }
  }
  return *this;
}

}  // namespace nabla
