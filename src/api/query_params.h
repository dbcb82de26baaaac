// The query parameters every read-model endpoint shares, parsed in one place
// so that every endpoint names a bad parameter and its rule the same way.
//
//   from, to     UTC dates YYYY-MM-DD, BOTH INCLUSIVE: from=2024-01-01&to=2024-01-31
//                is all of January. Either may be left out (open end).
//   salesperson, region, product, client   exact-match filters
//   by           breakdown: salesperson | region | product | month | quarter
//                (each endpoint says which it supports)
//   currency     ISO 4217 code; amounts are never added across currencies;
//                default: lokd's --reporting-currency
//   asOf         UTC date YYYY-MM-DD: only events that occurred on or before
//                it, and the day the answer is evaluated on (endpoints that
//                take it; api/read_view.h builds the read models)
//   knownAt      UTC date YYYY-MM-DD (the end of that day) or RFC 3339
//                instant: only events the log had received by then (the
//                same endpoints)
//   limit        1..1000 (endpoints that take it)
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "base/status.h"
#include "http/http_server.h"
#include "projections/funnel.h"

namespace lok::api {

enum class Breakdown { kNone, kSalesperson, kRegion, kProduct, kMonth, kQuarter };

std::string_view BreakdownName(Breakdown breakdown);

struct QueryParams {
  std::optional<int64_t> from_day;  // days since the epoch, inclusive
  std::optional<int64_t> to_day;    // days since the epoch, inclusive
  std::optional<std::string> salesperson;
  std::optional<std::string> region;
  std::optional<std::string> product;
  std::optional<std::string> client;
  Breakdown by = Breakdown::kNone;
  std::string currency;
  std::optional<int64_t> as_of_day;
  std::optional<int64_t> known_at_ms;
  std::optional<int64_t> limit;
  // Endpoint-specific parameters named in ParamSpec::extra, as given.
  std::map<std::string, std::string> extra;

  // The day day-based answers are evaluated on: asOf, else the day of
  // knownAt, else `today`.
  int64_t EvaluationDay(int64_t today) const;

  // True when `day` lies in [from_day, to_day] (open ends allowed).
  bool InWindow(int64_t day) const {
    return (!from_day || day >= *from_day) && (!to_day || day <= *to_day);
  }
};

// What an endpoint accepts beyond the common parameters.
struct ParamSpec {
  std::set<Breakdown> breakdowns;  // allowed values of `by`
  bool as_of = false;  // asOf and knownAt
  bool limit = false;
  std::set<std::string> extra;     // endpoint-specific names, e.g. "mode"
};

// Parses `request`'s query. Errors: kInvalidArgument whose message names the
// parameter and the rule, e.g. "from: must be a date YYYY-MM-DD", "unknown
// query parameter 'x'; allowed: ...", "to: must not be before from".
StatusOr<QueryParams> ParseQueryParams(const http::Request& request, const ParamSpec& spec,
                                       const std::string& default_currency);

// knownAt's value: a date YYYY-MM-DD means the last millisecond of that UTC
// day; otherwise an RFC 3339 instant. Returns ms since the epoch.
// Errors: kInvalidArgument naming knownAt and the rule.
StatusOr<int64_t> ParseKnownAt(std::string_view value);

// `ms` since the epoch as an RFC 3339 instant (UTC), as answers print
// knownAt and record times.
std::string FormatInstant(int64_t ms);

// The funnel's `mode` extra parameter: cohort (also when absent) or period.
// Errors: kInvalidArgument naming the parameter and its values.
StatusOr<projections::FunnelMode> FunnelModeOf(const QueryParams& params);

}  // namespace lok::api
