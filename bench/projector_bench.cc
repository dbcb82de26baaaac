// lok_projector_bench: end-to-end throughput of the projector on the embedded
// log, the way lokd runs it without Kafka.
//
//   lok_projector_bench                      (1,000,000 events, 10,000 clients)
//   lok_projector_bench --events 100000 --keep --dir /tmp/lok-bench
//
// 1. Generates N valid events (bench/event_mix.h, about 8 per deal) and
//    appends them to a fresh embedded log in chunks; only the Append calls
//    are timed ("append").
// 2. Starts a projector with the funnel projection on a fresh RocksStore and
//    times it from the first RunOnce until the store's positions cover all N
//    records ("projection").
// 3. Checks the result: the applied counter equals N, nothing was a duplicate
//    or dead-lettered, and the funnel's stage counts equal the generator's.
// Prints events/s of both phases, peak RSS and the size of the data on disk.
// Exits 1 when a check fails or an operation errs.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/projector.h"
#include "event_mix.h"
#include "log/embedded_log.h"
#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/history.h"
#include "projections/retention.h"
#include "projections/provenance.h"
#include "store/rocks_store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchConfig {
  int64_t events = 1'000'000;
  int64_t clients = 10'000;
  int32_t partitions = 8;
  size_t batch_size = 2'000;
  size_t append_chunk = 10'000;
  std::string dir;  // empty: a fresh temporary directory
  bool keep = false;
  bool sync_commits = false;
  // Which projections run: "funnel" (the default), or any comma-separated mix
  // of funnel, concentration, retention, history, provenance; "all" for
  // lokd's five.
  std::string projections = "funnel";
  uint64_t seed = 42;
  bool with_provenance = false;  // also the provenance index (the explain endpoints)
};

struct StageCheck {
  lok::v1::Stage stage = lok::v1::STAGE_UNSPECIFIED;
  int64_t projected = 0;
  int64_t generated = 0;
};

struct BenchResult {
  size_t deals_in_flight = 0;
  std::string load_average;  // of the machine when the run started
  int64_t deals = 0;
  double generate_seconds = 0;
  double append_seconds = 0;
  size_t appends = 0;
  double projection_seconds = 0;
  double projection_cpu_seconds = 0;  // user + system, all threads
  size_t batches = 0;
  double peak_rss_after_append_mib = 0;
  double peak_rss_mib = 0;
  uintmax_t log_bytes = 0;
  uintmax_t state_bytes = 0;
  int64_t applied = 0;
  int64_t duplicates = 0;
  int64_t dead_lettered = 0;
  bool funnel_projected = false;  // the stage check needs the funnel
  std::vector<StageCheck> stages;
  double win_rate = 0;
};

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

// The process's peak resident set so far (getrusage reports KiB on Linux).
double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// User plus system CPU time of the whole process (every thread) so far.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& time) {
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The 1, 5 and 15 minute load averages, to judge how shared the machine was.
std::string LoadAverage() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(file >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

double Mib(uintmax_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

uintmax_t DirectoryBytes(const fs::path& dir) {
  uintmax_t total = 0;
  std::error_code error;
  for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) total += it->file_size(error);
  }
  return total;
}

lok::StatusOr<int64_t> ReadCounter(const lok::store::KeyValueReader& store, std::string_view key) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> bytes, store.Get(key));
  if (!bytes) return int64_t{0};
  return lok::store::DecodeCounter(*bytes);
}

int64_t Sum(const lok::log::PartitionOffsets& offsets) {
  int64_t total = 0;
  for (const auto& [partition, offset] : offsets) total += offset;
  return total;
}

