#pragma once
// IDX files, the format of MNIST and Fashion-MNIST: a 4-byte magic number (two zero bytes, an
// element type, a dimension count), one big-endian 32-bit size per dimension, then the elements,
// big-endian, row-major. Files may be gzip-compressed. The reader checks every header field and
// the exact data length, and allocates as the data arrives rather than as the header claims: a
// header that promises 2^31 x 2^31 elements over a few bytes costs nothing before it is found out.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/core/shape.hpp"
#include "nabla/data/limits.hpp"
#include "nabla/data/gzip.hpp"
#include "nabla/io/file.hpp"

namespace nabla::data {

enum class IdxType : uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

inline std::optional<IdxType> idx_type_from_code(uint8_t code) {
  switch (code) {
    case 0x08: case 0x09: case 0x0B: case 0x0C: case 0x0D: case 0x0E:
      return static_cast<IdxType>(code);
    default:
      return std::nullopt;
  }
}

inline int64_t idx_type_size(IdxType type) {
  switch (type) {
    case IdxType::u8: case IdxType::i8: return 1;
    case IdxType::i16: return 2;
    case IdxType::i32: case IdxType::f32: return 4;
    case IdxType::f64: return 8;
  }
  return 0;
}

inline const char* idx_type_name(IdxType type) {
  switch (type) {
    case IdxType::u8: return "unsigned byte (0x08)";
    case IdxType::i8: return "signed byte (0x09)";
    case IdxType::i16: return "int16 (0x0B)";
    case IdxType::i32: return "int32 (0x0C)";
    case IdxType::f32: return "float32 (0x0D)";
    case IdxType::f64: return "float64 (0x0E)";
  }
  return "unknown";
}

// The contents of one IDX file: its element type, its shape, and the elements as they are stored
// (big-endian).
struct IdxArray {
  IdxType type = IdxType::u8;
  Shape shape;
  std::vector<uint8_t> bytes;

  int64_t numel() const { return checked_numel(shape).value_or(0); }

  // Element i as a double (exact for every IDX type).
  double value(int64_t i) const {
    const uint8_t* p = bytes.data() + i * idx_type_size(type);
    switch (type) {
      case IdxType::u8: return p[0];
      case IdxType::i8: return static_cast<int8_t>(p[0]);
      case IdxType::i16: return static_cast<int16_t>(load_be<uint16_t>(p));
      case IdxType::i32: return static_cast<int32_t>(load_be<uint32_t>(p));
      case IdxType::f32: return std::bit_cast<float>(load_be<uint32_t>(p));
      case IdxType::f64: return std::bit_cast<double>(load_be<uint64_t>(p));
    }
    return 0;
  }

  // Every element converted to T, unscaled (a ubyte 255 becomes 255.0f).
  template <class T>
  std::vector<T> values() const {
    std::vector<T> out(static_cast<size_t>(numel()));
    if (type == IdxType::u8) std::copy(bytes.begin(), bytes.end(), out.begin());
    else
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(value(static_cast<int64_t>(i)));
    return out;
  }

  // Integer elements (labels); floating-point files are refused rather than truncated. `name`
  // starts the error message.
  std::vector<int64_t> integers(std::string_view name = "IDX data") const {
    NABLA_CHECK(type != IdxType::f32 && type != IdxType::f64, name, ": expected integer elements, got ",
                idx_type_name(type));
    return values<int64_t>();
  }

  template <std::unsigned_integral U>
  static U load_be(const uint8_t* p) {
    U v = 0;
    for (size_t k = 0; k < sizeof(U); ++k) v = static_cast<U>((v << 8) | p[k]);
    return v;
  }
};

namespace detail {
// Where decode_idx takes its bytes from: the buffer itself, or a gzip stream inside it.
class ByteSource {
 public:
  ByteSource(std::span<const uint8_t> bytes, const std::string& name) {
    if (is_gzip(bytes)) gzip_.emplace(bytes, name);
    else plain_ = bytes;
  }
  size_t read(std::span<uint8_t> out) {
    if (gzip_) return gzip_->read(out);
    const size_t n = std::min(out.size(), plain_.size());
    if (n > 0) std::memcpy(out.data(), plain_.data(), n);
    plain_ = plain_.subspan(n);
    return n;
  }
  bool compressed() const { return gzip_.has_value(); }

 private:
  std::optional<GzipInflater> gzip_;
  std::span<const uint8_t> plain_;
};

inline std::string hex_bytes(std::span<const uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : bytes) {
    s += digits[b >> 4];
    s += digits[b & 15];
    s += ' ';
  }
  if (!s.empty()) s.pop_back();
  return s;
}
}  // namespace detail

