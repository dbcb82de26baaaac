#include "projections/retention_summary.h"

#include <gtest/gtest.h>

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

TEST(RetentionSummaryTest, EncodingRoundTripsEveryFactOfRandomClients) {
  std::mt19937 random(5);
  std::map<std::string, RetentionClient> clients;
  for (const Event& event : RandomEvents(random, 3000, 40)) {
    FoldRetentionEvent(event, 20, clients[event.client_id()]);
  }
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

// The queue scores candidates from the stored summaries, the card from the
// full state: on random data, over many days (past ones too), both give
// every client the same score and reasons, so the stored summary is kept in
// step with the state in every batch.
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
  for (int64_t day : {60, 150, 240, 330, 399, 450, 600}) {
    for (int index = 0; index < 60; ++index) {
      const std::string id = "client-" + std::to_string(index);
      auto card = QueryClientRetention(store, id, kBase + day, settings);
      ASSERT_TRUE(card.ok()) << card.status().ToString();
      RetentionQuery query;
      query.as_of_day = kBase + day;
      query.client = id;
      auto queue = QueryRetention(store, query, settings);
      ASSERT_TRUE(queue.ok()) << queue.status().ToString();
      if (!card->needs_attention()) {
        EXPECT_EQ(queue->entries_size(), 0) << id << " day " << day;
        continue;
      }
      ASSERT_EQ(queue->entries_size(), 1) << id << " day " << day;
      const lok::v1::RetentionEntry& entry = queue->entries(0);
      EXPECT_EQ(entry.score(), card->score()) << id << " day " << day;
      ASSERT_EQ(entry.reasons_size(), card->reasons_size()) << id << " day " << day;
      for (int reason = 0; reason < entry.reasons_size(); ++reason) {
        EXPECT_EQ(entry.reasons(reason).SerializeAsString(),
                  card->reasons(reason).SerializeAsString());
      }
      EXPECT_EQ(entry.won_deals(), card->won_deals());
      EXPECT_EQ(entry.next_contact_due(), card->next_contact_due());
      EXPECT_EQ(entry.salesperson(), card->salesperson());
      EXPECT_EQ(entry.region(), card->region());
      ASSERT_EQ(entry.overdue_size(), card->overdue_size());
      ASSERT_EQ(entry.revenue_size(), card->revenue_size());
      ++compared;
    }
  }
  EXPECT_GT(compared, 100);
}

}  // namespace
}  // namespace lok::projections::internal
