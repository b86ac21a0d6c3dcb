#pragma once
// One seeded random story. Values come from Philox4x32-10, a counter-based generator: element i
// of a draw is a pure function of (seed, draw offset, i). A draw reserves a range of counters and
// any thread can compute any element, so results are bit-identical for every thread count.
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace nabla {

namespace detail {
struct Philox4x32 {
  using Block = std::array<uint32_t, 4>;
  static Block generate(uint64_t key, uint64_t counter) {
    uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    Block c = {static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u};
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t{0xD2511F53} * c[0], p1 = uint64_t{0xCD9E8D57} * c[2];
      c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<uint32_t>(p0)};
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    return c;
  }
};

// Uniform in [0, 1) from 24 (float) or 53 (double) random bits.
inline float uniform_float(uint32_t x) { return static_cast<float>(x >> 8) * 0x1.0p-24f; }
inline double uniform_double(uint32_t hi, uint32_t lo) {
  return static_cast<double>(((uint64_t{hi} << 32) | lo) >> 11) * 0x1.0p-53;
}
}  // namespace detail

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  // Reserves `blocks` consecutive Philox counters and returns the first.
  uint64_t reserve(uint64_t blocks) { return offset_.fetch_add(blocks, std::memory_order_relaxed); }
  // The position in the stream: saved with a checkpoint, it makes a resumed run draw what an
  // uninterrupted one would have.
  uint64_t offset() const { return offset_.load(std::memory_order_relaxed); }
  void set_offset(uint64_t offset) { offset_.store(offset, std::memory_order_relaxed); }
  detail::Philox4x32::Block block(uint64_t counter) const {
    return detail::Philox4x32::generate(seed_, counter);
  }

 private:
  uint64_t seed_;
  std::atomic<uint64_t> offset_{0};
};

inline Generator& default_generator() {
  static Generator g;
  return g;
}

// Seeds the default generator: same seed + same thread count gives bit-identical results.
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace nabla
