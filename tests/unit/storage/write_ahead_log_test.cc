// The write-ahead log: frames parse back and stop at a torn or foreign frame; a process that
// dies without a final checkpoint is recovered from the log to exactly what it had committed,
// even when none of LMDB's pages written since the last checkpoint reached the disk.
#include "storage/write_ahead_log.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"
#include "storage/wal_record.h"
#include "temp_dir.h"

namespace meshdb::storage {
namespace {

using meshdb::testing::ReadWholeFile;
using meshdb::testing::TempDir;

TEST(WalFramesTest, ParseBackAndStopAtTornOrForeignFrames) {
  WalTxnRecorder rec;
  rec.Put(3, "r:dog", "k1", "v1");
  std::string bytes(rec.Frame(7, 100));
  rec.Reset();
  rec.Del(3, "r:dog", "k1", "");
  bytes += rec.Frame(7, 101);
  bytes += WalAbortFrame(7, 101);
  rec.Reset();
  rec.Put(3, "r:dog", "k2", "v2");
  const size_t third = bytes.size();
  bytes += rec.Frame(7, 102);

  std::vector<WalFrame> frames = ParseWalFrames(bytes, 7).value();
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].txnid, 100u);
  EXPECT_EQ(frames[2].kind, WalFrameKind::kAbort);
  EXPECT_EQ(frames[3].txnid, 102u);

  EXPECT_TRUE(ParseWalFrames(bytes, 8).value().empty()) << "another generation's bytes";
  std::string torn = bytes;
  torn[third + kWalFrameHeaderBytes + 2] ^= 0x40;
  EXPECT_EQ(ParseWalFrames(torn, 7).value().size(), 3u) << "a damaged frame ends the log";
  EXPECT_EQ(ParseWalFrames(std::string_view(bytes).substr(0, bytes.size() - 1), 7).value().size(),
            3u)
      << "a frame cut short ends the log";
}

// A whole frame as wal_record.h lays it out, checksum included: what a binary that knows `kind`
// (or writes `payload`) would append.
std::string WholeFrame(uint8_t kind, uint64_t generation, uint64_t txnid,
                       std::string_view payload) {
  std::string frame(kWalFrameHeaderBytes, '\0');
  auto put = [&](size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) frame[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  };
  put(0, payload.size(), 4);
  put(8, generation, 8);
  put(16, txnid, 8);
  frame[24] = static_cast<char>(kind);
  frame += payload;
  const auto* after_crc = reinterpret_cast<const Bytef*>(frame.data() + 8);
  put(4, crc32(0, after_crc, static_cast<uInt>(frame.size() - 8)), 4);
  return frame;
}

TEST(WalFramesTest, AWholeFrameOfAnUnknownKindIsRefusedNotTakenForTheEnd) {
  WalTxnRecorder rec;
  rec.Put(3, "r:dog", "k1", "v1");
  std::string bytes(rec.Frame(7, 100));
  ASSERT_EQ(bytes.substr(0, kWalFrameHeaderBytes),
            WholeFrame(1, 7, 100, std::string_view(bytes).substr(kWalFrameHeaderBytes))
                .substr(0, kWalFrameHeaderBytes))
      << "the helper lays frames out as the log does";
  bytes += WholeFrame(9, 7, 101, "");
  auto parsed = ParseWalFrames(bytes, 7);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), Status::Code::kConflict);
  EXPECT_EQ(parsed.status().message(),
            "write-ahead log: the frame of transaction 101 has kind 9, which this binary does not "
            "know (written by a newer meshdb): not replaying the log");
}

// Everything in the environment: "<db>\0<key>\0<value>" per entry, in order.
std::vector<std::string> Dump(MDB_env* env) {
  std::vector<std::string> out;
  auto txn = ReadTxn::Begin(env);
  EXPECT_TRUE(txn.ok());
  for (const char* name : {"plain", "dups", "hidden"}) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn->get(), name, 0, &dbi) != 0) continue;
    auto cursor = Cursor::Open(txn->get(), dbi);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cursor->get(), &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor->get(), &k, &v, MDB_NEXT)) {
      out.push_back(std::string(name) + '\0' + std::string(FromVal(k)) + '\0' +
                    std::string(FromVal(v)));
    }
  }
  return out;
}

