#include "engine/rebuild.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>

#include "engine/projector_metrics.h"

namespace lok::engine {
namespace {

// How long one replay round may wait for the log to deliver records it has
// already reported (a broker outage during a rebuild fails it after this).
constexpr std::chrono::seconds kRoundDeadline{3600};
constexpr size_t kCopyBatchKeys = 10000;

// Copies every key under `prefix` from `from` to `to`, in commits of at most
// kCopyBatchKeys keys.
Status CopyPrefix(const store::KeyValueReader& from, store::RocksStore& to,
                  std::string_view prefix) {
  store::ChangeSet batch;
  Status failed = Status::Ok();
  LOK_RETURN_IF_ERROR(from.ScanPrefix(prefix, [&](std::string_view key, std::string_view value) {
    batch.writes.emplace(std::string(key), std::string(value));
    if (batch.writes.size() >= kCopyBatchKeys) {
      failed = to.Commit(batch);
      batch.writes.clear();
    }
    return failed.ok();
  }));
  LOK_RETURN_IF_ERROR(failed);
  if (!batch.writes.empty()) LOK_RETURN_IF_ERROR(to.Commit(batch));
  return Status::Ok();
}

bool IsRunning(RebuildState state) {
  return state == RebuildState::kReplaying || state == RebuildState::kSwitching;
}

}  // namespace

std::string_view RebuildStateName(RebuildState state) {
  switch (state) {
    case RebuildState::kIdle:
      return "idle";
    case RebuildState::kReplaying:
      return "replaying";
    case RebuildState::kSwitching:
      return "switching";
    case RebuildState::kDone:
      return "done";
    case RebuildState::kFailed:
      return "failed";
  }
  return "unknown";
}

ProjectionVersions VersionsOf(const std::vector<projections::Projection*>& projections,
                              const std::map<std::string, int>& overrides) {
  ProjectionVersions versions;
  for (const projections::Projection* projection : projections) {
    const std::string name(projection->Name());
    auto overridden = overrides.find(name);
    versions[name] = overridden != overrides.end() ? overridden->second : projection->Version();
  }
  return versions;
}

StatusOr<std::vector<std::string>> StaleProjections(const store::KeyValueReader& reader,
                                                    const ProjectionVersions& versions) {
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets positions, ReadPositions(reader));
  const bool consumed = log::RecordCount(positions) > 0;
  std::vector<std::string> stale;
  for (const auto& [name, version] : versions) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                         reader.Get(std::string(kVersionPrefix) + name));
    if (stored ? *stored != std::to_string(version) : consumed) stale.push_back(name);
  }
  return stale;
}

Status RecordVersions(store::RocksStore& store, const ProjectionVersions& versions) {
  store::ChangeSet changes;
  for (const auto& [name, version] : versions) {
    changes.writes[std::string(kVersionPrefix) + name] = std::to_string(version);
  }
  return store.Commit(changes);
}

Rebuilder::Rebuilder(RebuildConfig config) : config_(std::move(config)) {
  StatusOr<int> current = config_.generations->Current();
  progress_.current_generation = current.ok() ? *current : 0;
}

Rebuilder::~Rebuilder() { Cancel(); }

Status Rebuilder::Start(std::vector<std::string> names, std::string reason) {
  std::vector<projections::Projection*> selected;
  if (names.empty()) {
    selected = config_.projections;
    for (const projections::Projection* projection : selected)
      names.emplace_back(projection->Name());
  } else {
    std::string known;
    for (const projections::Projection* projection : config_.projections) {
      known += (known.empty() ? "" : ", ") + std::string(projection->Name());
    }
    for (const std::string& name : names) {
      auto found = std::find_if(
          config_.projections.begin(), config_.projections.end(),
          [&](const projections::Projection* projection) { return projection->Name() == name; });
      if (found == config_.projections.end()) {
        return InvalidArgumentError("projection: unknown '" + name + "'; known: " + known);
      }
      if (std::find(selected.begin(), selected.end(), *found) == selected.end())
        selected.push_back(*found);
    }
  }
  std::lock_guard lock(mutex_);
  if (IsRunning(progress_.state)) {
    return FailedPreconditionError("a rebuild of generation " +
                                   std::to_string(progress_.generation) + " is already running");
  }
  if (thread_.joinable()) thread_.join();  // the previous one has ended
  LOK_ASSIGN_OR_RETURN(int generation, config_.generations->Next());
  const int current = progress_.current_generation;
  progress_ = RebuildProgress();
  progress_.state = RebuildState::kReplaying;
  progress_.reason = std::move(reason);
  progress_.projections = std::move(names);
  progress_.generation = generation;
  progress_.current_generation = current;
  started_ = std::chrono::steady_clock::now();
  spdlog::info("rebuild: building store generation {} ({}) beside generation {}: {}", generation,
               fmt::join(progress_.projections, ", "), current, progress_.reason);
  thread_ = std::jthread([this, selected](std::stop_token stop) {
    SetThreadNice(config_.thread_nice);
    Run(stop, selected);
  });
  return Status::Ok();
}

