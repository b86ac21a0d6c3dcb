#pragma once
// Whole-file reads and writes. Every failure names the file and says what went wrong, in the
// operating system's words.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"

namespace nabla::io {

namespace detail {
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

inline FileHandle open_file(const std::filesystem::path& path, const char* mode, const char* what) {
  std::FILE* f = std::fopen(path.c_str(), mode);
  NABLA_CHECK(f, "cannot ", what, " '", path.string(), "': ", std::strerror(errno));
  return FileHandle(f);
}
}  // namespace detail

inline std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  NABLA_CHECK(!std::filesystem::is_directory(path), "cannot read '", path.string(),
              "': it is a directory, expected a file");
  detail::FileHandle f = detail::open_file(path, "rb", "open");
  std::vector<uint8_t> bytes;
  // Grows as data arrives rather than trusting a size taken up front: pipes and files that change
  // under us read correctly too.
  constexpr size_t kChunk = size_t{1} << 20;
  for (;;) {
    const size_t used = bytes.size();
    bytes.resize(used + kChunk);
    const size_t got = std::fread(bytes.data() + used, 1, kChunk, f.get());
    bytes.resize(used + got);
    if (got < kChunk) break;
  }
  NABLA_CHECK(!std::ferror(f.get()), "cannot read '", path.string(), "': ", std::strerror(errno));
  return bytes;
}

inline void write_file(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  detail::FileHandle f = detail::open_file(path, "wb", "create");
  const bool written = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f.get()) == bytes.size();
  const bool closed = std::fclose(f.release()) == 0;
  NABLA_CHECK(written && closed, "cannot write '", path.string(), "': ", std::strerror(errno));
}

}  // namespace nabla::io
