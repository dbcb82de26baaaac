#include "engine/as_of.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "engine/projector_metrics.h"

namespace lok::engine {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;

// Equal as prefixes of the log: an absent partition is offset 0.
bool SamePrefix(const log::PartitionOffsets& a, const log::PartitionOffsets& b) {
  return CoveredBy(a, b) && CoveredBy(b, a);
}

}  // namespace

struct AsOfStores::Entry {
  std::string key;
  std::string now_key;  // models and asOf, for requests without knownAt; else empty
  std::chrono::steady_clock::time_point created;
  bool ready = false;
  Status error;
  std::shared_ptr<store::RocksStore> store;
  log::PartitionOffsets covered;
  int64_t records_replayed = 0;
  int64_t base_records = 0;
  double build_seconds = 0;
};

AsOfStores::AsOfStores(AsOfConfig config) : config_(std::move(config)) {
  std::error_code error;
  fs::remove_all(config_.cache_dir, error);
  fs::create_directories(config_.cache_dir, error);
  config_.cache_entries = std::max<size_t>(config_.cache_entries, 1);
}

AsOfStores::~AsOfStores() {
  std::unique_lock lock(mutex_);
  // Builds in flight hold no reference to this object beyond mutex_ and
  // built_; wait for them so that they do not outlive it.
  built_.wait(lock, [&] {
    return std::all_of(cache_.begin(), cache_.end(),
                       [](const std::shared_ptr<Entry>& entry) { return entry->ready; });
  });
  cache_.clear();
}

int64_t AsOfStores::builds() const {
  std::lock_guard lock(mutex_);
  return builds_;
}

int64_t AsOfStores::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

std::string AsOfStores::RenderPrometheus() const {
  CheckpointKeeper* keeper = config_.checkpoints ? config_.checkpoints() : nullptr;
  const size_t checkpoints = keeper != nullptr ? keeper->List().size() : 0;
  std::lock_guard lock(mutex_);
  std::string text;
  AppendPrometheusSample(text, "counter", "lok_as_of_builds_total",
                         "Read models built for asOf/knownAt queries.", builds_);
  AppendPrometheusSample(text, "counter", "lok_as_of_cache_hits_total",
                         "asOf/knownAt queries answered from a cached build.", hits_);
  AppendPrometheusSample(text, "counter", "lok_as_of_build_seconds_total",
                         "Time spent building them.", build_seconds_total_);
  AppendPrometheusSample(text, "counter", "lok_as_of_replayed_records_total",
                         "Records replayed by those builds.", replayed_total_);
  AppendPrometheusSample(text, "gauge", "lok_checkpoints", "Checkpoints of the current store on disk.",
                         static_cast<int64_t>(checkpoints));
  return text;
}

StatusOr<AsOfView> AsOfStores::Get(const store::KeyValueReader& live, const AsOfRequest& request) {
  std::vector<projections::Projection*> models;
  std::vector<std::string> names = request.models;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const std::string& name : names) {
    auto found = std::find_if(config_.projections.begin(), config_.projections.end(),
                              [&](projections::Projection* p) { return p->Name() == name; });
    if (found == config_.projections.end()) {
      return InvalidArgumentError("as-of model '" + name + "': no such projection");
    }
    models.push_back(*found);
  }

  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets live_positions, ReadPositions(live));
  LOK_ASSIGN_OR_RETURN(int64_t live_max_occurred, ReadMaxOccurred(live));
  log::PartitionOffsets end = live_positions;
  if (request.cut) {
    end = *request.cut;
  } else if (request.known_at_ms) {
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, config_.new_reader());
    StatusOr<log::PartitionOffsets> cut = reader->OffsetsAfterTime(*request.known_at_ms);
    if (!cut.ok() && cut.status().code() == StatusCode::kNotFound) {
      cut = log::PartitionOffsets{};  // nothing was ever appended
    }
    if (!cut.ok()) return cut.status();
    end = std::move(*cut);
  }
  const int64_t occurred_before = request.occurred_before_ms.value_or(INT64_MAX);
  if (SamePrefix(end, live_positions) && live_max_occurred < occurred_before) {
    AsOfView view;
    view.covered = live_positions;
    return view;
  }

  std::string key;
  for (const std::string& name : names) key += name + ",";
  key += "|";
  for (const auto& [partition, offset] : end) {
    key += std::to_string(partition) + ":" + std::to_string(offset) + ",";
  }
  key += "|" + std::to_string(occurred_before);
  std::string now_key;
  if (!request.known_at_ms && !request.cut) {
    for (const std::string& name : names) now_key += name + ",";
    now_key += "|now|" + std::to_string(occurred_before);
  }

  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    auto found = std::find_if(cache_.begin(), cache_.end(), [&](const std::shared_ptr<Entry>& e) {
      if (e->key == key) return true;
      return !now_key.empty() && e->now_key == now_key && e->ready && e->error.ok() &&
             now - e->created <= config_.reuse_for_now;
    });
    if (found != cache_.end()) {
      entry = *found;
      cache_.erase(found);
      cache_.push_front(entry);
      built_.wait(lock, [&] { return entry->ready; });
      if (!entry->error.ok()) return entry->error;
      ++hits_;
      AsOfView view{entry->store, entry->covered, 0, entry->base_records, true, 0};
      return view;
    }
    entry = std::make_shared<Entry>();
    entry->key = key;
    entry->now_key = now_key;
    entry->created = now;
    cache_.push_front(entry);
  }
  StatusOr<std::shared_ptr<Entry>> built = [&] {
    std::lock_guard one_at_a_time(build_mutex_);
    return Build(key, request, end, models);
  }();
  std::lock_guard lock(mutex_);
  if (built.ok()) {
    entry->store = (*built)->store;
    entry->covered = (*built)->covered;
    entry->records_replayed = (*built)->records_replayed;
    entry->base_records = (*built)->base_records;
    entry->build_seconds = (*built)->build_seconds;
    ++builds_;
    build_seconds_total_ += entry->build_seconds;
    replayed_total_ += entry->records_replayed;
  } else {
    entry->error = built.status();
    cache_.remove(entry);
  }
  entry->ready = true;
  built_.notify_all();
  // Evict the least recently used finished entries beyond the bound; a store
  // still read by a request is removed from disk when it lets go.
  size_t count = cache_.size();
  for (auto it = cache_.end(); count > config_.cache_entries && it != cache_.begin();) {
    --it;
    if ((*it)->ready) {
      it = cache_.erase(it);
      --count;
    }
  }
  if (!built.ok()) return built.status();
  AsOfView view{entry->store,          entry->covered, entry->records_replayed,
                entry->base_records,   false,          entry->build_seconds};
  return view;
}

