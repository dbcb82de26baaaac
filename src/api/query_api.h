// lokd's HTTP API: the read-model queries, ingest and the operational
// endpoints, registered on an http::Server.
//
// The read-model endpoints take asOf and knownAt (api/read_view.h).
//
//   GET  /v1/funnel    the funnel (lok.v1.FunnelResponse): stages, conversions,
//                      win rates, cycle, velocity, pipeline, plan, inbound
//   GET  /v1/concentration  client concentration (lok.v1.ConcentrationResponse)
//   GET  /v1/retention      the retention queue (lok.v1.RetentionResponse)
//   GET  /v1/clients/{id}   the client's card (lok.v1.ClientCard)
//   GET  /v1/clients/{id}/history, /v1/deals/{id}/history   events as stored
//   POST /v1/events    events in, validated, appended to the log (ingest_api.h)
//   GET  /healthz      the process is up
//   GET  /readyz       200 once the projector has caught up with the log; while a
//                      rebuild runs the body also carries "rebuilding" (the old
//                      read models are served meanwhile)
//   GET  /metrics      Prometheus text format
//   GET  /, /assets/*  the dashboard (web/dist), when ApiContext::web_root is set
#pragma once

#include <array>
#include <string>

#include "api/auth.h"
#include "api/concentration_api.h"
#include "api/ingest_api.h"
#include "api/retention_api.h"
#include "engine/as_of.h"
#include "engine/projector_metrics.h"
#include "engine/rebuild.h"
#include "http/http_server.h"
#include "log/log.h"
#include "store/live_store.h"

namespace lok::api {

struct ApiContext {
  // Read models; each request reads one snapshot of the current store (a
  // rebuild may switch it between requests, never within one).
  store::LiveStore* store = nullptr;
  engine::ProjectorMetrics* metrics = nullptr;
  // Read models as of asOf/knownAt (api/read_view.h); null: those
  // parameters answer 503.
  engine::AsOfStores* as_of = nullptr;
  // A fresh reader of the events topic (restatements scan the late records).
  engine::ReaderFactory new_reader;
  // Background rebuilds: reported by /readyz and /metrics; may be null.
  const engine::Rebuilder* rebuilder = nullptr;
  // POST /v1/events: the log, the topic, the limits and who may publish.
  IngestContext ingest;
  // Amounts are reported in this currency unless a query names another.
  std::string reporting_currency = "USD";
  // Win probability of an open deal by its furthest stage: LEAD, QUALIFIED, OFFER.
  std::array<double, 3> stage_probability = {0.10, 0.25, 0.50};
  // Alert thresholds of GET /v1/concentration.
  ConcentrationSettings concentration;
  // The retention queue's rules (also used by the client card).
  RetentionApiSettings retention;
  // The built dashboard (web/dist) served at / and /assets/*; empty: not served.
  std::string web_root;
};

// Registers every route on `server`. `context` and what it points to must
// outlive the server.
void RegisterRoutes(http::Server& server, const ApiContext& context);

// The handlers, exposed for tests.
http::Response HandleFunnel(const ApiContext& context, const http::Request& request);

}  // namespace lok::api
