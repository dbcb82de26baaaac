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
// An event a projection rejects, or whose type this lokd does not know, is
// parked (engine/parking.h) with every later event of its client, in the same
// WriteBatch as the offsets; none of its own writes stay (a transaction save
// point per event). Other clients go on. RetryParked and SkipParked resolve a
// client's queue.
//
// Thread-safety: one thread runs RunOnce/Run; Positions() and metrics may be
// read from other threads; RetryParked and SkipParked may be called from any
// thread (they take the same lock as a batch, so each is atomic with the
// state and never interleaves with a batch).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "engine/parking.h"
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
  // How RetryParked decodes a parked event's bytes. Empty: events::DecodeBinary,
  // as the live path. Tests set it to stand in for an upgraded lokd that knows
  // an event type the running one does not.
  using DecodeFunction = std::function<StatusOr<lok::v1::Event>(std::string_view bytes)>;
  DecodeFunction decode_parked;
  // Replays for as-of answers: only valid events for which this returns true
  // are offered to the projections; the others are passed over as if absent
  // (no dedupe mark, no parking), while positions still advance. Empty: all.
  std::function<bool(const lok::v1::Event&, const log::Record&)> include;
  // Called on the projector's thread after each batch commits (checkpoints).
  std::function<void(store::RocksStore&, const struct CommittedBatch&)> on_commit;
};

// What one committed batch covered, for ProjectorOptions::on_commit.
struct CommittedBatch {
  log::PartitionOffsets positions;  // the next offset of every owned partition, after it
  int64_t records = 0;
  // Business and record time of the batch's events that were applied or
  // parked (not dead-lettered, not excluded); min > max when there were none.
  int64_t min_occurred_ms = INT64_MAX;
  int64_t max_occurred_ms = INT64_MIN;
  int64_t max_record_ms = INT64_MIN;  // of every record in the batch
};

// What RetryParked did.
struct ParkedRetryResult {
  int64_t applied = 0;
  int64_t duplicates = 0;     // already applied before: dropped (dedupe)
  int64_t dead_lettered = 0;  // invalid under this lokd's rules: dead-lettered
  int64_t remaining = 0;      // still parked
  // The event that failed again and now heads the queue, when any.
  std::optional<lok::v1::ParkedEvent> stopped_at;
};

// What SkipParked did.
struct ParkedSkipResult {
  int64_t skipped_count = 0;
  std::vector<lok::v1::ParkedEvent> skipped;  // the first 1000, as recorded in the audit
  int64_t remaining = 0;
};

// Projector-owned keys in the store.
inline constexpr std::string_view kPositionPrefix = "_position/";
inline constexpr std::string_view kDedupePrefix = "_dedupe/";
inline constexpr std::string_view kAppliedCounter = "_stats/applied";
inline constexpr std::string_view kDuplicateCounter = "_stats/duplicates";
inline constexpr std::string_view kDeadLetteredCounter = "_stats/dead_lettered";
// The latest occurred_at (ms since the epoch, 8 bytes big-endian) of any event
// applied or parked so far: no event of the state occurred after it.
inline constexpr std::string_view kMaxOccurredKey = "_meta/max_occurred";

// The next offset of each partition stored in `reader`.
StatusOr<log::PartitionOffsets> ReadPositions(const store::KeyValueReader& reader);

// kMaxOccurredKey in `reader`; INT64_MIN when nothing was applied; INT64_MAX
// (unknown) for a store that consumed records before the key was kept.
StatusOr<int64_t> ReadMaxOccurred(const store::KeyValueReader& reader);

// Sets the stored positions of `store` (one commit): a replay that must pass
// over a stretch of the log starts after it.
Status WritePositions(store::RocksStore& store, const log::PartitionOffsets& positions);

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

  // Re-applies `client_id`'s parked events in order through the projections,
  // stopping at the first that fails again (its reason and attempts are
  // updated; it and the rest stay parked). Events the projector now sees as
  // duplicates are dropped, invalid ones dead-lettered, as on the live path.
  // Commits in chunks of up to 1000 events, each one WriteBatch holding the
  // state changes, dedupe marks and the removal from the queue.
  // Errors: kNotFound when nothing of the client is parked; storage and
  // dead-letter failures (what was committed before stays committed).
  StatusOr<ParkedRetryResult> RetryParked(std::string_view client_id);

  // Removes the first parked event of `client_id`, or all of them, without
  // applying them, and records each under _parked/skipped/ with the time and
  // `skipped_by`. A skipped event gets no dedupe mark: a corrected copy with
  // the same (source, event_id) is applied when it arrives. The client stays
  // parked while events remain (RetryParked applies them).
  // Errors: kNotFound when nothing of the client is parked; storage failures.
  StatusOr<ParkedSkipResult> SkipParked(std::string_view client_id, bool all,
                                        std::string_view skipped_by);

 private:
  // One event offered to the projections.
  struct Offer {
    enum class Kind { kApplied, kDuplicate, kRejected };
    Kind kind = Kind::kApplied;
    std::string reason;  // for kRejected: "<projection>: <status>"
  };
  // Changes to the parked queue within one transaction, merged into
  // parked_depth_ once it commits.
  using DepthChanges = std::map<std::string, int64_t, std::less<>>;

  Status ProcessBatch(std::vector<log::Record> records);
  // Dedupe check, then every projection under a save point: on a rejection
  // nothing of the event stays in `transaction`. Errors: infrastructure
  // failures (IsInfrastructureFailure), which fail the batch.
  StatusOr<Offer> ApplyEvent(const lok::v1::Event& event,
                             const projections::EventPosition& position,
                             store::Transaction& transaction);
  bool IsParked(std::string_view client_id, const DepthChanges& changes) const;
  void Park(const lok::v1::ParkedEvent& parked, store::Transaction& transaction,
            DepthChanges& changes) const;
  void MergeDepthChanges(const DepthChanges& changes);
  Status LoadParked();
  void UpdateLag(bool force);

  store::RocksStore& store_;
  log::LogReader& reader_;
  log::LogWriter& dead_letters_;
  std::vector<projections::Projection*> projections_;
  ProjectorOptions options_;
  ProjectorMetrics& metrics_;

  mutable std::mutex positions_mutex_;
  log::PartitionOffsets positions_;

  // Held for a batch, a retry or a skip: each commits to store_, and the
  // parked queue must not change under a batch that reads it.
  std::mutex write_mutex_;
  // Parked clients and their queue depth, as committed. Guarded by write_mutex_.
  std::map<std::string, int64_t, std::less<>> parked_depth_;
  std::chrono::steady_clock::time_point last_lag_check_{};
  int64_t max_occurred_ms_ = INT64_MIN;  // as committed; guarded by write_mutex_
};

}  // namespace lok::engine