// How the log is appended: direct writes submitted through io_uring while LMDB commits (the
// default), direct writes completed before LMDB commits (a kernel without io_uring), or
// pwrite + fdatasync (a filesystem without O_DIRECT).
struct Appends {
  const char* name;
  bool direct_io;
  bool io_uring;
};
constexpr Appends kDirectRing{"DirectRing", true, true};
void PrintTo(const Appends& appends, std::ostream* os) { *os << appends.name; }

LmdbEnvOptions Durable(Appends appends = kDirectRing) {
  LmdbEnvOptions options;
  options.log_options.direct_io = appends.direct_io;
  options.log_options.io_uring = appends.io_uring;
  options.map_size_bytes = 256ull << 20;
  options.log_options.checkpoint_interval = std::chrono::hours(1);  // only the ones the test causes
  options.log_options.initial_log_bytes = 4096;  // the log files grow while the tests write
  return options;
}

// Random puts, deletes (by key, by key and value, at a cursor) and a clear, in `txns`
// transactions of a durable logged environment.
void RandomWrites(MDB_env* env, int txns, uint32_t seed) {
  std::mt19937 rng(seed);
  auto key = [&] { return "key-" + std::to_string(rng() % 500); };
  for (int t = 0; t < txns; ++t) {
    auto txn = WriteTxn::Begin(env);
    ASSERT_TRUE(txn.ok());
    MDB_dbi plain, dups;
    ASSERT_EQ(LmdbDbiOpen(txn->get(), "plain", MDB_CREATE, &plain), 0);
    ASSERT_EQ(LmdbDbiOpen(txn->get(), "dups", MDB_CREATE | MDB_DUPSORT, &dups), 0);
    for (int i = 0; i < 20; ++i) {
      std::string k = key(), v = std::string(rng() % 300 + 1, static_cast<char>('a' + rng() % 26));
      MDB_val kv = ToVal(k), vv = ToVal(v);
      switch (rng() % 6) {
        case 0:
        case 1:
          ASSERT_EQ(LmdbPut(txn->get(), plain, &kv, &vv, 0), 0);
          break;
        case 2:
          ASSERT_EQ(LmdbPut(txn->get(), dups, &kv, &vv, 0), 0);
          break;
        case 3: {
          int rc = LmdbDel(txn->get(), plain, &kv, nullptr);
          ASSERT_TRUE(rc == 0 || rc == MDB_NOTFOUND);
          break;
        }
        case 4: {
          auto cursor = Cursor::Open(txn->get(), dups);
          MDB_val ck = kv, cv;
          if (mdb_cursor_get(cursor->get(), &ck, &cv, MDB_SET_RANGE) == 0) {
            ASSERT_EQ(LmdbCursorDel(cursor->get()), 0);
          }
          break;
        }
        default:
          if (rng() % 40 == 0) {
            ASSERT_EQ(LmdbClear(txn->get(), dups), 0);
          }
      }
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
}

// In a child process: opens `path`, runs `write`, saves the dump to `dump_path`, and dies
// without closing (no final checkpoint).
void WriteAndDie(const std::string& path, const std::string& dump_path,
                 const std::function<void(MDB_env*)>& write,
                 const LmdbEnvOptions& options = Durable()) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto env = LmdbEnv::Open(path, options);
    if (!env.ok()) _exit(2);
    write(env->get());
    std::ofstream out(dump_path, std::ios::binary);
    for (const std::string& line : Dump(env->get())) out << line.size() << ':' << line;
    out.close();
    _exit(::testing::Test::HasFailure() ? 3 : 0);  // no destructor: no final checkpoint
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// 30 transactions and a clean close (a final checkpoint), then 60 more in a child that dies.
void CheckpointThenWriteAndDie(const std::string& path, const std::string& dump_path,
                               Appends appends) {
  {
    auto env = LmdbEnv::Open(path, Durable(appends));
    ASSERT_TRUE(env.ok());
    RandomWrites(env->get(), 30, 1);
  }
  WriteAndDie(
      path, dump_path, [](MDB_env* env) { RandomWrites(env, 60, 2); }, Durable(appends));
}

std::string Serialize(const std::vector<std::string>& dump) {
  std::string out;
  for (const std::string& line : dump) out += std::to_string(line.size()) + ':' + line;
  return out;
}

class WriteAheadLogCrashTest : public ::testing::TestWithParam<Appends> {};

INSTANTIATE_TEST_SUITE_P(Appends, WriteAheadLogCrashTest,
                         ::testing::Values(kDirectRing, Appends{"Direct", true, false},
                                           Appends{"Buffered", false, false}),
                         [](const auto& info) { return info.param.name; });

TEST_P(WriteAheadLogCrashTest, ProcessCrashRecoversEveryCommittedTransaction) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  CheckpointThenWriteAndDie(path, dir.path() + "/dump", GetParam());
  auto env = LmdbEnv::Open(path, Durable(GetParam()));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(Serialize(Dump(env->get())), ReadWholeFile(dir.path() + "/dump"));
}

TEST_P(WriteAheadLogCrashTest, PowerCutLosingEveryUnsyncedPageRecoversFromTheLog) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  CheckpointThenWriteAndDie(path, dir.path() + "/dump", GetParam());
  // What a power cut may leave: LMDB's pages written since the checkpoint never reached the
  // disk. Every page past the checkpoint's last page and both meta pages become garbage.
  // The newer checkpoint slot (sequence at offset 8; slots 128 KiB apart) holds the meta page
  // of the checkpointed transaction; its last_pg (offset 16 + 120) bounds that tree's pages.
  std::string meta;
  {
    std::ifstream in(path + "-checkpoint", std::ios::binary);
    std::string all(std::istreambuf_iterator<char>(in), {});
    uint64_t best = 0;
    for (size_t slot = 0; slot + 32 + 4096 <= all.size(); slot += 128 << 10) {
      uint64_t sequence = 0;
      std::memcpy(&sequence, all.data() + slot + 8, sizeof sequence);
      if (sequence > best) best = sequence, meta = all.substr(slot + 32, 4096);
    }
    ASSERT_FALSE(meta.empty());
  }
  uint64_t last_pg = 0;
  std::memcpy(&last_pg, meta.data() + 16 + 120, sizeof last_pg);
  {
    std::fstream data(path, std::ios::binary | std::ios::in | std::ios::out);
    data.seekg(0, std::ios::end);
    const auto size = static_cast<uint64_t>(data.tellg());
    std::string garbage(4096, '\xab');
    for (uint64_t page = 0; page * 4096 < size; ++page) {
      if (page > 1 && page <= last_pg) continue;
      data.seekp(static_cast<std::streamoff>(page * 4096));
      data.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
  }
  auto env = LmdbEnv::Open(path, Durable(GetParam()));
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(Serialize(Dump(env->get())), ReadWholeFile(dir.path() + "/dump"));
}

// The log file of the newest generation (the other holds older frames): after
// CheckpointThenWriteAndDie, the child's frames.
struct NewestLog {
  std::string path;
  std::string bytes;
  uint64_t generation = 0;
  std::vector<WalFrame> frames;  // views into `bytes`
};
void ReadNewestLog(const std::string& data_path, NewestLog* log) {
  for (const char* suffix : {"-wal.0", "-wal.1"}) {
    std::string file = ReadWholeFile(data_path + suffix);
    uint64_t first = 0;
    if (file.size() >= kWalFrameHeaderBytes) std::memcpy(&first, file.data() + 8, sizeof first);
    if (log->path.empty() || first > log->generation) {
      log->path = data_path + suffix, log->bytes = std::move(file), log->generation = first;
    }
  }
  auto parsed = ParseWalFrames(log->bytes, log->generation);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  log->frames = std::move(parsed).value();
  ASSERT_GE(log->frames.size(), 40u) << "the child's frames";
}

// The bytes of `log` before its frame `n`.
std::string FramesBefore(const NewestLog& log, size_t n) {
  return log.bytes.substr(0, static_cast<size_t>(log.frames[n].payload.data() - log.bytes.data()) -
                                 kWalFrameHeaderBytes);
}

// Puts `bytes` at the start of the log file `path`, then an empty header: the log ends there.
void RewriteLog(const std::string& path, const std::string& bytes) {
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::string end(kWalFrameHeaderBytes, '\0');
  out.write(end.data(), static_cast<std::streamsize>(end.size()));
  ASSERT_TRUE(out.good()) << path;
}

TEST(WriteAheadLogTest, AReplayThatFailsPartwayLeavesTheCheckpointWholeForTheNextOpen) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  CheckpointThenWriteAndDie(path, dir.path() + "/dump", kDirectRing);
  NewestLog log;
  ASSERT_NO_FATAL_FAILURE(ReadNewestLog(path, &log));
  const size_t kept = 30;
  // What the first `kept` transactions after the checkpoint leave, from a copy of the files.
  const std::string copy = dir.path() + "/copy";
  std::filesystem::create_directory(copy);
  for (const char* suffix : {"", "-wal.0", "-wal.1", "-checkpoint"}) {
    std::filesystem::copy_file(path + suffix, copy + "/t.mdb" + suffix);
  }
  const std::string copy_log = copy + "/t.mdb" + log.path.substr(path.size());
  ASSERT_NO_FATAL_FAILURE(RewriteLog(copy_log, FramesBefore(log, kept)));
  std::string expected;
  {
    auto env = LmdbEnv::Open(copy + "/t.mdb", Durable());
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    expected = Serialize(Dump(env->get()));
  }
  // The original's replay applies those transactions, then fails at a frame it cannot apply.
  const WalFrame& bad = log.frames[kept];
  ASSERT_NO_FATAL_FAILURE(RewriteLog(
      log.path, FramesBefore(log, kept) + WholeFrame(1, log.generation, bad.txnid, "\xff\x01")));
  auto failed = LmdbEnv::Open(path, Durable());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("malformed record"), std::string::npos)
      << failed.status().ToString();
  // The next open starts from the same checkpoint, whose tree must be as it was, and replays
  // the same transactions.
  ASSERT_NO_FATAL_FAILURE(RewriteLog(log.path, FramesBefore(log, kept)));
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(Serialize(Dump(env->get())), expected);
}

