// Integration tests of the Kafka log against a real broker, named by
// LOK_KAFKA_BROKERS (e.g. `bash deploy/kafka/kafka.sh start` and
// LOK_KAFKA_BROKERS=127.0.0.1:19092). Without it the broker tests are skipped.
#include "log/kafka_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "log/partitioner.h"

namespace lok::log {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr int32_t kPartitions = 4;

std::string RandomSuffix() {
  std::random_device device;
  std::uniform_int_distribution<uint32_t> distribution;
  char buffer[9];
  std::snprintf(buffer, sizeof(buffer), "%08x", distribution(device));
  return buffer;
}

// Record `index` of a test: keys repeat so that every partition gets several
// keys, headers include an empty and a binary value.
OutgoingRecord TestRecord(int index) {
  OutgoingRecord record;
  record.key = "client-" + std::to_string(index % 37);
  record.value = "value-" + std::to_string(index);
  record.headers = {{"lok.event_id", "event-" + std::to_string(index)},
                    {"lok.empty", ""},
                    {"lok.binary", std::string("a\0b", 3)}};
  return record;
}

std::vector<OutgoingRecord> TestRecords(int count) {
  std::vector<OutgoingRecord> records;
  records.reserve(static_cast<size_t>(count));
  for (int index = 0; index < count; ++index) records.push_back(TestRecord(index));
  return records;
}

PartitionOffsets AllPartitionsFrom(int64_t offset) {
  PartitionOffsets offsets;
  for (int32_t partition = 0; partition < kPartitions; ++partition) offsets[partition] = offset;
  return offsets;
}

class KafkaLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("LOK_KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0') {
      GTEST_SKIP() << "LOK_KAFKA_BROKERS is not set: start a broker with "
                      "`bash deploy/kafka/kafka.sh start` and set "
                      "LOK_KAFKA_BROKERS=127.0.0.1:19092 to run the Kafka tests";
    }
    config_.brokers = brokers;
  }

  // A fresh topic with kPartitions partitions, unique to this test run.
  std::string NewTopic() {
    std::string topic = std::string("lok-test-") +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                        RandomSuffix();
    Status created = CreateTopic(config_, topic, kPartitions, seconds(30));
    EXPECT_TRUE(created.ok()) << created.ToString();
    return topic;
  }

  std::unique_ptr<KafkaLogWriter> NewWriter() {
    auto writer = KafkaLogWriter::Create(config_);
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    return writer.ok() ? std::move(writer).value() : nullptr;
  }

  std::unique_ptr<KafkaLogReader> NewReader(const std::string& topic) {
    auto reader = KafkaLogReader::Create(config_, topic, "lok-test-" + RandomSuffix());
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? std::move(reader).value() : nullptr;
  }

  // Polls until `expected` records arrived or 30 s passed.
  static std::vector<Record> ReadAtLeast(LogReader& reader, size_t expected) {
    std::vector<Record> all;
    const auto deadline = steady_clock::now() + seconds(30);
    while (all.size() < expected && steady_clock::now() < deadline) {
      auto batch = reader.Poll(expected - all.size(), milliseconds(500));
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok()) break;
      for (Record& record : *batch) all.push_back(std::move(record));
    }
    return all;
  }

  // Asserts that nothing beyond what was read arrives.
  static void ExpectNothingMore(LogReader& reader) {
    auto more = reader.Poll(10, milliseconds(500));
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    EXPECT_TRUE(more->empty()) << "unexpected record at partition " << more->front().partition
                               << " offset " << more->front().offset;
  }

  KafkaConfig config_;
};

TEST_F(KafkaLogTest, AppendPutsKeysOnKafkaPartitionsWithDenseOffsetsAndReadsThemBack) {
  const std::string topic = NewTopic();
  auto writer = NewWriter();
  ASSERT_NE(writer, nullptr);
  constexpr int kCount = 1000;
  auto positions = writer->Append(topic, TestRecords(kCount));
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  ASSERT_EQ(positions->size(), static_cast<size_t>(kCount));

  // Input order within a partition is offset order: 0, 1, 2, ...
  std::map<int32_t, std::vector<int>> indexes_by_partition;
  for (int index = 0; index < kCount; ++index) {
    const OutgoingRecord expected = TestRecord(index);
    const Position& position = (*positions)[static_cast<size_t>(index)];
    EXPECT_EQ(position.partition, PartitionForKey(expected.key, kPartitions)) << expected.key;
    std::vector<int>& indexes = indexes_by_partition[position.partition];
    EXPECT_EQ(position.offset, static_cast<int64_t>(indexes.size())) << "record " << index;
    indexes.push_back(index);
  }
  EXPECT_EQ(indexes_by_partition.size(), static_cast<size_t>(kPartitions));

  auto reader = NewReader(topic);
  ASSERT_NE(reader, nullptr);
  auto partition_count = reader->PartitionCount();
  ASSERT_TRUE(partition_count.ok()) << partition_count.status().ToString();
  EXPECT_EQ(*partition_count, kPartitions);
  ASSERT_TRUE(reader->Assign(AllPartitionsFrom(0)).ok());

  auto ends = reader->EndOffsets();
  ASSERT_TRUE(ends.ok()) << ends.status().ToString();
  PartitionOffsets expected_ends;
  for (const auto& [partition, indexes] : indexes_by_partition) {
    expected_ends[partition] = static_cast<int64_t>(indexes.size());
  }
  EXPECT_EQ(*ends, expected_ends);

  const std::vector<Record> records = ReadAtLeast(*reader, kCount);
  ASSERT_EQ(records.size(), static_cast<size_t>(kCount));
  std::map<int32_t, size_t> read_per_partition;
  for (const Record& record : records) {
    size_t& next = read_per_partition[record.partition];
    const std::vector<int>& indexes = indexes_by_partition[record.partition];
    ASSERT_LT(next, indexes.size()) << "partition " << record.partition;
    const OutgoingRecord expected = TestRecord(indexes[next]);
    EXPECT_EQ(record.offset, static_cast<int64_t>(next));
    EXPECT_EQ(record.key, expected.key);
    EXPECT_EQ(record.value, expected.value);
    EXPECT_EQ(record.headers, expected.headers);
    EXPECT_GT(record.timestamp_ms, 0);
    ++next;
  }
  ExpectNothingMore(*reader);
  // For dashboards only; must not disturb reading.
  reader->ReportCommitted(*ends);
  ExpectNothingMore(*reader);
}

