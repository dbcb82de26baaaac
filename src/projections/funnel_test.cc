#include "projections/funnel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "base/civil_time.h"

namespace lok::projections {
namespace {

using lok::v1::Event;

Event DealEvent(std::string event_id, std::string deal_id, int64_t seconds) {
  Event event;
  event.set_event_id(std::move(event_id));
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(seconds);
  event.set_client_id("acme");
  event.set_deal_id(std::move(deal_id));
  return event;
}

Event Lead(std::string id, std::string deal, int64_t at) {
  Event event = DealEvent(std::move(id), std::move(deal), at);
  event.mutable_lead_created()->set_salesperson("ana");
  return event;
}
Event Qualified(std::string id, std::string deal, int64_t at) {
  Event event = DealEvent(std::move(id), std::move(deal), at);
  event.mutable_lead_qualified();
  return event;
}
Event Offer(std::string id, std::string deal, int64_t at, int64_t minor,
            std::string currency = "USD") {
  Event event = DealEvent(std::move(id), std::move(deal), at);
  event.mutable_offer_sent()->mutable_amount()->set_minor(minor);
  event.mutable_offer_sent()->mutable_amount()->set_currency(std::move(currency));
  return event;
}
Event Won(std::string id, std::string deal, int64_t at, int64_t minor,
          std::string currency = "USD") {
  Event event = DealEvent(std::move(id), std::move(deal), at);
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency(std::move(currency));
  return event;
}
Event Lost(std::string id, std::string deal, int64_t at) {
  Event event = DealEvent(std::move(id), std::move(deal), at);
  event.mutable_deal_lost()->set_reason("price");
  return event;
}

// Applies the events one transaction per `batch_size` events, as the projector does.
store::MemoryStore ProjectInto(const std::vector<Event>& events, size_t batch_size = 1) {
  store::MemoryStore store;
  FunnelProjection funnel;
  for (size_t start = 0; start < events.size(); start += batch_size) {
    store::Transaction transaction(store);
    for (size_t index = start; index < std::min(events.size(), start + batch_size); ++index) {
      EXPECT_TRUE(
          funnel.Apply(events[index], {0, static_cast<int64_t>(index), 0}, transaction).ok());
    }
    auto changes = transaction.Finish();
    EXPECT_TRUE(changes.ok());
    store.Commit(*changes);
  }
  return store;
}

lok::v1::FunnelResponse Project(const std::vector<Event>& events, size_t batch_size = 1) {
  store::MemoryStore store = ProjectInto(events, batch_size);
  auto response = QueryFunnel(store);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  return *response;
}

std::vector<int64_t> Deals(const lok::v1::FunnelResponse& response) {
  std::vector<int64_t> deals;
  for (const auto& stage : response.stages()) deals.push_back(stage.deals());
  return deals;
}

int64_t Amount(const lok::v1::FunnelResponse& response, lok::v1::Stage stage,
               const std::string& currency) {
  for (const auto& count : response.stages()) {
    if (count.stage() != stage) continue;
    for (const auto& money : count.amounts()) {
      if (money.currency() == currency) return money.minor();
    }
  }
  return 0;
}

TEST(FunnelTest, StagesAreListedInOrder) {
  auto response = Project({});
  ASSERT_EQ(response.stages_size(), 5);
  EXPECT_EQ(response.stages(0).stage(), lok::v1::LEAD);
  EXPECT_EQ(response.stages(4).stage(), lok::v1::LOST);
  EXPECT_EQ(response.win_rate(), 0.0);
}

TEST(FunnelTest, WonDealCountsAsReachedEveryStageBeforeIt) {
  auto response = Project({Lead("1", "d", 10), Qualified("2", "d", 20), Offer("3", "d", 30, 5000),
                           Won("4", "d", 40, 4500)});
  EXPECT_EQ(Deals(response), (std::vector<int64_t>{1, 1, 1, 1, 0}));
  EXPECT_EQ(Amount(response, lok::v1::WON, "USD"), 4500);
  EXPECT_EQ(Amount(response, lok::v1::OFFER, "USD"), 5000);
  EXPECT_EQ(Amount(response, lok::v1::LEAD, "USD"), 5000);
  EXPECT_EQ(response.win_rate(), 1.0);
}

TEST(FunnelTest, SkippedStagesCountAsReached) {
  // Only the outcome arrived: the deal still reached LEAD, QUALIFIED and OFFER.
  auto response = Project({Won("w", "d", 40, 100)});
  EXPECT_EQ(Deals(response), (std::vector<int64_t>{1, 1, 1, 1, 0}));
  auto qualified_only = Project({Qualified("q", "e", 5)});
  EXPECT_EQ(Deals(qualified_only), (std::vector<int64_t>{1, 1, 0, 0, 0}));
}

TEST(FunnelTest, LaterTerminalEventWins) {
  auto lost_later = Project({Won("a", "d", 100, 700), Lost("b", "d", 200)});
  EXPECT_EQ(Deals(lost_later), (std::vector<int64_t>{1, 1, 1, 0, 1}));
  EXPECT_EQ(Amount(lost_later, lok::v1::WON, "USD"), 0);
  auto won_later = Project({Lost("b", "d", 100), Won("a", "d", 200, 700)});
  EXPECT_EQ(Deals(won_later), (std::vector<int64_t>{1, 1, 1, 1, 0}));
}

TEST(FunnelTest, TerminalTieGoesToLargerEventId) {
  auto response = Project({Won("evt-b", "d", 100, 700), Lost("evt-a", "d", 100)});
  EXPECT_EQ(Deals(response), (std::vector<int64_t>{1, 1, 1, 1, 0}));
  auto reversed = Project({Won("evt-a", "d", 100, 700), Lost("evt-b", "d", 100)});
  EXPECT_EQ(Deals(reversed), (std::vector<int64_t>{1, 1, 1, 0, 1}));
}

TEST(FunnelTest, LatestOfferAmountCountsAndCurrenciesStayApart) {
  store::MemoryStore store = ProjectInto(
      {Offer("1", "d", 10, 1000), Offer("2", "d", 20, 800), Offer("3", "e", 10, 300, "EUR")});
  FunnelQuery usd;
  auto in_usd = QueryFunnel(store, usd);
  FunnelQuery eur;
  eur.currency = "EUR";
  auto in_eur = QueryFunnel(store, eur);
  ASSERT_TRUE(in_usd.ok() && in_eur.ok());
  EXPECT_EQ(Amount(*in_usd, lok::v1::OFFER, "USD"), 800);
  EXPECT_EQ(Amount(*in_eur, lok::v1::OFFER, "EUR"), 300);
  EXPECT_EQ(in_usd->stages(2).deals(), 2) << "counts do not depend on the currency";
  EXPECT_EQ(in_usd->stages(2).amounts_size(), 1);
}

// Regression: the earliest-mark check once read has_lead() after
// mutable_lead() had created the field, so dimensions were never recorded.
TEST(FunnelTest, LeadDimensionsComeFromTheEarliestLeadCreated) {
  Event late = Lead("late", "d", 50);
  late.mutable_lead_created()->set_salesperson("bo");
  lok::v1::FunnelDeal deal;
  FoldDealEvent(late, deal);
  FoldDealEvent(Lead("early", "d", 10), deal);
  EXPECT_EQ(deal.salesperson(), "ana");
  EXPECT_EQ(deal.lead().occurred_at().seconds(), 10);
  FoldDealEvent(late, deal);
  EXPECT_EQ(deal.salesperson(), "ana");
}

TEST(FunnelTest, WinRateIsWonOverClosed) {
  auto response = Project({Won("1", "a", 1, 1), Won("2", "b", 1, 1), Won("3", "c", 1, 1),
                           Lost("4", "d", 1), Lead("5", "e", 1)});
  EXPECT_DOUBLE_EQ(response.win_rate(), 0.75);
}

TEST(FunnelTest, EveryPermutationOfADealsEventsGivesTheSameAnswer) {
  const std::vector<Event> events = {Lead("1", "d", 10),       Qualified("2", "d", 20),
                                     Offer("3", "d", 30, 900), Offer("4", "d", 35, 850),
                                     Won("5", "d", 40, 820),   Lost("6", "d", 40)};
  const std::string expected = Project(events).SerializeAsString();
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), 0);
  int permutations = 0;
  do {
    std::vector<Event> shuffled;
    for (size_t index : order) shuffled.push_back(events[index]);
    ASSERT_EQ(Project(shuffled, 1).SerializeAsString(), expected);
    ASSERT_EQ(Project(shuffled, 4).SerializeAsString(), expected);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 720);
  // Lost("6") ties Won("5") at t=40 and has the larger event_id.
  EXPECT_EQ(Deals(Project(events)), (std::vector<int64_t>{1, 1, 1, 0, 1}));
}

