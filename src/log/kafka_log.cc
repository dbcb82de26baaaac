#include "log/kafka_log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <limits>
#include <thread>
#include <utility>

namespace lok::log {

namespace internal {

void KafkaHandleDeleter::operator()(rd_kafka_s* handle) const { rd_kafka_destroy(handle); }

// librdkafka's per-message opaque: the delivery report finds the batch and
// the record's index through it.
struct DeliverySlot {
  DeliveryBatch* batch = nullptr;
  size_t index = 0;
};

// One Append's records in flight. The fields below `mutex` are guarded by it
// once the first record is produced.
struct DeliveryBatch {
  explicit DeliveryBatch(std::string topic_name, size_t size)
      : topic(std::move(topic_name)), positions(size), slots(size) {}

  const std::string topic;
  std::mutex mutex;
  std::condition_variable all_reported;
  size_t unreported = 0;            // produced records without a delivery report yet
  std::vector<Position> positions;  // by input index
  Status first_error;               // the first failed delivery
  std::vector<DeliverySlot> slots;  // never resized: librdkafka holds pointers into it
};

}  // namespace internal

namespace {

using internal::DeliveryBatch;
using internal::DeliverySlot;
using internal::KafkaHandle;

// RAII for the librdkafka objects that are not client handles.
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const {
    rd_kafka_metadata_destroy(metadata);
  }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct NewTopicDeleter {
  void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
};
struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* options) const {
    rd_kafka_AdminOptions_destroy(options);
  }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, NewTopicDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

using Setting = std::pair<std::string, std::string>;

// Added to a request's own timeout when waiting for its answer, so that the
// request's timeout error (more precise) arrives before we stop waiting.
constexpr std::chrono::milliseconds kAnswerMargin{5000};

// librdkafka takes int milliseconds; longer waits are clamped.
int ToTimeoutMs(std::chrono::milliseconds timeout) {
  const auto count = std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0,
                                                                std::numeric_limits<int>::max());
  return static_cast<int>(count);
}

StatusCode CodeForKafkaError(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:  // an invalid topic name
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:  // a partition beyond the topic's count
      return StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
      return StatusCode::kAlreadyExists;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__FATAL:
      return StatusCode::kFailedPrecondition;
    default:
      // Transport failures, timeouts, leader changes, throttling: the cluster
      // may answer later.
      return StatusCode::kUnavailable;
  }
}

// "kafka: <context>: <reason>", where the reason defaults to librdkafka's
// description of `error`.
Status KafkaError(rd_kafka_resp_err_t error, std::string_view context,
                  std::string_view reason = {}) {
  std::string message = "kafka: ";
  message += context;
  message += ": ";
  message += reason.empty() ? std::string_view(rd_kafka_err2str(error)) : reason;
  return {CodeForKafkaError(error), std::move(message)};
}

// Errors a consumer reports while librdkafka reconnects or fails over by
// itself; Poll logs them and keeps waiting instead of failing.
bool IsTransientConsumerError(rd_kafka_resp_err_t error) {
  switch (error) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
      return true;
    default:
      return false;
  }
}

// Routes librdkafka's own log lines (syslog levels) to spdlog. Called from
// librdkafka's threads; spdlog's default logger is thread-safe.
void LogToSpdlog(const rd_kafka_t* client, int level, const char* facility, const char* line) {
  spdlog::level::level_enum spdlog_level = spdlog::level::debug;
  if (level <= 2) {
    spdlog_level = spdlog::level::critical;
  } else if (level == 3) {
    spdlog_level = spdlog::level::err;
  } else if (level == 4) {
    spdlog_level = spdlog::level::warn;
  } else if (level <= 6) {
    spdlog_level = spdlog::level::info;
  }
  spdlog::log(spdlog_level, "librdkafka {} {}: {}", rd_kafka_name(client), facility, line);
}

