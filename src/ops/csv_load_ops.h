// csv_data_load, csv_file_load and csv_url_load (HarperDB's bulk loads): each checks its
// request (action insert|update|upsert, an existing table, the caller's permission for the
// action, a source that is there), then answers at once
//   {"message": "Starting job with id <id>", "job_id": "<id>"}
// and loads in the background as a job (jobs.h): the CSV (csv_records.h) is written in
// batches of kCsvBatchRecords through the write path insert/update/upsert use, so the loads
// replicate and the node keeps answering meanwhile. The job completes with "successfully
// loaded <applied> of <rows> records"; a malformed CSV ends it with an ERROR naming the line,
// and nothing of the batch that line is in is written (the batches before it stay).
//
// csv_file_load reads a file the server can read (file_path); csv_url_load downloads
// csv_url (http:// or https://, at most kCsvMaxDownloadBytes).
#pragma once

#include <cstddef>
#include <cstdint>

namespace meshdb::storage {
class Store;
}

namespace meshdb::ops {

class Jobs;
class NodeOperations;

inline constexpr size_t kCsvBatchRecords = 10000;
inline constexpr uint64_t kCsvMaxDownloadBytes = uint64_t{1} << 30;

// Registers the three loads on `ops`; `store` and `jobs` outlive it.
void RegisterCsvLoadOperations(NodeOperations* ops, storage::Store* store, Jobs* jobs);

}  // namespace meshdb::ops
