// A client of lokd's HTTP API and of the log, shared by lokctl and the
// integration tests: publish NDJSON with the same validation as lokd, wait
// for the read models to catch up, read the funnel.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"
#include "events/ndjson.h"
#include "log/log.h"
#include "lok/v1/query.pb.h"

namespace lok::client {

struct PublishSummary {
  size_t lines = 0;     // non-blank lines read
  size_t appended = 0;  // events acknowledged by the log
  std::vector<events::RejectedLine> rejected;
  log::PartitionOffsets offsets;  // next offset per partition after the last append
  std::string ToText() const;
};

struct PublishOptions {
  bool partial = false;        // append the valid lines even if some are invalid
  size_t chunk_events = 5000;  // events per HTTP request / log append
  std::string token;           // bearer token for lokd, when it requires one
};

// Validates `ndjson` locally, then POSTs the valid events to lokd at
// `base_url` (http://host:port) in chunks. With rejected lines and without
// `partial` nothing is sent and the summary lists the rejections.
// Errors: kUnavailable when lokd cannot be reached, or an error answer.
StatusOr<PublishSummary> PublishOverHttp(std::string_view ndjson, const std::string& base_url,
                                         const PublishOptions& options);

// The same, appending straight to `topic` through `writer` (Kafka).
StatusOr<PublishSummary> PublishToLog(std::string_view ndjson, log::LogWriter& writer,
                                      const std::string& topic, const PublishOptions& options);

// Polls GET /healthz until it answers 200 or the deadline passes.
Status WaitHealthy(const std::string& base_url, std::chrono::milliseconds deadline);

// GET /v1/funnel, parsed.
StatusOr<lok::v1::FunnelResponse> FetchFunnel(const std::string& base_url);

// Polls the funnel until its offsets reach `offsets` in every partition, and
// returns that funnel. Errors: kDeadlineExceeded naming the lagging partition.
StatusOr<lok::v1::FunnelResponse> WaitForOffsets(const std::string& base_url,
                                                 const log::PartitionOffsets& offsets,
                                                 std::chrono::milliseconds deadline);

// A fixed-width table of the funnel for terminals.
std::string FormatFunnel(const lok::v1::FunnelResponse& funnel);

}  // namespace lok::client
