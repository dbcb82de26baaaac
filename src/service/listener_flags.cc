#include "service/listener_flags.h"

#include <CLI/CLI.hpp>
#include <charconv>

namespace lok::service {

void AddListenerFlags(CLI::App& app, ListenerFlags& flags, const std::string& http_env) {
  app.add_option("--http", flags.http, "HTTP listen address HOST:PORT")
      ->envname(http_env)
      ->capture_default_str();
  app.add_option("--http-threads", flags.http_threads, "HTTP worker threads")
      ->envname("LOK_HTTP_THREADS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--http-read-timeout", flags.http_read_timeout_seconds,
                 "Seconds a client may take to send one request (408 after that)")
      ->envname("LOK_HTTP_READ_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--max-body-bytes", flags.max_body_bytes,
                 "Largest accepted HTTP body (413 above)")
      ->envname("LOK_MAX_BODY_BYTES")
      ->capture_default_str();
  app.add_option("--max-event-bytes", flags.max_event_bytes,
                 "Largest accepted event in a POST /v1/events body (rejected on its own above)")
      ->envname("LOK_MAX_EVENT_BYTES")
      ->check(CLI::Range(size_t{64}, size_t{64} * 1024 * 1024))
      ->capture_default_str();
  app.add_option("--max-events-per-request", flags.max_events_per_request,
                 "Most events in one POST /v1/events body (413 above)")
      ->envname("LOK_MAX_EVENTS_PER_REQUEST")
      ->check(CLI::Range(size_t{1}, size_t{10000000}))
      ->capture_default_str();
  app.add_option("--tls-cert", flags.tls_cert,
                 "PEM certificate chain: serve HTTPS (TLS 1.2+) instead of HTTP (with --tls-key)")
      ->envname("LOK_TLS_CERT")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert")
      ->envname("LOK_TLS_KEY")
      ->check(CLI::ExistingFile);
  app.add_option("--auth-file", flags.auth_file,
                 "JSON file of hashed API tokens and what each may do (required beyond "
                 "loopback; lokd and lok-gateway read the same file)")
      ->envname("LOK_AUTH_FILE")
      ->check(CLI::ExistingFile);
  app.add_option("--kafka-property", flags.kafka_properties,
                 "A librdkafka setting KEY=VALUE, e.g. security.protocol=SASL_SSL (repeatable)")
      ->envname("LOK_KAFKA_PROPERTIES")
      ->delimiter(',');
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->envname("LOK_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}))
      ->capture_default_str();
}

StatusOr<HostPort> ParseHttpFlag(std::string_view http) {
  const size_t colon = http.rfind(':');
  const auto invalid = [&] {
    return InvalidArgumentError("--http: expected HOST:PORT with PORT 0..65535, got '" +
                                std::string(http) + "'");
  };
  if (colon == std::string_view::npos || colon == 0) return invalid();
  HostPort result;
  result.host = std::string(http.substr(0, colon));
  const std::string_view digits = http.substr(colon + 1);
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), result.port);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
    return invalid();
  }
  return result;
}

StatusOr<std::map<std::string, std::string>> ParseKafkaProperties(
    const std::vector<std::string>& properties) {
  std::map<std::string, std::string> result;
  for (const std::string& property : properties) {
    const size_t equals = property.find('=');
    if (equals == std::string::npos || equals == 0) {
      return InvalidArgumentError("--kafka-property: expected KEY=VALUE, got '" + property + "'");
    }
    result[property.substr(0, equals)] = property.substr(equals + 1);
  }
  return result;
}

}  // namespace lok::service
