#include "service/gateway_service.h"

#include <spdlog/spdlog.h>

namespace lok::service {

StatusOr<std::unique_ptr<GatewayService>> GatewayService::Start(const GatewayConfig& config) {
  std::unique_ptr<GatewayService> service(new GatewayService());
  LOK_RETURN_IF_ERROR(service->Open(config));
  return service;
}

Status GatewayService::Open(const GatewayConfig& config) {
  if (config.brokers.empty()) return InvalidArgumentError("--brokers: required");
  if (!config.auth_file.empty()) {
    LOK_ASSIGN_OR_RETURN(auth_, api::Authenticator::FromFile(config.auth_file));
    spdlog::info("gateway: API tokens from {}", config.auth_file);
  } else if (config.http_address == "127.0.0.1" || config.http_address == "localhost" ||
             config.http_address == "::1") {
    spdlog::warn("gateway: no --auth-file: anyone on this machine may publish (loopback only)");
  } else {
    return FailedPreconditionError("--http " + config.http_address +
                                   ": serving beyond loopback needs --auth-file with API tokens");
  }
  log::KafkaConfig kafka;
  kafka.brokers = config.brokers;
  kafka.properties = config.kafka_properties;
  LOK_ASSIGN_OR_RETURN(writer_, log::KafkaLogWriter::Create(kafka));

  ingest_.writer = writer_.get();
  ingest_.topic = config.topic;
  ingest_.auth = &auth_;
  ingest_.limits.max_event_bytes = config.max_event_bytes;
  ingest_.limits.max_events = config.max_events_per_request;
  ingest_.success_status = 202;
  ingest_.report_positions = true;

  http::ServerOptions options;
  options.address = config.http_address;
  options.port = config.http_port;
  options.threads = config.http_threads;
  options.max_body_bytes = config.max_body_bytes;
  options.read_timeout = config.http_read_timeout;
  options.tls_cert_file = config.tls_cert_file;
  options.tls_key_file = config.tls_key_file;
  server_ = std::make_unique<http::Server>(options);
  api::RegisterIngestRoutes(*server_, ingest_);
  server_->Handle("GET", "/healthz", [](const http::Request&) {
    return http::Response{.body = "{\"status\":\"ok\"}"};
  });
  server_->SetGuard([this](http::Request& request) { return auth_.Guard(request); });
  LOK_RETURN_IF_ERROR(server_->Start());
  spdlog::info("gateway: listening on {}://{}:{}, producing to {} at {}",
               config.tls_cert_file.empty() ? "http" : "https", config.http_address,
               server_->port(), config.topic, config.brokers);
  return Status::Ok();
}

void GatewayService::Stop() {
  if (server_) server_->Stop();
}

GatewayService::~GatewayService() { Stop(); }

}  // namespace lok::service
