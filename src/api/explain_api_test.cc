#include "api/explain_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "projections/funnel.h"
#include "projections/history.h"
#include "projections/provenance.h"

namespace lok::api {
namespace {

constexpr int64_t kJan1 = 1704067200;  // 2024-01-01
constexpr int64_t kDay = 86400;

// Hand-built: acme has deal a (won 1000 USD on Jan 20), deal b (lost), deal
// c (lead only, Feb); zenith has deal z (won 700 USD). acme was contacted on
// Jan 25 and has invoice i1 delayed, then paid, and i2 delayed.
class ExplainApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int64_t offset = 0;
    auto add = [&](std::string id, std::string client, std::string deal, int64_t at,
                   const std::function<void(lok::v1::Event&)>& payload) {
      lok::v1::Event event;
      event.set_event_id(std::move(id));
      event.set_source("crm");
      event.set_client_id(std::move(client));
      event.set_deal_id(std::move(deal));
      event.mutable_occurred_at()->set_seconds(at);
      payload(event);
      events_.push_back(event);
      positions_.push_back({static_cast<int32_t>(offset % 2), offset, 0});
      ++offset;
    };
    auto lead = [](lok::v1::Event& event) {
      event.mutable_lead_created()->set_salesperson("ana");
      event.mutable_lead_created()->set_region("north");
    };
    auto won = [](int64_t minor) {
      return [minor](lok::v1::Event& event) {
        event.mutable_deal_won()->mutable_amount()->set_minor(minor);
        event.mutable_deal_won()->mutable_amount()->set_currency("USD");
      };
    };
    add("a1", "acme", "a", kJan1 + 2 * kDay, lead);
    add("a2", "acme", "a", kJan1 + 19 * kDay, won(1000));
    add("b1", "acme", "b", kJan1 + 3 * kDay, lead);
    add("b2", "acme", "b", kJan1 + 10 * kDay,
        [](lok::v1::Event& event) { event.mutable_deal_lost()->set_reason("price"); });
    add("c1", "acme", "c", kJan1 + 40 * kDay, lead);
    add("z1", "zenith", "z", kJan1 + 4 * kDay, lead);
    add("z2", "zenith", "z", kJan1 + 12 * kDay, won(700));
    add("k1", "acme", "", kJan1 + 24 * kDay,
        [](lok::v1::Event& event) { event.mutable_client_contacted()->set_salesperson("ana"); });
    auto delayed = [](std::string invoice) {
      return [invoice](lok::v1::Event& event) {
        event.mutable_payment_delayed()->set_invoice_id(invoice);
        event.mutable_payment_delayed()->set_days_overdue(5);
        event.mutable_payment_delayed()->mutable_outstanding()->set_minor(300);
        event.mutable_payment_delayed()->mutable_outstanding()->set_currency("USD");
      };
    };
    add("p1", "acme", "", kJan1 + 5 * kDay, delayed("i1"));
    add("p2", "acme", "", kJan1 + 8 * kDay, [](lok::v1::Event& event) {
      event.mutable_payment_received()->set_invoice_id("i1");
      event.mutable_payment_received()->mutable_amount()->set_minor(300);
      event.mutable_payment_received()->mutable_amount()->set_currency("USD");
    });
    add("p3", "acme", "", kJan1 + 9 * kDay, delayed("i2"));

    store::Transaction transaction(store_);
    for (size_t index = 0; index < events_.size(); ++index) {
      const std::string raw = events_[index].SerializeAsString();
      projections::EventPosition position = positions_[index];
      position.record_value = raw;
      for (projections::Projection* projection :
           std::initializer_list<projections::Projection*>{&funnel_, &history_, &provenance_}) {
        ASSERT_TRUE(projection->Apply(events_[index], position, transaction).ok());
      }
    }
    store_.Commit(*transaction.Finish());
  }

  static http::Request Get(std::string path,
                           std::vector<std::pair<std::string, std::string>> query) {
    http::Request request;
    request.method = "GET";
    request.path = std::move(path);
    request.query = std::move(query);
    return request;
  }

  boost::json::object Funnel(std::vector<std::pair<std::string, std::string>> query) {
    http::Response response =
        HandleFunnelExplain(store_, Get("/v1/funnel/explain", std::move(query)), "USD");
    EXPECT_EQ(response.status, 200) << response.body;
    return boost::json::parse(response.body).as_object();
  }

  std::vector<lok::v1::Event> events_;
  std::vector<projections::EventPosition> positions_;
  store::MemoryStore store_;
  projections::FunnelProjection funnel_;
  projections::HistoryProjection history_;
  projections::ProvenanceIndex provenance_;
};

