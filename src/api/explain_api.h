// Provenance endpoints: any number of the read models, explained down to the
// deals and the events behind it (source, event_id, partition, offset).
//
//   GET /v1/funnel/explain?stage=WON&mode=cohort|period&from=&to=&salesperson=
//       &region=&product=&client=&currency=&limit=&after=
//       the deals behind GET /v1/funnel's count (and amount) of `stage` for
//       the same parameters: "count" and "amount" equal the funnel's, "deals"
//       is one page (limit 1..1000, default 100; `after` = the previous
//       page's nextCursor), each with its events from the history model.
//   GET /v1/concentration/explain?client=&from=&to=&salesperson=&region=&product=
//       &currency=&limit=&after=
//       the won deals making up the client's revenue in [from, to] (by the
//       day they were won), with their events.
//   GET /v1/retention/explain?client=&asOf=
//       the events behind the client's retention reasons on asOf (default
//       today): the last contact, the open payment delays, the won deals.
// Every response carries the log offsets its snapshot covers. 400 names a bad
// parameter (api/query_params.h); 500 for unreadable state.
#pragma once

#include "api/query_api.h"
#include "http/http_server.h"
#include "store/transaction.h"

namespace lok::api {

// Registers the three routes. `context` must outlive the server.
void RegisterExplainRoutes(http::Server& server, const ApiContext& context);

// The handlers over one snapshot, exposed for tests.
http::Response HandleFunnelExplain(const store::KeyValueReader& snapshot,
                                   const http::Request& request,
                                   const std::string& reporting_currency);
http::Response HandleConcentrationExplain(const store::KeyValueReader& snapshot,
                                          const http::Request& request,
                                          const std::string& reporting_currency);
http::Response HandleRetentionExplain(const store::KeyValueReader& snapshot,
                                      const http::Request& request);

}  // namespace lok::api
