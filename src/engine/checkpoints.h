// Checkpoints of a read-model store: the bases of as-of answers
// (engine/as_of.h).
//
// After a batch commits, the keeper may take a RocksDB checkpoint of the
// store (SST files hard-linked) into "<store dir>.checkpoints/<id>", with its
// description beside it in "<id>.json". It takes one when the record time
// enters a new UTC day (what the dashboard said at the end of each day) and
// when `every_records` records were consumed since the last one, and keeps
// at most `keep`, thinning the oldest so that they stay spread over the log:
// the one whose removal leaves the smallest gap (in records) goes; the
// newest and the oldest stay.
//
// A checkpoint is described by the offsets it covers (the state holds exactly
// the records before them), the latest occurred_at in its state, and the
// earliest occurred_at among the records consumed since the previous
// checkpoint (unknown after a restart or a thinning without one), which lets
// a replay for a past business date pass over stretches of the log holding
// only later events.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/projector.h"
#include "log/log.h"
#include "store/rocks_store.h"

namespace lok::engine {

struct CheckpointPolicy {
  // A checkpoint after this many records since the last one; 0: never by count.
  int64_t every_records = 250000;
  // A checkpoint when a batch's latest record time falls on a later UTC day
  // than the last checkpoint's.
  bool at_record_day_change = true;
  // At most this many are kept (>= 2).
  size_t keep = 32;
};

struct CheckpointInfo {
  int64_t id = 0;
  std::string dir;
  log::PartitionOffsets positions;
  int64_t records = 0;                       // Σ positions
  int64_t max_occurred_ms = INT64_MIN;       // of the state
  int64_t max_record_ms = INT64_MIN;         // of the last batch it covers
  // Min occurred_at of the records consumed since the previous checkpoint;
  // INT64_MIN: unknown.
  int64_t min_occurred_since_previous_ms = INT64_MIN;
  int64_t created_ms = 0;
};

// The directory of `store_dir`'s checkpoints.
std::string CheckpointDirOf(const std::string& store_dir);

class CheckpointKeeper {
 public:
  // The keeper of the checkpoints in `dir` (created if absent). Loads those
  // described on disk and removes half-written ones.
  // Errors: kUnavailable when `dir` cannot be created or read.
  static StatusOr<std::unique_ptr<CheckpointKeeper>> Open(std::string dir, CheckpointPolicy policy);

  // Projector hook (ProjectorOptions::on_commit): notes the batch and takes
  // a checkpoint of `store` when the policy says so. A failure is logged and
  // retried at the next batch; it never fails the projector.
  void AfterCommit(store::RocksStore& store, const CommittedBatch& batch);

  // Takes a checkpoint of `store` now (any thread: a RocksDB checkpoint is
  // one consistent point, and it is described from its own contents). Only
  // the projector thread (AfterCommit) knows the events consumed since the
  // previous checkpoint; a checkpoint taken elsewhere records them as
  // unknown. Errors: kUnavailable on I/O failure.
  StatusOr<CheckpointInfo> Take(store::RocksStore& store, int64_t max_record_ms);

  // Checkpoints ordered by records (oldest first).
  std::vector<CheckpointInfo> List() const;

  const std::string& dir() const { return dir_; }

 private:
  CheckpointKeeper(std::string dir, CheckpointPolicy policy) : dir_(std::move(dir)), policy_(policy) {}
  Status Load();
  StatusOr<CheckpointInfo> TakeCheckpoint(store::RocksStore& store, int64_t max_record_ms,
                                          bool from_projector);
  // REQUIRES: mutex_ held.
  void ThinLocked();

  const std::string dir_;
  const CheckpointPolicy policy_;
  mutable std::mutex mutex_;
  std::vector<CheckpointInfo> checkpoints_;  // by records
  int64_t next_id_ = 1;
  // Since the last checkpoint (this process).
  int64_t records_since_ = 0;
  int64_t min_occurred_since_ = INT64_MAX;
  bool since_known_ = false;  // false until the first checkpoint of this process
  int64_t max_occurred_ms_ = INT64_MIN;
  int64_t last_record_day_ = INT64_MIN;
};

// True when a state covering `positions` lies within `end`: every partition's
// offset at most end's (a partition absent from `end` counts as 0).
bool CoveredBy(const log::PartitionOffsets& positions, const log::PartitionOffsets& end);

// The checkpoint to start a replay from: the one with the most records among
// those covered by `end` whose state holds no event occurred at or after
// `occurred_before_ms` (INT64_MAX: no such condition). nullopt: start from
// an empty store.
std::optional<CheckpointInfo> SelectBase(const std::vector<CheckpointInfo>& checkpoints,
                                         const log::PartitionOffsets& end,
                                         int64_t occurred_before_ms);

}  // namespace lok::engine
