#include "engine/projector.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <thread>

#include "base/key_encoding.h"
#include "engine/record_decoder.h"
#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::engine {
namespace {

std::string PositionKey(int32_t partition) {
  std::string key(kPositionPrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  return key;
}

std::string EncodeOffset(int64_t offset) {
  std::string bytes;
  AppendBigEndian64(bytes, static_cast<uint64_t>(offset));
  return bytes;
}

// Dedupe marks are kept per partition: a client's events, and so every copy
// of one event, always land on the same partition.
std::string DedupeKey(int32_t partition, const lok::v1::Event& event) {
  std::string key(kDedupePrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  AppendEscapedString(key, event.source());
  AppendEscapedString(key, event.event_id());
  return key;
}

log::OutgoingRecord DeadLetter(const std::string& topic, const log::Record& record,
                               const std::string& reason) {
  log::OutgoingRecord letter;
  letter.key = record.key;
  letter.value = record.value;
  letter.headers = record.headers;
  letter.headers.push_back({std::string(log::kDeadLetterReasonHeader), reason});
  letter.headers.push_back({std::string(log::kDeadLetterTopicHeader), topic});
  letter.headers.push_back(
      {std::string(log::kDeadLetterPartitionHeader), std::to_string(record.partition)});
  letter.headers.push_back(
      {std::string(log::kDeadLetterOffsetHeader), std::to_string(record.offset)});
  return letter;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Events read from the parked queue per retry or skip commit.
constexpr size_t kParkedChunk = 1000;
// Skipped events listed in a ParkedSkipResult (all are recorded in the audit).
constexpr size_t kMaxListedSkips = 1000;

constexpr std::string_view kHeldReason = "held: an earlier event of this client is parked";

lok::v1::ParkedEvent MakeParked(const log::Record& record, const lok::v1::Event& event,
                                lok::v1::ParkedEvent::Cause cause, std::string reason,
                                int64_t now_ms) {
  lok::v1::ParkedEvent parked;
  parked.set_client_id(event.client_id());
  parked.set_partition(record.partition);
  parked.set_offset(record.offset);
  parked.set_record_time_ms(record.timestamp_ms);
  parked.set_key(record.key);
  parked.set_value(record.value);
  for (const log::Header& header : record.headers) {
    lok::v1::LogHeader* stored = parked.add_headers();
    stored->set_key(header.key);
    stored->set_value(header.value);
  }
  parked.set_cause(cause);
  parked.set_reason(std::move(reason));
  parked.set_parked_at_ms(now_ms);
  parked.set_last_attempt_ms(now_ms);
  parked.set_attempts(1);
  parked.set_source(event.source());
  parked.set_event_id(event.event_id());
  parked.set_payload(std::string(events::PayloadName(event)));
  return parked;
}

// The record a parked event came from, as the log delivered it.
log::Record AsLogRecord(const lok::v1::ParkedEvent& parked) {
  log::Record record;
  record.partition = parked.partition();
  record.offset = parked.offset();
  record.key = parked.key();
  record.value = parked.value();
  record.timestamp_ms = parked.record_time_ms();
  for (const lok::v1::LogHeader& header : parked.headers()) {
    record.headers.push_back({header.key(), header.value()});
  }
  return record;
}

}  // namespace

StatusOr<log::PartitionOffsets> ReadPositions(const store::KeyValueReader& reader) {
  log::PartitionOffsets positions;
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(
      reader.ScanPrefix(kPositionPrefix, [&](std::string_view key, std::string_view value) {
        std::optional<uint32_t> partition = ReadBigEndian32(key, kPositionPrefix.size());
        std::optional<uint64_t> offset = ReadBigEndian64(value, 0);
        if (!partition || !offset) {
          corrupt = DataLossError("projector: unreadable stored position");
          return false;
        }
        positions[static_cast<int32_t>(*partition)] = static_cast<int64_t>(*offset);
        return true;
      }));
  LOK_RETURN_IF_ERROR(corrupt);
  return positions;
}

StatusOr<int64_t> ReadMaxOccurred(const store::KeyValueReader& reader) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(kMaxOccurredKey));
  if (!stored) {
    // A store that consumed records before the key existed: unknown, as if
    // its events occurred as late as can be (asOf answers are then always
    // replayed, never taken from it, until a rebuild records it).
    LOK_ASSIGN_OR_RETURN(log::PartitionOffsets positions, ReadPositions(reader));
    for (const auto& [partition, offset] : positions) {
      if (offset > 0) return INT64_MAX;
    }
    return INT64_MIN;
  }
  std::optional<uint64_t> value = ReadBigEndian64(*stored, 0);
  if (!value) return DataLossError("projector: unreadable " + std::string(kMaxOccurredKey));
  return static_cast<int64_t>(*value);
}

Status WritePositions(store::RocksStore& store, const log::PartitionOffsets& positions) {
  store::Transaction transaction(store);
  for (const auto& [partition, offset] : positions) {
    transaction.Put(PositionKey(partition), EncodeOffset(offset));
  }
  LOK_ASSIGN_OR_RETURN(store::ChangeSet changes, transaction.Finish());
  return store.Commit(changes);
}

Projector::Projector(store::RocksStore& store, log::LogReader& reader, log::LogWriter& dead_letters,
                     std::vector<projections::Projection*> projections, ProjectorOptions options,
                     ProjectorMetrics& metrics)
    : store_(store),
      reader_(reader),
      dead_letters_(dead_letters),
      projections_(std::move(projections)),
      options_(std::move(options)),
      metrics_(metrics) {}

Status Projector::Start() {
  LOK_ASSIGN_OR_RETURN(int32_t partition_count, reader_.PartitionCount());
  std::vector<int32_t> owned = options_.partitions;
  for (const auto& [partition, unused] : options_.stop_at) owned.push_back(partition);
  if (owned.empty()) {
    for (int32_t partition = 0; partition < partition_count; ++partition)
      owned.push_back(partition);
  }
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets stored, ReadPositions(store_));
  log::PartitionOffsets assignment;
  for (int32_t partition : owned) {
    if (partition >= partition_count) {
      return InvalidArgumentError("partitions: " + std::to_string(partition) +
                                  " is beyond the topic's " + std::to_string(partition_count));
    }
    auto found = stored.find(partition);
    assignment[partition] = found == stored.end() ? 0 : found->second;
  }
  LOK_RETURN_IF_ERROR(reader_.Assign(assignment));
  {
    std::lock_guard write_lock(write_mutex_);
    LOK_RETURN_IF_ERROR(LoadParked());
    LOK_ASSIGN_OR_RETURN(max_occurred_ms_, ReadMaxOccurred(store_));
  }
  {
    std::lock_guard lock(positions_mutex_);
    positions_ = assignment;
  }
  spdlog::info("projector: {} partitions of {}, resuming from stored offsets", assignment.size(),
               options_.topic);
  UpdateLag(/*force=*/true);
  return Status::Ok();
}