// Errors librdkafka raises outside any request (brokers down, fatal
// idempotence errors). Requests report their own failures, so these are only
// logged.
void LogClientError(rd_kafka_t* client, int error, const char* reason, void* /*opaque*/) {
  const auto code = static_cast<rd_kafka_resp_err_t>(error);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    std::array<char, 512> fatal_reason{};
    const rd_kafka_resp_err_t fatal =
        rd_kafka_fatal_error(client, fatal_reason.data(), fatal_reason.size());
    spdlog::critical("kafka {}: fatal error {}: {}", rd_kafka_name(client),
                     rd_kafka_err2name(fatal), fatal_reason.data());
    return;
  }
  // A failed connection is already in librdkafka's own log (LogToSpdlog).
  const auto level =
      code == RD_KAFKA_RESP_ERR__TRANSPORT ? spdlog::level::debug : spdlog::level::warn;
  spdlog::log(level, "kafka {}: {}: {}", rd_kafka_name(client), rd_kafka_err2name(code), reason);
}

// Builds a librdkafka configuration: `defaults`, then the caller's
// properties, then `required` (which the caller may repeat but not change).
StatusOr<ConfPtr> BuildConf(const KafkaConfig& config, std::string_view role,
                            const std::vector<Setting>& defaults, std::vector<Setting> required) {
  if (config.brokers.empty()) {
    return InvalidArgumentError("kafka " + std::string(role) + ": no brokers configured");
  }
  required.emplace_back("bootstrap.servers", config.brokers);
  for (const auto& [name, value] : config.properties) {
    for (const auto& [required_name, required_value] : required) {
      if (name == required_name && value != required_value) {
        return InvalidArgumentError("kafka " + std::string(role) + ": property '" + name +
                                    "' must be '" + required_value + "' for Lok, not '" + value +
                                    "'");
      }
    }
  }
  ConfPtr conf(rd_kafka_conf_new());
  std::array<char, 512> reason{};
  const auto set = [&](const std::string& name, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), reason.data(), reason.size()) !=
        RD_KAFKA_CONF_OK) {
      return InvalidArgumentError("kafka " + std::string(role) + ": property '" + name +
                                  "': " + reason.data());
    }
    return Status::Ok();
  };
  for (const auto& [name, value] : defaults) LOK_RETURN_IF_ERROR(set(name, value));
  for (const auto& [name, value] : config.properties) LOK_RETURN_IF_ERROR(set(name, value));
  for (const auto& [name, value] : required) LOK_RETURN_IF_ERROR(set(name, value));
  rd_kafka_conf_set_log_cb(conf.get(), LogToSpdlog);
  rd_kafka_conf_set_error_cb(conf.get(), LogClientError);
  return conf;
}

// rd_kafka_new takes ownership of `conf` only when it succeeds.
StatusOr<KafkaHandle> NewClient(rd_kafka_type_t type, ConfPtr conf, std::string_view role) {
  std::array<char, 512> reason{};
  rd_kafka_t* client = rd_kafka_new(type, conf.get(), reason.data(), reason.size());
  if (client == nullptr) {
    return InvalidArgumentError("kafka " + std::string(role) + ": " + reason.data());
  }
  static_cast<void>(conf.release());
  return KafkaHandle(client);
}

// The settings every client shares, overridable by KafkaConfig::properties.
std::vector<Setting> CommonDefaults() {
  return {
      {"client.id", "lok"},
      // Brokers close idle connections; that is routine, not worth a log line.
      {"log.connection.close", "false"},
  };
}

struct TopicDescription {
  int32_t partitions = 0;
  bool every_partition_has_leader = false;
};