TEST(FunnelTest, NonDealEventsLeaveTheFunnelAlone) {
  Event contact = DealEvent("c", "", 5);
  contact.mutable_client_contacted()->set_channel(lok::v1::ClientContacted::CALL);
  EXPECT_EQ(Deals(Project({contact})), (std::vector<int64_t>{0, 0, 0, 0, 0}));
}


constexpr int64_t kDay = 86400;
constexpr int64_t kJan1 = 1704067200;  // 2024-01-01T00:00:00Z

Event LeadBy(std::string id, std::string deal, int64_t at, std::string salesperson,
             lok::v1::LeadCreated::Channel channel = lok::v1::LeadCreated::INBOUND_CALL) {
  Event event = DealEvent(std::move(id), std::move(deal), at);
  event.mutable_lead_created()->set_salesperson(std::move(salesperson));
  event.mutable_lead_created()->set_region("north");
  event.mutable_lead_created()->set_product("gtx");
  event.mutable_lead_created()->set_channel(channel);
  return event;
}

Event Target(std::string id, std::string period, int64_t minor, int64_t at,
             std::string salesperson = "") {
  Event event = DealEvent(std::move(id), "", at);
  event.mutable_target_set()->set_period(std::move(period));
  event.mutable_target_set()->set_salesperson(std::move(salesperson));
  event.mutable_target_set()->mutable_amount()->set_minor(minor);
  event.mutable_target_set()->mutable_amount()->set_currency("USD");
  return event;
}

