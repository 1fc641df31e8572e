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

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

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

class RunBuffer;
class RunFile;

// Collects the index entries of a table's live rows, one row at a time, and writes them sorted
// into the table's empty index: the engine of RebuildIndex, and fed directly by the bulk chunks
// of an initial copy as they append the rows of a table whose index is deferred, so that the
// copy's end only merges (docs/storage.md "Deferred index build").
//
// A full run (`run_bytes`) is sorted and spilled to an unlinked temporary file on a background
// thread while rows keep coming; at most one run sorts while the next one fills, so memory stays
// at two runs. Whether an attribute is indexed is decided by the table's definition when the
// first row carrying it is added; MatchesDefinition tells whether those decisions still hold.
// Writer thread only (the background thread is internal and joined before anything returns
// a result that depends on it).
class IndexCollector {
 public:
  IndexCollector(std::string temp_dir, size_t run_bytes);
  ~IndexCollector();  // waits for a run being sorted
  IndexCollector(const IndexCollector&) = delete;
  IndexCollector& operator=(const IndexCollector&) = delete;

  // Adds the entries of live row `record_key` (encoded primary key) with document `doc`, as
  // IndexEdits would write them for `table`. IOError when spilling a run failed.
  Status AddRow(const TableState& table, std::string_view record_key,
                const boost::json::object& doc);
  // True when every attribute name seen in the added rows is indexed by `table`'s definition
  // now exactly when it was at its first row (an attribute that became indexed later, or
  // stopped being, makes the collected entries wrong for the table).
  [[nodiscard]] bool MatchesDefinition(const TableState& table) const;
  // Empties both levels of `table`'s index (index_levels.h) and appends every collected entry
  // to its main level, sorted (merging the spilled runs). Call once. IOError on an LMDB or
  // file error (the caller aborts the transaction).
  Status Finish(MDB_txn* txn, const TableState& table, IndexBuildStats* stats);

  [[nodiscard]] uint64_t rows() const { return rows_; }

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The id of `name` in names_ when `table` indexes it, -1 when not (decided once per name).
  int32_t AttributeId(const TableState& table, std::string_view name);
  // AttributeId of the name at `position` in a row: the rows of a table mostly list their
  // attributes in the same order, so the name is compared with the previous row's there
  // before it is looked up (a hash per attribute per row).
  int32_t AttributeIdAt(const TableState& table, size_t position, std::string_view name);
  // Ranks the buffer's entries by their attributes' key prefix order (ids are in order of
  // first sight).
  void Rerank(RunBuffer& run) const;
  // Hands the full current run to the background thread (after the previous one is written).
  Status Spill();
  // Waits for the background thread; its run file joins files_. Its error, if any.
  Status Join();

  std::string temp_dir_;
  size_t run_bytes_;
  uint64_t rows_ = 0;
  std::unordered_map<std::string, int32_t, NameHash, std::equal_to<>> attributes_;
  std::vector<std::pair<std::string, int32_t>> by_position_;  // name and id (see AttributeIdAt)
  std::vector<std::string> names_;                            // indexed attributes by id
  std::vector<std::string> prefixes_;  // their index key prefixes (IndexKeyLayout::Prefix)
  std::string key_buf_;
  std::unique_ptr<RunBuffer> current_;   // filling (writer thread)
  std::unique_ptr<RunBuffer> spilling_;  // owned by worker_ while it runs
  std::thread worker_;
  Status worker_status_;                  // written by worker_, read after Join
  std::unique_ptr<RunFile> worker_file_;  // idem
  std::vector<std::unique_ptr<RunFile>> files_;
};

// Rebuilds `table` (of `db`)'s secondary index from its rows inside `txn`: empties x:<table>, reads
// every live row of r:<table> (key order), and writes the entries of every indexed attribute
// (as IndexEdits would), sorted. Temporary run files go to `temp_dir`. IOError on an LMDB
// or file error, Corruption on a stored record that does not decode (the caller aborts the
// transaction).
Status RebuildIndex(MDB_txn* txn, const Database& db, const TableState& table,
                    const std::string& temp_dir, size_t run_bytes, IndexBuildStats* stats);

}  // namespace meshdb::storage
