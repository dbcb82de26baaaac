#include "service/lok_service.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "api/restatement_api.h"
#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/history.h"
#include "projections/provenance.h"
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
  store_options.low_priority_compactions = config.projector_nice > 0;
  store_options.block_cache_bytes = config.block_cache_bytes;
  store_options.row_cache_bytes = config.row_cache_bytes;
  generations_ = std::make_unique<store::StoreGenerations>(config.data_dir);
  LOK_ASSIGN_OR_RETURN(int generation, generations_->Current());
  LOK_ASSIGN_OR_RETURN(std::unique_ptr<store::RocksStore> opened,
                       store::RocksStore::Open(generations_->PathOf(generation), store_options));
  std::shared_ptr<store::RocksStore> store = std::move(opened);
  spdlog::info("lok: read models in {} (store generation {})", generations_->PathOf(generation),
               generation);

  projections_.push_back(std::make_unique<projections::FunnelProjection>());
  projections_.push_back(std::make_unique<projections::ConcentrationProjection>());
  projections_.push_back(std::make_unique<projections::RetentionProjection>(config.retention));
  projections_.push_back(std::make_unique<projections::HistoryProjection>());
  projections_.push_back(std::make_unique<projections::ProvenanceIndex>());
  std::vector<projections::Projection*> projections;
  for (const auto& projection : projections_) projections.push_back(projection.get());
  engine::ProjectorOptions projector_options;
  projector_options.topic = config.topic;
  projector_options.max_batch = config.batch_size;
  checkpoint_policy_ = config.checkpoints;
  projector_options.on_commit = [this](store::RocksStore& written,
                                       const engine::CommittedBatch& batch) {
    if (engine::CheckpointKeeper* keeper = KeeperFor(written.path())) {
      keeper->AfterCommit(written, batch);
    }
  };
  runner_ = std::make_unique<engine::ProjectorRunner>(
      *reader_, *writer_, projections, projector_options, metrics_, config.projector_nice);

  // Which read models were built by other code versions than this one's.
  const engine::ProjectionVersions versions =
      engine::VersionsOf(projections, config.projection_versions);
  for (const auto& [name, version] : config.projection_versions) {
    if (!versions.contains(name)) {
      return InvalidArgumentError("projection version override: unknown projection '" + name + "'");
    }
  }
  LOK_ASSIGN_OR_RETURN(std::vector<std::string> stale, engine::StaleProjections(*store, versions));
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets stored_positions, engine::ReadPositions(*store));
  if (stored_positions.empty()) LOK_RETURN_IF_ERROR(engine::RecordVersions(*store, versions));
  live_store_ = std::make_unique<store::LiveStore>(store);

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
  context_.store = live_store_.get();
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
  api::RegisterExplainRoutes(*server_, context_);
  admin_context_.store = live_store_.get();
  admin_context_.projections = projections;
  admin_context_.topic = config.topic;
  admin_context_.scratch_dir = config.data_dir + "/verify-scratch";
  // A fresh reader of the events topic, for verification and rebuilds.
  auto reader_factory = [&](const std::string& purpose) -> engine::ReaderFactory {
    if (embedded_) {
      return [this, topic = config.topic]() -> StatusOr<std::unique_ptr<log::LogReader>> {
        return embedded_->NewReader(topic);
      };
    }
    log::KafkaConfig kafka;
    kafka.brokers = config.brokers;
    kafka.properties = config.kafka_properties;
    return [kafka, topic = config.topic,
            group =
                config.group_id + "." + purpose]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::KafkaLogReader> reader,
                           log::KafkaLogReader::Create(kafka, topic, group));
      return std::unique_ptr<log::LogReader>(std::move(reader));
    };
  };
  admin_context_.new_reader = reader_factory("verify");
  engine::RebuildConfig rebuild_config;
  rebuild_config.live = live_store_.get();
  rebuild_config.generations = generations_.get();
  rebuild_config.runner = runner_.get();
  rebuild_config.projections = projections;
  rebuild_config.versions = versions;
  rebuild_config.new_reader = reader_factory("rebuild");
  rebuild_config.topic = config.topic;
  rebuild_config.store_options = store_options;
  rebuild_config.full_rebuild_hooks.on_commit = projector_options.on_commit;
  rebuild_config.thread_nice = config.projector_nice;
  rebuilder_ = std::make_unique<engine::Rebuilder>(std::move(rebuild_config));
  engine::AsOfConfig as_of_config;
  as_of_config.cache_dir = config.data_dir + "/as-of-cache";
  as_of_config.cache_entries = config.as_of_cache_entries;
  as_of_config.reuse_for_now = config.as_of_reuse;
  as_of_config.new_reader = reader_factory("as-of");
  as_of_config.topic = config.topic;
  as_of_config.projections = projections;
  as_of_config.checkpoints = [this]() { return KeeperFor(live_store_->Current()->path()); };
  as_of_ = std::make_unique<engine::AsOfStores>(std::move(as_of_config));
  context_.as_of = as_of_.get();
  admin_context_.checkpoints = [this]() { return KeeperFor(live_store_->Current()->path()); };
  context_.new_reader = reader_factory("restatements");
  api::RegisterRestatementRoutes(*server_, context_);
  admin_context_.rebuilder = rebuilder_.get();
  context_.rebuilder = rebuilder_.get();
  api::RegisterAdminRoutes(*server_, admin_context_);
  dlq_context_.writer = writer_;
  dlq_context_.topic = config.topic;
  dlq_context_.store = live_store_.get();
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
  parked_context_.with_projector =
      [runner = runner_.get()](const std::function<Status(engine::Projector&)>& action) {
        return runner->WithProjector(action);
      };
  parked_context_.store = live_store_.get();
  api::RegisterParkedRoutes(*server_, parked_context_);
  server_->SetGuard([this](http::Request& request) { return auth_.Guard(request); });
  LOK_RETURN_IF_ERROR(server_->Start());
  spdlog::info("lok: listening on {}://{}:{}", config.tls_cert_file.empty() ? "http" : "https",
               config.http_address, server_->port());

  runner_->Start(std::move(store));
  if (!stale.empty()) {
    spdlog::warn(
        "lok: read models {} were built by another projection version; rebuilding them "
        "in the background while serving the stored ones (GET /readyz, /v1/admin/rebuild)",
        fmt::join(stale, ", "));
    LOK_RETURN_IF_ERROR(rebuilder_->Start(stale, "projection version changed"));
  }
  return Status::Ok();
}

engine::CheckpointKeeper* LokService::KeeperFor(const std::string& store_dir) {
  std::lock_guard lock(keepers_mutex_);
  auto found = keepers_.find(store_dir);
  if (found != keepers_.end()) return found->second.get();
  StatusOr<std::unique_ptr<engine::CheckpointKeeper>> keeper =
      engine::CheckpointKeeper::Open(engine::CheckpointDirOf(store_dir), checkpoint_policy_);
  if (!keeper.ok()) {
    spdlog::warn("lok: checkpoints of {}: {}", store_dir, keeper.status().ToString());
    return nullptr;
  }
  return keepers_.emplace(store_dir, std::move(*keeper)).first->second.get();
}

void LokService::Stop() {
  if (server_) server_->Stop();
  if (rebuilder_) rebuilder_->Cancel();
  if (runner_) (void)runner_->Stop();
}

LokService::~LokService() { Stop(); }

}  // namespace lok::service