lok::v1::FunnelResponse Query(const store::MemoryStore& store, const FunnelQuery& query) {
  auto response = QueryFunnel(store, query);
  EXPECT_TRUE(response.ok()) << response.status().ToString();
  return response.ok() ? *response : lok::v1::FunnelResponse();
}

// Ten leads in January: 8 qualified, 5 offered (1,000 each), 2 won (900 and
// 1,100 after 30 and 50 days), 1 lost, 2 still open at OFFER.
std::vector<Event> JanuaryBook() {
  std::vector<Event> events;
  for (int deal = 0; deal < 10; ++deal) {
    const std::string id = "j" + std::to_string(deal);
    const int64_t start = kJan1 + deal * kDay;
    events.push_back(LeadBy(id + "-lead", id, start, deal % 2 == 0 ? "ana" : "bo"));
    if (deal < 8) events.push_back(Qualified(id + "-qual", id, start + 2 * kDay));
    if (deal < 5) events.push_back(Offer(id + "-offer", id, start + 5 * kDay, 100000));
  }
  events.push_back(Won("j0-won", "j0", kJan1 + 30 * kDay, 90000));
  events.push_back(Won("j1-won", "j1", kJan1 + 1 * kDay + 50 * kDay, 110000));
  events.push_back(Lost("j2-lost", "j2", kJan1 + 2 * kDay + 20 * kDay));
  return events;
}

TEST(FunnelAnalyticsTest, ConversionsWinRatesAndDealSize) {
  auto response = Query(ProjectInto(JanuaryBook()), FunnelQuery{});
  const auto& metrics = response.metrics();
  EXPECT_EQ(Deals(response), (std::vector<int64_t>{10, 8, 5, 2, 1}));
  EXPECT_DOUBLE_EQ(metrics.stages(0).conversion_to_next(), 0.8);    // 8 / 10
  EXPECT_DOUBLE_EQ(metrics.stages(1).conversion_to_next(), 0.625);  // 5 / 8
  EXPECT_DOUBLE_EQ(metrics.stages(2).conversion_to_next(), 0.4);    // 2 / 5
  EXPECT_DOUBLE_EQ(metrics.stages(3).cumulative_conversion(), 0.2);  // 2 / 10
  EXPECT_DOUBLE_EQ(metrics.win_rate(), 2.0 / 3.0);
  // by value: won 2,000 against won 2,000 + lost offer 1,000.
  EXPECT_DOUBLE_EQ(metrics.win_rate_by_value(), 200000.0 / 300000.0);
  EXPECT_EQ(metrics.average_won_deal().minor(), 100000);
  EXPECT_DOUBLE_EQ(metrics.average_sales_cycle_days(), 40.0);  // (30 + 50) / 2
  EXPECT_EQ(metrics.open_deals(), 7);  // 2 at LEAD, 3 at QUALIFIED, 2 at OFFER
}

