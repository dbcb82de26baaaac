#include "engine/checkpoints.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lok::engine {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMsPerDay = 86400000;

int64_t FloorDay(int64_t ms) { return ms >= 0 ? ms / kMsPerDay : -((-ms + kMsPerDay - 1) / kMsPerDay); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ToJson(const CheckpointInfo& info) {
  boost::json::object positions;
  for (const auto& [partition, offset] : info.positions) {
    positions[std::to_string(partition)] = offset;
  }
  boost::json::object object{{"id", info.id},
                             {"positions", std::move(positions)},
                             {"max_occurred_ms", info.max_occurred_ms},
                             {"max_record_ms", info.max_record_ms},
                             {"min_occurred_since_previous_ms", info.min_occurred_since_previous_ms},
                             {"created_ms", info.created_ms}};
  return boost::json::serialize(object);
}

StatusOr<CheckpointInfo> FromJson(const std::string& text, const std::string& path) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(text, error);
  const auto bad = [&] { return DataLossError("checkpoint description " + path + ": unreadable"); };
  if (error || !value.is_object()) return bad();
  const boost::json::object& object = value.as_object();
  CheckpointInfo info;
  try {
    info.id = object.at("id").to_number<int64_t>();
    for (const auto& [partition, offset] : object.at("positions").as_object()) {
      info.positions[std::stoi(std::string(partition))] = offset.to_number<int64_t>();
    }
    info.max_occurred_ms = object.at("max_occurred_ms").to_number<int64_t>();
    info.max_record_ms = object.at("max_record_ms").to_number<int64_t>();
    info.min_occurred_since_previous_ms =
        object.at("min_occurred_since_previous_ms").to_number<int64_t>();
    info.created_ms = object.at("created_ms").to_number<int64_t>();
  } catch (const std::exception&) {
    return bad();
  }
  info.records = log::RecordCount(info.positions);
  return info;
}

// Writes `info`'s description into `dir` (to a temporary file, then renamed
// over, so a reader sees the old or the new one whole).
Status WriteDescription(const std::string& dir, const CheckpointInfo& info) {
  const std::string path = (fs::path(dir) / (std::to_string(info.id) + ".json")).string();
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    out << ToJson(info);
    if (!out.flush()) return UnavailableError("checkpoint description " + path + ": write failed");
  }
  std::error_code error;
  fs::rename(path + ".tmp", path, error);
  if (error) return UnavailableError("checkpoint description " + path + ": " + error.message());
  return Status::Ok();
}

}  // namespace

std::string CheckpointDirOf(const std::string& store_dir) {
  std::string dir = store_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + ".checkpoints";
}

bool CoveredBy(const log::PartitionOffsets& positions, const log::PartitionOffsets& end) {
  for (const auto& [partition, offset] : positions) {
    auto found = end.find(partition);
    const int64_t limit = found == end.end() ? 0 : found->second;
    if (offset > limit) return false;
  }
  return true;
}

std::optional<CheckpointInfo> SelectBase(const std::vector<CheckpointInfo>& checkpoints,
                                         const log::PartitionOffsets& end,
                                         int64_t occurred_before_ms) {
  std::optional<CheckpointInfo> best;
  for (const CheckpointInfo& checkpoint : checkpoints) {
    if (!CoveredBy(checkpoint.positions, end)) continue;
    // Without a business-time bound any checkpoint inside the cut serves,
    // even one whose latest occurred_at is unknown (INT64_MAX).
    if (occurred_before_ms != INT64_MAX && checkpoint.max_occurred_ms >= occurred_before_ms) {
      continue;
    }
    if (!best || checkpoint.records > best->records) best = checkpoint;
  }
  return best;
}

StatusOr<std::unique_ptr<CheckpointKeeper>> CheckpointKeeper::Open(std::string dir,
                                                                   CheckpointPolicy policy) {
  policy.keep = std::max<size_t>(policy.keep, 2);
  std::unique_ptr<CheckpointKeeper> keeper(new CheckpointKeeper(std::move(dir), policy));
  LOK_RETURN_IF_ERROR(keeper->Load());
  return keeper;
}

Status CheckpointKeeper::Load() {
  std::error_code error;
  fs::create_directories(dir_, error);
  if (error) return UnavailableError("checkpoints " + dir_ + ": " + error.message());
  std::vector<CheckpointInfo> loaded;
  std::vector<fs::path> directories;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, error)) {
    if (entry.is_directory()) {
      directories.push_back(entry.path());
      continue;
    }
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    StatusOr<CheckpointInfo> info = FromJson(text.str(), entry.path().string());
    if (!info.ok()) {
      spdlog::warn("checkpoints: ignoring {}", info.status().message());
      continue;
    }
    info->dir = (fs::path(dir_) / std::to_string(info->id)).string();
    if (!fs::exists(info->dir)) continue;
    loaded.push_back(std::move(*info));
  }
  if (error) return UnavailableError("checkpoints " + dir_ + ": " + error.message());
  // A directory without a description was being written when the process
  // stopped.
  for (const fs::path& directory : directories) {
    const bool described = std::any_of(loaded.begin(), loaded.end(), [&](const CheckpointInfo& c) {
      return fs::path(c.dir) == directory;
    });
    if (!described) fs::remove_all(directory, error);
  }
  std::sort(loaded.begin(), loaded.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.records < b.records; });
  std::lock_guard lock(mutex_);
  checkpoints_ = std::move(loaded);
  for (const CheckpointInfo& checkpoint : checkpoints_) {
    next_id_ = std::max(next_id_, checkpoint.id + 1);
    last_record_day_ = std::max(last_record_day_, FloorDay(checkpoint.max_record_ms));
  }
  return Status::Ok();
}

