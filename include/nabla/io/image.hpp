#pragma once
// 8-bit images in memory (Image), PNG files through libpng (read and write), JPEG files through
// libjpeg (read), and the two transforms the image loaders offer: center crop and resize.
// jpeglib.h uses size_t and FILE without including their headers.
#include <cstddef>
#include <cstdio>

#include <jpeglib.h>
#include <png.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/io/file.hpp"

namespace nabla::io {

// Rows top to bottom, pixels left to right, channels interleaved (gray, or R G B).
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int64_t height, int64_t width, int64_t channels, uint8_t fill = 0)
      : height(height), width(width), channels(channels),
        pixels(static_cast<size_t>(height * width * channels), fill) {}

  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
  std::string size_string() const {
    return std::to_string(width) + "x" + std::to_string(height) + (channels == 1 ? " gray" : " RGB");
  }
};

// Decoded images larger than this many bytes are refused before any allocation: a header that
// claims 65535 x 65535 pixels over a few bytes of data is a damaged file, not a photograph.
inline constexpr int64_t kMaxImageBytes = int64_t{1} << 30;

namespace detail {
inline void check_image_size(int64_t width, int64_t height, int64_t channels, const std::string& name) {
  NABLA_CHECK(width > 0 && height > 0, "image '", name, "': its header gives an empty size ", width,
              "x", height);
  NABLA_CHECK(width * height * channels <= kMaxImageBytes, "image '", name, "': its header gives ",
              width, "x", height, " pixels, more than nabla accepts (", kMaxImageBytes,
              " bytes decoded); the file is probably damaged");
}

inline std::string hex_prefix(std::span<const uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i)
    s += std::string(i ? " " : "") + digits[bytes[i] >> 4] + digits[bytes[i] & 15];
  return s.empty() ? "empty" : s;
}

inline bool is_png(std::span<const uint8_t> b) {
  return b.size() >= 8 && png_sig_cmp(b.data(), 0, 8) == 0;
}
inline bool is_jpeg(std::span<const uint8_t> b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

// libjpeg reports errors through a callback that must not return; it jumps back into the step
// that failed. Each step is a small function that holds no C++ objects across its setjmp, and the
// decoder object (trivial C structs) outlives them all.
class JpegDecoder {
 public:
  JpegDecoder() {
    cinfo_.err = jpeg_std_error(&error_.manager);
    error_.manager.error_exit = &on_error;
    error_.manager.emit_message = &on_message;
    jpeg_create_decompress(&cinfo_);
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo_); }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  bool read_header(const uint8_t* data, size_t size) {
    if (setjmp(error_.jump)) return false;
    jpeg_mem_src(&cinfo_, data, static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo_, TRUE);
    return true;
  }
  bool start(J_COLOR_SPACE out_space) {
    if (setjmp(error_.jump)) return false;
    cinfo_.out_color_space = out_space;
    jpeg_start_decompress(&cinfo_);
    return true;
  }
  bool read_rows(uint8_t* out, size_t stride) {
    if (setjmp(error_.jump)) return false;
    while (cinfo_.output_scanline < cinfo_.output_height) {
      JSAMPROW row = out + cinfo_.output_scanline * stride;
      jpeg_read_scanlines(&cinfo_, &row, 1);
    }
    jpeg_finish_decompress(&cinfo_);
    return true;
  }

  const jpeg_decompress_struct& info() const { return cinfo_; }
  const char* message() const { return error_.message; }
  // libjpeg only warns about damaged data (a truncated file decodes with gray rows at the end);
  // the first warning is kept so that the caller can refuse the image.
  const char* first_warning() const { return error_.warning[0] ? error_.warning : nullptr; }

 private:
  struct ErrorState {
    jpeg_error_mgr manager;  // first member: libjpeg's pointer to it is a pointer to this
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX] = {};
    char warning[JMSG_LENGTH_MAX] = {};
  };
  static void on_error(j_common_ptr cinfo) {
    auto* state = reinterpret_cast<ErrorState*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, state->message);
    std::longjmp(state->jump, 1);
  }
  static void on_message(j_common_ptr cinfo, int level) {
    auto* state = reinterpret_cast<ErrorState*>(cinfo->err);
    if (level >= 0) return;  // trace messages
    if (state->warning[0] == 0) (*cinfo->err->format_message)(cinfo, state->warning);
    ++cinfo->err->num_warnings;
  }

  jpeg_decompress_struct cinfo_{};
  ErrorState error_{};
};
}  // namespace detail