// Phase 1: generate and append. Only the Append calls count as append time.
lok::Status AppendEvents(const BenchConfig& config, lok::bench::EventMix& mix,
                         lok::log::EmbeddedLog& log, const std::string& topic,
                         BenchResult& result) {
  Clock::duration generating{};
  Clock::duration appending{};
  int64_t remaining = config.events;
  while (remaining > 0) {
    const auto chunk = static_cast<size_t>(
        std::min<int64_t>(remaining, static_cast<int64_t>(config.append_chunk)));
    const auto generate_start = Clock::now();
    std::vector<lok::log::OutgoingRecord> records;
    records.reserve(chunk);
    for (size_t index = 0; index < chunk; ++index) {
      lok::v1::Event event = mix.Next();
      records.push_back({event.client_id(), event.SerializeAsString(), {}});
    }
    const auto append_start = Clock::now();
    auto appended = log.Append(topic, std::move(records));
    if (!appended.ok()) return appended.status().WithContext("append");
    appending += Clock::now() - append_start;
    generating += append_start - generate_start;
    remaining -= static_cast<int64_t>(chunk);
    ++result.appends;
  }
  result.generate_seconds = Seconds(generating);
  result.append_seconds = Seconds(appending);
  result.deals = mix.deals();
  return lok::Status::Ok();
}

// Phase 2: project everything, from the first RunOnce to caught up.
lok::Status ProjectEvents(const BenchConfig& config, lok::log::EmbeddedLog& log,
                          const std::string& topic, lok::store::RocksStore& store,
                          BenchResult& result) {
  std::unique_ptr<lok::log::LogReader> reader = log.NewReader(topic);
  lok::engine::ProjectorMetrics metrics;
  lok::projections::FunnelProjection funnel;
  lok::projections::ConcentrationProjection concentration;
  lok::projections::RetentionProjection retention{lok::projections::RetentionSettings{}};
  lok::projections::HistoryProjection history;
  lok::projections::ProvenanceIndex provenance;
  std::vector<lok::projections::Projection*> projections;
  for (lok::projections::Projection* projection :
       std::initializer_list<lok::projections::Projection*>{&funnel, &concentration, &retention,
                                                            &history, &provenance}) {
    const std::string name(projection->Name());
    if (config.projections == "all" ||
        ("," + config.projections + ",").find("," + name + ",") != std::string::npos) {
      projections.push_back(projection);
      result.funnel_projected |= name == "funnel";
    }
  }
  if (projections.empty()) {
    return lok::InvalidArgumentError("--projections: no known projection in '" +
                                     config.projections + "'");
  }
  if (config.with_provenance && std::find(projections.begin(), projections.end(), &provenance) ==
                                     projections.end()) {
    projections.push_back(&provenance);
  }
  lok::engine::ProjectorOptions options;
  options.topic = topic;
  options.max_batch = config.batch_size;
  options.poll_timeout = std::chrono::milliseconds(100);
  lok::engine::Projector projector(store, *reader, log, projections, options, metrics);
  LOK_RETURN_IF_ERROR(projector.Start());

  const auto start = Clock::now();
  const double cpu_start = CpuSeconds();
  int64_t consumed_total = 0;
  while (true) {
    LOK_ASSIGN_OR_RETURN(size_t consumed, projector.RunOnce());
    consumed_total += static_cast<int64_t>(consumed);
    if (consumed > 0) ++result.batches;
    // The store, not the projector's memory, says what is durably done.
    LOK_ASSIGN_OR_RETURN(lok::log::PartitionOffsets positions, lok::engine::ReadPositions(store));
    if (Sum(positions) >= config.events) break;
    if (consumed == 0) {
      LOK_ASSIGN_OR_RETURN(lok::log::PartitionOffsets ends, reader->EndOffsets());
      if (positions == ends) {
        return lok::InternalError(
            fmt::format("caught up at {} of {} records", Sum(positions), config.events));
      }
    }
  }
  result.projection_seconds = Seconds(Clock::now() - start);
  result.projection_cpu_seconds = CpuSeconds() - cpu_start;
  if (consumed_total != config.events) {
    return lok::InternalError(
        fmt::format("consumed {} records, expected {}", consumed_total, config.events));
  }
  return lok::Status::Ok();
}

