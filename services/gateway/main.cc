// lok-gateway: the ingest gateway. Configuration only: flags, LOK_GATEWAY_*
// variables and a config file become a GatewayConfig; src/service wires it.
//
//   lok-gateway --brokers HOST:PORT --topic lok.events --http 127.0.0.1:8090
//
// It takes the same POST /v1/events bodies as lokd, produces them to Kafka
// with the idempotent producer and answers 202 once the broker acknowledged,
// with each event's partition and offset. lokd consumes the topic as usual.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>

#include "service/gateway_service.h"

int main(int argc, char** argv) {
  lok::service::GatewayConfig config;
  std::string http = "127.0.0.1:8090";
  std::vector<std::string> kafka_properties;
  int read_timeout_seconds = 30;
  std::string log_level = "info";
  CLI::App app{"lok-gateway: HTTP ingest to Kafka for Lok"};
  app.set_config("--config", "", "Read options from a TOML or INI file");
  app.add_option("--http", http, "HTTP listen address HOST:PORT")
      ->envname("LOK_GATEWAY_HTTP")
      ->capture_default_str();
  app.add_option("--brokers", config.brokers, "Kafka bootstrap servers")
      ->envname("LOK_BROKERS")
      ->required();
  app.add_option("--topic", config.topic, "The events topic")
      ->envname("LOK_TOPIC")
      ->capture_default_str();
  app.add_option("--kafka-property", kafka_properties,
                 "A librdkafka setting KEY=VALUE, e.g. security.protocol=SASL_SSL (repeatable)")
      ->envname("LOK_KAFKA_PROPERTIES")
      ->delimiter(',');
  app.add_option("--auth-file", config.auth_file,
                 "JSON file of hashed API tokens (required beyond loopback); the same as lokd's")
      ->envname("LOK_AUTH_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--max-body-bytes", config.max_body_bytes,
                 "Largest accepted HTTP body (413 above)")
      ->envname("LOK_MAX_BODY_BYTES")
      ->capture_default_str();
  app.add_option("--max-event-bytes", config.max_event_bytes,
                 "Largest accepted event in a body (rejected on its own above)")
      ->envname("LOK_MAX_EVENT_BYTES")
      ->check(CLI::Range(size_t{64}, size_t{64} * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--max-events-per-request", config.max_events_per_request,
                 "Most events in one body (413 above)")
      ->envname("LOK_MAX_EVENTS_PER_REQUEST")
      ->check(CLI::Range(size_t{1}, size_t{10000000}))
      ->capture_default_str();
  app.add_option("--http-read-timeout", read_timeout_seconds,
                 "Seconds a client may take to send one request (408 after that)")
      ->envname("LOK_HTTP_READ_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--http-threads", config.http_threads, "HTTP worker threads")
      ->envname("LOK_HTTP_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--tls-cert", config.tls_cert_file,
                 "PEM certificate chain: serve HTTPS (TLS 1.2+) instead of HTTP (with --tls-key)")
      ->envname("LOK_TLS_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", config.tls_key_file, "PEM private key of --tls-cert")
      ->envname("LOK_TLS_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("LOK_LOG_LEVEL")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  const size_t colon = http.rfind(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument("no port");
    config.http_address = http.substr(0, colon);
    config.http_port = static_cast<uint16_t>(std::stoul(http.substr(colon + 1)));
  } catch (const std::exception&) {
    spdlog::critical("--http: expected HOST:PORT, got '{}'", http);
    return 2;
  }
  config.http_read_timeout = std::chrono::seconds(read_timeout_seconds);
  for (const std::string& property : kafka_properties) {
    const size_t equals = property.find('=');
    if (equals == std::string::npos) {
      spdlog::critical("--kafka-property: expected KEY=VALUE, got '{}'", property);
      return 2;
    }
    config.kafka_properties[property.substr(0, equals)] = property.substr(equals + 1);
  }

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto service = lok::service::GatewayService::Start(config);
  if (!service.ok()) {
    spdlog::critical("lok-gateway: {}", service.status().ToString());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("lok-gateway: {} received, shutting down", strsignal(signal_number));
  (*service)->Stop();
  return 0;
}
