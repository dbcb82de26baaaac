// Lok's log interface (log.h) on Apache Kafka, through librdkafka's C API.
//
// The writer is an idempotent producer (acks=all, enable.idempotence=true)
// using librdkafka's "murmur2_random" partitioner, so a keyed record lands on
// the partition PartitionForKey (partitioner.h) and the embedded log would
// pick. The reader is a consumer with a manual assignment: it never
// subscribes and never resumes from committed offsets, because the reader's
// owner keeps its position in its own store (log.h); offsets are committed to
// the consumer group only so that lag dashboards work.
//
//   KafkaConfig config{.brokers = "127.0.0.1:19092"};
//   LOK_RETURN_IF_ERROR(CreateTopic(config, "events", 8, std::chrono::seconds(30)));
//   LOK_ASSIGN_OR_RETURN(auto writer, KafkaLogWriter::Create(config));
//   LOK_ASSIGN_OR_RETURN(auto positions, writer->Append("events", std::move(records)));
//   LOK_ASSIGN_OR_RETURN(auto reader, KafkaLogReader::Create(config, "events", "lokd"));
//   LOK_RETURN_IF_ERROR(reader->Assign({{0, next_offset_0}, {1, next_offset_1}}));
//   LOK_ASSIGN_OR_RETURN(auto batch, reader->Poll(500, std::chrono::milliseconds(200)));
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"
#include "log/log.h"

// librdkafka's client handle (rd_kafka_t), declared here so that this header
// does not pull in rdkafka.h.
struct rd_kafka_s;

namespace lok::log {

struct KafkaConfig {
  // bootstrap.servers: "host:port[,host:port...]". Required.
  std::string brokers;
  // Passed through to librdkafka for every client Lok creates (producer,
  // consumer, admin), e.g. security.protocol, sasl.mechanism, sasl.username,
  // ssl.ca.location, client.id, linger.ms, compression.type, debug. Settings
  // Lok's guarantees rest on (acks, enable.idempotence, partitioner,
  // enable.auto.commit, ...) cannot be changed: Create fails with
  // kInvalidArgument when a property here contradicts one of them.
  std::map<std::string, std::string> properties;
  // How long Append waits for the broker to acknowledge every record
  // (librdkafka's message.timeout.ms).
  std::chrono::milliseconds delivery_timeout{30000};
  // How long a metadata, watermark or admin request may take.
  std::chrono::milliseconds request_timeout{10000};
};

// Creates `topic` with `partitions` partitions and the broker's default
// replication factor. Returns once the cluster's metadata shows a leader for
// every partition, so that readers and writers created next find the topic;
// `timeout` bounds the whole call. Success also when the topic already exists
// with `partitions` partitions.
// Errors: kFailedPrecondition when it exists with another partition count
// (partitions are never re-spread), kInvalidArgument for a bad name, count or
// config, kUnavailable when the cluster cannot be reached in time.
Status CreateTopic(const KafkaConfig& config, std::string_view topic, int32_t partitions,
                   std::chrono::milliseconds timeout);

namespace internal {
struct KafkaHandleDeleter {
  void operator()(rd_kafka_s* handle) const;
};
using KafkaHandle = std::unique_ptr<rd_kafka_s, KafkaHandleDeleter>;
struct DeliveryBatch;
}  // namespace internal

// Appends to any topic of one Kafka cluster.
//
// Thread-safe: Append may be called from several threads at once; they share
// one producer connection. Delivery reports are served by a thread the writer
// owns.
class KafkaLogWriter : public LogWriter {
 public:
  // A connected producer. Connecting is lazy: an unreachable cluster shows up
  // as kUnavailable from Append, not here.
  // Errors: kInvalidArgument when `config` has no brokers, names an unknown
  // property, gives a property a value librdkafka rejects (the message names
  // the property) or contradicts a setting Lok requires.
  static StatusOr<std::unique_ptr<KafkaLogWriter>> Create(const KafkaConfig& config);

  // Gives up on records still unacknowledged (only an Append that timed out
  // leaves any) and closes the connection.
  ~KafkaLogWriter() override;

  KafkaLogWriter(const KafkaLogWriter&) = delete;
  KafkaLogWriter& operator=(const KafkaLogWriter&) = delete;

