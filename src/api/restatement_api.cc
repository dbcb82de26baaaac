#include "api/restatement_api.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <boost/json.hpp>
#include <charconv>
#include <regex>

#include "api/query_params.h"
#include "base/civil_time.h"
#include "engine/projector.h"
#include "engine/record_decoder.h"
#include "events/validation.h"
#include "projections/funnel.h"

namespace lok::api {
namespace {

using google::protobuf::util::TimeUtil;

constexpr size_t kEventsPerChange = 20;


std::string TypeOf(const lok::v1::Event& event) {
  const auto* oneof = event.GetDescriptor()->FindOneofByName("payload");
  const auto* field = event.GetReflection()->GetOneofFieldDescriptor(event, oneof);
  return field != nullptr ? field->name() : "unknown";
}

struct LateEvent {
  log::Record position;  // partition, offset, timestamp (no bytes kept)
  lok::v1::Event event;
  std::string month;  // YYYY-MM of occurred_at
};

// The records in [from, to) per partition whose events occurred at or before `at_ms`.
StatusOr<std::vector<LateEvent>> ScanLate(const engine::ReaderFactory& new_reader,
                                          const log::PartitionOffsets& from,
                                          const log::PartitionOffsets& to, int64_t at_ms) {
  std::vector<LateEvent> late;
  log::PartitionOffsets assignment;
  for (const auto& [partition, end] : to) {
    auto start = from.find(partition);
    const int64_t begin = start == from.end() ? 0 : start->second;
    if (begin < end) assignment[partition] = begin;
  }
  if (assignment.empty()) return late;
  LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, new_reader());
  LOK_RETURN_IF_ERROR(reader->Assign(assignment));
  log::PartitionOffsets next = assignment;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  auto done = [&] {
    for (const auto& [partition, offset] : next) {
      if (offset < to.at(partition)) return false;
    }
    return true;
  };
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError("restatements: the log did not deliver the records since the cut");
    }
    LOK_ASSIGN_OR_RETURN(std::vector<log::Record> records,
                         reader->Poll(5000, std::chrono::milliseconds(200)));
    for (log::Record& record : records) {
      if (record.offset >= to.at(record.partition)) continue;
      next[record.partition] = record.offset + 1;
      StatusOr<lok::v1::Event> event = engine::DecodeRecord(record);
      if (!event.ok() || !events::Validate(*event).ok()) continue;  // dead-lettered, not counted
      if (TimeUtil::TimestampToMilliseconds(event->occurred_at()) > at_ms) continue;
      LateEvent entry;
      entry.position.partition = record.partition;
      entry.position.offset = record.offset;
      entry.position.timestamp_ms = record.timestamp_ms;
      entry.month = FormatMonth(MonthOfDay(DayOfSeconds(event->occurred_at().seconds())));
      entry.event = std::move(*event);
      late.push_back(std::move(entry));
    }
  }
  return late;
}

using Change = RestatedNumber;

// An array element's name: its identifying fields joined with '/' (a plan
// row is "2025-05/ana", a stage "WON"), else its index; and the month it is
// about, when one of them is a month.
std::pair<std::string, std::string> ElementName(const boost::json::value& element, size_t index) {
  static const std::regex kMonth("^[0-9]{4}-[0-9]{2}$");
  std::string name;
  std::string month;
  if (element.is_object()) {
    for (const char* field : {"key", "stage", "month", "period", "scope", "salesperson", "region",
                              "product", "clientId", "channel", "kind"}) {
      const boost::json::value* value = element.as_object().if_contains(field);
      if (value == nullptr || !value->is_string() || value->as_string().empty()) continue;
      const std::string text(value->as_string());
      name += (name.empty() ? "" : "/") + text;
      if (month.empty() && std::regex_match(text, kMonth)) month = text;
    }
  }
  if (name.empty()) name = std::to_string(index);
  return {name, month};
}

