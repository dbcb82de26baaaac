#include "projections/provenance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "base/civil_time.h"

namespace lok::projections {
namespace {

using lok::v1::Event;

// Random deals: skipped stages, several offers, conflicting outcomes, two
// currencies, a few salespeople, regions, products and clients.
std::vector<Event> RandomDealEvents(int deals, uint32_t seed) {
  std::mt19937 random(seed);
  auto pick = [&](int count) { return static_cast<int>(random() % static_cast<uint32_t>(count)); };
  const int64_t start = 1704067200;  // 2024-01-01
  std::vector<Event> events;
  for (int deal = 0; deal < deals; ++deal) {
    const std::string deal_id = "deal-" + std::to_string(deal);
    const std::string client = "client-" + std::to_string(pick(15));
    int64_t at = start + pick(200) * 86400 + pick(86400);
    int serial = 0;
    auto next = [&](int64_t step) {
      Event event;
      event.set_event_id(deal_id + "-" + std::to_string(serial++));
      event.set_source("crm");
      event.set_client_id(client);
      event.set_deal_id(deal_id);
      at += step;
      event.mutable_occurred_at()->set_seconds(at);
      return event;
    };
    const std::string currency = pick(4) == 0 ? "EUR" : "USD";
    if (pick(6) != 0) {
      Event lead = next(0);
      lead.mutable_lead_created()->set_salesperson(pick(2) ? "ana" : "bo");
      lead.mutable_lead_created()->set_region(pick(2) ? "north" : "south");
      lead.mutable_lead_created()->set_product(pick(3) ? "basic" : "pro");
      events.push_back(lead);
    }
    if (pick(3) != 0) {
      Event qualified = next(pick(20) * 86400);
      qualified.mutable_lead_qualified();
      events.push_back(qualified);
    }
    for (int offers = pick(3); offers > 0; --offers) {
      Event offer = next(pick(20) * 86400);
      offer.mutable_offer_sent()->mutable_amount()->set_minor(1000 + pick(100000));
      offer.mutable_offer_sent()->mutable_amount()->set_currency(currency);
      events.push_back(offer);
    }
    const int outcome = pick(4);
    if (outcome == 1 || outcome == 3) {
      Event won = next(pick(30) * 86400);
      won.mutable_deal_won()->mutable_amount()->set_minor(500 + pick(90000));
      won.mutable_deal_won()->mutable_amount()->set_currency(currency);
      events.push_back(won);
    }
    if (outcome == 2 || outcome == 3) {
      Event lost = next(pick(30) * 86400 - 86400 * 15);
      lost.mutable_deal_lost()->set_reason("price");
      events.push_back(lost);
    }
  }
  std::shuffle(events.begin(), events.end(), random);
  return events;
}

store::MemoryStore Project(const std::vector<Event>& events) {
  store::MemoryStore store;
  FunnelProjection funnel;
  ProvenanceIndex provenance;
  for (size_t begin = 0; begin < events.size(); begin += 50) {
    store::Transaction transaction(store);
    for (size_t index = begin; index < std::min(events.size(), begin + 50); ++index) {
      const EventPosition position{0, static_cast<int64_t>(index), 0};
      EXPECT_TRUE(funnel.Apply(events[index], position, transaction).ok());
      EXPECT_TRUE(provenance.Apply(events[index], position, transaction).ok());
    }
    store.Commit(*transaction.Finish());
  }
  return store;
}

int64_t AmountIn(const lok::v1::StageCount& count, const std::string& currency) {
  for (const auto& money : count.amounts()) {
    if (money.currency() == currency) return money.minor();
  }
  return 0;
}

TEST(ProvenanceTest, ExplainedCountsAndAmountsEqualTheFunnelsForEveryStageModeWindowAndFilter) {
  const store::MemoryStore store = Project(RandomDealEvents(600, 5));
  struct Case {
    FunnelMode mode;
    std::optional<int64_t> from, to;
    std::optional<std::string> salesperson, region, product, client;
    std::string currency;
  };
  const int64_t jan1 = *ParseDate("2024-01-01");
  std::vector<Case> cases = {
      {FunnelMode::kCohort, std::nullopt, std::nullopt, {}, {}, {}, {}, "USD"},
      {FunnelMode::kPeriod, std::nullopt, std::nullopt, {}, {}, {}, {}, "EUR"},
      {FunnelMode::kCohort, jan1 + 10, jan1 + 75, {}, {}, {}, {}, "USD"},
      {FunnelMode::kPeriod, jan1 + 31, jan1 + 59, {}, {}, {}, {}, "USD"},
      {FunnelMode::kPeriod, jan1 + 45, jan1 + 45, {}, {}, {}, {}, "USD"},
      {FunnelMode::kCohort, jan1 + 20, std::nullopt, "ana", {}, {}, {}, "USD"},
      {FunnelMode::kPeriod, std::nullopt, jan1 + 120, {}, "north", "pro", {}, "EUR"},
      {FunnelMode::kCohort, std::nullopt, std::nullopt, {}, {}, {}, "client-3", "USD"},
      {FunnelMode::kPeriod, jan1, jan1 + 90, "bo", {}, {}, "client-7", "USD"},
  };
  int64_t nonzero = 0;
  for (const Case& test : cases) {
    FunnelQuery query;
    query.mode = test.mode;
    query.from_day = test.from;
    query.to_day = test.to;
    query.salesperson = test.salesperson;
    query.region = test.region;
    query.product = test.product;
    query.client = test.client;
    query.currency = test.currency;
    auto funnel = QueryFunnel(store, query);
    ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
    for (const lok::v1::Stage stage :
         {lok::v1::LEAD, lok::v1::QUALIFIED, lok::v1::OFFER, lok::v1::WON, lok::v1::LOST}) {
      FunnelExplainQuery explain;
      explain.mode = test.mode;
      explain.stage = stage;
      explain.from_day = test.from;
      explain.to_day = test.to;
      explain.salesperson = test.salesperson;
      explain.region = test.region;
      explain.product = test.product;
      explain.client = test.client;
      explain.currency = test.currency;
      auto explained = ExplainFunnel(store, explain);
      ASSERT_TRUE(explained.ok()) << explained.status().ToString();
      const auto& count = funnel->stages(static_cast<int>(stage) - 1);
      ASSERT_EQ(count.stage(), stage);
      EXPECT_EQ(explained->count, count.deals())
          << lok::v1::Stage_Name(stage) << " case " << &test - cases.data();
      EXPECT_EQ(explained->amount, AmountIn(count, test.currency))
          << lok::v1::Stage_Name(stage) << " case " << &test - cases.data();
      nonzero += explained->count;
    }
  }
  EXPECT_GT(nonzero, 1000);
}

TEST(ProvenanceTest, PagesListEveryDealOnceAndTheCursorEndsEmpty) {
  const store::MemoryStore store = Project(RandomDealEvents(300, 9));
  FunnelExplainQuery query;
  query.stage = lok::v1::OFFER;
  query.limit = 7;
  std::set<std::string> seen;
  int64_t total = -1;
  for (int page = 0; page < 1000; ++page) {
    auto explained = ExplainFunnel(store, query);
    ASSERT_TRUE(explained.ok()) << explained.status().ToString();
    total = explained->count;
    for (const ExplainedDeal& deal : explained->deals)
      EXPECT_TRUE(seen.insert(deal.deal_id).second) << deal.deal_id;
    if (explained->next_cursor.empty()) break;
    EXPECT_EQ(explained->deals.size(), 7U);
    query.after = explained->next_cursor;
  }
  EXPECT_GT(total, 50);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), total);
  query.after = "zz";
  EXPECT_EQ(ExplainFunnel(store, query).status().code(), StatusCode::kInvalidArgument);
}

