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

  // Takes ownership of a newly created object (count 0) with a plain store instead of an atomic
  // increment: nothing else can see the object yet.
  static Ref adopt(X* p) {
    Ref r;
    p->refs.store(1, std::memory_order_relaxed);
    r.p_ = p;
    return r;
  }

  void reset() {
    if (!p_) return;
    // A count of 1 is this handle alone: no other thread holds a reference it could copy, so the
    // object goes without an atomic read-modify-write (half the cost of a batch-1 op was these).
    if (p_->refs.load(std::memory_order_acquire) == 1 || p_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete p_;
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
  return Ref<X>::adopt(new X(std::forward<Args>(args)...));
}

}  // namespace nabla
