#pragma once
// Checkpoints: named tensors (modules' parameters and buffers, optimizers' state) in one file.
//
// Format, version 1, all integers little-endian:
//   8 bytes   magic "NABLACKP"
//   u32       format version (1)
//   u32       number of entries
//   entries:  u32 name length, name bytes (UTF-8),
//             u8 dtype (1 float32, 2 float64, 3 int64), u8 ndim (0..6), i64 dims[ndim],
//             u64 byte count (= numel * dtype size), the elements in row-major order
//   u32       CRC-32 (IEEE 802.3, as zlib's crc32) of every byte before it
//
// Saving writes a temporary file next to the target, syncs it, and renames it over the target,
// so a crash mid-write leaves the previous checkpoint intact. Loading reads and verifies the whole
// file (size, checksum, every length) before anything is restored, and restoring into a module or
// optimizer checks every key, shape and dtype before it changes anything.
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "nabla/nn/module.hpp"
#include "nabla/optim/optimizer.hpp"
#include "nabla/ops/inplace.hpp"

namespace nabla {

namespace detail {
inline uint32_t crc32(const unsigned char* data, size_t n, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

template <Element T>
constexpr uint8_t dtype_code() {
  if constexpr (std::same_as<T, float>) return 1;
  else if constexpr (std::same_as<T, double>) return 2;
  else return 3;
}
inline const char* dtype_code_name(uint8_t code) {
  return code == 1 ? "float32" : code == 2 ? "float64" : code == 3 ? "int64" : "unknown";
}
}  // namespace detail

class Checkpoint {
 public:
  static constexpr uint32_t kVersion = 1;

  // ---- building ----
  template <Element T>
  void add_tensor(const std::string& name, const Tensor<T>& t) {
    NABLA_CHECK(!contains(name), "Checkpoint: duplicate entry '", name, "'");
    NABLA_CHECK(name.size() < (1u << 20), "Checkpoint: entry name too long");
    const std::vector<T> values = t.to_vector();
    Entry e{name, detail::dtype_code<T>(), t.shape(), std::vector<unsigned char>(values.size() * sizeof(T))};
    std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
    entries_.push_back(std::move(e));
  }
  // Every parameter and buffer of `module`, named prefix + its state_dict name.
  template <Floating T>
  void add(const std::string& prefix, nn::Module<T>& module) {
    for (auto& [name, t] : module.state_dict()) add_tensor(prefix + name, t);
  }
  // The optimizer's per-parameter state, and its learning rate as float64 under prefix + "lr".
  template <Floating T>
  void add(const std::string& prefix, const optim::Optimizer<T>& optimizer) {
    add_tensor(prefix + "lr", Tensor<double>::scalar(optimizer.lr()));
    for (auto& [name, t] : optimizer.state_dict()) add_tensor(prefix + name, t);
  }

  // ---- reading ----
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const Entry& e : entries_) out.push_back(e.name);
    return out;
  }
  template <Element T>
  Tensor<T> tensor(const std::string& name) const {
    const Entry* e = find(name);
    NABLA_CHECK(e, "Checkpoint: no entry '", name, "'");
    NABLA_CHECK(e->dtype == detail::dtype_code<T>(), "Checkpoint: entry '", name, "' is ",
                detail::dtype_code_name(e->dtype), ", requested ", dtype_name<T>());
    Tensor<T> t = Tensor<T>::empty(e->shape);
    std::memcpy(t.data(), e->bytes.data(), e->bytes.size());
    return t;
  }