// `topic` as a metadata request on `client` sees it. kNotFound when the topic
// does not exist.
StatusOr<TopicDescription> DescribeTopic(rd_kafka_t* client, const std::string& topic,
                                         std::chrono::milliseconds timeout) {
  const std::string context = "metadata of topic '" + topic + "'";
  TopicPtr topic_handle(rd_kafka_topic_new(client, topic.c_str(), nullptr));
  if (topic_handle == nullptr) return KafkaError(rd_kafka_last_error(), context);
  const rd_kafka_metadata_t* raw_metadata = nullptr;
  const rd_kafka_resp_err_t error =
      rd_kafka_metadata(client, 0, topic_handle.get(), &raw_metadata, ToTimeoutMs(timeout));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaError(error, context);
  MetadataPtr metadata(raw_metadata);
  for (int index = 0; index < metadata->topic_cnt; ++index) {
    const rd_kafka_metadata_topic_t& found = metadata->topics[index];
    if (topic != found.topic) continue;
    if (found.err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaError(found.err, context);
    TopicDescription description;
    description.partitions = static_cast<int32_t>(found.partition_cnt);
    description.every_partition_has_leader = std::all_of(
        found.partitions, found.partitions + found.partition_cnt,
        [](const rd_kafka_metadata_partition_t& partition) { return partition.leader >= 0; });
    return description;
  }
  return NotFoundError("kafka: " + context + ": not in the cluster's metadata");
}

// Waits until every partition of `topic` has a leader and returns the
// partition count. The controller confirms a new topic before the brokers'
// metadata shows it, so for a moment after creation it looks missing.
StatusOr<int32_t> AwaitTopic(rd_kafka_t* client, const std::string& topic,
                             std::chrono::steady_clock::time_point deadline) {
  std::chrono::milliseconds backoff(20);
  while (true) {
    const auto remaining =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    StatusOr<TopicDescription> description =
        DescribeTopic(client, topic, std::max(remaining, std::chrono::milliseconds(1)));
    if (description.ok() && description->every_partition_has_leader) {
      return description->partitions;
    }
    const bool settling = description.ok() ||
                          description.status().code() == StatusCode::kNotFound ||
                          description.status().code() == StatusCode::kUnavailable;
    if (!settling) return description.status();
    if (std::chrono::steady_clock::now() + backoff >= deadline) {
      if (!description.ok()) return description.status();
      return UnavailableError("kafka: topic '" + topic + "': partitions without a leader");
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

// Called by rd_kafka_poll on the writer's delivery thread (or on a thread
// waiting for queue space), once per produced record.
void OnDelivery(rd_kafka_t* /*producer*/, const rd_kafka_message_t* message, void* /*opaque*/) {
  auto* slot = static_cast<DeliverySlot*>(message->_private);
  DeliveryBatch& batch = *slot->batch;
  std::lock_guard lock(batch.mutex);
  if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (batch.first_error.ok()) {
      // Not rd_kafka_message_errstr: on a delivery report it returns the
      // record's value, which is not NUL-terminated.
      batch.first_error = KafkaError(message->err, "appending to topic '" + batch.topic +
                                                       "': record " + std::to_string(slot->index));
    }
  } else {
    batch.positions[slot->index] = {message->partition, message->offset};
  }
  // Notified under the lock: the Append waiting on the batch may free it as
  // soon as it sees the count reach zero.
  if (--batch.unreported == 0) batch.all_reported.notify_all();
}

// Serves the async commit results that Poll and the destructor dispatch.
void OnCommitted(rd_kafka_t* consumer, rd_kafka_resp_err_t error,
                 rd_kafka_topic_partition_list_t* offsets, void* /*opaque*/) {
  if (error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  spdlog::warn("kafka {}: reporting committed offsets failed: {}", rd_kafka_name(consumer),
               rd_kafka_err2str(error));
  for (int index = 0; offsets != nullptr && index < offsets->cnt; ++index) {
    const rd_kafka_topic_partition_t& partition = offsets->elems[index];
    if (partition.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("kafka {}: committing {}[{}] at {}: {}", rd_kafka_name(consumer),
                   partition.topic, partition.partition, partition.offset,
                   rd_kafka_err2str(partition.err));
    }
  }
}

// The reason carried by a consumer error message: its payload, which
// rd_kafka_message_errstr would return assuming a terminating NUL.
std::string ConsumerErrorReason(const rd_kafka_message_t& message) {
  if (message.payload == nullptr) return rd_kafka_err2str(message.err);
  return std::string(static_cast<const char*>(message.payload), message.len);
}

Record ToRecord(const rd_kafka_message_t& message) {
  Record record;
  record.partition = message.partition;
  record.offset = message.offset;
  if (message.key != nullptr) {
    record.key.assign(static_cast<const char*>(message.key), message.key_len);
  }
  if (message.payload != nullptr) {
    record.value.assign(static_cast<const char*>(message.payload), message.len);
  }
  rd_kafka_timestamp_type_t timestamp_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  record.timestamp_ms = std::max<int64_t>(0, rd_kafka_message_timestamp(&message, &timestamp_type));
  // The headers stay owned by the message.
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    size_t value_size = 0;
    for (size_t index = 0; rd_kafka_header_get_all(headers, index, &name, &value, &value_size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
         ++index) {
      Header& header = record.headers.emplace_back();
      header.key = name;
      if (value != nullptr) header.value.assign(static_cast<const char*>(value), value_size);
    }
  }
  return record;
}

}  // namespace

// --- CreateTopic ---------------------------------------------------------------

Status CreateTopic(const KafkaConfig& config, std::string_view topic, int32_t partitions,
                   std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string name(topic);
  const std::string context = "creating topic '" + name + "'";
  if (name.empty()) return InvalidArgumentError("kafka: creating a topic: empty name");
  if (partitions <= 0) {
    return InvalidArgumentError("kafka: " + context + ": partition count must be positive, not " +
                                std::to_string(partitions));
  }
  LOK_ASSIGN_OR_RETURN(ConfPtr conf, BuildConf(config, "admin", CommonDefaults(),
                                               {{"allow.auto.create.topics", "false"}}));
  LOK_ASSIGN_OR_RETURN(KafkaHandle admin, NewClient(RD_KAFKA_PRODUCER, std::move(conf), "admin"));

  std::array<char, 512> reason{};
  // Replication factor -1: the broker's default.replication.factor.
  NewTopicPtr new_topic(
      rd_kafka_NewTopic_new(name.c_str(), partitions, -1, reason.data(), reason.size()));
  if (new_topic == nullptr) return InvalidArgumentError("kafka: " + context + ": " + reason.data());
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(admin.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), ToTimeoutMs(timeout), reason.data(),
                                                reason.size()) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), ToTimeoutMs(timeout),
                                                  reason.data(),
                                                  reason.size()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return InvalidArgumentError("kafka: " + context + ": " + reason.data());
  }
  QueuePtr results(rd_kafka_queue_new(admin.get()));
  rd_kafka_NewTopic_t* new_topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(admin.get(), new_topics, 1, options.get(), results.get());
  // The request timeout bounds the answer; the margin covers connecting.
  EventPtr event(rd_kafka_queue_poll(results.get(), ToTimeoutMs(timeout + kAnswerMargin)));
  if (event == nullptr) {
    return UnavailableError("kafka: " + context + ": no answer within " +
                            std::to_string(timeout.count()) + " ms");
  }
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(rd_kafka_event_error(event.get()), context,
                      rd_kafka_event_error_string(event.get()));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t result_count = 0;
  const rd_kafka_topic_result_t** topic_results =
      rd_kafka_CreateTopics_result_topics(result, &result_count);
  for (size_t index = 0; index < result_count; ++index) {
    const rd_kafka_resp_err_t error = rd_kafka_topic_result_error(topic_results[index]);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* error_reason = rd_kafka_topic_result_error_string(topic_results[index]);
      return KafkaError(error, context, error_reason != nullptr ? error_reason : "");
    }
  }
  // Created now or before: either way, return once clients can use it.
  StatusOr<int32_t> existing = AwaitTopic(admin.get(), name, deadline);
  if (!existing.ok()) return existing.status();
  if (*existing != partitions) {
    return FailedPreconditionError("kafka: " + context + ": it exists with " +
                                   std::to_string(*existing) + " partitions, not " +
                                   std::to_string(partitions));
  }
  return Status::Ok();
}

