// The storage engine of one node: databases -> tables -> JSON records, in LMDB.
//
// Layout (docs/storage.md): one LMDB environment per database at
// <root>/database/<db>.mdb, with named sub-databases for each table's records ("r:<table>"),
// its secondary indexes ("x:<table>"), the transaction log ("txlog") and metadata ("meta":
// table definitions, counters).
//
// Every record is stored with its version: a hybrid-logical-clock timestamp plus the id of
// the node that wrote it, and a tombstone flag for deletes. Every committed transaction is
// also appended to the database's transaction log, which replication reads. "meta" also
// holds the version vector, per-peer cursors and the schema version, each written in the
// same commit as the rows they describe.
//
// Writes: one writer thread takes every pending WriteRequest, applies each atomically (a
// request is all-or-nothing), commits them all in one LMDB transaction per database (group
// commit: one fsync shared by the batch) and then completes each caller. A write whose
// callback reported success survives a crash when StoreOptions::durable is true.
//
// Reads: Store::Read() opens a short read-only snapshot of one database on the calling
// thread. Snapshots are cheap; never keep one across an asynchronous wait.
//
// Thread-safety: Store is safe to use from any thread. A Snapshot belongs to the thread that
// made it.
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::storage {

struct StoreOptions {
  // Directory holding <db>.mdb environments. Created if missing.
  std::string database_dir;
  // true (default): every group commit is fsync'd before callers are answered; an answered
  // write survives kill -9 and power loss. false: commits skip fsync (MDB_NOSYNC) and the OS
  // writes them back later; a crash of the machine (not of the process) can lose the last
  // seconds of writes. Roughly 2-5x more small writes per second.
  bool durable = true;
  // Largest LMDB map per database. Sparse: costs address space, not disk. Default 64 GiB.
  uint64_t map_size_bytes = 64ull << 30;
  // true: LMDB's MDB_WRITEMAP: a commit's dirty pages are written in place through the map
  // and flushed with msync, instead of being copied to the file by pwrite/writev. The file
  // then has the map's length (sparse; LmdbEnv::ReserveAhead allocates its blocks ahead).
  // Not persistent: a file written either way opens either way. See docs/storage.md.
  bool write_map = false;
  // How a durable commit reaches the disk. kWriteAheadLog (default): one fdatasync of a
  // write-ahead log beside the data file before LMDB commits without syncing; LMDB's pages are
  // synced by background checkpoints (write_ahead_log.h, docs/storage.md "The write-ahead
  // log"). kLmdbDefault: LMDB's two syncs per commit (data pages, then the meta page),
  // answered after both. kUnsafeNoMetaSync: LMDB's MDB_NOMETASYNC, answered before the meta
  // page is synced, so a machine crash can lose answered writes: storage_bench's bound for one
  // sync per commit, never for a server. No configuration key; storage_bench --sync chooses.
  enum class CommitSync { kWriteAheadLog, kLmdbDefault, kUnsafeNoMetaSync };
  CommitSync commit_sync = CommitSync::kWriteAheadLog;
  // Most write requests the writer folds into one commit. Default 4096.
  size_t max_group_commit = 4096;
  // How many entries a table's staged index level gathers before commits move them, an eighth
  // at a time, to the index's main level (docs/storage.md "Index levels"). Default 131072. No
  // configuration key: tests set it small to move entries often, storage_bench to measure.
  size_t index_staged_limit = 131072;
  // Most write requests waiting for the writer; past it WriteAsync answers Unavailable.
  size_t max_queued_writes = 100000;
  // This node's id, stamped as the origin of local writes. Default 1.
  uint32_t local_node_id = 1;
  // Tests only: runs on the dictionary trainer's thread before each training (a test blocks
  // in it to hold a training under way). Default: none.
  std::function<void()> before_dictionary_training_for_testing;
};

struct AttributeDef {
  std::string name;
  // "" for untyped attributes; otherwise a GraphQL-ish type: "ID", "String", "Int", "Long",
  // "Float", "Boolean", "Any".
  std::string type;
  bool indexed = true;
};

struct TableDef {
  std::string database;
  std::string name;
  std::string primary_key;
  // true when created with explicit attributes: types are enforced, no timestamps are added.
  bool schema_defined = false;
  // false: the table never leaves this node (replication honours it).
  bool replicate = true;
  // Attributes in order of first appearance; the primary key first; for untyped tables
  // __createdtime__ and __updatedtime__ follow it.
  std::vector<AttributeDef> attributes;

  [[nodiscard]] const AttributeDef* FindAttribute(const std::string& attr) const;
};

struct TableStats {
  uint64_t record_count = 0;              // live records (tombstones excluded)
  uint64_t table_size_bytes = 0;          // pages used by records and indexes
  uint64_t db_size_bytes = 0;             // the whole environment file
  uint64_t log_size_bytes = 0;            // pages used by the transaction log
  std::optional<double> last_updated_ms;  // time of the last write to the table
  // The compression dictionary new rows are stored with ("zdict_table:<t>", docs/storage.md
  // "Compression at rest"): nullopt until the table has one, 0 when it compresses without.
  std::optional<uint32_t> dictionary_id;
};

// A record as read: the stored document plus its version.
struct Record {
  boost::json::object doc;
  uint64_t version = 0;  // HLC timestamp of the write that produced it
  uint32_t origin = 0;   // node id of that write
};

enum class WriteKind {
  kInsert,  // skipped when the key exists (and is not a tombstone)
  kUpdate,  // merges fields into an existing record; skipped when missing
  kUpsert,  // merges into an existing record, or inserts
  kDelete,  // writes a tombstone; a missing key still counts as applied
};

struct WriteOp {
  WriteKind kind = WriteKind::kUpsert;
  std::string table;
  // String or number. Null on insert/upsert: the store generates a UUID string key.
  boost::json::value key;
  // The attributes to set (the primary key may be included; it must equal `key`).
  boost::json::object fields;
};

// One logical transaction on one database: applied all-or-nothing.
struct WriteRequest {
  std::string database;
  std::vector<WriteOp> ops;
};

enum class WriteOutcome { kApplied, kSkipped };

struct WriteResult {
  std::vector<WriteOutcome> outcomes;    // one per op, in order
  std::vector<boost::json::value> keys;  // the key each op used (generated ones filled in)
  uint64_t version = 0;                  // HLC version stamped on every record written
  uint64_t sequence = 0;                 // transaction-log sequence; 0 when nothing was applied
  double txn_time_ms = 0;                // the __updatedtime__ stamped on the records
};

using WriteCallback = std::function<void(Result<WriteResult>)>;

// One entry of a database's transaction log.
struct LogEntry {
  uint64_t sequence = 0;         // local, dense, starts at 1
  uint32_t origin = 0;           // node that made the transaction
  uint64_t origin_sequence = 0;  // its sequence on the origin node
  uint64_t version = 0;          // HLC version of the transaction
  // Some of the origin transaction's writes are missing (filtered by a subscription on the
  // way here): it never advances a version vector.
  bool partial = false;
  struct Write {
    std::string table;
    std::string key;    // encoded key bytes (see key_codec.h)
    std::string value;  // stored record bytes (see record_codec.h); tombstone flag inside
  };
  std::vector<Write> writes;
};

// Index range for Snapshot::ScanIndex. Bounds are JSON scalars compared in index order:
// null < false < true < numbers < strings.
struct IndexRange {
  std::optional<boost::json::value> lower;
  bool lower_inclusive = true;
  std::optional<boost::json::value> upper;
  bool upper_inclusive = true;
  // When set, only string values starting with it (bounds ignored).
  std::optional<std::string> string_prefix;
};

// Visitors return false to stop the scan early.
using RecordVisitor = std::function<bool(const Record&)>;
using LogVisitor = std::function<bool(const LogEntry&)>;
// Raw stored bytes: the encoded primary key and the record bytes (tombstone flag inside).
// Both views are valid only during the call.
using RawVisitor = std::function<bool(std::string_view key, std::string_view value)>;

// --- Replication state (docs/storage.md "Replication") ---

// Origin node id -> highest origin_sequence applied in one database. Local writes count too:
// origin = StoreOptions::local_node_id, origin_sequence = a dense per-origin counter.
using VersionVector = std::map<uint32_t, uint64_t>;

// The ordered stream of ReplicatedTxns and CopyChunks that one replication link hands the
// writer (share one ApplyChain among them). Once an item of a chain fails, every later item
// of the chain fails too, with Conflict, without being looked at: a peer cursor can never move
// past a transaction that was not applied (a later transaction of the same link committing
// would otherwise store a position beyond it, and the failed one would be skipped for good).
// An item refused before it reached the writer (queue full, store closing) breaks it too; then
// nothing of the chain that the writer has not applied yet applies, also what was queued
// before the refused item.
// Thread-safe: broken by the writer or by the thread that enqueues.
struct ApplyChain {
  std::atomic<bool> broken{false};
  std::atomic<uint64_t> failed_peer_sequence{0};  // the first failed item's (0: a chunk)
};

// A transaction received from a peer, exactly as the peer's log carried it.
//
// Applying it (ApplyReplicated):
//  - origin_sequence <= vector[origin]: a duplicate; no row is touched, nothing is logged,
//    only the peer cursor moves (partial or not).
//  - complete (partial == false): rows last-writer-wins, the whole transaction is logged as
//    received, vector[origin] = origin_sequence.
//  - partial: rows last-writer-wins as usual, but the vector is NOT advanced (a later
//    complete copy from another peer must still apply). The entry is logged (partial = true,
//    writes as received) only when at least one row won (rows_applied > 0); otherwise nothing
//    is logged and ApplyResult::sequence is 0, so a partial entry cannot bounce between nodes
//    forever.
//  In every case the peer cursor (peer_name/peer_sequence) moves in the same commit.
struct ReplicatedTxn {
  std::string database;
  // The peer we received it from, and its log sequence there: persisted as that peer's
  // cursor in the same commit. An empty peer_name leaves cursors alone.
  std::string peer_name;
  uint64_t peer_sequence = 0;
  uint32_t origin = 0;                  // the node that made the transaction (never 0)
  uint64_t origin_sequence = 0;         // its sequence on the origin (never 0)
  uint64_t version = 0;                 // its HLC version
  std::vector<LogEntry::Write> writes;  // raw record bytes, tombstones included
  // Some of the origin transaction's writes are missing (filtered by a subscription on the
  // way here): it never advances a version vector (see above).
  bool partial = false;
  // Definitions of the tables the writes touch (may be empty): a missing table is created,
  // missing attributes are added, in the same commit as the rows. Never removes anything.
  std::vector<TableDef> table_defs;
  // Optional: the link's chain (see ApplyChain).
  std::shared_ptr<ApplyChain> chain;
};

// One row of a consistent copy: raw stored bytes as Snapshot::ScanRaw gave them.
struct RawRow {
  std::string key;
  std::string value;
};

// A copy chunk's rows decoded ahead of the writer thread (Store::PrepareCopyChunk); opaque
// outside storage.
struct PreparedCopyRows;

// A chunk of an initial copy, applied in one commit. Every part is optional.
struct CopyChunk {
  std::string database;
  // Created (or missing attributes added) before the rows, in the same commit.
  std::optional<TableDef> table_def;
  // The rows' table; defaults to table_def->name.
  std::string table;
  std::vector<RawRow> rows;
  // The rows' values are stored values (Snapshot::ScanStored: format 1 or a compressed
  // format 2 row) rather than record bytes: each is checked to decompress (with `dictionaries`
  // or one this node holds under its id) and is then stored as it is, not compressed again.
  bool stored_values = false;
  // Dictionaries the stored rows of this and later chunks name (id as zstd derives it from
  // the bytes, checked). Written to meta in the chunk's commit when meta lacks the id; the
  // first becomes the table's dictionary for new rows when it has none. Rows naming an id
  // meta holds other bytes for are decompressed and compressed again with this node's own.
  struct Dictionary {
    uint32_t id = 0;
    std::string bytes;
  };
  std::vector<Dictionary> dictionaries;
  // Merged into the database's vector (per origin maximum) in the same commit.
  VersionVector vector_floor;
  // When peer_name is set: that peer's cursor becomes peer_sequence in the same commit,
  // unless peer_sequence is 0 and peer_view is set (the cursor is written only when
  // peer_sequence > 0 or peer_view is not set; a chunk with peer_name + peer_view +
  // peer_sequence 0 writes only the view).
  std::string peer_name;
  uint64_t peer_sequence = 0;
  // When set (and peer_name is set), persisted as peer_name's subscription view in meta
  // ("view:<peer>") in the same commit. Opaque bytes to storage; read by Store::PeerView.
  std::optional<std::string> peer_view;
  // The rows that win last-writer-wins are also appended to the log as one transaction of
  // this node (origin = local node id, origin_sequence = vector[local] + 1, version = a new
  // HLC version, complete), advancing vector[local], so peers pulling from us receive them;
  // nothing is logged when no row won. Each logged write is (table, key, value bytes as
  // received): the record keeps its own version/origin header, so receivers still resolve
  // it by LWW on the row's version. ApplyResult::sequence is the entry's sequence (0: none).
  bool log_rows = false;
  // Rows of an initial copy. When the table has no rows when such a chunk first reaches it
  // (or its index is already pending), its secondary index is not written row by row: the
  // table is marked "index_pending:<t>" in meta in the chunk's commit, and its whole index is
  // built in one sorted pass later, in the commit of a chunk with build_indexes, of any other
  // write to the table, or when the database is opened (docs/storage.md "Deferred index
  // build"). Until then searches by attribute may miss the copied rows.
  bool bulk = false;
  // Builds the index of every table of the database whose index is pending, in this chunk's
  // commit (the end of an initial copy sets it, with the vector floor).
  bool build_indexes = false;
  // Optional: the link's chain (see ApplyChain).
  std::shared_ptr<ApplyChain> chain;
  // Set by Store::PrepareCopyChunk (optional): the rows' work done ahead of the writer.
  std::shared_ptr<PreparedCopyRows> prepared;
};

struct ApplyResult {
  bool duplicate = false;   // origin_sequence was already applied: no row was touched
  size_t rows_applied = 0;  // rows that won last-writer-wins
  size_t rows_skipped = 0;  // rows older than (or equal to) what was stored
  uint64_t sequence = 0;    // local log sequence of the logged transaction; 0 when none
};

using ApplyCallback = std::function<void(Result<ApplyResult>)>;

// Runs on the writer thread after a commit: `last_sequence` is the database's highest log
// sequence after it. Must only post work elsewhere (never block, never call the Store's
// blocking calls, never add/remove listeners).
using CommitListener = std::function<void(const std::string& database, uint64_t last_sequence)>;

class Snapshot {
 public:
  virtual ~Snapshot() = default;
  // NotFound when the table does not exist. nullopt when the key is absent or deleted.
  virtual Result<std::optional<Record>> Get(const std::string& table,
                                            const boost::json::value& key) = 0;
  // Live records in primary-key order (numbers before strings).
  virtual Status ScanTable(const std::string& table, const RecordVisitor& visit) = 0;
  // Live records whose indexed `attribute` lies in `range`, in index order. An attribute
  // holding an array is indexed once per element (each record is visited once); objects are
  // not indexed. The primary key may be scanned too (it walks the records in key order).
  // InvalidArgument when not indexed.
  virtual Status ScanIndex(const std::string& table, const std::string& attribute,
                           const IndexRange& range, const RecordVisitor& visit) = 0;
  // Transaction-log entries with sequence >= from_sequence, in order.
  virtual Status ScanLog(uint64_t from_sequence, const LogVisitor& visit) = 0;

  // --- Replication reads (consistent with the data of this snapshot). ---
  // The database's version vector as of this snapshot.
  virtual Result<VersionVector> ReadVersionVector() = 0;
  // Every stored row of `table` in key order, tombstones included, as raw bytes.
  // NotFound when the table does not exist.
  virtual Status ScanRaw(const std::string& table, const RawVisitor& visit) = 0;
  // As ScanRaw, but each value as it is stored: record bytes (format 1) or a compressed row
  // (format 2, docs/storage.md "Compression at rest") naming a dictionary RecordDictionary
  // gives. For initial copies to peers that store such rows as they are. The default gives
  // ScanRaw's record bytes, which are valid stored values too.
  virtual Status ScanStored(const std::string& table, const RawVisitor& visit) {
    return ScanRaw(table, visit);
  }
  // The bytes of compression dictionary `id` that stored rows name; NotFound when none.
  virtual Result<std::string> RecordDictionary(uint32_t /*id*/) {
    return Status::NotFound("no compression dictionaries");
  }
  // The first log sequence whose version's milliseconds are >= `ms`; LastSequence() + 1
  // when there is none. A binary search that assumes versions grow with sequences: exact
  // for local writes; entries applied from peers carry their origin's (possibly older)
  // version, so the answer can be off by such entries (docs/storage.md).
  virtual Result<uint64_t> FindSequenceAtOrAfterTime(uint64_t ms) = 0;
  // The highest log sequence as of this snapshot (0 when empty).
  virtual Result<uint64_t> LastSequence() = 0;
  // The first sequence the log still holds: entries below it were trimmed by retention
  // (Store::TrimLog). 1 when nothing was ever trimmed.
  virtual Result<uint64_t> LogStart() { return uint64_t{1}; }
};

// Transaction-log retention (docs/replication.md "Retention and merge resync").
struct RetentionPolicy {
  uint64_t now_ms = 0;
  // Entries whose version time is older than now_ms - max_age_ms may go, but never past the
  // lowest position a known peer confirmed (NotePeerConfirmed). 0: no time limit.
  uint64_t max_age_ms = 0;
  // When the log holds more than this (pages of the log tree), the oldest entries go even
  // past unconfirmed peers (those peers then need a merge resync). 0: no size cap.
  uint64_t max_bytes = 0;
  // Most entries removed by one call (keeps the writer's pause short).
  uint64_t max_entries = 50000;
};

struct TrimResult {
  uint64_t log_start = 1;  // first retained sequence after the call
  uint64_t entries_removed = 0;
  // Peers whose confirmed position the size cap forced the log past (they need a merge).
  std::vector<std::string> peers_passed;
};

class Store {
 public:
  // Opens every database found under options.database_dir and starts the writer thread.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;  // stops the writer after draining queued writes

  // --- Schema. Each call blocks until the writer has committed it. ---
  // Conflict "database 'x' already exists".
  virtual Status CreateDatabase(const std::string& database) = 0;
  // NotFound "database 'x' does not exist". Removes the environment's files.
  virtual Status DropDatabase(const std::string& database) = 0;
  // Creates the database if missing. Conflict "Table 't' already exists in 'db'".
  virtual Status CreateTable(const TableDef& def) = 0;
  // NotFound as describe_table words it.
  virtual Status DropTable(const std::string& database, const std::string& table) = 0;
  // Conflict "attribute 'a' already exists in db.t".
  virtual Status CreateAttribute(const std::string& database, const std::string& table,
                                 const AttributeDef& attribute) = 0;

  // --- Catalog (in memory, consistent with the last committed schema change). ---
  [[nodiscard]] virtual std::vector<std::string> ListDatabases() const = 0;  // sorted
  [[nodiscard]] virtual Result<std::vector<TableDef>> ListTables(
      const std::string& database) const = 0;
  // NotFound "database 'db' does not exist" or "Table 'db.t' does not exist".
  [[nodiscard]] virtual Result<TableDef> GetTable(const std::string& database,
                                                  const std::string& table) const = 0;
  [[nodiscard]] virtual Result<TableStats> GetStats(const std::string& database,
                                                    const std::string& table) const = 0;
  // Bytes of `database`'s environment in use (up to its last page; the file is larger, see
  // LmdbEnv::ReserveAhead). NotFound when the database does not exist.
  virtual Result<uint64_t> UsedBytes(const std::string& database) const = 0;
  // Write requests waiting for the writer thread (local, replicated and copy chunks).
  [[nodiscard]] virtual size_t QueuedWrites() const = 0;

  // --- Records. ---
  // Queues `request`; `done` runs on the writer thread once it is committed (or failed), so
  // it must be quick (post the result elsewhere). Unavailable when the queue is full or the
  // store is closing. Unknown database/table -> NotFound; a request fails as a whole.
  // A key, attribute name or string that is not valid UTF-8 -> InvalidArgument, with `done`
  // run on the caller's thread before anything is queued (storage/write_text_check.h).
  // New attribute names are added to untyped tables' definitions in the same commit.
  virtual void WriteAsync(WriteRequest request, WriteCallback done) = 0;
  // As WriteAsync, except that when the writer is idle, nothing is queued and the last group
  // commit held a single write (a lone client), the calling thread commits `request` itself
  // and `done` runs on it before this returns: a lone client's write is answered without
  // waking the writer thread and then the caller's thread. `done` must not take a lock its
  // caller holds, and must be quick (the writer waits for it).
  virtual void WriteAsyncOrInline(WriteRequest request, WriteCallback done) = 0;
  // Blocking form of WriteAsync. Never call it (or a schema call) from a WriteCallback: the
  // writer thread would wait for itself.
  virtual Result<WriteResult> Write(WriteRequest request) = 0;

  // A read snapshot of one database. NotFound "database 'db' does not exist".
  [[nodiscard]] virtual Result<std::unique_ptr<Snapshot>> Read(
      const std::string& database) const = 0;

  // Highest transaction-log sequence committed in `database` (0 when empty).
  virtual Result<uint64_t> LastSequence(const std::string& database) const = 0;

  // --- Replication. See docs/storage.md "Replication". ---
  // Applies a peer's transaction through the writer (same group commit as local writes).
  // When txn.origin_sequence <= vector[origin] it was applied before: no row changes, only
  // the peer cursor moves (ApplyResult::duplicate). Otherwise each write is applied when its
  // (version, origin) is greater than the stored record's (last-writer-wins, ties to the
  // higher origin id); the whole transaction is appended to the log with its original
  // origin, origin_sequence and version (so relays forward it), and vector[origin] and the
  // peer cursor are written, all in one commit. All-or-nothing. A partial txn (see
  // ReplicatedTxn) never advances the vector and is logged only when a row won.
  // NotFound for a table neither present nor in txn.table_defs (or a missing database when
  // table_defs is empty; with table_defs the database is created); InvalidArgument or
  // Corruption for malformed writes. `done` runs on the writer thread: keep it quick.
  virtual void ApplyReplicatedAsync(ReplicatedTxn txn, ApplyCallback done) = 0;
  virtual Result<ApplyResult> ApplyReplicated(ReplicatedTxn txn) = 0;

  // Applies a chunk of an initial copy (rows last-writer-wins, as above). Rows are not
  // logged unless chunk.log_rows (merge resync; see CopyChunk): the copy is followed by
  // streaming from the snapshot's vector, which the last chunk (or SetVersionVectorFloor)
  // installs. Same errors as ApplyReplicatedAsync.
  virtual void ApplyCopyChunkAsync(CopyChunk chunk, ApplyCallback done) = 0;
  virtual Result<ApplyResult> ApplyCopyChunk(CopyChunk chunk) = 0;
  // Any thread, before ApplyCopyChunk(Async), optional: does ahead, on the caller's thread,
  // the per-row work of a `stored_values` chunk that needs no write transaction (decompressing
  // each value, decoding its header, parsing its document), so a copy's chunks are decoded
  // while the writer thread applies the ones before. Never an error and never a change of
  // outcome: a row it cannot decode (a dictionary neither the chunk nor committed meta holds
  // yet, a malformed value) is left to the writer, which also redoes every row when the chunk
  // logs its rows or names a dictionary id meta holds other bytes for. Must not run while
  // the chunk is applied.
  virtual void PrepareCopyChunk(CopyChunk& chunk) const = 0;
  // Raises the database's vector to at least `floor` (per origin maximum) in one commit.
  virtual Status SetVersionVectorFloor(const std::string& database, const VersionVector& floor) = 0;
  // Sets a peer's cursor (e.g. after a copy, or for start_time) in one commit.
  virtual Status SetPeerCursor(const std::string& database, const std::string& peer_name,
                               uint64_t peer_sequence) = 0;
  // The persisted cursor of `peer_name` in `database`: the peer's log sequence of the last
  // transaction applied from it; 0 when none. NotFound for a missing database.
  virtual Result<uint64_t> PeerCursor(const std::string& database,
                                      const std::string& peer_name) const = 0;
  // The subscription view persisted for `peer_name` by a CopyChunk's peer_view (opaque
  // bytes); nullopt when never written. NotFound for a missing database.
  [[nodiscard]] virtual Result<std::optional<std::string>> PeerView(
      const std::string& database, const std::string& peer_name) const = 0;
  // The committed version vector of `database` (a snapshot read).
  [[nodiscard]] virtual Result<VersionVector> ReadVersionVector(
      const std::string& database) const = 0;

  // Bumped (and persisted) by every schema change of the database: CreateTable, DropTable,
  // CreateAttribute, ApplyTableDef, attributes added by writes. 0 for a new database.
  virtual Result<uint64_t> SchemaVersion(const std::string& database) const = 0;
  // Creates the table (and database) when missing, else adds the attributes it lacks
  // (keeping their type/indexed flags). Idempotent; never removes or retypes anything.
  // Blocks until committed.
  virtual Status ApplyTableDef(const TableDef& def) = 0;

  // Registers `listener` (see CommitListener), called after every commit that advanced a
  // database's log or schema version. Returns an id for RemoveCommitListener. Once
  // RemoveCommitListener returns, the listener is not running and is never called again.
  virtual uint64_t AddCommitListener(CommitListener listener) = 0;
  virtual void RemoveCommitListener(uint64_t id) = 0;

  // --- Retention. ---
  // Records that `peer_name` confirmed (acknowledged) our log of `database` through
  // `sequence` (kept as a maximum). Cheap: kept in memory and persisted in meta
  // ("confirmed:<peer>") by the next TrimLog; a peer's first position is persisted at once
  // (asynchronously). After a crash a lower position may come back, which only makes trimming
  // more conservative. For a database that does not exist yet (a peer subscribed before it
  // reached us) the position is held, and the commit that creates the database persists it.
  virtual void NotePeerConfirmed(const std::string& database, const std::string& peer_name,
                                 uint64_t sequence) = 0;
  [[nodiscard]] virtual Result<std::map<std::string, uint64_t>> PeerConfirmedPositions(
      const std::string& database) const = 0;
  // Drops a peer's confirmed positions in every database, including those held for databases
  // not created yet (remove_node): it no longer holds any log back; its subscription views
  // ("view:<peer>") are deleted too. Asynchronous like NotePeerConfirmed; an unknown peer is
  // ignored.
  virtual void ForgetPeer(const std::string& peer_name) = 0;
  // Deletes old log entries per `policy` on the writer thread (blocks until committed) and
  // records the new start in meta ("log_start"). Never removes the last entry (so
  // LastSequence stays exact). NotFound for a missing database.
  virtual Result<TrimResult> TrimLog(const std::string& database,
                                     const RetentionPolicy& policy) = 0;
};

}  // namespace meshdb::storage