TEST(WriteAheadLogTest, ALogWithAFrameOfAnUnknownKindIsRefusedAndReplaysLater) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  CheckpointThenWriteAndDie(path, dir.path() + "/dump", kDirectRing);
  NewestLog log;
  ASSERT_NO_FATAL_FAILURE(ReadNewestLog(path, &log));
  // A newer binary's frame of a kind this one does not know, after the child's frames.
  const std::string frames =
      log.bytes.substr(0, static_cast<size_t>(log.frames.back().payload.data() +
                                              log.frames.back().payload.size() - log.bytes.data()));
  ASSERT_NO_FATAL_FAILURE(RewriteLog(
      log.path, frames + WholeFrame(9, log.generation, log.frames.back().txnid + 1, "")));
  auto refused = LmdbEnv::Open(path, Durable());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kConflict) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("has kind 9, which this binary does not know"),
            std::string::npos)
      << refused.status().ToString();
  // Nothing was replayed or checkpointed: without the unknown frame, every transaction is back.
  ASSERT_NO_FATAL_FAILURE(RewriteLog(log.path, frames));
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(Serialize(Dump(env->get())), ReadWholeFile(dir.path() + "/dump"));
}

// Bytes of the data file LMDB has used (its high-water mark; the file never shrinks).
uint64_t UsedBytes(MDB_env* env) {
  MDB_envinfo info;
  MDB_stat stat;
  EXPECT_EQ(mdb_env_info(env, &info), 0);
  EXPECT_EQ(mdb_env_stat(env, &stat), 0);
  return (info.me_last_pgno + 1) * stat.ms_psize;
}

