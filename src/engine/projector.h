// The projector: the loop that turns log records into read models, exactly
// once.
//
//   poll a batch -> decode -> validate -> drop duplicates by (source, event_id)
//   -> apply to every projection -> ONE RocksDB WriteBatch holding the read
//   model changes, the next offset of each partition and the dedupe marks.
//
// On start it resumes from the offsets in its store, so a crash at any point
// loses nothing and counts nothing twice. Records that cannot be decoded or
// validated go to the dead-letter topic (with reason, original bytes and
// position) before the batch commits; a crash in between may dead-letter a
// record twice (at-least-once), never drop it.
//
// Thread-safety: one thread runs RunOnce/Run; Positions() and metrics may be
// read from other threads.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/projector_metrics.h"
#include "log/log.h"
#include "projections/projection.h"
#include "store/rocks_store.h"

namespace lok::engine {

struct ProjectorOptions {
  std::string topic = "lok.events";
  size_t max_batch = 2000;
  std::chrono::milliseconds poll_timeout{200};
  // The partitions this projector owns; empty means all of the topic's.
  std::vector<int32_t> partitions;
  // Back-off after a failed batch before restarting from the stored offsets.
  std::chrono::milliseconds retry_backoff{500};
  // For replays: consume each partition only up to (excluding) this offset.
  // Empty: no limit. When set, the owned partitions are its keys.
  log::PartitionOffsets stop_at;
};

// Projector-owned keys in the store.
inline constexpr std::string_view kPositionPrefix = "_position/";
inline constexpr std::string_view kDedupePrefix = "_dedupe/";
inline constexpr std::string_view kAppliedCounter = "_stats/applied";
inline constexpr std::string_view kDuplicateCounter = "_stats/duplicates";
inline constexpr std::string_view kDeadLetteredCounter = "_stats/dead_lettered";

// The next offset of each partition stored in `reader`.
StatusOr<log::PartitionOffsets> ReadPositions(const store::KeyValueReader& reader);

class Projector {
 public:
  // Everything passed in must outlive the projector. `dead_letters` receives
  // DeadLetterTopic(options.topic).
  Projector(store::RocksStore& store, log::LogReader& reader, log::LogWriter& dead_letters,
            std::vector<projections::Projection*> projections, ProjectorOptions options,
            ProjectorMetrics& metrics);

  // Reads the stored positions and assigns the reader to them.
  // Errors: kNotFound while the topic does not exist; storage/log errors.
  Status Start();

  // One cycle: poll, apply, commit. Returns the number of records consumed
  // (0 when nothing new arrived within the poll timeout). On error nothing of
  // the batch is committed; call Start() again before the next RunOnce.
  StatusOr<size_t> RunOnce();

  // Runs cycles until `stop` is requested. Errors are logged, counted and
  // retried after a back-off from the stored positions.
  void Run(std::stop_token stop);

  // The committed next offset per owned partition.
  log::PartitionOffsets Positions() const;

  // True when options.stop_at is set and every partition has reached it.
  bool ReachedStop() const;

 private:
  Status ProcessBatch(std::vector<log::Record> records);
  void UpdateLag(bool force);

  store::RocksStore& store_;
  log::LogReader& reader_;
  log::LogWriter& dead_letters_;
  std::vector<projections::Projection*> projections_;
  ProjectorOptions options_;
  ProjectorMetrics& metrics_;

  mutable std::mutex positions_mutex_;
  log::PartitionOffsets positions_;
  std::chrono::steady_clock::time_point last_lag_check_{};
};

}  // namespace lok::engine
