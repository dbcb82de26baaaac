#include "store/rocks_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>

#include "store/rocks_status.h"

namespace lok::store {
namespace {

StatusOr<std::optional<std::string>> GetWith(rocksdb::DB& db, const rocksdb::ReadOptions& options,
                                             std::string_view key) {
  std::string value;
  rocksdb::Status status = db.Get(options, rocksdb::Slice(key.data(), key.size()), &value);
  if (status.IsNotFound()) return std::optional<std::string>();
  LOK_RETURN_IF_ERROR(FromRocksStatus(status, "store get"));
  return std::optional<std::string>(std::move(value));
}

StatusOr<std::vector<std::optional<std::string>>> MultiGetWith(
    rocksdb::DB& db, const rocksdb::ReadOptions& options, const std::vector<std::string>& keys) {
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> pinned(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  db.MultiGet(options, db.DefaultColumnFamily(), keys.size(), slices.data(), pinned.data(),
              statuses.data(), std::is_sorted(keys.begin(), keys.end()));
  std::vector<std::optional<std::string>> values(keys.size());
  for (size_t index = 0; index < keys.size(); ++index) {
    if (statuses[index].IsNotFound()) continue;
    LOK_RETURN_IF_ERROR(FromRocksStatus(statuses[index], "store multiget"));
    values[index] = pinned[index].ToString();
  }
  return values;
}

Status ScanWith(rocksdb::DB& db, rocksdb::ReadOptions options, std::string_view prefix,
                const std::function<bool(std::string_view, std::string_view)>& visit) {
  std::string upper(prefix);
  // The smallest key greater than every key with `prefix`: bump the last
  // byte that is not 0xFF. An all-0xFF prefix has no bound.
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xFF) upper.pop_back();
  rocksdb::Slice upper_slice;
  if (!upper.empty()) {
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    upper_slice = rocksdb::Slice(upper);
    options.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> iterator(db.NewIterator(options));
  for (iterator->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       iterator->Valid() &&
       iterator->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       iterator->Next()) {
    if (!visit(iterator->key().ToStringView(), iterator->value().ToStringView())) break;
  }
  return FromRocksStatus(iterator->status(), "store scan");
}

Status ScanRangeWith(rocksdb::DB& db, rocksdb::ReadOptions options, std::string_view begin,
                     std::string_view end,
                     const std::function<bool(std::string_view, std::string_view)>& visit) {
  rocksdb::Slice upper(end.data(), end.size());
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> iterator(db.NewIterator(options));
  for (iterator->Seek(rocksdb::Slice(begin.data(), begin.size())); iterator->Valid();
       iterator->Next()) {
    if (!visit(iterator->key().ToStringView(), iterator->value().ToStringView())) break;
  }
  return FromRocksStatus(iterator->status(), "store scan");
}

// Both bounds set: RocksDB's backward iteration stops at the lower bound
// instead of stepping into the keys before the range, and SeekToLast starts
// at the last key before the upper bound.
Status ScanRangeReverseWith(rocksdb::DB& db, rocksdb::ReadOptions options, std::string_view begin,
                            std::string_view end,
                            const std::function<bool(std::string_view, std::string_view)>& visit) {
  if (begin >= end) return Status::Ok();
  rocksdb::Slice lower(begin.data(), begin.size());
  rocksdb::Slice upper(end.data(), end.size());
  options.iterate_lower_bound = &lower;
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> iterator(db.NewIterator(options));
  for (iterator->SeekToLast(); iterator->Valid(); iterator->Prev()) {
    if (!visit(iterator->key().ToStringView(), iterator->value().ToStringView())) break;
  }
  return FromRocksStatus(iterator->status(), "store scan");
}

Status ScanRangeSeekingWith(
    rocksdb::DB& db, rocksdb::ReadOptions options, std::string_view begin, std::string_view end,
    const std::function<KeyValueReader::ScanStep(std::string_view, std::string_view)>& visit) {
  using Action = KeyValueReader::ScanStep::Action;
  rocksdb::Slice upper(end.data(), end.size());
  options.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> iterator(db.NewIterator(options));
  iterator->Seek(rocksdb::Slice(begin.data(), begin.size()));
  while (iterator->Valid()) {
    KeyValueReader::ScanStep step =
        visit(iterator->key().ToStringView(), iterator->value().ToStringView());
    if (step.action == Action::kStop) break;
    if (step.action == Action::kSeek) {
      iterator->Seek(rocksdb::Slice(step.seek_to));
    } else {
      iterator->Next();
    }
  }
  return FromRocksStatus(iterator->status(), "store scan");
}

}  // namespace

class RocksStore::SnapshotReader : public KeyValueReader {
 public:
  SnapshotReader(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {}
  ~SnapshotReader() override { db_.ReleaseSnapshot(snapshot_); }

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot_;
    return GetWith(db_, options, key);
  }
  Status ScanPrefix(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot_;
    return ScanWith(db_, options, prefix, visit);
  }
  Status ScanRange(std::string_view begin, std::string_view end,
                   const std::function<bool(std::string_view, std::string_view)>& visit)
      const override {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot_;
    return ScanRangeWith(db_, options, begin, end, visit);
  }
  Status ScanRangeSeeking(std::string_view begin, std::string_view end,
                          const std::function<ScanStep(std::string_view, std::string_view)>& visit)
      const override {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot_;
    return ScanRangeSeekingWith(db_, options, begin, end, visit);
  }
  Status ScanRangeReverse(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot_;
    return ScanRangeReverseWith(db_, options, begin, end, visit);
  }
  StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) const override {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot_;
    return MultiGetWith(db_, options, keys);
  }