// `txns` transactions each rewriting 200 of 1000 keys with 500 random bytes: every one copies
// most of the ~150 leaf pages, so a live pin makes each grow the file by ~0.5 MiB.
uint64_t UsedAfterRewrites(uint64_t freed_limit_bytes, int txns) {
  TempDir dir("meshdb-wal");
  LmdbEnvOptions options = Durable();
  options.log_options.checkpoint_freed_bytes = UINT64_MAX;  // no background checkpoint
  options.log_options.freed_limit_bytes = freed_limit_bytes;
  auto env = LmdbEnv::Open(dir.path() + "/t.mdb", options);
  EXPECT_TRUE(env.ok());
  std::mt19937 rng(7);
  for (int t = 0; t < txns; ++t) {
    auto txn = WriteTxn::Begin(env->get());
    EXPECT_TRUE(txn.ok());
    MDB_dbi dbi;
    EXPECT_EQ(LmdbDbiOpen(txn->get(), "plain", MDB_CREATE, &dbi), 0);
    for (int i = 0; i < (t == 0 ? 1000 : 200); ++i) {
      std::string k = "key-" + std::to_string(t == 0 ? i : rng() % 1000);
      std::string v(500, '\0');
      for (char& c : v) c = static_cast<char>('a' + rng() % 26);
      MDB_val kv = ToVal(k), vv = ToVal(v);
      EXPECT_EQ(LmdbPut(txn->get(), dbi, &kv, &vv, 0), 0);
    }
    EXPECT_TRUE(txn->Commit().ok());
  }
  return UsedBytes(env->get());
}