void Rebuilder::Record(int64_t records) {
  std::lock_guard lock(mutex_);
  progress_.records_replayed = records;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  progress_.events_per_second = seconds > 0 ? static_cast<double>(records) / seconds : 0;
  const int64_t remaining = std::max<int64_t>(0, progress_.records_target - records);
  progress_.fraction = progress_.records_target > 0
                           ? std::min(1.0, static_cast<double>(records) /
                                               static_cast<double>(progress_.records_target))
                           : 0;
  progress_.eta_seconds = progress_.events_per_second > 0
                              ? static_cast<double>(remaining) / progress_.events_per_second
                              : -1;
}

void Rebuilder::Run(std::stop_token stop, std::vector<projections::Projection*> selected) {
  int generation = 0;
  {
    std::lock_guard lock(mutex_);
    generation = progress_.generation;
  }
  std::shared_ptr<store::RocksStore> built;
  bool paused = false;
  Status status = RunSteps(stop, selected, generation, built, paused);
  if (status.ok()) return;
  if (paused) config_.runner->Start(config_.live->Current());
  built.reset();
  Status removed = config_.generations->Remove(generation);
  if (!removed.ok())
    spdlog::warn("rebuild: could not remove {}: {}", config_.generations->PathOf(generation),
                 removed.ToString());
  std::lock_guard lock(mutex_);
  spdlog::error("rebuild: generation {} failed, generation {} stays current: {}", generation,
                progress_.current_generation, status.ToString());
  progress_.state = RebuildState::kFailed;
  progress_.error = status.ToString();
}

Status Rebuilder::RunSteps(std::stop_token stop,
                           const std::vector<projections::Projection*>& selected, int generation,
                           std::shared_ptr<store::RocksStore>& built, bool& paused) {
  LOK_ASSIGN_OR_RETURN(
      std::unique_ptr<store::RocksStore> opened,
      store::RocksStore::Open(config_.generations->PathOf(generation), config_.store_options));
  built = std::move(opened);
  ProjectionVersions rebuilt_versions;
  for (const projections::Projection* projection : selected) {
    rebuilt_versions[std::string(projection->Name())] =
        config_.versions.at(std::string(projection->Name()));
  }
  LOK_RETURN_IF_ERROR(RecordVersions(*built, rebuilt_versions));
  const ReplayHooks hooks = selected.size() == config_.projections.size()
                                ? config_.full_rebuild_hooks
                                : ReplayHooks{};
  int64_t replayed = 0;
  auto replay_to = [&](const log::PartitionOffsets& target) -> Status {
    {
      std::lock_guard lock(mutex_);
      progress_.records_target = log::RecordCount(target);
    }
    const int64_t base = replayed;
    // A fresh reader per round: see AsOfStores::Build on re-assigning a
    // librdkafka consumer.
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, config_.new_reader());
    LOK_ASSIGN_OR_RETURN(int64_t records, ReplayUpTo(*built, *reader, selected, config_.topic,
                                                     target, kRoundDeadline, [&](int64_t so_far) {
                                                       Record(base + so_far);
                                                       return !stop.stop_requested();
                                                     },
                                                     hooks));
    replayed = base + records;
    Record(replayed);
    return Status::Ok();
  };

  // 1. Rounds up to the live positions while the live projector runs.
  while (true) {
    if (stop.stop_requested()) return Status(StatusCode::kCancelled, "rebuild cancelled");
    LOK_ASSIGN_OR_RETURN(log::PartitionOffsets target, ReadPositions(*config_.live->Snapshot()));
    LOK_RETURN_IF_ERROR(replay_to(target));
    LOK_ASSIGN_OR_RETURN(log::PartitionOffsets now, ReadPositions(*config_.live->Snapshot()));
    if (log::RecordCount(now) - log::RecordCount(target) <= config_.switch_gap) break;
  }

  // 2. Stop the live projector and catch up to exactly its positions.
  {
    std::lock_guard lock(mutex_);
    progress_.state = RebuildState::kSwitching;
  }
  std::shared_ptr<store::RocksStore> old = config_.runner->Stop();
  paused = true;
  if (!old) old = config_.live->Current();
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets final_target, ReadPositions(*old));
  LOK_RETURN_IF_ERROR(replay_to(final_target));
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets reached, ReadPositions(*built));
  for (const auto& [partition, offset] : final_target) {
    const auto found = reached.find(partition);
    if (offset > 0 && (found == reached.end() || found->second != offset)) {
      return InternalError(fmt::format("rebuild: partition {} at {}, the live store at {}",
                                       partition, found == reached.end() ? 0 : found->second,
                                       offset));
    }
  }

  // 3. The models not rebuilt, as the live store has them at these positions.
  for (const projections::Projection* projection : config_.projections) {
    if (std::find(selected.begin(), selected.end(), projection) != selected.end()) continue;
    const std::string name(projection->Name());
    LOK_RETURN_IF_ERROR(CopyPrefix(*old, *built, name + "/"));
    LOK_RETURN_IF_ERROR(CopyPrefix(*old, *built, std::string(kVersionPrefix) + name));
  }

  // 4. The switch: what other writers put in the live store, durability, the
  // pointer, then the queries.
  LOK_ASSIGN_OR_RETURN(
      std::shared_ptr<store::RocksStore> previous,
      config_.live->Swap(built, [&](store::RocksStore& from, store::RocksStore& to) {
        LOK_RETURN_IF_ERROR(CopyPrefix(from, to, kRedriveMarkPrefix));
        LOK_RETURN_IF_ERROR(to.Sync());
        return config_.generations->MakeCurrent(generation);
      }));

  // 5. The live projector goes on from the same positions in the new store.
  config_.runner->Start(built);
  paused = false;
  std::lock_guard lock(mutex_);
  previous_ = previous;
  const int before = progress_.current_generation;
  progress_.current_generation = generation;
  progress_.state = RebuildState::kDone;
  progress_.fraction = 1;
  progress_.eta_seconds = 0;
  spdlog::info(
      "rebuild: generation {} is current ({} records replayed); generation {} kept until dropped",
      generation, replayed, before);
  return Status::Ok();
}

