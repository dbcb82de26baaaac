// GET /v1/retention: the retention queue (lok.v1.RetentionResponse).
//
//   asOf         the day the queue is computed for (default today, UTC)
//   limit        1..1000 entries (default 50)
//   salesperson, region, client   exact-match filters (the client's current owner)
//   currency     the currency of the money terms (default the reporting currency)
//   from, to, product             rejected with 400: the queue is as of one day
//
// Definitions of every number: docs/metrics/retention.md.
#pragma once

#include <cstdint>
#include <string>

#include "http/http_server.h"
#include "projections/retention.h"
#include "store/transaction.h"

namespace lok::api {

struct RetentionApiSettings {
  std::string reporting_currency = "USD";
  projections::RetentionSettings retention;
  int64_t today_day = -1;  // -1: lok::Today()
};

// Answers GET /v1/retention from `snapshot` (a consistent read of the store).
// 200 with the queue; 400 naming a bad or unsupported parameter; 500 on
// unreadable state. Thread-safe: reads only.
http::Response HandleRetention(const store::KeyValueReader& snapshot, const http::Request& request,
                               const RetentionApiSettings& settings);

}  // namespace lok::api