TEST(WriteAheadLogTest, FreedLimitKeepsTheFileSmallWhileNoCheckpointIsDue) {
  const uint64_t unlimited = UsedAfterRewrites(UINT64_MAX, 120);
  const uint64_t limited = UsedAfterRewrites(2ull << 20, 120);
  // Without the limit the opening checkpoint's pin lives for the hour: no page is reused.
  EXPECT_GT(unlimited, 40ull << 20);
  // With it a commit past 2 MiB of freed pages checkpoints, and those pages are reused.
  EXPECT_LT(limited, 8ull << 20) << "unlimited: " << unlimited;
}

// A write to a sub-database opened without LmdbDbiOpen cannot be recorded (the log has no name
// for it): its transaction commits unlogged and is checkpointed before Commit returns, so a
// crash right after it, and after logged transactions that follow, loses nothing.
TEST(WriteAheadLogTest, UnrecordableTransactionIsCheckpointedBeforeCommitReturns) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  const std::string dump_path = dir.path() + "/dump";
  WriteAndDie(path, dump_path, [](MDB_env* env) {
    RandomWrites(env, 10, 4);
    {
      auto txn = WriteTxn::Begin(env);
      ASSERT_TRUE(txn.ok());
      MDB_dbi unnamed;  // opened behind the log's back
      ASSERT_EQ(mdb_dbi_open(txn->get(), "hidden", MDB_CREATE, &unnamed), 0);
      std::string k = "unlogged", v = "value";
      MDB_val kv = ToVal(k), vv = ToVal(v);
      ASSERT_EQ(LmdbPut(txn->get(), unnamed, &kv, &vv, 0), 0);
      ASSERT_TRUE(txn->Commit().ok());
    }
    RandomWrites(env, 10, 5);
  });
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  const std::string recovered = Serialize(Dump(env->get()));
  EXPECT_EQ(recovered, ReadWholeFile(dump_path));
  EXPECT_NE(recovered.find(std::string("hidden") + '\0' + "unlogged"), std::string::npos);
}

