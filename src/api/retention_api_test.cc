#include "api/retention_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "base/civil_time.h"

namespace lok::api {
namespace {

using lok::v1::Event;

const int64_t kBase = *ParseDate("2024-01-01");

Event Won(std::string id, std::string client, int64_t day, std::string deal) {
  Event event;
  event.set_event_id(std::move(id));
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds((kBase + day) * 86400);
  event.set_client_id(std::move(client));
  event.set_deal_id(std::move(deal));
  event.mutable_deal_won()->mutable_amount()->set_minor(1000);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

class RetentionApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    projections::RetentionProjection projection;
    store::Transaction transaction(store_);
    int64_t offset = 0;
    for (const Event& event : {Won("1", "acme", 0, "d1"), Won("2", "acme", 30, "d2"),
                               Won("3", "zeta", 0, "d3"), Won("4", "zeta", 50, "d4")}) {
      ASSERT_TRUE(projection.Apply(event, {0, offset++, 0}, transaction).ok());
    }
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok());
    store_.Commit(*changes);
    settings_.today_day = kBase + 100;
  }

  http::Response Get(std::vector<std::pair<std::string, std::string>> query) {
    return HandleRetention(
        store_, http::Request{.method = "GET", .path = "/v1/retention", .query = query}, settings_);
  }

  store::MemoryStore store_;
  RetentionApiSettings settings_;
};

TEST_F(RetentionApiTest, AnswersTheQueueAsJson) {
  http::Response response = Get({});
  ASSERT_EQ(response.status, 200) << response.body;
  boost::json::object body = boost::json::parse(response.body).as_object();
  EXPECT_EQ(body["asOf"].as_string(), "2024-04-10");  // today_day
  EXPECT_EQ(body["currency"].as_string(), "USD");
  EXPECT_EQ(body["complete"].as_bool(), true);
  auto& entries = body["entries"].as_array();
  ASSERT_EQ(entries.size(), 2u);
  // acme: last contact day 30, 40 days beyond the cadence; zeta: 20 days.
  auto& acme = entries[0].as_object();
  EXPECT_EQ(acme["clientId"].as_string(), "acme");
  EXPECT_EQ(acme["nextContactDue"].as_string(), "2024-03-01");
  EXPECT_EQ(acme["lastContact"].as_string(), "2024-01-31");
  EXPECT_EQ(acme["wonDeals"].as_string(), "2");  // int64 as a string
  auto& reason = acme["reasons"].as_array()[0].as_object();
  EXPECT_EQ(reason["term"].as_string(), "contact_overdue");
  EXPECT_EQ(reason["days"].as_string(), "40");
  EXPECT_TRUE(reason.contains("value"));
  EXPECT_TRUE(reason.contains("weight"));
  EXPECT_TRUE(reason.contains("contribution"));
  EXPECT_EQ(acme["revenue"].as_array()[0].as_object()["minor"].as_string(), "2000");
  EXPECT_EQ(entries[1].as_object()["clientId"].as_string(), "zeta");
}

TEST_F(RetentionApiTest, ParametersNarrowTheQueue) {
  http::Response limited = Get({{"limit", "1"}, {"asOf", "2024-03-15"}});
  ASSERT_EQ(limited.status, 200) << limited.body;
  boost::json::object body = boost::json::parse(limited.body).as_object();
  EXPECT_EQ(body["asOf"].as_string(), "2024-03-15");
  ASSERT_EQ(body["entries"].as_array().size(), 1u);
  // On 2024-03-01 (day 60) neither is overdue yet.
  http::Response early = Get({{"asOf", "2024-03-01"}});
  EXPECT_EQ(boost::json::parse(early.body).as_object()["entries"].as_array().size(), 0u);
  http::Response client = Get({{"client", "zeta"}});
  EXPECT_EQ(boost::json::parse(client.body).as_object()["entries"].as_array().size(), 1u);
  http::Response nobody = Get({{"salesperson", "ana"}});
  EXPECT_EQ(boost::json::parse(nobody.body).as_object()["entries"].as_array().size(), 0u);
}

TEST_F(RetentionApiTest, BadParametersAre400sNamingThem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"asOf", "2024-13-01"}, {"limit", "0"},         {"currency", "usd"},
      {"by", "region"},       {"from", "2024-01-01"}, {"product", "x"}};
  for (const auto& [name, value] : cases) {
    http::Response response = Get({{name, value}});
    EXPECT_EQ(response.status, 400) << name;
    EXPECT_NE(response.body.find(name), std::string::npos) << response.body;
  }
  http::Response unknown = Get({{"mode", "x"}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("'mode'"), std::string::npos) << unknown.body;
}

}  // namespace
}  // namespace lok::api
