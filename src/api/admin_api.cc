#include "api/admin_api.h"

#include <boost/json.hpp>

#include <mutex>

#include "api/query_params.h"
#include "engine/projector.h"

namespace lok::api {
namespace {

boost::json::object OffsetsJson(const log::PartitionOffsets& offsets) {
  boost::json::object json;
  for (const auto& [partition, offset] : offsets) json[std::to_string(partition)] = offset;
  return json;
}

boost::json::object DigestJson(const engine::ModelDigest& digest) {
  return {{"model", digest.name},
          {"sha256", digest.sha256},
          {"keys", digest.keys},
          {"orderIndependent", digest.order_independent}};
}

http::Response Json(int status, const boost::json::object& body) {
  http::Response response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

http::Response HandleDigests(const AdminContext& context, const http::Request& request) {
  if (!request.query.empty()) return http::JsonError(400, "unknown query parameter '" + request.query[0].first + "'; this endpoint takes none");
  std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
  auto offsets = engine::ReadPositions(*snapshot);
  if (!offsets.ok()) return http::JsonError(500, offsets.status().message());
  boost::json::array models;
  for (const projections::Projection* projection : context.projections) {
    auto digest = engine::DigestModel(*snapshot, *projection);
    if (!digest.ok()) return http::JsonError(500, digest.status().message());
    models.push_back(DigestJson(*digest));
  }
  return Json(200, {{"offsets", OffsetsJson(*offsets)}, {"models", std::move(models)}});
}

http::Response HandleVerify(const AdminContext& context, const http::Request& request) {
  if (!request.query.empty()) return http::JsonError(400, "unknown query parameter '" + request.query[0].first + "'; this endpoint takes none");
  // One verification at a time: each builds a full scratch copy.
  static std::mutex running;
  std::unique_lock lock(running, std::try_to_lock);
  if (!lock.owns_lock()) return http::JsonError(409, "a verification is already running");
  std::shared_ptr<store::RocksStore> live = context.store->Current();
  auto report = engine::VerifyByReplay(*live, context.new_reader, context.projections,
                                       context.topic, context.scratch_dir, context.verify_deadline);
  if (!report.ok()) {
    return http::JsonError(report.status().code() == StatusCode::kDeadlineExceeded ? 504 : 500,
                           report.status().message());
  }
  boost::json::array models;
  for (const engine::ModelComparison& comparison : report->models) {
    boost::json::array differences;
    for (const std::string& key : comparison.first_differences) differences.push_back(boost::json::value(key));
    models.push_back({{"model", comparison.name},
                      {"match", comparison.match},
                      {"live", DigestJson(comparison.live)},
                      {"replayed", DigestJson(comparison.replayed)},
                      {"firstDifferences", std::move(differences)}});
  }
  return Json(report->ok() ? 200 : 409, {{"ok", report->ok()},
                                         {"offsets", OffsetsJson(report->offsets)},
                                         {"recordsReplayed", report->records_replayed},
                                         {"models", std::move(models)}});
}

http::Response ProgressResponse(int status, const engine::Rebuilder& rebuilder) {
  return Json(status, RebuildProgressJson(rebuilder.Progress()));
}

http::Response HandleStartRebuild(const AdminContext& context, const http::Request& request) {
  std::vector<std::string> names;
  for (const auto& [name, value] : request.query) {
    if (name != "projection") {
      return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: projection");
    }
    size_t begin = 0;
    while (begin <= value.size()) {
      const size_t comma = std::min(value.find(',', begin), value.size());
      if (comma == begin) {
        return http::JsonError(400,
                               "projection: expected comma-separated names, got '" + value + "'");
      }
      names.push_back(value.substr(begin, comma - begin));
      begin = comma + 1;
    }
  }
  Status started = context.rebuilder->Start(names, "requested");
  if (!started.ok()) {
    return http::JsonError(
        started.code() == StatusCode::kFailedPrecondition ? 409 : http::HttpStatusFor(started),
        started.message());
  }
  return ProgressResponse(202, *context.rebuilder);
}

http::Response HandleDropOld(const AdminContext& context, const http::Request& request) {
  if (!request.query.empty())
    return http::JsonError(
        400, "unknown query parameter '" + request.query[0].first + "'; this endpoint takes none");
  auto dropped = context.rebuilder->DropOld();
  if (!dropped.ok()) {
    return http::JsonError(dropped.status().code() == StatusCode::kFailedPrecondition
                               ? 409
                               : http::HttpStatusFor(dropped.status()),
                           dropped.status().message());
  }
  boost::json::array generations;
  for (int generation : *dropped) generations.push_back(generation);
  return Json(200, {{"dropped", std::move(generations)}});
}

}  // namespace

bool IsRebuilding(const engine::RebuildProgress& progress) {
  return progress.state == engine::RebuildState::kReplaying ||
         progress.state == engine::RebuildState::kSwitching;
}

boost::json::object RebuildProgressJson(const engine::RebuildProgress& progress) {
  boost::json::array projections;
  for (const std::string& name : progress.projections)
    projections.push_back(boost::json::value(name));
  boost::json::array old_generations;
  for (int generation : progress.old_generations) old_generations.push_back(generation);
  boost::json::object json{{"state", std::string(engine::RebuildStateName(progress.state))},
                           {"reason", progress.reason},
                           {"projections", std::move(projections)},
                           {"generation", progress.generation},
                           {"currentGeneration", progress.current_generation},
                           {"recordsReplayed", progress.records_replayed},
                           {"recordsTarget", progress.records_target},
                           {"fraction", progress.fraction},
                           {"eventsPerSecond", progress.events_per_second},
                           {"etaSeconds", progress.eta_seconds},
                           {"oldGenerations", std::move(old_generations)}};
  if (!progress.error.empty()) json["error"] = progress.error;
  return json;
}

namespace {

boost::json::object CheckpointJson(const engine::CheckpointInfo& info) {
  boost::json::object positions;
  for (const auto& [partition, offset] : info.positions) positions[std::to_string(partition)] = offset;
  const auto instant = [](int64_t ms) -> boost::json::value {
    if (ms == INT64_MIN || ms == INT64_MAX) return nullptr;  // none / unknown
    return boost::json::string(FormatInstant(ms));
  };
  return {{"id", info.id},
          {"records", info.records},
          {"offsets", std::move(positions)},
          {"maxOccurredAt", instant(info.max_occurred_ms)},
          {"lastRecordAt", instant(info.max_record_ms)},
          {"minOccurredSincePrevious", instant(info.min_occurred_since_previous_ms)},
          {"createdAt", instant(info.created_ms)}};
}

// GET lists the current store's checkpoints; POST takes one now (e.g. to
// pin what was reported at a deadline).
http::Response HandleCheckpoints(const AdminContext& context, const http::Request& request) {
  if (!request.query.empty()) {
    return http::JsonError(400, "unknown query parameter '" + request.query[0].first +
                                    "'; this endpoint takes none");
  }
  std::shared_ptr<store::RocksStore> current = context.store->Current();
  engine::CheckpointKeeper* keeper = context.checkpoints();
  if (keeper == nullptr) return http::JsonError(503, "checkpoints: unavailable (see lokd's log)");
  http::Response response;
  response.content_type = "application/json";
  if (request.method == "POST") {
    StatusOr<engine::CheckpointInfo> taken = keeper->Take(*current, INT64_MIN);
    if (!taken.ok()) return http::JsonError(http::HttpStatusFor(taken.status()), taken.status().message());
    response.status = 201;
    response.body = boost::json::serialize(CheckpointJson(*taken));
    return response;
  }
  boost::json::array list;
  for (const engine::CheckpointInfo& info : keeper->List()) list.push_back(CheckpointJson(info));
  response.body = boost::json::serialize(boost::json::object{{"checkpoints", std::move(list)}});
  return response;
}

}  // namespace

void RegisterAdminRoutes(http::Server& server, const AdminContext& context) {
  if (context.checkpoints) {
    for (const char* method : {"GET", "POST"}) {
      server.Handle(method, "/v1/admin/checkpoints", [&context](const http::Request& request) {
        return HandleCheckpoints(context, request);
      });
    }
  }
  server.Handle("GET", "/v1/admin/digests",
                [&context](const http::Request& request) { return HandleDigests(context, request); });
  server.Handle("POST", "/v1/admin/verify",
                [&context](const http::Request& request) { return HandleVerify(context, request); });
  if (context.rebuilder == nullptr) return;
  server.Handle("POST", "/v1/admin/rebuild", [&context](const http::Request& request) {
    return HandleStartRebuild(context, request);
  });
  server.Handle("GET", "/v1/admin/rebuild", [&context](const http::Request& request) {
    if (!request.query.empty())
      return http::JsonError(400, "unknown query parameter '" + request.query[0].first +
                                      "'; this endpoint takes none");
    return ProgressResponse(200, *context.rebuilder);
  });
  server.Handle("DELETE", "/v1/admin/rebuild/old", [&context](const http::Request& request) {
    return HandleDropOld(context, request);
  });
}

}  // namespace lok::api
