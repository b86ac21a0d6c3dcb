#pragma once
// Tensor<T>: a cheap handle (one intrusive pointer) to a TensorImpl that holds the shape and
// strides inline, an offset into shared device-tagged storage, and the autograd fields.
// Element types: float and double (with autograd), int64_t (indices and labels; no autograd).
#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <numbers>
#include <ostream>
#include <span>
#include <type_traits>
#include <vector>

#include "nabla/autograd/grad_mode.hpp"
#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/core/allocator.hpp"
#include "nabla/core/random.hpp"
#include "nabla/core/ref.hpp"
#include "nabla/core/shape.hpp"
#include "nabla/core/storage.hpp"

namespace nabla {

template <class T>
concept Element = std::same_as<T, float> || std::same_as<T, double> || std::same_as<T, int64_t>;
template <class T>
concept Floating = std::same_as<T, float> || std::same_as<T, double>;

template <class T>
constexpr const char* dtype_name() {
  if constexpr (std::same_as<T, float>) return "float32";
  else if constexpr (std::same_as<T, double>) return "float64";
  else return "int64";
}

template <Element T>
class Node;
template <Element T>
class Tensor;

template <Element T>
struct TensorImpl {
  std::atomic<int32_t> refs{0};
  bool requires_grad = false;
  Shape shape;
  Strides strides;
  int64_t offset = 0;
  Ref<Storage> storage;
  Ref<Node<T>> grad_fn;  // null for leaves and for tensors outside any graph
  Ref<TensorImpl> grad;  // accumulated gradient of a leaf

  T* data() const { return static_cast<T*>(storage->data()) + offset; }

  static void* operator new(size_t n) { return detail::pool_alloc(n); }
  static void operator delete(void* p, size_t n) { detail::pool_free(p, n); }
};

namespace detail {
inline bool is_contiguous(const Shape& shape, const Strides& strides) {
  int64_t expected = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

inline void check_shape(const Shape& shape, const char* op) {
  int64_t numel = 1;
  for (int64_t d : shape) {
    NABLA_CHECK(d >= 0, op, ": negative dimension in shape ", shape);
    NABLA_CHECK(d == 0 || numel <= (int64_t{1} << 48) / d, op, ": shape ", shape,
                " has too many elements");
    numel *= d;
  }
}

// Fills data[0, n) from counters reserved on `gen`; element i depends only on (seed, counter, i).
template <Floating T, class Make>
void fill_random(T* data, int64_t n, Generator& gen, int per_block, Make make) {
  const int64_t blocks = (n + per_block - 1) / per_block;
  const uint64_t base = gen.reserve(static_cast<uint64_t>(blocks));
  cpu::parallel_for(blocks, 4096, [&](int64_t b0, int64_t b1) {
    T values[4];
    for (int64_t b = b0; b < b1; ++b) {
      make(gen.block(base + b), values);
      const int64_t i0 = b * per_block, count = std::min<int64_t>(per_block, n - i0);
      for (int64_t k = 0; k < count; ++k) data[i0 + k] = values[k];
    }
  });
}

template <Floating T>
void fill_uniform(T* data, int64_t n, T lo, T hi, Generator& gen) {
  const T scale = hi - lo;
  if constexpr (std::same_as<T, float>) {
    fill_random<T>(data, n, gen, 4, [&](const auto& r, T* v) {
      for (int k = 0; k < 4; ++k) v[k] = lo + scale * uniform_float(r[k]);
    });
  } else {
    fill_random<T>(data, n, gen, 2, [&](const auto& r, T* v) {
      v[0] = lo + scale * uniform_double(r[0], r[1]);
      v[1] = lo + scale * uniform_double(r[2], r[3]);
    });
  }
}

// Box–Muller; 1 - u lies in (0, 1], so the log is finite.
template <Floating T>
void fill_normal(T* data, int64_t n, T mean, T std, Generator& gen) {
  constexpr T two_pi = 2 * std::numbers::pi_v<T>;
  if constexpr (std::same_as<T, float>) {
    fill_random<T>(data, n, gen, 4, [&](const auto& r, T* v) {
      for (int k = 0; k < 4; k += 2) {
        const T radius = std::sqrt(-2 * std::log(1 - uniform_float(r[k])));
        const T angle = two_pi * uniform_float(r[k + 1]);
        v[k] = mean + std * radius * std::cos(angle);
        v[k + 1] = mean + std * radius * std::sin(angle);
      }
    });
  } else {
    fill_random<T>(data, n, gen, 2, [&](const auto& r, T* v) {
      const T radius = std::sqrt(-2 * std::log(1 - uniform_double(r[0], r[1])));
      const T angle = two_pi * uniform_double(r[2], r[3]);
      v[0] = mean + std * radius * std::cos(angle);
      v[1] = mean + std * radius * std::sin(angle);
    });
  }
}

template <Floating T>
void fill_bernoulli(T* data, int64_t n, double p, Generator& gen) {
  fill_random<T>(data, n, gen, 2, [&](const auto& r, T* v) {
    v[0] = uniform_double(r[0], r[1]) < p ? T(1) : T(0);
    v[1] = uniform_double(r[2], r[3]) < p ? T(1) : T(0);
  });
}
}  // namespace detail

template <Element T>
class Tensor {
 public:
  using value_type = T;

