#include "projections/funnel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

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
lok::v1::FunnelResponse Project(const std::vector<Event>& events, size_t batch_size = 1) {
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
  auto response = Project(
      {Offer("1", "d", 10, 1000), Offer("2", "d", 20, 800), Offer("3", "e", 10, 300, "EUR")});
  EXPECT_EQ(Amount(response, lok::v1::OFFER, "USD"), 800);
  EXPECT_EQ(Amount(response, lok::v1::OFFER, "EUR"), 300);
  EXPECT_EQ(response.stages(2).amounts_size(), 2);
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

}  // namespace
}  // namespace lok::projections
