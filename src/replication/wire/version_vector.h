// VersionVector: for one database, the highest origin sequence applied from each origin node.
//
// Every transaction carries (origin node id, origin sequence); origin sequences are dense
// and start at 1 on each origin. A node that has applied (o, s) has applied every (o, s')
// with s' <= s, so the vector describes exactly what a node holds and what it lacks.
// Subscribe and CopyBegin carry one (docs/protocol.md).
//
// Canonical form: origins with sequence 0 are never stored, and the wire form lists
// entries in ascending origin order, so equal vectors encode to equal bytes.
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meshdb::replication {

class WireReader;
class WireWriter;

class VersionVector {
 public:
  VersionVector() = default;
  // From an origin -> sequence map (e.g. storage::VersionVector); zero entries are dropped.
  static VersionVector FromEntries(const std::map<uint32_t, uint64_t>& entries);

  // Highest sequence applied from `origin`; 0 when none.
  uint64_t Get(uint32_t origin) const;
  // Raises origin's entry to `sequence` (never lowers it; 0 is a no-op).
  void Advance(uint32_t origin, uint64_t sequence);
  // Per origin maximum of both vectors.
  void Merge(const VersionVector& other);
  // True when (origin, sequence) is already applied. Covers(o, 0) is always true.
  bool Covers(uint32_t origin, uint64_t sequence) const;
  // True when every entry of `other` is covered by this vector.
  bool Covers(const VersionVector& other) const;

  const std::map<uint32_t, uint64_t>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // "{}" or "{1:5, 42:7}", for logs and tests.
  std::string ToString() const;

  // Standalone bytes (the same layout as inside a frame), e.g. to persist a position.
  std::string Encode() const;
  // Corruption when `bytes` is not exactly one canonical vector.
  static Result<VersionVector> Decode(std::string_view bytes);

  // Frame-level helpers: varint count, then (varint origin, varint sequence) pairs with
  // strictly ascending origins and sequences >= 1. Decode rejects anything else.
  void EncodeTo(WireWriter* w) const;
  static Status DecodeFrom(WireReader* r, VersionVector* out);
  // Bytes EncodeTo writes.
  size_t WireSize() const;

  bool operator==(const VersionVector& other) const = default;

 private:
  std::map<uint32_t, uint64_t> entries_;  // origin -> sequence, all sequences >= 1
};

}  // namespace meshdb::replication