  Tensor() = default;
  explicit Tensor(Ref<TensorImpl<T>> impl) : impl_(std::move(impl)) {}
  // A 1-D tensor of the values; a 2-D tensor of equally long rows.
  Tensor(std::initializer_list<T> values)
      : Tensor(from(std::span<const T>(values.begin(), values.size()), {int64_t(values.size())})) {}
  Tensor(std::initializer_list<std::initializer_list<T>> rows) {
    const int64_t r = static_cast<int64_t>(rows.size()), c = r ? static_cast<int64_t>(rows.begin()->size()) : 0;
    *this = empty({r, c});
    T* out = data();
    for (const auto& row : rows) {
      NABLA_CHECK(static_cast<int64_t>(row.size()) == c, "Tensor: rows of different lengths (", c,
                  " and ", row.size(), ")");
      out = std::copy(row.begin(), row.end(), out);
    }
  }

  // ---- factories ----
  static Tensor empty(const Shape& shape, Device device = Device::cpu()) {
    detail::check_shape(shape, "empty");
    auto impl = Ref<TensorImpl<T>>::adopt(new TensorImpl<T>());
    impl->shape = shape;
    impl->strides = contiguous_strides(shape);
    impl->storage = Storage::allocate(static_cast<size_t>(shape.numel()) * sizeof(T), device);
    return Tensor(std::move(impl));
  }
  static Tensor zeros(const Shape& shape) { return full(shape, T(0)); }
  static Tensor ones(const Shape& shape) { return full(shape, T(1)); }
  static Tensor full(const Shape& shape, T value) {
    Tensor t = empty(shape);
    std::fill_n(t.data(), t.numel(), value);
    return t;
  }
  static Tensor scalar(T value) { return full({}, value); }
  static Tensor arange(T end) { return arange(T(0), end, T(1)); }
  static Tensor arange(T start, T end, T step = T(1)) {
    NABLA_CHECK(step != T(0), "arange: step must be non-zero");
    NABLA_CHECK((end - start) * step >= T(0), "arange: the range [", start, ", ", end,
                ") cannot be walked with step ", step);
    const auto n = static_cast<int64_t>(std::ceil(static_cast<double>(end - start) / static_cast<double>(step)));
    Tensor t = empty({n});
    for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<T>(start + static_cast<T>(i) * step);
    return t;
  }
  static Tensor from(std::span<const T> values, const Shape& shape) {
    detail::check_shape(shape, "from");
    NABLA_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "from: ", values.size(),
                " values do not fill shape ", shape, " (", shape.numel(), " elements)");
    Tensor t = empty(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  static Tensor from(const std::vector<T>& values) {
    return from(std::span<const T>(values), {static_cast<int64_t>(values.size())});
  }
  static Tensor from(const std::vector<T>& values, const Shape& shape) {
    return from(std::span<const T>(values), shape);
  }
  static Tensor rand(const Shape& shape, Generator& gen = default_generator())
    requires Floating<T>
  {
    return uniform(shape, T(0), T(1), gen);
  }
  static Tensor randn(const Shape& shape, Generator& gen = default_generator())
    requires Floating<T>
  {
    return normal(shape, T(0), T(1), gen);
  }
  static Tensor uniform(const Shape& shape, T lo, T hi, Generator& gen = default_generator())
    requires Floating<T>
  {
    NABLA_CHECK(lo <= hi, "uniform: expected lo <= hi, got [", lo, ", ", hi, ")");
    Tensor t = empty(shape);
    detail::fill_uniform(t.data(), t.numel(), lo, hi, gen);
    return t;
  }
  static Tensor normal(const Shape& shape, T mean, T std, Generator& gen = default_generator())
    requires Floating<T>
  {
    NABLA_CHECK(std >= T(0), "normal: expected std >= 0, got ", std);
    Tensor t = empty(shape);
    detail::fill_normal(t.data(), t.numel(), mean, std, gen);
    return t;
  }
  static Tensor bernoulli(const Shape& shape, double p, Generator& gen = default_generator())
    requires Floating<T>
  {
    NABLA_CHECK(p >= 0 && p <= 1, "bernoulli: expected p in [0, 1], got ", p);
    Tensor t = empty(shape);
    detail::fill_bernoulli(t.data(), t.numel(), p, gen);
    return t;
  }

  // ---- metadata ----
  bool defined() const { return static_cast<bool>(impl_); }
  TensorImpl<T>* impl() const { return impl_.get(); }
  const Shape& shape() const { return checked()->shape; }
  const Strides& strides() const { return checked()->strides; }
  int dim() const { return shape().size(); }
  int64_t size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }
  int64_t stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "stride")]; }
  int64_t numel() const { return shape().numel(); }
  int64_t storage_offset() const { return checked()->offset; }
  bool is_contiguous() const { return detail::is_contiguous(shape(), strides()); }
  Device device() const { return checked()->storage->device(); }
  uint32_t version() const { return checked()->storage->version(); }
  // Raw element pointer (honours the offset, not the strides). Writes through it are invisible to
  // autograd's in-place check; prefer the in-place ops.
  T* data() const { return checked()->data(); }

  // ---- element access ----
  T item() const {
    NABLA_CHECK(numel() == 1, "item: expected a tensor with one element, got shape ", shape());
    return *data();
  }
  template <std::integral... I>
  T operator()(I... index) const {
    return data()[element_offset({static_cast<int64_t>(index)...})];
  }
  void set(std::initializer_list<int64_t> index, T value) {
    NABLA_CHECK(!(requires_grad() && grad_enabled()),
                "set: cannot write into a tensor that requires grad outside NoGradGuard");
    data()[element_offset(index)] = value;
    impl_->storage->bump_version();
  }
  // The elements in logical (row-major) order.
  std::vector<T> to_vector() const {
    std::vector<T> out(static_cast<size_t>(numel()));
    const T* base = data();
    const Shape& s = shape();
    const Strides& st = strides();
    Dims index = Dims::filled(s.size(), 0);
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t off = 0;
      for (int d = 0; d < s.size(); ++d) off += index[d] * st[d];
      out[i] = base[off];
      for (int d = s.size() - 1; d >= 0 && ++index[d] == s[d]; --d) index[d] = 0;
    }
    return out;
  }

  // ---- autograd ----
  bool requires_grad() const { return checked()->requires_grad; }
  Tensor& requires_grad_(bool value = true) {
    NABLA_CHECK(is_leaf(), "requires_grad_: can only change requires_grad of a leaf tensor; use "
                           "detach() to make a new leaf");
    NABLA_CHECK(!value || Floating<T>, "requires_grad_: only float32 and float64 tensors can "
                                       "require grad, this one is ", dtype_name<T>());
    impl_->requires_grad = value;
    return *this;
  }
  bool is_leaf() const { return !checked()->grad_fn; }
  Node<T>* grad_fn() const { return checked()->grad_fn.get(); }
  // The accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const { return Tensor(checked()->grad); }
  void set_grad(const Tensor& g) const {
    NABLA_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient shape ", g.shape(),
                " does not match tensor shape ", shape());
    checked()->grad = g.impl_;
  }
  // set_to_none frees the buffer to the pool (the next backward takes a fresh one from it);
  // otherwise the existing buffer is filled with zeros.
  void zero_grad(bool set_to_none = true) {
    if (!checked()->grad) return;
    if (set_to_none) {
      impl_->grad.reset();
    } else {
      Tensor g(impl_->grad);
      std::fill_n(g.data(), g.numel(), T(0));
      g.impl_->storage->bump_version();
    }
  }
  // A new tensor sharing this storage, outside any graph.
  Tensor detach() const {
    auto impl = Ref<TensorImpl<T>>::adopt(new TensorImpl<T>());
    impl->shape = shape();
    impl->strides = impl_->strides;
    impl->offset = impl_->offset;
    impl->storage = impl_->storage;
    return Tensor(std::move(impl));
  }
  // Defined in autograd/engine.hpp.
  void backward(const Tensor& gradient = {}, bool retain_graph = false) const;

  Tensor to(Device device) const {
    NABLA_CHECK(device.is_cpu(), "to(", device,
                "): this build of nabla has no CUDA backend (configure with NABLA_CUDA=ON)");
    return *this;
  }

  // ---- views and copies (autograd-aware; defined in ops/shape.hpp) ----
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;
  Tensor permute(const Dims& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor expand(const Shape& shape) const;
  Tensor squeeze(int64_t dim) const;
  Tensor unsqueeze(int64_t dim) const;

  // ---- in-place (defined in ops/inplace.hpp); each bumps the version counter ----
  Tensor& fill_(T value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& src);
  Tensor& add_(const Tensor& other, T alpha = T(1));
  Tensor& mul_(T factor);
  Tensor& uniform_(T lo, T hi, Generator& gen = default_generator());
  Tensor& normal_(T mean, T std, Generator& gen = default_generator());

 private:
  TensorImpl<T>* checked() const {
    NABLA_CHECK(impl_, "operation on an undefined tensor");
    return impl_.get();
  }
  int64_t element_offset(std::initializer_list<int64_t> index) const {
    NABLA_CHECK(static_cast<int>(index.size()) == dim(), "element access: ", index.size(),
                " indices for a tensor with ", dim(), " dims (shape ", shape(), ")");
    int64_t off = 0;
    int d = 0;
    for (int64_t i : index) {
      const int64_t n = shape()[d];
      NABLA_CHECK(i >= -n && i < n, "element access: index ", i, " is out of range for dim ", d,
                  " of size ", n, " (shape ", shape(), ")");
      off += (i < 0 ? i + n : i) * strides()[d++];
    }
    return off;
  }

  Ref<TensorImpl<T>> impl_;
};

