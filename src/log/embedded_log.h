// The embedded log: Lok's log interface on a local RocksDB database, used when
// no Kafka brokers are configured, so one machine runs everything with one
// command. Same semantics as Kafka (see log.h): fixed partitions per topic,
// partition by key with Kafka's murmur2, dense offsets from 0, durable on
// return from Append (the WAL is synced), and it survives restarts.
//
// Readers live in the same process as the writer (RocksDB allows one process
// per database); a reader waiting in Poll is woken by appends.
//
// Thread-safe: Append, CreateTopic and readers of different threads may run
// concurrently. The EmbeddedLog must outlive its readers.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "log/log.h"

namespace rocksdb {
class DB;
}

namespace lok::log {

class EmbeddedLog : public LogWriter {
 public:
  // Opens (creating if needed) the log database at `path`. Topics appended to
  // without CreateTopic get `default_partitions` partitions.
  // Errors: kUnavailable when the database cannot be opened (locked by another
  // process, permissions), kDataLoss when it is corrupt.
  static StatusOr<std::unique_ptr<EmbeddedLog>> Open(const std::string& path,
                                                     int32_t default_partitions);
  ~EmbeddedLog() override;

  // Creates `topic` with `partitions` partitions. Succeeds without change when
  // the topic already exists with that count; kFailedPrecondition when it
  // exists with another count (partitions are never re-spread).
  Status CreateTopic(std::string_view topic, int32_t partitions);

  StatusOr<std::vector<Position>> Append(std::string_view topic,
                                         std::vector<OutgoingRecord> records) override;

  // A reader of `topic`; the topic need not exist yet.
  std::unique_ptr<LogReader> NewReader(std::string topic);

 private:
  class Reader;
  struct TopicState {
    int32_t partitions = 0;
    std::vector<int64_t> end_offsets;  // next offset to write, per partition
  };

  EmbeddedLog(std::unique_ptr<rocksdb::DB> db, int32_t default_partitions);
  Status LoadTopics();
  // REQUIRES: mutex_ held.
  Status CreateTopicLocked(std::string_view topic, int32_t partitions);

  std::unique_ptr<rocksdb::DB> db_;
  const int32_t default_partitions_;
  std::mutex mutex_;
  std::condition_variable appended_;
  std::map<std::string, TopicState, std::less<>> topics_;
};

}  // namespace lok::log