  // Copies the entries under `prefix` into the module's parameters and buffers. Throws, leaving
  // the module unchanged, on a missing or extra key, a shape or a dtype mismatch.
  template <Floating T>
  void restore(const std::string& prefix, nn::Module<T>& module) const {
    auto targets = module.state_dict();
    std::vector<Tensor<T>> values;
    for (auto& [name, target] : targets) {
      const Entry* e = find(prefix + name);
      NABLA_CHECK(e, "Checkpoint: missing key '", prefix + name, "' (", target.shape(), ") for ", module.describe());
      check_entry(*e, target.shape(), dtype_name<T>(), detail::dtype_code<T>());
      values.push_back(tensor<T>(e->name));
    }
    for (const Entry& e : entries_) {
      if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
      bool known = false;
      for (auto& [name, target] : targets) known = known || prefix + name == e.name;
      NABLA_CHECK(known, "Checkpoint: unexpected key '", e.name, "' for ", module.describe());
    }
    NoGradGuard no_grad;
    for (size_t i = 0; i < targets.size(); ++i) targets[i].second.copy_(values[i]);
  }
  template <Floating T>
  void restore(const std::string& prefix, optim::Optimizer<T>& optimizer) const {
    nn::NamedTensors<T> state;
    const Entry* lr = find(prefix + "lr");
    if (lr) check_entry(*lr, {}, "float64", detail::dtype_code<double>());
    for (const Entry& e : entries_) {
      if (e.name.compare(0, prefix.size(), prefix) != 0 || &e == lr) continue;
      NABLA_CHECK(e.dtype == detail::dtype_code<T>(), "Checkpoint: entry '", e.name, "' is ",
                  detail::dtype_code_name(e.dtype), ", expected ", dtype_name<T>());
      state.emplace_back(e.name.substr(prefix.size()), tensor<T>(e.name));
    }
    optimizer.load_state_dict(state);
    if (lr) optimizer.set_lr(tensor<double>(lr->name).item());
  }

  // ---- files ----
  void save(const std::string& path) const {
    std::vector<unsigned char> out;
    put(out, "NABLACKP", 8);
    put_int<uint32_t>(out, kVersion);
    put_int<uint32_t>(out, static_cast<uint32_t>(entries_.size()));
    for (const Entry& e : entries_) {
      put_int<uint32_t>(out, static_cast<uint32_t>(e.name.size()));
      put(out, e.name.data(), e.name.size());
      put_int<uint8_t>(out, e.dtype);
      put_int<uint8_t>(out, static_cast<uint8_t>(e.shape.size()));
      for (int64_t d : e.shape) put_int<int64_t>(out, d);
      put_int<uint64_t>(out, e.bytes.size());
      put(out, e.bytes.data(), e.bytes.size());
    }
    put_int<uint32_t>(out, detail::crc32(out.data(), out.size()));
    write_atomically(path, out);
  }