  // See LogWriter::Append. A record with partition >= 0 goes to that
  // partition; one with an empty key and partition -1 goes to partition 0
  // (as in the embedded log); others go to PartitionForKey(key, count).
  // Returns once every record is acknowledged by all in-sync replicas, or
  // after about config.delivery_timeout with an error.
  // Errors (the message names the topic and librdkafka's reason):
  // kInvalidArgument for a record the broker or librdkafka refuses (too
  // large, bad topic name, partition beyond the topic's count), kNotFound
  // when librdkafka learns that the topic does not exist (clusters that
  // create topics on use never say so), kFailedPrecondition when
  // authorization fails or the idempotent producer hit a fatal error (create
  // a new writer), kUnavailable when the cluster does not acknowledge in
  // time. Some records may have been appended anyway.
  StatusOr<std::vector<Position>> Append(std::string_view topic,
                                         std::vector<OutgoingRecord> records) override;

 private:
  KafkaLogWriter(internal::KafkaHandle producer, std::chrono::milliseconds delivery_timeout);

  // The body of delivery_thread_: serves delivery reports until stopping_.
  void ServeDeliveryReports();
  // Frees batches that an Append gave up on once librdkafka has reported
  // every record of theirs.
  void ForgetFinishedAbandonedBatches();

  internal::KafkaHandle producer_;
  const std::chrono::milliseconds delivery_timeout_;
  std::atomic<bool> stopping_{false};
  std::thread delivery_thread_;
  // Batches of timed-out Appends: librdkafka still holds pointers into them.
  std::mutex abandoned_mutex_;
  std::vector<std::unique_ptr<internal::DeliveryBatch>> abandoned_;
};

// Reads one topic through a consumer whose partitions and offsets are set by
// Assign only. Not thread-safe: one thread uses it (as LogReader says).
class KafkaLogReader : public LogReader {
 public:
  // A consumer of `topic` in consumer group `group_id` (used only for the
  // offsets ReportCommitted publishes). Nothing is assigned yet.
  // Errors: kInvalidArgument as for KafkaLogWriter::Create, or when `topic`
  // or `group_id` is empty.
  static StatusOr<std::unique_ptr<KafkaLogReader>> Create(const KafkaConfig& config,
                                                          std::string topic, std::string group_id);

  // Leaves the group cleanly (rd_kafka_consumer_close) and disconnects.
  ~KafkaLogReader() override;

  KafkaLogReader(const KafkaLogReader&) = delete;
  KafkaLogReader& operator=(const KafkaLogReader&) = delete;

  // kNotFound when the topic does not exist (this never creates it);
  // kUnavailable when the cluster does not answer within
  // config.request_timeout.
  StatusOr<int32_t> PartitionCount() override;

  // kInvalidArgument for a negative partition or offset. An offset no longer
  // in the log (deleted by retention) restarts that partition at its earliest
  // record.
  Status Assign(const PartitionOffsets& next_offsets) override;

  // Connection trouble (broker down, reconnecting) is not an error: librdkafka
  // retries by itself and Poll returns what arrives within `timeout`, possibly
  // nothing. Errors: kNotFound when an assigned topic or partition does not
  // exist, kFailedPrecondition when authorization fails, kUnavailable
  // otherwise. Records read before an error are returned first and the error
  // on the next call, so none is lost.
  StatusOr<std::vector<Record>> Poll(size_t max_records,
                                     std::chrono::milliseconds timeout) override;

  // The high watermark of each assigned partition. kUnavailable when the
  // cluster does not answer within config.request_timeout.
  StatusOr<PartitionOffsets> EndOffsets() override;

  // The broker's offsetsForTimes (ListOffsets by timestamp) for timestamp_ms
  // + 1 on every partition. kUnavailable when the cluster does not answer
  // within config.request_timeout.
  StatusOr<PartitionOffsets> OffsetsAfterTime(int64_t timestamp_ms) override;

  // Commits `next_offsets` to the consumer group asynchronously. Failures are
  // only logged: these offsets feed dashboards and are never read back.
  void ReportCommitted(const PartitionOffsets& next_offsets) override;

 private:
  KafkaLogReader(internal::KafkaHandle consumer, std::string topic,
                 std::chrono::milliseconds request_timeout);

  internal::KafkaHandle consumer_;
  const std::string topic_;
  const std::chrono::milliseconds request_timeout_;
  PartitionOffsets assigned_;  // the offsets of the last Assign
  Status pending_error_;       // an error met after records Poll already returned
};

}  // namespace lok::log