// One put in "plain", committed.
Status PutOne(MDB_env* env, std::string key, std::string value) {
  auto txn = WriteTxn::Begin(env);
  if (!txn.ok()) return txn.status();
  MDB_dbi plain;
  if (int rc = LmdbDbiOpen(txn->get(), "plain", MDB_CREATE, &plain); rc != 0) {
    return LmdbError("open plain", rc);
  }
  MDB_val kv = ToVal(key), vv = ToVal(value);
  if (int rc = LmdbPut(txn->get(), plain, &kv, &vv, 0); rc != 0) return LmdbError("put", rc);
  return txn->Commit();
}

// A commit whose frame cannot be written (a full disk, an I/O error) fails and changes
// nothing; so does every later one, even once the disk would take it, until the environment
// is opened again, and then everything committed before the failure is there.
TEST(WriteAheadLogTest, AFailedAppendFailsThatCommitAndEveryLaterOneUntilReopened) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  bool fail = false;
  LmdbEnvOptions options = Durable();
  options.log_options.before_append_for_testing = [&fail] {
    return fail ? Status::IOError("injected: no space left on device") : Status::Ok();
  };
  std::string before;
  {
    auto env = LmdbEnv::Open(path, options);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    RandomWrites(env->get(), 10, 6);
    before = Serialize(Dump(env->get()));
    fail = true;
    Status failed = PutOne(env->get(), "refused", "1");
    EXPECT_EQ(failed.code(), Status::Code::kIOError) << failed.ToString();
    EXPECT_NE(failed.message().find("injected"), std::string::npos) << failed.ToString();
    fail = false;
    Status later = PutOne(env->get(), "later", "2");
    EXPECT_EQ(later.code(), Status::Code::kIOError) << later.ToString();
    EXPECT_NE(later.message().find("failed earlier"), std::string::npos) << later.ToString();
    EXPECT_EQ(Serialize(Dump(env->get())), before) << "a failed commit is not visible";
  }
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(Serialize(Dump(env->get())), before);
  EXPECT_TRUE(PutOne(env->get(), "after the reopen", "3").ok());
}

// "plain"'s value for `key`, read in a new read transaction; "(none)" when it has none.
Result<std::string> ReadOne(MDB_env* env, const std::string& key) {
  ASSIGN_OR_RETURN(ReadTxn txn, ReadTxn::Begin(env));
  MDB_dbi plain;
  if (int rc = mdb_dbi_open(txn.get(), "plain", 0, &plain); rc != 0) return std::string("(none)");
  MDB_val kv = ToVal(key), vv;
  if (mdb_get(txn.get(), plain, &kv, &vv) != 0) return std::string("(none)");
  return std::string(FromVal(vv));
}

