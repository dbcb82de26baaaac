#include "api/query_params.h"

#include <gtest/gtest.h>

#include "base/civil_time.h"

namespace lok::api {
namespace {

http::Request WithQuery(std::vector<std::pair<std::string, std::string>> query) {
  http::Request request;
  request.method = "GET";
  request.path = "/v1/funnel";
  request.query = std::move(query);
  return request;
}

const ParamSpec kSpec = {{Breakdown::kSalesperson, Breakdown::kMonth}, true, true, {"mode"}};

TEST(QueryParamsTest, ParsesTheCommonParameters) {
  auto params = ParseQueryParams(WithQuery({{"from", "2024-01-01"},
                                            {"to", "2024-01-31"},
                                            {"salesperson", "ana"},
                                            {"by", "month"},
                                            {"currency", "EUR"},
                                            {"asOf", "2024-02-01"},
                                            {"limit", "10"},
                                            {"mode", "cohort"}}),
                                 kSpec, "USD");
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->from_day, ParseDate("2024-01-01"));
  EXPECT_TRUE(params->InWindow(*ParseDate("2024-01-31"))) << "to is inclusive";
  EXPECT_FALSE(params->InWindow(*ParseDate("2024-02-01")));
  EXPECT_EQ(params->salesperson, "ana");
  EXPECT_EQ(params->by, Breakdown::kMonth);
  EXPECT_EQ(params->currency, "EUR");
  EXPECT_EQ(params->limit, 10);
  EXPECT_EQ(params->extra.at("mode"), "cohort");
}

TEST(QueryParamsTest, DefaultsToTheReportingCurrency) {
  auto params = ParseQueryParams(WithQuery({}), kSpec, "USD");
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->currency, "USD");
  EXPECT_EQ(params->by, Breakdown::kNone);
}

TEST(QueryParamsTest, EveryBadValueNamesItsParameter) {
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{"from", "2024-13-01"}, "from: must be a date YYYY-MM-DD, got '2024-13-01'"},
      {{"by", "client"}, "by: must be one of month, salesperson, got 'client'"},
      {{"currency", "usd"}, "currency: must be an ISO 4217 code of three upper-case letters, got 'usd'"},
      {{"limit", "0"}, "limit: must be a whole number from 1 to 1000, got '0'"},
      {{"limit", "10x"}, "limit: must be a whole number from 1 to 1000, got '10x'"},
      {{"salesperson", ""}, "salesperson: must not be empty"},
  };
  for (const auto& [parameter, message] : cases) {
    auto params = ParseQueryParams(WithQuery({parameter}), kSpec, "USD");
    EXPECT_EQ(params.status().code(), StatusCode::kInvalidArgument) << parameter.first;
    EXPECT_EQ(params.status().message(), message);
  }
}

TEST(QueryParamsTest, UnknownRepeatedAndReversedAreRejected) {
  EXPECT_EQ(ParseQueryParams(WithQuery({{"form", "2024-01-01"}}), kSpec, "USD").status().message(),
            "unknown query parameter 'form'; allowed: asOf, by, client, currency, from, knownAt, "
            "limit, mode, product, region, salesperson, to");
  EXPECT_EQ(ParseQueryParams(WithQuery({{"client", "a"}, {"client", "b"}}), kSpec, "USD")
                .status()
                .message(),
            "client: given more than once");
  EXPECT_EQ(ParseQueryParams(WithQuery({{"from", "2024-02-01"}, {"to", "2024-01-01"}}), kSpec, "USD")
                .status()
                .message(),
            "to: must not be before from");
}

TEST(QueryParamsTest, AsOfAndLimitOnlyWhereTheEndpointTakesThem) {
  const ParamSpec bare;
  EXPECT_EQ(ParseQueryParams(WithQuery({{"limit", "5"}}), bare, "USD").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseQueryParams(WithQuery({{"by", "month"}}), bare, "USD").status().code(),
            StatusCode::kInvalidArgument);
}


TEST(QueryParamsTest, KnownAtIsTheEndOfADayOrAnInstant) {
  // 2025-06-30 is day 20,269 since the epoch; its last millisecond follows.
  EXPECT_EQ(*ParseKnownAt("2025-06-30"), (int64_t{20269} + 1) * 86400000 - 1);
  EXPECT_EQ(*ParseKnownAt("2025-06-30T18:00:00Z"), int64_t{20269} * 86400000 + 18 * 3600000);
  EXPECT_EQ(*ParseKnownAt("2025-06-30T20:00:00+02:00"), int64_t{20269} * 86400000 + 18 * 3600000);
  const Status bad = ParseKnownAt("30 June").status();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message().rfind("knownAt: must be a date YYYY-MM-DD or an RFC 3339 instant", 0), 0u)
      << bad.message();
}

TEST(QueryParamsTest, TheEvaluationDayIsAsOfElseTheDayOfKnownAtElseToday) {
  ParamSpec spec;
  spec.as_of = true;
  auto both = ParseQueryParams(WithQuery({{"asOf", "2025-01-31"}, {"knownAt", "2025-06-30"}}),
                               spec, "USD");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(both->EvaluationDay(1), *ParseDate("2025-01-31"));
  auto known = ParseQueryParams(WithQuery({{"knownAt", "2025-06-30T23:59:59Z"}}), spec, "USD");
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->EvaluationDay(1), *ParseDate("2025-06-30"));
  auto neither = ParseQueryParams(WithQuery({}), spec, "USD");
  EXPECT_EQ(neither->EvaluationDay(7), 7);
  EXPECT_FALSE(ParseQueryParams(WithQuery({{"knownAt", "2025-06-30"}}), ParamSpec{}, "USD").ok())
      << "knownAt only where the endpoint takes it";
}

}  // namespace
}  // namespace lok::api
