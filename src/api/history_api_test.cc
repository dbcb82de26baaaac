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

TEST(HistoryBoundsTest, AsOfAndKnownAtKeepTheEventsOfTheirTimelines) {
  // e<i> occurred on day i after 2024-01-01 and was received at these record
  // times (ms): e1 arrived late.
  store::MemoryStore store;
  projections::HistoryProjection history;
  store::Transaction transaction(store);
  const int64_t received[] = {10, 50, 20, 30, 40};
  for (int index = 0; index < 5; ++index) {
    lok::v1::Event event;
    event.set_event_id("e" + std::to_string(index));
    event.set_source("crm");
    event.set_client_id("acme");
    event.mutable_occurred_at()->set_seconds(1704067200 + index * 86400);
    event.mutable_client_contacted();
    const std::string raw = event.SerializeAsString();
    ASSERT_TRUE(history.Apply(event, {0, index, received[index], raw}, transaction).ok());
  }
  store.Commit(*transaction.Finish());
  auto ids = [&](std::vector<std::pair<std::string, std::string>> query) {
    http::Request request;
    request.method = "GET";
    request.path = "/v1/clients/acme/history";
    request.query = std::move(query);
    http::Response response = HandleHistory(store, request);
    EXPECT_EQ(response.status, 200) << response.body;
    auto body = boost::json::parse(response.body).as_object();
    std::string listed;
    for (const auto& entry : body.at("events").as_array()) {
      listed += std::string(entry.at("event").at("eventId").as_string()) + " ";
    }
    return std::pair{listed, std::string(body.at("nextCursor").as_string())};
  };
  const std::string known = "1970-01-01T00:00:00.035Z";
  EXPECT_EQ(ids({{"knownAt", known}}).first, "e0 e2 e3 ");
  EXPECT_EQ(ids({{"asOf", "2024-01-03"}}).first, "e0 e1 e2 ");
  EXPECT_EQ(ids({{"asOf", "2024-01-03"}, {"knownAt", known}}).first, "e0 e2 ");
  EXPECT_EQ(ids({{"knownAt", known}, {"order", "desc"}}).first, "e3 e2 e0 ");
  // Paged: the pages hold only kept events, and the last says so.
  auto [first, cursor] = ids({{"knownAt", known}, {"limit", "2"}});
  EXPECT_EQ(first, "e0 e2 ");
  auto [second, end] = ids({{"knownAt", known}, {"limit", "2"}, {"after", cursor}});
  EXPECT_EQ(second, "e3 ");
  EXPECT_EQ(end, "");
  auto [two, no_more] = ids({{"knownAt", known}, {"limit", "3"}});
  EXPECT_EQ(no_more, "") << "e4 and e1 arrived later: nothing follows e3";
}

TEST_F(HistoryApiTest, BadParametersAreNamed) {
  http::Response limit = Get("/v1/clients/acme/history", {{"limit", "0"}});
  EXPECT_EQ(limit.status, 400);
  EXPECT_NE(limit.body.find("limit"), std::string::npos);
  EXPECT_EQ(Get("/v1/clients/acme/history", {{"after", "nothex"}}).status, 400);
  EXPECT_EQ(Get("/v1/clients/acme/history", {{"page", "2"}}).status, 400);
  http::Response known_at = Get("/v1/clients/acme/history", {{"knownAt", "soon"}});
  EXPECT_EQ(known_at.status, 400);
  EXPECT_NE(known_at.body.find("knownAt:"), std::string::npos);
}

}  // namespace
}  // namespace lok::api