inline Image decode_jpeg(std::span<const uint8_t> bytes, const std::string& name) {
  detail::JpegDecoder decoder;
  NABLA_CHECK(decoder.read_header(bytes.data(), bytes.size()), "JPEG image '", name, "': ",
              decoder.message());
  const J_COLOR_SPACE space = decoder.info().jpeg_color_space;
  NABLA_CHECK(space != JCS_CMYK && space != JCS_YCCK, "JPEG image '", name,
              "': CMYK JPEGs are not supported, expected grayscale or RGB");
  const bool gray = decoder.info().num_components == 1;
  NABLA_CHECK(decoder.start(gray ? JCS_GRAYSCALE : JCS_RGB), "JPEG image '", name, "': ",
              decoder.message());
  const int64_t width = decoder.info().output_width, height = decoder.info().output_height;
  const int64_t channels = decoder.info().output_components;
  detail::check_image_size(width, height, channels, name);
  Image image(height, width, channels);
  NABLA_CHECK(decoder.read_rows(image.pixels.data(), static_cast<size_t>(width * channels)),
              "JPEG image '", name, "': ", decoder.message());
  NABLA_CHECK(!decoder.first_warning(), "JPEG image '", name, "': damaged or truncated data (",
              decoder.first_warning(), ")");
  return image;
}

// Gray stays gray, everything else becomes RGB; an alpha channel is dropped, as PIL's
// convert("RGB") does.
inline Image decode_png(std::span<const uint8_t> bytes, const std::string& name) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  // libpng frees its state itself when a call fails; this covers the paths where we stop.
  struct Release {
    png_image& png;
    ~Release() { png_image_free(&png); }
  } release{png};
  NABLA_CHECK(png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()), "PNG image '",
              name, "': ", png.message);
  const bool color = png.format & PNG_FORMAT_FLAG_COLOR;
  const bool alpha = png.format & PNG_FORMAT_FLAG_ALPHA;
  png.format = (color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
  const int64_t stored = PNG_IMAGE_PIXEL_CHANNELS(png.format);
  const int64_t width = png.width, height = png.height;
  detail::check_image_size(width, height, stored, name);
  std::vector<uint8_t> buffer(PNG_IMAGE_SIZE(png));
  NABLA_CHECK(png_image_finish_read(&png, nullptr, buffer.data(), 0, nullptr), "PNG image '", name,
              "': ", png.message);
  if (!alpha) {
    Image image;
    image.height = height;
    image.width = width;
    image.channels = stored;
    image.pixels = std::move(buffer);
    return image;
  }
  Image image(height, width, stored - 1);
  for (int64_t p = 0; p < width * height; ++p)
    std::copy_n(&buffer[static_cast<size_t>(p * stored)], stored - 1,
                &image.pixels[static_cast<size_t>(p * (stored - 1))]);
  return image;
}

// A PNG or a JPEG, told apart by their first bytes (not by the file name).
inline Image decode_image(std::span<const uint8_t> bytes, const std::string& name) {
  if (detail::is_png(bytes)) return decode_png(bytes, name);
  if (detail::is_jpeg(bytes)) return decode_jpeg(bytes, name);
  nabla::detail::fail("image '", name, "': not a PNG or JPEG file (", bytes.size(), " bytes, starting ",
               detail::hex_prefix(bytes), ")");
}

inline Image read_image(const std::filesystem::path& path) {
  return decode_image(read_file(path), path.string());
}

inline std::vector<uint8_t> encode_png(const Image& image) {
  NABLA_CHECK(image.channels == 1 || image.channels == 3, "encode_png: expected 1 (gray) or 3 (RGB) "
              "channels, got ", image.channels);
  NABLA_CHECK(image.width > 0 && image.height > 0, "encode_png: the image is empty (",
              image.width, "x", image.height, ")");
  NABLA_CHECK(static_cast<int64_t>(image.pixels.size()) == image.width * image.height * image.channels,
              "encode_png: ", image.pixels.size(), " bytes do not hold a ", image.size_string(), " image");
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  NABLA_CHECK(png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr),
              "encode_png: ", png.message);
  std::vector<uint8_t> bytes(size);
  NABLA_CHECK(png_image_write_to_memory(&png, bytes.data(), &size, 0, image.pixels.data(), 0, nullptr),
              "encode_png: ", png.message);
  bytes.resize(size);
  return bytes;
}

inline void write_png(const std::filesystem::path& path, const Image& image) {
  write_file(path, encode_png(image));
}

// Gray <-> RGB. RGB to gray uses ITU-R 601 luma in PIL's fixed point, as PIL's convert("L") and
// torchvision's Grayscale do.
inline Image convert_channels(Image image, int64_t channels) {
  NABLA_CHECK(channels == 1 || channels == 3, "convert_channels: expected 1 (gray) or 3 (RGB) "
              "channels, got ", channels);
  if (image.channels == channels) return image;
  Image out(image.height, image.width, channels);
  const int64_t n = image.width * image.height;
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  if (channels == 3) {
    for (int64_t p = 0; p < n; ++p) o[3 * p] = o[3 * p + 1] = o[3 * p + 2] = in[p];
  } else {
    for (int64_t p = 0; p < n; ++p)
      o[p] = static_cast<uint8_t>((in[3 * p] * 19595 + in[3 * p + 1] * 38470 + in[3 * p + 2] * 7471 +
                                   0x8000) >> 16);
  }
  return out;
}

