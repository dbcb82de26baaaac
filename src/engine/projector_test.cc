#include "engine/projector.h"

#include <gtest/gtest.h>

#include "engine/projector_fixture.h"
#include "log/embedded_log.h"
#include "projections/funnel.h"

namespace lok::engine {
namespace {

lok::v1::Event WonEvent(const std::string& id, const std::string& client, int64_t minor) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("billing");
  event.mutable_occurred_at()->set_seconds(1700000000);
  event.set_client_id(client);
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

log::OutgoingRecord AsRecord(const lok::v1::Event& event) {
  return {event.client_id(), event.SerializeAsString(), {}};
}

// A projector of the funnel on a real embedded log and a real RocksDB store.
class ProjectorTest : public ProjectorFixture {
 protected:
  ProjectorTest() : ProjectorFixture("lok-projector") {}

  void SetUp() override {
    ProjectorFixture::SetUp();
    OpenProjector();
  }

  // (Re)opens store and projector, as a restarted lokd would.
  void OpenProjector() {
    ProjectorOptions options;
    options.max_batch = 7;
    options.poll_timeout = std::chrono::milliseconds(50);
    ProjectorFixture::OpenProjector({&funnel_}, options);
  }

  projections::FunnelProjection funnel_;
};

TEST_F(ProjectorTest, AppliesEveryEventAndStoresPositionsWithState) {
  std::vector<log::OutgoingRecord> records;
  for (int index = 0; index < 50; ++index) {
    records.push_back(
        AsRecord(WonEvent("e" + std::to_string(index), "c" + std::to_string(index % 9), 100)));
  }
  ASSERT_TRUE(log_->Append("events", records).ok());
  Drain();
  EXPECT_EQ(WonDeals(), 50);
  EXPECT_EQ(Counter(kAppliedCounter), 50);
  auto positions = ReadPositions(*store_);
  ASSERT_TRUE(positions.ok());
  int64_t total = 0;
  for (const auto& [partition, offset] : *positions) total += offset;
  EXPECT_EQ(total, 50);
  EXPECT_TRUE(metrics_.caught_up());
}

TEST_F(ProjectorTest, RestartResumesFromStoredOffsetsWithoutDoubleCounting) {
  std::vector<log::OutgoingRecord> records;
  for (int index = 0; index < 30; ++index) {
    records.push_back(
        AsRecord(WonEvent("e" + std::to_string(index), "c" + std::to_string(index), 1)));
  }
  ASSERT_TRUE(log_->Append("events", records).ok());
  ASSERT_TRUE(projector_->RunOnce().ok());  // one partial batch only
  const int64_t after_one_batch = Counter(kAppliedCounter);
  EXPECT_GT(after_one_batch, 0);
  EXPECT_LT(after_one_batch, 30);
  OpenProjector();
  Drain();
  EXPECT_EQ(WonDeals(), 30);
  EXPECT_EQ(Counter(kAppliedCounter), 30);
}

TEST_F(ProjectorTest, RepublishedEventsAreDroppedAsDuplicates) {
  std::vector<log::OutgoingRecord> records = {AsRecord(WonEvent("same", "acme", 100)),
                                              AsRecord(WonEvent("other", "acme", 100))};
  ASSERT_TRUE(log_->Append("events", records).ok());
  ASSERT_TRUE(log_->Append("events", records).ok());
  Drain();
  EXPECT_EQ(WonDeals(), 2);
  EXPECT_EQ(Counter(kDuplicateCounter), 2);
  EXPECT_EQ(metrics_.duplicates(), 2);
}

TEST_F(ProjectorTest, BadRecordsGoToDeadLettersWithReasonWhileTheRestIsApplied) {
  lok::v1::Event invalid = WonEvent("bad", "acme", -5);
  std::vector<log::OutgoingRecord> records = {AsRecord(WonEvent("good", "acme", 100)),
                                              {"acme", "\xff\xfe not protobuf", {}},
                                              AsRecord(invalid)};
  auto positions = log_->Append("events", records);
  ASSERT_TRUE(positions.ok());
  Drain();
  EXPECT_EQ(WonDeals(), 1);
  EXPECT_EQ(Counter(kDeadLetteredCounter), 2);

  auto dlq = log_->NewReader("events.dlq");
  ASSERT_TRUE(dlq->Assign({{0, 0}, {1, 0}, {2, 0}, {3, 0}}).ok());
  auto letters = dlq->Poll(10, std::chrono::milliseconds(100));
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 2U);
  std::map<std::string, std::string> headers;
  for (const auto& header : (*letters)[1].headers) headers[header.key] = header.value;
  EXPECT_EQ((*letters)[1].value, records[2].value) << "original bytes kept";
  EXPECT_EQ(headers["lok.dlq.reason"], "deal_won.amount.minor: must be >= 0");
  EXPECT_EQ(headers["lok.dlq.partition"], std::to_string((*positions)[2].partition));
  EXPECT_EQ(headers["lok.dlq.offset"], std::to_string((*positions)[2].offset));
  std::map<std::string, std::string> first;
  for (const auto& header : (*letters)[0].headers) first[header.key] = header.value;
  EXPECT_NE(first["lok.dlq.reason"].find("not a valid lok.v1.Event"), std::string::npos);
}

}  // namespace
}  // namespace lok::engine