StatusOr<size_t> Projector::RunOnce() {
  LOK_ASSIGN_OR_RETURN(std::vector<log::Record> records,
                       reader_.Poll(options_.max_batch, options_.poll_timeout));
  if (!options_.stop_at.empty()) {
    std::erase_if(records, [&](const log::Record& record) {
      auto stop = options_.stop_at.find(record.partition);
      return stop != options_.stop_at.end() && record.offset >= stop->second;
    });
  }
  if (records.empty()) {
    UpdateLag(/*force=*/true);
    return size_t{0};
  }
  const size_t count = records.size();
  LOK_RETURN_IF_ERROR(ProcessBatch(std::move(records)));
  UpdateLag(/*force=*/false);
  return count;
}

Status Projector::ProcessBatch(std::vector<log::Record> records) {
  const auto started = std::chrono::steady_clock::now();
  std::lock_guard write_lock(write_mutex_);
  store::Transaction transaction(store_);
  std::vector<log::OutgoingRecord> dead_letters;
  log::PartitionOffsets next_offsets;
  DepthChanges parked_changes;
  int64_t applied = 0;
  int64_t duplicates = 0;
  int64_t parked = 0;
  const int64_t now_ms = NowMs();
  CommittedBatch committed_batch;
  committed_batch.records = static_cast<int64_t>(records.size());
  for (const log::Record& record : records) {
    next_offsets[record.partition] = record.offset + 1;
    committed_batch.max_record_ms = std::max(committed_batch.max_record_ms, record.timestamp_ms);
    StatusOr<lok::v1::Event> event = DecodeRecord(record);
    // A type this lokd does not know is parked, not dead-lettered: an upgraded
    // lokd applies it. Its envelope must still be valid.
    const std::optional<int32_t> unknown_type =
        event.ok() ? UnknownPayloadField(*event) : std::nullopt;
    Status valid = !event.ok()    ? event.status()
                   : unknown_type ? ValidateEnvelope(*event)
                                  : events::Validate(*event);
    if (!valid.ok()) {
      spdlog::warn("projector: dead-lettering {}/{}: {}", record.partition, record.offset,
                   valid.message());
      dead_letters.push_back(DeadLetter(options_.topic, record, valid.message()));
      continue;
    }
    if (options_.include && !options_.include(*event, record)) continue;
    const int64_t occurred_ms =
        google::protobuf::util::TimeUtil::TimestampToMilliseconds(event->occurred_at());
    committed_batch.min_occurred_ms = std::min(committed_batch.min_occurred_ms, occurred_ms);
    committed_batch.max_occurred_ms = std::max(committed_batch.max_occurred_ms, occurred_ms);
    const std::string& client_id = event->client_id();
    if (unknown_type || IsParked(client_id, parked_changes)) {
      // Behind a parked event of its client (or itself of an unknown type):
      // parked in order, unless applied before (a duplicate stays a duplicate).
      LOK_ASSIGN_OR_RETURN(std::optional<std::string> seen,
                           transaction.Get(DedupeKey(record.partition, *event)));
      if (seen) {
        ++duplicates;
        continue;
      }
      std::string reason = unknown_type ? UnknownEventTypeReason(*event, unknown_type.value_or(0))
                                        : std::string(kHeldReason);
      if (unknown_type) {
        spdlog::warn("projector: parking client '{}' at {}/{}: {}", client_id, record.partition,
                     record.offset, reason);
      }
      Park(MakeParked(
               record, *event,
               unknown_type ? lok::v1::ParkedEvent::UNKNOWN_EVENT_TYPE : lok::v1::ParkedEvent::HELD,
               std::move(reason), now_ms),
           transaction, parked_changes);
      ++parked;
      continue;
    }
    const projections::EventPosition event_position{record.partition, record.offset,
                                                    record.timestamp_ms, record.value};
    LOK_ASSIGN_OR_RETURN(Offer offer, ApplyEvent(*event, event_position, transaction));
    switch (offer.kind) {
      case Offer::Kind::kApplied:
        ++applied;
        break;
      case Offer::Kind::kDuplicate:
        ++duplicates;
        break;
      case Offer::Kind::kRejected:
        spdlog::warn("projector: parking client '{}' at {}/{}: {}", client_id, record.partition,
                     record.offset, offer.reason);
        Park(MakeParked(record, *event, lok::v1::ParkedEvent::FAILED, std::move(offer.reason),
                        now_ms),
             transaction, parked_changes);
        ++parked;
        break;
    }
  }
  for (const auto& [partition, offset] : next_offsets) {
    transaction.Put(PositionKey(partition), EncodeOffset(offset));
  }
  transaction.AddCounter(kAppliedCounter, applied);
  transaction.AddCounter(kDuplicateCounter, duplicates);
  transaction.AddCounter(kDeadLetteredCounter, static_cast<int64_t>(dead_letters.size()));
  const bool later_occurred = committed_batch.max_occurred_ms > max_occurred_ms_;
  if (later_occurred) {
    transaction.Put(kMaxOccurredKey, EncodeOffset(committed_batch.max_occurred_ms));
  }

  // Dead letters are durable before the batch that skips them commits.
  if (!dead_letters.empty()) {
    auto appended = dead_letters_.Append(log::DeadLetterTopic(options_.topic), dead_letters);
    if (!appended.ok()) return appended.status().WithContext("dead-letter append");
  }
  LOK_ASSIGN_OR_RETURN(store::ChangeSet changes, transaction.Finish());
  LOK_RETURN_IF_ERROR(store_.Commit(changes));
  MergeDepthChanges(parked_changes);
  if (later_occurred) max_occurred_ms_ = committed_batch.max_occurred_ms;

  log::PartitionOffsets committed;
  {
    std::lock_guard lock(positions_mutex_);
    for (const auto& [partition, offset] : next_offsets) positions_[partition] = offset;
    committed = positions_;
  }
  reader_.ReportCommitted(committed);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.RecordBatch(applied, duplicates, static_cast<int64_t>(dead_letters.size()), seconds);
  metrics_.RecordParked(parked);
  if (options_.on_commit) {
    committed_batch.positions = std::move(committed);
    options_.on_commit(store_, committed_batch);
  }
  return Status::Ok();
}