TEST(FunnelAnalyticsTest, AverageDaysInStageOverDealsThatLeftIt) {
  auto metrics = Query(ProjectInto(JanuaryBook()), FunnelQuery{}).metrics();
  // LEAD -> QUALIFIED takes 2 days for the 8 qualified deals.
  EXPECT_DOUBLE_EQ(metrics.stages(0).average_days_in_stage(), 2.0);
  EXPECT_EQ(metrics.stages(0).deals_left_stage(), 8);
  // QUALIFIED -> OFFER takes 3 days for the 5 offered deals.
  EXPECT_DOUBLE_EQ(metrics.stages(1).average_days_in_stage(), 3.0);
  // OFFER -> outcome: won after 25 and 45 days, lost after 15: 85 / 3.
  EXPECT_DOUBLE_EQ(metrics.stages(2).average_days_in_stage(), 85.0 / 3.0);
  EXPECT_EQ(metrics.stages(2).deals_left_stage(), 3);
}

TEST(FunnelAnalyticsTest, SalesVelocityWorkedExample) {
  // 40 open deals x 25 % win rate x 25,000 average won deal / 90 days.
  EXPECT_NEAR(SalesVelocityPerDay(40, 0.25, 25000, 90), 2777.78, 0.005);
  EXPECT_EQ(SalesVelocityPerDay(40, 0.25, 25000, 0), 0.0);
}

TEST(FunnelAnalyticsTest, WeightedPipelineWorkedExample) {
  // 3,800 at a stage weighted 90 % and 22,500 at one weighted 20 %.
  EXPECT_EQ(WeightedPipeline({0, 2250000, 380000}, {0.10, 0.20, 0.90}), 792000);
  // With the default probabilities the two open January offers weigh 50 %.
  auto metrics = Query(ProjectInto(JanuaryBook()), FunnelQuery{}).metrics();
  EXPECT_EQ(metrics.weighted_pipeline().minor(), 100000);  // 2 x 1,000 x 0.5
}

TEST(FunnelAnalyticsTest, CohortFollowsLeadsOfTheWindowPeriodCountsEntriesInIt) {
  store::MemoryStore store = ProjectInto(JanuaryBook());
  FunnelQuery cohort;
  cohort.from_day = DayOfSeconds(kJan1);
  cohort.to_day = DayOfSeconds(kJan1) + 30;  // January, both ends inclusive
  auto january = Query(store, cohort);
  EXPECT_EQ(Deals(january), (std::vector<int64_t>{10, 8, 5, 2, 1})) << "outcomes after January count";

  FunnelQuery period = cohort;
  period.mode = FunnelMode::kPeriod;
  auto entries = Query(store, period);
  // Won on Jan 31 (j0) and Feb 21 (j1); lost on Jan 23.
  EXPECT_EQ(Deals(entries), (std::vector<int64_t>{10, 8, 5, 1, 1}));
  period.from_day = DayOfSeconds(kJan1) + 31;  // February
  period.to_day = DayOfSeconds(kJan1) + 59;
  EXPECT_EQ(Deals(Query(store, period)), (std::vector<int64_t>{0, 0, 0, 1, 0}));
  EXPECT_EQ(Query(store, period).metrics().open_deals(), 7) << "the open pipeline is today's";
}

TEST(FunnelAnalyticsTest, WindowsMixDayAndMonthCellsExactly) {
  store::MemoryStore store = ProjectInto(JanuaryBook());
  // Dec 15 .. Jan 5 covers the leads of Jan 1..5 only.
  FunnelQuery query;
  query.from_day = DayOfSeconds(kJan1) - 17;
  query.to_day = DayOfSeconds(kJan1) + 4;
  EXPECT_EQ(Query(store, query).stages(0).deals(), 5);
  query.to_day = DayOfSeconds(kJan1) + 40;  // to Feb 10: January whole plus days
  EXPECT_EQ(Query(store, query).stages(0).deals(), 10);
  query.from_day = DayOfSeconds(kJan1) + 3;  // Jan 4 ..
  EXPECT_EQ(Query(store, query).stages(0).deals(), 7);
}

