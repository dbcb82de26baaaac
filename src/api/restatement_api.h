// Restatements: which reported numbers changed because events arrived late.
//
//   GET /v1/restatements?since=T[&limit=N]      (lokctl restatement --since T)
//
// T is a date YYYY-MM-DD (the end of that UTC day) or an RFC 3339 instant:
// the moment the numbers were reported. A late event is one the log received
// after T that occurred at or before T. The numbers compared are those of
// the periods up to T, as reported then (events known by T that occurred by
// T) and as they stand now (every event that occurred by T), so that every
// difference is due to late events and to nothing else:
//   funnel.period / funnel.cohort  by month, from the earliest late event's
//                                  month to T's
//   concentration                  the trailing year up to T, with its monthly trend
// Each change names the metric (a path into the answer), its period when the
// path has a month, the old and the new value, and the late events of that
// period (all of them when the metric has none). The late events are listed
// with source, event_id, type, client, deal, occurred and received times,
// partition and offset (the first `limit`, default 100, at most 1000).
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "api/query_api.h"

namespace lok::api {

// One number that differs between two answers.
struct RestatedNumber {
  std::string metric;  // path: "funnel.period.rows[2025-05].metrics.stages[WON].deals"
  std::string period;  // the month the path is about ("2025-05"), or empty
  boost::json::value old_value;  // null when the number did not exist
  boost::json::value new_value;
};

// The leaves that differ between `old_answer` and `new_answer` (JSON answers
// of the same endpoint), named from `path`. Array elements are matched by
// their identifying fields (key, stage, month, period, scope, salesperson,
// region, product, clientId, channel, kind, joined with '/'), else by
// position; "offsets" are ignored.
std::vector<RestatedNumber> DiffAnswers(const boost::json::value& old_answer,
                                        const boost::json::value& new_answer,
                                        const std::string& path);

void RegisterRestatementRoutes(http::Server& server, const ApiContext& context);

}  // namespace lok::api
