#include "projections/concentration.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "base/civil_time.h"

namespace lok::projections {
namespace {

using lok::v1::ConcentrationAlert;
using lok::v1::ConcentrationResponse;
using lok::v1::Event;

int64_t Seconds(std::string_view date) { return *ParseDate(date) * 86400; }

Event Base(std::string event_id, std::string client, int64_t seconds) {
  Event event;
  event.set_event_id(std::move(event_id));
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(seconds);
  event.set_client_id(std::move(client));
  return event;
}

Event Won(std::string id, std::string client, std::string deal, int64_t at, int64_t minor,
          std::string currency = "USD") {
  Event event = Base(std::move(id), std::move(client), at);
  event.set_deal_id(std::move(deal));
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency(std::move(currency));
  return event;
}

Event Lost(std::string id, std::string client, std::string deal, int64_t at) {
  Event event = Base(std::move(id), std::move(client), at);
  event.set_deal_id(std::move(deal));
  event.mutable_deal_lost()->set_reason("price");
  return event;
}

Event Lead(std::string id, std::string client, std::string deal, int64_t at,
           std::string salesperson, std::string region = "north", std::string product = "pumps") {
  Event event = Base(std::move(id), std::move(client), at);
  event.set_deal_id(std::move(deal));
  event.mutable_lead_created()->set_salesperson(std::move(salesperson));
  event.mutable_lead_created()->set_region(std::move(region));
  event.mutable_lead_created()->set_product(std::move(product));
  return event;
}

Event Offer(std::string id, std::string client, std::string deal, int64_t at, int32_t discount_bp) {
  Event event = Base(std::move(id), std::move(client), at);
  event.set_deal_id(std::move(deal));
  event.mutable_offer_sent()->mutable_amount()->set_minor(1000);
  event.mutable_offer_sent()->mutable_amount()->set_currency("USD");
  event.mutable_offer_sent()->set_discount_bp(discount_bp);
  return event;
}

Event Delayed(std::string id, std::string client, std::string invoice, int64_t at, int32_t days,
              int64_t outstanding) {
  Event event = Base(std::move(id), std::move(client), at);
  event.mutable_payment_delayed()->set_invoice_id(std::move(invoice));
  event.mutable_payment_delayed()->set_days_overdue(days);
  event.mutable_payment_delayed()->mutable_outstanding()->set_minor(outstanding);
  event.mutable_payment_delayed()->mutable_outstanding()->set_currency("USD");
  return event;
}

Event Paid(std::string id, std::string client, std::string invoice, int64_t at) {
  Event event = Base(std::move(id), std::move(client), at);
  event.mutable_payment_received()->set_invoice_id(std::move(invoice));
  event.mutable_payment_received()->mutable_amount()->set_minor(1);
  event.mutable_payment_received()->mutable_amount()->set_currency("USD");
  return event;
}

// Clients spread over three partitions, as a Kafka key would place them.
int32_t PartitionOf(const Event& event) {
  return static_cast<int32_t>(std::hash<std::string>{}(event.client_id()) % 3);
}

// Applies `events` one transaction per `batch_size` events into `store`.
void Apply(store::MemoryStore& store, const std::vector<Event>& events, size_t batch_size = 1) {
  ConcentrationProjection projection;
  for (size_t start = 0; start < events.size(); start += batch_size) {
    store::Transaction transaction(store);
    for (size_t index = start; index < std::min(events.size(), start + batch_size); ++index) {
      Status status = projection.Apply(
          events[index], {PartitionOf(events[index]), static_cast<int64_t>(index), 0}, transaction);
      ASSERT_TRUE(status.ok()) << status.ToString();
    }
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok()) << changes.status().ToString();
    store.Commit(*changes);
  }
}

ConcentrationQuery TrailingYear(std::string_view as_of) {
  ConcentrationQuery query;
  query.window = TrailingYearEndingAt(*ParseDate(as_of));
  return query;
}

ConcentrationResponse Query(const store::MemoryStore& store, const ConcentrationQuery& query) {
  auto response = QueryConcentration(store, query);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  return response.ok() ? *response : ConcentrationResponse();
}

// Four clients with 30, 30, 20 and 20 % of March 2024's revenue.
std::vector<Event> ThirtyThirtyTwentyTwenty() {
  const int64_t march = Seconds("2024-03-10");
  return {Won("w1", "a", "d1", march, 3000), Won("w2", "b", "d2", march, 3000),
          Won("w3", "c", "d3", march, 2000), Won("w4", "d", "d4", march, 2000)};
}

std::vector<std::string> Kinds(const ConcentrationResponse& response) {
  std::vector<std::string> kinds;
  for (const auto& alert : response.alerts()) {
    kinds.push_back(ConcentrationAlert::Kind_Name(alert.kind()) +
                    (alert.client_id().empty() ? "" : ":" + alert.client_id()));
  }
  return kinds;
}

TEST(ConcentrationTest, SharesThirtyThirtyTwentyTwentyGiveHhi2600) {
  store::MemoryStore store;
  Apply(store, ThirtyThirtyTwentyTwenty());
  const auto block = Query(store, TrailingYear("2024-03-31")).overall();
  EXPECT_EQ(block.scope(), "all");
  EXPECT_EQ(block.revenue().minor(), 10000);
  EXPECT_EQ(block.clients(), 4);
  EXPECT_DOUBLE_EQ(block.hhi(), 2600.0);
  EXPECT_DOUBLE_EQ(block.top1_share(), 0.30);
  EXPECT_DOUBLE_EQ(block.top5_share(), 1.0);
  EXPECT_DOUBLE_EQ(block.top10_share(), 1.0);
  EXPECT_EQ(block.pareto_k80(), 3);
  EXPECT_TRUE(block.pareto_k80_exact());
  ASSERT_EQ(block.top_clients_size(), 4);
  // Ties go to the smaller client_id.
  EXPECT_EQ(block.top_clients(0).client_id(), "a");
  EXPECT_EQ(block.top_clients(1).client_id(), "b");
  EXPECT_EQ(block.top_clients(2).client_id(), "c");
  EXPECT_DOUBLE_EQ(block.top_clients(3).share(), 0.20);
}

TEST(ConcentrationTest, SingleClientHasHhi10000AndK80One) {
  store::MemoryStore store;
  Apply(store, {Won("w1", "solo", "d1", Seconds("2024-03-10"), 123456),
                Won("w2", "solo", "d2", Seconds("2024-01-10"), 5)});
  const auto block = Query(store, TrailingYear("2024-03-01")).overall();
  EXPECT_DOUBLE_EQ(block.hhi(), 10000.0);
  EXPECT_EQ(block.pareto_k80(), 1);
  EXPECT_DOUBLE_EQ(block.top1_share(), 1.0);
  EXPECT_EQ(block.revenue().minor(), 123461);
}

TEST(ConcentrationTest, EmptyWindowHasZeroes) {
  store::MemoryStore store;
  Apply(store, ThirtyThirtyTwentyTwenty());
  const auto response = Query(store, TrailingYear("2026-01-01"));
  EXPECT_EQ(response.overall().clients(), 0);
  EXPECT_DOUBLE_EQ(response.overall().hhi(), 0.0);
  EXPECT_EQ(response.overall().pareto_k80(), 0);
  EXPECT_EQ(response.alerts_size(), 0);
}

TEST(ConcentrationTest, AlertsFireAtTheThresholds) {
  store::MemoryStore store;
  Apply(store, ThirtyThirtyTwentyTwenty());
  ConcentrationQuery query = TrailingYear("2024-03-31");
  // Defaults: every client has >= 20 %, and HHI 2,600 >= 2,500.
  EXPECT_EQ(Kinds(Query(store, query)),
            (std::vector<std::string>{"HHI_HIGH", "CLIENT_SHARE:a", "CLIENT_SHARE:b",
                                      "CLIENT_SHARE:c", "CLIENT_SHARE:d"}));
  query.client_share_alert = 0.30;
  query.hhi_high = 2600;
  EXPECT_EQ(Kinds(Query(store, query)),
            (std::vector<std::string>{"HHI_HIGH", "CLIENT_SHARE:a", "CLIENT_SHARE:b"}));
  query.client_share_alert = 0.31;
  query.hhi_high = 2601;
  query.hhi_moderate = 2600;
  const auto response = Query(store, query);
  EXPECT_EQ(Kinds(response), (std::vector<std::string>{"HHI_MODERATE"}));
  EXPECT_EQ(response.alerts(0).scope(), "all");
  EXPECT_DOUBLE_EQ(response.alerts(0).value(), 2600.0);
  EXPECT_DOUBLE_EQ(response.alerts(0).threshold(), 2600.0);
  query.hhi_moderate = 2601;
  EXPECT_TRUE(Kinds(Query(store, query)).empty());
}

TEST(ConcentrationTest, LaterDealLostRemovesTheRevenueInEitherArrivalOrder) {
  const int64_t day = Seconds("2024-03-10");
  for (bool lost_first : {false, true}) {
    std::vector<Event> events = {Won("w1", "a", "d1", day, 5000), Lost("l1", "a", "d1", day + 60),
                                 Won("w2", "b", "d2", day, 1000)};
    if (lost_first) std::swap(events[0], events[1]);
    store::MemoryStore store;
    Apply(store, events);
    const auto block = Query(store, TrailingYear("2024-03-31")).overall();
    EXPECT_EQ(block.revenue().minor(), 1000) << lost_first;
    EXPECT_EQ(block.clients(), 1);
    EXPECT_DOUBLE_EQ(block.hhi(), 10000.0);
    ASSERT_EQ(block.top_clients_size(), 1);
    EXPECT_EQ(block.top_clients(0).client_id(), "b");
  }
}

TEST(ConcentrationTest, EarlierDealLostDoesNotOverrideALaterWin) {
  const int64_t day = Seconds("2024-03-10");
  store::MemoryStore store;
  Apply(store, {Won("w1", "a", "d1", day, 5000), Lost("l1", "a", "d1", day - 60)});
  EXPECT_EQ(Query(store, TrailingYear("2024-03-31")).overall().revenue().minor(), 5000);
}

TEST(ConcentrationTest, LeadCreatedAfterDealWonMovesRevenueIntoTheSalespersonScope) {
  const int64_t day = Seconds("2024-03-10");
  store::MemoryStore store;
  Apply(store, {Won("w1", "a", "d1", day, 5000), Won("w2", "b", "d2", day, 1000)});
  ConcentrationQuery ana = TrailingYear("2024-03-31");
  ana.scope_kind = ScopeKind::kSalesperson;
  ana.scope_value = "ana";
  EXPECT_EQ(Query(store, ana).overall().revenue().minor(), 0);

  Apply(store, {Lead("l1", "a", "d1", day - 86400, "ana", "south", "valves")});
  const auto block = Query(store, ana).overall();
  EXPECT_EQ(block.scope(), "salesperson=ana");
  EXPECT_EQ(block.revenue().minor(), 5000);
  EXPECT_DOUBLE_EQ(block.hhi(), 10000.0);

  ConcentrationQuery by_salesperson = TrailingYear("2024-03-31");
  by_salesperson.breakdown = ScopeKind::kSalesperson;
  const auto response = Query(store, by_salesperson);
  EXPECT_EQ(response.overall().revenue().minor(), 6000);
  ASSERT_EQ(response.breakdown_size(), 1);
  EXPECT_EQ(response.breakdown(0).scope(), "salesperson=ana");
  ConcentrationQuery by_region = by_salesperson;
  by_region.breakdown = ScopeKind::kRegion;
  ASSERT_EQ(Query(store, by_region).breakdown_size(), 1);
  EXPECT_EQ(Query(store, by_region).breakdown(0).scope(), "region=south");
}

TEST(ConcentrationTest, OverdueIsClearedByALaterPaymentInEitherArrivalOrder) {
  const int64_t day = Seconds("2024-03-10");
  for (bool payment_first : {false, true}) {
    std::vector<Event> events = {
        Delayed("p1", "a", "inv-1", day, 10, 700), Paid("p2", "a", "inv-1", day + 3600),
        Delayed("p3", "a", "inv-2", day, 30, 200), Won("w1", "a", "d1", day, 100)};
    if (payment_first) std::swap(events[0], events[1]);
    store::MemoryStore store;
    Apply(store, events);
    const auto row = Query(store, TrailingYear("2024-03-31")).overall().top_clients(0);
    EXPECT_EQ(row.overdue().minor(), 200) << payment_first;  // only inv-2 is still open
    EXPECT_EQ(row.overdue().currency(), "USD");
    EXPECT_EQ(row.delayed_invoices(), 2);
    EXPECT_DOUBLE_EQ(row.average_days_late(), 20.0);  // (10 + 30) / 2
  }
}

TEST(ConcentrationTest, DelayAfterThePaymentKeepsTheInvoiceOverdue) {
  const int64_t day = Seconds("2024-03-10");
  store::MemoryStore store;
  Apply(store, {Delayed("p1", "a", "inv-1", day, 5, 700), Paid("p2", "a", "inv-1", day - 3600)});
  auto card = QueryClientConcentration(store, "a", "USD", *ParseDate("2024-03-10"));
  ASSERT_TRUE(card.ok());
  EXPECT_EQ(card->client().overdue().minor(), 700);
}

TEST(ConcentrationTest, AverageDiscountIsOverTheLatestOfferOfWonDeals) {
  const int64_t day = Seconds("2024-03-10");
  store::MemoryStore store;
  Apply(store, {Offer("o1", "a", "d1", day - 100, 9000), Offer("o2", "a", "d1", day - 50, 500),
                Won("w1", "a", "d1", day, 100), Offer("o3", "a", "d2", day - 100, 1000),
                Won("w2", "a", "d2", day, 100), Offer("o4", "a", "d3", day - 100, 3000),
                Lost("l3", "a", "d3", day)});
  const auto row = Query(store, TrailingYear("2024-03-31")).overall().top_clients(0);
  EXPECT_EQ(row.discounted_won_deals(), 2);
  EXPECT_DOUBLE_EQ(row.average_discount_bp(), 750.0);  // (500 + 1000) / 2
}

TEST(ConcentrationTest, WindowsAreCalendarMonthsAndTrailingTwelveMonths) {
  store::MemoryStore store;
  Apply(store, {Won("w1", "a", "d1", Seconds("2023-01-31"), 100),
                Won("w2", "b", "d2", Seconds("2024-01-01"), 300),
                Won("w3", "c", "d3", Seconds("2024-02-15"), 100)});
  auto response = Query(store, TrailingYear("2023-12-31"));
  EXPECT_EQ(response.window_start(), "2023-01-01");
  EXPECT_EQ(response.window_end(), "2023-12-31");
  EXPECT_EQ(response.overall().revenue().minor(), 100);

  // asOf at month granularity: the whole of February 2024 counts.
  response = Query(store, TrailingYear("2024-02-01"));
  EXPECT_EQ(response.window_start(), "2023-03-01");
  EXPECT_EQ(response.window_end(), "2024-02-29");
  EXPECT_EQ(response.overall().revenue().minor(), 400);
  EXPECT_DOUBLE_EQ(response.overall().hhi(), 6250.0);  // 75² + 25²
  ASSERT_EQ(response.overall().trend_size(), 12);
  EXPECT_EQ(response.overall().trend(0).month(), "2023-03");
  EXPECT_EQ(response.overall().trend(10).month(), "2024-01");
  EXPECT_EQ(response.overall().trend(10).revenue().minor(), 300);
  EXPECT_DOUBLE_EQ(response.overall().trend(10).hhi(), 10000.0);
  EXPECT_EQ(response.overall().trend(0).clients(), 0);

  ConcentrationQuery january;
  january.window = {ConcentrationWindow::Kind::kMonth, MonthOfDay(*ParseDate("2024-01-01"))};
  response = Query(store, january);
  EXPECT_EQ(response.window_start(), "2024-01-01");
  EXPECT_EQ(response.window_end(), "2024-01-31");
  EXPECT_EQ(response.overall().revenue().minor(), 300);
  EXPECT_EQ(response.overall().trend_size(), 1);
}

TEST(ConcentrationTest, CurrenciesStayApart) {
  const int64_t day = Seconds("2024-03-10");
  store::MemoryStore store;
  Apply(store, {Won("w1", "a", "d1", day, 100), Won("w2", "b", "d2", day, 900, "EUR")});
  ConcentrationQuery query = TrailingYear("2024-03-31");
  EXPECT_EQ(Query(store, query).overall().revenue().minor(), 100);
  query.currency = "EUR";
  const auto block = Query(store, query).overall();
  EXPECT_EQ(block.revenue().minor(), 900);
  EXPECT_EQ(block.revenue().currency(), "EUR");
  EXPECT_EQ(block.top_clients(0).client_id(), "b");
}

TEST(ConcentrationTest, ClientFilterAndClientCard) {
  store::MemoryStore store;
  Apply(store, ThirtyThirtyTwentyTwenty());
  Apply(store, {Delayed("p1", "c", "inv-1", Seconds("2024-03-20"), 12, 450),
                Offer("o1", "c", "d3", Seconds("2024-03-01"), 800)});
  ConcentrationQuery query = TrailingYear("2024-03-31");
  query.client = "c";
  const auto block = Query(store, query).overall();
  ASSERT_EQ(block.top_clients_size(), 1);
  EXPECT_EQ(block.top_clients(0).client_id(), "c");
  EXPECT_DOUBLE_EQ(block.top_clients(0).share(), 0.20);

  auto card = QueryClientConcentration(store, "c", "USD", *ParseDate("2024-03-15"));
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_EQ(card->window_start(), "2023-04-01");
  EXPECT_EQ(card->window_end(), "2024-03-31");
  EXPECT_EQ(card->client().revenue().minor(), 2000);
  EXPECT_DOUBLE_EQ(card->client().share(), 0.20);
  EXPECT_EQ(card->client().overdue().minor(), 450);
  EXPECT_DOUBLE_EQ(card->client().average_days_late(), 12.0);
  EXPECT_DOUBLE_EQ(card->client().average_discount_bp(), 800.0);

  auto stranger = QueryClientConcentration(store, "nobody", "USD", *ParseDate("2024-03-15"));
  ASSERT_TRUE(stranger.ok());
  EXPECT_EQ(stranger->client().revenue().minor(), 0);
  EXPECT_DOUBLE_EQ(stranger->client().share(), 0.0);
}

TEST(ConcentrationTest, TopClientsAndK80AreExactOverManyClients) {
  // 200 clients: more than one index read, k80 inside a revenue bucket.
  std::vector<Event> events;
  std::vector<std::pair<int64_t, std::string>> expected;
  for (int client = 0; client < 200; ++client) {
    const std::string id = "c" + std::to_string(client);
    const int64_t revenue = 1000 + (client * 7919) % 503;  // some ties, no order
    events.push_back(Won("w" + id, id, "d" + id, Seconds("2024-03-10"), revenue));
    expected.emplace_back(-revenue, id);
  }
  std::sort(expected.begin(), expected.end());
  int64_t total = 0;
  for (const auto& [negative, id] : expected) total -= negative;
  int64_t cumulative = 0, k80 = 0;
  while (5 * cumulative < 4 * total) cumulative -= expected[static_cast<size_t>(k80++)].first;

  store::MemoryStore store;
  Apply(store, events, 50);
  ConcentrationQuery query = TrailingYear("2024-03-31");
  query.limit = 30;
  const auto block = Query(store, query).overall();
  EXPECT_EQ(block.pareto_k80(), k80);
  ASSERT_EQ(block.top_clients_size(), 30);
  for (size_t rank = 0; rank < 30; ++rank) {
    EXPECT_EQ(block.top_clients(static_cast<int>(rank)).client_id(), expected[rank].second);
    EXPECT_EQ(block.top_clients(static_cast<int>(rank)).revenue().minor(), -expected[rank].first);
  }
}

// k80 by brute force: sort, add from the top until 5 · cumulative >= 4 · total.
int64_t BruteForceK80(std::vector<int64_t> revenues) {
  std::sort(revenues.begin(), revenues.end(), std::greater<>());
  int64_t total = 0;
  for (int64_t revenue : revenues) total += revenue;
  int64_t cumulative = 0, k80 = 0;
  while (5 * cumulative < 4 * total) cumulative += revenues[static_cast<size_t>(k80++)];
  return k80;
}

TEST(ConcentrationTest, K80FromTheRevenueDistributionMatchesBruteForce) {
  // Revenues spread over nine orders of magnitude, so the walk crosses whole
  // buckets before counting inside one; several clients per deal, ties.
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    std::mt19937_64 random(seed);
    std::map<std::string, int64_t> revenue_by_client;
    std::vector<Event> events;
    for (int deal = 0; deal < 600; ++deal) {
      const std::string client = "c" + std::to_string(random() % 250);
      const int exponent = static_cast<int>(random() % 9);
      int64_t minor = 1 + static_cast<int64_t>(random() % 9);
      for (int step = 0; step < exponent; ++step) minor *= 10;
      const std::string id = std::to_string(seed) + "-" + std::to_string(deal);
      events.push_back(Won("w" + id, client, "d" + id, Seconds("2024-02-10"), minor));
      revenue_by_client[client] += minor;
    }
    std::vector<int64_t> revenues;
    for (const auto& [client, revenue] : revenue_by_client) revenues.push_back(revenue);
    store::MemoryStore store;
    Apply(store, events, 100);
    const auto block = Query(store, TrailingYear("2024-03-31")).overall();
    EXPECT_EQ(block.pareto_k80(), BruteForceK80(revenues)) << "seed " << seed;
    EXPECT_TRUE(block.pareto_k80_exact());
  }
}