// Phase 3: what the store says against what was generated.
lok::Status CheckResult(const lok::bench::EventMix& mix, const lok::store::RocksStore& store,
                        BenchResult& result) {
  LOK_ASSIGN_OR_RETURN(result.applied, ReadCounter(store, lok::engine::kAppliedCounter));
  LOK_ASSIGN_OR_RETURN(result.duplicates, ReadCounter(store, lok::engine::kDuplicateCounter));
  LOK_ASSIGN_OR_RETURN(result.dead_lettered, ReadCounter(store, lok::engine::kDeadLetteredCounter));
  if (!result.funnel_projected) return lok::Status::Ok();
  LOK_ASSIGN_OR_RETURN(lok::v1::FunnelResponse funnel, lok::projections::QueryFunnel(store));
  for (const lok::v1::StageCount& count : funnel.stages()) {
    result.stages.push_back({count.stage(), count.deals(), mix.DealsThatReached(count.stage())});
  }
  result.win_rate = funnel.win_rate();
  return lok::Status::Ok();
}

lok::Status Run(const BenchConfig& config, const fs::path& dir, BenchResult& result) {
  const std::string topic = "lok.events";
  // Enough deals in flight to interleave them, few enough that the deals
  // still unfinished at the end do not skew the mix of a small run.
  result.deals_in_flight = static_cast<size_t>(std::clamp<int64_t>(config.events / 200, 1, 5'000));
  result.load_average = LoadAverage();
  lok::bench::EventMix mix(
      {.seed = config.seed, .clients = config.clients, .deals_in_flight = result.deals_in_flight});
  {
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<lok::log::EmbeddedLog> log,
                         lok::log::EmbeddedLog::Open((dir / "log").string(), config.partitions));
    LOK_RETURN_IF_ERROR(log->CreateTopic(topic, config.partitions));
    LOK_RETURN_IF_ERROR(AppendEvents(config, mix, *log, topic, result));
    result.peak_rss_after_append_mib = PeakRssMib();

    lok::store::RocksStoreOptions store_options;
    store_options.sync_commits = config.sync_commits;
    LOK_ASSIGN_OR_RETURN(std::unique_ptr<lok::store::RocksStore> store,
                         lok::store::RocksStore::Open((dir / "state").string(), store_options));
    LOK_RETURN_IF_ERROR(ProjectEvents(config, *log, topic, *store, result));
    result.peak_rss_mib = PeakRssMib();
    LOK_RETURN_IF_ERROR(CheckResult(mix, *store, result));
  }
  // Measured with both databases closed: what a restart would find (SST files,
  // write-ahead logs not yet flushed into them, RocksDB's own LOG files).
  result.log_bytes = DirectoryBytes(dir / "log");
  result.state_bytes = DirectoryBytes(dir / "state");
  return lok::Status::Ok();
}

bool PrintReport(const BenchConfig& config, const BenchResult& result) {
  const auto events = static_cast<double>(config.events);
  fmt::print("events        {} ({} deals, {:.2f} events/deal, {} clients, seed {})\n",
             config.events, result.deals, events / static_cast<double>(result.deals),
             config.clients, config.seed);
  fmt::print(
      "setup         {} partitions, projector batch {}, append chunk {}, {} deals in flight, "
      "sync commits {}\n",
      config.partitions, config.batch_size, config.append_chunk, result.deals_in_flight,
      config.sync_commits ? "on" : "off");
  fmt::print("load average  {} (at start; the machine's other work competes for its cores)\n",
             result.load_average);
  fmt::print("generate      {:.2f} s (not counted below)\n", result.generate_seconds);
  fmt::print("append        {:.2f} s, {:.0f} events/s ({} appends, WAL synced per append)\n",
             result.append_seconds, events / result.append_seconds, result.appends);
  fmt::print("projection    {:.2f} s, {:.0f} events/s ({} batches, first RunOnce to caught up)\n",
             result.projection_seconds, events / result.projection_seconds, result.batches);
  fmt::print("projection    {:.2f} CPU s (user + system, all threads), {:.0f} events per CPU s\n",
             result.projection_cpu_seconds, events / result.projection_cpu_seconds);
  fmt::print("peak RSS      {:.1f} MiB (after append phase {:.1f} MiB)\n", result.peak_rss_mib,
             result.peak_rss_after_append_mib);
  fmt::print("on disk       {:.1f} MiB (log {:.1f} MiB, state {:.1f} MiB)\n",
             Mib(result.log_bytes + result.state_bytes), Mib(result.log_bytes),
             Mib(result.state_bytes));

  bool ok = result.applied == config.events && result.duplicates == 0 && result.dead_lettered == 0;
  fmt::print("applied       {} (expected {}), duplicates {}, dead-lettered {}: {}\n",
             result.applied, config.events, result.duplicates, result.dead_lettered,
             ok ? "ok" : "MISMATCH");
  std::string stages;
  bool funnel_ok = true;
  for (const StageCheck& check : result.stages) {
    if (!stages.empty()) stages += ", ";
    stages += fmt::format("{} {}", lok::v1::Stage_Name(check.stage), check.projected);
    if (check.projected != check.generated) {
      stages += fmt::format(" (generated {})", check.generated);
      funnel_ok = false;
    }
  }
  if (result.funnel_projected) {
    fmt::print("funnel        {}; win rate {:.3f}: {}\n", stages, result.win_rate,
               funnel_ok ? "matches the generator" : "MISMATCH");
  }
  return ok && funnel_ok;
}

}  // namespace