  static Checkpoint load(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    NABLA_CHECK(in, "Checkpoint: cannot open '", path, "'");
    const std::streamoff size = in.tellg();
    NABLA_CHECK(size >= 20, "Checkpoint: '", path, "' is truncated or not a checkpoint (", size, " bytes)");
    std::vector<unsigned char> data(static_cast<size_t>(size));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(data.data()), size);
    NABLA_CHECK(in, "Checkpoint: cannot read '", path, "'");
    return parse(data, path);
  }

  // Parses a checkpoint held in memory; `source` names it in errors.
  static Checkpoint parse(const std::vector<unsigned char>& data, const std::string& source) {
    NABLA_CHECK(data.size() >= 20 && std::memcmp(data.data(), "NABLACKP", 8) == 0, "Checkpoint: '", source,
                "' is not a nabla checkpoint (bad magic)");
    Reader r{data.data(), data.size() - 4, 8, source};
    const uint32_t version = r.get<uint32_t>();
    NABLA_CHECK(version == kVersion, "Checkpoint: '", source, "' has format version ", version, ", this nabla reads ",
                kVersion);
    uint32_t stored_crc;
    std::memcpy(&stored_crc, data.data() + data.size() - 4, 4);
    NABLA_CHECK(stored_crc == detail::crc32(data.data(), data.size() - 4), "Checkpoint: '", source,
                "' is corrupt (checksum mismatch) or truncated");
    const uint32_t count = r.get<uint32_t>();
    Checkpoint c;
    for (uint32_t i = 0; i < count; ++i) {
      Entry e;
      const uint32_t name_len = r.get<uint32_t>();
      e.name.assign(reinterpret_cast<const char*>(r.take(name_len)), name_len);
      e.dtype = r.get<uint8_t>();
      NABLA_CHECK(e.dtype >= 1 && e.dtype <= 3, "Checkpoint: '", source, "': entry '", e.name, "' has unknown dtype ",
                  int(e.dtype));
      const uint8_t ndim = r.get<uint8_t>();
      NABLA_CHECK(ndim <= Dims::kMaxDims, "Checkpoint: '", source, "': entry '", e.name, "' has ", int(ndim), " dims");
      uint64_t numel = 1;
      for (int d = 0; d < ndim; ++d) {
        const int64_t dim = r.get<int64_t>();
        NABLA_CHECK(dim >= 0 && (dim == 0 || numel <= (uint64_t{1} << 48) / static_cast<uint64_t>(dim)),
                    "Checkpoint: '", source, "': entry '", e.name, "' has an invalid dimension ", dim);
        numel *= static_cast<uint64_t>(dim);
        e.shape.push_back(dim);
      }
      const uint64_t bytes = r.get<uint64_t>();
      const uint64_t elem = e.dtype == 1 ? 4 : 8;
      NABLA_CHECK(bytes == numel * elem, "Checkpoint: '", source, "': entry '", e.name, "' holds ", bytes,
                  " bytes, its shape ", e.shape, " needs ", numel * elem);
      const unsigned char* p = r.take(bytes);
      e.bytes.assign(p, p + bytes);
      NABLA_CHECK(!c.contains(e.name), "Checkpoint: '", source, "': duplicate entry '", e.name, "'");
      c.entries_.push_back(std::move(e));
    }
    NABLA_CHECK(r.pos == r.size, "Checkpoint: '", source, "' has ", r.size - r.pos, " unexpected trailing bytes");
    return c;
  }

 private:
  struct Entry {
    std::string name;
    uint8_t dtype = 0;
    Shape shape;
    std::vector<unsigned char> bytes;
  };
  struct Reader {
    const unsigned char* data;
    size_t size, pos;
    const std::string& source;
    const unsigned char* take(uint64_t n) {
      NABLA_CHECK(n <= size - pos, "Checkpoint: '", source, "' is truncated (needs ", n, " more bytes at offset ", pos,
                  ")");
      const unsigned char* p = data + pos;
      pos += static_cast<size_t>(n);
      return p;
    }
    template <class I>
    I get() {
      I v;
      std::memcpy(&v, take(sizeof(I)), sizeof(I));
      return v;
    }
  };
  static_assert(std::endian::native == std::endian::little, "nabla checkpoints are little-endian");

  const Entry* find(const std::string& name) const {
    for (const Entry& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  static void check_entry(const Entry& e, const Shape& shape, const char* dtype, uint8_t code) {
    NABLA_CHECK(e.dtype == code, "Checkpoint: key '", e.name, "' is ", detail::dtype_code_name(e.dtype), ", expected ",
                dtype);
    NABLA_CHECK(e.shape == shape, "Checkpoint: key '", e.name, "' has shape ", e.shape, ", expected ", shape);
  }
  static void put(std::vector<unsigned char>& out, const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    out.insert(out.end(), b, b + n);
  }
  template <class I>
  static void put_int(std::vector<unsigned char>& out, I v) {
    put(out, &v, sizeof(I));
  }
  static void write_atomically(const std::string& path, const std::vector<unsigned char>& bytes) {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    NABLA_CHECK(fd >= 0, "Checkpoint: cannot create '", tmp, "': ", std::strerror(errno));
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        detail::fail("Checkpoint: writing '", tmp, "' failed: ", std::strerror(err));
      }
      done += static_cast<size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    const bool closed = ::close(fd) == 0;
    if (!synced || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      detail::fail("Checkpoint: could not replace '", path, "': ", std::strerror(err));
    }
  }

  std::vector<Entry> entries_;
};

// One module to one file, and back.
template <Floating T>
void save_module(const std::string& path, nn::Module<T>& module) {
  Checkpoint c;
  c.add("", module);
  c.save(path);
}
template <Floating T>
void load_module(const std::string& path, nn::Module<T>& module) {
  Checkpoint::load(path).restore("", module);
}

}  // namespace nabla
