#include "api/restatement_api.h"

#include <gtest/gtest.h>

namespace lok::api {
namespace {

TEST(RestatementDiffTest, NamesEachChangedNumberByItsRowsAndMonth) {
  const boost::json::value old_answer = boost::json::parse(R"({
    "offsets": {"0": 5},
    "rows": [
      {"key": "2025-04", "metrics": {"stages": [{"stage": "WON", "deals": "2"}]}},
      {"key": "2025-05", "metrics": {"stages": [{"stage": "WON", "deals": "3"}]}}],
    "plan": [
      {"period": "2025-05", "salesperson": "ana", "actual": {"minor": "100"}},
      {"period": "2025-05", "salesperson": "bo", "actual": {"minor": "200"}}],
    "winRate": 0.5})");
  const boost::json::value new_answer = boost::json::parse(R"({
    "offsets": {"0": 9},
    "rows": [
      {"key": "2025-04", "metrics": {"stages": [{"stage": "WON", "deals": "2"}]}},
      {"key": "2025-05", "metrics": {"stages": [{"stage": "WON", "deals": "4"}]}},
      {"key": "2025-06", "metrics": {"stages": [{"stage": "WON", "deals": "1"}]}}],
    "plan": [
      {"period": "2025-05", "salesperson": "bo", "actual": {"minor": "260"}},
      {"period": "2025-05", "salesperson": "ana", "actual": {"minor": "100"}}],
    "winRate": 0.6})");
  std::vector<RestatedNumber> changes = DiffAnswers(old_answer, new_answer, "funnel");
  std::map<std::string, RestatedNumber> by_metric;
  for (const RestatedNumber& change : changes) by_metric[change.metric] = change;
  ASSERT_EQ(by_metric.size(), 6u) << "offsets are not numbers of the answer";
  const RestatedNumber& won = by_metric.at("funnel.rows[2025-05].metrics.stages[WON].deals");
  EXPECT_EQ(won.period, "2025-05");
  EXPECT_EQ(won.old_value, "3");
  EXPECT_EQ(won.new_value, "4");
  // Plan rows are matched by period and salesperson, not by position.
  const RestatedNumber& plan = by_metric.at("funnel.plan[2025-05/bo].actual.minor");
  EXPECT_EQ(plan.old_value, "200");
  EXPECT_EQ(plan.new_value, "260");
  EXPECT_EQ(plan.period, "2025-05");
  // A row that did not exist: its leaves go from null.
  const RestatedNumber& june = by_metric.at("funnel.rows[2025-06].metrics.stages[WON].deals");
  EXPECT_TRUE(june.old_value.is_null());
  EXPECT_EQ(june.period, "2025-06");
  EXPECT_TRUE(by_metric.contains("funnel.rows[2025-06].key"));
  EXPECT_TRUE(by_metric.contains("funnel.rows[2025-06].metrics.stages[WON].stage"));
  EXPECT_EQ(by_metric.at("funnel.winRate").period, "") << "not about one month";
  EXPECT_TRUE(DiffAnswers(old_answer, old_answer, "funnel").empty());
}

}  // namespace
}  // namespace lok::api
