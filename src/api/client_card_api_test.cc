#include "api/client_card_api.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/retention.h"

namespace lok::api {
namespace {

lok::v1::Event Base(const std::string& id, const std::string& deal, int64_t seconds) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.set_client_id("acme");
  event.set_deal_id(deal);
  event.mutable_occurred_at()->set_seconds(seconds);
  return event;
}

class ClientCardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int64_t jan = 1704067200;  // 2024-01-01
    std::vector<lok::v1::Event> events;
    for (int deal = 0; deal < 3; ++deal) {
      const std::string id = "d" + std::to_string(deal);
      auto lead = Base(id + "-lead", id, jan + deal * 86400 * 20);
      lead.mutable_lead_created()->set_salesperson("ana");
      events.push_back(lead);
      if (deal < 2) {
        auto won = Base(id + "-won", id, jan + deal * 86400 * 20 + 86400 * 5);
        won.mutable_deal_won()->mutable_amount()->set_minor(100000);
        won.mutable_deal_won()->mutable_amount()->set_currency("USD");
        events.push_back(won);
      }
    }
    std::vector<projections::Projection*> models = {&funnel_, &concentration_, &retention_};
    store::Transaction transaction(store_);
    int64_t offset = 0;
    for (const auto& event : events) {
      for (auto* model : models) {
        ASSERT_TRUE(model->Apply(event, {0, offset, 0}, transaction).ok());
      }
      ++offset;
    }
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok());
    store_.Commit(*changes);
  }

  http::Response Get(const std::string& path, std::vector<std::pair<std::string, std::string>> query = {}) {
    http::Request request;
    request.method = "GET";
    request.path = path;
    request.query = std::move(query);
    RetentionApiSettings settings;
    settings.today_day = 19783;  // 2024-03-01
    return HandleClientCard(store_, request, settings);
  }

  store::MemoryStore store_;
  projections::FunnelProjection funnel_;
  projections::ConcentrationProjection concentration_;
  projections::RetentionProjection retention_;
};

TEST_F(ClientCardTest, CardCombinesEveryReadModel) {
  http::Response response = Get("/v1/clients/acme", {{"asOf", "2024-03-31"}});
  ASSERT_EQ(response.status, 200) << response.body;
  auto card = boost::json::parse(response.body).as_object();
  EXPECT_EQ(card.at("clientId").as_string(), "acme");
  EXPECT_EQ(card.at("asOf").as_string(), "2024-03-31");
  // Two won deals and one still at LEAD.
  const auto& stages = card.at("dealsByStage").as_array();
  ASSERT_EQ(stages.size(), 2U);
  EXPECT_EQ(stages[0].at("stage").as_string(), "LEAD");
  EXPECT_EQ(stages[1].at("stage").as_string(), "WON");
  EXPECT_EQ(stages[1].at("deals").as_string(), "2");
  const auto& concentration = card.at("concentration").at("client").as_object();
  EXPECT_EQ(concentration.at("revenue").at("minor").as_string(), "200000");
  EXPECT_EQ(concentration.at("share").to_number<double>(), 1.0);
  const auto& retention = card.at("retention").as_object();
  EXPECT_EQ(retention.at("wonDeals").as_string(), "2");
  EXPECT_TRUE(retention.at("isRegular").as_bool());
}

TEST_F(ClientCardTest, UnknownClientIs404AndBadParameterIs400) {
  EXPECT_EQ(Get("/v1/clients/nobody").status, 404);
  http::Response bad = Get("/v1/clients/acme", {{"limit", "3"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("limit"), std::string::npos);
  EXPECT_EQ(Get("/v1/clients/acme", {{"asOf", "2024-02-30"}}).status, 400);
}

}  // namespace
}  // namespace lok::api
