#include "common/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace meshdb::metrics {
namespace {

TEST(MetricsTest, CounterFamilyWritesHelpTypeAndSortedSamples) {
  Registry registry;
  Family* ops = registry.AddCounter("meshdb_test_total", "Things done.", {"operation", "status"});
  ops->GetCounter({"insert", "ok"})->Add(3);
  ops->GetCounter({"delete", "not_found"})->Add();
  EXPECT_EQ(
      "# HELP meshdb_test_total Things done.\n"
      "# TYPE meshdb_test_total counter\n"
      "meshdb_test_total{operation=\"delete\",status=\"not_found\"} 1\n"
      "meshdb_test_total{operation=\"insert\",status=\"ok\"} 3\n",
      registry.Render());
}

TEST(MetricsTest, SameNameGivesTheSameFamilyAndCell) {
  Registry registry;
  Family* a = registry.AddCounter("meshdb_same_total", "One.", {"x"});
  Family* b = registry.AddCounter("meshdb_same_total", "One.", {"x"});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->GetCounter({"1"}), b->GetCounter({"1"}));
}

TEST(MetricsTest, GaugeWithoutLabelsAndNegativeValue) {
  Registry registry;
  registry.AddGauge("meshdb_open", "Open things.")->GetGauge({})->Set(-2);
  EXPECT_EQ(
      "# HELP meshdb_open Open things.\n"
      "# TYPE meshdb_open gauge\n"
      "meshdb_open -2\n",
      registry.Render());
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry registry;
  Histogram* h =
      registry
          .AddHistogram("meshdb_wait_seconds", "Waits.", {"kind"}, {1'000'000, 10'000'000}, 1e9)
          ->GetHistogram({"a"});
  h->Observe(500'000);     // 0.5 ms: first bucket
  h->Observe(1'000'000);   // exactly the bound: first bucket (le is inclusive)
  h->Observe(5'000'000);   // second
  h->Observe(20'000'000);  // +Inf
  EXPECT_EQ(
      "# HELP meshdb_wait_seconds Waits.\n"
      "# TYPE meshdb_wait_seconds histogram\n"
      "meshdb_wait_seconds_bucket{kind=\"a\",le=\"0.001\"} 2\n"
      "meshdb_wait_seconds_bucket{kind=\"a\",le=\"0.01\"} 3\n"
      "meshdb_wait_seconds_bucket{kind=\"a\",le=\"+Inf\"} 4\n"
      "meshdb_wait_seconds_sum{kind=\"a\"} 0.0265\n"
      "meshdb_wait_seconds_count{kind=\"a\"} 4\n",
      registry.Render());
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Exposition out;
  ASSERT_TRUE(out.Begin("meshdb_x", "a \\ b\nc \"q\"", Type::kGauge));
  out.Sample({{"peer", "we\"ird\\na\nme"}}, uint64_t{1});
  EXPECT_EQ(
      "# HELP meshdb_x a \\\\ b\\nc \"q\"\n"
      "# TYPE meshdb_x gauge\n"
      "meshdb_x{peer=\"we\\\"ird\\\\na\\nme\"} 1\n",
      out.text());
}

TEST(MetricsTest, RefusesBadNamesAndRepeatedFamilies) {
  Exposition out;
  EXPECT_FALSE(out.Begin("9bad", "x", Type::kGauge));
  out.Sample({}, uint64_t{1});  // dropped: no family
  EXPECT_TRUE(out.Begin("meshdb_ok", "x", Type::kGauge));
  out.Sample({{"bad-label", "v"}}, uint64_t{1});   // dropped: bad label name
  out.Sample({{"__reserved", "v"}}, uint64_t{1});  // dropped: reserved
  out.Sample({{"le", "v"}}, uint64_t{1});          // dropped: le is the histogram's
  EXPECT_FALSE(out.Begin("meshdb_ok", "x", Type::kGauge));
  out.Sample({}, uint64_t{2});  // dropped: the repeated family was refused
  EXPECT_EQ("# HELP meshdb_ok x\n# TYPE meshdb_ok gauge\n", out.text());
}

TEST(MetricsTest, NamesAndValues) {
  EXPECT_TRUE(ValidMetricName("meshdb_a:b_1"));
  EXPECT_TRUE(ValidMetricName(":x"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_FALSE(ValidMetricName("a-b"));
  EXPECT_TRUE(ValidLabelName("peer_1"));
  EXPECT_FALSE(ValidLabelName("a:b"));
  EXPECT_FALSE(ValidLabelName("1a"));
  EXPECT_EQ("0", FormatValue(0));
  EXPECT_EQ("-3", FormatValue(-3));
  EXPECT_EQ("0.25", FormatValue(0.25));
  EXPECT_EQ("+Inf", FormatValue(std::numeric_limits<double>::infinity()));
  EXPECT_EQ("-Inf", FormatValue(-std::numeric_limits<double>::infinity()));
  EXPECT_EQ("NaN", FormatValue(std::numeric_limits<double>::quiet_NaN()));
}

TEST(MetricsTest, CollectorsWriteAfterFamiliesAndCanBeRemoved) {
  Registry registry;
  registry.AddCounter("meshdb_a_total", "A.")->GetCounter({})->Add(1);
  uint64_t id = registry.AddCollector([](Exposition& out) {
    out.Begin("meshdb_link_up", "Links.", Type::kGauge);
    out.Sample({{"peer", "n2"}}, uint64_t{1});
  });
  EXPECT_EQ(
      "# HELP meshdb_a_total A.\n# TYPE meshdb_a_total counter\nmeshdb_a_total 1\n"
      "# HELP meshdb_link_up Links.\n# TYPE meshdb_link_up gauge\nmeshdb_link_up{peer=\"n2\"} 1\n",
      registry.Render());
  registry.RemoveCollector(id);
  EXPECT_EQ("# HELP meshdb_a_total A.\n# TYPE meshdb_a_total counter\nmeshdb_a_total 1\n",
            registry.Render());
}

TEST(MetricsTest, ScrapeAccessDefaultsToLoopback) {
  Registry registry;
  EXPECT_TRUE(registry.MayScrape("127.0.0.1"));
  EXPECT_TRUE(registry.MayScrape("127.0.0.9"));
  EXPECT_TRUE(registry.MayScrape("::1"));
  EXPECT_FALSE(registry.MayScrape("10.0.0.1"));
  ScrapeAccess access;
  access.allowed = *common::IpAllowList::Parse({"10.0.0.0/8"});
  registry.SetScrapeAccess(access);
  EXPECT_TRUE(registry.MayScrape("10.1.2.3"));
  EXPECT_FALSE(registry.MayScrape("127.0.0.1"));
  access.enabled = false;
  registry.SetScrapeAccess(access);
  EXPECT_FALSE(registry.MayScrape("10.1.2.3"));
}

TEST(MetricsTest, ConcurrentAddsAreAllCounted) {
  Registry registry;
  Counter* c = registry.AddCounter("meshdb_c_total", "C.")->GetCounter({});
  Histogram* h =
      registry.AddHistogram("meshdb_h", "H.", {}, PowersOfTwoBounds(), 1)->GetHistogram({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c->Add();
        h->Observe(3);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(40000u, c->value());
  Histogram::Snapshot s = h->Read();
  EXPECT_EQ(40000u, s.count);
  EXPECT_EQ(120000u, s.sum);
  EXPECT_EQ(0u, s.cumulative[1]);      // le=2
  EXPECT_EQ(40000u, s.cumulative[2]);  // le=4
}

}  // namespace
}  // namespace meshdb::metrics
