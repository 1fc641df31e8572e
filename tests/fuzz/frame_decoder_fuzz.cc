// libFuzzer target: arbitrary bytes into replication::DecodeFrame.
//
// Properties checked on every input:
//   - DecodeFrame never crashes, reads out of bounds or throws (ASan/UBSan catch the first
//     two), and fails only with Corruption or TooLarge;
//   - a decoded message re-encodes to a frame that decodes to the same message;
//   - accepted frames are canonical: re-encoding gives back the input bytes (except a Hello
//     of another protocol version, of which only the version is decoded).
//
// Build: CXX=clang++ cmake -DMESHDB_BUILD_FUZZERS=ON ...; ninja frame_decoder_fuzz;
// run: ./frame_decoder_fuzz -max_len=4096 corpus/. See tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "replication/wire/codec.h"
#include "replication/wire/message.h"

namespace {

// Small enough that libFuzzer also explores the TooLarge path with -max_len above it.
constexpr size_t kFuzzMaxFrameBytes = 1 << 16;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "frame_decoder_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace rep = meshdb::replication;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  auto decoded = rep::DecodeFrame(bytes, kFuzzMaxFrameBytes);
  if (!decoded.ok()) {
    const auto code = decoded.status().code();
    if (code != meshdb::Status::Code::kCorruption && code != meshdb::Status::Code::kTooLarge) {
      Fail("DecodeFrame failed with a code other than Corruption/TooLarge");
    }
    if (code == meshdb::Status::Code::kTooLarge && size <= kFuzzMaxFrameBytes) {
      Fail("TooLarge for a frame within the limit");
    }
    return 0;
  }

  const std::string again = rep::EncodeFrame(*decoded);
  auto redecoded = rep::DecodeFrame(again, std::numeric_limits<size_t>::max());
  if (!redecoded.ok()) Fail("re-encoded frame does not decode");
  if (!(*redecoded == *decoded)) Fail("decode(encode(m)) != m");

  const auto* hello = std::get_if<rep::Hello>(&*decoded);
  const bool foreign_hello = hello != nullptr && hello->protocol_version != rep::kProtocolVersion;
  if (!foreign_hello && again != bytes) Fail("accepted frame is not canonical");
  return 0;
}
