// POST /v1/events: events in, validated, appended to the log. Shared by lokd
// (which appends to its own log) and the gateway (which produces to Kafka and
// answers with each event's position).
//
// Bodies: NDJSON, a JSON array, a protobuf lok.v1.EventBatch, CloudEvents
// (structured, batch, binary mode) — see events/batch.h. Every item is decoded
// and validated on its own:
//   - all valid: appended; 200 (lokd) or 202 (gateway) once the log has them
//     durably (Kafka: acknowledged by the broker);
//   - some invalid: 422 and nothing appended, or with ?partial=true the valid
//     ones appended and the invalid ones listed; each rejected item is
//     {"line": n} (NDJSON, 1-based) or {"index": n} (other formats, 0-based)
//     with the "reason" naming the field or header and the rule;
//   - body as a whole unusable: 400 (malformed array or batch), 413 (more
//     events than the limit), 415 (content-type not accepted);
//   - a publishing token refused for some event: 403, nothing appended.
// Answer: {"format", "received", "appended", "rejected": [...], "offsets":
// {partition: next offset}, "positions": [{"line"|"index", "partition",
// "offset"}] (when IngestContext::report_positions), "lines" (NDJSON)}.
#pragma once

#include <string>

#include "api/auth.h"
#include "events/batch.h"
#include "http/http_server.h"
#include "log/log.h"

namespace lok::api {

struct IngestContext {
  log::LogWriter* writer = nullptr;  // where events are appended
  std::string topic;                 // the events topic
  // Who may publish what; null or disabled: anyone.
  const Authenticator* auth = nullptr;
  events::BatchLimits limits;
  // The gateway's answer: 202 Accepted with every appended event's position.
  int success_status = 200;
  bool report_positions = false;
};

// Handles one POST /v1/events. Thread-safe when the writer is.
http::Response HandleIngest(const IngestContext& context, const http::Request& request);

// Registers POST /v1/events. `context` must outlive the server.
void RegisterIngestRoutes(http::Server& server, const IngestContext& context);

}  // namespace lok::api