TEST(ProvenanceTest, RevenueListsOnlyDealsWonInTheWindowWithTheLatestOutcome) {
  auto event = [](std::string id, std::string deal, int64_t day) {
    Event built;
    built.set_event_id(std::move(id));
    built.set_source("crm");
    built.set_client_id("acme");
    built.set_deal_id(std::move(deal));
    built.mutable_occurred_at()->set_seconds(day * 86400);
    return built;
  };
  const int64_t jan1 = *ParseDate("2024-01-01");
  std::vector<Event> events;
  Event won_a = event("a-won", "a", jan1 + 5);
  won_a.mutable_deal_won()->mutable_amount()->set_minor(1000);
  won_a.mutable_deal_won()->mutable_amount()->set_currency("USD");
  Event won_b = event("b-won", "b", jan1 + 40);  // outside January
  won_b.mutable_deal_won()->mutable_amount()->set_minor(2000);
  won_b.mutable_deal_won()->mutable_amount()->set_currency("USD");
  Event won_c = event("c-won", "c", jan1 + 6);
  won_c.mutable_deal_won()->mutable_amount()->set_minor(3000);
  won_c.mutable_deal_won()->mutable_amount()->set_currency("USD");
  Event lost_c = event("c-lost", "c", jan1 + 9);  // later: c is lost
  lost_c.mutable_deal_lost()->set_reason("price");
  Event won_d = event("d-won", "d", jan1 + 7);
  won_d.mutable_deal_won()->mutable_amount()->set_minor(500);
  won_d.mutable_deal_won()->mutable_amount()->set_currency("EUR");
  const store::MemoryStore store = Project({lost_c, won_a, won_b, won_c, won_d});
  RevenueExplainQuery query;
  query.client = "acme";
  query.from_day = jan1;
  query.to_day = jan1 + 30;
  auto explained = ExplainRevenue(store, query);
  ASSERT_TRUE(explained.ok()) << explained.status().ToString();
  EXPECT_EQ(explained->count, 2);
  EXPECT_EQ(explained->amount, 1000);  // USD only; d is in EUR
  ASSERT_EQ(explained->deals.size(), 2U);
  EXPECT_EQ(explained->deals[0].deal_id, "a");
  EXPECT_EQ(explained->deals[1].deal_id, "d");
  EXPECT_EQ(explained->deals[1].currency, "EUR");
}

}  // namespace
}  // namespace lok::projections
