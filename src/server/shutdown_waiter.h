// Waits for the reason this process should stop: SIGTERM/SIGINT, or a restart request.
//
// Construct it before any other thread is started: the constructor blocks SIGTERM and SIGINT
// in the calling thread, so every thread started afterwards inherits the mask and the
// signals are only ever taken by the waiter's own thread (sigwait). The destructor wakes and
// joins that thread and leaves SIGTERM/SIGINT blocked: a second signal sent while the process
// finishes shutting down (an impatient supervisor) stays pending and dies with the process
// instead of killing it with the default action between "stopped" and exit. Call
// RestoreSignalMask() before exec'ing a new image (restart).
//
// Thread-safety: RequestRestart may be called from any thread; Wait from one thread.
#pragma once

#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/thread_annotations.h"

namespace meshdb::server {

class ShutdownWaiter {
 public:
  enum class Reason { kSignal, kRestart };

  ShutdownWaiter();
  ~ShutdownWaiter();
  ShutdownWaiter(const ShutdownWaiter&) = delete;
  ShutdownWaiter& operator=(const ShutdownWaiter&) = delete;

  // Asks Wait() to return kRestart. Cheap; never blocks for long.
  void RequestRestart();

  // Blocks until a signal arrives or a restart was requested; the first reason wins.
  Reason Wait();

  // The signal that ended Wait() (SIGTERM or SIGINT); 0 for a restart.
  int signal_number() const;

  // Drops pending SIGTERM/SIGINT and unblocks them in the calling thread, as before the
  // constructor. Only for the restart path, right before exec.
  void RestoreSignalMask();

 private:
  void SignalLoop();

  sigset_t signals_;
  sigset_t old_mask_;
  mutable common::Mutex mu_;
  std::condition_variable_any cv_;  // done_ was set
  bool done_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;  // set by the destructor
  Reason reason_ GUARDED_BY(mu_) = Reason::kSignal;
  int signal_number_ GUARDED_BY(mu_) = 0;
  std::thread thread_;  // Started last, joined by the destructor.
};

}  // namespace meshdb::server
