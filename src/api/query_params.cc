#include "api/query_params.h"

#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <map>

#include "base/civil_time.h"

namespace lok::api {
namespace {

const std::map<std::string, Breakdown, std::less<>>& BreakdownsByName() {
  static const auto* names = new std::map<std::string, Breakdown, std::less<>>{
      {"salesperson", Breakdown::kSalesperson}, {"region", Breakdown::kRegion},
      {"product", Breakdown::kProduct},         {"month", Breakdown::kMonth},
      {"quarter", Breakdown::kQuarter}};
  return *names;
}

bool IsCurrencyCode(std::string_view code) {
  if (code.size() != 3) return false;
  for (char letter : code) {
    if (letter < 'A' || letter > 'Z') return false;
  }
  return true;
}

std::string Join(const std::set<std::string>& names) {
  std::string joined;
  for (const std::string& name : names) joined += (joined.empty() ? "" : ", ") + name;
  return joined;
}

}  // namespace

std::string_view BreakdownName(Breakdown breakdown) {
  switch (breakdown) {
    case Breakdown::kNone: return "";
    case Breakdown::kSalesperson: return "salesperson";
    case Breakdown::kRegion: return "region";
    case Breakdown::kProduct: return "product";
    case Breakdown::kMonth: return "month";
    case Breakdown::kQuarter: return "quarter";
  }
  return "";
}

StatusOr<QueryParams> ParseQueryParams(const http::Request& request, const ParamSpec& spec,
                                       const std::string& default_currency) {
  std::set<std::string> allowed = {"from", "to", "salesperson", "region", "product", "client",
                                   "currency"};
  if (!spec.breakdowns.empty()) allowed.insert("by");
  if (spec.as_of) allowed.insert({"asOf", "knownAt"});
  if (spec.limit) allowed.insert("limit");
  allowed.insert(spec.extra.begin(), spec.extra.end());

  QueryParams params;
  params.currency = default_currency;
  std::set<std::string> seen;
  for (const auto& [name, value] : request.query) {
    if (!allowed.contains(name)) {
      return InvalidArgumentError("unknown query parameter '" + name + "'; allowed: " + Join(allowed));
    }
    if (!seen.insert(name).second) return InvalidArgumentError(name + ": given more than once");
    if (name == "from" || name == "to" || name == "asOf") {
      std::optional<int64_t> day = ParseDate(value);
      if (!day) return InvalidArgumentError(name + ": must be a date YYYY-MM-DD, got '" + value + "'");
      (name == "from" ? params.from_day : name == "to" ? params.to_day : params.as_of_day) = day;
    } else if (name == "knownAt") {
      LOK_ASSIGN_OR_RETURN(params.known_at_ms, ParseKnownAt(value));
    } else if (name == "salesperson" || name == "region" || name == "product" || name == "client") {
      if (value.empty()) return InvalidArgumentError(name + ": must not be empty");
      (name == "salesperson" ? params.salesperson
       : name == "region"    ? params.region
       : name == "product"   ? params.product
                             : params.client) = value;
    } else if (name == "by") {
      auto found = BreakdownsByName().find(value);
      if (found == BreakdownsByName().end() || !spec.breakdowns.contains(found->second)) {
        std::set<std::string> names;
        for (Breakdown breakdown : spec.breakdowns) names.insert(std::string(BreakdownName(breakdown)));
        return InvalidArgumentError("by: must be one of " + Join(names) + ", got '" + value + "'");
      }
      params.by = found->second;
    } else if (name == "currency") {
      if (!IsCurrencyCode(value)) {
        return InvalidArgumentError("currency: must be an ISO 4217 code of three upper-case letters, got '" +
                                    value + "'");
      }
      params.currency = value;
    } else if (name == "limit") {
      int64_t limit = 0;
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (error != std::errc() || end != value.data() + value.size() || limit < 1 || limit > 1000) {
        return InvalidArgumentError("limit: must be a whole number from 1 to 1000, got '" + value + "'");
      }
      params.limit = limit;
    } else {
      params.extra[name] = value;
    }
  }
  if (params.from_day && params.to_day && *params.to_day < *params.from_day) {
    return InvalidArgumentError("to: must not be before from");
  }
  return params;
}

int64_t QueryParams::EvaluationDay(int64_t today) const {
  if (as_of_day) return *as_of_day;
  if (known_at_ms) return DayOfSeconds(*known_at_ms / 1000);
  return today;
}

StatusOr<int64_t> ParseKnownAt(std::string_view value) {
  if (std::optional<int64_t> day = ParseDate(value)) return (*day + 1) * 86400000 - 1;
  google::protobuf::Timestamp instant;
  if (!google::protobuf::util::TimeUtil::FromString(std::string(value), &instant)) {
    return InvalidArgumentError(
        "knownAt: must be a date YYYY-MM-DD or an RFC 3339 instant such as "
        "2025-06-30T18:00:00Z, got '" +
        std::string(value) + "'");
  }
  return google::protobuf::util::TimeUtil::TimestampToMilliseconds(instant);
}

std::string FormatInstant(int64_t ms) {
  return google::protobuf::util::TimeUtil::ToString(
      google::protobuf::util::TimeUtil::MillisecondsToTimestamp(ms));
}

StatusOr<projections::FunnelMode> FunnelModeOf(const QueryParams& params) {
  auto mode = params.extra.find("mode");
  if (mode == params.extra.end() || mode->second == "cohort") {
    return projections::FunnelMode::kCohort;
  }
  if (mode->second == "period") return projections::FunnelMode::kPeriod;
  return InvalidArgumentError("mode: must be cohort or period, got '" + mode->second + "'");
}

}  // namespace lok::api