// --- KafkaLogWriter ------------------------------------------------------------

StatusOr<std::unique_ptr<KafkaLogWriter>> KafkaLogWriter::Create(const KafkaConfig& config) {
  if (config.delivery_timeout <= std::chrono::milliseconds::zero()) {
    return InvalidArgumentError("kafka producer: delivery_timeout must be positive");
  }
  std::vector<Setting> defaults = CommonDefaults();
  // A short linger batches the records of one Append without delaying it
  // noticeably. lz4 is cheap and every broker since 0.10 reads it.
  defaults.emplace_back("linger.ms", "5");
  defaults.emplace_back("compression.type", "lz4");
  std::vector<Setting> required = {
      // No duplicates or reordering from librdkafka's own retries.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      // Kafka's Java default for keyed records: PartitionForKey.
      {"partitioner", "murmur2_random"},
      // librdkafka fails a record it could not deliver in time, so Append
      // hears about every record before its own deadline.
      {"message.timeout.ms", std::to_string(config.delivery_timeout.count())},
  };
  LOK_ASSIGN_OR_RETURN(ConfPtr conf, BuildConf(config, "producer", defaults, std::move(required)));
  rd_kafka_conf_set_dr_msg_cb(conf.get(), OnDelivery);
  LOK_ASSIGN_OR_RETURN(KafkaHandle producer,
                       NewClient(RD_KAFKA_PRODUCER, std::move(conf), "producer"));
  return std::unique_ptr<KafkaLogWriter>(
      new KafkaLogWriter(std::move(producer), config.delivery_timeout));
}