StatusOr<std::shared_ptr<AsOfStores::Entry>> AsOfStores::Build(
    const std::string& key, const AsOfRequest& request, const log::PartitionOffsets& end,
    std::vector<projections::Projection*> models) {
  const auto started = std::chrono::steady_clock::now();
  std::string dir;
  {
    std::lock_guard lock(mutex_);
    dir = (fs::path(config_.cache_dir) / std::to_string(next_dir_++)).string();
  }
  CheckpointKeeper* keeper = config_.checkpoints ? config_.checkpoints() : nullptr;
  const std::vector<CheckpointInfo> checkpoints =
      keeper != nullptr ? keeper->List() : std::vector<CheckpointInfo>{};
  const int64_t occurred_before = request.occurred_before_ms.value_or(INT64_MAX);
  const std::optional<CheckpointInfo> base = SelectBase(checkpoints, end, occurred_before);

  auto entry = std::make_shared<Entry>();
  entry->key = key;
  entry->covered = end;
  if (base) {
    LOK_RETURN_IF_ERROR(store::CloneStoreFiles(base->dir, dir));
    entry->base_records = base->records;
  }
  store::RocksStoreOptions options;
  options.block_cache_bytes = size_t{32} << 20;
  StatusOr<std::unique_ptr<store::RocksStore>> opened = store::RocksStore::Open(dir, options);
  if (!opened.ok()) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    return opened.status();
  }
  entry->store = std::shared_ptr<store::RocksStore>(opened->release(), [dir](store::RocksStore* s) {
    delete s;
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  });

  ReplayHooks hooks;
  if (request.occurred_before_ms) {
    hooks.include = [occurred_before](const lok::v1::Event& event, const log::Record&) {
      return TimeUtil::TimestampToMilliseconds(event.occurred_at()) < occurred_before;
    };
  }
  log::PartitionOffsets current = base ? base->positions : log::PartitionOffsets{};
  // Replays runs of the log up to `target` with a fresh reader each: a
  // librdkafka consumer re-assigned while its previous partitions are still
  // starting can abort (librdkafka issue 5573, fixed after the 2.0.2 we use),
  // so a reader is assigned once.
  const auto replay_to = [&](const log::PartitionOffsets& target) -> Status {
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, config_.new_reader());
    LOK_ASSIGN_OR_RETURN(int64_t replayed, ReplayUpTo(*entry->store, *reader, models, config_.topic,
                                                      target, config_.deadline, nullptr, hooks));
    entry->records_replayed += replayed;
    return Status::Ok();
  };
  // The checkpoints after the base, inside the cut: stretches between two of
  // them whose events all occurred too late are passed over; the stretches
  // between passes are replayed in one run each.
  std::optional<log::PartitionOffsets> run_end;
  for (const CheckpointInfo& checkpoint : checkpoints) {
    if (base && checkpoint.records <= base->records) continue;
    if (!CoveredBy(checkpoint.positions, end)) break;
    if (!CoveredBy(current, checkpoint.positions)) continue;
    const bool skippable = request.occurred_before_ms &&
                           checkpoint.min_occurred_since_previous_ms != INT64_MIN &&
                           checkpoint.min_occurred_since_previous_ms >= occurred_before;
    if (skippable) {
      if (run_end) {
        LOK_RETURN_IF_ERROR(replay_to(*run_end));
        run_end.reset();
      }
      LOK_RETURN_IF_ERROR(WritePositions(*entry->store, checkpoint.positions));
    } else {
      run_end = checkpoint.positions;
    }
    current = checkpoint.positions;
  }
  LOK_RETURN_IF_ERROR(replay_to(end));
  entry->build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("as-of: built [{}] from {} records of a checkpoint, replayed {} of {} in {:.2f} s",
               key, entry->base_records, entry->records_replayed, log::RecordCount(end) - entry->base_records,
               entry->build_seconds);
  return entry;
}

}  // namespace lok::engine
