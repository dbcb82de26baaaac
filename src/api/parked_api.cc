#include "api/parked_api.h"

#include <boost/json.hpp>
#include <charconv>
#include <optional>

#include "api/auth.h"
#include "engine/parking.h"
#include "engine/record_decoder.h"
#include "events/event_codec.h"

namespace lok::api {
namespace {

constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;
constexpr size_t kListedSkips = 100;
constexpr std::string_view kParkedPath = "/v1/admin/parked";

std::optional<int64_t> ParseWholeNumber(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [next, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || next != end || value < 0) return std::nullopt;
  return value;
}

// "P/O" -> (partition, offset); nullopt when malformed.
std::optional<std::pair<int32_t, int64_t>> ParsePosition(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> partition = ParseWholeNumber(text.substr(0, slash));
  std::optional<int64_t> offset = ParseWholeNumber(text.substr(slash + 1));
  if (!partition || !offset || *partition > INT32_MAX) return std::nullopt;
  return std::make_pair(static_cast<int32_t>(*partition), *offset);
}

// limit=1..1000; the error names the parameter and the rule.
StatusOr<size_t> ParseLimit(const std::string& value) {
  std::optional<int64_t> parsed = ParseWholeNumber(value);
  if (!parsed || *parsed < 1 || *parsed > static_cast<int64_t>(kMaxPageSize)) {
    return InvalidArgumentError("limit: must be a whole number from 1 to 1000, got '" + value +
                                "'");
  }
  return static_cast<size_t>(*parsed);
}

http::Response Json(int status, const boost::json::object& body) {
  http::Response response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

boost::json::object EventJson(const lok::v1::ParkedEvent& parked, bool with_event) {
  boost::json::object json{{"partition", parked.partition()},
                           {"offset", parked.offset()},
                           {"recordTimeMs", parked.record_time_ms()},
                           {"parkedAtMs", parked.parked_at_ms()},
                           {"lastAttemptMs", parked.last_attempt_ms()},
                           {"attempts", parked.attempts()},
                           {"cause", engine::CauseName(parked.cause())},
                           {"reason", parked.reason()},
                           {"source", parked.source()},
                           {"eventId", parked.event_id()},
                           {"type", parked.payload()},
                           {"bytes", parked.value().size()}};
  if (parked.skipped_at_ms() != 0) {
    json["skippedAtMs"] = parked.skipped_at_ms();
    json["skippedBy"] = parked.skipped_by();
  }
  if (with_event) {
    // The event as this lokd reads it (an unknown payload is left out).
    std::vector<log::Header> headers;
    for (const lok::v1::LogHeader& header : parked.headers()) {
      headers.push_back({header.key(), header.value()});
    }
    StatusOr<lok::v1::Event> event = engine::DecodeRecord(parked.key(), parked.value(), headers);
    json["event"] = nullptr;
    if (event.ok()) {
      boost::system::error_code error;
      boost::json::value parsed = boost::json::parse(events::EncodeJson(*event), error);
      if (!error) json["event"] = std::move(parsed);
    }
  }
  return json;
}

std::string CallerName(const http::Request& request) {
  auto caller = request.headers.find(std::string(kCallerHeader));
  if (caller != request.headers.end()) return caller->second;
  return "anonymous (authentication off)";
}

// The {client} of /v1/admin/parked/{client}[/<action>]; "" when absent.
std::string ClientOf(std::string_view path, std::string_view action) {
  const std::string prefix = std::string(kParkedPath) + "/";
  if (!path.starts_with(prefix)) return "";
  path.remove_prefix(prefix.size());
  if (!action.empty()) {
    const std::string suffix = "/" + std::string(action);
    if (!path.ends_with(suffix)) return "";
    path.remove_suffix(suffix.size());
  }
  return std::string(path);
}

}  // namespace

http::Response HandleParkedList(const ParkedContext& context, const http::Request& request) {
  size_t limit = kDefaultPageSize;
  std::string after;
  for (const auto& [name, value] : request.query) {
    if (name == "limit") {
      StatusOr<size_t> parsed = ParseLimit(value);
      if (!parsed.ok()) return http::ErrorResponse(parsed.status());
      limit = *parsed;
    } else if (name == "after") {
      after = value;
    } else {
      return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: after, limit");
    }
  }
  std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
  StatusOr<engine::ParkedTotals> totals = engine::ReadParkedTotals(*snapshot);
  if (!totals.ok()) return http::ErrorResponse(totals.status());
  // One more than the page tells whether another page follows.
  StatusOr<std::vector<engine::ParkedClient>> clients =
      engine::ListParkedClients(*snapshot, after, limit + 1);
  if (!clients.ok()) return http::ErrorResponse(clients.status());
  const bool more = clients->size() > limit;
  if (more) clients->resize(limit);
  boost::json::array listed;
  for (const engine::ParkedClient& client : *clients) {
    listed.push_back(
        {{"clientId", client.client_id},
         {"depth", client.depth},
         {"firstReason", client.head.reason()},
         {"firstCause", engine::CauseName(client.head.cause())},
         {"head", {{"partition", client.head.partition()}, {"offset", client.head.offset()}}},
         {"oldestParkedAtMs", client.head.parked_at_ms()}});
  }
  return Json(200, {{"parkedEvents", totals->events},
                    {"parkedClients", totals->clients},
                    {"clients", std::move(listed)},
                    {"nextCursor", more ? clients->back().client_id : std::string()}});
}

http::Response HandleParkedShow(const ParkedContext& context, const http::Request& request) {
  const std::string client = ClientOf(request.path, "");
  if (client.empty()) {
    return http::JsonError(400, "expected /v1/admin/parked/CLIENT, got " + request.path);
  }
  size_t limit = kDefaultPageSize;
  std::optional<std::pair<int32_t, int64_t>> after;
  for (const auto& [name, value] : request.query) {
    if (name == "limit") {
      StatusOr<size_t> parsed = ParseLimit(value);
      if (!parsed.ok()) return http::ErrorResponse(parsed.status());
      limit = *parsed;
    } else if (name == "after") {
      if (value.empty()) continue;
      after = ParsePosition(value);
      if (!after) {
        return http::JsonError(400, "after: expected PARTITION/OFFSET, got '" + value + "'");
      }
    } else {
      return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: after, limit");
    }
  }
  std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
  StatusOr<int64_t> depth = engine::ReadParkedDepth(*snapshot, client);
  if (!depth.ok()) return http::ErrorResponse(depth.status());
  StatusOr<std::vector<lok::v1::ParkedEvent>> events =
      engine::ReadParkedEvents(*snapshot, client, after, limit + 1);
  if (!events.ok()) return http::ErrorResponse(events.status());
  StatusOr<std::vector<lok::v1::ParkedEvent>> skipped =
      engine::ReadSkippedEvents(*snapshot, client, kListedSkips);
  if (!skipped.ok()) return http::ErrorResponse(skipped.status());
  if (*depth == 0 && skipped->empty()) {
    return http::JsonError(404, "client '" + client + "': nothing is parked or was skipped");
  }
  const bool more = events->size() > limit;
  if (more) events->resize(limit);
  boost::json::array listed;
  for (const lok::v1::ParkedEvent& parked : *events) listed.push_back(EventJson(parked, true));
  boost::json::array skipped_json;
  for (const lok::v1::ParkedEvent& parked : *skipped) {
    skipped_json.push_back(EventJson(parked, false));
  }
  std::string next_cursor;
  if (more) {
    next_cursor =
        std::to_string(events->back().partition()) + "/" + std::to_string(events->back().offset());
  }
  return Json(200, {{"clientId", client},
                    {"depth", *depth},
                    {"events", std::move(listed)},
                    {"nextCursor", next_cursor},
                    {"skipped", std::move(skipped_json)}});
}

http::Response HandleParkedAction(const ParkedContext& context, const http::Request& request) {
  const std::string retry_client = ClientOf(request.path, "retry");
  const std::string skip_client = ClientOf(request.path, "skip");
  if (!retry_client.empty()) {
    if (!request.query.empty()) {
      return http::JsonError(
          400, "unknown query parameter '" + request.query[0].first + "'; retry takes none");
    }
    StatusOr<engine::ParkedRetryResult> result = UnavailableError("not run");
    const Status run = context.with_projector([&](engine::Projector& projector) {
      result = projector.RetryParked(retry_client);
      return result.status();
    });
    if (!run.ok()) return http::ErrorResponse(run);
    boost::json::object json{{"clientId", retry_client},
                             {"applied", result->applied},
                             {"duplicates", result->duplicates},
                             {"deadLettered", result->dead_lettered},
                             {"remaining", result->remaining}};
    if (result->stopped_at) {
      json["stoppedAt"] = EventJson(*result->stopped_at, false);
    } else {
      json["stoppedAt"] = nullptr;
    }
    return Json(200, json);
  }
  if (!skip_client.empty()) {
    bool all = false;
    for (const auto& [name, value] : request.query) {
      if (name != "all") {
        return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: all");
      }
      if (value != "true" && value != "false") {
        return http::JsonError(400, "all: must be true or false, got '" + value + "'");
      }
      all = value == "true";
    }
    StatusOr<engine::ParkedSkipResult> result = UnavailableError("not run");
    const Status run = context.with_projector([&](engine::Projector& projector) {
      result = projector.SkipParked(skip_client, all, CallerName(request));
      return result.status();
    });
    if (!run.ok()) return http::ErrorResponse(run);
    boost::json::array skipped;
    for (const lok::v1::ParkedEvent& parked : result->skipped) {
      skipped.push_back(EventJson(parked, false));
    }
    return Json(200, {{"clientId", skip_client},
                      {"skippedCount", result->skipped_count},
                      {"skipped", std::move(skipped)},
                      {"remaining", result->remaining}});
  }
  return http::JsonError(
      404, "expected POST /v1/admin/parked/CLIENT/retry or /v1/admin/parked/CLIENT/skip, got " +
               request.path);
}

void RegisterParkedRoutes(http::Server& server, const ParkedContext& context) {
  server.Handle("GET", std::string(kParkedPath), [&context](const http::Request& request) {
    return HandleParkedList(context, request);
  });
  server.Handle("GET", std::string(kParkedPath) + "/*", [&context](const http::Request& request) {
    return HandleParkedShow(context, request);
  });
  server.Handle("POST", std::string(kParkedPath) + "/*", [&context](const http::Request& request) {
    return HandleParkedAction(context, request);
  });
}

}  // namespace lok::api