KafkaLogWriter::KafkaLogWriter(internal::KafkaHandle producer,
                               std::chrono::milliseconds delivery_timeout)
    : producer_(std::move(producer)), delivery_timeout_(delivery_timeout) {
  delivery_thread_ = std::thread([this] { ServeDeliveryReports(); });
}

KafkaLogWriter::~KafkaLogWriter() {
  // Only an Append that timed out leaves records behind; nobody waits for
  // them any more.
  const rd_kafka_resp_err_t purged =
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  if (purged != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka producer: purging on close: {}", rd_kafka_err2str(purged));
  }
  stopping_.store(true, std::memory_order_release);
  delivery_thread_.join();
  // Serves the purged records' delivery reports, which point into abandoned_.
  const rd_kafka_resp_err_t flushed = rd_kafka_flush(producer_.get(), ToTimeoutMs(kAnswerMargin));
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka producer: {} records still unreported on close: {}",
                 rd_kafka_outq_len(producer_.get()), rd_kafka_err2str(flushed));
  }
  // The handle goes first: once it is destroyed nothing points into abandoned_.
  producer_.reset();
}

void KafkaLogWriter::ServeDeliveryReports() {
  // The poll timeout bounds how long the destructor waits for this thread.
  constexpr int kPollMs = 100;
  while (!stopping_.load(std::memory_order_acquire)) {
    rd_kafka_poll(producer_.get(), kPollMs);
  }
}

void KafkaLogWriter::ForgetFinishedAbandonedBatches() {
  std::lock_guard abandoned_lock(abandoned_mutex_);
  std::erase_if(abandoned_, [](const std::unique_ptr<DeliveryBatch>& batch) {
    std::lock_guard batch_lock(batch->mutex);
    return batch->unreported == 0;
  });
}