RebuildProgress Rebuilder::Progress() const {
  std::lock_guard lock(mutex_);
  RebuildProgress progress = progress_;
  for (int generation : config_.generations->OnDisk()) {
    if (generation == progress.current_generation) continue;
    if (IsRunning(progress.state) && generation == progress.generation) continue;
    progress.old_generations.push_back(generation);
  }
  return progress;
}

void Rebuilder::Cancel() {
  std::jthread thread;
  {
    std::lock_guard lock(mutex_);
    thread = std::move(thread_);
  }
  if (thread.joinable()) {
    thread.request_stop();
    thread.join();
  }
}

StatusOr<std::vector<int>> Rebuilder::DropOld() {
  std::lock_guard lock(mutex_);
  if (IsRunning(progress_.state)) {
    return FailedPreconditionError("a rebuild is running; drop the old stores after it ends");
  }
  if (!previous_.expired()) {
    return FailedPreconditionError("queries still read the previous store; retry in a moment");
  }
  std::vector<int> removed;
  for (int generation : config_.generations->OnDisk()) {
    if (generation == progress_.current_generation) continue;
    LOK_RETURN_IF_ERROR(config_.generations->Remove(generation));
    removed.push_back(generation);
  }
  if (!removed.empty())
    spdlog::info("rebuild: dropped store generations {}", fmt::join(removed, ", "));
  return removed;
}

std::string Rebuilder::RenderPrometheus() const {
  const RebuildProgress progress = Progress();
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help, double value) {
    AppendPrometheusSample(out, "gauge", name, help, value);
  };
  gauge("lok_rebuild_running", "1 while a rebuild replays or switches.",
        IsRunning(progress.state) ? 1 : 0);
  gauge("lok_rebuild_progress_ratio",
        "Records replayed over the live position the rebuild aims at (0..1).", progress.fraction);
  gauge("lok_rebuild_events_per_second",
        "Records replayed per second, averaged since the rebuild started.",
        progress.events_per_second);
  gauge("lok_rebuild_eta_seconds",
        "Estimated seconds until the rebuild reaches the live position; -1 unknown.",
        progress.eta_seconds);
  gauge("lok_rebuild_records_replayed", "Records the running (or last) rebuild has replayed.",
        static_cast<double>(progress.records_replayed));
  gauge("lok_rebuild_records_target", "Sum of the live positions the rebuild replays up to.",
        static_cast<double>(progress.records_target));
  gauge("lok_store_generation", "The store generation queries read (0: data_dir/state).",
        progress.current_generation);
  gauge("lok_store_old_generations", "Older store generations kept on disk until dropped.",
        static_cast<double>(progress.old_generations.size()));
  return out;
}

}  // namespace lok::engine