TEST(FunnelAnalyticsTest, BreakdownBySalespersonAndMonth) {
  store::MemoryStore store = ProjectInto(JanuaryBook());
  FunnelQuery query;
  query.by = FunnelBreakdown::kSalesperson;
  auto response = Query(store, query);
  ASSERT_EQ(response.rows_size(), 2);
  EXPECT_EQ(response.rows(0).key(), "ana");
  EXPECT_EQ(response.rows(0).metrics().stages(0).deals(), 5);
  EXPECT_EQ(response.rows(0).metrics().stages(3).deals(), 1);  // j0
  EXPECT_EQ(response.rows(1).key(), "bo");
  EXPECT_EQ(response.rows(1).metrics().stages(3).deals(), 1);  // j1
  query.salesperson = "bo";
  EXPECT_EQ(Query(store, query).stages(0).deals(), 5);

  FunnelQuery by_month;
  by_month.mode = FunnelMode::kPeriod;
  by_month.by = FunnelBreakdown::kMonth;
  auto months = Query(store, by_month);
  ASSERT_EQ(months.rows_size(), 2);
  EXPECT_EQ(months.rows(0).key(), "2024-01");
  EXPECT_EQ(months.rows(1).key(), "2024-02");
  EXPECT_EQ(months.rows(1).metrics().stages(3).deals(), 1);
}

TEST(FunnelAnalyticsTest, RollupCellsAgreeWithTheDimensionCells) {
  // Unfiltered queries read the rollups; by=salesperson reads the dimension
  // cells. Their rows must add up to the rollup's totals, stage by stage.
  store::MemoryStore store = ProjectInto(JanuaryBook());
  for (FunnelMode mode : {FunnelMode::kCohort, FunnelMode::kPeriod}) {
    FunnelQuery total;
    total.mode = mode;
    FunnelQuery rows = total;
    rows.by = FunnelBreakdown::kSalesperson;
    auto totals = Query(store, total);
    auto split = Query(store, rows);
    for (int stage = 0; stage < 5; ++stage) {
      int64_t deals = 0, amount = 0;
      for (const auto& row : split.rows()) {
        deals += row.metrics().stages(stage).deals();
        amount += row.metrics().stages(stage).amounts(0).minor();
      }
      EXPECT_EQ(deals, totals.stages(stage).deals()) << stage;
      EXPECT_EQ(amount, totals.stages(stage).amounts(0).minor()) << stage;
    }
    EXPECT_EQ(split.metrics().SerializeAsString(), totals.metrics().SerializeAsString());
  }
}

TEST(FunnelAnalyticsTest, EveryCellFamilyGivesTheSameSlice) {
  // A query reads the smallest cell family that keeps its dimensions: the
  // totals, one family per dimension (a filter reads one value's range, a
  // breakdown skips from value to value) or the family with all three. The
  // same slice must come out of each, for windows with partial months.
  std::mt19937 random(7);
  std::vector<Event> events;
  const std::array<std::string, 3> people = {"ana", "bo", "cy"};
  const std::array<std::string, 2> regions = {"north", "south"};
  for (int deal = 0; deal < 300; ++deal) {
    const std::string id = "f" + std::to_string(deal);
    const int64_t start = kJan1 + static_cast<int64_t>(random() % 200) * kDay;
    Event lead = LeadBy(id + "-lead", id, start, people[random() % people.size()],
                        static_cast<lok::v1::LeadCreated::Channel>(random() % 8));
    lead.mutable_lead_created()->set_region(regions[random() % regions.size()]);
    lead.mutable_lead_created()->set_product(random() % 2 == 0 ? "gtx" : "mg");
    events.push_back(lead);
    if (random() % 4 != 0) events.push_back(Offer(id + "-offer", id, start + 9 * kDay, 5000));
    if (random() % 3 == 0) events.push_back(Won(id + "-won", id, start + 40 * kDay, 4500));
    if (random() % 5 == 0) events.push_back(Lost(id + "-lost", id, start + 30 * kDay));
  }
  const store::MemoryStore store = ProjectInto(events, 50);
  auto stage_deals = [](const lok::v1::FunnelMetrics& metrics) {
    std::vector<int64_t> deals;
    for (const auto& stage : metrics.stages()) {
      deals.push_back(stage.deals());
      deals.push_back(stage.amounts_size() > 0 ? stage.amounts(0).minor() : 0);
    }
    deals.push_back(metrics.open_deals());
    return deals;
  };
  int checked = 0;
  for (FunnelMode mode : {FunnelMode::kCohort, FunnelMode::kPeriod}) {
    for (auto window : {std::pair<int64_t, int64_t>{DayOfSeconds(kJan1) + 17, DayOfSeconds(kJan1) + 130},
                        std::pair<int64_t, int64_t>{DayOfSeconds(kJan1) + 31, DayOfSeconds(kJan1) + 59}}) {
      FunnelQuery base;
      base.mode = mode;
      base.from_day = window.first;
      base.to_day = window.second;
      FunnelQuery by_person = base;
      by_person.by = FunnelBreakdown::kSalesperson;
      const auto rows = Query(store, by_person);
      int64_t leads_over_rows = 0;
      for (const std::string& person : people) {
        FunnelQuery filtered = base;
        filtered.salesperson = person;
        const auto single = Query(store, filtered);  // the salesperson family, one range
        FunnelQuery combined = filtered;
        combined.by = FunnelBreakdown::kRegion;  // two dimensions: the family with all three
        const auto all = Query(store, combined);
        const auto row = std::find_if(rows.rows().begin(), rows.rows().end(),
                                      [&](const auto& candidate) { return candidate.key() == person; });
        ASSERT_NE(row, rows.rows().end()) << person;
        EXPECT_EQ(stage_deals(single.metrics()), stage_deals(row->metrics())) << person;
        EXPECT_EQ(stage_deals(single.metrics()), stage_deals(all.metrics())) << person;
        ASSERT_EQ(single.inbound_size(), all.inbound_size()) << person;
        for (int channel = 0; channel < single.inbound_size(); ++channel) {
          EXPECT_EQ(single.inbound(channel).SerializeAsString(),
                    all.inbound(channel).SerializeAsString());
        }
        leads_over_rows += row->metrics().stages(0).deals();
        checked += single.metrics().stages(0).deals() > 0 ? 1 : 0;
      }
      EXPECT_EQ(leads_over_rows, Query(store, base).stages(0).deals());  // the totals family
    }
  }
  EXPECT_GT(checked, 6);  // the slices were not empty
}

