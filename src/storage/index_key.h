// How one table's secondary-index keys ("x:<t>") are laid out (docs/storage.md "Index keys").
//
// Two formats; a table keeps the one it was created with, so files written before the
// compact format existed read, update and delete their entries unchanged:
//   legacy   <attribute name> 0x00 <encoded value>, cut to kMaxKeyBytes (511)
//   compact  <varint attribute id> <encoded value>; a value longer than value_bytes (e.g. 48)
//            is cut to value_bytes and followed by an 8-byte hash of the whole value, so
//            an equality lookup of a long value reads only the entries of that value (and
//            its rare hash collisions), not every value sharing the first value_bytes
// Attribute ids (LEB128 varint, prefix-free, from 1) are assigned in order to every attribute
// of the table definition the first time the layout sees it, kept in meta
// ("index_keys:<t>", written in the commit of the definition change) and never reused.
//
// A cut value is a prefix of the real encoding, so entry order stays a correct order of the
// cut parts: every entry whose value is >= v has a cut >= cut(v). A reader treats an entry
// as cut when its value part is the cut plus the hash, and re-checks the record; entries that
// share a cut are ordered by hash, so a range scan sorts them by their real values.
// Thread-safety: a layout is immutable once published with its TableState.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace meshdb::storage {

struct TableDef;

// Value bytes (tag included) kept in a compact key for new tables. Stored per table, so
// changing it affects only tables created afterwards.
inline constexpr uint8_t kCompactIndexValueBytes = 48;

class IndexKeyLayout {
 public:
  // The layout of tables created before compact keys (no "index_keys:<t>" in meta).
  IndexKeyLayout() = default;
  // The layout new tables get: compact, values cut at `value_bytes` (>= 10: a number fits).
  static IndexKeyLayout Compact(uint8_t value_bytes = kCompactIndexValueBytes);
  // Parses a stored "index_keys:<t>" value. Corruption when malformed.
  static Result<IndexKeyLayout> Parse(std::string_view bytes);
  // The "index_keys:<t>" value of a compact layout.
  [[nodiscard]] std::string Serialize() const;

  [[nodiscard]] bool compact() const { return compact_; }
  [[nodiscard]] size_t value_bytes() const { return value_bytes_; }

  // Compact: gives an id to each attribute of `def` that has none. True when one was added
  // (the caller persists Serialize() with the definition). Legacy: no-op, false.
  bool AssignIds(const TableDef& def);

  // The key prefix shared by every entry of `attribute`. False when the attribute has no id
  // (compact), hence no entries.
  bool Prefix(std::string_view attribute, std::string* out) const;
  // The whole key of `attribute` = scalar `value` (cut). False when the attribute has no id.
  bool Encode(std::string_view attribute, const boost::json::value& value, std::string* out) const;
  // Compact: appends the value part of the key of `encoded` (an encoded scalar): itself, or
  // when longer than value_bytes its cut and the hash of the whole.
  void AppendValuePart(std::string_view encoded, std::string* out) const;
  // `value` (an encoding, or a scan's start bound) cut as keys are, without the hash.
  [[nodiscard]] std::string_view Cut(std::string_view value, size_t prefix_size) const;
  // Whether the entry `key`, whose prefix is `prefix_size` bytes, may hold a cut value.
  [[nodiscard]] bool MaybeCut(std::string_view key, size_t prefix_size) const;
  // The (possibly cut) value of the entry `key`, without the hash of a cut compact value.
  [[nodiscard]] std::string_view CutValue(std::string_view key, size_t prefix_size) const;

  static constexpr size_t kCutHashBytes = 8;

 private:
  bool compact_ = false;
  size_t value_bytes_ = 0;
  std::vector<std::string> names_;  // id - 1 -> attribute
  std::unordered_map<std::string, uint32_t> ids_;
};

// Appends `v` as an LEB128 varint (7 bits a byte, low first, high bit = more).
void AppendVarint(uint32_t v, std::string* out);

}  // namespace meshdb::storage
