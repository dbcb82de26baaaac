#include "api/concentration_api.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "base/civil_time.h"
#include "lok/v1/concentration.pb.h"
#include "projections/concentration.h"

namespace lok::api {
namespace {

using lok::v1::Event;

Event Won(std::string id, std::string client, std::string date, int64_t minor) {
  Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(*ParseDate(date) * 86400);
  event.set_client_id(std::move(client));
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

Event Lead(std::string id, std::string client, std::string deal_id, std::string salesperson) {
  Event event;
  event.set_event_id(std::move(id));
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(*ParseDate("2024-01-01") * 86400);
  event.set_client_id(std::move(client));
  event.set_deal_id(std::move(deal_id));
  event.mutable_lead_created()->set_salesperson(std::move(salesperson));
  return event;
}

class ConcentrationApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 30/30/20/20 in March 2024; ana sells to a and b, ben to c and d.
    const std::vector<Event> events = {
        Won("w1", "a", "2024-03-10", 3000), Won("w2", "b", "2024-03-11", 3000),
        Won("w3", "c", "2024-03-12", 2000), Won("w4", "d", "2024-03-13", 2000),
        Lead("l1", "a", "deal-w1", "ana"),  Lead("l2", "b", "deal-w2", "ana"),
        Lead("l3", "c", "deal-w3", "ben"),  Lead("l4", "d", "deal-w4", "ben")};
    projections::ConcentrationProjection projection;
    store::Transaction transaction(store_);
    for (const Event& event : events)
      ASSERT_TRUE(projection.Apply(event, {0, 0, 0}, transaction).ok());
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok());
    store_.Commit(*changes);
    settings_.today_day = *ParseDate("2024-04-15");
  }

  http::Response Get(std::vector<std::pair<std::string, std::string>> query) {
    http::Request request{.method = "GET", .path = "/v1/concentration", .query = std::move(query)};
    return HandleConcentration(store_, request, settings_);
  }

  lok::v1::ConcentrationResponse GetParsed(std::vector<std::pair<std::string, std::string>> query) {
    http::Response response = Get(std::move(query));
    EXPECT_EQ(response.status, 200) << response.body;
    lok::v1::ConcentrationResponse parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body, &parsed).ok())
        << response.body;
    return parsed;
  }

  store::MemoryStore store_;
  ConcentrationSettings settings_;
};

TEST_F(ConcentrationApiTest, DefaultWindowIsTheTwelveMonthsUpToToday) {
  http::Response response = Get({});
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  for (std::string_view field :
       {"\"windowStart\":\"2023-05-01\"", "\"windowEnd\":\"2024-04-30\"", "\"asOf\":\"2024-04-15\"",
        "\"currency\":\"USD\"", "\"hhi\":2600", "\"top1Share\":0.3", "\"paretoK80\":\"3\"",
        "\"paretoK80Exact\":true", "\"topClients\":[", "\"overdue\":", "\"averageDaysLate\":0",
        "\"averageDiscountBp\":0", "\"trend\":[", "\"kind\":\"HHI_HIGH\"",
        "\"kind\":\"CLIENT_SHARE\"", "\"offsets\":{}"}) {
    EXPECT_NE(response.body.find(field), std::string::npos) << field << " in " << response.body;
  }
}

TEST_F(ConcentrationApiTest, AsOfFromToAndLimitChooseWhatIsAnswered) {
  auto parsed = GetParsed({{"asOf", "2024-02-29"}});
  EXPECT_EQ(parsed.overall().clients(), 0);
  parsed = GetParsed({{"from", "2024-03-05"}, {"to", "2024-03-20"}, {"limit", "2"}});
  EXPECT_EQ(parsed.window_start(), "2024-03-01");
  EXPECT_EQ(parsed.window_end(), "2024-03-31");
  EXPECT_EQ(parsed.as_of(), "");
  EXPECT_EQ(parsed.overall().top_clients_size(), 2);
  EXPECT_EQ(parsed.overall().trend_size(), 1);
  parsed = GetParsed({{"from", "2024-01-01"}, {"to", "2024-12-31"}});
  EXPECT_EQ(parsed.overall().revenue().minor(), 10000);
  EXPECT_EQ(parsed.overall().trend_size(), 12);
  parsed = GetParsed({{"currency", "EUR"}});
  EXPECT_EQ(parsed.overall().revenue().minor(), 0);
  EXPECT_EQ(parsed.overall().revenue().currency(), "EUR");
}

TEST_F(ConcentrationApiTest, BySalespersonGivesOneBlockPerSalesperson) {
  settings_.hhi_high = 6000;
  auto parsed = GetParsed({{"by", "salesperson"}});
  EXPECT_EQ(parsed.by(), "salesperson");
  ASSERT_EQ(parsed.breakdown_size(), 2);
  EXPECT_EQ(parsed.breakdown(0).scope(), "salesperson=ana");
  EXPECT_DOUBLE_EQ(parsed.breakdown(0).hhi(), 5000.0);
  EXPECT_EQ(parsed.breakdown(1).scope(), "salesperson=ben");
  parsed = GetParsed({{"salesperson", "ben"}, {"client", "d"}});
  EXPECT_EQ(parsed.overall().scope(), "salesperson=ben");
  ASSERT_EQ(parsed.overall().top_clients_size(), 1);
  EXPECT_DOUBLE_EQ(parsed.overall().top_clients(0).share(), 0.5);
}

TEST_F(ConcentrationApiTest, BadParametersAre400NamingThem) {
  const std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>
      cases = {
          {{{"from", "2024-13-01"}}, "from:"},
          {{{"asOf", "yesterday"}}, "asOf:"},
          {{{"by", "month"}}, "by:"},
          {{{"limit", "0"}}, "limit:"},
          {{{"currency", "usd"}}, "currency:"},
          {{{"window", "1y"}}, "unknown query parameter 'window'"},
          {{{"from", "2024-01-01"}, {"to", "2024-03-31"}}, "from, to:"},
          {{{"knownAt", "June"}}, "knownAt:"},
          {{{"salesperson", "ana"}, {"region", "north"}}, "salesperson, region, product:"},
          {{{"by", "region"}, {"salesperson", "ana"}}, "by:"},
          {{{"by", "region"}, {"client", "a"}}, "client:"},
      };
  for (const auto& [query, named] : cases) {
    http::Response response = Get(query);
    EXPECT_EQ(response.status, 400) << named;
    EXPECT_NE(response.body.find(named), std::string::npos) << response.body;
  }
}

}  // namespace
}  // namespace lok::api
