#include "service/lok_service.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/history.h"
#include "projections/retention.h"

namespace lok::service {

StatusOr<std::unique_ptr<LokService>> LokService::Start(const ServiceConfig& config) {
  std::unique_ptr<LokService> service(new LokService());
  LOK_RETURN_IF_ERROR(service->Open(config));
  return service;
}

Status LokService::Open(const ServiceConfig& config) {
  std::error_code error;
  std::filesystem::create_directories(config.data_dir, error);
  if (error) return UnavailableError("data dir " + config.data_dir + ": " + error.message());

  if (config.brokers.empty()) {
    LOK_ASSIGN_OR_RETURN(embedded_, log::EmbeddedLog::Open(config.data_dir + "/log", config.partitions));
    LOK_RETURN_IF_ERROR(embedded_->CreateTopic(config.topic, config.partitions));
    writer_ = embedded_.get();
    reader_ = embedded_->NewReader(config.topic);
    spdlog::info("lok: embedded log at {}/log, topic {} ({} partitions)", config.data_dir,
                 config.topic, config.partitions);
  } else {
    log::KafkaConfig kafka;
    kafka.brokers = config.brokers;
    kafka.properties = config.kafka_properties;
    for (const std::string& topic : {config.topic, log::DeadLetterTopic(config.topic)}) {
      Status created = log::CreateTopic(kafka, topic, config.partitions, std::chrono::seconds(30));
      if (!created.ok()) spdlog::warn("lok: could not ensure topic {}: {}", topic, created.ToString());
    }
    LOK_ASSIGN_OR_RETURN(kafka_writer_, log::KafkaLogWriter::Create(kafka));
    LOK_ASSIGN_OR_RETURN(reader_, log::KafkaLogReader::Create(kafka, config.topic, config.group_id));
    writer_ = kafka_writer_.get();
    spdlog::info("lok: Kafka at {}, topic {}", config.brokers, config.topic);
  }

  store::RocksStoreOptions store_options;
  store_options.sync_commits = config.sync_commits;
  LOK_ASSIGN_OR_RETURN(store_, store::RocksStore::Open(config.data_dir + "/state", store_options));

  projections_.push_back(std::make_unique<projections::FunnelProjection>());
  projections_.push_back(std::make_unique<projections::ConcentrationProjection>());
  projections_.push_back(std::make_unique<projections::RetentionProjection>(config.retention));
  projections_.push_back(std::make_unique<projections::HistoryProjection>());
  std::vector<projections::Projection*> projections;
  for (const auto& projection : projections_) projections.push_back(projection.get());
  engine::ProjectorOptions projector_options;
  projector_options.topic = config.topic;
  projector_options.max_batch = config.batch_size;
  projector_ = std::make_unique<engine::Projector>(*store_, *reader_, *writer_, projections,
                                                   projector_options, metrics_);

  if (!config.auth_file.empty()) {
    LOK_ASSIGN_OR_RETURN(auth_, api::Authenticator::FromFile(config.auth_file));
    spdlog::info("lok: API tokens from {}", config.auth_file);
  } else if (config.http_address == "127.0.0.1" || config.http_address == "localhost" ||
             config.http_address == "::1") {
    spdlog::warn("lok: no --auth-file: the API is open to anyone on this machine (loopback only)");
  } else {
    return FailedPreconditionError("--http " + config.http_address +
                                   ": serving beyond loopback needs --auth-file with API tokens");
  }
  context_.ingest.auth = &auth_;
  context_.ingest.writer = writer_;
  context_.ingest.topic = config.topic;
  context_.ingest.limits.max_event_bytes = config.max_event_bytes;
  context_.ingest.limits.max_events = config.max_events_per_request;
  context_.store = store_.get();
  context_.metrics = &metrics_;
  context_.reporting_currency = config.reporting_currency;
  context_.stage_probability = config.stage_probability;
  context_.concentration.reporting_currency = config.reporting_currency;
  context_.concentration.client_share_alert = config.client_share_alert;
  context_.concentration.hhi_moderate = config.hhi_moderate;
  context_.concentration.hhi_high = config.hhi_high;
  context_.retention.reporting_currency = config.reporting_currency;
  context_.retention.retention = config.retention;
  context_.web_root = config.web_root;
  http::ServerOptions server_options;
  server_options.address = config.http_address;
  server_options.port = config.http_port;
  server_options.threads = config.http_threads;
  server_options.max_body_bytes = config.max_body_bytes;
  server_options.read_timeout = config.http_read_timeout;
  server_options.tls_cert_file = config.tls_cert_file;
  server_options.tls_key_file = config.tls_key_file;
  server_ = std::make_unique<http::Server>(server_options);
  api::RegisterRoutes(*server_, context_);
  admin_context_.store = store_.get();
  admin_context_.projections = projections;
  admin_context_.topic = config.topic;
  admin_context_.scratch_dir = config.data_dir + "/verify-scratch";
  if (embedded_) {
    admin_context_.new_reader = [this, topic = config.topic]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      return embedded_->NewReader(topic);
    };
  } else {
    log::KafkaConfig kafka;
    kafka.brokers = config.brokers;
    kafka.properties = config.kafka_properties;
    admin_context_.new_reader = [kafka, topic = config.topic,
                                 group = config.group_id + ".verify"]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::KafkaLogReader> reader,
                           log::KafkaLogReader::Create(kafka, topic, group));
      return std::unique_ptr<log::LogReader>(std::move(reader));
    };
  }
  api::RegisterAdminRoutes(*server_, admin_context_);
  dlq_context_.writer = writer_;
  dlq_context_.topic = config.topic;
  dlq_context_.store = store_.get();
  if (embedded_) {
    dlq_context_.new_dlq_reader = [this, topic = log::DeadLetterTopic(config.topic)]()
        -> StatusOr<std::unique_ptr<log::LogReader>> { return embedded_->NewReader(topic); };
  } else {
    log::KafkaConfig kafka;
    kafka.brokers = config.brokers;
    kafka.properties = config.kafka_properties;
    dlq_context_.new_dlq_reader =
        [kafka, topic = log::DeadLetterTopic(config.topic),
         group = config.group_id + ".dlq-admin"]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::KafkaLogReader> reader,
                           log::KafkaLogReader::Create(kafka, topic, group));
      return std::unique_ptr<log::LogReader>(std::move(reader));
    };
  }
  api::RegisterDlqRoutes(*server_, dlq_context_);
  server_->SetGuard([this](http::Request& request) { return auth_.Guard(request); });
  LOK_RETURN_IF_ERROR(server_->Start());
  spdlog::info("lok: listening on {}://{}:{}", config.tls_cert_file.empty() ? "http" : "https",
               config.http_address, server_->port());

  projector_thread_ = std::jthread([this](std::stop_token stop) { projector_->Run(stop); });
  return Status::Ok();
}

void LokService::Stop() {
  if (server_) server_->Stop();
  if (projector_thread_.joinable()) {
    projector_thread_.request_stop();
    projector_thread_.join();
  }
}

LokService::~LokService() { Stop(); }

}  // namespace lok::service
