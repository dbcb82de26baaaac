// Admin endpoints of lokd:
//   GET  /v1/admin/digests  each read model's SHA-256 digest with the offsets it covers
//   POST /v1/admin/verify   replay the log into a scratch store up to the live
//                           offsets and compare digests; 200 when every model
//                           matches, 409 naming the first differing keys otherwise
//   POST   /v1/admin/rebuild[?projection=NAME[,NAME]]  start rebuilding the read
//                           models (all, or the named ones; the others are
//                           copied) into a new store generation; 202 with the
//                           progress, 409 while one runs, 400 for an unknown name
//   GET    /v1/admin/rebuild      progress: state, generation, records, rate, ETA
//   DELETE /v1/admin/rebuild/old  remove the older store generations kept on
//                           disk; 409 while a rebuild runs or queries still read one
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "engine/checkpoints.h"
#include "engine/rebuild.h"
#include "engine/verify.h"
#include "http/http_server.h"
#include "projections/projection.h"
#include "store/live_store.h"

namespace lok::api {

struct AdminContext {
  store::LiveStore* store = nullptr;
  engine::Rebuilder* rebuilder = nullptr;  // null: no rebuild routes
  std::vector<projections::Projection*> projections;
  engine::ReaderFactory new_reader;  // a fresh reader of the events topic
  std::string topic;
  std::string scratch_dir;  // where verification builds its scratch store
  std::chrono::seconds verify_deadline{3600};
  // The checkpoints of the current store (bases of as-of answers); may
  // return nullptr. Empty: no checkpoint routes.
  std::function<engine::CheckpointKeeper*()> checkpoints;
};

// The progress of a rebuild as JSON (GET /v1/admin/rebuild, /readyz).
boost::json::object RebuildProgressJson(const engine::RebuildProgress& progress);

// True while `progress` is of a rebuild that replays or switches.
bool IsRebuilding(const engine::RebuildProgress& progress);

// Registers the admin routes. `context` must outlive the server.
void RegisterAdminRoutes(http::Server& server, const AdminContext& context);

}  // namespace lok::api