StatusOr<std::vector<Position>> KafkaLogWriter::Append(std::string_view topic,
                                                       std::vector<OutgoingRecord> records) {
  const std::string topic_name(topic);
  const std::string context = "appending to topic '" + topic_name + "'";
  if (topic_name.empty()) return InvalidArgumentError("kafka: appending: empty topic name");
  if (records.empty()) return std::vector<Position>();
  ForgetFinishedAbandonedBatches();
  std::array<char, 512> fatal_reason{};
  if (rd_kafka_fatal_error(producer_.get(), fatal_reason.data(), fatal_reason.size()) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return FailedPreconditionError(
        "kafka: " + context +
        ": the producer hit a fatal error and must be recreated: " + fatal_reason.data());
  }
  TopicPtr topic_handle(rd_kafka_topic_new(producer_.get(), topic_name.c_str(), nullptr));
  if (topic_handle == nullptr) return KafkaError(rd_kafka_last_error(), context);

  auto batch = std::make_unique<DeliveryBatch>(topic_name, records.size());
  // librdkafka fails each record after delivery_timeout_; the margin lets
  // those reports arrive before this wait gives up.
  const auto deadline = std::chrono::steady_clock::now() + delivery_timeout_ + kAnswerMargin;
  Status produce_error;
  for (size_t index = 0; index < records.size(); ++index) {
    const OutgoingRecord& record = records[index];
    DeliverySlot& slot = batch->slots[index];
    slot = {batch.get(), index};
    // An empty key is no key; like the embedded log, keyless records go to
    // partition 0 rather than to a random one.
    int32_t partition = record.partition;
    if (partition < 0) partition = record.key.empty() ? 0 : RD_KAFKA_PARTITION_UA;
    HeadersPtr headers;
    if (!record.headers.empty()) {
      headers.reset(rd_kafka_headers_new(record.headers.size()));
      for (const Header& header : record.headers) {
        // Copies name and value.
        static_cast<void>(rd_kafka_header_add(
            headers.get(), header.key.data(), static_cast<ssize_t>(header.key.size()),
            header.value.data(), static_cast<ssize_t>(header.value.size())));
      }
    }
    {
      // Counted before producing: the report may arrive before producev returns.
      std::lock_guard lock(batch->mutex);
      ++batch->unreported;
    }
    // RD_KAFKA_MSG_F_COPY: librdkafka copies key and value, so `records` need
    // not outlive the call. (rd_kafka_produceva rather than producev: its
    // argument macros are C casts.)
    std::array<rd_kafka_vu_t, 8> fields{};
    size_t field_count = 0;
    const auto add_field = [&](rd_kafka_vtype_t type) -> rd_kafka_vu_t& {
      rd_kafka_vu_t& field = fields[field_count++];
      field.vtype = type;
      return field;
    };
    add_field(RD_KAFKA_VTYPE_RKT).u.rkt = topic_handle.get();
    add_field(RD_KAFKA_VTYPE_PARTITION).u.i32 = partition;
    add_field(RD_KAFKA_VTYPE_MSGFLAGS).u.i = RD_KAFKA_MSG_F_COPY;
    if (!record.key.empty()) {
      rd_kafka_vu_t& key = add_field(RD_KAFKA_VTYPE_KEY);
      key.u.mem.ptr = const_cast<char*>(record.key.data());
      key.u.mem.size = record.key.size();
    }
    rd_kafka_vu_t& value = add_field(RD_KAFKA_VTYPE_VALUE);
    value.u.mem.ptr = const_cast<char*>(record.value.data());
    value.u.mem.size = record.value.size();
    if (headers != nullptr) add_field(RD_KAFKA_VTYPE_HEADERS).u.headers = headers.get();
    if (record.timestamp_ms > 0) add_field(RD_KAFKA_VTYPE_TIMESTAMP).u.i64 = record.timestamp_ms;
    add_field(RD_KAFKA_VTYPE_OPAQUE).u.ptr = &slot;

    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::string error_reason;
    while (true) {
      rd_kafka_error_t* produce_failure =
          rd_kafka_produceva(producer_.get(), fields.data(), field_count);
      error = RD_KAFKA_RESP_ERR_NO_ERROR;
      if (produce_failure != nullptr) {
        error = rd_kafka_error_code(produce_failure);
        error_reason = rd_kafka_error_string(produce_failure);
        rd_kafka_error_destroy(produce_failure);
      }
      if (error != RD_KAFKA_RESP_ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      // The local queue is full: serve delivery reports until there is room.
      rd_kafka_poll(producer_.get(), 50);
    }
    if (error == RD_KAFKA_RESP_ERR_NO_ERROR) {
      static_cast<void>(headers.release());  // librdkafka owns them now
      continue;
    }
    {
      std::lock_guard lock(batch->mutex);
      --batch->unreported;
    }
    produce_error = KafkaError(error, context + ": record " + std::to_string(index), error_reason);
    break;
  }

  std::unique_lock lock(batch->mutex);
  if (produce_error.ok()) {
    batch->all_reported.wait_until(lock, deadline, [&] { return batch->unreported == 0; });
  }
  Status result = !produce_error.ok() ? produce_error : batch->first_error;
  if (result.ok() && batch->unreported > 0) {
    result = UnavailableError("kafka: " + context + ": " + std::to_string(batch->unreported) +
                              " records unacknowledged after " +
                              std::to_string(delivery_timeout_.count()) + " ms");
  }
  if (batch->unreported > 0) {
    // librdkafka still points into the batch; keep it until it reports.
    lock.unlock();
    std::lock_guard abandoned_lock(abandoned_mutex_);
    abandoned_.push_back(std::move(batch));
    return result;
  }
  if (!result.ok()) return result;
  return std::move(batch->positions);
}

// --- KafkaLogReader ------------------------------------------------------------

StatusOr<std::unique_ptr<KafkaLogReader>> KafkaLogReader::Create(const KafkaConfig& config,
                                                                 std::string topic,
                                                                 std::string group_id) {
  if (topic.empty()) return InvalidArgumentError("kafka consumer: empty topic name");
  if (group_id.empty()) return InvalidArgumentError("kafka consumer: empty group id");
  std::vector<Setting> required = {
      {"group.id", group_id},
      // The reader's owner keeps its position in its own store (log.h);
      // committed offsets are for dashboards only (ReportCommitted).
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // Only reached when an assigned offset was deleted by retention.
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      // PartitionCount must find a missing topic missing, not create it.
      {"allow.auto.create.topics", "false"},
  };
  LOK_ASSIGN_OR_RETURN(ConfPtr conf,
                       BuildConf(config, "consumer", CommonDefaults(), std::move(required)));
  rd_kafka_conf_set_offset_commit_cb(conf.get(), OnCommitted);
  LOK_ASSIGN_OR_RETURN(KafkaHandle consumer,
                       NewClient(RD_KAFKA_CONSUMER, std::move(conf), "consumer"));
  // One queue for messages, errors and callbacks, served by Poll.
  const rd_kafka_resp_err_t redirected = rd_kafka_poll_set_consumer(consumer.get());
  if (redirected != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(redirected, "creating a consumer of topic '" + topic + "'");
  }
  return std::unique_ptr<KafkaLogReader>(
      new KafkaLogReader(std::move(consumer), std::move(topic), config.request_timeout));
}

KafkaLogReader::KafkaLogReader(internal::KafkaHandle consumer, std::string topic,
                               std::chrono::milliseconds request_timeout)
    : consumer_(std::move(consumer)), topic_(std::move(topic)), request_timeout_(request_timeout) {}

KafkaLogReader::~KafkaLogReader() {
  const rd_kafka_resp_err_t closed = rd_kafka_consumer_close(consumer_.get());
  if (closed != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka consumer of topic '{}': closing: {}", topic_, rd_kafka_err2str(closed));
  }
}

StatusOr<int32_t> KafkaLogReader::PartitionCount() {
  LOK_ASSIGN_OR_RETURN(TopicDescription description,
                       DescribeTopic(consumer_.get(), topic_, request_timeout_));
  return description.partitions;
}

Status KafkaLogReader::Assign(const PartitionOffsets& next_offsets) {
  const std::string context = "assigning partitions of topic '" + topic_ + "'";
  PartitionListPtr partitions(
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [partition, offset] : next_offsets) {
    if (partition < 0 || offset < 0) {
      return InvalidArgumentError("kafka: " + context + ": partition " + std::to_string(partition) +
                                  " at offset " + std::to_string(offset) + " is negative");
    }
    rd_kafka_topic_partition_list_add(partitions.get(), topic_.c_str(), partition)->offset = offset;
  }
  const rd_kafka_resp_err_t error = rd_kafka_assign(consumer_.get(), partitions.get());
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaError(error, context);
  assigned_ = next_offsets;
  pending_error_ = Status::Ok();  // it concerned the previous assignment
  return Status::Ok();
}

StatusOr<std::vector<Record>> KafkaLogReader::Poll(size_t max_records,
                                                   std::chrono::milliseconds timeout) {
  if (!pending_error_.ok()) return std::exchange(pending_error_, Status::Ok());
  std::vector<Record> records;
  if (assigned_.empty() || max_records == 0) return records;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (records.size() < max_records) {
    // Wait only for the first record; then take what is already fetched.
    int wait_ms = 0;
    if (records.empty()) {
      wait_ms = ToTimeoutMs(std::chrono::ceil<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
    }
    MessagePtr message(rd_kafka_consumer_poll(consumer_.get(), wait_ms));
    if (message == nullptr) {
      // consumer_poll may return early after serving a callback.
      if (records.empty() && std::chrono::steady_clock::now() < deadline) continue;
      break;
    }
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      records.push_back(ToRecord(*message));
      continue;
    }
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (IsTransientConsumerError(message->err)) {
      // librdkafka reconnects and retries by itself; the caller sees a quiet
      // log, and lag (EndOffsets) shows whether it lasts.
      spdlog::warn("kafka consumer of topic '{}': {}", topic_, ConsumerErrorReason(*message));
      if (records.empty() && std::chrono::steady_clock::now() < deadline) continue;
      break;
    }
    Status error =
        KafkaError(message->err, "reading topic '" + topic_ + "'", ConsumerErrorReason(*message));
    if (records.empty()) return error;
    pending_error_ = std::move(error);
    break;
  }
  return records;
}

StatusOr<PartitionOffsets> KafkaLogReader::EndOffsets() {
  PartitionOffsets ends;
  for (const auto& [partition, unused] : assigned_) {
    int64_t low = 0;
    int64_t high = RD_KAFKA_OFFSET_INVALID;
    // The high watermark that came with the latest fetch response costs
    // nothing. Asking the broker instead waits behind the consumer's long-poll
    // fetch on the same connection (up to fetch.wait.max.ms per partition),
    // which would stall a projector that checks its lag between batches.
    rd_kafka_resp_err_t error =
        rd_kafka_get_watermark_offsets(consumer_.get(), topic_.c_str(), partition, &low, &high);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR || high == RD_KAFKA_OFFSET_INVALID) {
      error = rd_kafka_query_watermark_offsets(consumer_.get(), topic_.c_str(), partition, &low,
                                               &high, ToTimeoutMs(request_timeout_));
    }
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(
          error, "end offset of topic '" + topic_ + "' partition " + std::to_string(partition));
    }
    ends[partition] = high;
  }
  return ends;
}

