// Trains tables' record dictionaries (stored_record.h) off the writer thread.
//
// Training takes ~0.6 s (ZDICT_trainFromBuffer); on the writer it held every write of the
// node meanwhile. Instead the writer collects a table's samples (a scan of its first rows,
// in the group's transaction) and Start hands them to one background thread; the table's
// rows stay raw meanwhile. The finished dictionary goes to `install`, which the store sets to
// queue a writer task that calls InstallTableDictionary in its own commit and then Finished.
// Until Finished, Busy is true and the table starts no other training. Nothing is persisted
// before that commit, so a crash or a shutdown before it loses nothing: the next write to the
// table trains again.
//
// Thread-safety: thread-safe. Start, Busy and Finished are the writer's; `install` and the
// training hook run on the trainer's thread.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>

#include "common/thread_annotations.h"
#include "common/work_pool.h"
#include "storage/stored_record.h"

namespace meshdb::storage {

class DictionaryTrainer {
 public:
  // Trains a dictionary from samples ("" for none); TrainRecordDictionary unless a test hooks it.
  using TrainFn = std::function<std::string(const DictionarySamples&)>;
  // Receives a finished training (dictionary "" when zstd found none worth it). Trainer thread.
  using InstallFn =
      std::function<void(const std::string& database, const std::string& table, std::string dict)>;

  // `train`: null for TrainRecordDictionary.
  DictionaryTrainer(InstallFn install, TrainFn train);
  ~DictionaryTrainer();  // Shutdown()
  DictionaryTrainer(const DictionaryTrainer&) = delete;
  DictionaryTrainer& operator=(const DictionaryTrainer&) = delete;

  // True from Start of (database, table) until its Finished.
  bool Busy(const std::string& database, const std::string& table) const EXCLUDES(mu_);
  // Queues a training of `samples` for (database, table) unless it is Busy; after Shutdown,
  // drops it.
  void Start(const std::string& database, const std::string& table, DictionarySamples samples)
      EXCLUDES(mu_);
  // (database, table)'s training was installed, or given up: a later write may start another.
  void Finished(const std::string& database, const std::string& table) EXCLUDES(mu_);
  // Drops queued trainings and waits for a running one (and its `install` call) to return;
  // later Starts are dropped. Idempotent. Not from `install` or the hook.
  void Shutdown();

 private:
  using Key = std::pair<std::string, std::string>;  // database, table

  const InstallFn install_;
  const TrainFn train_;

  mutable common::Mutex mu_;
  std::set<Key> busy_ GUARDED_BY(mu_);
  common::WorkPool pool_;  // one thread: trainings take a core each
};

// PackRecord's DictionaryTraining for one database of a store: collects the samples in the
// writer's transaction and hands them to `trainer`; the row is stored raw meanwhile.
class BackgroundDictionaryTraining final : public DictionaryTraining {
 public:
  // Both must outlive this object (it lives for one PackRecord call).
  BackgroundDictionaryTraining(DictionaryTrainer& trainer, const std::string& database)
      : trainer_(trainer), database_(database) {}

  Result<std::optional<uint32_t>> Start(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                        RecordDictionaries& dicts,
                                        const std::string& table) override;

 private:
  DictionaryTrainer& trainer_;
  const std::string& database_;
};

}  // namespace meshdb::storage
