#include "api/read_view.h"

#include <boost/json.hpp>

#include "api/query_params.h"
#include "base/civil_time.h"

namespace lok::api {
namespace {

constexpr int64_t kMsPerDay = 86400000;

}  // namespace

StatusOr<ReadView> OpenReadView(const store::LiveStore& live, engine::AsOfStores* as_of,
                                const http::Request& request, std::vector<std::string> models) {
  ReadView view;
  for (const auto& [name, value] : request.query) {
    if (name == "asOf") {
      std::optional<int64_t> day = ParseDate(value);
      if (!day) return InvalidArgumentError("asOf: must be a date YYYY-MM-DD, got '" + value + "'");
      view.as_of_day = day;
    } else if (name == "knownAt") {
      LOK_ASSIGN_OR_RETURN(view.known_at_ms, ParseKnownAt(value));
    }
  }
  view.snapshot = live.Snapshot();
  if (!view.as_of_day && !view.known_at_ms) return view;
  if (as_of == nullptr) return UnavailableError("asOf, knownAt: not served by this node");
  engine::AsOfRequest as_of_request;
  as_of_request.known_at_ms = view.known_at_ms;
  if (view.as_of_day) as_of_request.occurred_before_ms = (*view.as_of_day + 1) * kMsPerDay;
  as_of_request.models = std::move(models);
  LOK_ASSIGN_OR_RETURN(engine::AsOfView built, as_of->Get(*view.snapshot, as_of_request));
  if (built.store != nullptr) {
    view.pin = built.store;
    view.snapshot = built.store->Snapshot();
  }
  view.as_of = std::move(built);
  return view;
}

http::Response AnnotateAsOf(http::Response response, const ReadView& view) {
  if (!view.as_of || response.status != 200) return response;
  boost::system::error_code error;
  // The whole DOM in one arena: parsed node by node from the heap, a 40 KB
  // answer cost a few thousand allocations and frees.
  boost::json::monotonic_resource arena(response.body.size() * 2);
  boost::json::value body = boost::json::parse(response.body, error, &arena);
  if (error || !body.is_object()) return response;
  boost::json::object& object = body.as_object();
  if (view.as_of_day && !object.contains("asOf")) object["asOf"] = FormatDate(*view.as_of_day);
  if (view.known_at_ms) object["knownAt"] = FormatInstant(*view.known_at_ms);
  object["asOfSource"] = {{"live", view.as_of->store == nullptr},
                          {"checkpointRecords", view.as_of->base_records},
                          {"replayedRecords", view.as_of->records_replayed},
                          {"cached", view.as_of->from_cache}};
  response.body = boost::json::serialize(body);
  return response;
}

http::Response ReadViewError(const Status& status) {
  return http::JsonError(status.code() == StatusCode::kInvalidArgument ? 400
                                                                       : http::HttpStatusFor(status),
                         status.message());
}

}  // namespace lok::api
