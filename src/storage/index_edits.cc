#include "storage/index_edits.h"

#include <algorithm>
#include <tuple>

#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"

namespace meshdb::storage {

namespace json = boost::json;

void IndexEdits::Update(const TableState& table, std::string_view enc_key,
                        const json::object* before, const json::object* after) {
  auto indexed = [&](const std::string& attr) {
    if (attr == table.def.primary_key) return false;  // served by the records sub-db
    const AttributeDef* def = table.Find(attr);
    return def != nullptr && def->indexed;
  };
  // One side's attributes whose value differs on (or is missing from) the other side.
  auto queue_changed = [&](const json::object& from, const json::object* other, bool put) {
    for (const auto& [name, v] : from) {
      std::string attr(name);
      if (!indexed(attr)) continue;
      const json::value* there = other != nullptr ? other->if_contains(name) : nullptr;
      if (there != nullptr && *there == v) continue;
      Queue(table, put, attr, v, enc_key);
    }
  };
  if (before != nullptr) queue_changed(*before, after, /*put=*/false);
  if (after != nullptr) queue_changed(*after, before, /*put=*/true);
}

void IndexEdits::Queue(const TableState& table, bool put, const std::string& attribute,
                       const json::value& value, std::string_view enc_key) {
  ForEachIndexValue(value, [&](const json::value& scalar) {
    if (!table.index_keys.Encode(attribute, scalar, &key_buf_)) return;  // no id: not indexed
    Edit e{table.index_dbi,
           table.staged_index_dbi,
           put,
           static_cast<uint32_t>(edits_.size()),
           static_cast<uint32_t>(bytes_.size()),
           static_cast<uint32_t>(key_buf_.size()),
           0,
           static_cast<uint32_t>(enc_key.size())};
    bytes_ += key_buf_;
    e.record_offset = static_cast<uint32_t>(bytes_.size());
    bytes_ += enc_key;
    edits_.push_back(e);
  });
}

Status IndexEdits::Apply(MDB_txn* txn) {
  // LMDB's default orders (keys, and DUPSORT data) are plain byte order, as string_view's.
  std::sort(edits_.begin(), edits_.end(), [this](const Edit& a, const Edit& b) {
    return std::make_tuple(a.dbi, KeyOf(a), RecordOf(a), a.order) <
           std::make_tuple(b.dbi, KeyOf(b), RecordOf(b), b.order);
  });
  Status status;
  Cursor main;
  Cursor staged;
  MDB_dbi cursors_dbi = 0;
  for (size_t i = 0; i < edits_.size() && status.ok(); ++i) {
    const Edit& e = edits_[i];
    const bool superseded = i + 1 < edits_.size() && edits_[i + 1].dbi == e.dbi &&
                            KeyOf(edits_[i + 1]) == KeyOf(e) &&
                            RecordOf(edits_[i + 1]) == RecordOf(e);
    if (superseded) continue;  // the later edit of the same entry decides
    if (main.get() == nullptr || cursors_dbi != e.dbi) {
      auto opened_main = Cursor::Open(txn, e.dbi);
      auto opened_staged = Cursor::Open(txn, e.staged_dbi);
      if (!opened_main.ok() || !opened_staged.ok()) {
        status = opened_main.ok() ? opened_staged.status() : opened_main.status();
        break;
      }
      main = std::move(opened_main).value();
      staged = std::move(opened_staged).value();
      cursors_dbi = e.dbi;
    }
    std::string_view key = KeyOf(e), record = RecordOf(e);
    if (e.put) {
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      MDB_val d{record.size(), const_cast<char*>(record.data())};
      int rc = LmdbCursorPut(staged.get(), &k, &d, MDB_NODUPDATA);
      if (rc != 0 && rc != MDB_KEYEXIST) status = LmdbError("put index entry", rc);
      continue;
    }
    for (const Cursor* level : {&staged, &main}) {
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      MDB_val d{record.size(), const_cast<char*>(record.data())};
      int rc = mdb_cursor_get(level->get(), &k, &d, MDB_GET_BOTH);
      if (rc == 0) rc = LmdbCursorDel(level->get());
      if (rc != 0 && rc != MDB_NOTFOUND) {
        status = LmdbError("delete index entry", rc);
        break;
      }
    }
  }
  edits_.clear();
  bytes_.clear();
  return status;
}

}  // namespace meshdb::storage
