#include "storage/index_key.h"

#include <algorithm>
#include <cassert>

#include "storage/key_codec.h"
#include "storage/store.h"

namespace meshdb::storage {

namespace {

constexpr uint8_t kCompactFormat = 2;

bool ReadVarint(std::string_view* in, uint32_t* v) {
  *v = 0;
  for (int shift = 0; shift < 35 && !in->empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= static_cast<uint32_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

void AppendVarint(uint32_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

IndexKeyLayout IndexKeyLayout::Compact(uint8_t value_bytes) {
  IndexKeyLayout layout;
  layout.compact_ = true;
  layout.value_bytes_ = std::max<size_t>(value_bytes, 10);
  return layout;
}

Result<IndexKeyLayout> IndexKeyLayout::Parse(std::string_view bytes) {
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != kCompactFormat ||
      static_cast<uint8_t>(bytes[1]) < 10) {
    return Status::Corruption("bad index key layout");
  }
  IndexKeyLayout layout = Compact(static_cast<uint8_t>(bytes[1]));
  bytes.remove_prefix(2);
  while (!bytes.empty()) {
    uint32_t size = 0;
    if (!ReadVarint(&bytes, &size) || size > bytes.size()) {
      return Status::Corruption("bad index key layout");
    }
    std::string name(bytes.substr(0, size));
    bytes.remove_prefix(size);
    if (!layout.ids_.emplace(name, static_cast<uint32_t>(layout.names_.size() + 1)).second) {
      return Status::Corruption("index key layout names '" + name + "' twice");
    }
    layout.names_.push_back(std::move(name));
  }
  return layout;
}

std::string IndexKeyLayout::Serialize() const {
  std::string out;
  out.push_back(static_cast<char>(kCompactFormat));
  out.push_back(static_cast<char>(value_bytes_));
  for (const std::string& name : names_) {
    AppendVarint(static_cast<uint32_t>(name.size()), &out);
    out += name;
  }
  return out;
}

bool IndexKeyLayout::AssignIds(const TableDef& def) {
  if (!compact_) return false;
  bool added = false;
  for (const AttributeDef& a : def.attributes) {
    if (ids_.emplace(a.name, static_cast<uint32_t>(names_.size() + 1)).second) {
      names_.push_back(a.name);
      added = true;
    }
  }
  return added;
}

bool IndexKeyLayout::Prefix(std::string_view attribute, std::string* out) const {
  out->clear();
  if (!compact_) {
    out->append(attribute);
    out->push_back('\0');
    return true;
  }
  auto it = ids_.find(std::string(attribute));
  if (it == ids_.end()) return false;
  AppendVarint(it->second, out);
  return true;
}

bool IndexKeyLayout::Encode(std::string_view attribute, const boost::json::value& value,
                            std::string* out) const {
  if (!compact_) {
    EncodeIndexKey(attribute, value, out);
    return true;
  }
  if (!Prefix(attribute, out)) return false;
  std::string encoded;
  Status s = AppendEncodedValue(value, &encoded);
  assert(s.ok() && "index values are scalars");
  (void)s;
  AppendValuePart(encoded, out);
  return true;
}

void IndexKeyLayout::AppendValuePart(std::string_view encoded, std::string* out) const {
  assert(compact_);
  if (encoded.size() <= value_bytes_) {
    out->append(encoded);
    return;
  }
  out->append(encoded.substr(0, value_bytes_));
  // FNV-1a, 64 bits, big-endian: stored in keys, so it must never change.
  uint64_t hash = 14695981039346656037ULL;
  for (const char c : encoded) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(hash >> shift));
}

std::string_view IndexKeyLayout::Cut(std::string_view value, size_t prefix_size) const {
  const size_t limit =
      compact_ ? value_bytes_ : (prefix_size < kMaxKeyBytes ? kMaxKeyBytes - prefix_size : 0);
  return value.substr(0, limit);
}

bool IndexKeyLayout::MaybeCut(std::string_view key, size_t prefix_size) const {
  if (!compact_) return MaybeTruncated(key);
  return key.size() == prefix_size + value_bytes_ + kCutHashBytes;
}

std::string_view IndexKeyLayout::CutValue(std::string_view key, size_t prefix_size) const {
  std::string_view value = key.substr(prefix_size);
  return compact_ ? value.substr(0, value_bytes_) : value;
}

}  // namespace meshdb::storage
