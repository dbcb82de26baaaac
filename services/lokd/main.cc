// lokd: the Lok service. Configuration only: flags, LOK_* variables and a
// config file become a ServiceConfig; src/service wires the node.
//
//   lokd --data-dir DIR --http 127.0.0.1:8080                  (embedded log)
//   lokd --data-dir DIR --brokers HOST:PORT --topic lok.events (Kafka)
//
// Every flag can also come from a LOK_* environment variable (LOK_DATA_DIR,
// LOK_BROKERS, ...) or from a TOML/INI file given with --config.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <csignal>
#include <filesystem>
#include <thread>

#include "service/listener_flags.h"
#include "service/lok_service.h"

namespace {

struct Config {
  lok::service::ListenerFlags listener{.http = "127.0.0.1:8080"};
  std::string data_dir = "./lok-data";
  std::string brokers;
  std::string topic = "lok.events";
  std::string group_id = "lokd";
  int32_t partitions = 8;
  size_t batch_size = 2000;
  bool sync_commits = false;
  int projector_nice = lok::service::ServiceConfig{}.projector_nice;
  size_t block_cache_mb = lok::service::ServiceConfig{}.block_cache_bytes >> 20;
  size_t row_cache_mb = lok::service::ServiceConfig{}.row_cache_bytes >> 20;
  std::string reporting_currency = "USD";
  std::vector<double> stage_probability = {0.10, 0.25, 0.50};
  double client_share_alert = 0.20;
  double hhi_moderate = 1500;
  double hhi_high = 2500;
  int32_t min_won_deals = 2;
  int32_t contact_cadence_days = 30;
  std::vector<std::string> region_cadences;
  std::string web_root;  // empty: <binary dir>/../../web/dist
  std::vector<std::string> projection_versions;  // NAME=N, for tests of the version check
  lok::engine::CheckpointPolicy checkpoints;
  size_t as_of_cache_entries = 4;
  int64_t as_of_reuse_seconds = 300;
};

int Fail(const lok::Status& status, std::string_view what) {
  spdlog::critical("{}: {}", what, status.ToString());
  return 1;
}

// The dashboard built in the source tree: build/bin/lokd -> <repo>/web/dist.
std::string DefaultWebRoot() {
  std::error_code error;
  const std::filesystem::path binary = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  return (binary.parent_path() / ".." / ".." / "web" / "dist").lexically_normal().string();
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  CLI::App app{"lokd: Lok's event-sourced sales pipeline service"};
  app.set_config("--config", "", "Read options from a TOML or INI file");
  app.add_option("--data-dir", config.data_dir,
                 "Directory for the read models and the embedded log")
      ->envname("LOK_DATA_DIR")
      ->capture_default_str();
  lok::service::AddListenerFlags(app, config.listener, "LOK_HTTP");
  app.add_option("--brokers", config.brokers,
                 "Kafka bootstrap servers; empty runs on the embedded log")
      ->envname("LOK_BROKERS");
  app.add_option("--topic", config.topic, "The events topic")
      ->envname("LOK_TOPIC")
      ->capture_default_str();
  app.add_option("--group-id", config.group_id,
                 "Kafka consumer group, used only to report lag (positions live in the store)")
      ->envname("LOK_GROUP_ID")
      ->capture_default_str();
  app.add_option("--partitions", config.partitions,
                 "Partitions when lokd creates the topic (embedded log, or a missing Kafka topic)")
      ->envname("LOK_PARTITIONS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--batch-size", config.batch_size, "Records per projector batch")
      ->envname("LOK_BATCH_SIZE")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  app.add_option("--checkpoint-every", config.checkpoints.every_records,
                 "Checkpoint the read models (bases of asOf/knownAt answers) after this many "
                 "records, besides one per UTC day of record time; 0: only daily")
      ->envname("LOK_CHECKPOINT_EVERY")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--checkpoint-keep", config.checkpoints.keep,
                 "Checkpoints kept (thinned to stay spread over the log)")
      ->envname("LOK_CHECKPOINT_KEEP")
      ->check(CLI::Range(size_t{2}, size_t{100000}))
      ->capture_default_str();
  app.add_option("--as-of-cache", config.as_of_cache_entries,
                 "Read models built for asOf/knownAt queries kept for reuse")
      ->envname("LOK_AS_OF_CACHE")
      ->check(CLI::Range(size_t{1}, size_t{64}))
      ->capture_default_str();
  app.add_option("--as-of-reuse-seconds", config.as_of_reuse_seconds,
                 "An asOf query without knownAt may be answered by a build this recent, "
                 "though the live read models have moved on (its offsets say how far)")
      ->envname("LOK_AS_OF_REUSE_SECONDS")
      ->check(CLI::Range(int64_t{0}, int64_t{86400}))
      ->capture_default_str();
  app.add_flag("--sync-commits", config.sync_commits,
               "fsync the store's WAL on every batch (survives power loss, not only crashes)")
      ->envname("LOK_SYNC_COMMITS");
  app.add_option("--projector-nice", config.projector_nice,
                 "Nice value of the projector thread (0-19; 0: normal priority). Above 0, HTTP "
                 "queries win the CPU over catching up, and compactions run at nice 19")
      ->envname("LOK_PROJECTOR_NICE")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  app.add_option("--block-cache-mb", config.block_cache_mb,
                 "MiB of RocksDB block cache (uncompressed blocks of the read models)")
      ->envname("LOK_BLOCK_CACHE_MB")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--row-cache-mb", config.row_cache_mb,
                 "MiB of RocksDB row cache (rows of point reads, e.g. the retention queue's "
                 "scoring summaries); 0: none")
      ->envname("LOK_ROW_CACHE_MB")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--reporting-currency", config.reporting_currency,
                 "ISO 4217 code amounts are reported in unless a query asks for another")
      ->envname("LOK_REPORTING_CURRENCY")
      ->check([](const std::string& code) {
        const bool valid = code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) {
                             return c >= 'A' && c <= 'Z';
                           });
        return valid ? std::string() : std::string("must be three upper-case letters (ISO 4217)");
      })
      ->capture_default_str();
  app.add_option("--stage-probability", config.stage_probability,
                 "Win probability of open deals at LEAD, QUALIFIED, OFFER (weighted pipeline)")
      ->envname("LOK_STAGE_PROBABILITY")
      ->expected(3)
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--client-share-alert", config.client_share_alert,
                 "Concentration alert when one client's share of revenue is at or over this (0..1)")
      ->envname("LOK_CLIENT_SHARE_ALERT")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--hhi-moderate", config.hhi_moderate, "HHI at or over this alerts as moderate")
      ->envname("LOK_HHI_MODERATE")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  app.add_option("--hhi-high", config.hhi_high, "HHI at or over this alerts as high")
      ->envname("LOK_HHI_HIGH")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  app.add_option("--min-won-deals", config.min_won_deals,
                 "Won deals that make a client regular (retention queue)")
      ->envname("LOK_MIN_WON_DEALS")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--contact-cadence-days", config.contact_cadence_days,
                 "Days without contact after which a regular client is overdue")
      ->envname("LOK_CONTACT_CADENCE_DAYS")
      ->check(CLI::Range(1, 3650))
      ->capture_default_str();
  app.add_option("--region-cadence", config.region_cadences,
                 "Contact cadence of one region (segment), REGION=DAYS (repeatable)")
      ->envname("LOK_REGION_CADENCE")
      ->delimiter(',');
  app.add_option("--web-root", config.web_root,
                 "Directory of the built dashboard served at / (default: web/dist of the source "
                 "tree lokd was built in; 'none' disables it)")
      ->envname("LOK_WEB_ROOT");
  app.add_option("--projection-version", config.projection_versions,
                 "NAME=N: pretend projection NAME's code has version N (tests of the background "
                 "rebuild on a version change)")
      ->group("");  // hidden
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(config.listener.log_level));

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  lok::service::ServiceConfig service_config;
  if (lok::Status applied = lok::service::ApplyListenerFlags(config.listener, service_config);
      !applied.ok()) {
    spdlog::critical("{}", applied.message());
    return 2;
  }
  service_config.data_dir = config.data_dir;
  service_config.brokers = config.brokers;
  service_config.topic = config.topic;
  service_config.group_id = config.group_id;
  service_config.partitions = config.partitions;
  service_config.batch_size = config.batch_size;
  service_config.checkpoints = config.checkpoints;
  service_config.as_of_cache_entries = config.as_of_cache_entries;
  service_config.as_of_reuse = std::chrono::seconds(config.as_of_reuse_seconds);
  service_config.sync_commits = config.sync_commits;
  service_config.projector_nice = config.projector_nice;
  service_config.block_cache_bytes = config.block_cache_mb << 20;
  service_config.row_cache_bytes = config.row_cache_mb << 20;
  service_config.reporting_currency = config.reporting_currency;
  service_config.client_share_alert = config.client_share_alert;
  service_config.hhi_moderate = config.hhi_moderate;
  service_config.hhi_high = config.hhi_high;
  service_config.retention.min_won_deals = config.min_won_deals;
  service_config.retention.default_cadence_days = config.contact_cadence_days;
  for (const std::string& cadence : config.region_cadences) {
    const size_t equals = cadence.rfind('=');
    int32_t days = 0;
    try {
      days = equals == std::string::npos ? 0 : std::stoi(cadence.substr(equals + 1));
    } catch (const std::exception&) {
      days = 0;
    }
    if (equals == std::string::npos || equals == 0 || days <= 0) {
      spdlog::critical("--region-cadence: expected REGION=DAYS with DAYS > 0, got '{}'", cadence);
      return 2;
    }
    service_config.retention.cadence_by_region[cadence.substr(0, equals)] = days;
  }
  service_config.web_root = config.web_root.empty() ? DefaultWebRoot()
                           : config.web_root == "none" ? std::string()
                                                       : config.web_root;
  if (!service_config.web_root.empty()) {
    std::error_code error;
    if (std::filesystem::is_regular_file(
            std::filesystem::path(service_config.web_root) / "index.html", error)) {
      spdlog::info("lokd: dashboard from {}", service_config.web_root);
    } else {
      spdlog::warn("lokd: no dashboard at {} (build it: cd web && npm ci && npm run build)",
                   service_config.web_root);
    }
  }
  std::copy_n(config.stage_probability.begin(), 3, service_config.stage_probability.begin());
  for (const std::string& override : config.projection_versions) {
    const size_t equals = override.find('=');
    int version = 0;
    const char* digits = equals == std::string::npos ? nullptr : override.c_str() + equals + 1;
    const auto parsed = digits == nullptr
                            ? std::from_chars_result{nullptr, std::errc::invalid_argument}
                            : std::from_chars(digits, override.c_str() + override.size(), version);
    if (digits == nullptr || parsed.ec != std::errc() ||
        parsed.ptr != override.c_str() + override.size()) {
      spdlog::critical("--projection-version: expected NAME=N, got '{}'", override);
      return 2;
    }
    service_config.projection_versions[override.substr(0, equals)] = version;
  }
  auto service = lok::service::LokService::Start(service_config);
  if (!service.ok()) return Fail(service.status(), "lokd");

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("lokd: {} received, shutting down", strsignal(signal_number));
  (*service)->Stop();
  spdlog::info("lokd: stopped cleanly");
  return 0;
}