TEST_F(KafkaLogTest, AssignResumesExactlyAtTheGivenOffsets) {
  const std::string topic = NewTopic();
  auto writer = NewWriter();
  ASSERT_NE(writer, nullptr);
  auto positions = writer->Append(topic, TestRecords(400));
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  PartitionOffsets counts;
  for (const Position& position : *positions) ++counts[position.partition];

  // Resume each partition halfway, as a projector restarting from its store.
  PartitionOffsets resume_at;
  size_t expected_count = 0;
  for (const auto& [partition, count] : counts) {
    resume_at[partition] = count / 2;
    expected_count += static_cast<size_t>(count - count / 2);
  }
  auto reader = NewReader(topic);
  ASSERT_NE(reader, nullptr);
  // A first assignment from 0 that the second must replace entirely.
  ASSERT_TRUE(reader->Assign(AllPartitionsFrom(0)).ok());
  ASSERT_TRUE(reader->Assign(resume_at).ok());

  const std::vector<Record> records = ReadAtLeast(*reader, expected_count);
  ASSERT_EQ(records.size(), expected_count);
  PartitionOffsets next = resume_at;
  for (const Record& record : records) {
    EXPECT_EQ(record.offset, next[record.partition]) << "partition " << record.partition;
    next[record.partition] = record.offset + 1;
  }
  EXPECT_EQ(next, counts);
  ExpectNothingMore(*reader);
}

TEST_F(KafkaLogTest, PartitionCountOfMissingTopicIsNotFoundAndDoesNotCreateIt) {
  const std::string topic = "lok-test-missing-" + RandomSuffix();
  auto reader = NewReader(topic);
  ASSERT_NE(reader, nullptr);
  auto count = reader->PartitionCount();
  EXPECT_EQ(count.status().code(), StatusCode::kNotFound) << count.status().ToString();
  // Asking again must not find a topic the first request auto-created.
  count = reader->PartitionCount();
  EXPECT_EQ(count.status().code(), StatusCode::kNotFound) << count.status().ToString();
}

TEST_F(KafkaLogTest, CreateTopicAcceptsTheSameCountAndRefusesAnother) {
  const std::string topic = NewTopic();
  Status again = CreateTopic(config_, topic, kPartitions, seconds(30));
  EXPECT_TRUE(again.ok()) << again.ToString();
  Status other = CreateTopic(config_, topic, kPartitions + 1, seconds(30));
  EXPECT_EQ(other.code(), StatusCode::kFailedPrecondition) << other.ToString();
}

TEST_F(KafkaLogTest, ExplicitPartitionAndEmptyKeyAreHonoured) {
  const std::string topic = NewTopic();
  auto writer = NewWriter();
  ASSERT_NE(writer, nullptr);
  std::vector<OutgoingRecord> records(3);
  records[0].key = "client-1";
  records[0].partition = (PartitionForKey("client-1", kPartitions) + 1) % kPartitions;
  records[1].value = "no key";
  records[2].key = "client-1";
  auto positions = writer->Append(topic, records);
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  EXPECT_EQ((*positions)[0].partition, records[0].partition);
  EXPECT_EQ((*positions)[1].partition, 0);
  EXPECT_EQ((*positions)[2].partition, PartitionForKey("client-1", kPartitions));
}