// Prints like PyTorch: nested brackets, summarised past 1000 elements, then the shape.
template <Element T>
std::ostream& operator<<(std::ostream& os, const Tensor<T>& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  const std::vector<T> v = t.to_vector();
  const Shape& s = t.shape();
  const bool summarise = t.numel() > 1000;
  constexpr int64_t edge = 3;
  std::ios_base::fmtflags flags = os.flags();
  if constexpr (Floating<T>) os << std::setprecision(4);
  auto print = [&](auto&& self, int d, int64_t offset, int64_t stride) -> void {
    if (d == s.size()) {
      os << v[static_cast<size_t>(offset)];
      return;
    }
    const int64_t n = s[d], inner = stride / std::max<int64_t>(n, 1);
    os << '[';
    for (int64_t i = 0; i < n; ++i) {
      if (summarise && n > 2 * edge && i == edge) {
        os << "...";
        i = n - edge - 1;
      } else {
        self(self, d + 1, offset + i * inner, inner);
      }
      if (i + 1 < n) {
        os << ',';
        if (d + 1 < s.size()) {
          for (int k = d + 1; k < s.size(); ++k) os << '\n';
          os << std::string(static_cast<size_t>(d + 1), ' ');
        } else {
          os << ' ';
        }
      }
    }
    os << ']';
  };
  print(print, 0, 0, t.numel());
  os.flags(flags);
  os << " (" << dtype_name<T>() << ", shape " << s;
  if (t.grad_fn()) os << ", grad_fn " << t.grad_fn()->name();
  else if (t.requires_grad()) os << ", requires_grad";
  return os << ')';
}

}  // namespace nabla

#include "nabla/autograd/node.hpp"
