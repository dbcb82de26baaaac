// lok_query_bench: latency of the read-model endpoints over HTTP while the
// projector is still applying events, on a whole in-process node
// (service/lok_service.h: embedded log, RocksDB store, every projection, the
// HTTP API).
//
//   lok_query_bench                                  (10,000,000 events, 1,000,000 clients)
//   lok_query_bench --events 1000000 --clients 100000
//   lok_query_bench --events 3000000 --clients 300000 --keep --dir /tmp/lok-q
//   lok_query_bench --reuse /tmp/lok-q               (skips the load phase)
//
// 1. Load: starts the node and appends the first (1 - tail fraction) of the
//    events (bench/event_mix.h) in chunks of 10,000, then waits until the
//    projector has applied them all. Prints the append and projection rates.
// 2. Query: a feeder thread appends the tail in chunks of 1,000 (all at once,
//    or paced at --feed-rate events/s, stopping when the queries end) while
//    --threads threads send GET requests round-robin over the endpoints until
//    each has --requests answers. Closed loop by default: each thread sends
//    its next request when the previous one is answered, so the threads keep
//    the node saturated. With --rate R the load is open: request i is due at
//    start + i/R and is timed from that due time, so a request that waits for
//    a free thread counts its wait (no coordinated omission). Each request is
//    timed around http::Fetch (a fresh loopback connection per request, as
//    lokctl does).
// 3. Prints count, p50, p90, p99 and max per endpoint, how much the projector
//    applied during the query phase and the largest backlog it had (records
//    appended but not yet applied, sampled every 100 ms).
// Exits 1 when a request fails or answers anything but 200 (a 404 is skipped
// with a note under --skip-missing), or when an operation errs.
//
// --reuse DIR: DIR is a data directory kept by an earlier run (--keep); its
// seed, clients and event count are read from DIR/query_bench.meta, the
// generator is replayed past the events already in the log (not timed), and
// the tail (tail fraction x the events in the log) is appended as new events.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/civil_time.h"
#include "engine/projector.h"
#include "event_mix.h"
#include "http/http_client.h"
#include "service/lok_service.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kLoadChunk = 10'000;
constexpr size_t kTailChunk = 1'000;
constexpr auto kPollInterval = std::chrono::milliseconds(100);
// The load phase fails when the projector applies nothing for this long.
constexpr auto kStallTimeout = std::chrono::seconds(120);
constexpr size_t kFailuresShown = 10;
constexpr std::string_view kMetaFile = "query_bench.meta";

struct BenchConfig {
  int64_t events = 10'000'000;
  int64_t clients = 1'000'000;
  double tail_fraction = 0.05;
  int threads = 4;
  double rate = 0;       // requests/s over all threads; 0: closed loop
  double feed_rate = 0;  // tail events/s; 0: the whole tail at once
  int64_t requests = 2'000;  // per endpoint
  int http_threads = 2;
  std::string dir;    // empty: a fresh temporary directory
  std::string reuse;  // non-empty: an already loaded data directory
  bool keep = false;
  bool skip_missing = false;
  bool fresh_connections = false;  // a new TCP connection per request
  int32_t partitions = 8;
  size_t batch_size = 2'000;
  uint64_t seed = 42;
  int projector_nice = lok::service::ServiceConfig{}.projector_nice;
  size_t row_cache_mb = lok::service::ServiceConfig{}.row_cache_bytes >> 20;
};

// What a kept data directory was loaded with, so --reuse can continue it.
struct DataMeta {
  uint64_t seed = 0;
  int64_t clients = 0;
  size_t deals_in_flight = 0;
  int64_t events = 0;  // records in the log
};

// What the generated data looks like, to build URLs that hit real data.
struct DataFacts {
  int64_t last_seconds = 0;  // occurred_at of the last event loaded
  std::string client;        // the last event's client
  std::string salesperson;   // of the first lead
  std::string region;        // of the first lead
};

struct Endpoint {
  std::string target;  // path and query
  std::vector<double> latencies_ms;
  // The subset sent while the projector had appended records left to apply.
  std::vector<double> applying_latencies_ms;
  int64_t failures = 0;
  bool skipped = false;
};

struct Failure {
  std::string target;
  std::string what;
};

double Seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

double PeakRssMib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

std::string LoadAverage() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(file >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

int64_t Sum(const lok::log::PartitionOffsets& offsets) {
  int64_t total = 0;
  for (const auto& [partition, offset] : offsets) total += offset;
  return total;
}

lok::Status WriteMeta(const fs::path& dir, const DataMeta& meta) {
  std::ofstream file(dir / kMetaFile, std::ios::trunc);
  file << "seed " << meta.seed << "\nclients " << meta.clients << "\ndeals_in_flight "
       << meta.deals_in_flight << "\nevents " << meta.events << "\n";
  if (!file) return lok::InternalError("cannot write " + (dir / kMetaFile).string());
  return lok::Status::Ok();
}

lok::StatusOr<DataMeta> ReadMeta(const fs::path& dir) {
  std::ifstream file(dir / kMetaFile);
  DataMeta meta;
  std::string name;
  int found = 0;
  while (file >> name) {
    if (name == "seed" && file >> meta.seed) ++found;
    if (name == "clients" && file >> meta.clients) ++found;
    if (name == "deals_in_flight" && file >> meta.deals_in_flight) ++found;
    if (name == "events" && file >> meta.events) ++found;
  }
  if (found != 4) {
    return lok::InvalidArgumentError((dir / kMetaFile).string() +
                                     " is missing or incomplete: --reuse needs a directory "
                                     "kept by an earlier lok_query_bench --keep run");
  }
  return meta;
}

void Observe(const lok::v1::Event& event, DataFacts& facts) {
  facts.last_seconds = event.occurred_at().seconds();
  facts.client = event.client_id();
  if (facts.salesperson.empty() && event.has_lead_created()) {
    facts.salesperson = event.lead_created().salesperson();
    facts.region = event.lead_created().region();
  }
}

std::vector<lok::log::OutgoingRecord> NextRecords(lok::bench::EventMix& mix, size_t count,
                                                  DataFacts* facts) {
  std::vector<lok::log::OutgoingRecord> records;
  records.reserve(count);
  for (size_t index = 0; index < count; ++index) {
    lok::v1::Event event = mix.Next();
    if (facts != nullptr) Observe(event, *facts);
    records.push_back({event.client_id(), event.SerializeAsString(), {}});
  }
  return records;
}

// Polls the store's positions every 100 ms until they cover `target` records.
// Errors: kDeadlineExceeded when nothing is applied for kStallTimeout.
lok::Status WaitForPositions(lok::service::LokService& service, int64_t target) {
  int64_t last = -1;
  auto last_progress = Clock::now();
  while (true) {
    LOK_ASSIGN_OR_RETURN(lok::log::PartitionOffsets positions,
                         lok::engine::ReadPositions(service.store()));
    const int64_t covered = Sum(positions);
    if (covered >= target) return lok::Status::Ok();
    if (covered != last) {
      last = covered;
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress > kStallTimeout) {
      return lok::DeadlineExceededError(
          fmt::format("the projector stalled at {} of {} records", covered, target));
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Phase 1 of a fresh run: append the head while the projector applies it.
lok::Status Load(lok::service::LokService& service, int64_t head, lok::bench::EventMix& mix,
                 DataFacts& facts) {
  const std::string topic = lok::service::ServiceConfig{}.topic;
  Clock::duration generating{};
  Clock::duration appending{};
  const auto start = Clock::now();
  int64_t remaining = head;
  int64_t progress_mark = 0;
  while (remaining > 0) {
    const auto chunk = static_cast<size_t>(std::min<int64_t>(remaining, kLoadChunk));
    const auto generate_start = Clock::now();
    std::vector<lok::log::OutgoingRecord> records = NextRecords(mix, chunk, &facts);
    const auto append_start = Clock::now();
    auto appended = service.writer().Append(topic, std::move(records));
    if (!appended.ok()) return appended.status().WithContext("append");
    appending += Clock::now() - append_start;
    generating += append_start - generate_start;
    remaining -= static_cast<int64_t>(chunk);
    if (head - remaining >= progress_mark + 1'000'000) {
      progress_mark = head - remaining;
      fmt::print("  appended {:>10}, applied {:>10} ({:.0f} s)\n", progress_mark,
                 service.metrics().applied(), Seconds(Clock::now() - start));
      std::fflush(stdout);
    }
  }
  const double appended_seconds = Seconds(Clock::now() - start);
  fmt::print(
      "append        {} events: {:.2f} s in Append, {:.0f} events/s ({:.2f} s generating, "
      "{:.2f} s wall, projector running meanwhile)\n",
      head, Seconds(appending), static_cast<double>(head) / Seconds(appending), Seconds(generating),
      appended_seconds);
  std::fflush(stdout);

  // The projector has been applying since the first Append; report it from
  // there to caught up, printing progress every 10 s for long loads.
  auto next_report = Clock::now() + std::chrono::seconds(10);
  int64_t last = -1;
  auto last_progress = Clock::now();
  while (true) {
    LOK_ASSIGN_OR_RETURN(lok::log::PartitionOffsets positions,
                         lok::engine::ReadPositions(service.store()));
    const int64_t covered = Sum(positions);
    if (covered >= head) break;
    if (covered != last) {
      last = covered;
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress > kStallTimeout) {
      return lok::DeadlineExceededError(
          fmt::format("the projector stalled at {} of {} records", covered, head));
    }
    if (Clock::now() >= next_report) {
      next_report += std::chrono::seconds(30);
      fmt::print("  applied {:>10} of {} ({:.0f} s, {:.0f} events/s so far)\n", covered, head,
                 Seconds(Clock::now() - start),
                 static_cast<double>(covered) / Seconds(Clock::now() - start));
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  const double projected_seconds = Seconds(Clock::now() - start);
  fmt::print(
      "projection    {} events in {:.2f} s from the first Append to caught up: "
      "{:.0f} events/s\n",
      head, projected_seconds, static_cast<double>(head) / projected_seconds);
  return lok::Status::Ok();
}

std::vector<Endpoint> BuildEndpoints(const DataFacts& facts) {
  const int64_t as_of_day = lok::DayOfSeconds(facts.last_seconds);
  const std::string as_of = lok::FormatDate(as_of_day);
  const std::string year_before = lok::FormatDate(as_of_day - 365);
  const std::string quarter_before = lok::FormatDate(as_of_day - 90);
  std::vector<std::string> targets = {
      "/healthz",  // the HTTP round trip alone, as a baseline
      "/v1/funnel",
      fmt::format("/v1/funnel?mode=period&by=month&from={}&to={}", year_before, as_of),
      fmt::format("/v1/funnel?by=salesperson&from={}&to={}", quarter_before, as_of),
      fmt::format("/v1/funnel?salesperson={}", facts.salesperson),
      "/v1/funnel?by=product",  // all time, one row per product
      // Two dimensions at once: read from the cells keeping all three.
      fmt::format("/v1/funnel?region={}&by=salesperson&from={}&to={}", facts.region,
                  quarter_before, as_of),
      fmt::format("/v1/concentration?asOf={}&limit=10", as_of),
      fmt::format("/v1/concentration?asOf={}&by=salesperson&limit=5", as_of),
      fmt::format("/v1/concentration?asOf={}&by=region&limit=5", as_of),
      fmt::format("/v1/retention?asOf={}&limit=50", as_of),
      fmt::format("/v1/retention?asOf={}&salesperson={}&limit=20", as_of, facts.salesperson),
      fmt::format("/v1/clients/{}?asOf={}", facts.client, as_of),
  };
  std::vector<Endpoint> endpoints;
  for (std::string& target : targets) {
    Endpoint& endpoint = endpoints.emplace_back();
    endpoint.target = std::move(target);
  }
  return endpoints;
}

// One untimed request per endpoint (also a warm-up). A 404 marks the endpoint
// skipped under --skip-missing; anything else but 200 is an error.
lok::Status Probe(const std::string& base, std::vector<Endpoint>& endpoints, bool skip_missing) {
  for (Endpoint& endpoint : endpoints) {
    auto response = lok::http::Fetch("GET", base + endpoint.target);
    if (!response.ok()) return response.status().WithContext(endpoint.target);
    if (response->status == 404 && skip_missing) {
      endpoint.skipped = true;
      fmt::print("note          {} answers 404: skipped (--skip-missing)\n", endpoint.target);
      continue;
    }
    if (response->status != 200) {
      return lok::InternalError(fmt::format("{} answers {}: {}", endpoint.target, response->status,
                                            response->body.substr(0, 300)));
    }
  }
  return lok::Status::Ok();
}

// Paced feeding appends a chunk every 100 ms (or 1,000 events when that is
// less often), each at its due time from the start of the phase.
size_t TailChunk(const BenchConfig& config) {
  return config.feed_rate > 0
             ? std::clamp<size_t>(static_cast<size_t>(config.feed_rate / 10), 1, kTailChunk)
             : kTailChunk;
}

struct QueryPhase {
  double seconds = 0;
  int64_t appended = 0;
  double append_seconds = 0;  // feeder: first to last Append
  // From the start of the phase until the projector had applied the tail;
  // nullopt when the queries ended first.
  std::optional<double> caught_up_seconds;
  int64_t applied = 0;        // by the projector during the query phase
  int64_t behind_at_end = 0;  // records appended but not yet applied when queries ended
  int64_t max_backlog = 0;    // the most records appended and not yet applied, sampled
  std::string load_average_end;
  std::vector<Failure> failures;
};

// Phase 2: the feeder appends `tail` while the query threads measure.
QueryPhase RunQueries(lok::service::LokService& service, const BenchConfig& config,
                      std::vector<lok::log::OutgoingRecord> tail, int64_t records_before,
                      std::vector<Endpoint>& endpoints) {
  QueryPhase phase;
  const std::string topic = lok::service::ServiceConfig{}.topic;
  const std::string base = fmt::format("http://127.0.0.1:{}", service.port());
  std::vector<Endpoint*> active;
  for (Endpoint& endpoint : endpoints) {
    if (!endpoint.skipped) {
      endpoint.latencies_ms.reserve(static_cast<size_t>(config.requests));
      active.push_back(&endpoint);
    }
  }
  const int64_t total = static_cast<int64_t>(active.size()) * config.requests;
  std::atomic<int64_t> next_ticket{0};
  std::mutex mutex;  // guards the endpoints' samples and phase.failures
  std::atomic<int64_t> tail_appended{0};
  std::atomic<bool> queries_done{false};

  const int64_t applied_start = service.metrics().applied();
  // True while records appended in this phase wait for the projector.
  auto applying = [&] {
    return service.metrics().applied() - applied_start < tail_appended.load();
  };
  const auto start = Clock::now();
  const size_t chunk_size = TailChunk(config);
  std::thread feeder([&] {
    const auto feed_start = Clock::now();
    for (size_t offset = 0; offset < tail.size() && !queries_done.load();
         offset += chunk_size) {
      if (config.feed_rate > 0) {
        std::this_thread::sleep_until(
            feed_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                             static_cast<double>(offset) / config.feed_rate)));
      }
      const size_t end = std::min(tail.size(), offset + chunk_size);
      std::vector<lok::log::OutgoingRecord> chunk(
          std::make_move_iterator(tail.begin() + static_cast<std::ptrdiff_t>(offset)),
          std::make_move_iterator(tail.begin() + static_cast<std::ptrdiff_t>(end)));
      auto appended = service.writer().Append(topic, std::move(chunk));
      if (!appended.ok()) {
        std::lock_guard lock(mutex);
        phase.failures.push_back({"feeder Append", appended.status().ToString()});
        return;
      }
      tail_appended += static_cast<int64_t>(end - offset);
    }
    phase.append_seconds = Seconds(Clock::now() - feed_start);
    if (config.feed_rate > 0) return;  // the monitor below reports the backlog
    while (!queries_done.load()) {
      if (!applying()) {
        phase.caught_up_seconds = Seconds(Clock::now() - start);
        return;
      }
      std::this_thread::sleep_for(kPollInterval);
    }
  });

  // Samples the backlog every 100 ms until the queries end.
  std::thread monitor([&] {
    while (!queries_done.load()) {
      const int64_t backlog =
          tail_appended.load() - (service.metrics().applied() - applied_start);
      phase.max_backlog = std::max(phase.max_backlog, backlog);
      std::this_thread::sleep_for(kPollInterval);
    }
  });

  std::vector<std::thread> workers;
  for (int thread = 0; thread < config.threads; ++thread) {
    workers.emplace_back([&] {
      // Keep-alive, as a browser's connections to the dashboard (unless
      // --fresh-connections): one per thread, reconnecting when closed.
      std::unique_ptr<lok::http::Connection> connection;
      if (!config.fresh_connections) {
        auto opened = lok::http::Connection::Open(base);
        if (opened.ok()) connection = std::move(opened).value();
      }
      while (true) {
        const int64_t ticket = next_ticket.fetch_add(1);
        if (ticket >= total) return;
        if (ticket > 0 && ticket % std::max<int64_t>(total / 10, 1) == 0) {
          fmt::print("  sent {:>8} of {} requests ({:.0f} s)\n", ticket, total,
                     Seconds(Clock::now() - start));
          std::fflush(stdout);
        }
        Endpoint& endpoint =
            *active[static_cast<size_t>(ticket % static_cast<int64_t>(active.size()))];
        auto request_start = Clock::now();
        if (config.rate > 0) {
          request_start = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(
                                          static_cast<double>(ticket) / config.rate));
          std::this_thread::sleep_until(request_start);
        }
        const bool while_applying = applying();
        auto response = connection != nullptr ? connection->Get(endpoint.target)
                                              : lok::http::Fetch("GET", base + endpoint.target);
        const double milliseconds =
            std::chrono::duration<double, std::milli>(Clock::now() - request_start).count();
        std::lock_guard lock(mutex);
        endpoint.latencies_ms.push_back(milliseconds);
        if (while_applying) endpoint.applying_latencies_ms.push_back(milliseconds);
        if (!response.ok() || response->status != 200) {
          ++endpoint.failures;
          phase.failures.push_back(
              {endpoint.target, response.ok() ? fmt::format("HTTP {}: {}", response->status,
                                                            response->body.substr(0, 200))
                                              : response.status().ToString()});
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  phase.seconds = Seconds(Clock::now() - start);
  phase.applied = service.metrics().applied() - applied_start;
  phase.load_average_end = LoadAverage();
  queries_done = true;
  feeder.join();
  monitor.join();
  phase.appended = tail_appended.load();
  auto positions = lok::engine::ReadPositions(service.store());
  if (positions.ok()) {
    phase.behind_at_end = records_before + phase.appended - Sum(*positions);
  }
  return phase;
}

// The nearest-rank percentile of sorted samples.
double Percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

void PrintLatencies(std::vector<Endpoint>& endpoints) {
  size_t width = 8;
  for (const Endpoint& endpoint : endpoints) width = std::max(width, endpoint.target.size());
  fmt::print("\n{:<{}}  {:>6}  {:>8}  {:>8}  {:>8}  {:>8}  {:>5}  |  {:>6}  {:>8}  {:>8}\n",
             "all requests (ms)", width, "n", "p50", "p90", "p99", "max", "fail", "n*", "p50*",
             "p99*");
  for (Endpoint& endpoint : endpoints) {
    if (endpoint.skipped) {
      fmt::print("{:<{}}  skipped (404)\n", endpoint.target, width);
      continue;
    }
    std::vector<double>& samples = endpoint.latencies_ms;
    std::vector<double>& applying = endpoint.applying_latencies_ms;
    std::sort(samples.begin(), samples.end());
    std::sort(applying.begin(), applying.end());
    fmt::print(
        "{:<{}}  {:>6}  {:>8.2f}  {:>8.2f}  {:>8.2f}  {:>8.2f}  {:>5}  |  {:>6}  {:>8.2f}  "
        "{:>8.2f}\n",
        endpoint.target, width, samples.size(), Percentile(samples, 0.50),
        Percentile(samples, 0.90), Percentile(samples, 0.99),
        samples.empty() ? 0.0 : samples.back(), endpoint.failures, applying.size(),
        Percentile(applying, 0.50), Percentile(applying, 0.99));
  }
  fmt::print("* the requests sent while the projector had appended events left to apply\n\n");
}

// The `fraction` quantile of a histogram's observations, interpolated
// linearly inside the bucket it falls in (Prometheus' histogram_quantile).
double HistogramQuantile(std::span<const double> bounds, const std::vector<uint64_t>& cumulative,
                         uint64_t count, double fraction) {
  if (count == 0) return 0;
  const double rank = fraction * static_cast<double>(count);
  double lower = 0;
  uint64_t below = 0;
  for (size_t bucket = 0; bucket < bounds.size(); ++bucket) {
    if (static_cast<double>(cumulative[bucket]) >= rank) {
      const uint64_t inside = cumulative[bucket] - below;
      if (inside == 0) return bounds[bucket];
      return lower + (bounds[bucket] - lower) * (rank - static_cast<double>(below)) /
                         static_cast<double>(inside);
    }
    lower = bounds[bucket];
    below = cumulative[bucket];
  }
  return bounds.back();  // in the +Inf bucket: the largest finite bound, as Prometheus
}

// The server's own view of the query phase: per route, the requests'
// durations from read to written (lok_http_request_duration_seconds), the
// difference of two snapshots. Shows how much of the client's latency was
// spent outside the handler (waiting for a worker, the client's threads).
void PrintServerLatencies(const std::vector<lok::http::RouteLatency>& before,
                          const std::vector<lok::http::RouteLatency>& after) {
  const std::span<const double> bounds = lok::http::LatencyBucketBounds();
  fmt::print("{:<24}  {:>6}  {:>8}  {:>8}  {:>8}\n", "server side (ms)", "n", "mean", "p50~",
             "p99~");
  for (const lok::http::RouteLatency& route : after) {
    std::vector<uint64_t> cumulative = route.cumulative;
    uint64_t count = route.count;
    double sum = route.sum_seconds;
    for (const lok::http::RouteLatency& earlier : before) {
      if (earlier.method != route.method || earlier.route != route.route) continue;
      for (size_t bucket = 0; bucket < cumulative.size(); ++bucket) {
        cumulative[bucket] -= earlier.cumulative[bucket];
      }
      count -= earlier.count;
      sum -= earlier.sum_seconds;
    }
    if (count == 0 || route.method != "GET") continue;
    fmt::print("{:<24}  {:>6}  {:>8.2f}  {:>8.2f}  {:>8.2f}\n", route.route, count,
               1000 * sum / static_cast<double>(count),
               1000 * HistogramQuantile(bounds, cumulative, count, 0.50),
               1000 * HistogramQuantile(bounds, cumulative, count, 0.99));
  }
  std::vector<double> bounds_ms;
  for (double bound : bounds) bounds_ms.push_back(1000 * bound);
  fmt::print("~ interpolated inside the histogram's buckets (bounds in ms: {})\n\n",
             fmt::join(bounds_ms, ", "));
}

lok::Status Run(const BenchConfig& config, const fs::path& dir, bool& requests_ok) {
  const bool reuse = !config.reuse.empty();
  DataMeta meta;
  if (reuse) {
    LOK_ASSIGN_OR_RETURN(meta, ReadMeta(dir));
  } else {
    meta = {
        .seed = config.seed,
        .clients = config.clients,
        .deals_in_flight = static_cast<size_t>(std::clamp<int64_t>(config.events / 200, 1, 5'000)),
        .events = 0};
  }
  const int64_t planned = reuse ? meta.events : config.events;
  const auto tail_events =
      static_cast<int64_t>(std::llround(config.tail_fraction * static_cast<double>(planned)));
  const int64_t head = reuse ? meta.events : config.events - tail_events;

  fmt::print("machine       nproc {}, load average {} (at start)\n",
             std::thread::hardware_concurrency(), LoadAverage());
  fmt::print("data          {} ({})\n", dir.string(),
             reuse ? "reused, load phase skipped" : "fresh");
  fmt::print(
      "setup         {} events loaded + {} appended during queries, {} clients, seed {}, "
      "{} deals in flight, {} partitions, projector batch {}\n",
      head, tail_events, meta.clients, meta.seed, meta.deals_in_flight, config.partitions,
      config.batch_size);
  fmt::print(
      "              {} query threads, {} HTTP server threads, {} requests per endpoint, "
      "projector nice {}, {}\n",
      config.threads, config.http_threads, config.requests, config.projector_nice,
      config.fresh_connections ? "a new connection per request" : "keep-alive connections");
  fmt::print("              load: {}; tail: {}\n",
             config.rate > 0 ? fmt::format("open, {:.0f} requests/s", config.rate)
                             : std::string("closed loop (each thread back to back)"),
             config.feed_rate > 0 ? fmt::format("paced at {:.0f} events/s", config.feed_rate)
                                  : std::string("appended at once"));
  std::fflush(stdout);

  lok::bench::EventMix mix(
      {.seed = meta.seed, .clients = meta.clients, .deals_in_flight = meta.deals_in_flight});
  DataFacts facts;

  lok::service::ServiceConfig service_config;
  service_config.data_dir = dir.string();
  service_config.http_port = 0;
  service_config.http_threads = config.http_threads;
  service_config.partitions = config.partitions;
  service_config.batch_size = config.batch_size;
  service_config.projector_nice = config.projector_nice;
  service_config.row_cache_bytes = config.row_cache_mb << 20;
  LOK_ASSIGN_OR_RETURN(std::unique_ptr<lok::service::LokService> service,
                       lok::service::LokService::Start(service_config));

  if (reuse) {
    // Replay the generator past what the log holds, so the tail continues it.
    const auto replay_start = Clock::now();
    for (int64_t index = 0; index < meta.events; ++index) Observe(mix.Next(), facts);
    fmt::print("replay        generator advanced past {} events in {:.1f} s (not timed)\n",
               meta.events, Seconds(Clock::now() - replay_start));
    LOK_RETURN_IF_ERROR(WaitForPositions(*service, meta.events));
  } else {
    LOK_RETURN_IF_ERROR(Load(*service, head, mix, facts));
  }
  fmt::print("peak RSS      {:.1f} MiB after the load phase\n", PeakRssMib());
  std::fflush(stdout);

  // The tail is generated first: the queries' asOf is its last day, so that
  // no event applied during the queries occurred after asOf (a later one
  // would make every asOf query build an as-of read model instead of
  // reading the live one, see docs/ARCHITECTURE.md "As-of answers").
  DataFacts tail_facts;
  std::vector<lok::log::OutgoingRecord> tail =
      NextRecords(mix, static_cast<size_t>(tail_events), &tail_facts);
  facts.last_seconds = std::max(facts.last_seconds, tail_facts.last_seconds);
  std::vector<Endpoint> endpoints = BuildEndpoints(facts);
  const std::string base = fmt::format("http://127.0.0.1:{}", service->port());
  LOK_RETURN_IF_ERROR(Probe(base, endpoints, config.skip_missing));

  fmt::print("query phase   load average {} (at start)\n", LoadAverage());
  std::fflush(stdout);
  // The backlog is counted from the records the store covers now: a kept
  // directory's log may hold records that did not come from this bench (the
  // meta file counts only the generator's).
  LOK_ASSIGN_OR_RETURN(lok::log::PartitionOffsets covered,
                       lok::engine::ReadPositions(service->store()));
  const std::vector<lok::http::RouteLatency> server_before = service->HttpLatencies();
  QueryPhase phase = RunQueries(*service, config, std::move(tail), Sum(covered), endpoints);

  PrintLatencies(endpoints);
  PrintServerLatencies(server_before, service->HttpLatencies());
  fmt::print("query phase   {:.2f} s, load average {} (at end)\n", phase.seconds,
             phase.load_average_end);
  fmt::print("tail          {} events appended in {:.2f} s (chunks of {})\n", phase.appended,
             phase.append_seconds, TailChunk(config));
  fmt::print("backlog       at most {} records appended and not yet applied (sampled every {} ms)\n",
             phase.max_backlog, kPollInterval.count());
  fmt::print("applied       {} events during the query phase, {:.0f} events/s; ", phase.applied,
             static_cast<double>(phase.applied) / phase.seconds);
  if (config.feed_rate > 0) {
    fmt::print("{} appended and not yet applied when the queries ended\n", phase.behind_at_end);
  } else if (phase.caught_up_seconds) {
    fmt::print("the projector caught up {:.1f} s into the {:.1f} s phase\n",
               *phase.caught_up_seconds, phase.seconds);
  } else {
    fmt::print("{} still to apply when the queries ended (applying all phase long)\n",
               phase.behind_at_end);
  }

  // Let the projector finish the tail so that a kept directory is complete.
  LOK_RETURN_IF_ERROR(WaitForPositions(*service, Sum(covered) + phase.appended));
  fmt::print("peak RSS      {:.1f} MiB (whole run)\n", PeakRssMib());
  service->Stop();
  meta.events = head + phase.appended;
  LOK_RETURN_IF_ERROR(WriteMeta(dir, meta));

  requests_ok = phase.failures.empty();
  if (!requests_ok) {
    fmt::print("FAILED        {} requests:\n", phase.failures.size());
    for (size_t index = 0; index < std::min(kFailuresShown, phase.failures.size()); ++index) {
      fmt::print("  {}: {}\n", phase.failures[index].target, phase.failures[index].what);
    }
  }
  return lok::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  BenchConfig config;
  CLI::App app{"lok_query_bench: read-model endpoint latency while events are applied"};
  app.add_option("--events", config.events, "Events in all (loaded + tail)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}))
      ->capture_default_str();
  app.add_option("--clients", config.clients, "Distinct clients the deals belong to")
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}))
      ->capture_default_str();
  app.add_option("--tail-fraction", config.tail_fraction,
                 "Share of the events appended during the query phase")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--threads", config.threads, "Concurrent query threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--rate", config.rate,
                 "Open load: requests per second over all threads, each timed from its due "
                 "time (0: closed loop, each thread back to back)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app.add_option("--feed-rate", config.feed_rate,
                 "Append the tail at this many events per second during the queries (0: all "
                 "at once)")
      ->check(CLI::Range(0.0, 1e7))
      ->capture_default_str();
  app.add_option("--requests", config.requests, "Requests per endpoint")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
      ->capture_default_str();
  app.add_option("--http-threads", config.http_threads, "HTTP server threads of the node")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--partitions", config.partitions, "Partitions of the events topic")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--batch-size", config.batch_size, "Records per projector batch")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--projector-nice", config.projector_nice,
                 "Nice value of the projector thread (lokd --projector-nice; 0: normal)")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  app.add_option("--row-cache-mb", config.row_cache_mb,
                 "MiB of RocksDB row cache of the node (lokd --row-cache-mb; 0: none)")
      ->capture_default_str();
  app.add_option("--seed", config.seed, "Seed of the event generator")->capture_default_str();
  auto* dir_option =
      app.add_option("--dir", config.dir,
                     "Data directory; must be empty or absent (default: a fresh temporary one)");
  app.add_option("--reuse", config.reuse,
                 "Use this data directory kept by an earlier --keep run; skips the load phase")
      ->excludes(dir_option);
  app.add_flag("--keep", config.keep, "Keep the data directory afterwards (always with --reuse)");
  app.add_flag("--skip-missing", config.skip_missing,
               "Skip endpoints that answer 404 (not wired yet) instead of failing");
  app.add_flag("--fresh-connections", config.fresh_connections,
               "Open a new TCP connection for every request (default: one keep-alive "
               "connection per query thread, as a browser)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  fs::path dir;
  std::error_code error;
  bool keep = config.keep;
  if (!config.reuse.empty()) {
    dir = config.reuse;
    keep = true;
  } else if (config.dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "lok-query-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      fmt::print(stderr, "lok_query_bench: cannot create a temporary directory\n");
      return 1;
    }
    dir = pattern;
  } else {
    dir = config.dir;
    if (fs::exists(dir) && !fs::is_empty(dir, error)) {
      fmt::print(stderr, "lok_query_bench: --dir {} is not empty (use --reuse)\n", dir.string());
      return 2;
    }
    fs::create_directories(dir, error);
    if (error) {
      fmt::print(stderr, "lok_query_bench: --dir {}: {}\n", dir.string(), error.message());
      return 1;
    }
  }

  bool requests_ok = false;
  lok::Status status = Run(config, dir, requests_ok);
  if (!status.ok()) fmt::print(stderr, "lok_query_bench: {}\n", status.ToString());
  if (keep) {
    fmt::print("data kept in  {}\n", dir.string());
  } else {
    fs::remove_all(dir, error);
  }
  return status.ok() && requests_ok ? 0 : 1;
}
