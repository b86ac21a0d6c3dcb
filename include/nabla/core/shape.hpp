#pragma once
// Shapes and strides live inline (at most 6 dims): creating a tensor never allocates for them.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <string>

#include "nabla/core/error.hpp"

namespace nabla {

class Dims {
 public:
  static constexpr int kMaxDims = 6;

  constexpr Dims() = default;
  Dims(std::initializer_list<int64_t> dims) : Dims(std::span<const int64_t>(dims.begin(), dims.size())) {}
  explicit Dims(std::span<const int64_t> dims) {
    NABLA_CHECK(dims.size() <= kMaxDims, "nabla supports at most ", kMaxDims, " dims, got ",
                dims.size());
    n_ = static_cast<int>(dims.size());
    std::copy(dims.begin(), dims.end(), d_);
  }
  static Dims filled(int n, int64_t value) {
    NABLA_CHECK(n >= 0 && n <= kMaxDims, "nabla supports at most ", kMaxDims, " dims, got ", n);
    Dims r;
    r.n_ = n;
    std::fill(r.d_, r.d_ + n, value);
    return r;
  }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int i) const { return d_[i]; }
  int64_t& operator[](int i) { return d_[i]; }
  int64_t back() const { return d_[n_ - 1]; }
  const int64_t* begin() const { return d_; }
  const int64_t* end() const { return d_ + n_; }
  int64_t* begin() { return d_; }
  int64_t* end() { return d_ + n_; }
  std::span<const int64_t> span() const { return {d_, static_cast<size_t>(n_)}; }

  void push_back(int64_t v) {
    NABLA_CHECK(n_ < kMaxDims, "nabla supports at most ", kMaxDims, " dims");
    d_[n_++] = v;
  }
  void insert(int pos, int64_t v) {
    NABLA_CHECK(n_ < kMaxDims, "nabla supports at most ", kMaxDims, " dims");
    std::copy_backward(d_ + pos, d_ + n_, d_ + n_ + 1);
    d_[pos] = v;
    ++n_;
  }
  void erase(int pos) {
    std::copy(d_ + pos + 1, d_ + n_, d_ + pos);
    --n_;
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < n_; ++i) n *= d_[i];
    return n;
  }

  friend bool operator==(const Dims& a, const Dims& b) {
    return a.n_ == b.n_ && std::equal(a.d_, a.d_ + a.n_, b.d_);
  }

  friend std::ostream& operator<<(std::ostream& os, const Dims& d) {
    os << '[';
    for (int i = 0; i < d.n_; ++i) os << (i ? ", " : "") << d.d_[i];
    return os << ']';
  }

 private:
  int64_t d_[kMaxDims] = {};
  int n_ = 0;
};

using Shape = Dims;
using Strides = Dims;

inline std::string to_string(const Dims& d) {
  std::ostringstream s;
  s << d;
  return s.str();
}

inline Strides contiguous_strides(const Shape& shape) {
  Strides s = Dims::filled(shape.size(), 1);
  for (int i = shape.size() - 2; i >= 0; --i) s[i] = s[i + 1] * std::max<int64_t>(shape[i + 1], 1);
  return s;
}

// Wraps a possibly negative dim into [0, ndim); `op` names the caller in the error.
inline int wrap_dim(int64_t dim, int ndim, const char* op) {
  const int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  NABLA_CHECK(dim >= lo && dim <= hi, op, ": dim ", dim, " is out of range for a tensor with ", ndim,
              " dims (expected a dim in [", lo, ", ", hi, "])");
  return static_cast<int>(dim < 0 ? dim + std::max(ndim, 1) : dim);
}

// NumPy/PyTorch broadcasting of two shapes.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int n = std::max(a.size(), b.size());
  Shape out = Dims::filled(n, 1);
  for (int i = 0; i < n; ++i) {
    const int ia = i - (n - a.size()), ib = i - (n - b.size());
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    NABLA_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
                " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace nabla
