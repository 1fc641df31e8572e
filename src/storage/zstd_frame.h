// zstd compression of byte strings at rest (log entry bodies, record documents), with an
// optional dictionary. Frames carry their content size, no checksum and no dictionary id
// (callers store which dictionary they used).
// Thread-safety: every function may be called from any thread (contexts are thread-local);
// a ZstdDictionary is immutable once built and may be shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace meshdb::storage {

// Largest size a frame may claim to decompress to; more is treated as Corruption rather than
// allocated.
inline constexpr size_t kMaxZstdContentBytes = size_t{1} << 30;

// A trained dictionary, prepared for both directions at one compression level.
class ZstdDictionary {
 public:
  // Nullptr when `bytes` is not a usable zstd dictionary.
  static std::shared_ptr<const ZstdDictionary> Load(std::string_view bytes, int level);
  ~ZstdDictionary();
  ZstdDictionary(const ZstdDictionary&) = delete;
  ZstdDictionary& operator=(const ZstdDictionary&) = delete;

  [[nodiscard]] const ZSTD_CDict_s* cdict() const { return cdict_; }
  [[nodiscard]] const ZSTD_DDict_s* ddict() const { return ddict_; }

 private:
  ZstdDictionary() = default;
  ZSTD_CDict_s* cdict_ = nullptr;
  ZSTD_DDict_s* ddict_ = nullptr;
};

// Appends one zstd frame of `in` to *out. `dict` may be null (then `level` applies).
void ZstdCompress(std::string_view in, int level, const ZstdDictionary* dict, std::string* out);

// Appends to *out the content of the single frame `frame`. Corruption when the frame is
// malformed, declares no size or more than kMaxZstdContentBytes, needs a dictionary other
// than `dict`, or does not decompress to exactly its declared size.
Status ZstdDecompress(std::string_view frame, const ZstdDictionary* dict, std::string* out);

// Trains a dictionary of at most `max_bytes` from `samples` (concatenated) cut at
// `sample_sizes`; empty when zstd finds nothing worth a dictionary.
std::string ZstdTrainDictionary(std::string_view samples, const std::vector<size_t>& sample_sizes,
                                size_t max_bytes);

// The id zstd wrote into a trained dictionary (0 for none / not a dictionary).
uint32_t ZstdDictionaryId(std::string_view dictionary);

}  // namespace meshdb::storage
