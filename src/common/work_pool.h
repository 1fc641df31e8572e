// A bounded pool of worker threads for long blocking jobs (replication's initial copies and
// merge resyncs): at most `max_threads` jobs run at once, the rest wait in FIFO order.
//
// Workers start on demand, up to the bound, and stay until Shutdown. A job that cannot start
// yet is kept, not refused: it runs when a worker frees up. Shutdown drops (destroys, never
// runs) the jobs still waiting and joins the workers, so the owner must first make running
// jobs return (the replication service aborts the copies blocked on a link's send queue).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace meshdb::common {

class WorkPool {
 public:
  // `max_threads` is at least 1; `name` appears in log lines.
  WorkPool(size_t max_threads, std::string name);
  ~WorkPool();  // Shutdown()
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `job` (any thread but a worker's own Shutdown). False, and `job` is destroyed
  // unrun, once Shutdown began.
  bool Post(std::function<void()> job) EXCLUDES(mu_);
  // Drops the waiting jobs and waits for the running ones to return. Idempotent; not from a
  // job. Returns how many waiting jobs were dropped.
  size_t Shutdown() EXCLUDES(mu_);

  size_t max_threads() const { return max_threads_; }
  size_t queued() const EXCLUDES(mu_);   // waiting for a worker
  size_t running() const EXCLUDES(mu_);  // running now
  size_t threads() const EXCLUDES(mu_);  // workers started (<= max_threads)

 private:
  void Run() EXCLUDES(mu_);

  const size_t max_threads_;
  const std::string name_;

  mutable Mutex mu_;
  std::condition_variable_any cv_;  // a job was queued, or Shutdown began
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  std::vector<std::thread> workers_ GUARDED_BY(mu_);
  size_t idle_ GUARDED_BY(mu_) = 0;     // workers waiting for a job
  size_t running_ GUARDED_BY(mu_) = 0;  // jobs running
  bool stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace meshdb::common
