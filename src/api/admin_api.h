// Admin endpoints of lokd:
//   GET  /v1/admin/digests  each read model's SHA-256 digest with the offsets it covers
//   POST /v1/admin/verify   replay the log into a scratch store up to the live
//                           offsets and compare digests; 200 when every model
//                           matches, 409 naming the first differing keys otherwise
#pragma once

#include <string>
#include <vector>

#include "engine/verify.h"
#include "http/http_server.h"
#include "projections/projection.h"
#include "store/rocks_store.h"

namespace lok::api {

struct AdminContext {
  store::RocksStore* store = nullptr;
  std::vector<projections::Projection*> projections;
  engine::ReaderFactory new_reader;  // a fresh reader of the events topic
  std::string topic;
  std::string scratch_dir;  // where verification builds its scratch store
  std::chrono::seconds verify_deadline{3600};
};

// Registers the admin routes. `context` must outlive the server.
void RegisterAdminRoutes(http::Server& server, const AdminContext& context);

}  // namespace lok::api
