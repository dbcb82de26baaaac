// The ingest gateway: a small HTTP service that takes the same POST /v1/events
// bodies as lokd (api/ingest_api.h, the same parsing, validation, limits and
// bearer tokens) and produces the events to Kafka with the idempotent
// producer (log::KafkaLogWriter, key = client_id). It answers 202 only after
// the broker has acknowledged every event, with each event's partition and
// offset. It keeps no state: any number of gateways can run beside lokd.
//
//   GET  /healthz     the process is up
//   POST /v1/events   events in, produced to Kafka (publish role)
//
// Thread-safety: Start and Stop from one thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "api/auth.h"
#include "api/ingest_api.h"
#include "base/status.h"
#include "http/http_server.h"
#include "log/kafka_log.h"

namespace lok::service {

struct GatewayConfig {
  std::string http_address = "127.0.0.1";
  uint16_t http_port = 8090;  // 0: any free port
  int http_threads = 2;
  size_t max_body_bytes = 64 * 1024 * 1024;
  size_t max_event_bytes = 64 * 1024;
  size_t max_events_per_request = 100000;
  std::chrono::seconds http_read_timeout{30};
  // Optional TLS on the listener: PEM certificate chain and private key.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string brokers;  // required
  std::map<std::string, std::string> kafka_properties;
  std::string topic = "lok.events";
  // Bearer tokens (api/auth.h). Empty: no authentication, allowed only on a
  // loopback address.
  std::string auth_file;
};

class GatewayService {
 public:
  // Connects the producer and starts the HTTP server.
  // Errors: kInvalidArgument (no brokers, bad Kafka property, TLS files),
  // kFailedPrecondition (beyond loopback without tokens), kUnavailable (port).
  static StatusOr<std::unique_ptr<GatewayService>> Start(const GatewayConfig& config);
  ~GatewayService();  // stops

  // Stops HTTP (answers in flight are dropped); idempotent.
  void Stop();

  uint16_t port() const { return server_->port(); }

 private:
  GatewayService() = default;
  Status Open(const GatewayConfig& config);

  std::unique_ptr<log::KafkaLogWriter> writer_;
  api::Authenticator auth_;
  api::IngestContext ingest_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace lok::service
