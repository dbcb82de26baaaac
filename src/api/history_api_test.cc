#include "api/history_api.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "projections/history.h"

namespace lok::api {
namespace {

class HistoryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Transaction transaction(store_);
    for (int index = 0; index < 3; ++index) {
      lok::v1::Event event;
      event.set_event_id("e" + std::to_string(index));
      event.set_source("crm");
      event.set_client_id("acme");
      event.set_deal_id("d1");
      event.mutable_occurred_at()->set_seconds(1704067200 + index);
      event.mutable_lead_qualified();
      const std::string raw = event.SerializeAsString();
      ASSERT_TRUE(history_.Apply(event, {0, index, 0, raw}, transaction).ok());
    }
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok());
    store_.Commit(*changes);
  }

  http::Response Get(std::string path, std::vector<std::pair<std::string, std::string>> query = {}) {
    http::Request request;
    request.method = "GET";
    request.path = std::move(path);
    request.query = std::move(query);
    return HandleHistory(store_, request);
  }

  store::MemoryStore store_;
  projections::HistoryProjection history_;
};

TEST_F(HistoryApiTest, ClientAndDealHistoriesPageWithACursor) {
  EXPECT_TRUE(IsHistoryPath("/v1/clients/acme/history"));
  EXPECT_TRUE(IsHistoryPath("/v1/deals/d1/history"));
  EXPECT_FALSE(IsHistoryPath("/v1/clients/acme"));
  http::Response first = Get("/v1/clients/acme/history", {{"limit", "2"}});
  ASSERT_EQ(first.status, 200) << first.body;
  auto page = boost::json::parse(first.body).as_object();
  ASSERT_EQ(page.at("events").as_array().size(), 2U);
  EXPECT_EQ(page.at("events").as_array()[0].at("event").at("eventId").as_string(), "e0");
  const std::string cursor(page.at("nextCursor").as_string());
  http::Response second = Get("/v1/clients/acme/history", {{"limit", "2"}, {"after", cursor}});
  auto rest = boost::json::parse(second.body).as_object();
  ASSERT_EQ(rest.at("events").as_array().size(), 1U);
  EXPECT_EQ(rest.at("events").as_array()[0].at("offset").as_string(), "2");
  EXPECT_EQ(rest.at("nextCursor").as_string(), "");
  EXPECT_EQ(boost::json::parse(Get("/v1/deals/d1/history").body).at("events").as_array().size(), 3U);
}

TEST_F(HistoryApiTest, BadParametersAreNamed) {
  http::Response limit = Get("/v1/clients/acme/history", {{"limit", "0"}});
  EXPECT_EQ(limit.status, 400);
  EXPECT_NE(limit.body.find("limit"), std::string::npos);
  EXPECT_EQ(Get("/v1/clients/acme/history", {{"after", "nothex"}}).status, 400);
  EXPECT_EQ(Get("/v1/clients/acme/history", {{"page", "2"}}).status, 400);
}

}  // namespace
}  // namespace lok::api