 private:
  rocksdb::DB& db_;
  const rocksdb::Snapshot* snapshot_;
};

StatusOr<std::unique_ptr<RocksStore>> RocksStore::Open(const std::string& path,
                                                       RocksStoreOptions options) {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.IncreaseParallelism(2);
  db_options.OptimizeLevelStyleCompaction();
  // A whole-key Bloom filter per memtable: most point reads (the projector's
  // read-modify-writes, the queries' Gets) are for keys that live in SST
  // files, and without it each one first searched every memtable's skiplist
  // (~25 % of the projector's CPU at 10M events, mostly key comparisons).
  db_options.memtable_whole_key_filtering = true;
  db_options.memtable_prefix_bloom_size_ratio = 0.02;
  if (options.low_priority_compactions) {
    LOK_RETURN_IF_ERROR(
        FromRocksStatus(db_options.env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW,
                                                                   rocksdb::CpuPriority::kLow),
                        "lower the compaction threads' CPU priority"));
  }
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  // Data blocks only: index and filter blocks stay in the table readers'
  // memory (RocksDB's default). Putting them in the cache made them compete
  // with data blocks; at 1 GB of state the whole-file filter blocks were
  // evicted and re-read (and checksummed) from disk on every Get, and the
  // projector fell to ~200 events/s.
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  if (options.row_cache_bytes > 0) db_options.row_cache = rocksdb::NewLRUCache(options.row_cache_bytes);
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  LOK_RETURN_IF_ERROR(
      FromRocksStatus(rocksdb::DB::Open(db_options, path, &raw), "open store " + path));
  return std::unique_ptr<RocksStore>(new RocksStore(std::unique_ptr<rocksdb::DB>(raw), options));
}

RocksStore::RocksStore(std::unique_ptr<rocksdb::DB> db, RocksStoreOptions options)
    : db_(std::move(db)), options_(options) {}

RocksStore::~RocksStore() = default;

StatusOr<std::optional<std::string>> RocksStore::Get(std::string_view key) const {
  return GetWith(*db_, rocksdb::ReadOptions(), key);
}

Status RocksStore::ScanPrefix(
    std::string_view prefix,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  return ScanWith(*db_, rocksdb::ReadOptions(), prefix, visit);
}

Status RocksStore::ScanRange(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  return ScanRangeWith(*db_, rocksdb::ReadOptions(), begin, end, visit);
}

Status RocksStore::ScanRangeSeeking(
    std::string_view begin, std::string_view end,
    const std::function<ScanStep(std::string_view, std::string_view)>& visit) const {
  return ScanRangeSeekingWith(*db_, rocksdb::ReadOptions(), begin, end, visit);
}

Status RocksStore::ScanRangeReverse(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  return ScanRangeReverseWith(*db_, rocksdb::ReadOptions(), begin, end, visit);
}

StatusOr<std::vector<std::optional<std::string>>> RocksStore::MultiGet(
    const std::vector<std::string>& keys) const {
  return MultiGetWith(*db_, rocksdb::ReadOptions(), keys);
}

Status RocksStore::Commit(const ChangeSet& changes) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, value] : changes.writes) {
    rocksdb::Status status = value ? batch.Put(key, *value) : batch.Delete(key);
    LOK_RETURN_IF_ERROR(FromRocksStatus(status, "store batch"));
  }
  rocksdb::WriteOptions write_options;
  write_options.disableWAL = false;
  write_options.sync = options_.sync_commits;
  return FromRocksStatus(db_->Write(write_options, &batch), "store commit");
}

Status RocksStore::Sync() { return FromRocksStatus(db_->FlushWAL(/*sync=*/true), "store sync"); }

std::string RocksStore::path() const { return db_->GetName(); }

RocksStore::CacheUsage RocksStore::Caches() const {
  CacheUsage usage;
  const rocksdb::DBOptions options = db_->GetDBOptions();
  if (options.row_cache) usage.row_bytes = options.row_cache->GetUsage();
  uint64_t block = 0;
  if (db_->GetIntProperty(rocksdb::DB::Properties::kBlockCacheUsage, &block)) {
    usage.block_bytes = static_cast<size_t>(block);
  }
  return usage;
}

Status RocksStore::CreateCheckpoint(const std::string& dir) {
  if (std::filesystem::exists(dir)) return InvalidArgumentError("checkpoint " + dir + ": exists");
  rocksdb::Checkpoint* raw = nullptr;
  LOK_RETURN_IF_ERROR(FromRocksStatus(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocksStatus(checkpoint->CreateCheckpoint(dir), "checkpoint " + dir);
}

Status CloneStoreFiles(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (fs::exists(to, error)) return InvalidArgumentError("store copy " + to + ": exists");
  fs::create_directories(to, error);
  if (error) return UnavailableError("store copy " + to + ": " + error.message());
  for (const fs::directory_entry& entry : fs::directory_iterator(from, error)) {
    const fs::path target = fs::path(to) / entry.path().filename();
    if (entry.path().extension() == ".sst") {
      fs::create_hard_link(entry.path(), target, error);
    } else if (entry.is_regular_file()) {
      fs::copy_file(entry.path(), target, error);
    }
    if (error) {
      return UnavailableError("store copy " + entry.path().string() + ": " + error.message());
    }
  }
  if (error) return UnavailableError("store copy " + from + ": " + error.message());
  return Status::Ok();
}

std::unique_ptr<KeyValueReader> RocksStore::Snapshot() const {
  return std::make_unique<SnapshotReader>(*db_);
}

}  // namespace lok::store
