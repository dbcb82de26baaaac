#include "api/admin_api.h"

#include <boost/json.hpp>

#include <mutex>

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

void RegisterAdminRoutes(http::Server& server, const AdminContext& context) {
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
