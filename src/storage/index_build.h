// Building a table's whole secondary index in one pass, for tables filled by an initial copy
// (docs/storage.md "Deferred index build").
//
// Why: row by row, every record's four to six index entries land at random places of a
// B-tree that grows with the table; past a few hundred thousand rows each one descends
// through pages that are cold, and splits pages half-full. Built once, sorted, the entries
// are appended at the right edge of the tree (MDB_APPEND / MDB_APPENDDUP): each page is
// written once, full, and nothing is searched.
//
// Memory is bounded: entries are sorted in runs of at most `run_bytes`; when there is more
// than one run, the runs go to unlinked temporary files next to the database and are merged.
// Writer thread only.
#pragma once

#include <lmdb.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/catalog.h"

namespace meshdb::storage {

struct IndexBuildStats {
  uint64_t rows = 0;           // live rows indexed
  uint64_t entries = 0;        // index entries written
  uint64_t runs = 0;           // sorted runs (1: sorted in memory, no temporary file)
  uint64_t fallback_puts = 0;  // entries LMDB refused to append (written by a plain put)
};

inline constexpr size_t kIndexBuildRunBytes = 64u << 20;

// Rebuilds `table` (of `db`)'s secondary index from its rows inside `txn`: empties x:<table>, reads
// every live row of r:<table> (key order), and writes the entries of every indexed attribute
// (as IndexEdits would), sorted. Temporary run files go to `temp_dir`. IOError on an LMDB
// or file error, Corruption on a stored record that does not decode (the caller aborts the
// transaction).
Status RebuildIndex(MDB_txn* txn, const Database& db, const TableState& table,
                    const std::string& temp_dir, size_t run_bytes, IndexBuildStats* stats);

}  // namespace meshdb::storage
