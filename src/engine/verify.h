// Digests of read models and their verification by replay.
//
// A model's digest is SHA-256 over its state in key order: for every key
// under "<name>/", the key and the projection's DigestForm of the value, each
// preceded by its length. It is reported with the log offsets the state
// covers (read from the same snapshot). For order-independent models the
// same events in any order give the same digest.
//
// Verification replays the log from offset 0 up to the live state's offsets
// into a scratch store and compares digests model by model; a mismatch names
// the first differing keys.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/projector.h"
#include "log/log.h"
#include "projections/projection.h"
#include "store/rocks_store.h"

namespace lok::engine {

struct ModelDigest {
  std::string name;
  std::string sha256;  // lower-case hex
  int64_t keys = 0;
  bool order_independent = true;
};

// The digest of `projection`'s state in `reader`.
StatusOr<ModelDigest> DigestModel(const store::KeyValueReader& reader,
                                  const projections::Projection& projection);

struct ModelComparison {
  std::string name;
  ModelDigest live;
  ModelDigest replayed;
  bool match = false;
  std::vector<std::string> first_differences;  // printable keys, at most 5
};

struct VerifyReport {
  log::PartitionOffsets offsets;  // the offsets both sides cover
  int64_t records_replayed = 0;
  std::vector<ModelComparison> models;
  bool ok() const;
};

using ReaderFactory = std::function<StatusOr<std::unique_ptr<log::LogReader>>()>;

// Optional parts of a replay (ProjectorOptions has their meaning).
struct ReplayHooks {
  std::function<bool(const lok::v1::Event&, const log::Record&)> include;
  std::function<void(store::RocksStore&, const CommittedBatch&)> on_commit;
};

// Replays `reader`'s `topic` through `projections` into `store`, from the
// positions stored in `store` up to (excluding) `stop_at`, as the live
// projector would have applied it (same dedupe, same positions; dead letters
// are not sent again, the live projector sent them). Used by verification
// and by rebuilds. `keep_going(records_so_far)` is asked after every batch;
// false stops with kCancelled. Returns the records consumed.
// Errors: log and storage failures; kDeadlineExceeded when the log does not
// deliver the records up to `stop_at` within `deadline`.
StatusOr<int64_t> ReplayUpTo(store::RocksStore& store, log::LogReader& reader,
                             const std::vector<projections::Projection*>& projections,
                             const std::string& topic, const log::PartitionOffsets& stop_at,
                             std::chrono::seconds deadline,
                             const std::function<bool(int64_t)>& keep_going = nullptr,
                             const ReplayHooks& hooks = {});

// Replays `topic` through `projections` into a fresh store in `scratch_dir`
// (created, and removed afterwards) up to the positions of a snapshot of
// `live`, and compares every model's digest with the snapshot's.
// Errors: log and storage failures; kDeadlineExceeded when the log does not
// deliver the records up to those positions within `deadline`.
StatusOr<VerifyReport> VerifyByReplay(const store::RocksStore& live, const ReaderFactory& new_reader,
                                      const std::vector<projections::Projection*>& projections,
                                      const std::string& topic, const std::string& scratch_dir,
                                      std::chrono::seconds deadline);

// A key with its non-printable bytes as \xNN.
std::string PrintableKey(std::string_view key);

}  // namespace lok::engine
