// The store's last check of a local write's text: every key, attribute name and string value
// must be valid UTF-8 (common/utf8.h). A record holding other bytes would be stored, then
// refused by every read, update, delete and initial copy of its table, so the whole request
// is refused before it is queued and nothing of it is applied. The operations API's JSON
// parser already refuses such text; what this catches comes from elsewhere: SQL values
// (CAST(x'ff' AS TEXT), blobs) and files (csv_file_load).
#pragma once

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::storage {

// InvalidArgument "records[2].name is not valid UTF-8 text: ..." for the first offending op
// (its index in `request.ops`), Ok otherwise. Thread-safe (reads `request` only).
Status CheckWriteText(const WriteRequest& request);

}  // namespace meshdb::storage
