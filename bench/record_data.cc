#include "record_data.h"

#include <cstdint>
#include <cstdio>
#include <vector>

namespace meshdb::bench {
namespace {

// splitmix64: a bijection on 64-bit values whose outputs look random. Record i's values are
// drawn from Mix(i), Mix(Mix(i)), ... so every run generates the same records.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// 512 made-up words of 2-9 letters, the same in every run.
const std::vector<std::string>& Words() {
  static const std::vector<std::string> words = [] {
    std::vector<std::string> out;
    uint64_t state = 42;
    for (int i = 0; i < 512; ++i) {
      state = Mix(state);
      std::string word(2 + state % 8, 'a');
      for (size_t c = 0; c < word.size(); ++c)
        word[c] = static_cast<char>('a' + (state >> (8 + 5 * c)) % 26);
      out.push_back(std::move(word));
    }
    return out;
  }();
  return words;
}

}  // namespace

// Record `index`'s primary key as JSON: the index itself (sequential), a random integer
// below 2^53 (exact in a double, as JSON clients need), or a UUID.
std::string KeyJson(const DataShape& shape, long index) {
  if (shape.data == DataKind::kSequential) return std::to_string(index);
  uint64_t h = Mix(static_cast<uint64_t>(index));
  if (shape.keys == KeyKind::kInt) return std::to_string(h >> 11);
  uint64_t l = Mix(h);
  char uuid[40];
  std::snprintf(uuid, sizeof(uuid), "\"%08x-%04x-4%03x-%04x-%012llx\"",
                static_cast<unsigned>(h >> 32), static_cast<unsigned>((h >> 16) & 0xffff),
                static_cast<unsigned>(h & 0xfff),
                static_cast<unsigned>(0x8000 | ((l >> 48) & 0x3fff)),
                static_cast<unsigned long long>(l & 0xffffffffffffULL));
  return uuid;
}

// Record `index`'s name: `nameNNNNNN` (sequential) or `user-N` with N random below 10^7 (so
// about 5% of a million names are shared by two records).
std::string NameOf(const DataShape& shape, long index) {
  if (shape.data == DataKind::kSequential) {
    char name[32];
    std::snprintf(name, sizeof(name), "name%06ld", index % 1000000);
    return name;
  }
  uint64_t h = Mix(Mix(static_cast<uint64_t>(index)) ^ 0x5DEECE66DULL);
  return "user-" + std::to_string(h % 10000000);
}

// One record of about 180 bytes: id, a name, a number and 120 characters of text.
void AppendRecord(const DataShape& shape, std::string& out, long index) {
  out += R"({"id":)";
  out += KeyJson(shape, index);
  if (shape.data == DataKind::kSequential) {
    static const std::string text = [] {
      std::string t;
      const char* words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do ";
      while (t.size() < 120) t += words;
      t.resize(120);
      return t;
    }();
    out += R"(,"name":")";
    out += NameOf(shape, index);
    out += R"(","num":)";
    out += std::to_string((index * 7919) % 100000);
    out += R"(,"text":")";
    out += text;
    out += "\"}";
    return;
  }
  uint64_t h = Mix(Mix(static_cast<uint64_t>(index)) ^ 0x5DEECE66DULL);
  out += R"(,"name":")";
  out += NameOf(shape, index);
  out += R"(","num":)";
  h = Mix(h);
  out += std::to_string(h % 1000000000);
  out += R"(,"text":")";
  size_t text_start = out.size();
  while (out.size() - text_start < 120) {
    h = Mix(h);
    if (out.size() > text_start) out += ' ';
    out += Words()[h % Words().size()];
  }
  out.resize(text_start + 120);
  out += "\"}";
}

}  // namespace meshdb::bench