TEST(FunnelAnalyticsTest, ClientFilterReadsOnlyThatClientsDeals) {
  std::vector<Event> events = JanuaryBook();
  Event other = LeadBy("x-lead", "x", kJan1, "ana");
  other.set_client_id("globex");
  events.push_back(other);
  store::MemoryStore store = ProjectInto(events);
  FunnelQuery query;
  query.client = "globex";
  EXPECT_EQ(Deals(Query(store, query)), (std::vector<int64_t>{1, 0, 0, 0, 0}));
  query.client = "acme";
  EXPECT_EQ(Deals(Query(store, query)), (std::vector<int64_t>{10, 8, 5, 2, 1}));
  auto stages = ClientDealsByStage(store, "acme");
  ASSERT_TRUE(stages.ok());
  EXPECT_EQ((*stages)[lok::v1::WON], 2);
  EXPECT_EQ((*stages)[lok::v1::QUALIFIED], 3);
}

TEST(FunnelAnalyticsTest, PlanAgainstActualUsesTheLatestTarget) {
  std::vector<Event> events = JanuaryBook();
  // Two versions of January's plan; the later occurred_at is in force,
  // whichever arrives first.
  events.push_back(Target("t-new", "2024-01", 400000, kJan1 + 5 * kDay));
  events.insert(events.begin(), Target("t-old", "2024-01", 100000, kJan1));
  events.push_back(Target("t-ana", "2024-01", 50000, kJan1, "ana"));
  store::MemoryStore store = ProjectInto(events);
  FunnelQuery query;
  query.from_day = DayOfSeconds(kJan1);
  query.to_day = DayOfSeconds(kJan1) + 30;
  auto response = Query(store, query);
  // January's won amount (period): j0's 900.
  EXPECT_EQ(response.metrics().plan().minor(), 400000);
  EXPECT_EQ(response.metrics().plan_actual().minor(), 90000);
  EXPECT_DOUBLE_EQ(response.metrics().plan_attainment(), 0.225);
  ASSERT_EQ(response.plan_size(), 2);

  query.by = FunnelBreakdown::kSalesperson;
  auto rows = Query(store, query);
  const lok::v1::FunnelRow* ana = nullptr;
  for (const auto& row : rows.rows()) {
    if (row.key() == "ana") ana = &row;
  }
  ASSERT_NE(ana, nullptr);
  EXPECT_EQ(ana->metrics().plan().minor(), 50000);
  EXPECT_DOUBLE_EQ(ana->metrics().plan_attainment(), 1.8);  // 900 / 500

  // Every version is kept for the audit of "the plan as it stood".
  std::string versions;
  ASSERT_TRUE(store.ScanPrefix("funnel/target/", [&](std::string_view, std::string_view value) {
                     lok::v1::TargetState state;
                     EXPECT_TRUE(state.ParseFromArray(value.data(), static_cast<int>(value.size())));
                     versions += std::to_string(state.versions_size());
                     return true;
                   }).ok());
  EXPECT_EQ(versions, "21");
}

