#include "server/shutdown_waiter.h"

#include <pthread.h>

namespace meshdb::server {

ShutdownWaiter::ShutdownWaiter() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  thread_ = std::thread([this] { SignalLoop(); });
}

ShutdownWaiter::~ShutdownWaiter() {
  {
    common::MutexLock lock(mu_);
    stopping_ = true;
  }
  // The signal thread may still sit in sigwait (restart path): a SIGTERM aimed at that thread
  // alone wakes it, and it sees stopping_. If it already returned, the signal stays pending on
  // a finished thread and is discarded.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
  // The signals stay blocked: see the header.
}

void ShutdownWaiter::RestoreSignalMask() {
  // A SIGTERM/SIGINT sent while we shut down is pending; unblocking it would kill us with the
  // default action. Shutdown is already done, so take and drop it first.
  const timespec no_wait{0, 0};
  while (sigtimedwait(&signals_, nullptr, &no_wait) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void ShutdownWaiter::SignalLoop() {
  int sig = 0;
  while (sigwait(&signals_, &sig) != 0) {
  }
  common::MutexLock lock(mu_);
  if (stopping_ || done_) return;
  done_ = true;
  reason_ = Reason::kSignal;
  signal_number_ = sig;
  cv_.notify_all();
}

void ShutdownWaiter::RequestRestart() {
  common::MutexLock lock(mu_);
  if (done_) return;
  done_ = true;
  reason_ = Reason::kRestart;
  cv_.notify_all();
}

ShutdownWaiter::Reason ShutdownWaiter::Wait() {
  common::MutexLock lock(mu_);
  cv_.wait(lock, [this]() REQUIRES(mu_) { return done_; });
  return reason_;
}

int ShutdownWaiter::signal_number() const {
  common::MutexLock lock(mu_);
  return signal_number_;
}

}  // namespace meshdb::server
