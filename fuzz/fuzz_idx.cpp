// libFuzzer target for the IDX reader (data/idx.hpp), gzip'd or plain: any input either decodes
// to an array whose elements can all be read and which encodes back to the same array, or throws
// nabla::Error. Never a crash, and never an allocation far beyond the input (libFuzzer's
// -rss_limit_mb and -malloc_limit_mb catch those).
#include <cstddef>
#include <cstdint>

#include <nabla/data/idx.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const nabla::data::IdxArray array = nabla::data::decode_idx({data, size}, "fuzz.idx");
    volatile double sink = 0;
    for (int64_t i = 0; i < array.numel(); ++i) sink = sink + array.value(i);
    sink = sink + static_cast<double>(array.values<float>().size());
    const nabla::data::IdxArray again = nabla::data::decode_idx(nabla::data::encode_idx(array), "re-encoded");
    if (again.type != array.type || !(again.shape == array.shape) || again.bytes != array.bytes) __builtin_trap();
  } catch (const nabla::Error&) {
  }
  return 0;
}
