#include "projections/retention_summary.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "base/civil_time.h"
#include "projections/retention.h"
#include "store/transaction.h"

namespace lok::projections::internal {
namespace {

using lok::v1::Event;
using lok::v1::RetentionClient;

const int64_t kBase = *ParseDate("2024-01-01");

// Random events of every kind retention folds, over `clients` clients, days
// up to 400 after kBase, two currencies, and invoices with delays and
// payments in any order.
std::vector<Event> RandomEvents(std::mt19937& random, int count, int clients) {
  auto pick = [&](int below) { return static_cast<int>(random() % static_cast<unsigned>(below)); };
  const std::vector<std::string> people = {"ana", "bob", "cyd"};
  const std::vector<std::string> regions = {"north", "south", ""};
  std::vector<Event> events;
  for (int index = 0; index < count; ++index) {
    Event event;
    const std::string client = "client-" + std::to_string(pick(clients));
    event.set_event_id("e" + std::to_string(index));
    event.set_source(pick(4) == 0 ? "erp" : "crm");
    event.mutable_occurred_at()->set_seconds((kBase + pick(400)) * 86400 + pick(86400));
    event.set_client_id(client);
    const std::string deal = client + "-d" + std::to_string(pick(5));
    const std::string invoice = client + "-i" + std::to_string(pick(3));
    const std::string currency = pick(4) == 0 ? "EUR" : "USD";
    switch (pick(8)) {
      case 0:
        event.set_deal_id(deal);
        event.mutable_lead_created()->set_salesperson(people[static_cast<size_t>(pick(3))]);
        event.mutable_lead_created()->set_region(regions[static_cast<size_t>(pick(3))]);
        break;
      case 1:
      case 2:
        event.set_deal_id(deal);
        event.mutable_deal_won()->mutable_amount()->set_minor(100 * (1 + pick(500)));
        event.mutable_deal_won()->mutable_amount()->set_currency(currency);
        break;
      case 3:
        event.set_deal_id(deal);
        event.mutable_deal_lost()->set_reason("price");
        break;
      case 4:
        event.mutable_client_contacted()->set_salesperson(people[static_cast<size_t>(pick(3))]);
        break;
      case 5:
        event.mutable_payment_delayed()->set_invoice_id(invoice);
        event.mutable_payment_delayed()->set_days_overdue(pick(60));
        event.mutable_payment_delayed()->mutable_outstanding()->set_minor(100 * (1 + pick(50)));
        event.mutable_payment_delayed()->mutable_outstanding()->set_currency(currency);
        break;
      case 6:
        event.mutable_payment_received()->set_invoice_id(invoice);
        event.mutable_payment_received()->mutable_amount()->set_minor(100);
        event.mutable_payment_received()->mutable_amount()->set_currency(currency);
        break;
      default:
        event.mutable_invoice_issued()->set_invoice_id(invoice);
        event.mutable_invoice_issued()->mutable_amount()->set_minor(1000);
        event.mutable_invoice_issued()->mutable_amount()->set_currency(currency);
        event.mutable_invoice_issued()->set_due_date("2024-03-01");
        break;
    }
    events.push_back(std::move(event));
  }
  return events;
}

void ExpectSameSummary(const RetentionSummary& actual, const RetentionSummary& expected) {
  EXPECT_EQ(actual.client_id, expected.client_id);
  EXPECT_EQ(actual.salesperson, expected.salesperson);
  EXPECT_EQ(actual.region, expected.region);
  EXPECT_EQ(actual.currencies, expected.currencies);
  EXPECT_EQ(actual.contact_days, expected.contact_days);
  EXPECT_EQ(actual.deal_ends, expected.deal_ends);
  EXPECT_EQ(actual.invoice_ends, expected.invoice_ends);
  auto same = [](const std::vector<DatedAmount>& left, const std::vector<DatedAmount>& right) {
    if (left.size() != right.size()) return false;
    for (size_t index = 0; index < left.size(); ++index) {
      const DatedAmount& a = left[index];
      const DatedAmount& b = right[index];
      if (a.day != b.day || a.flag != b.flag || a.days_overdue != b.days_overdue ||
          a.minor != b.minor || a.currency != b.currency) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(same(actual.outcomes, expected.outcomes));
  EXPECT_TRUE(same(actual.payments, expected.payments));
}

// The states of the 40 clients of 3,000 random events.
std::map<std::string, RetentionClient> RandomClients(uint32_t seed) {
  std::mt19937 random(seed);
  std::map<std::string, RetentionClient> clients;
  for (const Event& event : RandomEvents(random, 3000, 40)) {
    FoldRetentionEvent(event, 20, clients[event.client_id()]);
  }
  return clients;
}

TEST(RetentionSummaryTest, EncodingRoundTripsEveryFactOfRandomClients) {
  const std::map<std::string, RetentionClient> clients = RandomClients(5);
  size_t with_payments = 0;
  for (const auto& [id, client] : clients) {
    RetentionSummary summary;
    SummarizeRetention(client, summary);
    const std::string bytes = EncodeRetentionSummary(summary);
    RetentionSummary decoded;
    ASSERT_TRUE(DecodeRetentionSummary(bytes, decoded)) << id;
    ExpectSameSummary(decoded, summary);
    // Every fact of the state is in the summary.
    EXPECT_EQ(summary.deal_ends.size(), static_cast<size_t>(client.deals_size()));
    EXPECT_EQ(summary.invoice_ends.size(), static_cast<size_t>(client.invoices_size()));
    EXPECT_EQ(summary.contact_days.size(), static_cast<size_t>(client.contact_days_size()));
    if (!summary.payments.empty()) ++with_payments;
    // Smaller than the full state it summarises.
    EXPECT_LT(bytes.size(), client.ByteSizeLong()) << id;
  }
  EXPECT_EQ(clients.size(), 40u);
  EXPECT_GT(with_payments, 30u);
}

TEST(RetentionSummaryTest, DecodeRejectsTruncatedAndForeignBytes) {
  std::mt19937 random(6);
  RetentionClient client;
  for (const Event& event : RandomEvents(random, 200, 1)) FoldRetentionEvent(event, 20, client);
  RetentionSummary summary;
  SummarizeRetention(client, summary);
  const std::string bytes = EncodeRetentionSummary(summary);
  RetentionSummary decoded;
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_FALSE(DecodeRetentionSummary(bytes.substr(0, size), decoded)) << "size " << size;
  }
  EXPECT_FALSE(DecodeRetentionSummary(bytes + "x", decoded));
  EXPECT_FALSE(DecodeRetentionSummary(client.SerializeAsString(), decoded));
  EXPECT_TRUE(DecodeRetentionSummary(bytes, decoded));
}

// The queue entry the card's answer makes (the fields an entry has).
lok::v1::RetentionEntry EntryOfCard(const lok::v1::ClientRetention& card) {
  lok::v1::RetentionEntry entry;
  entry.set_client_id(card.client_id());
  entry.set_salesperson(card.salesperson());
  entry.set_region(card.region());
  entry.set_score(card.score());
  *entry.mutable_reasons() = card.reasons();
  entry.set_next_contact_due(card.next_contact_due());
  entry.set_last_contact(card.last_contact());
  *entry.mutable_revenue() = card.revenue();
  *entry.mutable_overdue() = card.overdue();
  entry.set_won_deals(card.won_deals());
  return entry;
}

// The queue scores candidates from the stored summaries (from their current
// facts when asOf is on or after the client's last dated fact, else from
// the dated facts), the card from the dated facts of the full state: on
// random data, over many days (past ones, and the day before, of and after
// each client's last fact), both give every client the same entry, field
// for field, so the stored summary is kept in step with the state in every
// batch and the current facts are the dated facts' answer.
TEST(RetentionSummaryTest, StoredSummariesScoreLikeTheFullState) {
  std::mt19937 random(9);
  const std::vector<Event> events = RandomEvents(random, 2500, 60);
  store::MemoryStore store;
  RetentionProjection projection;
  for (size_t start = 0; start < events.size(); start += 37) {
    store::Transaction transaction(store);
    for (size_t index = start; index < std::min(events.size(), start + 37); ++index) {
      ASSERT_TRUE(
          projection.Apply(events[index], {0, static_cast<int64_t>(index), 0}, transaction).ok());
    }
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok());
    store.Commit(*changes);
  }
  RetentionSettings settings;
  int compared = 0;
  int from_current = 0;
  int from_dated = 0;
  for (int index = 0; index < 60; ++index) {
    const std::string id = "client-" + std::to_string(index);
    auto stored = store.Get("retention/s/" + id);
    ASSERT_TRUE(stored.ok() && stored->has_value()) << id;
    RetentionSummary summary;
    ASSERT_TRUE(DecodeRetentionSummary(**stored, summary)) << id;
    ASSERT_TRUE(summary.has_current) << id;
    ASSERT_TRUE(summary.current.last_day.has_value()) << id;
    const int64_t last = *summary.current.last_day;
    std::vector<int64_t> days = {last - 1, last, last + 1, last + 200};
    for (int64_t day : {60, 150, 240, 330, 399, 450, 600}) days.push_back(kBase + day);
    for (int64_t day : days) {
      auto card = QueryClientRetention(store, id, day, settings);
      ASSERT_TRUE(card.ok()) << card.status().ToString();
      RetentionQuery query;
      query.as_of_day = day;
      query.client = id;
      auto queue = QueryRetention(store, query, settings);
      ASSERT_TRUE(queue.ok()) << queue.status().ToString();
      if (!card->needs_attention()) {
        EXPECT_EQ(queue->entries_size(), 0) << id << " day " << day;
        continue;
      }
      ASSERT_EQ(queue->entries_size(), 1) << id << " day " << day;
      EXPECT_EQ(queue->entries(0).SerializeAsString(), EntryOfCard(*card).SerializeAsString())
          << id << " day " << day;
      ++compared;
      ++(day >= last ? from_current : from_dated);
    }
  }
  EXPECT_GT(compared, 150);
  EXPECT_GT(from_current, 60);
  EXPECT_GT(from_dated, 60);
}

// What the current facts must be, from the dated facts: the latest outcome
// of every deal and the latest payment event of every invoice on a day
// after all of them.
TEST(RetentionSummaryTest, CurrentFactsAreTheFactsAfterTheLastDatedOne) {
  RetentionSummary summary;
  summary.currencies = {"USD", "", "EUR"};
  summary.contact_days = {10, 20, 35};
  // Deal 0: won on 5, then lost on 40. Deal 1: won on 12 (USD 300).
  // Deal 2: lost on 8, then won on 30 (EUR 50). Deal 3: won on 50 with no
  // currency. Deal 4: no outcome.
  summary.outcomes = {{.day = 5, .flag = true, .minor = 100, .currency = 0},
                      {.day = 40, .flag = false, .minor = 0, .currency = 1},
                      {.day = 12, .flag = true, .minor = 300, .currency = 0},
                      {.day = 8, .flag = false, .minor = 0, .currency = 1},
                      {.day = 30, .flag = true, .minor = 50, .currency = 2},
                      {.day = 50, .flag = true, .minor = 7, .currency = 1}};
  summary.deal_ends = {2, 3, 5, 6, 6};
  // Invoice 0: delayed on 60 (20 days, USD 90). Invoice 1: delayed on 15,
  // then paid on 25.
  summary.payments = {{.day = 60, .flag = true, .days_overdue = 20, .minor = 90, .currency = 0},
                      {.day = 15, .flag = true, .days_overdue = 3, .minor = 10, .currency = 2},
                      {.day = 25, .flag = false, .minor = 10, .currency = 2}};
  summary.invoice_ends = {1, 3};
  CurrentFacts current;
  CurrentFactsOf(summary, current);
  EXPECT_EQ(current.last_day, 60);
  EXPECT_EQ(current.last_contact_day, 35);
  EXPECT_EQ(current.won_count, 3);
  EXPECT_EQ(current.last_win_day, 50);
  // Latest first.
  ASSERT_EQ(current.wins.size(), 3u);
  EXPECT_EQ(current.wins[0].day, 50);
  EXPECT_EQ(current.wins[1].day, 30);
  EXPECT_EQ(current.wins[1].currency, 2u);
  EXPECT_EQ(current.wins[2].day, 12);
  EXPECT_EQ(current.wins[2].minor, 300);
  // Win days 12, 30, 50: intervals 18 and 20, median 19.
  EXPECT_EQ(current.twice_median_interval, 38);
  // EUR before USD; the win without a currency is in no revenue.
  const std::vector<std::pair<uint32_t, int64_t>> revenue = {{2, 50}, {0, 300}};
  EXPECT_EQ(current.revenue, revenue);
  ASSERT_EQ(current.open_delays.size(), 1u);
  EXPECT_EQ(current.open_delays[0].day, 40);
  EXPECT_EQ(current.open_delays[0].minor, 90);

  // Round trip, and DecodeRetentionSummaryFor stops after them from their
  // last day on.
  const std::string bytes = EncodeRetentionSummary(summary);
  RetentionSummary decoded;
  constexpr int64_t kAllWins = std::numeric_limits<int64_t>::min();
  ASSERT_TRUE(DecodeRetentionSummaryFor(bytes, 60, kAllWins, decoded));
  EXPECT_TRUE(decoded.has_current);
  EXPECT_FALSE(decoded.has_dated);
  EXPECT_TRUE(decoded.contact_days.empty());
  EXPECT_TRUE(decoded.outcomes.empty());
  EXPECT_EQ(decoded.current.won_count, 3);
  EXPECT_EQ(decoded.current.last_win_day, 50);
  ASSERT_EQ(decoded.current.wins.size(), 3u);
  EXPECT_EQ(decoded.current.wins[2].day, 12);
  EXPECT_EQ(decoded.current.wins[2].minor, 300);
  EXPECT_EQ(decoded.current.twice_median_interval, 38);
  EXPECT_EQ(decoded.current.revenue, revenue);
  ASSERT_EQ(decoded.current.open_delays.size(), 1u);
  EXPECT_EQ(decoded.current.open_delays[0].day, 40);
  // Only the wins after `wins_after`: the won count and the last win stay.
  ASSERT_TRUE(DecodeRetentionSummaryFor(bytes, 100, 29, decoded));
  EXPECT_FALSE(decoded.has_dated);
  EXPECT_EQ(decoded.current.won_count, 3);
  ASSERT_EQ(decoded.current.wins.size(), 2u);
  EXPECT_EQ(decoded.current.wins[1].day, 30);
  ASSERT_TRUE(DecodeRetentionSummaryFor(bytes, 100, 50, decoded));
  EXPECT_TRUE(decoded.current.wins.empty());
  EXPECT_EQ(decoded.current.last_win_day, 50);
  // Before the last fact: every part, every win, whatever `wins_after`.
  ASSERT_TRUE(DecodeRetentionSummaryFor(bytes, 59, 50, decoded));
  EXPECT_TRUE(decoded.has_current);
  EXPECT_TRUE(decoded.has_dated);
  EXPECT_EQ(decoded.current.wins.size(), 3u);
  EXPECT_EQ(decoded.contact_days, summary.contact_days);
  EXPECT_EQ(decoded.outcomes.size(), 6u);

  // No dated fact: the current facts hold on every day.
  RetentionSummary empty;
  empty.client_id = "quiet";
  const std::string empty_bytes = EncodeRetentionSummary(empty);
  ASSERT_TRUE(DecodeRetentionSummaryFor(empty_bytes, -100000, kAllWins, decoded));
  EXPECT_FALSE(decoded.current.last_day.has_value());
  EXPECT_FALSE(decoded.has_dated);
  EXPECT_EQ(decoded.client_id, "quiet");
}

TEST(RetentionSummaryTest, TwiceMedianIntervalOfOddAndEvenCounts) {
  // 10, 20, 30 → 20.
  std::vector<int64_t> days = {60, 0, 30, 10};
  EXPECT_EQ(TwiceMedianInterval(days), 40);
  // 10, 20 → 15.
  days = {0, 10, 30};
  EXPECT_EQ(TwiceMedianInterval(days), 30);
  // Same day: 0.
  days = {7, 7};
  EXPECT_EQ(TwiceMedianInterval(days), 0);
  // 1, 1, 5, 9 → 3.
  days = {16, 0, 1, 2, 7};
  EXPECT_EQ(TwiceMedianInterval(days), 6);
}

// Current facts of random clients: decoded as encoded, equal to what the
// dated facts give, and every truncation of the bytes is refused by both
// decoders up to the end of the current facts.
TEST(RetentionSummaryTest, CurrentFactsOfRandomClientsRoundTrip) {
  const std::map<std::string, RetentionClient> clients = RandomClients(12);
  int with_median = 0;
  for (const auto& [id, client] : clients) {
    RetentionSummary summary;
    SummarizeRetention(client, summary);
    EXPECT_FALSE(summary.has_current);
    CurrentFacts expected;
    CurrentFactsOf(summary, expected);
    const std::string bytes = EncodeRetentionSummary(summary);
    RetentionSummary decoded;
    ASSERT_TRUE(DecodeRetentionSummaryFor(bytes, kBase + 1000, kBase - 1, decoded)) << id;
    ASSERT_FALSE(decoded.has_dated) << id;
    EXPECT_EQ(decoded.current.last_day, expected.last_day) << id;
    EXPECT_EQ(decoded.current.last_contact_day, expected.last_contact_day) << id;
    EXPECT_EQ(decoded.current.won_count, expected.won_count) << id;
    EXPECT_EQ(decoded.current.last_win_day, expected.last_win_day) << id;
    ASSERT_EQ(decoded.current.wins.size(), expected.wins.size()) << id;
    for (size_t index = 0; index < expected.wins.size(); ++index) {
      EXPECT_EQ(decoded.current.wins[index].day, expected.wins[index].day);
      EXPECT_EQ(decoded.current.wins[index].minor, expected.wins[index].minor);
      EXPECT_EQ(decoded.current.wins[index].currency, expected.wins[index].currency);
    }
    EXPECT_EQ(decoded.current.twice_median_interval, expected.twice_median_interval) << id;
    EXPECT_EQ(decoded.current.revenue, expected.revenue) << id;
    ASSERT_EQ(decoded.current.open_delays.size(), expected.open_delays.size()) << id;
    for (size_t index = 0; index < expected.open_delays.size(); ++index) {
      EXPECT_EQ(decoded.current.open_delays[index].day, expected.open_delays[index].day);
      EXPECT_EQ(decoded.current.open_delays[index].minor, expected.open_delays[index].minor);
    }
    if (expected.wins.size() >= 2) ++with_median;
    // A prefix that ends before the end of the current facts is refused by
    // the early-stopping decoder too; every prefix by the full one.
    for (size_t size = 0; size < bytes.size(); ++size) {
      RetentionSummary partial;
      if (DecodeRetentionSummaryFor(bytes.substr(0, size), kBase + 1000, kBase - 1, partial)) {
        // Only a prefix holding all of the current facts may decode.
        EXPECT_EQ(partial.current.open_delays.size(), expected.open_delays.size()) << id;
        EXPECT_EQ(partial.current.revenue, expected.revenue) << id;
      }
      EXPECT_FALSE(DecodeRetentionSummary(bytes.substr(0, size), partial)) << id;
    }
  }
  EXPECT_GT(with_median, 10);
}

// A summary stored by retention version 2 (format 1: no current facts),
// encoded by that version's code: it still decodes, fully, for any day,
// and scores from its dated facts.
TEST(RetentionSummaryTest, Format1SummariesStillDecode) {
  const std::string hex =
      "0108636c69656e742d3003616e6105736f757468030345555200035553441db0b40201090f08061b11050c10"
      "1803250436110313060612080f11110b06040504f8b5020198a40200e6b8020000019eba0201984302b2ba02"
      "01b8c6010203d6b50200000198b60200000198b70200000102f2b4020190cb0102e0b50201d0d1030002feb4"
      "02000001ceb60201808d040207e2b402000001c8b60201a8ef03028cb80201889b0402dab80201808a0502f2"
      "b80201a882060288ba02000001aaba0201f0b805020304acb4020154b02200e8b5020000c80102dab602010e"
      "e8200296b902016690030003d2b7020134d04102bab8020000c80100f8b902012eb0220200";
  std::string bytes;
  for (size_t at = 0; at + 1 < hex.size(); at += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(at, 2), nullptr, 16)));
  }
  RetentionSummary decoded;
  ASSERT_TRUE(DecodeRetentionSummaryFor(bytes, kBase + 100000, kBase + 100000, decoded));
  EXPECT_FALSE(decoded.has_current);
  EXPECT_TRUE(decoded.has_dated);
  EXPECT_EQ(decoded.client_id, "client-0");
  EXPECT_EQ(decoded.salesperson, "ana");
  EXPECT_EQ(decoded.region, "south");
  EXPECT_EQ(decoded.deal_ends.size(), 5u);
  EXPECT_EQ(decoded.outcomes.size(), 18u);
  EXPECT_EQ(decoded.payments.size(), 7u);
  EXPECT_EQ(decoded.contact_days.size(), 29u);
  // Re-encoded (format 2), the dated facts are the same.
  RetentionSummary again;
  const std::string again_bytes = EncodeRetentionSummary(decoded);
  ASSERT_TRUE(DecodeRetentionSummary(again_bytes, again));
  EXPECT_TRUE(again.has_current);
  ExpectSameSummary(again, decoded);
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_FALSE(DecodeRetentionSummaryFor(bytes.substr(0, size), kBase, kBase, decoded)) << size;
  }
}

}  // namespace
}  // namespace lok::projections::internal
