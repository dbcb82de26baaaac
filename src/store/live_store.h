// The read-model store that queries read and the live projector writes,
// behind one indirection so a rebuild can replace it while queries run.
//
//   LiveStore live(std::move(store));
//   std::unique_ptr<KeyValueReader> snapshot = live.Snapshot();  // per request
//   ...
//   live.Swap(rebuilt, [](RocksStore& old, RocksStore& next) { ... });
//
// A snapshot (and every Get/Scan through this class) pins the store it was
// taken from: a query that started before a swap finishes on the old store,
// one that starts after reads the new one. No query ever sees a mix.
//
// Thread-safe: every method may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <shared_mutex>

#include "base/status.h"
#include "store/rocks_store.h"

namespace lok::store {

class LiveStore : public KeyValueReader {
 public:
  // REQUIRES: store != nullptr.
  explicit LiveStore(std::shared_ptr<RocksStore> store);

  // The current store; the caller's reference keeps it open.
  std::shared_ptr<RocksStore> Current() const;

  // A consistent view of the current store that keeps it open while it lives.
  std::unique_ptr<KeyValueReader> Snapshot() const;

  // Reads of the current store (each call pins it for its duration).
  StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  Status ScanPrefix(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  Status ScanRange(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;

  // Commits to the current store. A Swap waits for commits in flight, so a
  // write made through here lands in the store that Swap's `carry_over` sees.
  Status Commit(const ChangeSet& changes);

  // Makes `next` the current store. `carry_over(old, next)` runs first with
  // writers through Commit excluded (to copy what they wrote); when it fails
  // nothing is swapped. Returns the previous store.
  // REQUIRES: next != nullptr.
  StatusOr<std::shared_ptr<RocksStore>> Swap(
      std::shared_ptr<RocksStore> next,
      const std::function<Status(RocksStore& old, RocksStore& next)>& carry_over);

 private:
  mutable std::shared_mutex mutex_;  // shared: Commit; exclusive: Swap
  std::shared_ptr<RocksStore> current_;
};

}  // namespace lok::store
