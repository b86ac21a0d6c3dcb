#pragma once
// A per-thread, size-classed cache of freed blocks. Tensors, graph nodes and buffers at batch 1
// are created and freed every step with the same sizes, so after the first step nearly every
// allocation is a pop from a free list. Sizes round up to one of four classes per power of two
// (at most 25 % slack). Each thread caches up to `kMaxCachedBytes`; past that, blocks go back to
// the system. Under AddressSanitizer the cache is bypassed so that ASan sees every misuse.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>

namespace nabla::detail {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kPoolEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kPoolEnabled = false;
#else
inline constexpr bool kPoolEnabled = true;
#endif
#else
inline constexpr bool kPoolEnabled = true;
#endif

inline constexpr size_t kBlockAlign = 64;

struct SizeClass {
  int index;
  size_t bytes;
};

inline SizeClass size_class(size_t n) {
  if (n <= 64) return {0, 64};
  const size_t m = n - 1;
  const int e = std::bit_width(m) - 1;  // 2^e <= m < 2^(e+1), e >= 6
  const size_t sub = (m >> (e - 2)) & 3;
  return {1 + (e - 6) * 4 + static_cast<int>(sub), (4 + sub + 1) << (e - 2)};
}

class BlockCache {
 public:
  static constexpr int kClasses = 4 * 58 + 1;
  static constexpr size_t kMaxCachedBytes = size_t{1} << 30;

  BlockCache() { alive() = true; }
  ~BlockCache() {
    alive() = false;
    release_all();
  }

  void* pop(int cls) {
    FreeBlock* b = heads_[cls];
    if (!b) return nullptr;
    heads_[cls] = b->next;
    cached_ -= class_bytes_[cls];
    return b;
  }
  bool push(void* p, const SizeClass& sc) {
    if (cached_ + sc.bytes > kMaxCachedBytes) return false;
    auto* b = static_cast<FreeBlock*>(p);
    b->next = heads_[sc.index];
    heads_[sc.index] = b;
    class_bytes_[sc.index] = sc.bytes;
    cached_ += sc.bytes;
    return true;
  }
  void release_all() {
    for (auto*& head : heads_) {
      while (head) {
        FreeBlock* next = head->next;
        ::operator delete(head, std::align_val_t(kBlockAlign));
        head = next;
      }
    }
    cached_ = 0;
  }
  size_t cached_bytes() const { return cached_; }

  // Trivially destructible, so it stays readable after the cache itself is destroyed at thread
  // exit (a static Tensor may be freed after that).
  static bool& alive() {
    static thread_local bool flag = false;
    return flag;
  }
  static BlockCache* for_this_thread() {
    static thread_local BlockCache cache;
    return alive() ? &cache : nullptr;
  }

 private:
  struct FreeBlock {
    FreeBlock* next;
  };
  FreeBlock* heads_[kClasses] = {};
  size_t class_bytes_[kClasses] = {};
  size_t cached_ = 0;
};

inline void* pool_alloc(size_t n) {
  const SizeClass sc = size_class(n);
  if constexpr (kPoolEnabled) {
    if (BlockCache* cache = BlockCache::for_this_thread())
      if (void* p = cache->pop(sc.index)) return p;
  }
  return ::operator new(sc.bytes, std::align_val_t(kBlockAlign));
}

inline void pool_free(void* p, size_t n) {
  if (!p) return;
  if constexpr (kPoolEnabled) {
    if (BlockCache::alive())
      if (BlockCache::for_this_thread()->push(p, size_class(n))) return;
  }
  ::operator delete(p, std::align_val_t(kBlockAlign));
}

}  // namespace nabla::detail

namespace nabla {
// Returns the calling thread's cached blocks to the system.
inline void empty_cache() {
  if (auto* cache = detail::BlockCache::for_this_thread()) cache->release_all();
}
}  // namespace nabla