StatusOr<Projector::Offer> Projector::ApplyEvent(const lok::v1::Event& event,
                                                 const projections::EventPosition& position,
                                                 store::Transaction& transaction) {
  const std::string dedupe_key = DedupeKey(position.partition, event);
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> seen, transaction.Get(dedupe_key));
  if (seen) return Offer{Offer::Kind::kDuplicate, {}};
  transaction.SetSavePoint();
  std::string mark;
  AppendBigEndian32(mark, static_cast<uint32_t>(position.partition));
  AppendBigEndian64(mark, static_cast<uint64_t>(position.offset));
  transaction.Put(dedupe_key, std::move(mark));
  for (projections::Projection* projection : projections_) {
    Status status = projection->Apply(event, position, transaction);
    if (status.ok()) continue;
    transaction.RollbackToSavePoint();
    if (IsInfrastructureFailure(status, transaction.read_error())) {
      return status.WithContext(
          fmt::format("{} at {}/{}", projection->Name(), position.partition, position.offset));
    }
    return Offer{Offer::Kind::kRejected,
                 fmt::format("{}: {}", projection->Name(), status.ToString())};
  }
  transaction.ReleaseSavePoint();
  return Offer{Offer::Kind::kApplied, {}};
}

bool Projector::IsParked(std::string_view client_id, const DepthChanges& changes) const {
  int64_t depth = 0;
  if (auto stored = parked_depth_.find(client_id); stored != parked_depth_.end()) {
    depth += stored->second;
  }
  if (auto changed = changes.find(client_id); changed != changes.end()) depth += changed->second;
  return depth > 0;
}

