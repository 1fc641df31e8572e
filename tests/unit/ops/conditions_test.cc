// Condition parsing and matching (pure: no storage).
#include "ops/conditions.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace meshdb::ops {
namespace {

namespace json = boost::json;

json::object Obj(const char* text) { return json::parse(text).as_object(); }

std::string ParseError(const char* body) {
  Result<ConditionGroup> g = ParseConditions(Obj(body));
  return g.ok() ? "ok" : g.status().ToString();
}

bool Match(const char* body, const char* doc) {
  Result<ConditionGroup> g = ParseConditions(Obj(body));
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() && Matches(*g, Obj(doc));
}

TEST(ConditionsTest, ComparatorNames) {
  EXPECT_EQ(*ParseComparator("equals"), Comparator::kEquals);
  EXPECT_EQ(*ParseComparator("greater_than_equal"), Comparator::kGreaterThanEqual);
  EXPECT_EQ(*ParseComparator("between"), Comparator::kBetween);
  EXPECT_EQ(*ParseComparator("lte"), Comparator::kLessThanEqual);
  EXPECT_EQ(ParseComparator("bogus").status().ToString(),
            "InvalidArgument: Unknown query comparator \"bogus\"");
}

TEST(ConditionsTest, ParseErrorsNameThePath) {
  EXPECT_EQ(ParseError("{}"), "InvalidArgument: 'conditions' is required");
  EXPECT_EQ(ParseError(R"({"conditions":5})"), "InvalidArgument: 'conditions' must be an array");
  EXPECT_EQ(ParseError(R"({"conditions":[1]})"),
            "InvalidArgument: 'conditions[0]' must be of type object");
  EXPECT_EQ(ParseError(R"({"conditions":[{"search_type":"equals","search_value":1}]})"),
            "InvalidArgument: 'conditions[0].search_attribute' is required");
  EXPECT_EQ(ParseError(R"({"conditions":[{"attribute":"a","search_value":1}]})"),
            "InvalidArgument: 'conditions[0].search_type' is required");
  EXPECT_EQ(ParseError(R"({"conditions":[{"attribute":"a","comparator":"equals"}]})"),
            "InvalidArgument: 'conditions[0].search_value' is required");
  EXPECT_EQ(ParseError(R"({"conditions":[{"attribute":"a","comparator":"bogus","value":1}]})"),
            "InvalidArgument: Unknown query comparator \"bogus\"");
  EXPECT_EQ(ParseError(R"({"operator":"xor","conditions":[]})"),
            "InvalidArgument: 'operator' must be one of [and, or]");
  EXPECT_EQ(ParseError(R"({"conditions":[{"operator":"or","conditions":[{"attribute":"a"}]}]})"),
            "InvalidArgument: 'conditions[0].conditions[0].search_type' is required");
  EXPECT_EQ(ParseError(R"({"conditions":[{"attribute":"a","comparator":"between","value":[1]}]})"),
            "InvalidArgument: 'conditions[0].search_value' must be an array of two values for "
            "between");
}

TEST(ConditionsTest, NumbersCompareNumericallyStringsLexicographically) {
  const char* gt5 =
      R"({"conditions":[{"search_attribute":"a","search_type":"greater_than","search_value":5}]})";
  EXPECT_TRUE(Match(gt5, R"({"a":10})"));
  EXPECT_TRUE(Match(gt5, R"({"a":5.5})"));
  EXPECT_FALSE(Match(gt5, R"({"a":5})"));
  EXPECT_FALSE(Match(gt5, R"({"a":"10"})"));  // mixed types never match a range
  EXPECT_FALSE(Match(gt5, R"({"b":10})"));
  const char* lt_b = R"({"conditions":[{"attribute":"a","comparator":"less_than","value":"b"}]})";
  EXPECT_TRUE(Match(lt_b, R"({"a":"abc"})"));
  EXPECT_FALSE(Match(lt_b, R"({"a":"b"})"));
  EXPECT_FALSE(Match(lt_b, R"({"a":1})"));
  const char* eq1 = R"({"conditions":[{"attribute":"a","comparator":"equals","value":1}]})";
  EXPECT_TRUE(Match(eq1, R"({"a":1.0})"));
  EXPECT_FALSE(Match(eq1, R"({"a":"1"})"));
}

TEST(ConditionsTest, StringComparatorsAndArrays) {
  const char* sw = R"({"conditions":[{"attribute":"n","comparator":"starts_with","value":"Pe"}]})";
  EXPECT_TRUE(Match(sw, R"({"n":"Penny"})"));
  EXPECT_FALSE(Match(sw, R"({"n":"Harper"})"));
  const char* ew = R"({"conditions":[{"attribute":"n","comparator":"ends_with","value":"er"}]})";
  EXPECT_TRUE(Match(ew, R"({"n":"Harper"})"));
  const char* ct = R"({"conditions":[{"attribute":"n","comparator":"contains","value":"ar"}]})";
  EXPECT_TRUE(Match(ct, R"({"n":"Oscar"})"));
  EXPECT_TRUE(Match(ct, R"({"n":["x","barn"]})"));
  EXPECT_FALSE(Match(ct, R"({"n":5})"));
  const char* tag = R"({"conditions":[{"attribute":"t","comparator":"equals","value":"red"}]})";
  EXPECT_TRUE(Match(tag, R"({"t":["blue","red"]})"));
  const char* ne = R"({"conditions":[{"attribute":"t","comparator":"not_equal","value":"red"}]})";
  EXPECT_FALSE(Match(ne, R"({"t":["blue","red"]})"));
  EXPECT_TRUE(Match(ne, R"({"t":"blue"})"));
  EXPECT_TRUE(Match(ne, R"({})"));
}

TEST(ConditionsTest, BetweenIsInclusive) {
  const char* b = R"({"conditions":[{"attribute":"a","comparator":"between","value":[2,4]}]})";
  EXPECT_TRUE(Match(b, R"({"a":2})"));
  EXPECT_TRUE(Match(b, R"({"a":4})"));
  EXPECT_FALSE(Match(b, R"({"a":4.01})"));
  EXPECT_FALSE(Match(b, R"({"a":"3"})"));
}

TEST(ConditionsTest, AndOrNested) {
  const char* q = R"({"operator":"or","conditions":[
      {"attribute":"a","comparator":"equals","value":1},
      {"operator":"and","conditions":[
          {"attribute":"b","comparator":"greater_than","value":10},
          {"attribute":"c","comparator":"equals","value":"x"}]}]})";
  EXPECT_TRUE(Match(q, R"({"a":1})"));
  EXPECT_TRUE(Match(q, R"({"a":2,"b":11,"c":"x"})"));
  EXPECT_FALSE(Match(q, R"({"a":2,"b":11,"c":"y"})"));
  const char* all = R"({"conditions":[
      {"attribute":"a","comparator":"equals","value":1},
      {"attribute":"b","comparator":"equals","value":2}]})";
  EXPECT_TRUE(Match(all, R"({"a":1,"b":2})"));
  EXPECT_FALSE(Match(all, R"({"a":1,"b":3})"));
}