TEST(ConcentrationTest, K80IsCountedFromTheBucketAverageBeyondTheScanLimit) {
  // 12,000 clients with 100 each all fall in one revenue bucket: more than
  // kParetoScanLimit to read, so k80 comes from the bucket's average
  // revenue, here exactly 9,600 (80 % of the clients), flagged inexact.
  std::vector<Event> events;
  for (int client = 0; client < 12000; ++client) {
    const std::string id = "c" + std::to_string(client);
    events.push_back(Won("w" + id, id, "d" + id, Seconds("2024-03-10"), 100));
  }
  store::MemoryStore store;
  Apply(store, events, 2000);
  const auto block = Query(store, TrailingYear("2024-03-31")).overall();
  EXPECT_EQ(block.pareto_k80(), 9600);
  EXPECT_FALSE(block.pareto_k80_exact());
  EXPECT_EQ(block.clients(), 12000);
}

// A few hundred random events over 30 clients.
std::vector<Event> RandomEvents(uint32_t seed) {
  std::mt19937 random(seed);
  auto pick = [&](int64_t below) {
    return std::uniform_int_distribution<int64_t>(0, below - 1)(random);
  };
  const std::vector<std::string> salespeople = {"ana", "ben", "cy"};
  const std::vector<std::string> regions = {"north", "south"};
  const std::vector<std::string> currencies = {"USD", "USD", "USD", "EUR"};
  std::vector<Event> events;
  int next_id = 0;
  auto id = [&] { return "e" + std::to_string(next_id++); };
  const int64_t start = Seconds("2023-06-01");
  for (int deal = 0; deal < 90; ++deal) {
    const std::string client = "client-" + std::to_string(pick(30));
    const std::string deal_id = "deal-" + std::to_string(deal);
    const int64_t at = start + pick(400) * 86400;
    if (pick(4) != 0) {
      events.push_back(Lead(id(), client, deal_id, at - 86400 * pick(30),
                            salespeople[static_cast<size_t>(pick(3))],
                            regions[static_cast<size_t>(pick(2))]));
    }
    if (pick(3) != 0)
      events.push_back(Offer(id(), client, deal_id, at - 3600, int32_t(pick(2000))));
    if (pick(2) != 0)
      events.push_back(Offer(id(), client, deal_id, at - 7200, int32_t(pick(2000))));
    const int outcomes = static_cast<int>(pick(3));
    for (int outcome = 0; outcome < outcomes; ++outcome) {
      const int64_t when = at + pick(3) * 86400 * 20;  // may cross a month, may tie
      if (pick(3) == 0) {
        events.push_back(Lost(id(), client, deal_id, when));
      } else {
        events.push_back(Won(id(), client, deal_id, when, 100 + pick(100000),
                             currencies[static_cast<size_t>(pick(4))]));
      }
    }
  }
  for (int invoice = 0; invoice < 60; ++invoice) {
    const std::string client = "client-" + std::to_string(pick(30));
    const std::string invoice_id = "inv-" + std::to_string(invoice);
    const int64_t at = start + pick(400) * 86400;
    for (int64_t delays = pick(3); delays > 0; --delays) {
      events.push_back(Delayed(id(), client, invoice_id, at + pick(5) * 86400,
                               int32_t(1 + pick(90)), 1 + pick(5000)));
    }
    if (pick(2) != 0) events.push_back(Paid(id(), client, invoice_id, at + pick(5) * 86400));
  }
  return events;
}

