// An ordered, partitioned, durable log of records: the one interface the
// projector and the ingest path see, whether the log is Kafka or embedded.
//
// Semantics shared by every implementation:
// - A topic has a fixed number of partitions. Records with the same key go to
//   the same partition (Kafka's default murmur2 partitioner, see
//   partitioner.h), and within a partition offsets grow by one from 0 in
//   append order.
// - Append returns only once every record is durable (Kafka: acknowledged by
//   all in-sync replicas; embedded: synced to the RocksDB WAL).
// - A reader is positioned explicitly: the caller says where each partition
//   starts, because the caller's own store is the truth about its position.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace lok::log {

struct Header {
  std::string key;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

// A record as read back from the log.
struct Record {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp_ms = 0;  // the log's record time (Kafka CreateTime / append time)
  std::vector<Header> headers;
};

// A record to append. The partition is chosen from the key unless given.
struct OutgoingRecord {
  std::string key;
  std::string value;
  std::vector<Header> headers;
  int32_t partition = -1;  // -1: by key
  // The record time to store (Kafka CreateTime), ms since the epoch; 0: the
  // time of the append. Lok's own writers leave it 0; importers of history
  // and tests of knownAt set it.
  int64_t timestamp_ms = 0;
};

struct Position {
  int32_t partition = 0;
  int64_t offset = 0;
  friend bool operator==(const Position&, const Position&) = default;
};

// Next offset to read, per partition.
using PartitionOffsets = std::map<int32_t, int64_t>;

// The records a prefix of the log holds: the sum of its next offsets.
inline int64_t RecordCount(const PartitionOffsets& offsets) {
  int64_t count = 0;
  for (const auto& [partition, offset] : offsets) count += offset;
  return count;
}

// Thread-safe: Append may be called from several threads at once.
class LogWriter {
 public:
  virtual ~LogWriter() = default;

  // Appends `records` to `topic` and waits until all are durable. On success
  // returns each record's position, in input order. On error (broker down,
  // timeout, disk) some records may have been appended anyway; callers that
  // retry rely on the event identity (source, event_id) to drop duplicates.
  virtual StatusOr<std::vector<Position>> Append(std::string_view topic,
                                                 std::vector<OutgoingRecord> records) = 0;
};

// Reads one topic. Not thread-safe: one thread polls it.
class LogReader {
 public:
  virtual ~LogReader() = default;

  // The number of partitions of the topic. kNotFound when the topic does not
  // exist yet (embedded log: nothing appended; Kafka: not created).
  virtual StatusOr<int32_t> PartitionCount() = 0;

  // Reads exactly the given partitions, each from its next offset (0 for a
  // partition never read). Replaces any earlier assignment.
  virtual Status Assign(const PartitionOffsets& next_offsets) = 0;

  // Returns up to `max_records` records of the assigned partitions, in offset
  // order within each partition, waiting up to `timeout` for the first one.
  // An empty vector means nothing new arrived within the timeout.
  virtual StatusOr<std::vector<Record>> Poll(size_t max_records,
                                             std::chrono::milliseconds timeout) = 0;

  // The end offset (the offset the next append will get) of each assigned
  // partition, for lag and readiness.
  virtual StatusOr<PartitionOffsets> EndOffsets() = 0;

  // For every partition of the topic, the offset of its first record whose
  // timestamp is after `timestamp_ms` (the end offset when there is none):
  // the records before it are those the log had received by then, provided
  // record times do not go backwards within a partition (Kafka's
  // offsetsForTimes has the same premise). Independent of Assign.
  // Errors: kNotFound when the topic does not exist; kUnavailable.
  virtual StatusOr<PartitionOffsets> OffsetsAfterTime(int64_t timestamp_ms) = 0;

  // Tells monitoring where the reader's owner has durably got to (Kafka:
  // commits to the consumer group, for lag dashboards). Never used to resume.
  virtual void ReportCommitted(const PartitionOffsets& next_offsets) { (void)next_offsets; }
};

// The dead-letter topic of `topic`.
inline std::string DeadLetterTopic(std::string_view topic) { return std::string(topic) + ".dlq"; }

// Header names on a dead-letter record; the value is the original bytes.
inline constexpr std::string_view kDeadLetterReasonHeader = "lok.dlq.reason";
inline constexpr std::string_view kDeadLetterTopicHeader = "lok.dlq.topic";
inline constexpr std::string_view kDeadLetterPartitionHeader = "lok.dlq.partition";
inline constexpr std::string_view kDeadLetterOffsetHeader = "lok.dlq.offset";

}  // namespace lok::log
