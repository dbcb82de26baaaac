// The narrow store interface that projections see. It has no storage engine
// in it, so projections can be tested against MemoryStore and replayed into
// any store.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"

namespace lok::store {

// Read access to committed state. Implementations document thread-safety.
class KeyValueReader {
 public:
  virtual ~KeyValueReader() = default;

  // The value of `key`; nullopt when absent. Errors: storage failures.
  virtual StatusOr<std::optional<std::string>> Get(std::string_view key) const = 0;

  // Calls `visit(key, value)` for every key starting with `prefix`, in key
  // order, until `visit` returns false.
  virtual Status ScanPrefix(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;

  // Calls `visit(key, value)` for every key in [begin, end), in key order,
  // until `visit` returns false.
  virtual Status ScanRange(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;

  // What a seeking scan does after a key: go on to the next key, stop, or
  // skip ahead to the first key at or after `seek_to`.
  struct ScanStep {
    enum class Action { kNext, kStop, kSeek };
    Action action = Action::kNext;
    std::string seek_to;  // kSeek only; must sort after the visited key
  };

  // Like ScanRange, but `visit` may skip ahead (a skip scan: e.g. read one
  // window per dimension value and jump over the rest). Implementations keep
  // one iterator for the whole scan; this default restarts ScanRange at each
  // seek.
  virtual Status ScanRangeSeeking(
      std::string_view begin, std::string_view end,
      const std::function<ScanStep(std::string_view key, std::string_view value)>& visit) const;

  // Calls `visit(key, value)` for every key in [begin, end), in descending
  // key order (the last key first), until `visit` returns false: a reader
  // that wants the largest keys of a range stops without reading the rest.
  // This default reads the range forwards and replays it backwards.
  virtual Status ScanRangeReverse(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

  // The values of `keys` (nullopt when absent), in the order given. Faster
  // than one Get per key on RocksDB when the keys are sorted (a query that
  // reads hundreds of states). This default calls Get per key.
  // Errors: storage failures.
  virtual StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      const std::vector<std::string>& keys) const;
};

// What a commit writes: each key's new value, or nullopt to delete it.
struct ChangeSet {
  std::map<std::string, std::optional<std::string>, std::less<>> writes;
};

// Counters are stored as 8 big-endian bytes of a two's-complement int64.
std::string EncodeCounter(int64_t value);
// Errors: kDataLoss when `bytes` is not 8 bytes long.
StatusOr<int64_t> DecodeCounter(std::string_view bytes);

// Counter vectors: N counters in one key, each a zigzag LEB128 varint (so
// the many zero and small counters of an aggregate cell take one byte each);
// trailing zeros are left out, as absent counters count as zero.
std::string EncodeCounterVector(const std::vector<int64_t>& values);
// Errors: kDataLoss when the bytes are not a sequence of varints.
StatusOr<std::vector<int64_t>> DecodeCounterVector(std::string_view bytes);
// Decodes into `out` without allocating: the stored counters first, zeros
// after them. Errors: kDataLoss when malformed or longer than `out`.
Status DecodeCounterVectorInto(std::string_view bytes, std::span<int64_t> out);

// The changes of one projector batch, buffered in memory over a committed
// base. Reads see the batch's own writes. Counter deltas for the same key are
// summed in memory, so a hot aggregate is read and written once per batch.
//
// A save point lets the projector discard one event's changes without losing
// the rest of the batch (an event that a projection rejects is parked, and
// none of its writes may stay):
//
//   transaction.SetSavePoint();
//   Status applied = projection.Apply(event, position, transaction);
//   if (!applied.ok()) transaction.RollbackToSavePoint();  // as if never applied
//   else transaction.ReleaseSavePoint();
//
// Not thread-safe.
class Transaction {
 public:
  // `base` must outlive the transaction.
  explicit Transaction(const KeyValueReader& base) : base_(base) {}

  StatusOr<std::optional<std::string>> Get(std::string_view key) const;
  void Put(std::string_view key, std::string value);
  void Delete(std::string_view key);
  // Adds `delta` to the counter at `key` (absent counts as 0).
  void AddCounter(std::string_view key, int64_t delta);

  // Adds `deltas` element-wise to the counter vector at `key` (absent or
  // shorter vectors count as zeros). Used for aggregate cells that hold many
  // related counters, so a cell is one key, read and written once per batch.
  void AddCounterVector(std::string_view key, const std::vector<int64_t>& deltas);

  // The committed value of a counter plus this batch's delta.
  StatusOr<int64_t> GetCounter(std::string_view key) const;

  // Resolves counters against the base and returns everything to commit.
  // Counters that end at 0 are deleted, so the state holds no dead keys.
  StatusOr<ChangeSet> Finish() const;

  bool empty() const {
    return writes_.empty() && counter_deltas_.empty() && vector_deltas_.empty();
  }

  // Starts recording how to undo every Put, Delete, AddCounter and
  // AddCounterVector from now on. One level: a second call moves the save
  // point to now, keeping the changes made before.
  void SetSavePoint();
  // Undoes every change since SetSavePoint and clears the save point.
  // REQUIRES: a save point is set.
  void RollbackToSavePoint();
  // Keeps the changes since SetSavePoint and clears the save point.
  void ReleaseSavePoint();

  // The first error the committed base returned to Get or GetCounter: a
  // storage failure, as opposed to an error a projection decided on. OK when
  // every read succeeded.
  const Status& read_error() const { return read_error_; }

 private:
  // The state of one key before the first change after the save point.
  struct Undo {
    enum class Kind { kWrite, kCounter, kVector };
    Kind kind = Kind::kWrite;
    std::string key;
    bool existed = false;
    std::optional<std::string> write;
    int64_t counter = 0;
    std::vector<int64_t> vector;
  };
  void RememberWrite(std::string_view key);
  void RememberCounter(std::string_view key);
  void RememberVector(std::string_view key);
  StatusOr<std::optional<std::string>> ReadBase(std::string_view key) const;

  const KeyValueReader& base_;
  bool save_point_ = false;
  std::vector<Undo> undo_;
  mutable Status read_error_;
  std::map<std::string, std::optional<std::string>, std::less<>> writes_;
  std::map<std::string, int64_t, std::less<>> counter_deltas_;
  // Hashed: a projection adds to many long keys with a shared prefix (the
  // funnel's cells: ~30 per event), which an ordered map compares byte by
  // byte at every level of the tree.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  std::unordered_map<std::string, std::vector<int64_t>, KeyHash, std::equal_to<>> vector_deltas_;
};

// An in-memory store for unit tests of pure logic and for scratch replays.
// Not thread-safe.
class MemoryStore : public KeyValueReader {
 public:
  StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  Status ScanPrefix(
      std::string_view prefix,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  Status ScanRange(
      std::string_view begin, std::string_view end,
      const std::function<bool(std::string_view, std::string_view)>& visit) const override;
  void Commit(const ChangeSet& changes);
  const std::map<std::string, std::string, std::less<>>& contents() const { return data_; }

 private:
  std::map<std::string, std::string, std::less<>> data_;
};

}  // namespace lok::store