// Every kind of answer, serialized, for byte comparison.
std::string AllAnswers(const store::MemoryStore& store) {
  std::string answers;
  for (std::string_view as_of : {"2023-12-31", "2024-06-30"}) {
    for (std::string currency : {"USD", "EUR"}) {
      ConcentrationQuery query = TrailingYear(as_of);
      query.currency = currency;
      query.limit = 7;
      answers += Query(store, query).SerializeAsString();
      for (ScopeKind kind : {ScopeKind::kSalesperson, ScopeKind::kRegion, ScopeKind::kProduct}) {
        query.breakdown = kind;
        answers += Query(store, query).SerializeAsString();
      }
      query.breakdown.reset();
      query.window.kind = ConcentrationWindow::Kind::kMonth;
      answers += Query(store, query).SerializeAsString();
    }
  }
  for (int client = 0; client < 30; ++client) {
    auto card = QueryClientConcentration(store, "client-" + std::to_string(client), "USD",
                                         *ParseDate("2024-03-01"));
    EXPECT_TRUE(card.ok());
    if (card.ok()) answers += card->SerializeAsString();
  }
  return answers;
}

TEST(ConcentrationTest, AnswersDependOnTheSetOfEventsNotTheirOrderOrBatches) {
  const std::vector<Event> events = RandomEvents(7);
  ASSERT_GT(events.size(), 250u);
  store::MemoryStore reference_store;
  Apply(reference_store, events);
  const std::string reference = AllAnswers(reference_store);
  ASSERT_GT(Query(reference_store, TrailingYear("2024-06-30")).overall().clients(), 5);

  std::mt19937 random(42);
  for (size_t batch_size : {1u, 3u, 17u, 1000u}) {
    std::vector<Event> shuffled = events;
    std::shuffle(shuffled.begin(), shuffled.end(), random);
    store::MemoryStore store;
    Apply(store, shuffled, batch_size);
    EXPECT_EQ(AllAnswers(store), reference) << "batch size " << batch_size;
    EXPECT_EQ(store.contents(), reference_store.contents()) << "batch size " << batch_size;
  }
}

}  // namespace
}  // namespace lok::projections

