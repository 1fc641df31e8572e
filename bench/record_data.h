// The records the benchmarks write: realistic by default, so B-tree figures are what users see.
//
// `kRandom` is what users' tables hold: keys in random order (integers below 2^53, or UUIDs),
// `user-N` names with N random below 10^7 (about 5% of a million names are shared), random
// numbers below 10^9 and 120 characters of random words. `kSequential` is the old flattering
// data: keys 0, 1, 2, ..., names and numbers derived from the key and one repeated text, so
// index inserts land next to each other (a B-tree looks 2-3x faster than on real data).
// Record i is the same in every run and every program (a hash of i), so two systems get the
// same data and a reader finds what a writer wrote.
// Thread-safety: pure functions (Words() is built once, thread-safely).
#pragma once

#include <string>

namespace meshdb::bench {

enum class DataKind { kRandom, kSequential };
enum class KeyKind { kInt, kUuid };  // kUuid needs kRandom

struct DataShape {
  DataKind data = DataKind::kRandom;
  KeyKind keys = KeyKind::kInt;
};

// Record `index`'s primary key as JSON text: a number, or a quoted UUID.
std::string KeyJson(const DataShape& shape, long index);

// Record `index`'s name (`nameNNNNNN` or `user-N`).
std::string NameOf(const DataShape& shape, long index);

// Appends record `index` as a JSON object of about 180 bytes: id, name, num and text.
void AppendRecord(const DataShape& shape, std::string& out, long index);

}  // namespace meshdb::bench
