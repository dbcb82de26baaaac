// Which read models answer a query: the live store, or a store as of the
// query's `asOf` (business time) and `knownAt` (record time), built by
// engine::AsOfStores.
//
//   StatusOr<ReadView> view = OpenReadView(live, as_of, request, {"funnel"});
//   http::Response response = Handle(*view->snapshot, request);
//   return AnnotateAsOf(std::move(response), *view);
//
// asOf=YYYY-MM-DD keeps the events that occurred on or before that UTC day;
// knownAt=YYYY-MM-DD (the end of that UTC day) or an RFC 3339 instant keeps
// the records the log had received by then. Without either, the live store.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/as_of.h"
#include "http/http_server.h"
#include "store/live_store.h"

namespace lok::api {

struct ReadView {
  std::unique_ptr<store::KeyValueReader> snapshot;
  std::shared_ptr<store::RocksStore> pin;  // keeps an as-of store open
  std::optional<int64_t> as_of_day;
  std::optional<int64_t> known_at_ms;
  std::optional<engine::AsOfView> as_of;  // when asOf or knownAt was given
};

// Errors: kInvalidArgument naming asOf or knownAt and the rule; kUnavailable
// when `as_of` is null and a bound was given; what AsOfStores::Get returns.
StatusOr<ReadView> OpenReadView(const store::LiveStore& live, engine::AsOfStores* as_of,
                                const http::Request& request, std::vector<std::string> models);

// A 200 JSON object answer gains "knownAt" (RFC 3339, when given) and
// "asOfSource": {"checkpointRecords", "replayedRecords", "cached", "live"}.
http::Response AnnotateAsOf(http::Response response, const ReadView& view);

// The response of a failed OpenReadView.
http::Response ReadViewError(const Status& status);

// Opens the view, runs `handle(snapshot)` on it and annotates the answer.
template <typename Handler>
http::Response WithReadView(const store::LiveStore& live, engine::AsOfStores* as_of,
                            const http::Request& request, std::vector<std::string> models,
                            Handler handle) {
  StatusOr<ReadView> view = OpenReadView(live, as_of, request, std::move(models));
  if (!view.ok()) return ReadViewError(view.status());
  return AnnotateAsOf(handle(*view->snapshot), *view);
}

}  // namespace lok::api
