// An LD_PRELOAD library for test_copy_crash: pauses the process inside the deferred index
// build of an initial copy, so a test can kill -9 it there however fast the machine is,
// without a hook in meshdb itself.
//
// It wraps LMDB's mdb_cursor_put. The first put with MDB_APPENDDUP (only the sorted index
// build, storage/index_build.cc, appends duplicates) creates the file named by
// $LMDB_PAUSE_SHIM_MARKER, then sleeps $LMDB_PAUSE_SHIM_MS milliseconds before doing the put;
// every other call goes straight to LMDB.
#include <dlfcn.h>
#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

namespace {

using CursorPut = int (*)(MDB_cursor*, MDB_val*, MDB_val*, unsigned int);

void PauseOnce() {
  static std::atomic<bool> paused{false};
  if (paused.exchange(true)) return;
  if (const char* marker = std::getenv("LMDB_PAUSE_SHIM_MARKER")) std::ofstream{marker};
  const char* ms = std::getenv("LMDB_PAUSE_SHIM_MS");
  std::this_thread::sleep_for(std::chrono::milliseconds(ms != nullptr ? std::atoi(ms) : 0));
}

}  // namespace

extern "C" int mdb_cursor_put(MDB_cursor* cursor, MDB_val* key, MDB_val* data, unsigned int flags) {
  static const auto real = reinterpret_cast<CursorPut>(dlsym(RTLD_NEXT, "mdb_cursor_put"));
  if ((flags & MDB_APPENDDUP) != 0) PauseOnce();
  return real(cursor, key, data, flags);
}
