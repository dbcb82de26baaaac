// The command-line options lokd and lok-gateway share: the HTTP listener,
// the limits of POST /v1/events, TLS, API tokens, librdkafka settings and
// the log level. Each binary registers them with AddListenerFlags (so they
// are declared, checked and documented once) and copies them into its
// config with ApplyListenerFlags after parsing.
//
//   lok::service::ListenerFlags flags{.http = "127.0.0.1:8080"};
//   lok::service::AddListenerFlags(app, flags, "LOK_HTTP");
//   CLI11_PARSE(app, argc, argv);
//   if (Status s = ApplyListenerFlags(flags, config); !s.ok()) ...
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace lok::service {

// Every member has an initializer, so designated initializers may name
// only some (-Wmissing-field-initializers).
struct ListenerFlags {
  std::string http;  // HOST:PORT
  int http_threads = 2;
  int http_read_timeout_seconds = 30;
  size_t max_body_bytes = 64 * 1024 * 1024;
  size_t max_event_bytes = 64 * 1024;
  size_t max_events_per_request = 100000;
  std::string tls_cert{};
  std::string tls_key{};
  std::string auth_file{};
  std::vector<std::string> kafka_properties{};  // KEY=VALUE
  std::string log_level = "info";
};

// Registers --http (environment variable `http_env`), --http-threads,
// --http-read-timeout, --max-body-bytes, --max-event-bytes,
// --max-events-per-request, --tls-cert, --tls-key, --auth-file,
// --kafka-property and --log-level with their LOK_* variables and range
// checks, bound to `flags` (which must outlive `app`'s parse).
void AddListenerFlags(CLI::App& app, ListenerFlags& flags, const std::string& http_env);

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "HOST:PORT" (the last colon splits; PORT 0..65535).
// Errors: kInvalidArgument naming --http and the rule.
StatusOr<HostPort> ParseHttpFlag(std::string_view http);

// KEY=VALUE settings into a map (a later KEY wins).
// Errors: kInvalidArgument naming --kafka-property and the setting.
StatusOr<std::map<std::string, std::string>> ParseKafkaProperties(
    const std::vector<std::string>& properties);

// Copies `flags` into a config with the fields http_address, http_port,
// http_threads, http_read_timeout, max_body_bytes, max_event_bytes,
// max_events_per_request, tls_cert_file, tls_key_file, auth_file and
// kafka_properties (ServiceConfig, GatewayConfig). Errors: those of
// ParseHttpFlag and ParseKafkaProperties; `config` is unchanged then.
template <typename Config>
Status ApplyListenerFlags(const ListenerFlags& flags, Config& config) {
  LOK_ASSIGN_OR_RETURN(HostPort listen, ParseHttpFlag(flags.http));
  LOK_ASSIGN_OR_RETURN(auto kafka_properties, ParseKafkaProperties(flags.kafka_properties));
  config.http_address = std::move(listen.host);
  config.http_port = listen.port;
  config.http_threads = flags.http_threads;
  config.http_read_timeout = std::chrono::seconds(flags.http_read_timeout_seconds);
  config.max_body_bytes = flags.max_body_bytes;
  config.max_event_bytes = flags.max_event_bytes;
  config.max_events_per_request = flags.max_events_per_request;
  config.tls_cert_file = flags.tls_cert;
  config.tls_key_file = flags.tls_key;
  config.auth_file = flags.auth_file;
  config.kafka_properties = std::move(kafka_properties);
  return Status::Ok();
}

}  // namespace lok::service