// LMDB commits a transaction while the disk writes its frame; a reader that begins in that
// window must not see it before the frame is durable (a power cut then would take back what
// it read), so it waits, and then sees it.
TEST(WriteAheadLogTest, AReaderWaitsUntilTheFrameOfATransactionLmdbCommittedIsDurable) {
  TempDir dir("meshdb-wal");
  LmdbEnvOptions options = Durable();
  MDB_env* env_handle = nullptr;
  bool armed = false;
  std::atomic<bool> reader_returned{false};
  Result<std::string> seen = std::string();
  std::thread reader;
  bool reader_waited = false;
  options.log_options.before_frame_durable_for_testing = [&]() -> Status {
    if (!armed) return Status::Ok();
    armed = false;
    reader = std::thread([&] {
      seen = ReadOne(env_handle, "k");
      reader_returned = true;
    });
    WriteAheadLog* wal = WriteAheadLog::Of(env_handle);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (wal->ReadersWaiting() == 0 && !reader_returned &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    reader_waited = wal->ReadersWaiting() == 1 && !reader_returned;
    return Status::Ok();
  };
  auto env = LmdbEnv::Open(dir.path() + "/t.mdb", options);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  env_handle = env->get();
  ASSERT_TRUE(PutOne(env->get(), "k", "old").ok());
  armed = true;
  ASSERT_TRUE(PutOne(env->get(), "k", "new").ok());
  reader.join();
  EXPECT_TRUE(reader_waited) << "the reader returned before the frame was durable";
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ(*seen, "new");
}

// When the frame's write fails after LMDB committed its transaction, LMDB holds a
// transaction the log does not: that commit fails, and so does every later write and every
// read (none may see it) until the environment is opened again, which starts from the log.
TEST(WriteAheadLogTest, AFrameThatFailsAfterLmdbCommittedFailsReadsAndWritesUntilReopened) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  bool fail = false;
  LmdbEnvOptions options = Durable();
  options.log_options.before_frame_durable_for_testing = [&fail] {
    return fail ? Status::IOError("injected: I/O error") : Status::Ok();
  };
  std::vector<std::string> before;
  {
    auto env = LmdbEnv::Open(path, options);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    RandomWrites(env->get(), 10, 9);
    before = Dump(env->get());
    fail = true;
    Status failed = PutOne(env->get(), "unlogged", "1");
    EXPECT_EQ(failed.code(), Status::Code::kIOError) << failed.ToString();
    EXPECT_NE(failed.message().find("injected"), std::string::npos) << failed.ToString();
    fail = false;
    Result<std::string> read = ReadOne(env->get(), "unlogged");
    EXPECT_EQ(read.status().code(), Status::Code::kIOError) << "a read saw the unlogged commit";
    EXPECT_EQ(PutOne(env->get(), "later", "2").code(), Status::Code::kIOError);
  }
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  // The failed commit's frame may have reached the disk all the same (here it did: only its
  // outcome was replaced), and then the reopen replays it; everything before it is there.
  std::vector<std::string> after = Dump(env->get());
  for (const std::string& line : before) {
    EXPECT_NE(std::find(after.begin(), after.end(), line), after.end()) << line;
  }
  auto read = ReadOne(env->get(), "later");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, "(none)");
  EXPECT_TRUE(PutOne(env->get(), "after the reopen", "3").ok());
}

// When LMDB's commit fails after the transaction's frame is in the log, an abort frame
// follows it; LMDB gives the next transaction the same id, so a replay that applied the
// aborted frame would refuse the next one, and one that skipped the next would lose it.
TEST(WriteAheadLogTest, ACommitThatLmdbRefusesAfterItsFrameIsLoggedIsNotReplayed) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  const std::string dump_path = dir.path() + "/dump";
  auto fail = std::make_shared<bool>(false);
  LmdbEnvOptions options = Durable();
  options.log_options.lmdb_commit_fails_for_testing = [fail] { return *fail; };
  WriteAndDie(
      path, dump_path,
      [fail](MDB_env* env) {
        RandomWrites(env, 5, 8);
        ASSERT_TRUE(PutOne(env, "kept-1", "1").ok());
        *fail = true;
        Status refused = PutOne(env, "lost", "2");
        EXPECT_EQ(refused.code(), Status::Code::kIOError) << refused.ToString();
        *fail = false;
        ASSERT_TRUE(PutOne(env, "kept-2", "3").ok());
      },
      options);
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  const std::string recovered = Serialize(Dump(env->get()));
  EXPECT_EQ(recovered, ReadWholeFile(dump_path));
  EXPECT_NE(recovered.find("kept-2"), std::string::npos);
  EXPECT_EQ(recovered.find("lost"), std::string::npos);
}

TEST(WriteAheadLogTest, CleanCloseNeedsNoReplayAndKeepsEverything) {
  TempDir dir("meshdb-wal");
  const std::string path = dir.path() + "/t.mdb";
  std::string before;
  {
    auto env = LmdbEnv::Open(path, Durable());
    ASSERT_TRUE(env.ok());
    RandomWrites(env->get(), 20, 3);
    before = Serialize(Dump(env->get()));
  }
  auto env = LmdbEnv::Open(path, Durable());
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(Serialize(Dump(env->get())), before);
  EXPECT_TRUE(std::filesystem::exists(path + "-wal.0"));
  EXPECT_TRUE(std::filesystem::exists(path + "-checkpoint"));
}

}  // namespace
}  // namespace meshdb::storage
