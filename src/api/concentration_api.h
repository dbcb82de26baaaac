// GET /v1/concentration: how much of the won revenue comes from how few
// clients (docs/metrics/concentration.md defines every number).
//
// Parameters (the common ones, parsed by ParseQueryParams):
//   asOf=YYYY-MM-DD   the window is the trailing 12 calendar months ending with
//                     asOf's month (default: today). Month granularity.
//   from, to          snapped to whole months: from's month .. to's month must
//                     be 1 month or 12 months. Only `to`: the 12 months ending
//                     with to's month; only `from`: the 12 months starting
//                     with from's month. Not together with asOf.
//   salesperson | region | product   the scope (at most one of them)
//   by=salesperson|region|product    one block per value (not with a scope filter)
//   client=X          each block's top_clients holds just X's row (not with by)
//   currency          only that currency's revenue (default: the reporting currency)
//   limit             top clients per block, 1..1000 (default 10)
// The answer is lok.v1.ConcentrationResponse in the protobuf JSON mapping;
// windowStart/windowEnd name the days it covers. Bad parameters: 400 whose
// message names the parameter.
#pragma once

#include <cstdint>
#include <string>

#include "http/http_server.h"
#include "store/transaction.h"

namespace lok::api {

struct ConcentrationSettings {
  std::string reporting_currency = "USD";
  double client_share_alert = 0.20;  // a client's share (0..1) at or over this alerts
  double hhi_moderate = 1500;        // HHI at or over this: HHI_MODERATE
  double hhi_high = 2500;            // HHI at or over this: HHI_HIGH (instead of moderate)
  int64_t today_day = -1;            // -1: use lok::Today(); tests set it
};

// Answers GET /v1/concentration from `snapshot` (a consistent read view; the
// handler reads it only during the call). Thread-safe when `snapshot` is.
http::Response HandleConcentration(const store::KeyValueReader& snapshot,
                                   const http::Request& request,
                                   const ConcentrationSettings& settings);

}  // namespace lok::api