int main(int argc, char** argv) {
  BenchConfig config;
  CLI::App app{"lok_projector_bench: projector throughput on the embedded log"};
  app.add_option("--events", config.events, "Events to generate and project")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}))
      ->capture_default_str();
  app.add_option("--clients", config.clients, "Distinct clients the deals belong to")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--partitions", config.partitions, "Partitions of the events topic")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--batch-size", config.batch_size, "Records per projector batch")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--append-chunk", config.append_chunk, "Records per Append call")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--dir", config.dir,
                 "Data directory; must be empty or absent (default: a fresh temporary one)");
  app.add_flag("--keep", config.keep, "Keep the data directory afterwards");
  app.add_flag("--sync-commits", config.sync_commits,
               "fsync the store's WAL on every projector batch, as lokd --sync-commits");
  app.add_option("--projections", config.projections,
                 "Comma-separated: funnel, concentration, retention, history, provenance; or all (as lokd)")
      ->capture_default_str();
  app.add_option("--seed", config.seed, "Seed of the event generator")->capture_default_str();
  app.add_flag("--with-provenance", config.with_provenance,
               "Project the provenance index (GET /v1/funnel/explain) beside the funnel");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  fs::path dir;
  std::error_code error;
  if (config.dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "lok-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      fmt::print(stderr, "lok_projector_bench: cannot create a temporary directory\n");
      return 1;
    }
    dir = pattern;
  } else {
    dir = config.dir;
    if (fs::exists(dir) && !fs::is_empty(dir, error)) {
      fmt::print(stderr, "lok_projector_bench: --dir {} is not empty\n", dir.string());
      return 2;
    }
    fs::create_directories(dir, error);
    if (error) {
      fmt::print(stderr, "lok_projector_bench: --dir {}: {}\n", dir.string(), error.message());
      return 1;
    }
  }

  BenchResult result;
  lok::Status status = Run(config, dir, result);
  bool ok = status.ok();
  if (ok) {
    ok = PrintReport(config, result);
  } else {
    fmt::print(stderr, "lok_projector_bench: {}\n", status.ToString());
  }
  if (config.keep) {
    fmt::print("data kept in  {}\n", dir.string());
  } else {
    fs::remove_all(dir, error);
  }
  return ok ? 0 : 1;
}