void Projector::Park(const lok::v1::ParkedEvent& parked, store::Transaction& transaction,
                     DepthChanges& changes) const {
  const std::string& client_id = parked.client_id();
  if (!IsParked(client_id, changes)) transaction.AddCounter(kParkedClientsCounter, 1);
  transaction.Put(ParkedEventKey(client_id, parked.partition(), parked.offset()),
                  parked.SerializeAsString());
  transaction.AddCounter(ParkedClientKey(client_id), 1);
  transaction.AddCounter(kParkedEventsCounter, 1);
  changes[client_id] += 1;
}

void Projector::MergeDepthChanges(const DepthChanges& changes) {
  for (const auto& [client_id, delta] : changes) {
    auto found = parked_depth_.find(client_id);
    if (found == parked_depth_.end()) found = parked_depth_.emplace(client_id, 0).first;
    found->second += delta;
    if (found->second <= 0) parked_depth_.erase(found);
  }
  int64_t events = 0;
  for (const auto& [client_id, depth] : parked_depth_) events += depth;
  metrics_.SetParkedDepth(events, static_cast<int64_t>(parked_depth_.size()));
}

Status Projector::LoadParked() {
  std::map<std::string, int64_t, std::less<>> depths;
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(
      store_.ScanPrefix(kParkedClientPrefix, [&](std::string_view key, std::string_view value) {
        size_t position = kParkedClientPrefix.size();
        std::optional<std::string> client_id = ReadEscapedString(key, position);
        StatusOr<int64_t> depth = store::DecodeCounter(value);
        if (!client_id || !depth.ok()) {
          corrupt = DataLossError("projector: unreadable parked client key");
          return false;
        }
        depths[*client_id] = *depth;
        return true;
      }));
  LOK_RETURN_IF_ERROR(corrupt);
  parked_depth_ = std::move(depths);
  MergeDepthChanges({});
  if (!parked_depth_.empty()) {
    spdlog::warn("projector: {} clients have parked events (GET /v1/admin/parked)",
                 parked_depth_.size());
  }
  return Status::Ok();
}