void CheckpointKeeper::AfterCommit(store::RocksStore& store, const CommittedBatch& batch) {
  bool due = false;
  {
    std::lock_guard lock(mutex_);
    records_since_ += batch.records;
    min_occurred_since_ = std::min(min_occurred_since_, batch.min_occurred_ms);
    if (policy_.every_records > 0 && records_since_ >= policy_.every_records) due = true;
    if (policy_.at_record_day_change && batch.max_record_ms != INT64_MIN &&
        last_record_day_ != INT64_MIN && FloorDay(batch.max_record_ms) > last_record_day_) {
      due = true;
    }
    if (last_record_day_ == INT64_MIN && batch.max_record_ms != INT64_MIN) {
      last_record_day_ = FloorDay(batch.max_record_ms);
    }
  }
  if (!due) return;
  Status status = TakeCheckpoint(store, batch.max_record_ms, /*from_projector=*/true).status();
  if (!status.ok()) spdlog::warn("checkpoints: not taken, retrying later: {}", status.ToString());
}

StatusOr<CheckpointInfo> CheckpointKeeper::Take(store::RocksStore& store, int64_t max_record_ms) {
  return TakeCheckpoint(store, max_record_ms, /*from_projector=*/false);
}

StatusOr<CheckpointInfo> CheckpointKeeper::TakeCheckpoint(store::RocksStore& store,
                                                          int64_t max_record_ms,
                                                          bool from_projector) {
  CheckpointInfo info;
  {
    std::lock_guard lock(mutex_);
    info.id = next_id_++;
  }
  info.dir = (fs::path(dir_) / std::to_string(info.id)).string();
  info.max_record_ms = max_record_ms;
  info.created_ms = NowMs();
  LOK_RETURN_IF_ERROR(store.CreateCheckpoint(info.dir));
  // Described from its own contents, so that the description matches the
  // state whatever committed meanwhile.
  Status described = Status::Ok();
  {
    store::RocksStoreOptions options;
    options.block_cache_bytes = size_t{1} << 20;
    StatusOr<std::unique_ptr<store::RocksStore>> opened = store::RocksStore::Open(info.dir, options);
    if (opened.ok()) {
      StatusOr<log::PartitionOffsets> positions = ReadPositions(**opened);
      StatusOr<int64_t> max_occurred = ReadMaxOccurred(**opened);
      described = !positions.ok() ? positions.status() : max_occurred.status();
      if (described.ok()) {
        info.positions = std::move(*positions);
        info.max_occurred_ms = *max_occurred;
      }
    } else {
      described = opened.status();
    }
  }
  if (!described.ok()) {
    std::error_code ignored;
    fs::remove_all(info.dir, ignored);
    return described;
  }
  info.records = log::RecordCount(info.positions);
  std::lock_guard lock(mutex_);
  info.min_occurred_since_previous_ms =
      from_projector && since_known_ ? std::min(min_occurred_since_, INT64_MAX - 1) : INT64_MIN;
  // The description last: a checkpoint without one is removed at the next Open.
  LOK_RETURN_IF_ERROR(WriteDescription(dir_, info));
  checkpoints_.push_back(info);
  std::sort(checkpoints_.begin(), checkpoints_.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.records < b.records; });
  if (from_projector) {
    records_since_ = 0;
    min_occurred_since_ = INT64_MAX;
    since_known_ = true;
  }
  if (max_record_ms != INT64_MIN) last_record_day_ = std::max(last_record_day_, FloorDay(max_record_ms));
  ThinLocked();
  return info;
}

void CheckpointKeeper::ThinLocked() {
  while (checkpoints_.size() > policy_.keep) {
    // Drop the inner checkpoint whose removal leaves the smallest gap.
    size_t victim = 1;
    int64_t smallest = INT64_MAX;
    for (size_t i = 1; i + 1 < checkpoints_.size(); ++i) {
      const int64_t gap = checkpoints_[i + 1].records - checkpoints_[i - 1].records;
      if (gap < smallest) {
        smallest = gap;
        victim = i;
      }
    }
    // Its stretch of the log joins the next one's.
    CheckpointInfo& next = checkpoints_[victim + 1];
    const CheckpointInfo& removed = checkpoints_[victim];
    if (removed.min_occurred_since_previous_ms == INT64_MIN ||
        next.min_occurred_since_previous_ms == INT64_MIN) {
      next.min_occurred_since_previous_ms = INT64_MIN;
    } else {
      next.min_occurred_since_previous_ms =
          std::min(removed.min_occurred_since_previous_ms, next.min_occurred_since_previous_ms);
    }
    if (Status written = WriteDescription(dir_, next); !written.ok()) {
      spdlog::warn("checkpoints: {}", written.ToString());
    }
    std::error_code error;
    fs::remove((fs::path(dir_) / (std::to_string(removed.id) + ".json")), error);
    fs::remove_all(removed.dir, error);
    checkpoints_.erase(checkpoints_.begin() + static_cast<std::ptrdiff_t>(victim));
  }
}

std::vector<CheckpointInfo> CheckpointKeeper::List() const {
  std::lock_guard lock(mutex_);
  return checkpoints_;
}

}  // namespace lok::engine
