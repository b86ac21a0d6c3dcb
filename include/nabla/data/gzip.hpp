#pragma once
// gzip through zlib, in memory: an inflater that hands out the data a piece at a time (so a
// reader can stop as soon as it has what a header promised), and whole-buffer helpers.
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"

namespace nabla::data {

inline bool is_gzip(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

// Inflates one or more concatenated gzip members (as `cat a.gz b.gz` makes). `name` is the file
// the bytes came from, for the errors.
class GzipInflater {
 public:
  GzipInflater(std::span<const uint8_t> compressed, std::string name)
      : rest_(compressed), name_(std::move(name)) {
    NABLA_CHECK(inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK, "'", name_,
                "': cannot start the gzip decoder (out of memory)");
  }
  ~GzipInflater() { inflateEnd(&z_); }
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;

  // Fills `out` as far as the data goes and returns how many bytes it wrote: fewer than
  // out.size() only at the end of the data.
  size_t read(std::span<uint8_t> out) {
    size_t produced = 0;
    while (produced < out.size() && !finished_) {
      feed();
      const size_t want = std::min<size_t>(out.size() - produced, UINT_MAX);
      z_.next_out = out.data() + produced;
      z_.avail_out = static_cast<uInt>(want);
      const int status = inflate(&z_, Z_NO_FLUSH);
      produced += want - z_.avail_out;
      switch (status) {
        case Z_OK:
          break;
        case Z_STREAM_END:
          finish_member();
          break;
        case Z_BUF_ERROR:  // no progress possible: the input ran out inside a member
          NABLA_CHECK(z_.avail_in > 0 || !rest_.empty(), "'", name_,
                      "': the gzip data is truncated (it ends before the end of its stream)");
          break;
        case Z_MEM_ERROR:
          nabla::detail::fail("'", name_, "': out of memory while decompressing");
        default:
          nabla::detail::fail("'", name_, "': corrupt gzip data (", z_.msg ? z_.msg : "zlib error", ")");
      }
    }
    return produced;
  }

 private:
  // zlib counts input in 32-bit units; larger inputs go in slices.
  void feed() {
    if (z_.avail_in > 0 || rest_.empty()) return;
    const size_t n = std::min<size_t>(rest_.size(), UINT_MAX);
    z_.next_in = const_cast<Bytef*>(rest_.data());
    z_.avail_in = static_cast<uInt>(n);
    rest_ = rest_.subspan(n);
  }

  // The bytes left after a member are contiguous in memory: the unread tail of the slice
  // zlib holds, then rest_.
  void finish_member() {
    const std::span<const uint8_t> left(z_.next_in, z_.avail_in + rest_.size());
    if (left.empty()) {
      finished_ = true;
      return;
    }
    NABLA_CHECK(is_gzip(left), "'", name_, "': ", left.size(),
                " bytes of something other than gzip data follow the end of the gzip stream");
    NABLA_CHECK(inflateReset(&z_) == Z_OK, "'", name_, "': cannot restart the gzip decoder");
  }

  z_stream z_{};
  std::span<const uint8_t> rest_;
  std::string name_;
  bool finished_ = false;
};

inline std::vector<uint8_t> gunzip(std::span<const uint8_t> compressed, const std::string& name) {
  GzipInflater inflater(compressed, name);
  std::vector<uint8_t> out;
  size_t chunk = std::max<size_t>(compressed.size() * 4, 1 << 16);
  for (;;) {
    const size_t used = out.size();
    out.resize(used + chunk);
    const size_t got = inflater.read({out.data() + used, chunk});
    out.resize(used + got);
    if (got < chunk) return out;
    chunk = out.size();
  }
}

inline std::vector<uint8_t> gzip(std::span<const uint8_t> data, int level = Z_DEFAULT_COMPRESSION) {
  NABLA_CHECK(level == Z_DEFAULT_COMPRESSION || (level >= 0 && level <= 9),
              "gzip: compression level must be 0..9, got ", level);
  z_stream z{};
  NABLA_CHECK(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
              "gzip: cannot start the compressor (out of memory)");
  std::vector<uint8_t> out;
  std::span<const uint8_t> rest = data;
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    if (z.avail_in == 0 && !rest.empty()) {
      const size_t n = std::min<size_t>(rest.size(), UINT_MAX);
      z.next_in = const_cast<Bytef*>(rest.data());
      z.avail_in = static_cast<uInt>(n);
      rest = rest.subspan(n);
    }
    const size_t used = out.size();
    const size_t chunk = std::max<size_t>(used / 2, 1 << 16);
    out.resize(used + chunk);
    z.next_out = out.data() + used;
    z.avail_out = static_cast<uInt>(chunk);
    status = deflate(&z, rest.empty() ? Z_FINISH : Z_NO_FLUSH);
    out.resize(used + chunk - z.avail_out);
    if (status == Z_STREAM_ERROR) break;
  }
  deflateEnd(&z);
  NABLA_CHECK(status == Z_STREAM_END, "gzip: compression failed");
  return out;
}

}  // namespace nabla::data
