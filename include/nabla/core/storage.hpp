#pragma once
// A device-tagged buffer. On the CPU the header and the bytes come from one pooled block.
// `version` counts in-place writes; every view of the storage shares it, and autograd compares it
// to detect a tensor modified after it was saved for backward.
#include <atomic>
#include <cstring>
#include <new>

#include "nabla/core/allocator.hpp"
#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/ref.hpp"

namespace nabla {

class Storage {
 public:
  std::atomic<int32_t> refs{0};

  static Ref<Storage> allocate(size_t bytes, Device device) {
    NABLA_CHECK(device.is_cpu(), "cannot allocate on ", device,
                ": this build of nabla has no CUDA backend (configure with NABLA_CUDA=ON)");
    void* block = detail::pool_alloc(kHeader + bytes);
    auto* s = ::new (block) Storage(bytes, device, static_cast<char*>(block) + kHeader);
    return Ref<Storage>::adopt(s);
  }

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  // C++20 destroying delete: `delete` from Ref returns the whole block to the pool.
  void operator delete(Storage* s, std::destroying_delete_t) {
    const size_t total = kHeader + s->bytes_;
    s->~Storage();
    detail::pool_free(s, total);
  }

  // Public because clang checks the destructor's access at `delete` despite the destroying delete.
  ~Storage() = default;

 private:
  static constexpr size_t kHeader = 64;
  Storage(size_t bytes, Device device, void* data) : data_(data), bytes_(bytes), device_(device) {}

  void* data_;
  size_t bytes_;
  std::atomic<uint32_t> version_{0};
  Device device_;
};
static_assert(sizeof(Storage) <= 64);

}  // namespace nabla
