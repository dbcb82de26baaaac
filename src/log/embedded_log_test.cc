#include "log/embedded_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "log/partitioner.h"

namespace lok::log {
namespace {

class EmbeddedLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("lok-embedded-log-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }

  std::unique_ptr<EmbeddedLog> OpenLog() {
    auto log = EmbeddedLog::Open(path_.string(), 4);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return std::move(log).value();
  }

  std::vector<Record> ReadAll(LogReader& reader, size_t expected) {
    std::vector<Record> all;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (all.size() < expected && std::chrono::steady_clock::now() < deadline) {
      auto batch = reader.Poll(100, std::chrono::milliseconds(200));
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) break;
      for (Record& record : *batch) all.push_back(std::move(record));
    }
    return all;
  }

  std::filesystem::path path_;
};

std::vector<OutgoingRecord> KeyedRecords(int count) {
  std::vector<OutgoingRecord> records;
  for (int index = 0; index < count; ++index) {
    records.push_back({"client-" + std::to_string(index % 7),
                       "value-" + std::to_string(index),
                       {{"h", std::to_string(index)}}});
  }
  return records;
}

TEST_F(EmbeddedLogTest, AppendAssignsDenseOffsetsPerPartitionByKafkaPartitioner) {
  auto log = OpenLog();
  auto positions = log->Append("events", KeyedRecords(50));
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  std::map<int32_t, int64_t> next;
  for (int index = 0; index < 50; ++index) {
    const Position& position = (*positions)[static_cast<size_t>(index)];
    EXPECT_EQ(position.partition, PartitionForKey("client-" + std::to_string(index % 7), 4));
    EXPECT_EQ(position.offset, next[position.partition]++);
  }
}

TEST_F(EmbeddedLogTest, KeepsGivenRecordTimesAndFindsTheFirstOffsetAfterATime) {
  auto log = OpenLog();
  ASSERT_TRUE(log->CreateTopic("timed", 2).ok());
  std::vector<OutgoingRecord> records;
  for (int64_t stamp : {1000, 2000, 2000, 3000}) {
    OutgoingRecord record{"", "v" + std::to_string(stamp), {}, 0};
    record.timestamp_ms = stamp;
    records.push_back(record);
  }
  records.push_back({"", "now", {}, 1});  // no time given: the append's
  ASSERT_TRUE(log->Append("timed", records).ok());
  auto reader = log->NewReader("timed");
  ASSERT_TRUE(reader->Assign({{0, 0}, {1, 0}}).ok());
  std::vector<Record> read = ReadAll(*reader, 5);
  ASSERT_EQ(read.size(), 5u);
  EXPECT_EQ(read[0].timestamp_ms, 1000);
  EXPECT_EQ(read[3].timestamp_ms, 3000);
  EXPECT_GT(read[4].timestamp_ms, 1700000000000);
  // Partition 0 holds 1000, 2000, 2000, 3000 at offsets 0..3.
  EXPECT_EQ((*reader->OffsetsAfterTime(999)), (PartitionOffsets{{0, 0}, {1, 0}}));
  EXPECT_EQ((*reader->OffsetsAfterTime(1000))[0], 1);
  EXPECT_EQ((*reader->OffsetsAfterTime(2000))[0], 3);
  EXPECT_EQ((*reader->OffsetsAfterTime(2999))[0], 3);
  EXPECT_EQ((*reader->OffsetsAfterTime(3000))[0], 4);
  EXPECT_EQ((*reader->OffsetsAfterTime(3000))[1], 0) << "its record was appended later";
  EXPECT_EQ((*reader->OffsetsAfterTime(INT64_MAX / 2))[1], 1);
  EXPECT_EQ(log->NewReader("missing")->OffsetsAfterTime(0).status().code(), StatusCode::kNotFound);
}

TEST_F(EmbeddedLogTest, ReaderReturnsRecordsInOrderWithHeaders) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append("events", KeyedRecords(200)).ok());
  auto reader = log->NewReader("events");
  ASSERT_TRUE(reader->Assign({{0, 0}, {1, 0}, {2, 0}, {3, 0}}).ok());
  std::vector<Record> records = ReadAll(*reader, 200);
  ASSERT_EQ(records.size(), 200U);
  std::map<int32_t, int64_t> last;
  for (const Record& record : records) {
    auto previous = last.find(record.partition);
    if (previous != last.end()) {
      EXPECT_EQ(record.offset, previous->second + 1);
    }
    last[record.partition] = record.offset;
    ASSERT_EQ(record.headers.size(), 1U);
    EXPECT_EQ("value-" + record.headers[0].value, record.value);
  }
}

TEST_F(EmbeddedLogTest, SurvivesReopenAndResumesFromGivenOffsets) {
  {
    auto log = OpenLog();
    ASSERT_TRUE(log->Append("events", KeyedRecords(40)).ok());
  }
  auto log = OpenLog();
  auto more = log->Append("events", KeyedRecords(40));
  ASSERT_TRUE(more.ok());
  auto reader = log->NewReader("events");
  auto ends = reader->Assign({{0, 0}, {1, 0}, {2, 0}, {3, 0}});
  ASSERT_TRUE(ends.ok());
  auto end_offsets = reader->EndOffsets();
  ASSERT_TRUE(end_offsets.ok());
  int64_t total = 0;
  for (const auto& [partition, end] : *end_offsets) total += end;
  EXPECT_EQ(total, 80);

  // Resume partition 0..3 from the middle: only the later half comes back.
  PartitionOffsets middle;
  for (const auto& [partition, end] : *end_offsets) middle[partition] = end / 2;
  ASSERT_TRUE(reader->Assign(middle).ok());
  int64_t expected = 0;
  for (const auto& [partition, end] : *end_offsets) expected += end - end / 2;
  std::vector<Record> records = ReadAll(*reader, static_cast<size_t>(expected));
  EXPECT_EQ(static_cast<int64_t>(records.size()), expected);
  for (const Record& record : records) EXPECT_GE(record.offset, middle[record.partition]);
}

TEST_F(EmbeddedLogTest, PollWakesOnAppendFromAnotherThread) {
  auto log = OpenLog();
  ASSERT_TRUE(log->CreateTopic("events", 4).ok());
  auto reader = log->NewReader("events");
  ASSERT_TRUE(reader->Assign({{0, 0}, {1, 0}, {2, 0}, {3, 0}}).ok());
  std::thread writer([&] { EXPECT_TRUE(log->Append("events", KeyedRecords(1)).ok()); });
  std::vector<Record> records = ReadAll(*reader, 1);
  writer.join();
  EXPECT_EQ(records.size(), 1U);
}

TEST_F(EmbeddedLogTest, TopicPartitionCountIsFixed) {
  auto log = OpenLog();
  ASSERT_TRUE(log->CreateTopic("events", 4).ok());
  EXPECT_TRUE(log->CreateTopic("events", 4).ok());
  Status status = log->CreateTopic("events", 8);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->NewReader("missing")->PartitionCount().status().code(), StatusCode::kNotFound);
}

TEST_F(EmbeddedLogTest, PartitionBeyondTopicIsRejected) {
  auto log = OpenLog();
  std::vector<OutgoingRecord> records = {{"k", "v", {}, 9}};
  EXPECT_EQ(log->Append("events", records).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace lok::log