TEST(FunnelAnalyticsTest, InboundDemandByChannel) {
  std::vector<Event> events = {
      LeadBy("1", "a", kJan1, "ana", lok::v1::LeadCreated::INBOUND_CALL),
      LeadBy("2", "b", kJan1, "ana", lok::v1::LeadCreated::INBOUND_CALL),
      LeadBy("3", "c", kJan1, "ana", lok::v1::LeadCreated::INBOUND_WEB),
      Won("4", "a", kJan1 + kDay, 100)};
  auto response = Query(ProjectInto(events), FunnelQuery{});
  ASSERT_EQ(response.inbound_size(), 2);
  EXPECT_EQ(response.inbound(0).channel(), lok::v1::LeadCreated::INBOUND_CALL);
  EXPECT_EQ(response.inbound(0).leads(), 2);
  EXPECT_EQ(response.inbound(0).won(), 1);
  EXPECT_DOUBLE_EQ(response.inbound(0).conversion_to_won(), 0.5);
  EXPECT_EQ(response.inbound(1).leads(), 1);
}

TEST(FunnelAnalyticsTest, EveryQueryIsIndependentOfArrivalOrderAndBatching) {
  std::vector<Event> events = JanuaryBook();
  events.push_back(Target("t1", "2024-01", 300000, kJan1));
  events.push_back(Target("t2", "2024-01", 350000, kJan1));  // same time: larger id wins
  events.push_back(Won("j3-won", "j3", kJan1 + 40 * kDay, 5000));
  events.push_back(Lost("j3-lost", "j3", kJan1 + 40 * kDay));
  std::vector<FunnelQuery> queries(4);
  queries[1].mode = FunnelMode::kPeriod;
  queries[1].by = FunnelBreakdown::kMonth;
  queries[2].by = FunnelBreakdown::kSalesperson;
  queries[2].from_day = DayOfSeconds(kJan1) + 2;
  queries[3].client = "acme";
  queries[3].mode = FunnelMode::kPeriod;
  std::vector<std::string> expected;
  store::MemoryStore reference = ProjectInto(events);
  for (const auto& query : queries) expected.push_back(Query(reference, query).SerializeAsString());
  std::mt19937 random(3);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(events.begin(), events.end(), random);
    store::MemoryStore store = ProjectInto(events, 1 + random() % 7);
    for (size_t index = 0; index < queries.size(); ++index) {
      ASSERT_EQ(Query(store, queries[index]).SerializeAsString(), expected[index]) << "query " << index;
    }
  }
}

