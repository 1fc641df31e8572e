#include "replication/wire/version_vector.h"

#include <algorithm>

#include "replication/wire/wire.h"

namespace meshdb::replication {

VersionVector VersionVector::FromEntries(const std::map<uint32_t, uint64_t>& entries) {
  VersionVector v;
  for (const auto& [origin, seq] : entries) v.Advance(origin, seq);
  return v;
}

uint64_t VersionVector::Get(uint32_t origin) const {
  auto it = entries_.find(origin);
  return it == entries_.end() ? 0 : it->second;
}

void VersionVector::Advance(uint32_t origin, uint64_t sequence) {
  if (sequence == 0) return;  // keeps the canonical form: no zero entries
  uint64_t& slot = entries_[origin];
  slot = std::max(slot, sequence);
}

void VersionVector::Merge(const VersionVector& other) {
  for (const auto& [origin, seq] : other.entries_) Advance(origin, seq);
}

bool VersionVector::Covers(uint32_t origin, uint64_t sequence) const {
  return Get(origin) >= sequence;
}

bool VersionVector::Covers(const VersionVector& other) const {
  return std::all_of(other.entries_.begin(), other.entries_.end(),
                     [this](const auto& e) { return Covers(e.first, e.second); });
}

std::string VersionVector::ToString() const {
  std::string s = "{";
  for (const auto& [origin, seq] : entries_) {
    if (s.size() > 1) s += ", ";
    s += std::to_string(origin) + ":" + std::to_string(seq);
  }
  return s + "}";
}

void VersionVector::EncodeTo(WireWriter* w) const {
  w->PutVarint(entries_.size());
  for (const auto& [origin, seq] : entries_) {
    w->PutVarint(origin);
    w->PutVarint(seq);
  }
}

size_t VersionVector::WireSize() const {
  size_t n = VarintSize(entries_.size());
  for (const auto& [origin, seq] : entries_) n += VarintSize(origin) + VarintSize(seq);
  return n;
}

Status VersionVector::DecodeFrom(WireReader* r, VersionVector* out) {
  size_t count = 0;
  RETURN_IF_ERROR(r->ReadCount(&count, 2, "version_vector.count"));
  VersionVector vv;
  bool first = true;
  uint32_t prev = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t origin = 0;
    uint64_t seq = 0;
    RETURN_IF_ERROR(r->ReadU32(&origin, "version_vector.origin"));
    if (!first && origin <= prev) {
      return r->Error("version_vector.origin", "origins not strictly ascending");
    }
    RETURN_IF_ERROR(r->ReadVarint(&seq, "version_vector.sequence"));
    if (seq == 0) return r->Error("version_vector.sequence", "sequence 0 is not listed");
    vv.entries_.emplace_hint(vv.entries_.end(), origin, seq);
    prev = origin;
    first = false;
  }
  *out = std::move(vv);
  return Status::Ok();
}

std::string VersionVector::Encode() const {
  std::string out;
  WireWriter w(&out);
  EncodeTo(&w);
  return out;
}

Result<VersionVector> VersionVector::Decode(std::string_view bytes) {
  WireReader r(bytes, "VersionVector");
  VersionVector vv;
  RETURN_IF_ERROR(DecodeFrom(&r, &vv));
  RETURN_IF_ERROR(r.ExpectEnd());
  return vv;
}

}  // namespace meshdb::replication
