#include "api/query_api.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <boost/json.hpp>
#include <set>

#include "api/admin_api.h"
#include "api/client_card_api.h"
#include "api/history_api.h"
#include "api/proto_json.h"
#include "api/query_params.h"
#include "api/read_view.h"
#include "api/static_files.h"
#include "engine/projector.h"
#include "engine/projector_metrics.h"
#include "projections/funnel.h"

namespace lok::api {
namespace {

http::Response ProtoJson(const google::protobuf::Message& message) {
  http::Response response;
  if (!AppendProtoJson(message, response.body)) {
    return http::JsonError(500, "the answer could not be rendered as JSON");
  }
  return response;
}

http::Response PlainText(int status, std::string body, std::string content_type = "text/plain") {
  http::Response response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

// lok_http_request_duration_seconds: one histogram per route that answered.
void AppendHttpLatencies(const std::vector<http::RouteLatency>& latencies, std::string& out) {
  constexpr std::string_view kName = "lok_http_request_duration_seconds";
  out += fmt::format(
      "# HELP {0} Time from a request read completely to its response written, per route "
      "(route \"\": requests no route matched).\n# TYPE {0} histogram\n",
      kName);
  for (const http::RouteLatency& latency : latencies) {
    const std::string labels =
        fmt::format("method=\"{}\",route=\"{}\"", engine::PrometheusLabelValue(latency.method),
                    engine::PrometheusLabelValue(latency.route));
    engine::AppendPrometheusHistogram(out, kName, labels, http::LatencyBucketBounds(),
                                      latency.cumulative, latency.count, latency.sum_seconds);
  }
}

}  // namespace

http::Response HandleFunnel(const ApiContext& context, const http::Request& request) {
  ParamSpec spec;
  spec.breakdowns = {Breakdown::kSalesperson, Breakdown::kRegion, Breakdown::kProduct,
                     Breakdown::kMonth, Breakdown::kQuarter};
  spec.extra = {"mode"};
  spec.as_of = true;
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, context.reporting_currency);
  if (!params.ok()) return http::JsonError(400, params.status().message());
  projections::FunnelQuery query;
  StatusOr<projections::FunnelMode> mode = FunnelModeOf(*params);
  if (!mode.ok()) return http::JsonError(400, mode.status().message());
  query.mode = *mode;
  query.from_day = params->from_day;
  query.to_day = params->to_day;
  query.salesperson = params->salesperson;
  query.region = params->region;
  query.product = params->product;
  query.client = params->client;
  query.currency = params->currency;
  query.stage_probability = context.stage_probability;
  switch (params->by) {
    case Breakdown::kNone:
      query.by = projections::FunnelBreakdown::kNone;
      break;
    case Breakdown::kSalesperson:
      query.by = projections::FunnelBreakdown::kSalesperson;
      break;
    case Breakdown::kRegion:
      query.by = projections::FunnelBreakdown::kRegion;
      break;
    case Breakdown::kProduct:
      query.by = projections::FunnelBreakdown::kProduct;
      break;
    case Breakdown::kMonth:
      query.by = projections::FunnelBreakdown::kMonth;
      break;
    case Breakdown::kQuarter:
      query.by = projections::FunnelBreakdown::kQuarter;
      break;
  }

  StatusOr<ReadView> view = OpenReadView(*context.store, context.as_of, request, {"funnel"});
  if (!view.ok()) return ReadViewError(view.status());
  const store::KeyValueReader* snapshot = view->snapshot.get();
  StatusOr<lok::v1::FunnelResponse> funnel = projections::QueryFunnel(*snapshot, query);
  if (!funnel.ok()) {
    return http::JsonError(http::HttpStatusFor(funnel.status()), funnel.status().message());
  }
  funnel->set_by(std::string(BreakdownName(params->by)));
  StatusOr<log::PartitionOffsets> positions = engine::ReadPositions(*snapshot);
  if (!positions.ok()) {
    return http::JsonError(http::HttpStatusFor(positions.status()), positions.status().message());
  }
  for (const auto& [partition, offset] : *positions) {
    (*funnel->mutable_offsets())[partition] = offset;
  }
  return AnnotateAsOf(ProtoJson(*funnel), *view);
}

void RegisterRoutes(http::Server& server, const ApiContext& context) {
  server.Handle("GET", "/v1/funnel", [&context](const http::Request& request) {
    return HandleFunnel(context, request);
  });
  server.Handle("GET", "/v1/concentration", [&context](const http::Request& request) {
    return WithReadView(*context.store, context.as_of, request, {"concentration"},
                        [&](const store::KeyValueReader& snapshot) {
                          return HandleConcentration(snapshot, request, context.concentration);
                        });
  });
  server.Handle("GET", "/v1/retention", [&context](const http::Request& request) {
    return WithReadView(*context.store, context.as_of, request, {"retention"},
                        [&](const store::KeyValueReader& snapshot) {
                          return HandleRetention(snapshot, request, context.retention);
                        });
  });
  server.Handle("GET", "/v1/clients/*", [&context](const http::Request& request) {
    if (IsHistoryPath(request.path)) {
      std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
      return HandleHistory(*snapshot, request);
    }
    return WithReadView(*context.store, context.as_of, request,
                        {"funnel", "concentration", "retention"},
                        [&](const store::KeyValueReader& snapshot) {
                          return HandleClientCard(snapshot, request, context.retention);
                        });
  });
  server.Handle("GET", "/v1/deals/*", [&context](const http::Request& request) {
    std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
    return HandleHistory(*snapshot, request);
  });
  RegisterIngestRoutes(server, context.ingest);
  server.Handle("GET", "/healthz", [](const http::Request&) {
    return PlainText(200, "{\"status\":\"ok\"}", "application/json");
  });
  server.Handle("GET", "/readyz", [&context](const http::Request&) {
    const bool ready = context.metrics->caught_up();
    boost::json::object body{{"status", ready ? "ready" : "catching up with the log"}};
    // A background rebuild does not make the node unready: it serves the
    // current read models, complete up to its position, meanwhile.
    if (context.rebuilder != nullptr) {
      const engine::RebuildProgress progress = context.rebuilder->Progress();
      if (IsRebuilding(progress)) body["rebuilding"] = RebuildProgressJson(progress);
    }
    return PlainText(ready ? 200 : 503, boost::json::serialize(body), "application/json");
  });
  server.Handle("GET", "/metrics", [&context, &server](const http::Request&) {
    std::string text = context.metrics->RenderPrometheus();
    if (context.rebuilder != nullptr) text += context.rebuilder->RenderPrometheus();
    if (context.as_of != nullptr) text += context.as_of->RenderPrometheus();
    if (context.store != nullptr) {
      const store::RocksStore::CacheUsage caches = context.store->Current()->Caches();
      engine::AppendPrometheusSample(text, "gauge", "lok_store_block_cache_bytes",
                                     "Bytes in the live store's RocksDB block cache.",
                                     static_cast<int64_t>(caches.block_bytes));
      engine::AppendPrometheusSample(text, "gauge", "lok_store_row_cache_bytes",
                                     "Bytes in the live store's RocksDB row cache (--row-cache-mb).",
                                     static_cast<int64_t>(caches.row_bytes));
    }
    AppendHttpLatencies(server.Latencies(), text);
    return PlainText(200, std::move(text), "text/plain; version=0.0.4");
  });
  if (!context.web_root.empty()) RegisterStaticFiles(server, context.web_root);
}

}  // namespace lok::api