StatusOr<ParkedRetryResult> Projector::RetryParked(std::string_view client_id) {
  std::lock_guard write_lock(write_mutex_);
  LOK_ASSIGN_OR_RETURN(int64_t depth, ReadParkedDepth(store_, client_id));
  if (depth == 0) {
    return NotFoundError("client '" + std::string(client_id) + "': nothing is parked");
  }
  ParkedRetryResult result;
  const int64_t now_ms = NowMs();
  while (!result.stopped_at) {
    LOK_ASSIGN_OR_RETURN(std::vector<lok::v1::ParkedEvent> chunk,
                         ReadParkedEvents(store_, client_id, std::nullopt, kParkedChunk));
    if (chunk.empty()) break;
    store::Transaction transaction(store_);
    std::vector<log::OutgoingRecord> dead_letters;
    int64_t applied = 0;
    int64_t duplicates = 0;
    int64_t removed = 0;
    for (lok::v1::ParkedEvent& parked : chunk) {
      const std::string key = ParkedEventKey(client_id, parked.partition(), parked.offset());
      // The same decisions as the live path, with this lokd's decoder.
      StatusOr<lok::v1::Event> event = options_.decode_parked
                                           ? options_.decode_parked(parked.value())
                                           : DecodeRecord(AsLogRecord(parked));
      const std::optional<int32_t> unknown_type =
          event.ok() ? UnknownPayloadField(*event) : std::nullopt;
      Status valid = !event.ok()    ? event.status()
                     : unknown_type ? ValidateEnvelope(*event)
                                    : events::Validate(*event);
      std::string failure;
      lok::v1::ParkedEvent::Cause cause = lok::v1::ParkedEvent::FAILED;
      if (!valid.ok()) {
        spdlog::warn("projector: retry of client '{}': dead-lettering {}/{}: {}", client_id,
                     parked.partition(), parked.offset(), valid.message());
        dead_letters.push_back(DeadLetter(options_.topic, AsLogRecord(parked), valid.message()));
      } else if (unknown_type) {
        failure = UnknownEventTypeReason(*event, *unknown_type);
        cause = lok::v1::ParkedEvent::UNKNOWN_EVENT_TYPE;
      } else {
        const projections::EventPosition position{parked.partition(), parked.offset(),
                                                  parked.record_time_ms(), parked.value()};
        LOK_ASSIGN_OR_RETURN(Offer offer, ApplyEvent(*event, position, transaction));
        if (offer.kind == Offer::Kind::kApplied) ++applied;
        if (offer.kind == Offer::Kind::kDuplicate) ++duplicates;
        if (offer.kind == Offer::Kind::kRejected) failure = std::move(offer.reason);
      }
      if (failure.empty()) {
        transaction.Delete(key);
        ++removed;
        continue;
      }
      // Failed again: it heads the queue now, with the latest reason.
      parked.set_cause(cause);
      parked.set_reason(std::move(failure));
      parked.set_attempts(parked.attempts() + 1);
      parked.set_last_attempt_ms(now_ms);
      transaction.Put(key, parked.SerializeAsString());
      result.stopped_at = parked;
      break;
    }
    transaction.AddCounter(ParkedClientKey(client_id), -removed);
    transaction.AddCounter(kParkedEventsCounter, -removed);
    if (removed == depth) transaction.AddCounter(kParkedClientsCounter, -1);
    transaction.AddCounter(kAppliedCounter, applied);
    transaction.AddCounter(kDuplicateCounter, duplicates);
    transaction.AddCounter(kDeadLetteredCounter, static_cast<int64_t>(dead_letters.size()));
    if (!dead_letters.empty()) {
      auto appended = dead_letters_.Append(log::DeadLetterTopic(options_.topic), dead_letters);
      if (!appended.ok()) return appended.status().WithContext("dead-letter append");
    }
    LOK_ASSIGN_OR_RETURN(store::ChangeSet changes, transaction.Finish());
    LOK_RETURN_IF_ERROR(store_.Commit(changes));
    MergeDepthChanges({{std::string(client_id), -removed}});
    metrics_.RecordRetried(applied, duplicates, static_cast<int64_t>(dead_letters.size()));
    depth -= removed;
    result.applied += applied;
    result.duplicates += duplicates;
    result.dead_lettered += static_cast<int64_t>(dead_letters.size());
    if (chunk.size() < kParkedChunk) break;
  }
  result.remaining = depth;
  spdlog::info(
      "projector: retry of client '{}': {} applied, {} duplicates, {} dead-lettered, {} "
      "still parked",
      client_id, result.applied, result.duplicates, result.dead_lettered, depth);
  return result;
}

