#include "log/embedded_log.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <chrono>

#include "base/key_encoding.h"
#include "log/partitioner.h"
#include "lok/v1/log.pb.h"
#include "store/rocks_status.h"

namespace lok::log {
namespace {

using store::FromRocksStatus;

// Key layout (all big-endian, so a prefix scan visits offsets in order):
//   'm' topic                     -> partition count (4 bytes)
//   'r' topic partition offset    -> lok.v1.StoredRecord
constexpr char kTopicMetaTag = 'm';
constexpr char kRecordTag = 'r';

std::string TopicMetaKey(std::string_view topic) {
  std::string key(1, kTopicMetaTag);
  AppendEscapedString(key, topic);
  return key;
}

std::string PartitionPrefix(std::string_view topic, int32_t partition) {
  std::string key(1, kRecordTag);
  AppendEscapedString(key, topic);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  return key;
}

std::string RecordKey(std::string_view topic, int32_t partition, int64_t offset) {
  std::string key = PartitionPrefix(topic, partition);
  AppendBigEndian64(key, static_cast<uint64_t>(offset));
  return key;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class EmbeddedLog::Reader : public LogReader {
 public:
  Reader(EmbeddedLog& log, std::string topic) : log_(log), topic_(std::move(topic)) {}

  StatusOr<int32_t> PartitionCount() override {
    std::lock_guard lock(log_.mutex_);
    auto found = log_.topics_.find(topic_);
    if (found == log_.topics_.end()) return NotFoundError("topic " + topic_ + ": does not exist");
    return found->second.partitions;
  }

  Status Assign(const PartitionOffsets& next_offsets) override {
    for (const auto& [partition, offset] : next_offsets) {
      if (partition < 0 || offset < 0) {
        return InvalidArgumentError("assignment: partition and offset must be >= 0");
      }
    }
    next_offsets_ = next_offsets;
    return Status::Ok();
  }

  StatusOr<std::vector<Record>> Poll(size_t max_records,
                                     std::chrono::milliseconds timeout) override {
    std::vector<Record> records;
    if (next_offsets_.empty() || max_records == 0) return records;
    {
      std::unique_lock lock(log_.mutex_);
      log_.appended_.wait_for(lock, timeout, [&] { return HasNewLocked(); });
    }
    // Share the batch fairly between partitions that have records.
    const size_t share = std::max<size_t>(1, max_records / next_offsets_.size());
    for (auto& [partition, next_offset] : next_offsets_) {
      if (records.size() >= max_records) break;
      const size_t limit = std::min(share, max_records - records.size());
      LOK_RETURN_IF_ERROR(ReadPartition(partition, next_offset, limit, records));
    }
    return records;
  }

  StatusOr<PartitionOffsets> EndOffsets() override {
    std::lock_guard lock(log_.mutex_);
    PartitionOffsets ends;
    auto found = log_.topics_.find(topic_);
    for (const auto& [partition, unused] : next_offsets_) {
      ends[partition] = 0;
      if (found != log_.topics_.end() && partition < found->second.partitions) {
        ends[partition] = found->second.end_offsets[static_cast<size_t>(partition)];
      }
    }
    return ends;
  }

  StatusOr<PartitionOffsets> OffsetsAfterTime(int64_t timestamp_ms) override {
    std::vector<int64_t> ends;
    {
      std::lock_guard lock(log_.mutex_);
      auto found = log_.topics_.find(topic_);
      if (found == log_.topics_.end()) return NotFoundError("topic " + topic_ + ": does not exist");
      ends = found->second.end_offsets;
    }
    PartitionOffsets cut;
    for (size_t partition = 0; partition < ends.size(); ++partition) {
      // Binary search for the first offset with a later timestamp.
      int64_t low = 0;
      int64_t high = ends[partition];
      while (low < high) {
        const int64_t middle = low + (high - low) / 2;
        LOK_ASSIGN_OR_RETURN(int64_t stamp,
                             TimestampAt(static_cast<int32_t>(partition), middle));
        if (stamp > timestamp_ms) {
          high = middle;
        } else {
          low = middle + 1;
        }
      }
      cut[static_cast<int32_t>(partition)] = low;
    }
    return cut;
  }

 private:
  StatusOr<int64_t> TimestampAt(int32_t partition, int64_t offset) {
    std::string value;
    rocksdb::Status status =
        log_.db_->Get(rocksdb::ReadOptions(), RecordKey(topic_, partition, offset), &value);
    if (!status.ok()) return FromRocksStatus(status, "embedded log read");
    lok::v1::StoredRecord stored;
    if (!stored.ParseFromString(value)) {
      return DataLossError("embedded log " + topic_ + ": unreadable record in partition " +
                           std::to_string(partition));
    }
    return stored.timestamp_ms();
  }

  // REQUIRES: log_.mutex_ held.
  bool HasNewLocked() const {
    auto found = log_.topics_.find(topic_);
    if (found == log_.topics_.end()) return false;
    for (const auto& [partition, next_offset] : next_offsets_) {
      if (partition < found->second.partitions &&
          found->second.end_offsets[static_cast<size_t>(partition)] > next_offset) {
        return true;
      }
    }
    return false;
  }

  Status ReadPartition(int32_t partition, int64_t& next_offset, size_t limit,
                       std::vector<Record>& out) {
    const std::string prefix = PartitionPrefix(topic_, partition);
    std::unique_ptr<rocksdb::Iterator> iterator(log_.db_->NewIterator(rocksdb::ReadOptions()));
    size_t taken = 0;
    for (iterator->Seek(RecordKey(topic_, partition, next_offset));
         iterator->Valid() && iterator->key().starts_with(prefix) && taken < limit;
         iterator->Next()) {
      std::optional<uint64_t> offset =
          ReadBigEndian64(iterator->key().ToStringView(), prefix.size());
      lok::v1::StoredRecord stored;
      if (!offset || !stored.ParseFromArray(iterator->value().data(),
                                            static_cast<int>(iterator->value().size()))) {
        return DataLossError("embedded log " + topic_ + ": unreadable record in partition " +
                             std::to_string(partition));
      }
      Record record;
      record.partition = partition;
      record.offset = static_cast<int64_t>(*offset);
      record.key = stored.key();
      record.value = stored.value();
      record.timestamp_ms = stored.timestamp_ms();
      for (const auto& header : stored.headers()) {
        record.headers.push_back({header.key(), header.value()});
      }
      next_offset = record.offset + 1;
      out.push_back(std::move(record));
      ++taken;
    }
    return FromRocksStatus(iterator->status(), "embedded log read");
  }

  EmbeddedLog& log_;
  const std::string topic_;
  PartitionOffsets next_offsets_;
};

StatusOr<std::unique_ptr<EmbeddedLog>> EmbeddedLog::Open(const std::string& path,
                                                         int32_t default_partitions) {
  if (default_partitions <= 0) {
    return InvalidArgumentError("partitions: must be > 0");
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  LOK_RETURN_IF_ERROR(
      FromRocksStatus(rocksdb::DB::Open(options, path, &raw), "open embedded log " + path));
  std::unique_ptr<EmbeddedLog> log(
      new EmbeddedLog(std::unique_ptr<rocksdb::DB>(raw), default_partitions));
  LOK_RETURN_IF_ERROR(log->LoadTopics());
  return log;
}

EmbeddedLog::EmbeddedLog(std::unique_ptr<rocksdb::DB> db, int32_t default_partitions)
    : db_(std::move(db)), default_partitions_(default_partitions) {}

EmbeddedLog::~EmbeddedLog() = default;

Status EmbeddedLog::LoadTopics() {
  std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions()));
  const std::string meta_prefix(1, kTopicMetaTag);
  for (iterator->Seek(meta_prefix); iterator->Valid() && iterator->key().starts_with(meta_prefix);
       iterator->Next()) {
    size_t position = 1;
    std::optional<std::string> topic = ReadEscapedString(iterator->key().ToStringView(), position);
    std::optional<uint32_t> partitions = ReadBigEndian32(iterator->value().ToStringView(), 0);
    if (!topic || !partitions) return DataLossError("embedded log: unreadable topic entry");
    TopicState state;
    state.partitions = static_cast<int32_t>(*partitions);
    state.end_offsets.assign(*partitions, 0);
    // The end of each partition is one past its last stored record.
    std::unique_ptr<rocksdb::Iterator> records(db_->NewIterator(rocksdb::ReadOptions()));
    for (int32_t partition = 0; partition < state.partitions; ++partition) {
      const std::string prefix = PartitionPrefix(*topic, partition);
      records->SeekForPrev(RecordKey(*topic, partition, std::numeric_limits<int64_t>::max()));
      if (records->Valid() && records->key().starts_with(prefix)) {
        std::optional<uint64_t> last =
            ReadBigEndian64(records->key().ToStringView(), prefix.size());
        if (!last) return DataLossError("embedded log: unreadable record key");
        state.end_offsets[static_cast<size_t>(partition)] = static_cast<int64_t>(*last) + 1;
      }
      LOK_RETURN_IF_ERROR(FromRocksStatus(records->status(), "embedded log scan"));
    }
    topics_.emplace(std::move(*topic), std::move(state));
  }
  return FromRocksStatus(iterator->status(), "embedded log scan");
}

Status EmbeddedLog::CreateTopic(std::string_view topic, int32_t partitions) {
  if (topic.empty()) return InvalidArgumentError("topic: must not be empty");
  if (partitions <= 0) return InvalidArgumentError("partitions: must be > 0");
  std::lock_guard lock(mutex_);
  return CreateTopicLocked(topic, partitions);
}

Status EmbeddedLog::CreateTopicLocked(std::string_view topic, int32_t partitions) {
  auto found = topics_.find(topic);
  if (found != topics_.end()) {
    if (found->second.partitions == partitions) return Status::Ok();
    return FailedPreconditionError("topic " + std::string(topic) + ": exists with " +
                                   std::to_string(found->second.partitions) +
                                   " partitions, asked for " + std::to_string(partitions));
  }
  std::string count;
  AppendBigEndian32(count, static_cast<uint32_t>(partitions));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  LOK_RETURN_IF_ERROR(FromRocksStatus(db_->Put(write_options, TopicMetaKey(topic), count),
                                      "embedded log create topic"));
  TopicState state;
  state.partitions = partitions;
  state.end_offsets.assign(static_cast<size_t>(partitions), 0);
  topics_.emplace(std::string(topic), std::move(state));
  return Status::Ok();
}

StatusOr<std::vector<Position>> EmbeddedLog::Append(std::string_view topic,
                                                    std::vector<OutgoingRecord> records) {
  if (topic.empty()) return InvalidArgumentError("topic: must not be empty");
  const int64_t now = NowMillis();
  std::lock_guard lock(mutex_);
  if (topics_.find(topic) == topics_.end()) {
    LOK_RETURN_IF_ERROR(CreateTopicLocked(topic, default_partitions_));
  }
  TopicState& state = topics_.find(topic)->second;
  std::vector<int64_t> end_offsets = state.end_offsets;
  std::vector<Position> positions;
  positions.reserve(records.size());
  rocksdb::WriteBatch batch;
  for (OutgoingRecord& record : records) {
    int32_t partition = record.partition;
    if (partition < 0) {
      partition = record.key.empty() ? 0 : PartitionForKey(record.key, state.partitions);
    } else if (partition >= state.partitions) {
      return InvalidArgumentError("partition: " + std::to_string(partition) +
                                  " is beyond the topic's " + std::to_string(state.partitions));
    }
    const int64_t offset = end_offsets[static_cast<size_t>(partition)]++;
    lok::v1::StoredRecord stored;
    stored.set_key(std::move(record.key));
    stored.set_value(std::move(record.value));
    stored.set_timestamp_ms(record.timestamp_ms > 0 ? record.timestamp_ms : now);
    for (Header& header : record.headers) {
      auto* stored_header = stored.add_headers();
      stored_header->set_key(std::move(header.key));
      stored_header->set_value(std::move(header.value));
    }
    LOK_RETURN_IF_ERROR(FromRocksStatus(
        batch.Put(RecordKey(topic, partition, offset), stored.SerializeAsString()), "batch"));
    positions.push_back({partition, offset});
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  LOK_RETURN_IF_ERROR(FromRocksStatus(db_->Write(write_options, &batch), "embedded log append"));
  state.end_offsets = std::move(end_offsets);
  appended_.notify_all();
  return positions;
}

std::unique_ptr<LogReader> EmbeddedLog::NewReader(std::string topic) {
  return std::make_unique<Reader>(*this, std::move(topic));
}

}  // namespace lok::log
