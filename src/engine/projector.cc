#include "engine/projector.h"

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
  store::Transaction transaction(store_);
  std::vector<log::OutgoingRecord> dead_letters;
  log::PartitionOffsets next_offsets;
  int64_t applied = 0;
  int64_t duplicates = 0;
  for (const log::Record& record : records) {
    next_offsets[record.partition] = record.offset + 1;
    StatusOr<lok::v1::Event> event = DecodeRecord(record);
    Status valid = event.ok() ? events::Validate(*event) : event.status();
    if (!valid.ok()) {
      spdlog::warn("projector: dead-lettering {}/{}: {}", record.partition, record.offset,
                   valid.message());
      dead_letters.push_back(DeadLetter(options_.topic, record, valid.message()));
      continue;
    }
    const std::string dedupe_key = DedupeKey(record.partition, *event);
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> seen, transaction.Get(dedupe_key));
    if (seen) {
      ++duplicates;
      continue;
    }
    std::string position;
    AppendBigEndian32(position, static_cast<uint32_t>(record.partition));
    AppendBigEndian64(position, static_cast<uint64_t>(record.offset));
    transaction.Put(dedupe_key, std::move(position));
    const projections::EventPosition event_position{record.partition, record.offset,
                                                    record.timestamp_ms, record.value};
    for (projections::Projection* projection : projections_) {
      Status status = projection->Apply(*event, event_position, transaction);
      if (!status.ok()) {
        return status.WithContext(
            fmt::format("{} at {}/{}", projection->Name(), record.partition, record.offset));
      }
    }
    ++applied;
  }
  for (const auto& [partition, offset] : next_offsets) {
    transaction.Put(PositionKey(partition), EncodeOffset(offset));
  }
  transaction.AddCounter(kAppliedCounter, applied);
  transaction.AddCounter(kDuplicateCounter, duplicates);
  transaction.AddCounter(kDeadLetteredCounter, static_cast<int64_t>(dead_letters.size()));

  // Dead letters are durable before the batch that skips them commits.
  if (!dead_letters.empty()) {
    auto appended = dead_letters_.Append(log::DeadLetterTopic(options_.topic), dead_letters);
    if (!appended.ok()) return appended.status().WithContext("dead-letter append");
  }
  LOK_ASSIGN_OR_RETURN(store::ChangeSet changes, transaction.Finish());
  LOK_RETURN_IF_ERROR(store_.Commit(changes));

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
  return Status::Ok();
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