TEST_F(ExplainApiTest, FunnelWonListsTheWonDealsWithTheirEventsAndLogPositions) {
  boost::json::object explained =
      Funnel({{"stage", "WON"}, {"from", "2024-01-01"}, {"to", "2024-01-31"}});
  EXPECT_EQ(explained.at("count"), 2);
  EXPECT_EQ(explained.at("amount").at("minor"), 1700);
  const auto& deals = explained.at("deals").as_array();
  ASSERT_EQ(deals.size(), 2U);
  // Cohort order: by the day the lead started (a on Jan 3, z on Jan 5).
  EXPECT_EQ(deals[0].at("dealId"), "a");
  EXPECT_EQ(deals[0].at("clientId"), "acme");
  EXPECT_EQ(deals[0].at("amount").at("minor"), 1000);
  const auto& events = deals[0].at("events").as_array();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].at("eventId"), "a1");
  EXPECT_EQ(events[0].at("source"), "crm");
  EXPECT_EQ(events[0].at("type"), "lead_created");
  EXPECT_EQ(events[0].at("partition"), 0);
  EXPECT_EQ(events[0].at("offset"), 0);
  EXPECT_EQ(events[1].at("eventId"), "a2");
  EXPECT_EQ(events[1].at("partition"), 1);
  EXPECT_EQ(events[1].at("offset"), 1);
  EXPECT_EQ(deals[1].at("dealId"), "z");
  EXPECT_EQ(explained.at("nextCursor"), "");

  // The same count as the funnel for the same parameters.
  projections::FunnelQuery query;
  query.from_day = 19723;  // 2024-01-01
  query.to_day = 19753;
  auto funnel = projections::QueryFunnel(store_, query);
  ASSERT_TRUE(funnel.ok());
  EXPECT_EQ(funnel->stages(3).deals(), 2);
  EXPECT_EQ(Funnel({{"stage", "LEAD"}, {"from", "2024-01-01"}, {"to", "2024-01-31"}}).at("count"),
            funnel->stages(0).deals());
  EXPECT_EQ(Funnel({{"stage", "LOST"}, {"from", "2024-01-01"}, {"to", "2024-01-31"}}).at("count"),
            funnel->stages(4).deals());
}

TEST_F(ExplainApiTest, FunnelFiltersPagesAndPeriodMode) {
  EXPECT_EQ(Funnel({{"stage", "LEAD"}, {"client", "acme"}}).at("count"), 3);
  EXPECT_EQ(Funnel({{"stage", "LEAD"}, {"salesperson", "bo"}}).at("count"), 0);
  // Period mode: WON entered on Jan 13 (z) and Jan 20 (a).
  boost::json::object period =
      Funnel({{"stage", "WON"}, {"mode", "period"}, {"from", "2024-01-15"}});
  EXPECT_EQ(period.at("count"), 1);
  EXPECT_EQ(period.at("deals").at(0).at("dealId"), "a");
  boost::json::object first = Funnel({{"stage", "LEAD"}, {"limit", "2"}});
  EXPECT_EQ(first.at("count"), 4);
  ASSERT_EQ(first.at("deals").as_array().size(), 2U);
  const std::string cursor(first.at("nextCursor").as_string());
  ASSERT_FALSE(cursor.empty());
  boost::json::object second = Funnel({{"stage", "LEAD"}, {"limit", "2"}, {"after", cursor}});
  ASSERT_EQ(second.at("deals").as_array().size(), 2U);
  EXPECT_EQ(second.at("nextCursor"), "");
  EXPECT_NE(first.at("deals").at(0).at("dealId"), second.at("deals").at(0).at("dealId"));
}

TEST_F(ExplainApiTest, BadParametersAreNamed) {
  auto status_and_error = [&](std::vector<std::pair<std::string, std::string>> query) {
    http::Response response =
        HandleFunnelExplain(store_, Get("/v1/funnel/explain", std::move(query)), "USD");
    return std::pair{
        response.status,
        std::string(boost::json::parse(response.body).at("error").at("message").as_string())};
  };
  auto [missing, missing_error] = status_and_error({});
  EXPECT_EQ(missing, 400);
  EXPECT_NE(missing_error.find("stage: required"), std::string::npos) << missing_error;
  auto [bad, bad_error] = status_and_error({{"stage", "WONN"}});
  EXPECT_EQ(bad, 400);
  EXPECT_NE(bad_error.find("'WONN'"), std::string::npos) << bad_error;
  auto [unknown, unknown_error] = status_and_error({{"stage", "WON"}, {"by", "month"}});
  EXPECT_EQ(unknown, 400);
  auto [cursor, cursor_error] = status_and_error({{"stage", "WON"}, {"after", "xyz"}});
  EXPECT_EQ(cursor, 400);
  EXPECT_NE(cursor_error.find("after:"), std::string::npos) << cursor_error;
  http::Response no_client =
      HandleConcentrationExplain(store_, Get("/v1/concentration/explain", {}), "USD");
  EXPECT_EQ(no_client.status, 400);
  EXPECT_NE(no_client.body.find("client: required"), std::string::npos);
}

