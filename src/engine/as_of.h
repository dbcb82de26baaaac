// Read models as of a past moment, on two timelines:
//
//   known_at        record time: only the records the log had received by
//                   then (per partition, the records before the first one
//                   stamped later; LogReader::OffsetsAfterTime)
//   occurred_before business time: only the events whose occurred_at is
//                   before it (asOf=D means before D+1 00:00 UTC)
//
// An answer is read from a scratch store that holds exactly those events:
// the newest checkpoint (engine/checkpoints.h) inside both bounds is copied
// (hard links), and the log from its offsets to the known_at cut is replayed
// into it through the models asked for, passing over events that occurred
// too late, and passing over whole stretches between checkpoints whose
// events all occurred too late. Projections are order-independent, so
// leaving events out of a replay gives exactly the state of the remaining
// ones. The scratch stores are kept in a small LRU cache (bounded number,
// removed from disk on eviction) keyed by the models, the cut offsets and
// the business bound; concurrent requests for the same key share one build.
//
// When neither bound excludes anything the live store already holds (the
// cut is the live positions and no stored event occurred that late), Get
// says so and the caller answers from the live snapshot.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/checkpoints.h"
#include "engine/verify.h"
#include "log/log.h"
#include "projections/projection.h"
#include "store/rocks_store.h"

namespace lok::engine {

struct AsOfRequest {
  std::optional<int64_t> known_at_ms;
  std::optional<int64_t> occurred_before_ms;
  std::vector<std::string> models;  // projection names the answer reads
  // The exact log prefix, instead of known_at_ms's cut or the live positions
  // (restatements compare two answers over cuts they computed).
  std::optional<log::PartitionOffsets> cut;
};

// A read model as of a request.
struct AsOfView {
  std::shared_ptr<store::RocksStore> store;  // nullptr: the live store answers exactly
  log::PartitionOffsets covered;             // the log prefix it holds
  int64_t records_replayed = 0;              // when built (0 from the cache)
  int64_t base_records = 0;                  // records in the checkpoint it started from
  bool from_cache = false;
  double build_seconds = 0;
};

struct AsOfConfig {
  std::string cache_dir;  // emptied at start
  size_t cache_entries = 4;
  ReaderFactory new_reader;
  std::string topic;
  std::vector<projections::Projection*> projections;  // all of the node's
  // The checkpoints of the store queries read now; may return nullptr.
  std::function<CheckpointKeeper*()> checkpoints;
  std::chrono::seconds deadline{900};
  // A request without knownAt ("known now") may be answered by a build of
  // the same models and asOf made up to this long ago, though the live
  // store has moved on since (its `covered` offsets say how far it goes).
  // Under continuous ingestion every request would otherwise rebuild.
  std::chrono::seconds reuse_for_now{300};
};

class AsOfStores {
 public:
  explicit AsOfStores(AsOfConfig config);
  ~AsOfStores();

  // The read models of `request.models` as of the request's bounds, `live`
  // being a snapshot of the live store. Errors: kInvalidArgument naming an
  // unknown model; log and storage failures; kDeadlineExceeded.
  StatusOr<AsOfView> Get(const store::KeyValueReader& live, const AsOfRequest& request);

  // Builds done and served from the cache, for /metrics.
  int64_t builds() const;
  int64_t hits() const;

  // lok_as_of_* and lok_checkpoints in the Prometheus text format.
  std::string RenderPrometheus() const;

 private:
  struct Entry;
  StatusOr<std::shared_ptr<Entry>> Build(const std::string& key, const AsOfRequest& request,
                                         const log::PartitionOffsets& end,
                                         std::vector<projections::Projection*> models);

  AsOfConfig config_;
  // One build at a time: a build takes a core for seconds, and the node's
  // live queries and projector need the rest.
  std::mutex build_mutex_;
  mutable std::mutex mutex_;
  std::condition_variable built_;
  std::list<std::shared_ptr<Entry>> cache_;  // most recently used first
  int64_t next_dir_ = 1;
  int64_t builds_ = 0;
  int64_t hits_ = 0;
  double build_seconds_total_ = 0;
  int64_t replayed_total_ = 0;
};

}  // namespace lok::engine
