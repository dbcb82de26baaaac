// lokd: the Lok service. Wiring only: configuration, the log (embedded or
// Kafka), the store, the projector thread and the HTTP API.
//
//   lokd --data-dir DIR --http 127.0.0.1:8080                  (embedded log)
//   lokd --data-dir DIR --brokers HOST:PORT --topic lok.events (Kafka)
//
// Every flag can also come from a LOK_* environment variable (LOK_DATA_DIR,
// LOK_BROKERS, ...) or from a TOML/INI file given with --config.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <thread>

#include "api/query_api.h"
#include "engine/projector.h"
#include "http/http_server.h"
#include "log/embedded_log.h"
#include "log/kafka_log.h"
#include "projections/funnel.h"
#include "store/rocks_store.h"

namespace {

struct Config {
  std::string data_dir = "./lok-data";
  std::string http = "127.0.0.1:8080";
  std::string brokers;
  std::string topic = "lok.events";
  std::string group_id = "lokd";
  int32_t partitions = 8;
  size_t batch_size = 2000;
  size_t max_body_bytes = 64 * 1024 * 1024;
  int http_threads = 2;
  bool sync_commits = false;
  std::vector<std::string> kafka_properties;
  std::string log_level = "info";
  std::string reporting_currency = "USD";
  std::vector<double> stage_probability = {0.10, 0.25, 0.50};
};

int Fail(const lok::Status& status, std::string_view what) {
  spdlog::critical("{}: {}", what, status.ToString());
  return 1;
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
  app.add_option("--http", config.http, "HTTP listen address HOST:PORT")
      ->envname("LOK_HTTP")
      ->capture_default_str();
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
  app.add_option("--max-body-bytes", config.max_body_bytes,
                 "Largest accepted HTTP body (413 above)")
      ->envname("LOK_MAX_BODY_BYTES")
      ->capture_default_str();
  app.add_option("--http-threads", config.http_threads, "HTTP worker threads")
      ->envname("LOK_HTTP_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_flag("--sync-commits", config.sync_commits,
               "fsync the store's WAL on every batch (survives power loss, not only crashes)")
      ->envname("LOK_SYNC_COMMITS");
  app.add_option("--kafka-property", config.kafka_properties,
                 "A librdkafka setting KEY=VALUE, e.g. security.protocol=SASL_SSL (repeatable)")
      ->envname("LOK_KAFKA_PROPERTIES")
      ->delimiter(',');
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
  app.add_option("--log-level", config.log_level, "trace, debug, info, warn, error")
      ->envname("LOK_LOG_LEVEL")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(config.log_level));

  const size_t colon = config.http.rfind(':');
  if (colon == std::string::npos) {
    spdlog::critical("--http: expected HOST:PORT, got '{}'", config.http);
    return 2;
  }
  lok::http::ServerOptions server_options;
  server_options.address = config.http.substr(0, colon);
  try {
    server_options.port = static_cast<uint16_t>(std::stoul(config.http.substr(colon + 1)));
  } catch (const std::exception&) {
    spdlog::critical("--http: port must be a number, got '{}'", config.http);
    return 2;
  }
  server_options.max_body_bytes = config.max_body_bytes;
  server_options.threads = config.http_threads;

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::error_code error;
  std::filesystem::create_directories(config.data_dir, error);
  if (error) {
    spdlog::critical("--data-dir {}: {}", config.data_dir, error.message());
    return 1;
  }

  // The log: embedded unless brokers are configured.
  std::unique_ptr<lok::log::EmbeddedLog> embedded;
  std::unique_ptr<lok::log::KafkaLogWriter> kafka_writer;
  std::unique_ptr<lok::log::LogReader> reader;
  lok::log::LogWriter* writer = nullptr;
  if (config.brokers.empty()) {
    auto opened = lok::log::EmbeddedLog::Open(config.data_dir + "/log", config.partitions);
    if (!opened.ok()) return Fail(opened.status(), "embedded log");
    embedded = std::move(opened).value();
    lok::Status created = embedded->CreateTopic(config.topic, config.partitions);
    if (!created.ok()) return Fail(created, "embedded log topic");
    writer = embedded.get();
    reader = embedded->NewReader(config.topic);
    spdlog::info("lokd: embedded log at {}/log, topic {} ({} partitions)", config.data_dir,
                 config.topic, config.partitions);
  } else {
    lok::log::KafkaConfig kafka;
    kafka.brokers = config.brokers;
    for (const std::string& property : config.kafka_properties) {
      const size_t equals = property.find('=');
      if (equals == std::string::npos) {
        spdlog::critical("--kafka-property: expected KEY=VALUE, got '{}'", property);
        return 2;
      }
      kafka.properties[property.substr(0, equals)] = property.substr(equals + 1);
    }
    for (const std::string& topic : {config.topic, lok::log::DeadLetterTopic(config.topic)}) {
      lok::Status created =
          lok::log::CreateTopic(kafka, topic, config.partitions, std::chrono::seconds(30));
      if (!created.ok())
        spdlog::warn("lokd: could not ensure topic {}: {}", topic, created.ToString());
    }
    auto created_writer = lok::log::KafkaLogWriter::Create(kafka);
    if (!created_writer.ok()) return Fail(created_writer.status(), "kafka producer");
    kafka_writer = std::move(created_writer).value();
    auto created_reader = lok::log::KafkaLogReader::Create(kafka, config.topic, config.group_id);
    if (!created_reader.ok()) return Fail(created_reader.status(), "kafka consumer");
    reader = std::move(created_reader).value();
    writer = kafka_writer.get();
    spdlog::info("lokd: Kafka at {}, topic {}", config.brokers, config.topic);
  }

  lok::store::RocksStoreOptions store_options;
  store_options.sync_commits = config.sync_commits;
  auto store = lok::store::RocksStore::Open(config.data_dir + "/state", store_options);
  if (!store.ok()) return Fail(store.status(), "store");

  lok::engine::ProjectorMetrics metrics;
  lok::projections::FunnelProjection funnel;
  lok::engine::ProjectorOptions projector_options;
  projector_options.topic = config.topic;
  projector_options.max_batch = config.batch_size;
  lok::engine::Projector projector(**store, *reader, *writer, {&funnel}, projector_options,
                                   metrics);

  lok::api::ApiContext context;
  context.store = store->get();
  context.writer = writer;
  context.topic = config.topic;
  context.metrics = &metrics;
  context.reporting_currency = config.reporting_currency;
  std::copy_n(config.stage_probability.begin(), 3, context.stage_probability.begin());
  lok::http::Server server(server_options);
  lok::api::RegisterRoutes(server, context);
  lok::Status started = server.Start();
  if (!started.ok()) return Fail(started, "http");
  spdlog::info("lokd: listening on http://{}:{}", server_options.address, server.port());

  std::jthread projector_thread([&projector](std::stop_token stop) { projector.Run(stop); });

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("lokd: {} received, shutting down", strsignal(signal_number));
  server.Stop();
  projector_thread.request_stop();
  projector_thread.join();
  spdlog::info("lokd: stopped cleanly");
  return 0;
}