StatusOr<PartitionOffsets> KafkaLogReader::OffsetsAfterTime(int64_t timestamp_ms) {
  LOK_ASSIGN_OR_RETURN(int32_t count, PartitionCount());
  PartitionListPtr query(rd_kafka_topic_partition_list_new(count));
  for (int32_t partition = 0; partition < count; ++partition) {
    // Kafka answers "the earliest offset whose timestamp >= t".
    rd_kafka_topic_partition_list_add(query.get(), topic_.c_str(), partition)->offset =
        timestamp_ms + 1;
  }
  rd_kafka_resp_err_t error =
      rd_kafka_offsets_for_times(consumer_.get(), query.get(), ToTimeoutMs(request_timeout_));
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(error, "offsets for time of topic '" + topic_ + "'");
  }
  PartitionOffsets cut;
  for (int i = 0; i < query->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = query->elems[i];
    if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(entry.err, "offsets for time of topic '" + topic_ + "' partition " +
                                       std::to_string(entry.partition));
    }
    int64_t offset = entry.offset;
    if (offset < 0) {
      // No record after the time: the partition's end.
      int64_t low = 0;
      int64_t high = 0;
      error = rd_kafka_query_watermark_offsets(consumer_.get(), topic_.c_str(), entry.partition,
                                               &low, &high, ToTimeoutMs(request_timeout_));
      if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return KafkaError(error, "end offset of topic '" + topic_ + "' partition " +
                                     std::to_string(entry.partition));
      }
      offset = high;
    }
    cut[entry.partition] = offset;
  }
  return cut;
}

void KafkaLogReader::ReportCommitted(const PartitionOffsets& next_offsets) {
  if (next_offsets.empty()) return;
  PartitionListPtr offsets(
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [partition, offset] : next_offsets) {
    rd_kafka_topic_partition_list_add(offsets.get(), topic_.c_str(), partition)->offset = offset;
  }
  // Asynchronous: the result reaches OnCommitted during a later Poll.
  const rd_kafka_resp_err_t error = rd_kafka_commit(consumer_.get(), offsets.get(), 1);
  if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::warn("kafka consumer of topic '{}': reporting committed offsets: {}", topic_,
                 rd_kafka_err2str(error));
  }
}

}  // namespace lok::log
