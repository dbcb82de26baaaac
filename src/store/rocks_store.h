// The RocksDB store that holds a projector's read models, its positions in
// the log and its dedupe marks. A ChangeSet is committed as one WriteBatch
// with the WAL on, which is what makes "state and position move together".
//
// Thread-safe: Get, ScanPrefix and Snapshot may run on query threads while the
// projector thread commits.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "store/transaction.h"

namespace rocksdb {
class DB;
class Snapshot;
}  // namespace rocksdb

namespace lok::store {

struct RocksStoreOptions {
  // fsync the WAL on every commit: survives power loss, not only a crash.
  bool sync_commits = false;
  // RocksDB's block cache (uncompressed blocks shared by reads): the read
  // models' hot cells and indexes stay in memory instead of being read and
  // decompressed from SST files on every query.
  size_t block_cache_bytes = size_t{256} << 20;
  // RocksDB's row cache (0: none): point reads (Get, MultiGet) of keys found
  // in SST files are answered from it without searching the files' index and
  // data blocks. The retention queue reads ~500 scoring summaries a request;
  // at 1M clients the searches were ~35 % of its CPU. Entries are keyed by
  // file and key, so they stay valid until compaction drops the file.
  size_t row_cache_bytes = 0;
  // Run RocksDB's compaction threads at the lowest CPU priority (nice 19), so
  // they take the CPU only when queries and the projector leave it idle.
  // Flushes keep normal priority (a starved flush would stall every write).
  // Process-wide: the compaction pool is shared by every database of the
  // default environment (the embedded log's too), and it is never raised
  // again in this process.
  bool low_priority_compactions = false;
};

class RocksStore : public KeyValueReader {
 public:
  // Opens or creates the store at `path`. Errors: kUnavailable when the
  // database is locked or unreadable, kDataLoss when corrupt.
  static StatusOr<std::unique_ptr<RocksStore>> Open(const std::string& path,
                                                    RocksStoreOptions options = {});
  ~RocksStore() override;

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  Status ScanPrefix(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  Status ScanRange(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  Status ScanRangeSeeking(std::string_view begin, std::string_view end,
                          const std::function<ScanStep(std::string_view, std::string_view)>& visit)
      const override;
  Status ScanRangeReverse(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) const override;

  // Writes every change atomically: all or nothing, even across a crash.
  Status Commit(const ChangeSet& changes);

  // Makes every commit so far durable against power loss (fsyncs the WAL),
  // whatever sync_commits says. Errors: kUnavailable on I/O failure.
  Status Sync();

  // The directory the store lives in.
  std::string path() const;

  // Writes a copy of the store as it stands now to `dir` (which must not
  // exist): RocksDB's Checkpoint, SST files hard-linked, so it costs a
  // memtable flush and little disk until the store compacts those files away.
  // Errors: kInvalidArgument when `dir` exists; kUnavailable on I/O failure.
  Status CreateCheckpoint(const std::string& dir);

  // Bytes held by the block cache and the row cache (0 when off).
  struct CacheUsage {
    size_t block_bytes = 0;
    size_t row_bytes = 0;
  };
  CacheUsage Caches() const;

  // A consistent point-in-time view for a query that reads several keys.
  // The store must outlive the snapshot.
  std::unique_ptr<KeyValueReader> Snapshot() const;

 private:
  class SnapshotReader;
  RocksStore(std::unique_ptr<rocksdb::DB> db, RocksStoreOptions options);

  std::unique_ptr<rocksdb::DB> db_;
  RocksStoreOptions options_;
};

// Makes `to` (which must not exist) a writable copy of the closed store or
// checkpoint at `from`, hard-linking its SST files (immutable in RocksDB) and
// copying the rest, so that opening and writing `to` never changes `from`.
// Errors: kInvalidArgument when `to` exists; kUnavailable on I/O failure.
Status CloneStoreFiles(const std::string& from, const std::string& to);

}  // namespace lok::store