TEST_F(KafkaLogTest, ProducerRecordTimesAreKeptAndOffsetsAfterTimeCutThere) {
  const std::string topic = NewTopic();
  auto writer = NewWriter();
  ASSERT_NE(writer, nullptr);
  // Record times two days ago, spaced by a second (the broker keeps
  // CreateTime within its retention).
  const int64_t base = std::chrono::duration_cast<milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() -
                       2 * 86400000;
  std::vector<OutgoingRecord> records;
  for (int i = 0; i < 4; ++i) {
    OutgoingRecord record;
    record.value = "r" + std::to_string(i);
    record.partition = 1;
    record.timestamp_ms = base + i * 1000;
    records.push_back(record);
  }
  ASSERT_TRUE(writer->Append(topic, records).ok());
  auto reader = NewReader(topic);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(reader->Assign({{1, 0}}).ok());
  std::vector<Record> read = ReadAtLeast(*reader, 4);
  ASSERT_EQ(read.size(), 4u);
  EXPECT_EQ(read[2].timestamp_ms, base + 2000);
  auto before = reader->OffsetsAfterTime(base - 1);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(before->size(), static_cast<size_t>(kPartitions));
  EXPECT_EQ(before->at(1), 0);
  EXPECT_EQ(reader->OffsetsAfterTime(base + 1500)->at(1), 2);
  EXPECT_EQ(reader->OffsetsAfterTime(base + 3000)->at(1), 4) << "none later: the end";
  EXPECT_EQ(reader->OffsetsAfterTime(base + 3000)->at(0), 0) << "an empty partition";
}

TEST_F(KafkaLogTest, ConcurrentAppendsAllSucceedWithDistinctPositions) {
  const std::string topic = NewTopic();
  auto writer = NewWriter();
  ASSERT_NE(writer, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<StatusOr<std::vector<Position>>> results(kThreads,
                                                       Status(StatusCode::kCancelled, ""));
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      results[static_cast<size_t>(thread)] = writer->Append(topic, TestRecords(kPerThread));
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::pair<int32_t, int64_t>> distinct;
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    for (const Position& position : *result) distinct.insert({position.partition, position.offset});
  }
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(KafkaLogTest, RecordLargerThanTheMessageLimitIsInvalidArgument) {
  const std::string topic = NewTopic();
  auto writer = NewWriter();
  ASSERT_NE(writer, nullptr);
  std::vector<OutgoingRecord> records(1);
  records[0].key = "client-1";
  records[0].value.assign(2 * 1024 * 1024, 'x');
  auto positions = writer->Append(topic, records);
  EXPECT_EQ(positions.status().code(), StatusCode::kInvalidArgument)
      << positions.status().ToString();
  EXPECT_NE(positions.status().message().find(topic), std::string::npos)
      << positions.status().ToString();
}

// These need no broker.

TEST(KafkaLogConfigTest, UnknownPropertyIsInvalidArgumentNamingIt) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties["no.such.property"] = "1";
  auto writer = KafkaLogWriter::Create(config);
  EXPECT_EQ(writer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(writer.status().message().find("no.such.property"), std::string::npos)
      << writer.status().ToString();
  auto reader = KafkaLogReader::Create(config, "events", "lok");
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
}

// lokd's --kafka-property and the gateway's reach librdkafka as they are:
// security settings for SASL over TLS are accepted, a bad value is refused by
// librdkafka naming the property. (No SASL broker runs here.)
TEST(KafkaLogConfigTest, SaslAndSslSettingsPassThroughToLibrdkafka) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties = {{"security.protocol", "SASL_SSL"},
                       {"sasl.mechanisms", "SCRAM-SHA-512"},
                       {"sasl.username", "lok"},
                       {"sasl.password", "secret"},
                       {"ssl.endpoint.identification.algorithm", "https"}};
  auto writer = KafkaLogWriter::Create(config);
  EXPECT_TRUE(writer.ok()) << writer.status().ToString();
  auto reader = KafkaLogReader::Create(config, "events", "lok");
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();

  config.properties = {{"security.protocol", "SASL_TLS"}};
  auto refused = KafkaLogWriter::Create(config);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("security.protocol"), std::string::npos)
      << refused.status().ToString();
}

TEST(KafkaLogConfigTest, PropertyContradictingLokIsInvalidArgument) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";
  config.properties["acks"] = "1";
  auto writer = KafkaLogWriter::Create(config);
  EXPECT_EQ(writer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(writer.status().message().find("acks"), std::string::npos)
      << writer.status().ToString();
  config.properties = {{"enable.auto.commit", "true"}};
  auto reader = KafkaLogReader::Create(config, "events", "lok");
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
}

TEST(KafkaLogConfigTest, UnreachableBrokerMakesAppendUnavailableAfterTheDeliveryTimeout) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";  // nothing listens there
  config.delivery_timeout = milliseconds(1500);
  auto writer = KafkaLogWriter::Create(config);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  const auto started = steady_clock::now();
  auto positions = (*writer)->Append("events", TestRecords(3));
  EXPECT_EQ(positions.status().code(), StatusCode::kUnavailable) << positions.status().ToString();
  EXPECT_NE(positions.status().message().find("events"), std::string::npos);
  EXPECT_LT(steady_clock::now() - started, seconds(10));
}

}  // namespace
}  // namespace lok::log
