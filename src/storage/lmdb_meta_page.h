// LMDB's two meta pages, read and written from outside LMDB: what lets the write-ahead log
// (write_ahead_log.h) roll a data file back to a synced snapshot after a machine crash.
//
// LMDB keeps two meta pages (pages 0 and 1 of the data file); a commit with txnid t writes
// page t % 2, and mdb_env_open uses the page with the higher txnid. A meta page names the
// roots of the free-page tree and the main tree, so putting an older transaction's meta page
// in both slots opens the file at that transaction, provided none of its pages was overwritten
// since (LMDB reuses a freed page only when no reader is older than the transaction that freed
// it). This relies on the layout of LMDB 0.9's data format version 1 (mdb.c: MDB_page header
// of 16 bytes, then MDB_meta: magic, version, address, mapsize, two MDB_db, last_pg, txnid);
// a page that does not carry its magic and version is refused.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace meshdb::storage {

// The data file's meta page written by transaction `txnid` (page size `page_size`), read with
// pread from `fd`. NotFound when neither slot holds that transaction (a later commit overwrote
// it); InvalidArgument when the page is not an LMDB 0.9 meta page.
Result<std::string> ReadLmdbMetaPage(int fd, uint32_t page_size, uint64_t txnid);

// The txnid a meta page (as ReadLmdbMetaPage returns it) records.
uint64_t LmdbMetaPageTxnid(const std::string& page);

// Writes `page` into both meta slots of the data file at `path` and syncs it: the next
// mdb_env_open opens the file at that page's transaction. IOError on failure.
Status RestoreLmdbMetaPage(const std::string& path, const std::string& page);

}  // namespace meshdb::storage
