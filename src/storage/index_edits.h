// The secondary-index changes of one group commit, queued while its rows are written and
// applied in index order just before it commits.
//
// Why: a record's index entries land at random places in the index B-tree (random names,
// numbers, text). Applied as they come, each edit descends from the root through pages that
// are cold in the CPU cache. Applied sorted through one cursor, consecutive edits share the
// path from the root, and edits that fall on the leaf the cursor is on skip the descent
// (LMDB checks the cursor's page first). Edits that cancel within the group (an insert then
// an update of the same record) collapse to their net effect.
//
// Nothing in the writer reads a secondary index between queueing and Apply (writes look rows
// up by primary key), so deferring changes no answer.
// Writer thread only.
#pragma once

#include <lmdb.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/catalog.h"
#include "storage/key_codec.h"

namespace meshdb::storage {

// Calls fn(scalar) for each value an attribute contributes to its index: the value itself
// when scalar, each scalar element of an array, nothing for objects.
template <typename Fn>
void ForEachIndexValue(const boost::json::value& v, Fn&& fn) {
  if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      if (IsScalar(e)) fn(e);
    }
  } else if (!v.is_object()) {
    fn(v);
  }
}

class IndexEdits {
 public:
  // Queues the change of record `enc_key`'s entries in `table`'s index from document
  // `before` to `after` (either may be null: absent, or a tombstone). Attributes equal on
  // both sides keep their entries; the primary key and unindexed attributes have none.
  void Update(const TableState& table, std::string_view enc_key, const boost::json::object* before,
              const boost::json::object* after);

  // Applies the queued edits in (index, key, record key) order, the last edit of each entry
  // winning, and clears the queue: an entry put goes to the index's staged level, an entry
  // deleted leaves both levels (index_levels.h). IOError on an LMDB failure (the caller aborts
  // the commit).
  Status Apply(MDB_txn* txn);

  [[nodiscard]] bool empty() const { return edits_.empty(); }

 private:
  struct Edit {
    MDB_dbi dbi;         // the index's main level
    MDB_dbi staged_dbi;  // and its staged level
    bool put;            // false: delete
    uint32_t order;      // queue position: the later of two edits of one entry wins
    uint32_t key_offset;
    uint32_t key_size;
    uint32_t record_offset;
    uint32_t record_size;
  };

  void Queue(const TableState& table, bool put, const std::string& attribute,
             const boost::json::value& value, std::string_view enc_key);
  [[nodiscard]] std::string_view KeyOf(const Edit& e) const {
    return std::string_view(bytes_).substr(e.key_offset, e.key_size);
  }
  [[nodiscard]] std::string_view RecordOf(const Edit& e) const {
    return std::string_view(bytes_).substr(e.record_offset, e.record_size);
  }

  std::string bytes_;  // every edit's index key and record key, back to back
  std::vector<Edit> edits_;
  std::string key_buf_;
};

}  // namespace meshdb::storage