void Diff(const boost::json::value& old_value, const boost::json::value& new_value,
          const std::string& path, std::string period, std::vector<Change>& changes) {
  // A row on one side only: its numbers go from or to null, one by one.
  static const boost::json::value kEmptyObject = boost::json::object();
  static const boost::json::value kEmptyArray = boost::json::array();
  if (old_value.is_null() && (new_value.is_object() || new_value.is_array())) {
    Diff(new_value.is_object() ? kEmptyObject : kEmptyArray, new_value, path, period, changes);
    return;
  }
  if (new_value.is_null() && (old_value.is_object() || old_value.is_array())) {
    Diff(old_value, old_value.is_object() ? kEmptyObject : kEmptyArray, path, period, changes);
    return;
  }
  if (old_value.is_object() && new_value.is_object()) {
    std::set<std::string> names;
    for (const auto& [name, unused] : old_value.as_object()) names.insert(std::string(name));
    for (const auto& [name, unused] : new_value.as_object()) names.insert(std::string(name));
    for (const std::string& name : names) {
      if (name == "offsets") continue;
      const boost::json::value* a = old_value.as_object().if_contains(name);
      const boost::json::value* b = new_value.as_object().if_contains(name);
      Diff(a ? *a : boost::json::value(nullptr), b ? *b : boost::json::value(nullptr),
           path + "." + name, period, changes);
    }
    return;
  }
  if (old_value.is_array() && new_value.is_array()) {
    struct Pair {
      const boost::json::value* old_element = nullptr;
      const boost::json::value* new_element = nullptr;
      std::string month;
    };
    std::map<std::string, Pair> byName;
    std::vector<std::string> order;
    const auto add = [&](const boost::json::array& array, bool second) {
      for (size_t i = 0; i < array.size(); ++i) {
        auto [name, month] = ElementName(array[i], i);
        auto [it, inserted] = byName.try_emplace(name);
        if (inserted) order.push_back(name);
        (second ? it->second.new_element : it->second.old_element) = &array[i];
        it->second.month = month;
      }
    };
    add(old_value.as_array(), false);
    add(new_value.as_array(), true);
    for (const std::string& name : order) {
      const Pair& pair = byName[name];
      const boost::json::value* a = pair.old_element;
      const boost::json::value* b = pair.new_element;
      const std::string element_period = pair.month.empty() ? period : pair.month;
      Diff(a ? *a : boost::json::value(nullptr), b ? *b : boost::json::value(nullptr),
           path + "[" + name + "]", element_period, changes);
    }
    return;
  }
  if (old_value != new_value) changes.push_back({path, period, old_value, new_value});
}

boost::json::value ParseJson(const std::string& text) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(text, error);
  return error ? boost::json::value(nullptr) : value;
}

StatusOr<boost::json::value> FunnelJson(const store::KeyValueReader& reader,
                                        projections::FunnelMode mode, int64_t from_day,
                                        int64_t to_day, const ApiContext& context) {
  projections::FunnelQuery query;
  query.mode = mode;
  query.from_day = from_day;
  query.to_day = to_day;
  query.by = projections::FunnelBreakdown::kMonth;
  query.currency = context.reporting_currency;
  query.stage_probability = context.stage_probability;
  LOK_ASSIGN_OR_RETURN(lok::v1::FunnelResponse funnel, projections::QueryFunnel(reader, query));
  funnel.clear_offsets();
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(funnel, &text, options);
  return ParseJson(text);
}

StatusOr<boost::json::value> ConcentrationJson(const store::KeyValueReader& reader, int64_t day,
                                               const ApiContext& context) {
  http::Request request;
  request.method = "GET";
  request.path = "/v1/concentration";
  request.query = {{"asOf", FormatDate(day)}, {"limit", "10"}};
  http::Response response = HandleConcentration(reader, request, context.concentration);
  if (response.status != 200) return InternalError("restatements: concentration: " + response.body);
  return ParseJson(response.body);
}

boost::json::object Offsets(const log::PartitionOffsets& offsets) {
  boost::json::object object;
  for (const auto& [partition, offset] : offsets) object[std::to_string(partition)] = offset;
  return object;
}