StatusOr<ParkedSkipResult> Projector::SkipParked(std::string_view client_id, bool all,
                                                 std::string_view skipped_by) {
  std::lock_guard write_lock(write_mutex_);
  LOK_ASSIGN_OR_RETURN(int64_t depth, ReadParkedDepth(store_, client_id));
  if (depth == 0) {
    return NotFoundError("client '" + std::string(client_id) + "': nothing is parked");
  }
  ParkedSkipResult result;
  const int64_t now_ms = NowMs();
  int64_t skipped_total = 0;
  do {
    LOK_ASSIGN_OR_RETURN(std::vector<lok::v1::ParkedEvent> chunk,
                         ReadParkedEvents(store_, client_id, std::nullopt, all ? kParkedChunk : 1));
    if (chunk.empty()) break;
    store::Transaction transaction(store_);
    for (lok::v1::ParkedEvent& parked : chunk) {
      parked.set_skipped_at_ms(now_ms);
      parked.set_skipped_by(std::string(skipped_by));
      transaction.Put(SkippedEventKey(client_id, parked.partition(), parked.offset()),
                      parked.SerializeAsString());
      transaction.Delete(ParkedEventKey(client_id, parked.partition(), parked.offset()));
      spdlog::warn("projector: skipped parked event {}/{} of client '{}' ({}) for {}: {}",
                   parked.partition(), parked.offset(), client_id, parked.event_id(),
                   skipped_by.empty() ? "an operator" : skipped_by, parked.reason());
    }
    const auto removed = static_cast<int64_t>(chunk.size());
    transaction.AddCounter(ParkedClientKey(client_id), -removed);
    transaction.AddCounter(kParkedEventsCounter, -removed);
    if (removed == depth) transaction.AddCounter(kParkedClientsCounter, -1);
    LOK_ASSIGN_OR_RETURN(store::ChangeSet changes, transaction.Finish());
    LOK_RETURN_IF_ERROR(store_.Commit(changes));
    MergeDepthChanges({{std::string(client_id), -removed}});
    metrics_.RecordSkipped(removed);
    depth -= removed;
    skipped_total += removed;
    for (lok::v1::ParkedEvent& parked : chunk) {
      if (result.skipped.size() < kMaxListedSkips) result.skipped.push_back(std::move(parked));
    }
    if (chunk.size() < kParkedChunk) break;
  } while (all);
  result.skipped_count = skipped_total;
  result.remaining = depth;
  return result;
}

void Projector::UpdateLag(bool force) {
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_lag_check_ < std::chrono::seconds(1)) return;
  last_lag_check_ = now;
  StatusOr<log::PartitionOffsets> ends = reader_.EndOffsets();
  if (!ends.ok()) {
    spdlog::warn("projector: cannot read end offsets: {}", ends.status().ToString());
    return;
  }
  log::PartitionOffsets positions = Positions();
  metrics_.RecordLag(*ends, positions);
  bool caught_up = true;
  for (const auto& [partition, end] : *ends) {
    if (positions[partition] < end) caught_up = false;
  }
  if (caught_up && !metrics_.caught_up()) spdlog::info("projector: caught up with the log");
  if (caught_up) metrics_.SetCaughtUp(true);
}

bool Projector::ReachedStop() const {
  if (options_.stop_at.empty()) return false;
  const log::PartitionOffsets positions = Positions();
  for (const auto& [partition, stop] : options_.stop_at) {
    auto position = positions.find(partition);
    if (stop > 0 && (position == positions.end() || position->second < stop)) return false;
  }
  return true;
}

log::PartitionOffsets Projector::Positions() const {
  std::lock_guard lock(positions_mutex_);
  return positions_;
}

void Projector::Run(std::stop_token stop) {
  bool started = false;
  std::mutex wait_mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    Status status = started ? Status::Ok() : Start();
    if (status.ok()) {
      started = true;
      StatusOr<size_t> consumed = RunOnce();
      if (consumed.ok()) continue;
      status = consumed.status();
    }
    started = false;
    metrics_.RecordError();
    if (status.code() == StatusCode::kNotFound) {
      spdlog::info("projector: waiting for topic {}: {}", options_.topic, status.message());
    } else {
      spdlog::error("projector: batch failed, retrying from stored offsets: {}", status.ToString());
    }
    std::unique_lock lock(wait_mutex);
    wake.wait_for(lock, stop, options_.retry_backoff, [] { return false; });
  }
}

}  // namespace lok::engine
