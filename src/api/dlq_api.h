// Dead-letter endpoints of lokd: list, inspect and re-drive the records the
// projector moved to "<topic>.dlq" (ARCHITECTURE.md, invariant 6).
//
//   GET  /v1/admin/dlq?limit=N&after=P/O  dead letters in (partition, offset)
//                                         order, a page at a time
//   GET  /v1/admin/dlq/{P}/{O}            one dead letter in full: headers, the
//                                         original bytes (base64), the event as
//                                         JSON when they decode, and whether this
//                                         lokd would now accept them
//   POST /v1/admin/dlq/redrive            {"partition":P,"offset":O} or
//                                         {"all":true[,"reason":"substring"]}
//                                         [,"onlyValid":true]: re-append the
//                                         original bytes to the events topic
//
// lokd owns the log (the embedded log opens in one process only), so these go
// through lokd for both log kinds.
//
// Re-driving appends the dead letter's original value with its key (so it
// lands on the partition its client's events use, where the dedupe marks
// are), its original headers and "lok.redriven-from: P/O". It is safe to
// repeat: the projector drops an event it has applied before by (source,
// event_id), and a record that is still invalid is dead-lettered again, with
// its current reason and the lok.redriven-from header. Each re-drive is
// recorded in lokd's store under "_dlq_redriven/<partition:be32><offset:be64>"
// (value: new partition be32, new offset be64, time in ms be64) after the
// append is durable, so `list` shows where a letter went; a crash in between
// leaves a re-driven letter unmarked, and re-driving it again is harmless.
// `{"all":true}` skips letters already marked; naming one re-drives it anyway.
#pragma once

#include <chrono>
#include <string>

#include "engine/rebuild.h"
#include "engine/verify.h"
#include "http/http_server.h"
#include "log/log.h"
#include "store/live_store.h"

namespace lok::api {

struct DlqContext {
  log::LogWriter* writer = nullptr;      // appends re-driven records to `topic`
  std::string topic;                     // the events topic; its dead letters are in topic.dlq
  engine::ReaderFactory new_dlq_reader;  // a fresh reader of log::DeadLetterTopic(topic)
  store::LiveStore* store = nullptr;  // where re-drives are recorded (a rebuild carries them over)
  // How long one request may wait for the log to deliver what it asked for.
  std::chrono::milliseconds read_deadline{std::chrono::seconds(15)};
};

// The header a re-driven record carries: "<dlq partition>/<dlq offset>".
inline constexpr std::string_view kRedrivenFromHeader = "lok.redriven-from";
// Store keys recording re-drives (see above).
inline constexpr std::string_view kRedrivenPrefix = engine::kRedriveMarkPrefix;

// GET /v1/admin/dlq. 200 {"deadLetters":[...],"nextCursor":"P/O" or ""}; 400
// for a bad limit (1..1000, default 100) or cursor; 500/503 for log or store
// failures; 504 when the log does not deliver within read_deadline.
http::Response HandleDlqList(const DlqContext& context, const http::Request& request);

// GET /v1/admin/dlq/{P}/{O}. 200 with the letter; 404 when no record is at P/O
// (or no dead-letter topic exists yet); 400 for a malformed path.
http::Response HandleDlqShow(const DlqContext& context, const http::Request& request);

// POST /v1/admin/dlq/redrive. 200 {"redriven":N,"skipped":{...},"records":[...]}
// with each re-driven letter's new position (the list is capped at 1000
// entries; "redriven" counts all); 400 for a bad body; 404 when a named letter
// does not exist; 409 while another re-drive runs. A failed append returns an
// error after the letters re-driven so far have been recorded.
http::Response HandleDlqRedrive(const DlqContext& context, const http::Request& request);

// Registers the three routes. `context` must outlive the server.
void RegisterDlqRoutes(http::Server& server, const DlqContext& context);

}  // namespace lok::api