// The central height x width window, placed as torchvision's CenterCrop places it.
inline Image center_crop(const Image& image, int64_t height, int64_t width) {
  NABLA_CHECK(height > 0 && width > 0 && height <= image.height && width <= image.width,
              "center_crop: a ", width, "x", height, " crop does not fit in a ", image.width, "x",
              image.height, " image");
  // Python's round(): halves go to the even neighbour.
  const auto offset = [](int64_t excess) {
    const int64_t half = excess / 2;
    return excess % 2 == 1 && half % 2 == 1 ? half + 1 : half;
  };
  const int64_t top = offset(image.height - height), left = offset(image.width - width);
  Image out(height, width, image.channels);
  for (int64_t y = 0; y < height; ++y)
    std::copy_n(image.row(top + y) + left * image.channels, width * image.channels, out.row(y));
  return out;
}

namespace detail {
// One output pixel of a resampling pass: its first input pixel and its weights, in PIL's fixed
// point (22 fractional bits).
struct ResampleTaps {
  std::vector<int64_t> first;
  std::vector<int32_t> weights;  // `taps` per output pixel
  int64_t taps = 0;
};
inline constexpr int kResampleBits = 22;

// A triangle (bilinear) filter stretched over the downscale factor, so that shrinking averages
// every input pixel instead of skipping most of them: PIL's BILINEAR with its antialiasing.
inline ResampleTaps resample_taps(int64_t in_size, int64_t out_size) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;
  ResampleTaps r;
  r.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  r.first.resize(static_cast<size_t>(out_size));
  r.weights.assign(static_cast<size_t>(out_size * r.taps), 0);
  std::vector<double> w(static_cast<size_t>(r.taps));
  for (int64_t o = 0; o < out_size; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size);
    double total = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const double x = std::abs((static_cast<double>(i) - center + 0.5) / filter_scale);
      w[static_cast<size_t>(i - lo)] = x < 1 ? 1 - x : 0;
      total += w[static_cast<size_t>(i - lo)];
    }
    r.first[static_cast<size_t>(o)] = lo;
    for (int64_t i = lo; i < hi; ++i) {
      const double k = total > 0 ? w[static_cast<size_t>(i - lo)] / total : 0;
      r.weights[static_cast<size_t>(o * r.taps + i - lo)] =
          static_cast<int32_t>(std::lround(k * (1 << kResampleBits)));
    }
  }
  return r;
}

inline uint8_t resample_round(int64_t sum) {
  return static_cast<uint8_t>(std::clamp<int64_t>((sum + (1 << (kResampleBits - 1))) >> kResampleBits, 0, 255));
}
}  // namespace detail

// Resizes to height x width: a horizontal pass, then a vertical one, each rounding to 8 bits as
// PIL does.
inline Image resize(const Image& image, int64_t height, int64_t width) {
  NABLA_CHECK(height > 0 && width > 0, "resize: expected a positive size, got ", width, "x", height);
  const int64_t c = image.channels;
  Image wide = image;
  if (width != image.width) {
    wide = Image(image.height, width, c);
    const detail::ResampleTaps h = detail::resample_taps(image.width, width);
    for (int64_t y = 0; y < image.height; ++y) {
      const uint8_t* in = image.row(y);
      uint8_t* out = wide.row(y);
      for (int64_t x = 0; x < width; ++x) {
        const int32_t* k = &h.weights[static_cast<size_t>(x * h.taps)];
        const int64_t first = h.first[static_cast<size_t>(x)];
        const int64_t taps = std::min(h.taps, image.width - first);
        for (int64_t ch = 0; ch < c; ++ch) {
          int64_t sum = 0;
          for (int64_t t = 0; t < taps; ++t) sum += int64_t{in[(first + t) * c + ch]} * k[t];
          out[x * c + ch] = detail::resample_round(sum);
        }
      }
    }
  }
  if (height == image.height) return wide;
  Image out(height, width, c);
  const detail::ResampleTaps v = detail::resample_taps(image.height, height);
  for (int64_t y = 0; y < height; ++y) {
    const int32_t* k = &v.weights[static_cast<size_t>(y * v.taps)];
    const int64_t first = v.first[static_cast<size_t>(y)];
    const int64_t taps = std::min(v.taps, image.height - first);
    uint8_t* o = out.row(y);
    for (int64_t i = 0; i < width * c; ++i) {
      int64_t sum = 0;
      for (int64_t t = 0; t < taps; ++t) sum += int64_t{wide.row(first + t)[i]} * k[t];
      o[i] = detail::resample_round(sum);
    }
  }
  return out;
}

}  // namespace nabla::io
