#include "api/read_view.h"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "api/query_params.h"
#include "base/civil_time.h"

namespace lok::api {
namespace {

constexpr int64_t kMsPerDay = 86400000;

// A boost::json SAX handler that only validates and notes the top-level
// object's shape: whether it has an "asOf" member, and how many members.
struct TopLevelShape {
  using error_code = boost::system::error_code;
  using string_view = boost::json::string_view;
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);

  int depth = 0;
  bool object = false;  // the document is an object
  bool has_as_of = false;
  size_t members = 0;
  std::string key;  // a top-level key arriving in parts

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) {
    if (depth++ == 0) object = true;
    return true;
  }
  bool on_object_end(size_t n, error_code&) {
    if (--depth == 0) members = n;
    return true;
  }
  bool on_array_begin(error_code&) {
    ++depth;
    return true;
  }
  bool on_array_end(size_t, error_code&) {
    --depth;
    return true;
  }
  bool on_key_part(string_view part, size_t, error_code&) {
    if (depth == 1) key.append(part.data(), part.size());
    return true;
  }
  bool on_key(string_view part, size_t, error_code&) {
    if (depth == 1) {
      key.append(part.data(), part.size());
      has_as_of = has_as_of || key == "asOf";
      key.clear();
    }
    return true;
  }
  bool on_string_part(string_view, size_t, error_code&) { return true; }
  bool on_string(string_view, size_t, error_code&) { return true; }
  bool on_number_part(string_view, error_code&) { return true; }
  bool on_int64(int64_t, string_view, error_code&) { return true; }
  bool on_uint64(uint64_t, string_view, error_code&) { return true; }
  bool on_double(double, string_view, error_code&) { return true; }
  bool on_bool(bool, error_code&) { return true; }
  bool on_null(error_code&) { return true; }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }
};

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
  // The members are spliced in before the closing brace: the answer's own
  // bytes stay as printed (a DOM round trip re-printed every number, and
  // boost's double parsing is not exact in the last digit), and only a SAX
  // pass over it is paid, no DOM.
  boost::json::basic_parser<TopLevelShape> parser(boost::json::parse_options{});
  boost::system::error_code error;
  const size_t used = parser.write_some(false, response.body.data(), response.body.size(), error);
  const TopLevelShape& shape = parser.handler();
  if (error || used != response.body.size() || !shape.object) return response;
  boost::json::object added;
  if (view.as_of_day && !shape.has_as_of) added["asOf"] = FormatDate(*view.as_of_day);
  if (view.known_at_ms) added["knownAt"] = FormatInstant(*view.known_at_ms);
  added["asOfSource"] = {{"live", view.as_of->store == nullptr},
                         {"checkpointRecords", view.as_of->base_records},
                         {"replayedRecords", view.as_of->records_replayed},
                         {"cached", view.as_of->from_cache}};
  const std::string members = boost::json::serialize(added);  // {...}
  const size_t close = response.body.find_last_of('}');
  std::string body;
  body.reserve(response.body.size() + members.size());
  body.append(response.body, 0, close);
  if (shape.members > 0) body.push_back(',');
  body.append(members, 1, members.size() - 2);
  body.append(response.body, close, std::string::npos);
  response.body = std::move(body);
  return response;
}

http::Response ReadViewError(const Status& status) {
  return http::JsonError(status.code() == StatusCode::kInvalidArgument ? 400
                                                                       : http::HttpStatusFor(status),
                         status.message());
}

}  // namespace lok::api