// Parses the bytes of an IDX file, gzip-compressed or not. `name` (the file name) starts every
// error message.
inline IdxArray decode_idx(std::span<const uint8_t> file_bytes, const std::string& name) {
  detail::ByteSource source(file_bytes, name);
  const char* data_word = source.compressed() ? "decompressed data" : "file";
  const std::string where = "IDX file '" + name + "'";

  uint8_t magic[4];
  const size_t got_magic = source.read(magic);
  NABLA_CHECK(got_magic == 4, where, ": the ", data_word, " is ", got_magic,
              " bytes long, too short for the 4-byte IDX magic number");
  NABLA_CHECK(magic[0] == 0 && magic[1] == 0, where, ": wrong magic number (",
              detail::hex_bytes(magic), "): an IDX file starts with two zero bytes, then the "
              "element type and the number of dimensions");
  const std::optional<IdxType> type = idx_type_from_code(magic[2]);
  NABLA_CHECK(type, where, ": unknown element type 0x", detail::hex_bytes({magic + 2, 1}),
              ", expected 08 (ubyte), 09 (byte), 0b (int16), 0c (int32), 0d (float32) or 0e (float64)");
  const int ndims = magic[3];
  NABLA_CHECK(ndims >= 1 && ndims <= Dims::kMaxDims, where, ": the header gives ", ndims,
              " dimensions, expected 1 to ", Dims::kMaxDims);

  uint8_t sizes[4 * Dims::kMaxDims];
  const size_t sizes_bytes = static_cast<size_t>(4 * ndims);
  const size_t got_sizes = source.read({sizes, sizes_bytes});
  NABLA_CHECK(got_sizes == sizes_bytes, where, ": the header is truncated: ", ndims,
              " dimensions need ", sizes_bytes, " bytes of sizes after the magic number, the ",
              data_word, " has ", got_sizes);

  IdxArray array;
  array.type = *type;
  array.shape = Dims::filled(ndims, 0);
  for (int d = 0; d < ndims; ++d) array.shape[d] = IdxArray::load_be<uint32_t>(sizes + 4 * d);
  const std::optional<int64_t> numel = checked_numel(array.shape);
  NABLA_CHECK(numel, where, ": the header's dimensions ", array.shape,
              " describe more than 2^48 elements; the file is corrupt");

  const int64_t element_size = idx_type_size(*type);
  const uint64_t expected = static_cast<uint64_t>(*numel) * static_cast<uint64_t>(element_size);
  // Grows with the data, doubling, rather than trusting the header: a lying header finds a short
  // file having cost at most twice the data present (plus 1 MiB).
  constexpr uint64_t kFirstStep = uint64_t{1} << 20;
  uint64_t have = 0;
  while (have < expected) {
    const uint64_t want = std::min(expected - have, std::max<uint64_t>(have, kFirstStep));
    array.bytes.resize(static_cast<size_t>(have + want));
    const size_t got = source.read({array.bytes.data() + have, static_cast<size_t>(want)});
    have += got;
    if (got < want) break;
  }
  array.bytes.resize(static_cast<size_t>(have));
  NABLA_CHECK(have == expected, where, ": truncated: the header's dimensions ", array.shape,
              " need ", expected, " bytes of ", idx_type_name(*type), " data, the ", data_word,
              " has only ", have);
  uint8_t extra[1];
  NABLA_CHECK(source.read(extra) == 0, where, ": the ", data_word, " is longer than the ",
              4 + sizes_bytes + expected, " bytes its header's dimensions ", array.shape,
              " describe (trailing bytes after the data)");
  return array;
}

inline IdxArray read_idx(const std::filesystem::path& path) {
  return decode_idx(io::read_file(path), path.string());
}

inline std::vector<uint8_t> encode_idx(const IdxArray& array) {
  NABLA_CHECK(array.shape.size() >= 1, "encode_idx: an IDX file needs at least one dimension");
  const std::optional<int64_t> numel = checked_numel(array.shape);
  NABLA_CHECK(numel && static_cast<int64_t>(array.bytes.size()) == *numel * idx_type_size(array.type),
              "encode_idx: ", array.bytes.size(), " bytes do not hold shape ", array.shape, " of ",
              idx_type_name(array.type));
  std::vector<uint8_t> out = {0, 0, static_cast<uint8_t>(array.type),
                              static_cast<uint8_t>(array.shape.size())};
  for (int64_t size : array.shape) {
    NABLA_CHECK(size <= std::numeric_limits<uint32_t>::max(), "encode_idx: dimension ", size,
                " does not fit IDX's 32-bit sizes (shape ", array.shape, ")");
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(size >> shift));
  }
  out.insert(out.end(), array.bytes.begin(), array.bytes.end());
  return out;
}

// Writes an IDX file, gzip-compressed when the name ends in ".gz".
inline void write_idx(const std::filesystem::path& path, const IdxArray& array) {
  std::vector<uint8_t> bytes = encode_idx(array);
  if (path.extension() == ".gz") bytes = gzip(bytes);
  io::write_file(path, bytes);
}

// An IdxArray of the given type holding `values` (stored big-endian).
template <class V>
IdxArray make_idx(IdxType type, const Shape& shape, std::span<const V> values) {
  NABLA_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "make_idx: ", values.size(),
              " values do not fill shape ", shape);
  IdxArray array{type, shape, {}};
  const int64_t size = idx_type_size(type);
  array.bytes.resize(values.size() * static_cast<size_t>(size));
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t raw = 0;
    switch (type) {
      case IdxType::u8: case IdxType::i8: case IdxType::i16: case IdxType::i32: {
        const auto v = static_cast<double>(values[i]);
        const double lo = type == IdxType::u8 ? 0 : -std::ldexp(1.0, 8 * size - 1);
        const double hi = type == IdxType::u8 ? 255 : std::ldexp(1.0, 8 * size - 1) - 1;
        NABLA_CHECK(v >= lo && v <= hi && v == std::floor(v), "make_idx: value ", values[i],
                    " at position ", i, " is not a whole number in [", lo, ", ", hi, "], which ",
                    idx_type_name(type), " needs");
        raw = static_cast<uint64_t>(static_cast<int64_t>(v));
        break;
      }
      case IdxType::f32: raw = std::bit_cast<uint32_t>(static_cast<float>(values[i])); break;
      case IdxType::f64: raw = std::bit_cast<uint64_t>(static_cast<double>(values[i])); break;
    }
    for (int64_t k = 0; k < size; ++k)
      array.bytes[i * size + k] = static_cast<uint8_t>(raw >> (8 * (size - 1 - k)));
  }
  return array;
}

}  // namespace nabla::data
