// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html) and
// a mutex that carries them.
//
// A clang build with -Wthread-safety (the TSan build of tools/test.sh) checks that every member
// marked GUARDED_BY(mu_) is touched only with mu_ held, and that a function marked
// REQUIRES(mu_) is only called with it held. Other compilers see empty macros.
//
// libstdc++'s std::mutex carries no annotations, so guarded state uses common::Mutex and
// common::MutexLock instead; a condition variable waits on a MutexLock through
// std::condition_variable_any, which accepts any lockable.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define MESHDB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MESHDB_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) MESHDB_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY MESHDB_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) MESHDB_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) MESHDB_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) MESHDB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) MESHDB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define REQUIRES_SHARED(...) MESHDB_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) MESHDB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) MESHDB_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) MESHDB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) MESHDB_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) MESHDB_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) MESHDB_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) MESHDB_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) MESHDB_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS MESHDB_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace meshdb::common {

// A std::mutex the analysis knows about. Lockable, so std::condition_variable_any can wait on a
// MutexLock holding it.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

  // Tells the analysis the caller holds this mutex (for callbacks it cannot follow).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope. Lockable too (lock/unlock re-take and drop the same mutex), so a
// condition_variable_any can wait on it. Mark the predicate so the analysis knows it runs with
// the mutex held: `cv.wait(lock, [&]() REQUIRES(mu_) { return ready_; })`.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    mu_.unlock();
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// A std::shared_mutex the analysis knows about: many readers or one writer.
class CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a SharedMutex exclusively for its scope.
class SCOPED_CAPABILITY WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterMutexLock() RELEASE() { mu_.unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds a SharedMutex shared for its scope.
class SCOPED_CAPABILITY ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex& mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderMutexLock() RELEASE() { mu_.unlock_shared(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace meshdb::common
