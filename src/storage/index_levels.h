// A table's secondary index in two levels: a small staged level that new entries go to, and
// the main level they are moved to in key order, many at a time.
//
// Why: a record's index entries land at random places in the index B-tree (random names,
// numbers, text). In a large table each entry of a group commit falls on a leaf of its own,
// and a copy-on-write commit writes every leaf it touches: at a million rows that was ~3 of
// the ~4 pages a record cost. The staged level (`xs:<t>`) is small, so one commit's entries
// share its few leaves. When it holds `staged_limit` entries, a commit moves an eighth of them,
// a run of consecutive keys, to the main level (`x:<t>`); the runs are taken in turn through
// the key space, so each move lands on about an eighth of the main level's leaves with many
// entries per leaf. docs/storage.md "Index levels".
//
// Contract: an entry (index key, record key) is in the index when it is in either level (it
// can be in both: readers see it once). Writes put new entries into the staged level and delete
// entries from both. Both levels are in the table's transaction, so a commit, its write-ahead
// log frame and a snapshot see them together. Writer thread for changes; IndexLevelsReader on
// any transaction.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/catalog.h"
#include "storage/lmdb_handles.h"

namespace meshdb::storage {

// The entries of both levels of one table's index as one sequence in (key, record key) order,
// each entry once.
class IndexLevelsReader {
 public:
  // The table's sub-dbs must exist in `txn` (a snapshot older than the table has neither).
  static Result<IndexLevelsReader> Open(MDB_txn* txn, const TableState& table);

  // Positions at the first entry whose key is >= `key` (the first entry when `key` is empty).
  Status Seek(std::string_view key);
  // Moves to the next entry. Only while valid().
  Status Next();
  // False once past the last entry.
  [[nodiscard]] bool valid() const { return main_.valid || staged_.valid; }
  // The current entry. Only while valid(); the views last until the next Seek or Next.
  [[nodiscard]] std::string_view key() const { return Current().key; }
  [[nodiscard]] std::string_view record() const { return Current().record; }

 private:
  struct Level {
    Cursor cursor;
    bool valid = false;
    std::string_view key;
    std::string_view record;
    // Loads the result of a cursor call: valid on 0, past the end on MDB_NOTFOUND.
    Status Take(int rc, const MDB_val& k, const MDB_val& v);
    Status Step(MDB_cursor_op op);
  };
  IndexLevelsReader(Cursor main, Cursor staged);
  // Which level holds the current entry (the main one when both hold it).
  [[nodiscard]] bool StagedFirst() const;
  [[nodiscard]] const Level& Current() const { return StagedFirst() ? staged_ : main_; }

  Level main_;
  Level staged_;
};

// What one MoveStagedEntries call did.
struct IndexMoveStats {
  size_t moved = 0;  // entries taken out of the staged level
};

// A move takes 1/kStagedMoveDivisor of the staged limit. An eighth rather than a quarter
// halves the pages one commit frees (each move rewrites the main level's leaves in its run),
// so the file grows less while a checkpoint keeps LMDB from reusing them, at the same cost per
// entry moved (docs/storage.md "Index levels").
inline constexpr size_t kStagedMoveDivisor = 8;

// When `table`'s staged level holds at least `staged_limit` entries, moves
// `staged_limit / kStagedMoveDivisor` of them (at least one) into the main level: those from key
// `*position` on, wrapping to the first key at the end, and leaves `*position` at the key after the
// last one moved. Does nothing below the limit. IOError on an LMDB failure (the caller aborts the
// commit).
Status MoveStagedEntries(MDB_txn* txn, const TableState& table, size_t staged_limit,
                         std::string* position, IndexMoveStats* stats);

}  // namespace meshdb::storage