http::Response HandleRestatements(const ApiContext& context, const http::Request& request) {
  std::optional<int64_t> since;
  size_t limit = 100;
  for (const auto& [name, value] : request.query) {
    if (name == "since") {
      StatusOr<int64_t> parsed = ParseKnownAt(value);
      if (!parsed.ok()) {
        return http::JsonError(400, "since" + parsed.status().message().substr(7));
      }
      since = *parsed;
    } else if (name == "limit") {
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (error != std::errc() || end != value.data() + value.size() || limit < 1 || limit > 1000) {
        return http::JsonError(400, "limit: must be a whole number from 1 to 1000, got '" + value + "'");
      }
    } else {
      return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: limit, since");
    }
  }
  if (!since) return http::JsonError(400, "since: required (a date YYYY-MM-DD or an RFC 3339 instant)");
  if (context.as_of == nullptr || !context.new_reader) {
    return http::JsonError(503, "restatements: not served by this node");
  }
  const auto fail = [](const Status& status) {
    return http::JsonError(http::HttpStatusFor(status), status.message());
  };

  std::unique_ptr<store::KeyValueReader> live = context.store->Snapshot();
  StatusOr<log::PartitionOffsets> now = engine::ReadPositions(*live);
  if (!now.ok()) return fail(now.status());
  StatusOr<std::unique_ptr<log::LogReader>> cut_reader = context.new_reader();
  if (!cut_reader.ok()) return fail(cut_reader.status());
  StatusOr<log::PartitionOffsets> cut = (*cut_reader)->OffsetsAfterTime(*since);
  if (!cut.ok()) return fail(cut.status());
  StatusOr<std::vector<LateEvent>> late = ScanLate(context.new_reader, *cut, *now, *since);
  if (!late.ok()) return fail(late.status());

  boost::json::array changes;
  if (!late->empty()) {
    const int64_t occurred_before = *since + 1;
    const std::vector<std::string> models = {"funnel", "concentration"};
    StatusOr<engine::AsOfView> reported =
        context.as_of->Get(*live, {*since, occurred_before, models, *cut});
    if (!reported.ok()) return fail(reported.status());
    // Exactly the prefix scanned for late events.
    StatusOr<engine::AsOfView> restated =
        context.as_of->Get(*live, {std::nullopt, occurred_before, models, *now});
    if (!restated.ok()) return fail(restated.status());
    const store::KeyValueReader& old_reader =
        reported->store ? static_cast<const store::KeyValueReader&>(*reported->store) : *live;
    const store::KeyValueReader& new_reader =
        restated->store ? static_cast<const store::KeyValueReader&>(*restated->store) : *live;

    const int64_t to_day = DayOfSeconds(*since / 1000);
    int64_t from_day = to_day;
    for (const LateEvent& event : *late) {
      from_day = std::min(from_day, DayOfSeconds(event.event.occurred_at().seconds()));
    }
    from_day = FirstDayOfMonth(MonthOfDay(from_day));
    std::vector<Change> found;
    for (auto [mode, name] : {std::pair{projections::FunnelMode::kPeriod, "funnel.period"},
                              std::pair{projections::FunnelMode::kCohort, "funnel.cohort"}}) {
      auto before = FunnelJson(old_reader, mode, from_day, to_day, context);
      auto after = FunnelJson(new_reader, mode, from_day, to_day, context);
      if (!before.ok()) return fail(before.status());
      if (!after.ok()) return fail(after.status());
      Diff(*before, *after, name, "", found);
    }
    auto before = ConcentrationJson(old_reader, to_day, context);
    auto after = ConcentrationJson(new_reader, to_day, context);
    if (!before.ok()) return fail(before.status());
    if (!after.ok()) return fail(after.status());
    Diff(*before, *after, "concentration", "", found);

    for (Change& change : found) {
      boost::json::array responsible;
      for (const LateEvent& event : *late) {
        if (!change.period.empty() && event.month != change.period) continue;
        if (responsible.size() == kEventsPerChange) break;
        responsible.push_back(boost::json::string(std::to_string(event.position.partition) + "/" +
                                                  std::to_string(event.position.offset)));
      }
      changes.push_back({{"metric", change.metric},
                         {"period", change.period},
                         {"old", change.old_value},
                         {"new", change.new_value},
                         {"lateEvents", std::move(responsible)}});
    }
  }

  boost::json::array listed;
  for (const LateEvent& event : *late) {
    if (listed.size() == limit) break;
    listed.push_back({{"position", std::to_string(event.position.partition) + "/" +
                                       std::to_string(event.position.offset)},
                      {"partition", event.position.partition},
                      {"offset", event.position.offset},
                      {"source", event.event.source()},
                      {"eventId", event.event.event_id()},
                      {"type", TypeOf(event.event)},
                      {"clientId", event.event.client_id()},
                      {"dealId", event.event.deal_id()},
                      {"occurredAt", TimeUtil::ToString(event.event.occurred_at())},
                      {"receivedAt", FormatInstant(event.position.timestamp_ms)}});
  }
  boost::json::object body{{"since", FormatInstant(*since)},
                           {"cut", Offsets(*cut)},
                           {"offsets", Offsets(*now)},
                           {"lateEventCount", static_cast<int64_t>(late->size())},
                           {"lateEvents", std::move(listed)},
                           {"complete", late->size() <= limit},
                           {"changes", std::move(changes)}};
  http::Response response;
  response.content_type = "application/json";
  response.body = boost::json::serialize(body);
  return response;
}

}  // namespace

std::vector<RestatedNumber> DiffAnswers(const boost::json::value& old_answer,
                                        const boost::json::value& new_answer,
                                        const std::string& path) {
  std::vector<RestatedNumber> changes;
  Diff(old_answer, new_answer, path, "", changes);
  return changes;
}

void RegisterRestatementRoutes(http::Server& server, const ApiContext& context) {
  server.Handle("GET", "/v1/restatements", [&context](const http::Request& request) {
    return HandleRestatements(context, request);
  });
}

}  // namespace lok::api