TEST_F(ExplainApiTest, ConcentrationListsTheClientsWonDealsInTheWindow) {
  http::Response response = HandleConcentrationExplain(
      store_,
      Get("/v1/concentration/explain",
          {{"client", "acme"}, {"from", "2024-01-01"}, {"to", "2024-01-31"}}),
      "USD");
  ASSERT_EQ(response.status, 200) << response.body;
  boost::json::object explained = boost::json::parse(response.body).as_object();
  EXPECT_EQ(explained.at("count"), 1);
  EXPECT_EQ(explained.at("amount").at("minor"), 1000);
  EXPECT_EQ(explained.at("deals").at(0).at("dealId"), "a");
  EXPECT_EQ(explained.at("deals").at(0).at("wonAt"), "2024-01-20T00:00:00Z");
  EXPECT_EQ(explained.at("deals").at(0).at("events").as_array().size(), 2U);

  // The endpoint's windows: whole months, by default the 12 months ending
  // with asOf's month.
  response = HandleConcentrationExplain(
      store_,
      Get("/v1/concentration/explain",
          {{"client", "acme"}, {"from", "2024-01-21"}, {"to", "2024-01-22"}}),
      "USD");
  explained = boost::json::parse(response.body).as_object();
  EXPECT_EQ(explained.at("count"), 1) << "2024-01-21..22 snaps to January";
  EXPECT_EQ(explained.at("from"), "2024-01-01");
  EXPECT_EQ(explained.at("to"), "2024-01-31");
  response = HandleConcentrationExplain(
      store_, Get("/v1/concentration/explain", {{"client", "acme"}, {"asOf", "2024-12-05"}}),
      "USD");
  explained = boost::json::parse(response.body).as_object();
  EXPECT_EQ(explained.at("from"), "2024-01-01");
  EXPECT_EQ(explained.at("to"), "2024-12-31");
  EXPECT_EQ(explained.at("count"), 1);
  response = HandleConcentrationExplain(
      store_, Get("/v1/concentration/explain", {{"client", "acme"}, {"asOf", "2025-02-01"}}),
      "USD");
  EXPECT_EQ(boost::json::parse(response.body).at("count"), 0) << "January 2024 is out of that year";
}

TEST_F(ExplainApiTest, RetentionNamesTheEventsBehindEachReason) {
  http::Response response = HandleRetentionExplain(
      store_, Get("/v1/retention/explain", {{"client", "acme"}, {"asOf", "2024-01-31"}}));
  ASSERT_EQ(response.status, 200) << response.body;
  boost::json::object explained = boost::json::parse(response.body).as_object();
  EXPECT_EQ(explained.at("lastContact").at("date"), "2024-01-25");
  ASSERT_EQ(explained.at("lastContact").at("events").as_array().size(), 1U);
  EXPECT_EQ(explained.at("lastContact").at("events").at(0).at("eventId"), "k1");
  const auto& delays = explained.at("openDelays").as_array();
  ASSERT_EQ(delays.size(), 1U);  // i1 was paid after its delay
  EXPECT_EQ(delays[0].at("invoiceId"), "i2");
  EXPECT_EQ(delays[0].at("dueDate"), "2024-01-05");
  EXPECT_EQ(delays[0].at("event").at("offset"), 10);
  const auto& wins = explained.at("wonDeals").as_array();
  ASSERT_EQ(wins.size(), 1U);
  EXPECT_EQ(wins[0].at("dealId"), "a");
  EXPECT_EQ(wins[0].at("event").at("eventId"), "a2");
  EXPECT_EQ(explained.at("wonDealsTotal"), 1);
  EXPECT_EQ(explained.at("nextCursor"), "");

  // Paged: one item of each list per page.
  response = HandleRetentionExplain(
      store_, Get("/v1/retention/explain",
                  {{"client", "acme"}, {"asOf", "2024-01-31"}, {"limit", "1"}, {"after", "1"}}));
  ASSERT_EQ(response.status, 200) << response.body;
  explained = boost::json::parse(response.body).as_object();
  EXPECT_TRUE(explained.at("wonDeals").as_array().empty()) << "page 2 of 1";
  EXPECT_EQ(explained.at("wonDealsTotal"), 1);
  response = HandleRetentionExplain(
      store_, Get("/v1/retention/explain", {{"client", "acme"}, {"after", "x"}}));
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.body.find("after:"), std::string::npos);

  // Earlier, i1 was still open and nothing was won yet.
  response = HandleRetentionExplain(
      store_, Get("/v1/retention/explain", {{"client", "acme"}, {"asOf", "2024-01-07"}}));
  explained = boost::json::parse(response.body).as_object();
  EXPECT_EQ(explained.at("openDelays").at(0).at("invoiceId"), "i1");
  EXPECT_TRUE(explained.at("wonDeals").as_array().empty());
  EXPECT_EQ(explained.at("lastContact").at("date"), "2024-01-04");
}

}  // namespace
}  // namespace lok::api
