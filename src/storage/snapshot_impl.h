// A read snapshot of one database: one MDB_RDONLY transaction. Private to storage/.
// Holds the Database by shared_ptr, so it stays usable if the database is dropped meanwhile.
// Not thread-safe: one thread at a time (the transaction itself is not tied to a thread).
#pragma once

#include <memory>

#include "storage/catalog.h"
#include "storage/lmdb_handles.h"
#include "storage/store.h"

namespace meshdb::storage {

class SnapshotImpl final : public Snapshot {
 public:
  SnapshotImpl(std::shared_ptr<Database> db, ReadTxn txn)
      : db_(std::move(db)), txn_(std::move(txn)) {}
  ~SnapshotImpl() override { txn_ = ReadTxn(); }  // release the txn before the environment

  Result<std::optional<Record>> Get(const std::string& table,
                                    const boost::json::value& key) override;
  Status ScanTable(const std::string& table, const RecordVisitor& visit) override;
  Status ScanIndex(const std::string& table, const std::string& attribute, const IndexRange& range,
                   const RecordVisitor& visit) override;
  Status ScanLog(uint64_t from_sequence, const LogVisitor& visit) override;
  Result<VersionVector> ReadVersionVector() override;
  Status ScanRaw(const std::string& table, const RawVisitor& visit) override;
  Status ScanStored(const std::string& table, const RawVisitor& visit) override;
  Result<std::string> RecordDictionary(uint32_t id) override;
  Result<uint64_t> FindSequenceAtOrAfterTime(uint64_t ms) override;
  Result<uint64_t> LastSequence() override;
  Result<uint64_t> LogStart() override;

 private:
  [[nodiscard]] Result<std::shared_ptr<const TableState>> Table(const std::string& table) const;

  std::shared_ptr<Database> db_;  // declared first: destroyed after txn_
  ReadTxn txn_;
};

}  // namespace meshdb::storage
