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
  auto report = engine::VerifyByReplay(*context.store, context.new_reader, context.projections,
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

}  // namespace

void RegisterAdminRoutes(http::Server& server, const AdminContext& context) {
  server.Handle("GET", "/v1/admin/digests",
                [&context](const http::Request& request) { return HandleDigests(context, request); });
  server.Handle("POST", "/v1/admin/verify",
                [&context](const http::Request& request) { return HandleVerify(context, request); });
}

}  // namespace lok::api
