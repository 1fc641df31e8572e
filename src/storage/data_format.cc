#include "storage/data_format.h"

#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"

namespace meshdb::storage {

Status AdoptDataFormat(MDB_txn* txn, MDB_dbi meta, const std::string& database,
                       const std::string& path, uint64_t* found) {
  MDB_val k = ToVal(kMetaDataFormat);
  MDB_val v;
  *found = 0;
  if (int rc = mdb_get(txn, meta, &k, &v); rc == 0) {
    if (v.mv_size != 8) {
      return Status::Corruption("database '" + database + "' (" + path +
                                "): its data format entry is not 8 bytes");
    }
    *found = GetU64(static_cast<const char*>(v.mv_data));
  } else if (rc != MDB_NOTFOUND) {
    return LmdbError("read the data format of " + database, rc);
  }
  if (*found > kDataFormat) {
    return Status::Conflict("database '" + database + "' (" + path + ") holds data format " +
                            std::to_string(*found) +
                            ", written by a newer meshdb; this binary reads data formats up to " +
                            std::to_string(kDataFormat) +
                            ": run that newer binary, or restore a backup taken with this one");
  }
  if (*found == kDataFormat) return Status::Ok();
  std::string bytes;
  PutU64(&bytes, kDataFormat);
  MDB_val value = ToVal(bytes);
  if (int rc = LmdbPut(txn, meta, &k, &value, 0); rc != 0) {
    return LmdbError("write the data format of " + database, rc);
  }
  return Status::Ok();
}

}  // namespace meshdb::storage
