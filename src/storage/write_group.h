// The writer thread's per-commit state, shared by write_apply.cc (local writes, group commit)
// and replicated_apply.cc (replicated transactions, copy chunks). Private to storage/.
// Writer thread only.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "storage/index_edits.h"
#include "storage/record_codec.h"
#include "storage/store_impl.h"

namespace meshdb::storage {

// A table touched by the current group commit: what changes once it commits.
struct StoreImpl::PendingTable {
  std::shared_ptr<const TableState> base;  // null for a table created in this group
  std::shared_ptr<TableState> modified;    // set when created or attributes were added
  int64_t count_delta = 0;
  double last_updated_ms = 0;  // 0: keep the stored value
  bool touched = false;        // stats (and the definition when modified) are written

  [[nodiscard]] const TableState& state() const { return modified ? *modified : *base; }
  void AddAttribute(const AttributeDef& attribute) {
    if (!modified) modified = base->Clone();
    modified->def.attributes.push_back(attribute);
    modified->attr_pos.emplace(attribute.name, modified->def.attributes.size() - 1);
    modified->index_keys.AssignIds(modified->def);
    touched = true;
  }
};

// One row of a replicated transaction or copy chunk, checked before anything is written.
struct RemoteRow {
  std::string table;
  const std::string* key = nullptr;    // points into the PendingWrite's payload
  const std::string* value = nullptr;  // idem; record bytes (or `record` below)
  // A copy chunk's stored value (CopyChunk::stored_values) to put as it is; null: `value` is
  // compressed as a local write's record would be.
  const std::string* stored = nullptr;
  // The record bytes decompressed from a stored value, kept only when something needs them
  // past validation (rows logged, or compressed again); `value` then points here.
  std::string record;
  RecordHeader header;
  boost::json::object doc;  // empty for tombstones
};

// What Store::PrepareCopyChunk decoded of a copy chunk's rows, by row index.
struct PreparedCopyRows {
  struct Row {
    bool decoded = false;  // false: the writer decodes the row itself
    RecordHeader header;
    boost::json::object doc;  // empty for tombstones
  };
  std::vector<Row> rows;
};

struct StoreImpl::RequestCtx {
  PendingWrite* item = nullptr;
  Status status;                      // not OK: failed validation, not applied
  std::vector<std::string> enc_keys;  // local: one per op
  WriteResult result;                 // local
  ApplyResult apply_result;           // replicated / copy
  std::vector<RemoteRow> rows;        // replicated / copy
  // A copy chunk's dictionaries meta lacks (CopyChunk::dictionaries; written in its commit).
  std::vector<const CopyChunk::Dictionary*> new_dictionaries;
  // ... and the first that is not a conflict: becomes the table's when it has none.
  const CopyChunk::Dictionary* adopt_dictionary = nullptr;
};

struct StoreImpl::GroupCtx {
  PendingTables tables;
  uint64_t sequence = 0;                // highest log sequence so far in this group
  std::map<uint32_t, uint64_t> vector;  // entries read or set in this group
  std::set<uint32_t> vector_dirty;      // entries to write
  std::map<std::string, uint64_t> cursors;
  uint64_t max_version = 0;  // highest record version written in this group
  IndexEdits index_edits;    // applied just before the commit
  // Deferred index builds (index_build.h): tables marked pending in this group, tables whose
  // pending index this group builds, and whether it builds every pending one.
  std::set<std::string> index_pending_added;
  std::set<std::string> index_build;
  bool index_build_all = false;
};

// Wall-clock milliseconds with microsecond fraction (the __updatedtime__ unit).
double NowMs();

}  // namespace meshdb::storage
