#include "storage/dictionary_trainer.h"

#include <chrono>

#include "common/log.h"

namespace meshdb::storage {

DictionaryTrainer::DictionaryTrainer(InstallFn install, TrainFn train)
    : install_(std::move(install)),
      train_(train ? std::move(train) : TrainFn(TrainRecordDictionary)),
      pool_(1, "dictionary training") {}

DictionaryTrainer::~DictionaryTrainer() { Shutdown(); }

bool DictionaryTrainer::Busy(const std::string& database, const std::string& table) const {
  common::MutexLock lock(mu_);
  return busy_.contains(Key(database, table));
}

void DictionaryTrainer::Start(const std::string& database, const std::string& table,
                              DictionarySamples samples) {
  Key key(database, table);
  {
    common::MutexLock lock(mu_);
    if (!busy_.insert(key).second) return;
  }
  // The job owns the samples; the pool's Shutdown joins it before this object goes.
  const bool posted = pool_.Post([this, key, samples = std::move(samples)] {
    const auto start = std::chrono::steady_clock::now();
    std::string dict = train_(samples);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    log::For("storage")->info("{}.{}: compression dictionary trained from {} rows in {} ms",
                              key.first, key.second, samples.sizes.size(), ms);
    install_(key.first, key.second, std::move(dict));
  });
  if (!posted) Finished(database, table);
}

void DictionaryTrainer::Finished(const std::string& database, const std::string& table) {
  common::MutexLock lock(mu_);
  busy_.erase(Key(database, table));
}

void DictionaryTrainer::Shutdown() { pool_.Shutdown(); }

Result<std::optional<uint32_t>> BackgroundDictionaryTraining::Start(MDB_txn* txn, MDB_dbi meta,
                                                                    MDB_dbi records,
                                                                    RecordDictionaries& dicts,
                                                                    const std::string& table) {
  if (trainer_.Busy(database_, table)) return std::optional<uint32_t>();
  DictionarySamples samples;
  RETURN_IF_ERROR(CollectDictionarySamples(txn, meta, records, dicts, &samples));
  trainer_.Start(database_, table, std::move(samples));
  return std::optional<uint32_t>();
}

}  // namespace meshdb::storage
