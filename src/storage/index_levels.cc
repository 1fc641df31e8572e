#include "storage/index_levels.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "storage/lmdb_write.h"

namespace meshdb::storage {

Result<IndexLevelsReader> IndexLevelsReader::Open(MDB_txn* txn, const TableState& table) {
  ASSIGN_OR_RETURN(Cursor main, Cursor::Open(txn, table.index_dbi));
  ASSIGN_OR_RETURN(Cursor staged, Cursor::Open(txn, table.staged_index_dbi));
  return IndexLevelsReader(std::move(main), std::move(staged));
}

IndexLevelsReader::IndexLevelsReader(Cursor main, Cursor staged) {
  main_.cursor = std::move(main);
  staged_.cursor = std::move(staged);
}

Status IndexLevelsReader::Level::Take(int rc, const MDB_val& k, const MDB_val& v) {
  valid = rc == 0;
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("read index", rc);
  if (valid) {
    key = FromVal(k);
    record = FromVal(v);
  }
  return Status::Ok();
}

Status IndexLevelsReader::Level::Step(MDB_cursor_op op) {
  MDB_val k, v;
  return Take(mdb_cursor_get(cursor.get(), &k, &v, op), k, v);
}

Status IndexLevelsReader::Seek(std::string_view key) {
  for (Level* level : {&main_, &staged_}) {
    MDB_val k = ToVal(key), v;
    // LMDB refuses an empty key to seek: every key is at or after it.
    MDB_cursor_op op = key.empty() ? MDB_FIRST : MDB_SET_RANGE;
    RETURN_IF_ERROR(level->Take(mdb_cursor_get(level->cursor.get(), &k, &v, op), k, v));
  }
  return Status::Ok();
}

bool IndexLevelsReader::StagedFirst() const {
  if (!main_.valid) return true;
  if (!staged_.valid) return false;
  // Both levels are DUPSORT sub-dbs in LMDB's default orders: bytes of the key, then of the
  // record key.
  return std::tie(staged_.key, staged_.record) < std::tie(main_.key, main_.record);
}

Status IndexLevelsReader::Next() {
  const bool both =
      main_.valid && staged_.valid && main_.key == staged_.key && main_.record == staged_.record;
  if (both) {
    RETURN_IF_ERROR(main_.Step(MDB_NEXT));
    return staged_.Step(MDB_NEXT);
  }
  return StagedFirst() ? staged_.Step(MDB_NEXT) : main_.Step(MDB_NEXT);
}

Status MoveStagedEntries(MDB_txn* txn, const TableState& table, size_t staged_limit,
                         std::string* position, IndexMoveStats* stats) {
  MDB_stat st{};
  int rc = mdb_stat(txn, table.staged_index_dbi, &st);
  if (rc != 0) return LmdbError("stat staged index", rc);
  if (st.ms_entries < staged_limit) return Status::Ok();
  const size_t quota = std::max<size_t>(1, staged_limit / kStagedMoveDivisor);

  // The run to move, copied out before either level changes: each entry's key then record key.
  struct Entry {
    uint32_t offset;
    uint32_t key_size;
    uint32_t record_size;
  };
  std::string bytes;
  std::vector<Entry> run;
  run.reserve(quota);
  {
    ASSIGN_OR_RETURN(Cursor staged, Cursor::Open(txn, table.staged_index_dbi));
    MDB_val k = ToVal(*position), v;
    bool wrapped = position->empty();
    rc = mdb_cursor_get(staged.get(), &k, &v, wrapped ? MDB_FIRST : MDB_SET_RANGE);
    // The level holds at least `quota` entries, so after a wrap the run stops before it comes
    // back to its start.
    while (run.size() < quota) {
      if (rc == MDB_NOTFOUND && !wrapped) {
        wrapped = true;
        rc = mdb_cursor_get(staged.get(), &k, &v, MDB_FIRST);
        continue;
      }
      if (rc != 0) break;
      run.push_back(Entry{static_cast<uint32_t>(bytes.size()), static_cast<uint32_t>(k.mv_size),
                          static_cast<uint32_t>(v.mv_size)});
      bytes.append(FromVal(k));
      bytes.append(FromVal(v));
      rc = mdb_cursor_get(staged.get(), &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("read staged index", rc);
    // The next move starts where this one stopped (at the first key again past the end).
    position->assign(rc == 0 ? FromVal(k) : std::string_view());
  }

  ASSIGN_OR_RETURN(Cursor main, Cursor::Open(txn, table.index_dbi));
  ASSIGN_OR_RETURN(Cursor staged, Cursor::Open(txn, table.staged_index_dbi));
  for (const Entry& e : run) {
    std::string_view key = std::string_view(bytes).substr(e.offset, e.key_size);
    std::string_view record = std::string_view(bytes).substr(e.offset + e.key_size, e.record_size);
    MDB_val k = ToVal(key), v = ToVal(record);
    rc = LmdbCursorPut(main.get(), &k, &v, MDB_NODUPDATA);
    if (rc != 0 && rc != MDB_KEYEXIST) return LmdbError("move index entry", rc);
    k = ToVal(key);
    v = ToVal(record);
    rc = mdb_cursor_get(staged.get(), &k, &v, MDB_GET_BOTH);
    if (rc == 0) rc = LmdbCursorDel(staged.get());
    if (rc != 0) return LmdbError("remove staged index entry", rc);
  }
  stats->moved = run.size();
  return Status::Ok();
}

}  // namespace meshdb::storage
