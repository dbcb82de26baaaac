#include "api/ingest_api.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

namespace lok::api {
namespace {

// The request's headers as the CloudEvents HTTP binding sees them.
std::vector<events::MessageHeader> HeadersOf(const http::Request& request) {
  std::vector<events::MessageHeader> headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) headers.push_back({name, value});
  return headers;
}

http::Response Json(int status, const boost::json::object& body) {
  http::Response response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

}  // namespace

http::Response HandleIngest(const IngestContext& context, const http::Request& request) {
  for (const auto& [name, value] : request.query) {
    if (name != "partial") {
      return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: partial");
    }
  }
  bool partial = false;
  if (auto value = request.QueryParam("partial")) {
    if (*value != "true" && *value != "false") {
      return http::JsonError(400, "query parameter 'partial': must be true or false");
    }
    partial = *value == "true";
  }
  const std::vector<events::MessageHeader> headers = HeadersOf(request);
  std::string content_type;
  if (auto found = request.headers.find("content-type"); found != request.headers.end()) {
    content_type = found->second;
  }
  StatusOr<events::BodyFormat> format = events::BodyFormatOf(content_type, request.body, headers);
  if (!format.ok()) return http::JsonError(415, format.status().message());
  StatusOr<events::ParsedBatch> parsed =
      events::ParseBody(*format, request.body, headers, context.limits);
  if (!parsed.ok()) return http::ErrorResponse(parsed.status());
  events::ParsedBatch& batch = *parsed;
  const char* item_key = batch.numbered_by_line ? "line" : "index";

  // A publishing token may publish only its own sources and event types.
  if (const TokenGrant* caller =
          context.auth == nullptr ? nullptr : context.auth->CallerOf(request)) {
    boost::json::array refused;
    for (size_t index = 0; index < batch.events.size(); ++index) {
      if (auto reason = Authenticator::RefusalFor(*caller, batch.events[index])) {
        refused.push_back(
            boost::json::object{{item_key, batch.event_lines[index]}, {"reason", *reason}});
      }
    }
    if (!refused.empty()) {
      http::Response response =
          http::JsonError(403, "token '" + caller->name +
                                   "' may not publish some of these events; nothing was appended");
      boost::json::object body = boost::json::parse(response.body).as_object();
      body["refused"] = std::move(refused);
      response.body = boost::json::serialize(body);
      return response;
    }
  }

  const size_t received = batch.events.size() + batch.rejected.size();
  boost::json::object body;
  body["format"] = events::BodyFormatName(*format);
  boost::json::array rejected;
  for (const auto& item : batch.rejected) {
    rejected.push_back(boost::json::object{{item_key, item.line}, {"reason", item.reason}});
  }
  const bool append = batch.rejected.empty() || partial;
  size_t appended = 0;
  if (append && !batch.events.empty()) {
    std::vector<log::OutgoingRecord> records;
    records.reserve(batch.events.size());
    for (const auto& event : batch.events) {
      records.push_back({event.client_id(), event.SerializeAsString(), {}});
    }
    auto positions = context.writer->Append(context.topic, std::move(records));
    if (!positions.ok()) {
      spdlog::error("ingest: append failed: {}", positions.status().ToString());
      return http::JsonError(
          http::HttpStatusFor(positions.status()),
          "append to the log failed, nothing acknowledged: " + positions.status().message());
    }
    appended = positions->size();
    // The next offset per partition after this batch: a client waits until
    // GET /v1/funnel reports offsets at least these to read its own writes.
    boost::json::object offsets;
    boost::json::array each;
    for (size_t index = 0; index < positions->size(); ++index) {
      const log::Position& position = (*positions)[index];
      const std::string partition = std::to_string(position.partition);
      const int64_t next = position.offset + 1;
      if (!offsets.contains(partition) || offsets[partition].as_int64() < next) {
        offsets[partition] = next;
      }
      if (context.report_positions) {
        each.push_back(boost::json::object{{item_key, batch.event_lines[index]},
                                           {"partition", position.partition},
                                           {"offset", position.offset}});
      }
    }
    body["offsets"] = std::move(offsets);
    if (context.report_positions) body["positions"] = std::move(each);
  }
  body["received"] = received;
  if (batch.numbered_by_line) body["lines"] = received;
  body["appended"] = appended;
  body["rejected"] = std::move(rejected);
  if (!append) {
    body["error"] = std::string("some ") + (batch.numbered_by_line ? "lines" : "events") +
                    " are invalid; nothing was appended (use ?partial=true to append the "
                    "valid ones)";
  }
  return Json(append ? context.success_status : 422, body);
}

void RegisterIngestRoutes(http::Server& server, const IngestContext& context) {
  server.Handle("POST", "/v1/events", [&context](const http::Request& request) {
    return HandleIngest(context, request);
  });
}

}  // namespace lok::api
