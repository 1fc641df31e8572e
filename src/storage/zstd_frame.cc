#include "storage/zstd_frame.h"

#include <zdict.h>
#include <zstd.h>

#include <vector>

namespace meshdb::storage {
namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
  return ctx.get();
}

}  // namespace

std::shared_ptr<const ZstdDictionary> ZstdDictionary::Load(std::string_view bytes, int level) {
  if (ZDICT_getDictID(bytes.data(), bytes.size()) == 0) return nullptr;
  std::shared_ptr<ZstdDictionary> d(new ZstdDictionary());
  d->cdict_ = ZSTD_createCDict(bytes.data(), bytes.size(), level);
  d->ddict_ = ZSTD_createDDict(bytes.data(), bytes.size());
  if (d->cdict_ == nullptr || d->ddict_ == nullptr) return nullptr;
  return d;
}

ZstdDictionary::~ZstdDictionary() {
  ZSTD_freeCDict(cdict_);
  ZSTD_freeDDict(ddict_);
}

void ZstdCompress(std::string_view in, int level, const ZstdDictionary* dict, std::string* out) {
  ZSTD_CCtx* cctx = ThreadCCtx();
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  if (dict != nullptr) {
    ZSTD_CCtx_refCDict(cctx, dict->cdict());
  } else {
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  }
  const size_t start = out->size();
  out->resize(start + ZSTD_compressBound(in.size()));
  const size_t n =
      ZSTD_compress2(cctx, out->data() + start, out->size() - start, in.data(), in.size());
  // With a buffer of ZSTD_compressBound bytes compression cannot fail short of allocation.
  out->resize(ZSTD_isError(n) ? start : start + n);
}

Status ZstdDecompress(std::string_view frame, const ZstdDictionary* dict, std::string* out) {
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > kMaxZstdContentBytes) {
    return Status::Corruption("bad compressed frame");
  }
  const size_t start = out->size();
  out->resize(start + size);
  ZSTD_DCtx* dctx = ThreadDCtx();
  ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
  const size_t n =
      dict != nullptr
          ? ZSTD_decompress_usingDDict(dctx, out->data() + start, size, frame.data(), frame.size(),
                                       dict->ddict())
          : ZSTD_decompressDCtx(dctx, out->data() + start, size, frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) {
    out->resize(start);
    return Status::Corruption(std::string("bad compressed frame: ") +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short content"));
  }
  return Status::Ok();
}

std::string ZstdTrainDictionary(std::string_view samples, const std::vector<size_t>& sample_sizes,
                                size_t max_bytes) {
  std::string dict(max_bytes, '\0');
  // ZDICT_trainFromBuffer searches fastCover's parameters (~0.6 s for 1000 rows of
  // meshdb_load's data, once per table). Fixed parameters (k=100, d=6) trained 7x faster but
  // stored 1.1M such rows in 19% more pages (277 MB instead of 233 MB).
  const size_t n =
      ZDICT_trainFromBuffer(dict.data(), dict.size(), samples.data(), sample_sizes.data(),
                            static_cast<unsigned>(sample_sizes.size()));
  if (ZDICT_isError(n)) return {};
  dict.resize(n);
  return dict;
}

uint32_t ZstdDictionaryId(std::string_view dictionary) {
  return ZDICT_getDictID(dictionary.data(), dictionary.size());
}

}  // namespace meshdb::storage
