#pragma once
// An intrusive reference-counted pointer: the count lives in the object (one allocation, no
// control block). `X` has a member `std::atomic<int32_t> refs` and is freed with `delete`.
#include <atomic>
#include <cstdint>
#include <utility>

namespace nabla {

template <class X>
class Ref {
 public:
  Ref() = default;
  explicit Ref(X* p) : p_(p) {
    if (p_) p_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Ref(const Ref& o) : Ref(o.p_) {}
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class Y>
  Ref(Ref<Y>&& o) noexcept : p_(o.release()) {}
  Ref& operator=(const Ref& o) {
    Ref(o).swap(*this);
    return *this;
  }
  Ref& operator=(Ref&& o) noexcept {
    Ref(std::move(o)).swap(*this);
    return *this;
  }
  ~Ref() { reset(); }

  void reset() {
    if (p_ && p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete p_;
    p_ = nullptr;
  }
  X* release() { return std::exchange(p_, nullptr); }
  void swap(Ref& o) noexcept { std::swap(p_, o.p_); }
  X* get() const { return p_; }
  X* operator->() const { return p_; }
  X& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  int32_t use_count() const { return p_ ? p_->refs.load(std::memory_order_relaxed) : 0; }
  friend bool operator==(const Ref& a, const Ref& b) { return a.p_ == b.p_; }

 private:
  X* p_ = nullptr;
};

template <class X, class... Args>
Ref<X> make_ref(Args&&... args) {
  return Ref<X>(new X(std::forward<Args>(args)...));
}

}  // namespace nabla
