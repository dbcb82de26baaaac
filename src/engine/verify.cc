#include "engine/verify.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "base/sha256.h"
#include "engine/projector.h"

namespace lok::engine {
namespace {

// Dead letters of a replay were already sent by the live projector.
class DiscardingWriter : public log::LogWriter {
 public:
  StatusOr<std::vector<log::Position>> Append(std::string_view,
                                              std::vector<log::OutgoingRecord> records) override {
    return std::vector<log::Position>(records.size());
  }
};

std::string Prefix(const projections::Projection& projection) {
  return std::string(projection.Name()) + "/";
}

// The first keys whose presence or digest form differ, in key order.
StatusOr<std::vector<std::string>> FirstDifferences(const store::KeyValueReader& live,
                                                    const store::KeyValueReader& replayed,
                                                    const projections::Projection& projection) {
  std::map<std::string, std::string> left, right;
  // Bounded: stop collecting once a few differences are certain.
  LOK_RETURN_IF_ERROR(live.ScanPrefix(Prefix(projection), [&](std::string_view key, std::string_view value) {
    left.emplace(std::string(key), projection.DigestForm(key, value));
    return left.size() < 2'000'000;
  }));
  LOK_RETURN_IF_ERROR(replayed.ScanPrefix(Prefix(projection), [&](std::string_view key, std::string_view value) {
    right.emplace(std::string(key), projection.DigestForm(key, value));
    return right.size() < 2'000'000;
  }));
  std::vector<std::string> differences;
  auto a = left.begin();
  auto b = right.begin();
  while ((a != left.end() || b != right.end()) && differences.size() < 5) {
    if (b == right.end() || (a != left.end() && a->first < b->first)) {
      differences.push_back(PrintableKey(a->first) + " (only live)");
      ++a;
    } else if (a == left.end() || b->first < a->first) {
      differences.push_back(PrintableKey(b->first) + " (only replayed)");
      ++b;
    } else {
      if (a->second != b->second) differences.push_back(PrintableKey(a->first) + " (values differ)");
      ++a;
      ++b;
    }
  }
  return differences;
}

}  // namespace

std::string PrintableKey(std::string_view key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string printable;
  for (char byte : key) {
    const auto value = static_cast<unsigned char>(byte);
    if (value >= 0x20 && value < 0x7f && byte != '\\') {
      printable.push_back(byte);
    } else {
      printable += "\\x";
      printable.push_back(kDigits[value >> 4]);
      printable.push_back(kDigits[value & 0xF]);
    }
  }
  return printable;
}

bool VerifyReport::ok() const {
  for (const ModelComparison& model : models) {
    if (!model.match) return false;
  }
  return true;
}

StatusOr<ModelDigest> DigestModel(const store::KeyValueReader& reader,
                                  const projections::Projection& projection) {
  ModelDigest digest;
  digest.name = std::string(projection.Name());
  digest.order_independent = projection.OrderIndependent();
  Sha256 sha;
  LOK_RETURN_IF_ERROR(reader.ScanPrefix(Prefix(projection), [&](std::string_view key, std::string_view value) {
    sha.AddFramed(key);
    sha.AddFramed(projection.DigestForm(key, value));
    ++digest.keys;
    return true;
  }));
  digest.sha256 = sha.HexDigest();
  return digest;
}

StatusOr<int64_t> ReplayUpTo(store::RocksStore& store, log::LogReader& reader,
                             const std::vector<projections::Projection*>& projections,
                             const std::string& topic, const log::PartitionOffsets& stop_at,
                             std::chrono::seconds deadline,
                             const std::function<bool(int64_t)>& keep_going,
                             const ReplayHooks& hooks) {
  int64_t records = 0;
  if (stop_at.empty()) return records;
  DiscardingWriter discard;
  ProjectorMetrics metrics;
  ProjectorOptions options;
  options.topic = topic;
  options.max_batch = 5000;
  options.poll_timeout = std::chrono::milliseconds(200);
  options.stop_at = stop_at;
  options.include = hooks.include;
  options.on_commit = hooks.on_commit;
  Projector replay(store, reader, discard, projections, options, metrics);
  LOK_RETURN_IF_ERROR(replay.Start());
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!replay.ReachedStop()) {
    if (std::chrono::steady_clock::now() > until) {
      return DeadlineExceededError(
          "replay: the log did not deliver every record up to the requested offsets");
    }
    LOK_ASSIGN_OR_RETURN(size_t consumed, replay.RunOnce());
    records += static_cast<int64_t>(consumed);
    if (keep_going && !keep_going(records))
      return Status(StatusCode::kCancelled, "replay cancelled");
  }
  return records;
}

StatusOr<VerifyReport> VerifyByReplay(const store::RocksStore& live, const ReaderFactory& new_reader,
                                      const std::vector<projections::Projection*>& projections,
                                      const std::string& topic, const std::string& scratch_dir,
                                      std::chrono::seconds deadline) {
  std::unique_ptr<store::KeyValueReader> snapshot = live.Snapshot();
  VerifyReport report;
  LOK_ASSIGN_OR_RETURN(report.offsets, ReadPositions(*snapshot));

  std::error_code error;
  std::filesystem::remove_all(scratch_dir, error);
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } cleanup{scratch_dir};
  {
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<store::RocksStore> scratch, store::RocksStore::Open(scratch_dir));
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, new_reader());
    LOK_ASSIGN_OR_RETURN(report.records_replayed, ReplayUpTo(*scratch, *reader, projections, topic,
                                                             report.offsets, deadline));
    for (projections::Projection* projection : projections) {
      ModelComparison comparison;
      comparison.name = std::string(projection->Name());
      LOK_ASSIGN_OR_RETURN(comparison.live, DigestModel(*snapshot, *projection));
      LOK_ASSIGN_OR_RETURN(comparison.replayed, DigestModel(*scratch, *projection));
      comparison.match = comparison.live.sha256 == comparison.replayed.sha256;
      if (!comparison.match) {
        LOK_ASSIGN_OR_RETURN(comparison.first_differences, FirstDifferences(*snapshot, *scratch, *projection));
      }
      report.models.push_back(std::move(comparison));
    }
  }
  spdlog::info("verify: replayed {} records up to the live offsets; {}", report.records_replayed,
               report.ok() ? "every digest matches" : "MISMATCH");
  return report;
}

}  // namespace lok::engine
