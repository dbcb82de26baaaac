#include "store/live_store.h"

#include <mutex>

namespace lok::store {
namespace {

// A snapshot that owns a reference to its store, so the store outlives it.
class PinnedSnapshot : public KeyValueReader {
 public:
  explicit PinnedSnapshot(std::shared_ptr<RocksStore> store)
      : store_(std::move(store)), snapshot_(store_->Snapshot()) {}

  StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    return snapshot_->Get(key);
  }
  Status ScanPrefix(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    return snapshot_->ScanPrefix(prefix, visit);
  }
  Status ScanRange(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    return snapshot_->ScanRange(begin, end, visit);
  }
  Status ScanRangeSeeking(std::string_view begin, std::string_view end,
                          const std::function<ScanStep(std::string_view, std::string_view)>& visit)
      const override {
    return snapshot_->ScanRangeSeeking(begin, end, visit);
  }
  Status ScanRangeReverse(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    return snapshot_->ScanRangeReverse(begin, end, visit);
  }
  StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) const override {
    return snapshot_->MultiGet(keys);
  }

 private:
  std::shared_ptr<RocksStore> store_;  // declared first: destroyed last
  std::unique_ptr<KeyValueReader> snapshot_;
};

}  // namespace

LiveStore::LiveStore(std::shared_ptr<RocksStore> store) : current_(std::move(store)) {}

std::shared_ptr<RocksStore> LiveStore::Current() const {
  std::shared_lock lock(mutex_);
  return current_;
}

std::unique_ptr<KeyValueReader> LiveStore::Snapshot() const {
  return std::make_unique<PinnedSnapshot>(Current());
}

StatusOr<std::optional<std::string>> LiveStore::Get(std::string_view key) const {
  return Current()->Get(key);
}

Status LiveStore::ScanPrefix(
    std::string_view prefix,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  return Current()->ScanPrefix(prefix, visit);
}

Status LiveStore::ScanRange(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  return Current()->ScanRange(begin, end, visit);
}

Status LiveStore::Commit(const ChangeSet& changes) {
  std::shared_lock lock(mutex_);
  return current_->Commit(changes);
}

StatusOr<std::shared_ptr<RocksStore>> LiveStore::Swap(
    std::shared_ptr<RocksStore> next,
    const std::function<Status(RocksStore& old, RocksStore& next)>& carry_over) {
  std::unique_lock lock(mutex_);
  if (carry_over) LOK_RETURN_IF_ERROR(carry_over(*current_, *next));
  std::shared_ptr<RocksStore> previous = std::move(current_);
  current_ = std::move(next);
  return previous;
}

}  // namespace lok::store
