// Background jobs (HarperDB's job API): an operation that takes long (csv_data_load,
// csv_file_load, csv_url_load) records a job in system.hdb_job (replicate: false), answers
// at once with its id, and runs on the jobs thread; get_job and search_jobs_by_start_date read
// the rows. A row: {id, type, user, status (IN_PROGRESS, COMPLETE, ERROR), message,
// created_datetime, start_datetime, end_datetime (ms since the epoch), request (the operation
// without its bulky data)}.
//
// One job runs at a time, in the order they were started; a job writes in batches through
// the Store like any operation, so the node keeps answering. Jobs still queued or running
// when the node stops are marked ERROR ("the node stopped") at the next start.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace meshdb::storage {
class Store;
}

namespace meshdb::ops {

class NodeOperations;

class Jobs {
 public:
  // The work of a job: returns the message it completed with, or the error that ended it.
  // `stopping` turns true when the node stops: long work checks it between batches and ends.
  using Work = std::function<Result<std::string>(const std::atomic<bool>& stopping)>;

  // Creates system.hdb_job when missing and marks jobs left unfinished by the last run.
  static Result<std::unique_ptr<Jobs>> Create(storage::Store* store);
  ~Jobs();  // Stop()
  Jobs(const Jobs&) = delete;
  Jobs& operator=(const Jobs&) = delete;

  // Records the job (IN_PROGRESS) and queues `work`. Returns the job id (a UUID).
  Result<std::string> Start(const std::string& type, const std::string& user,
                            boost::json::object request, Work work);
  // Tells the running job to stop (it ends with an ERROR at its next batch), drops the
  // queued ones (left IN_PROGRESS, marked at the next start) and ends the thread.
  void Stop();

  // get_job: [row] or [] for an unknown id.
  Result<boost::json::array> Get(const std::string& id);
  // search_jobs_by_start_date: rows whose start_datetime lies in [from_ms, to_ms], with
  // start_datetime_converted / end_datetime_converted as ISO text.
  Result<boost::json::array> SearchByStartDate(int64_t from_ms, int64_t to_ms);

 private:
  class Impl;
  explicit Jobs(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Registers get_job and search_jobs_by_start_date on `ops`.
void RegisterJobOperations(NodeOperations* ops, Jobs* jobs);

}  // namespace meshdb::ops
