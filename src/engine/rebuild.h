// Rebuilding read models without downtime.
//
// A rebuild replays the log from offset 0 into a new store generation
// (store/store_generations.h) beside the live one, with a second projector on
// its own log reader, while the live projector and the queries carry on with
// the live store. The switch:
//
//   1. replay in rounds up to the live store's positions, until the rebuild
//      is within `switch_gap` records of the live projector;
//   2. stop the live projector (queries still read the live store) and
//      replay up to exactly its positions P;
//   3. copy into the new store what is not rebuilt: the models left out of
//      `projections`, with their recorded versions;
//   4. under LiveStore::Swap's exclusive lock: copy the dead-letter re-drive
//      marks, fsync the new store, point CURRENT_STORE at it (the durable
//      switch), make it the store queries read;
//   5. start the live projector on the new store, at P.
//
// Invariant: queries read exactly one complete store at every moment, and
// the store the live projector writes is the one queries read, except during
// 2-4 when it writes none. A crash before 4 leaves the old store current and
// the new directory as a leftover; after 4 the new store is current and at
// P. The previous generation stays on disk until DropOld.
//
// Every read model records the version of the code that built it under
// "_meta/version/<name>"; StaleProjections says which differ from the code.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "projections/projection.h"
#include "engine/projector_runner.h"
#include "engine/verify.h"
#include "store/live_store.h"
#include "store/store_generations.h"

namespace lok::engine {

inline constexpr std::string_view kVersionPrefix = projections::kVersionRecordPrefix;
// Keys outside the read models that the live node writes besides the
// projector (dead-letter re-drives) and that a rebuild carries over.
inline constexpr std::string_view kRedriveMarkPrefix = "_dlq_redriven/";

// The code's version of each projection, by name.
using ProjectionVersions = std::map<std::string, int, std::less<>>;

// The versions `projections` declare, with `overrides` (by name) applied.
ProjectionVersions VersionsOf(const std::vector<projections::Projection*>& projections,
                              const std::map<std::string, int>& overrides = {});

// The projections whose recorded version differs from `versions`. A store
// that has consumed events but records no version for a model counts that
// model as stale (it predates the record, or the model is new). An empty
// store has nothing stale. Errors: storage failures, kDataLoss.
StatusOr<std::vector<std::string>> StaleProjections(const store::KeyValueReader& reader,
                                                    const ProjectionVersions& versions);

// Records `versions` in `store` (one commit).
Status RecordVersions(store::RocksStore& store, const ProjectionVersions& versions);

struct RebuildConfig {
  store::LiveStore* live = nullptr;
  store::StoreGenerations* generations = nullptr;
  ProjectorRunner* runner = nullptr;                  // the live projector
  std::vector<projections::Projection*> projections;  // all of the node's
  ProjectionVersions versions;                        // the code's
  ReaderFactory new_reader;                           // a fresh reader of the events topic
  std::string topic;
  store::RocksStoreOptions store_options;
  // Hooks of the replay when every projection is rebuilt (checkpoints of the
  // new store); a partial rebuild's store holds only some models until its
  // switch, so it takes none.
  ReplayHooks full_rebuild_hooks;
  // The rebuild thread's nice value (as the live projector's, lokd
  // --projector-nice): queries keep the CPU while it replays.
  int thread_nice = 0;
  // Stop the live projector once the rebuild is within this many records.
  int64_t switch_gap = 20000;
};

enum class RebuildState { kIdle, kReplaying, kSwitching, kDone, kFailed };
std::string_view RebuildStateName(RebuildState state);

struct RebuildProgress {
  RebuildState state = RebuildState::kIdle;
  std::string reason;                    // why it runs ("requested", "projection version changed")
  std::vector<std::string> projections;  // the models recomputed
  int generation = 0;                    // the store being built (or last built)
  int current_generation = 0;            // the store queries read
  int64_t records_replayed = 0;
  int64_t records_target = 0;        // the live positions (sum) the replay aims at
  double fraction = 0;               // records_replayed / records_target, 0..1
  double events_per_second = 0;      // average since the rebuild started
  double eta_seconds = -1;           // -1: unknown
  std::string error;                 // when kFailed
  std::vector<int> old_generations;  // on disk, droppable
};

class Rebuilder {
 public:
  explicit Rebuilder(RebuildConfig config);
  ~Rebuilder();  // cancels a running rebuild and waits for it

  // Starts a rebuild of `projections` (names; empty: all) in the background.
  // Errors: kInvalidArgument naming an unknown projection; kFailedPrecondition
  // while one runs.
  Status Start(std::vector<std::string> projections, std::string reason);

  RebuildProgress Progress() const;

  // Cancels a running rebuild (the live store stays current, the partial
  // store is removed) and waits for it to end.
  void Cancel();

  // Removes every store generation on disk other than the current one.
  // Returns the generations removed. Errors: kFailedPrecondition while a
  // rebuild runs or while queries still read the previous store (retry).
  StatusOr<std::vector<int>> DropOld();

  // The rebuild gauges in the Prometheus text format.
  std::string RenderPrometheus() const;

 private:
  void Run(std::stop_token stop, std::vector<projections::Projection*> selected);
  Status RunSteps(std::stop_token stop, const std::vector<projections::Projection*>& selected,
                  int generation, std::shared_ptr<store::RocksStore>& built, bool& paused);
  void Record(int64_t records);

  RebuildConfig config_;

  mutable std::mutex mutex_;
  RebuildProgress progress_;
  std::chrono::steady_clock::time_point started_;
  std::weak_ptr<store::RocksStore> previous_;  // to know when queries let go of it
  std::jthread thread_;
};

}  // namespace lok::engine
