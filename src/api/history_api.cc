#include "api/history_api.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>

#include "api/query_params.h"
#include "base/civil_time.h"
#include "engine/projector.h"
#include "projections/history.h"

namespace lok::api {
namespace {

constexpr std::string_view kClients = "/v1/clients/";
constexpr std::string_view kDeals = "/v1/deals/";
constexpr std::string_view kHistory = "/history";

// The id between `prefix` and "/history", or "" when the path is not one.
std::string_view IdOf(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix) || !path.ends_with(kHistory)) return {};
  std::string_view id = path.substr(prefix.size(), path.size() - prefix.size() - kHistory.size());
  return id.find('/') == std::string_view::npos ? id : std::string_view();
}

}  // namespace

bool IsHistoryPath(std::string_view path) {
  return !IdOf(path, kClients).empty() || !IdOf(path, kDeals).empty();
}

http::Response HandleHistory(const store::KeyValueReader& snapshot, const http::Request& request) {
  const bool client = !IdOf(request.path, kClients).empty();
  const std::string_view id = client ? IdOf(request.path, kClients) : IdOf(request.path, kDeals);
  if (id.empty()) return http::JsonError(404, "no such path: " + request.path);
  size_t limit = 100;
  std::string after;
  bool newest_first = false;
  projections::HistoryBounds bounds;
  for (const auto& [name, value] : request.query) {
    if (name == "limit") {
      size_t parsed = 0;
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (error != std::errc() || end != value.data() + value.size() || parsed < 1 || parsed > 1000) {
        return http::JsonError(400, "limit: must be a whole number from 1 to 1000, got '" + value + "'");
      }
      limit = parsed;
    } else if (name == "after") {
      after = value;
    } else if (name == "asOf") {
      std::optional<int64_t> day = ParseDate(value);
      if (!day) return http::JsonError(400, "asOf: must be a date YYYY-MM-DD, got '" + value + "'");
      bounds.occurred_before_ms = (*day + 1) * 86400000;
    } else if (name == "knownAt") {
      StatusOr<int64_t> known_at = ParseKnownAt(value);
      if (!known_at.ok()) return http::JsonError(400, known_at.status().message());
      bounds.known_at_ms = *known_at;
    } else if (name == "order") {
      if (value != "asc" && value != "desc") {
        return http::JsonError(400, "order: must be asc or desc, got '" + value + "'");
      }
      newest_first = value == "desc";
    } else {
      return http::JsonError(400, "unknown query parameter '" + name +
                                      "'; allowed: after, asOf, knownAt, limit, order");
    }
  }
  auto history = projections::QueryHistory(
      snapshot, client ? projections::HistoryOf::kClient : projections::HistoryOf::kDeal, id, limit,
      after, newest_first, bounds);
  if (!history.ok()) {
    return http::JsonError(history.status().code() == StatusCode::kInvalidArgument ? 400 : 500,
                           history.status().message());
  }
  http::Response response;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(*history, &response.body, options);
  return response;
}

}  // namespace lok::api