TEST(FunnelAnalyticsTest, EveryQueryShapeEqualsTheAnswerFromTheDeals) {
  // Random deals over three years, in two currencies, with dimension values
  // where one is a prefix of another. Each query shape (filters x breakdown
  // x window x mode) is answered from the cells: the smallest family, years,
  // months, 8-day blocks and days. The client filter answers the same query
  // from the deals themselves (every deal here is acme's), day by day, so
  // the two must agree to the byte.
  std::mt19937 random(11);
  const std::array<std::string, 3> people = {"an", "ana", "bo"};
  const std::array<std::string, 3> regions = {"north", "south", "west"};
  const std::array<std::string, 3> products = {"gtx", "mg", "mgx"};
  const int64_t first_day = *ParseDate("2022-11-20");
  std::vector<Event> events;
  for (int deal = 0; deal < 250; ++deal) {
    const std::string id = "r" + std::to_string(deal);
    const int64_t start = (first_day + static_cast<int64_t>(random() % 1200)) * kDay +
                          static_cast<int64_t>(random() % kDay);
    Event lead = LeadBy(id + "-lead", id, start, people[random() % people.size()],
                        static_cast<lok::v1::LeadCreated::Channel>(random() % 8));
    lead.mutable_lead_created()->set_region(regions[random() % regions.size()]);
    lead.mutable_lead_created()->set_product(products[random() % products.size()]);
    events.push_back(lead);
    const std::string currency = random() % 3 == 0 ? "EUR" : "USD";
    int64_t at = start + static_cast<int64_t>(random() % (20 * kDay));
    if (random() % 4 != 0) events.push_back(Qualified(id + "-qual", id, at));
    at += static_cast<int64_t>(random() % (40 * kDay));
    if (random() % 4 != 0) {
      events.push_back(Offer(id + "-offer", id, at, 1000 + static_cast<int64_t>(random() % 9000), currency));
    }
    at += static_cast<int64_t>(random() % (90 * kDay));
    if (random() % 3 == 0) {
      events.push_back(Won(id + "-won", id, at, 1000 + static_cast<int64_t>(random() % 9000), currency));
    } else if (random() % 3 == 0) {
      events.push_back(Lost(id + "-lost", id, at));
    }
  }
  events.push_back(Target("t1", "2024-03", 50000, kJan1));
  events.push_back(Target("t2", "2024-03", 20000, kJan1, "ana"));
  const store::MemoryStore store = ProjectInto(events, 64);

  auto day = [](std::string_view text) { return *ParseDate(text); };
  using Window = std::pair<std::optional<int64_t>, std::optional<int64_t>>;
  std::vector<Window> windows = {
      {std::nullopt, std::nullopt},
      {day("2023-03-14"), std::nullopt},                // from only
      {std::nullopt, day("2024-08-09")},                // to only
      {day("2024-01-01"), std::nullopt},                // from a year's start
      {std::nullopt, day("2023-12-31")},                // to a year's end
      {day("2024-05-10"), day("2024-05-23")},           // within a month
      {day("2024-05-09"), day("2024-05-16")},           // one whole block
      {day("2024-02-25"), day("2024-03-09")},           // across months
      {day("2023-01-01"), day("2024-12-31")},           // whole years
      {day("2023-02-01"), day("2024-11-30")},           // whole months
      {day("2022-12-25"), day("2025-01-08")},           // ragged, across years
      {day("2023-06-17"), day("2025-02-24")},           // ragged, several years
      {day("2022-12-31"), day("2024-01-01")},           // one day either side of a year
      {day("2023-04-30"), day("2023-06-01")},           // one day either side of months
      {day("2023-08-24"), day("2023-08-25")},           // one day either side of blocks
  };
  for (int extra = 0; extra < 4; ++extra) {
    const int64_t from = first_day + static_cast<int64_t>(random() % 1300);
    windows.push_back({from, from + static_cast<int64_t>(random() % 800)});
  }
  const std::array<FunnelBreakdown, 6> breakdowns = {
      FunnelBreakdown::kNone,    FunnelBreakdown::kSalesperson, FunnelBreakdown::kRegion,
      FunnelBreakdown::kProduct, FunnelBreakdown::kMonth,       FunnelBreakdown::kQuarter};
  int compared = 0, nonempty = 0;
  for (FunnelMode mode : {FunnelMode::kCohort, FunnelMode::kPeriod}) {
    for (int filters = 0; filters < 8; ++filters) {
      for (FunnelBreakdown by : breakdowns) {
        for (const Window& window : windows) {
          FunnelQuery query;
          query.mode = mode;
          query.by = by;
          query.from_day = window.first;
          query.to_day = window.second;
          query.currency = compared % 5 == 0 ? "EUR" : "USD";
          if (filters & 1) query.salesperson = "an";
          if (filters & 2) query.region = "south";
          if (filters & 4) query.product = "mg";
          FunnelQuery from_deals = query;
          from_deals.client = "acme";
          const lok::v1::FunnelResponse cells = Query(store, query);
          ASSERT_EQ(cells.DebugString(), Query(store, from_deals).DebugString())
              << "mode " << static_cast<int>(mode) << " filters " << filters << " by "
              << static_cast<int>(by) << " from "
              << (window.first ? FormatDate(*window.first) : "-") << " to "
              << (window.second ? FormatDate(*window.second) : "-");
          ++compared;
          nonempty += cells.stages(0).deals() > 0 ? 1 : 0;
        }
      }
    }
  }
  EXPECT_EQ(compared, 2 * 8 * 6 * static_cast<int>(windows.size()));
  EXPECT_GT(nonempty, compared / 2);  // most slices hold deals
}

TEST(FunnelAnalyticsTest, AStoreBuiltByAnOlderCellLayoutIsRefusedNotMisread) {
  store::MemoryStore store = ProjectInto(JanuaryBook());
  const std::string record = std::string(kVersionRecordPrefix) + "funnel";
  store::ChangeSet old_layout;
  old_layout.writes[record] = "1";
  store.Commit(old_layout);
  auto refused = QueryFunnel(store, FunnelQuery{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("version 1"), std::string::npos)
      << refused.status().message();
  store::ChangeSet current;
  current.writes[record] = std::to_string(kFunnelCellLayoutVersion);
  store.Commit(current);
  auto answered = QueryFunnel(store, FunnelQuery{});
  ASSERT_TRUE(answered.ok()) << answered.status().ToString();
  EXPECT_EQ(answered->stages(0).deals(), 10);
}

}  // namespace
}  // namespace lok::projections
