// Parked-event endpoints of lokd (engine/parking.h): the clients whose events
// wait behind one the projections could not apply, and what to do about them.
//
//   GET  /v1/admin/parked?limit=N&after=CLIENT   parked clients in client_id
//                                                order with depth, first
//                                                reason, oldest parked time
//   GET  /v1/admin/parked/{client}?limit=N&after=P/O
//                                                the client's parked events in
//                                                order (reason, cause,
//                                                partition/offset, the event as
//                                                JSON) and what was skipped
//   POST /v1/admin/parked/{client}/retry         re-apply them in order; stop at
//                                                the first that fails again
//   POST /v1/admin/parked/{client}/skip[?all=true]
//                                                drop the first (or all) without
//                                                applying, recorded in the audit
//
// {client} is the client_id, percent-encoded in the path when it holds '/' or
// other reserved characters. The routes are under /v1/admin/, so they need
// the admin role (api/auth.h). Retry and skip run under the projector's write
// lock: each commit is atomic with the read models and never interleaves with
// a batch.
#pragma once

#include <functional>

#include "engine/projector.h"
#include "http/http_server.h"
#include "store/live_store.h"
#include "store/rocks_store.h"

namespace lok::api {

struct ParkedContext {
  // Runs an action on the live projector (retries and skips), e.g.
  // engine::ProjectorRunner::WithProjector.
  std::function<Status(const std::function<Status(engine::Projector&)>&)> with_projector;
  store::LiveStore* store = nullptr;  // the current store, read for the lists
};

// GET /v1/admin/parked. 200 {"parkedEvents":N,"parkedClients":N,"clients":[
// {"clientId","depth","firstReason","firstCause","head":{"partition","offset"},
// "oldestParkedAtMs"}],"nextCursor":"<client>" or ""}; 400 for a bad limit
// (1..1000, default 100) or an unknown parameter.
http::Response HandleParkedList(const ParkedContext& context, const http::Request& request);

// GET /v1/admin/parked/{client}. 200 {"clientId","depth","events":[...],
// "nextCursor":"P/O" or "","skipped":[...]} (the first 100 skipped events);
// 404 when nothing of the client is parked and nothing was skipped; 400 for a
// bad limit or cursor.
http::Response HandleParkedShow(const ParkedContext& context, const http::Request& request);

// POST /v1/admin/parked/{client}/retry and .../skip. Retry: 200 {"clientId",
// "applied","duplicates","deadLettered","remaining","stoppedAt": event or
// null}. Skip: 200 {"clientId","skippedCount","skipped":[...],"remaining"};
// `all` must be true or false. 404 when nothing of the client is parked (or
// the action is neither retry nor skip); 500/503 for storage or log failures.
http::Response HandleParkedAction(const ParkedContext& context, const http::Request& request);

// Registers the routes. `context` must outlive the server.
void RegisterParkedRoutes(http::Server& server, const ParkedContext& context);

}  // namespace lok::api
