#include "projections/history.h"

#include <gtest/gtest.h>

namespace lok::projections {
namespace {

lok::v1::Event Contact(const std::string& id, const std::string& client, int64_t seconds,
                       const std::string& deal = "") {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.set_client_id(client);
  event.set_deal_id(deal);
  event.mutable_occurred_at()->set_seconds(seconds);
  if (deal.empty()) {
    event.mutable_client_contacted()->set_channel(lok::v1::ClientContacted::CALL);
  } else {
    event.mutable_lead_qualified();
  }
  return event;
}

class HistoryTest : public ::testing::Test {
 protected:
  // Applies events in the given (arrival) order, each at the next offset.
  void Apply(const std::vector<lok::v1::Event>& events) {
    store::Transaction transaction(store_);
    for (const auto& event : events) {
      const std::string raw = event.SerializeAsString();
      ASSERT_TRUE(history_.Apply(event, {2, next_offset_++, 1000, raw}, transaction).ok());
    }
    auto changes = transaction.Finish();
    ASSERT_TRUE(changes.ok());
    store_.Commit(*changes);
  }

  std::vector<std::string> Ids(const lok::v1::HistoryResponse& response) {
    std::vector<std::string> ids;
    for (const auto& entry : response.events()) ids.push_back(entry.event().event_id());
    return ids;
  }

  store::MemoryStore store_;
  HistoryProjection history_;
  int64_t next_offset_ = 0;
};

TEST_F(HistoryTest, ClientHistoryIsInBusinessTimeOrderWithPositionsAndRawBytes) {
  Apply({Contact("c", "acme", 300), Contact("a", "acme", 100), Contact("x", "globex", 50),
         Contact("b", "acme", 200, "deal-1")});
  auto response = QueryHistory(store_, HistoryOf::kClient, "acme", 10, "");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(Ids(*response), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(response->events(0).partition(), 2);
  EXPECT_EQ(response->events(0).offset(), 1);  // arrived second
  EXPECT_EQ(response->events(0).raw(), Contact("a", "acme", 100).SerializeAsString());
  EXPECT_TRUE(response->next_cursor().empty());
}

TEST_F(HistoryTest, DealHistoryHasOnlyTheDealsEvents) {
  Apply({Contact("a", "acme", 100), Contact("b", "acme", 200, "deal-1"),
         Contact("d", "acme", 150, "deal-1")});
  auto response = QueryHistory(store_, HistoryOf::kDeal, "deal-1", 10, "");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(Ids(*response), (std::vector<std::string>{"d", "b"}));
  EXPECT_EQ(response->deal_id(), "deal-1");
}

TEST_F(HistoryTest, PagesFollowTheCursorToTheEnd) {
  std::vector<lok::v1::Event> events;
  for (int index = 0; index < 7; ++index) {
    events.push_back(Contact("e" + std::to_string(index), "acme", 100 + index));
  }
  Apply(events);
  std::vector<std::string> all;
  std::string cursor;
  int pages = 0;
  do {
    auto page = QueryHistory(store_, HistoryOf::kClient, "acme", 3, cursor);
    ASSERT_TRUE(page.ok());
    for (const auto& id : Ids(*page)) all.push_back(id);
    cursor = page->next_cursor();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(all, (std::vector<std::string>{"e0", "e1", "e2", "e3", "e4", "e5", "e6"}));
}

TEST_F(HistoryTest, NewestFirstPagesBackwards) {
  std::vector<lok::v1::Event> events;
  for (int index = 0; index < 5; ++index) {
    events.push_back(Contact("e" + std::to_string(index), "acme", 100 + index));
  }
  Apply(events);
  auto first = QueryHistory(store_, HistoryOf::kClient, "acme", 2, "", /*newest_first=*/true);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Ids(*first), (std::vector<std::string>{"e4", "e3"}));
  auto second = QueryHistory(store_, HistoryOf::kClient, "acme", 2, first->next_cursor(), true);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Ids(*second), (std::vector<std::string>{"e2", "e1"}));
  auto last = QueryHistory(store_, HistoryOf::kClient, "acme", 2, second->next_cursor(), true);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(Ids(*last), (std::vector<std::string>{"e0"}));
  EXPECT_TRUE(last->next_cursor().empty());
}

TEST_F(HistoryTest, MalformedCursorIsInvalidArgument) {
  EXPECT_EQ(QueryHistory(store_, HistoryOf::kClient, "acme", 3, "zz").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(QueryHistory(store_, HistoryOf::kClient, "acme", 3, "abcd").status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(HistoryTest, UnknownClientHasAnEmptyHistory) {
  auto response = QueryHistory(store_, HistoryOf::kClient, "nobody", 3, "");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->events_size(), 0);
}

}  // namespace
}  // namespace lok::projections
