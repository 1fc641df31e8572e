// json_parse_bench: the cost of parsing an insert body with meshdb::ParseJson (correctly
// rounded doubles) against Boost.JSON's own stream_parser (what the dispatcher used before),
// and what a FindNonFiniteNumber walk over every body would add.
//
// Realistic data: 1000 records per body with random ids (UUID-like, random order), random
// text of 20-120 characters, random doubles and integers, a nested object and an array.
//
//   ninja -C build json_parse_bench && build/bench/json_parse_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <boost/json/stream_parser.hpp>
#include <random>
#include <string>

#include "common/json_parse.h"
#include "common/json_text.h"

namespace {

std::string RandomBody(size_t records) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> real(-1e6, 1e6);
  std::uniform_int_distribution<int> length(20, 120);
  std::uniform_int_distribution<int> letter('a', 'z');
  auto text = [&] {
    std::string s;
    int n = length(rng);
    for (int i = 0; i < n; ++i) s += (i % 7 == 6) ? ' ' : static_cast<char>(letter(rng));
    return s;
  };
  std::string body = R"({"operation":"insert","database":"dev","table":"dog","records":[)";
  char buf[64];
  for (size_t i = 0; i < records; ++i) {
    if (i) body += ',';
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    body += R"({"id":")" + std::string(buf) + R"(","name":")" + text() + R"(","score":)";
    std::snprintf(buf, sizeof buf, "%.17g", real(rng));
    body += buf;
    body += R"(,"count":)" + std::to_string(rng() % 100000) + R"(,"ratio":)";
    std::snprintf(buf, sizeof buf, "%.17g", std::uniform_real_distribution<double>(0, 1)(rng));
    body += buf;
    body += R"(,"owner":{"name":")" + text() + R"(","age":)" + std::to_string(rng() % 90) +
            R"(},"tags":[")" + text().substr(0, 10) + R"(",")" + text().substr(0, 8) + R"("]})";
  }
  return body + "]}";
}

const std::string& Body() {
  static const std::string body = RandomBody(1000);
  return body;
}

void BM_BoostStreamParser(benchmark::State& state) {
  const std::string& body = Body();
  for (auto _ : state) {
    boost::json::stream_parser parser;
    boost::system::error_code ec;
    parser.write(body.data(), body.size(), ec);
    parser.finish(ec);
    benchmark::DoNotOptimize(parser.release());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_BoostStreamParser);

void BM_ParseJson(benchmark::State& state) {
  const std::string& body = Body();
  for (auto _ : state) {
    boost::system::error_code ec;
    benchmark::DoNotOptimize(meshdb::ParseJson(body, ec));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseJson);

// What a walk over every body would cost (the dispatcher walks only when ParseJson saw a
// non-finite number).
void BM_ParseJsonAndWalk(benchmark::State& state) {
  const std::string& body = Body();
  for (auto _ : state) {
    boost::system::error_code ec;
    boost::json::value v = meshdb::ParseJson(body, ec);
    benchmark::DoNotOptimize(meshdb::FindNonFiniteNumber(v));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseJsonAndWalk);

}  // namespace

BENCHMARK_MAIN();
