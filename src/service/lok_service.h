// A whole Lok node in one object: the log (embedded or Kafka), the store,
// the projections, the projector thread and the HTTP API. lokd is flags plus
// this; benchmarks and tests start it in-process.
//
// Thread-safety: Start and Stop from one thread; the accessors may be used
// from any thread while it runs.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/admin_api.h"
#include "api/dlq_api.h"
#include "api/parked_api.h"
#include "api/explain_api.h"
#include "api/query_api.h"
#include "base/status.h"
#include "engine/as_of.h"
#include "engine/checkpoints.h"
#include "engine/projector.h"
#include "engine/projector_runner.h"
#include "engine/rebuild.h"
#include "http/http_server.h"
#include "log/embedded_log.h"
#include "log/kafka_log.h"
#include "projections/projection.h"
#include "projections/retention.h"
#include "store/live_store.h"
#include "store/rocks_store.h"
#include "store/store_generations.h"

namespace lok::service {

struct ServiceConfig {
  std::string data_dir = "./lok-data";
  std::string http_address = "127.0.0.1";
  uint16_t http_port = 8080;  // 0: any free port
  int http_threads = 2;
  // Ingest limits (POST /v1/events): a larger body is refused with 413, a
  // larger event is rejected on its own, more events fail the body with 413.
  size_t max_body_bytes = 64 * 1024 * 1024;
  size_t max_event_bytes = 64 * 1024;
  size_t max_events_per_request = 100000;
  // The longest a client may take to send one request (408 after that).
  std::chrono::seconds http_read_timeout{30};
  // Optional TLS on the HTTP listener: PEM certificate chain and private key.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string brokers;  // empty: the embedded log in data_dir/log
  std::map<std::string, std::string> kafka_properties;
  std::string topic = "lok.events";
  std::string group_id = "lokd";
  int32_t partitions = 8;
  size_t batch_size = 2000;
  bool sync_commits = false;
  // Queries before catch-up: the projector thread's nice value (0-19; 0 =
  // normal priority). Above 0 it also runs RocksDB's compactions at nice 19.
  // The projector then takes only the CPU that HTTP requests leave idle.
  int projector_nice = 10;
  // The live store's RocksDB caches (store/rocks_store.h): uncompressed
  // blocks, and rows for point reads. A rebuild's new generation gets its own.
  size_t block_cache_bytes = size_t{256} << 20;
  size_t row_cache_bytes = size_t{256} << 20;
  std::string reporting_currency = "USD";
  std::array<double, 3> stage_probability = {0.10, 0.25, 0.50};
  double client_share_alert = 0.20;
  double hhi_moderate = 1500;
  double hhi_high = 2500;
  // Who counts as a regular client and when they need attention. Changing
  // these needs a rebuild of the retention read model (its index uses them).
  projections::RetentionSettings retention;
  // The built dashboard (web/dist) served at /; empty: no dashboard.
  std::string web_root;
  // Bearer tokens (api/auth.h). Empty: no authentication, which is allowed
  // only on a loopback address.
  std::string auth_file;
  // When the read models are checkpointed (the bases of asOf/knownAt
  // answers, engine/checkpoints.h) and how many read models built for
  // asOf/knownAt queries are cached.
  engine::CheckpointPolicy checkpoints;
  size_t as_of_cache_entries = 4;
  std::chrono::seconds as_of_reuse{300};  // engine::AsOfConfig::reuse_for_now
  // Overrides a projection's code version by name (tests of the version
  // check; lokd --projection-version NAME=N). Empty: the code's versions.
  std::map<std::string, int> projection_versions;
};

class LokService {
 public:
  // Opens the log and the store, starts the projector thread and the HTTP
  // server. Errors: kUnavailable (database locked, port in use, broker),
  // kInvalidArgument (bad Kafka property).
  static StatusOr<std::unique_ptr<LokService>> Start(const ServiceConfig& config);
  ~LokService();  // stops

  // Stops HTTP, then the projector; idempotent.
  void Stop();

  uint16_t port() const { return server_->port(); }
  // The HTTP server's per-route request durations (http::Server::Latencies).
  std::vector<http::RouteLatency> HttpLatencies() const { return server_->Latencies(); }
  log::LogWriter& writer() { return *writer_; }
  // The current read-model store (a rebuild may switch it).
  store::LiveStore& store() { return *live_store_; }
  engine::Rebuilder& rebuilder() { return *rebuilder_; }
  engine::AsOfStores& as_of() { return *as_of_; }
  // The checkpoints of the store in `store_dir` (created on first use);
  // nullptr when its directory cannot be opened.
  engine::CheckpointKeeper* KeeperFor(const std::string& store_dir);
  engine::ProjectorMetrics& metrics() { return metrics_; }

 private:
  LokService() = default;
  Status Open(const ServiceConfig& config);

  std::unique_ptr<log::EmbeddedLog> embedded_;
  std::unique_ptr<log::KafkaLogWriter> kafka_writer_;
  std::unique_ptr<log::LogReader> reader_;
  log::LogWriter* writer_ = nullptr;
  std::unique_ptr<store::StoreGenerations> generations_;
  std::unique_ptr<store::LiveStore> live_store_;
  engine::ProjectorMetrics metrics_;
  std::vector<std::unique_ptr<projections::Projection>> projections_;
  std::unique_ptr<engine::ProjectorRunner> runner_;
  std::unique_ptr<engine::Rebuilder> rebuilder_;
  engine::CheckpointPolicy checkpoint_policy_;
  std::mutex keepers_mutex_;
  std::map<std::string, std::unique_ptr<engine::CheckpointKeeper>> keepers_;
  std::unique_ptr<engine::AsOfStores> as_of_;
  api::Authenticator auth_;
  api::ApiContext context_;
  api::AdminContext admin_context_;
  api::DlqContext dlq_context_;
  api::ParkedContext parked_context_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace lok::service