namespace lok::projections {
namespace {

// The blocks of a breakdown are gathered into one batched read; each must
// still be exactly the answer of the same query filtered to its scope (rows,
// trend, k80, alerts), whatever the limit and window.
TEST(ConcentrationTest, EachBreakdownBlockEqualsTheQueryFilteredToItsScope) {
  for (uint32_t seed : {3u, 11u, 29u}) {
    store::MemoryStore store;
    Apply(store, RandomEvents(seed), 50);
    for (std::string_view as_of : {"2023-12-31", "2024-06-30"}) {
      for (int64_t limit : {1, 3, 12}) {
        for (ScopeKind kind : {ScopeKind::kSalesperson, ScopeKind::kRegion, ScopeKind::kProduct}) {
          ConcentrationQuery query = TrailingYear(as_of);
          query.limit = limit;
          query.client_share_alert = 0.1;
          const ConcentrationResponse overall = Query(store, query);
          query.breakdown = kind;
          const ConcentrationResponse by = Query(store, query);
          const std::string context = "seed " + std::to_string(seed) + " asOf " +
                                      std::string(as_of) + " limit " + std::to_string(limit);
          EXPECT_EQ(by.overall().SerializeAsString(), overall.overall().SerializeAsString())
              << context;
          std::string alerts;
          for (const auto& alert : overall.alerts()) alerts += alert.SerializeAsString();
          for (const auto& block : by.breakdown()) {
            ConcentrationQuery filtered = TrailingYear(as_of);
            filtered.limit = limit;
            filtered.client_share_alert = 0.1;
            filtered.scope_kind = kind;
            filtered.scope_value = block.scope().substr(block.scope().find('=') + 1);
            const ConcentrationResponse alone = Query(store, filtered);
            EXPECT_EQ(block.SerializeAsString(), alone.overall().SerializeAsString())
                << context << " " << block.scope();
            for (const auto& alert : alone.alerts()) alerts += alert.SerializeAsString();
          }
          std::string by_alerts;
          for (const auto& alert : by.alerts()) by_alerts += alert.SerializeAsString();
          EXPECT_EQ(by_alerts, alerts) << context;
          if (kind != ScopeKind::kProduct) {
            EXPECT_GE(by.breakdown_size(), 2) << context;
          }
        }
      }
    }
  }
}

// A store written by an older version keeps its statistics and indexes in
// several stripes (one per partition). Moving half the clients' model into
// stripe 1 must not change any answer: the per-stripe reads (k80's
// histogram, the batched trend and rows) merge the stripes.
TEST(ConcentrationTest, AStoreWithTwoStripesAnswersLikeOneStripe) {
  const std::vector<Event> events = RandomEvents(5);
  store::MemoryStore one_stripe;
  Apply(one_stripe, events, 40);
  std::vector<Event> first, second;
  for (const Event& event : events) {
    (std::hash<std::string>{}(event.client_id()) % 2 == 0 ? first : second).push_back(event);
  }
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  store::MemoryStore first_store, second_store;
  Apply(first_store, first, 40);
  Apply(second_store, second, 40);
  store::ChangeSet merged;
  for (const auto& [key, value] : first_store.contents()) merged.writes[key] = value;
  const std::string stripe0("\0\0\0\0", 4), stripe1("\0\0\0\1", 4);
  for (const auto& [key, value] : second_store.contents()) {
    std::string moved = key, moved_value = value;
    for (std::string_view prefix :
         {"concentration/part/", "concentration/stat/", "concentration/rev/", "concentration/top/",
          "concentration/hist/"}) {
      if (key.starts_with(prefix)) {
        ASSERT_EQ(key.substr(prefix.size(), 4), stripe0) << key;
        moved = std::string(prefix) + stripe1 + key.substr(prefix.size() + 4);
      }
    }
    if (key.starts_with("concentration/client/") && key.ends_with("P")) moved_value = stripe1;
    merged.writes[moved] = moved_value;
  }
  store::MemoryStore two_stripes;
  two_stripes.Commit(merged);
  std::string answers, answers_two;
  for (std::string_view as_of : {"2023-12-31", "2024-06-30"}) {
    for (std::optional<ScopeKind> by :
         {std::optional<ScopeKind>(), std::optional<ScopeKind>(ScopeKind::kSalesperson)}) {
      ConcentrationQuery query = TrailingYear(as_of);
      query.limit = 5;
      query.breakdown = by;
      answers += Query(one_stripe, query).SerializeAsString();
      answers_two += Query(two_stripes, query).SerializeAsString();
    }
  }
  EXPECT_EQ(answers_two, answers);
  EXPECT_GT(Query(two_stripes, TrailingYear("2024-06-30")).overall().pareto_k80(), 1);
}

// A store with one stripe reads every block's index entries and k80 in one
// seeking scan (ReadTopsAndK80); with a second stripe present it reads them
// block by block (ReadTop, ComputeK80). Adding an empty stripe must not change
// any answer: many clients (index reads past the first 16, 32, 64 entries),
// limits and alert thresholds that stop the index read at different points,
// every breakdown, a month and a trailing year.
TEST(ConcentrationTest, OneScanForEveryBlockAnswersLikeTheScanPerBlock) {
  std::mt19937 random(2045);
  auto pick = [&](int64_t below) {
    return std::uniform_int_distribution<int64_t>(0, below - 1)(random);
  };
  const std::vector<std::string> salespeople = {"ana", "ben", "cy", "dee"};
  const std::vector<std::string> regions = {"north", "south", "east"};
  const std::vector<std::string> products = {"pumps", "valves"};
  std::vector<Event> events;
  for (int deal = 0; deal < 1500; ++deal) {
    const std::string client = "client-" + std::to_string(pick(700));
    const std::string deal_id = "deal-" + std::to_string(deal);
    const int64_t at = Seconds("2024-01-01") + pick(180) * 86400;
    events.push_back(Lead("l" + deal_id, client, deal_id, at - 86400,
                          salespeople[static_cast<size_t>(pick(4))],
                          regions[static_cast<size_t>(pick(3))],
                          products[static_cast<size_t>(pick(2))]));
    // Revenues over five orders of magnitude; a few large ones trip alerts.
    const int64_t minor = pick(20) == 0 ? 5'000'000 + pick(5'000'000) : 100 + pick(100'000);
    events.push_back(Won("w" + deal_id, client, deal_id, at, minor));
  }
  store::MemoryStore one_stripe;
  Apply(one_stripe, events, 100);
  store::MemoryStore two_stripes;
  two_stripes.Commit([&] {
    store::ChangeSet copy;
    for (const auto& [key, value] : one_stripe.contents()) copy.writes[key] = value;
    copy.writes[std::string("concentration/part/\0\0\0\7", 23)] = "";  // an empty stripe
    return copy;
  }());

  int compared = 0;
  int64_t largest_clients = 0;
  for (const ConcentrationWindow window :
       {TrailingYearEndingAt(*ParseDate("2024-06-30")),
        ConcentrationWindow{ConcentrationWindow::Kind::kMonth, MonthOfDay(*ParseDate("2024-03-01"))}}) {
    for (std::optional<ScopeKind> by :
         {std::optional<ScopeKind>(), std::optional<ScopeKind>(ScopeKind::kSalesperson),
          std::optional<ScopeKind>(ScopeKind::kRegion), std::optional<ScopeKind>(ScopeKind::kProduct)}) {
      for (int64_t limit : {1, 5, 20, 40, 100}) {
        for (double alert : {0.0005, 0.005, 0.2}) {
          ConcentrationQuery query;
          query.window = window;
          query.breakdown = by;
          query.limit = limit;
          query.client_share_alert = alert;
          const ConcentrationResponse one = Query(one_stripe, query);
          const ConcentrationResponse two = Query(two_stripes, query);
          ASSERT_EQ(one.SerializeAsString(), two.SerializeAsString())
              << "limit " << limit << " alert " << alert << "\n"
              << one.DebugString().substr(0, 2000);
          largest_clients = std::max(largest_clients, one.overall().clients());
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 2 * 4 * 5 * 3);
  EXPECT_GT(largest_clients, 300);  // past several doublings of the index read
}

}  // namespace
}  // namespace lok::projections
