#include "common/work_pool.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "common/log.h"

namespace meshdb::common {

WorkPool::WorkPool(size_t max_threads, std::string name)
    : max_threads_(std::max<size_t>(1, max_threads)), name_(std::move(name)) {}

WorkPool::~WorkPool() { Shutdown(); }

bool WorkPool::Post(std::function<void()> job) {
  {
    MutexLock lock(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(job));
    // A new worker only when none is idle (an idle one takes the job) and the bound allows.
    if (idle_ < queue_.size() && workers_.size() < max_threads_) {
      workers_.emplace_back([this] { Run(); });
    }
  }
  cv_.notify_one();
  return true;
}

size_t WorkPool::Shutdown() {
  std::deque<std::function<void()>> dropped;
  std::vector<std::thread> workers;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    workers.swap(workers_);
  }
  cv_.notify_all();
  for (auto& t : workers) t.join();
  if (!dropped.empty()) {
    log::For("common")->info("{}: {} queued job(s) dropped at shutdown", name_, dropped.size());
  }
  return dropped.size();  // destroyed here, outside the lock (jobs may own heavy state)
}

size_t WorkPool::queued() const {
  MutexLock lock(mu_);
  return queue_.size();
}

size_t WorkPool::running() const {
  MutexLock lock(mu_);
  return running_;
}

size_t WorkPool::threads() const {
  MutexLock lock(mu_);
  return workers_.size();
}

void WorkPool::Run() {
  MutexLock lock(mu_);
  for (;;) {
    ++idle_;
    cv_.wait(lock, [this]() REQUIRES(mu_) { return stopping_ || !queue_.empty(); });
    --idle_;
    if (stopping_) return;
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      log::For("common")->error("{}: a job threw: {}", name_, e.what());
    } catch (...) {
      log::For("common")->error("{}: a job threw", name_);
    }
    job = nullptr;  // its captures are released before the next wait
    lock.lock();
    --running_;
  }
}

}  // namespace meshdb::common
