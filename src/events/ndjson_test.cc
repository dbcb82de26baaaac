#include "events/ndjson.h"

#include <gtest/gtest.h>

namespace lok::events {
namespace {

constexpr const char* kValid =
    R"({"event_id":"e1","source":"crm","occurred_at":"2024-01-01T00:00:00Z","client_id":"acme","deal_id":"d1","lead_qualified":{}})";

TEST(NdjsonTest, EveryLineIsAcceptedOrRejectedWithItsNumber) {
  std::string body = std::string(kValid) + "\n\n{not json}\r\n" +
                     R"({"event_id":"e2","source":"crm","lead_qualified":{}})" + "\n" + kValid;
  ParsedBatch batch = ParseNdjson(body);
  ASSERT_EQ(batch.events.size(), 2U);
  EXPECT_EQ(batch.event_lines, (std::vector<size_t>{1, 5}));
  ASSERT_EQ(batch.rejected.size(), 2U);
  EXPECT_EQ(batch.rejected[0].line, 3U);
  EXPECT_NE(batch.rejected[0].reason.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(batch.rejected[1].line, 4U);
  EXPECT_EQ(batch.rejected[1].reason,
            "occurred_at: required; client_id: required; deal_id: required");
}

TEST(NdjsonTest, EmptyBodyHasNothing) {
  ParsedBatch batch = ParseNdjson("");
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.rejected.empty());
}

}  // namespace
}  // namespace lok::events
