// Replaces the global operator new/delete of the replication_test binary (only).
//
// Not under ThreadSanitizer: clang links its runtime statically, and the runtime defines
// operator new/delete itself (a second definition fails to link). There nothing is counted
// and AllocatedBytesForTesting() stays 0; the gcc and ASan builds keep the check.
#include "alloc_counter.h"

#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_THREAD__)
#define MESHDB_ALLOC_COUNTER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MESHDB_ALLOC_COUNTER_TSAN 1
#endif
#endif

namespace {
std::atomic<size_t> g_allocated_bytes{0};
}  // namespace

#ifndef MESHDB_ALLOC_COUNTER_TSAN

void* operator new(size_t n) {
  g_allocated_bytes.fetch_add(n, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#endif  // MESHDB_ALLOC_COUNTER_TSAN

namespace meshdb::replication {
size_t AllocatedBytesForTesting() { return g_allocated_bytes.load(std::memory_order_relaxed); }
}  // namespace meshdb::replication
