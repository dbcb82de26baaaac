#include "api/query_api.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <set>

#include "api/admin_api.h"
#include "api/client_card_api.h"
#include "api/history_api.h"
#include "api/query_params.h"
#include "api/static_files.h"
#include "engine/projector.h"
#include "events/ndjson.h"
#include "projections/funnel.h"

namespace lok::api {
namespace {

// 400 naming the first query parameter the endpoint does not take.
std::optional<http::Response> RejectUnknownParameters(const http::Request& request,
                                                      const std::set<std::string>& allowed) {
  for (const auto& [name, value] : request.query) {
    if (!allowed.contains(name)) {
      std::string known;
      for (const std::string& parameter : allowed) known += (known.empty() ? "" : ", ") + parameter;
      return http::JsonError(
          400, "unknown query parameter '" + name + "'" +
                   (known.empty() ? "; this endpoint takes none" : "; allowed: " + known));
    }
  }
  return std::nullopt;
}

http::Response ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  http::Response response;
  (void)google::protobuf::util::MessageToJsonString(message, &response.body, options);
  return response;
}

http::Response PlainText(int status, std::string body, std::string content_type = "text/plain") {
  http::Response response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

}  // namespace

http::Response HandleFunnel(const ApiContext& context, const http::Request& request) {
  ParamSpec spec;
  spec.breakdowns = {Breakdown::kSalesperson, Breakdown::kRegion, Breakdown::kProduct,
                     Breakdown::kMonth, Breakdown::kQuarter};
  spec.extra = {"mode"};
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, context.reporting_currency);
  if (!params.ok()) return http::JsonError(400, params.status().message());
  projections::FunnelQuery query;
  if (auto mode = params->extra.find("mode"); mode != params->extra.end()) {
    if (mode->second != "cohort" && mode->second != "period") {
      return http::JsonError(400, "mode: must be cohort or period, got '" + mode->second + "'");
    }
    query.mode = mode->second == "period" ? projections::FunnelMode::kPeriod
                                          : projections::FunnelMode::kCohort;
  }
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

  std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
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
  return ProtoJson(*funnel);
}

http::Response HandleIngest(const ApiContext& context, const http::Request& request) {
  if (auto rejected = RejectUnknownParameters(request, {"partial"})) return *rejected;
  bool partial = false;
  if (auto value = request.QueryParam("partial")) {
    if (*value != "true" && *value != "false") {
      return http::JsonError(400, "query parameter 'partial': must be true or false");
    }
    partial = *value == "true";
  }
  events::ParsedBatch batch = events::ParseNdjson(request.body);
  // A publishing token may publish only its own sources and event types.
  if (const TokenGrant* caller =
          context.auth == nullptr ? nullptr : context.auth->CallerOf(request)) {
    boost::json::array refused;
    for (size_t index = 0; index < batch.events.size(); ++index) {
      if (auto reason = Authenticator::RefusalFor(*caller, batch.events[index])) {
        refused.push_back(
            boost::json::object{{"line", batch.event_lines[index]}, {"reason", *reason}});
      }
    }
    if (!refused.empty()) {
      http::Response response =
          http::JsonError(403, "token '" + caller->name +
                                   "' may not publish some of these events; nothing was appended");
      boost::json::object body = boost::json::parse(response.body).as_object();
      body["refused"] = std::move(refused);
      response.body = boost::json::serialize(body);
      return response;
    }
  }
  const size_t lines = batch.events.size() + batch.rejected.size();
  if (lines > context.max_events_per_request) {
    return http::JsonError(413, "body: " + std::to_string(lines) + " events, at most " +
                                    std::to_string(context.max_events_per_request) +
                                    " per request");
  }

  boost::json::object body;
  boost::json::array rejected;
  for (const auto& line : batch.rejected) {
    rejected.push_back(boost::json::object{{"line", line.line}, {"reason", line.reason}});
  }
  const bool append = batch.rejected.empty() || partial;
  size_t appended = 0;
  if (append && !batch.events.empty()) {
    std::vector<log::OutgoingRecord> records;
    records.reserve(batch.events.size());
    for (const auto& event : batch.events) {
      records.push_back({event.client_id(), event.SerializeAsString(), {}});
    }
    auto positions = context.writer->Append(context.topic, std::move(records));
    if (!positions.ok()) {
      spdlog::error("ingest: append failed: {}", positions.status().ToString());
      return http::JsonError(
          http::HttpStatusFor(positions.status()),
          "append to the log failed, nothing acknowledged: " + positions.status().message());
    }
    appended = positions->size();
    // The next offset per partition after this batch: a client waits until
    // GET /v1/funnel reports offsets at least these to read its own writes.
    boost::json::object offsets;
    for (const log::Position& position : *positions) {
      const std::string partition = std::to_string(position.partition);
      const int64_t next = position.offset + 1;
      if (!offsets.contains(partition) || offsets[partition].as_int64() < next) {
        offsets[partition] = next;
      }
    }
    body["offsets"] = std::move(offsets);
  }
  body["appended"] = appended;
  body["rejected"] = std::move(rejected);
  body["lines"] = lines;
  if (!append) {
    body["error"] =
        "some lines are invalid; nothing was appended (use ?partial=true to append "
        "the valid lines)";
  }
  http::Response response;
  response.status = append ? 200 : 422;
  response.body = boost::json::serialize(body);
  return response;
}

void RegisterRoutes(http::Server& server, const ApiContext& context) {
  server.Handle("GET", "/v1/funnel", [&context](const http::Request& request) {
    return HandleFunnel(context, request);
  });
  server.Handle("GET", "/v1/concentration", [&context](const http::Request& request) {
    std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
    return HandleConcentration(*snapshot, request, context.concentration);
  });
  server.Handle("GET", "/v1/retention", [&context](const http::Request& request) {
    std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
    return HandleRetention(*snapshot, request, context.retention);
  });
  server.Handle("GET", "/v1/clients/*", [&context](const http::Request& request) {
    std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
    if (IsHistoryPath(request.path)) return HandleHistory(*snapshot, request);
    return HandleClientCard(*snapshot, request, context.retention);
  });
  server.Handle("GET", "/v1/deals/*", [&context](const http::Request& request) {
    std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
    return HandleHistory(*snapshot, request);
  });
  server.Handle("POST", "/v1/events", [&context](const http::Request& request) {
    return HandleIngest(context, request);
  });
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
  server.Handle("GET", "/metrics", [&context](const http::Request&) {
    std::string text = context.metrics->RenderPrometheus();
    if (context.rebuilder != nullptr) text += context.rebuilder->RenderPrometheus();
    return PlainText(200, std::move(text), "text/plain; version=0.0.4");
  });
  if (!context.web_root.empty()) RegisterStaticFiles(server, context.web_root);
}

}  // namespace lok::api