TEST(ConditionsTest, SearchValuePatterns) {
  EXPECT_FALSE(ConditionFromSearchValue("n", json::value("*")).has_value());
  auto c = ConditionFromSearchValue("n", json::value("Pe*"));
  EXPECT_EQ(c->comparator, Comparator::kStartsWith);
  EXPECT_EQ(c->value, json::value("Pe"));
  c = ConditionFromSearchValue("n", json::value("*er"));
  EXPECT_EQ(c->comparator, Comparator::kEndsWith);
  EXPECT_EQ(c->value, json::value("er"));
  c = ConditionFromSearchValue("n", json::value("*ar*"));
  EXPECT_EQ(c->comparator, Comparator::kContains);
  EXPECT_EQ(c->value, json::value("ar"));
  c = ConditionFromSearchValue("n", json::value("%"));
  EXPECT_EQ(c->comparator, Comparator::kEquals);
  c = ConditionFromSearchValue("n", json::value(7));
  EXPECT_EQ(c->comparator, Comparator::kEquals);
}

TEST(ConditionsTest, SortOrderFollowsIndexOrder) {
  std::vector<json::value> in = {json::value("b"),  json::value(10),  json::value(nullptr),
                                 json::value(true), json::value(2.5), json::value("a"),
                                 json::value(false)};
  std::sort(in.begin(), in.end(),
            [](const json::value& a, const json::value& b) { return CompareValues(a, b) < 0; });
  EXPECT_EQ(json::serialize(json::value_from(in)), R"([null,false,true,2.5E0,10,"a","b"])");
}

TEST(ConditionsTest, PlanUsesFirstIndexableConditionOfAnd) {
  auto indexed = [](const std::string& a) { return a == "age" || a == "name"; };
  auto g = ParseConditions(Obj(R"({"conditions":[
      {"attribute":"color","comparator":"equals","value":"red"},
      {"attribute":"name","comparator":"contains","value":"x"},
      {"attribute":"age","comparator":"greater_than","value":3}]})"));
  ASSERT_TRUE(g.ok());
  auto plan = PlanIndex(*g, indexed);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->attribute, "age");
  EXPECT_EQ(*plan->range.lower, json::value(3));
  EXPECT_FALSE(plan->range.lower_inclusive);

  g = ParseConditions(Obj(R"({"operator":"or","conditions":[
      {"attribute":"age","comparator":"equals","value":1},
      {"attribute":"name","comparator":"equals","value":"x"}]})"));
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(PlanIndex(*g, indexed).has_value());

  g = ParseConditions(Obj(R"({"conditions":[
      {"attribute":"name","comparator":"starts_with","value":"Pe"}]})"));
  ASSERT_TRUE(g.ok());
  plan = PlanIndex(*g, indexed);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(*plan->range.string_prefix, "Pe");
}

}  // namespace
}  // namespace meshdb::ops
