#include "api/explain_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "api/query_params.h"
#include "api/read_view.h"
#include "base/civil_time.h"
#include "engine/projector.h"
#include "projections/history.h"
#include "projections/provenance.h"

namespace lok::api {
namespace {

constexpr size_t kEventsPerDeal = 200;

http::Response Json(const boost::json::object& body) {
  http::Response response;
  response.body = boost::json::serialize(body);
  return response;
}

http::Response Failure(const Status& status) {
  return http::JsonError(http::HttpStatusFor(status), status.message());
}

std::string TypeOf(const lok::v1::Event& event) {
  const auto* field = lok::v1::Event::descriptor()->FindFieldByNumber(event.payload_case());
  return field == nullptr ? "unknown" : field->name();
}

std::string Timestamp(const google::protobuf::Timestamp& time) {
  const int64_t seconds = time.seconds();
  const int64_t day = DayOfSeconds(seconds);
  const int64_t in_day = seconds - day * 86400;
  char clock[16];
  std::snprintf(clock, sizeof(clock), "T%02d:%02d:%02dZ", static_cast<int>(in_day / 3600),
                static_cast<int>(in_day / 60 % 60), static_cast<int>(in_day % 60));
  return FormatDate(day) + clock;
}

boost::json::object EventJson(const lok::v1::HistoryEvent& entry) {
  return {{"source", entry.event().source()},
          {"eventId", entry.event().event_id()},
          {"type", TypeOf(entry.event())},
          {"occurredAt", Timestamp(entry.event().occurred_at())},
          {"partition", entry.partition()},
          {"offset", entry.offset()},
          {"recordTimeMs", entry.record_time_ms()}};
}

boost::json::object Money(int64_t minor, const std::string& currency) {
  return {{"minor", minor}, {"currency", currency}};
}

// The deal's events as stored (the first kEventsPerDeal; "moreEvents" says
// whether there are others, read them with GET /v1/deals/{id}/history).
StatusOr<boost::json::object> DealJson(const store::KeyValueReader& snapshot,
                                       const projections::ExplainedDeal& deal,
                                       std::string_view at_name) {
  LOK_ASSIGN_OR_RETURN(lok::v1::HistoryResponse history,
                       projections::QueryHistory(snapshot, projections::HistoryOf::kDeal,
                                                 deal.deal_id, kEventsPerDeal, ""));
  boost::json::array events;
  for (const lok::v1::HistoryEvent& entry : history.events()) events.push_back(EventJson(entry));
  google::protobuf::Timestamp at;
  at.set_seconds(deal.at_seconds);
  return boost::json::object{{"dealId", deal.deal_id},
                             {"clientId", deal.client_id},
                             {"salesperson", deal.salesperson},
                             {"region", deal.region},
                             {"product", deal.product},
                             {"amount", Money(deal.amount, deal.currency)},
                             {at_name, Timestamp(at)},
                             {"events", std::move(events)},
                             {"moreEvents", !history.next_cursor().empty()}};
}

StatusOr<boost::json::object> OffsetsJson(const store::KeyValueReader& snapshot) {
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets offsets, engine::ReadPositions(snapshot));
  boost::json::object json;
  for (const auto& [partition, offset] : offsets) json[std::to_string(partition)] = offset;
  return json;
}

StatusOr<boost::json::object> ExplanationJson(const store::KeyValueReader& snapshot,
                                              const projections::Explanation& explanation,
                                              const std::string& currency,
                                              std::string_view at_name) {
  boost::json::array deals;
  for (const projections::ExplainedDeal& deal : explanation.deals) {
    LOK_ASSIGN_OR_RETURN(boost::json::object json, DealJson(snapshot, deal, at_name));
    deals.push_back(std::move(json));
  }
  LOK_ASSIGN_OR_RETURN(boost::json::object offsets, OffsetsJson(snapshot));
  return boost::json::object{{"count", explanation.count},
                             {"amount", Money(explanation.amount, currency)},
                             {"deals", std::move(deals)},
                             {"nextCursor", explanation.next_cursor},
                             {"offsets", std::move(offsets)}};
}

}  // namespace

http::Response HandleFunnelExplain(const store::KeyValueReader& snapshot,
                                   const http::Request& request,
                                   const std::string& reporting_currency) {
  ParamSpec spec;
  spec.limit = true;
  spec.as_of = true;  // asOf/knownAt choose the read model (api/read_view.h)
  spec.extra = {"stage", "mode", "after"};
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, reporting_currency);
  if (!params.ok()) return http::JsonError(400, params.status().message());
  projections::FunnelExplainQuery query;
  auto stage = params->extra.find("stage");
  if (stage == params->extra.end()) {
    return http::JsonError(400, "stage: required, one of LEAD, QUALIFIED, OFFER, WON, LOST");
  }
  lok::v1::Stage parsed = lok::v1::STAGE_UNSPECIFIED;
  if (!lok::v1::Stage_Parse(stage->second, &parsed) || parsed == lok::v1::STAGE_UNSPECIFIED) {
    return http::JsonError(
        400, "stage: must be LEAD, QUALIFIED, OFFER, WON or LOST, got '" + stage->second + "'");
  }
  query.stage = parsed;
  StatusOr<projections::FunnelMode> mode = FunnelModeOf(*params);
  if (!mode.ok()) return http::JsonError(400, mode.status().message());
  query.mode = *mode;
  query.from_day = params->from_day;
  query.to_day = params->to_day;
  query.salesperson = params->salesperson;
  query.region = params->region;
  query.product = params->product;
  query.client = params->client;
  query.currency = params->currency;
  query.limit = static_cast<size_t>(params->limit.value_or(100));
  if (auto after = params->extra.find("after"); after != params->extra.end())
    query.after = after->second;
  auto explanation = projections::ExplainFunnel(snapshot, query);
  if (!explanation.ok()) return Failure(explanation.status());
  auto json = ExplanationJson(snapshot, *explanation, query.currency, "enteredAt");
  if (!json.ok()) return Failure(json.status());
  (*json)["stage"] = lok::v1::Stage_Name(query.stage);
  (*json)["mode"] = query.mode == projections::FunnelMode::kPeriod ? "period" : "cohort";
  return Json(*json);
}

http::Response HandleConcentrationExplain(const store::KeyValueReader& snapshot,
                                          const http::Request& request,
                                          const std::string& reporting_currency) {
  ParamSpec spec;
  spec.limit = true;
  spec.as_of = true;
  spec.extra = {"after"};
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, reporting_currency);
  if (!params.ok()) return http::JsonError(400, params.status().message());
  if (!params->client)
    return http::JsonError(400, "client: required (the client whose revenue to explain)");
  projections::RevenueExplainQuery query;
  query.client = *params->client;
  // The concentration endpoint's window: whole months, by default the 12
  // months ending with the evaluation day's month.
  const int32_t last_month =
      MonthOfDay(params->to_day.value_or(params->EvaluationDay(Today())));
  const int32_t first_month =
      params->from_day ? MonthOfDay(*params->from_day) : last_month - 11;
  if (params->from_day && !params->to_day) {
    query.to_day = FirstDayOfMonth(first_month + 12) - 1;
  } else {
    query.to_day = FirstDayOfMonth(last_month + 1) - 1;
  }
  query.from_day = FirstDayOfMonth(first_month);
  query.salesperson = params->salesperson;
  query.region = params->region;
  query.product = params->product;
  query.currency = params->currency;
  query.limit = static_cast<size_t>(params->limit.value_or(100));
  if (auto after = params->extra.find("after"); after != params->extra.end())
    query.after = after->second;
  auto explanation = projections::ExplainRevenue(snapshot, query);
  if (!explanation.ok()) return Failure(explanation.status());
  auto json = ExplanationJson(snapshot, *explanation, query.currency, "wonAt");
  if (!json.ok()) return Failure(json.status());
  (*json)["client"] = query.client;
  (*json)["from"] = FormatDate(*query.from_day);
  (*json)["to"] = FormatDate(*query.to_day);
  return Json(*json);
}

http::Response HandleRetentionExplain(const store::KeyValueReader& snapshot,
                                      const http::Request& request) {
  ParamSpec spec;
  spec.as_of = true;
  spec.limit = true;
  spec.extra = {"after"};
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, "USD");
  if (!params.ok()) return http::JsonError(400, params.status().message());
  if (!params->client)
    return http::JsonError(400, "client: required (the client whose reasons to explain)");
  // Pages of openDelays and wonDeals: items [after, after + limit) of each.
  const size_t limit = static_cast<size_t>(params->limit.value_or(100));
  size_t after = 0;
  if (auto cursor = params->extra.find("after"); cursor != params->extra.end()) {
    auto [end, error] = std::from_chars(cursor->second.data(),
                                        cursor->second.data() + cursor->second.size(), after);
    if (error != std::errc() || end != cursor->second.data() + cursor->second.size()) {
      return http::JsonError(400, "after: must be a previous answer's nextCursor, got '" +
                                      cursor->second + "'");
    }
  }
  const auto in_page = [&](size_t index) { return index >= after && index < after + limit; };
  const int64_t as_of = params->EvaluationDay(Today());
  auto evidence = projections::ExplainRetention(snapshot, *params->client, as_of);
  if (!evidence.ok()) return Failure(evidence.status());
  auto list = [](const std::vector<lok::v1::HistoryEvent>& entries) {
    boost::json::array events;
    for (const lok::v1::HistoryEvent& entry : entries) events.push_back(EventJson(entry));
    return events;
  };
  boost::json::array delays;
  for (size_t index = 0; index < evidence->open_delays.size(); ++index) {
    if (!in_page(index)) continue;
    const lok::v1::HistoryEvent& entry = evidence->open_delays[index];
    const auto& delayed = entry.event().payment_delayed();
    delays.push_back(
        {{"invoiceId", delayed.invoice_id()},
         {"dueDate",
          FormatDate(DayOfSeconds(entry.event().occurred_at().seconds()) - delayed.days_overdue())},
         {"outstanding", Money(delayed.outstanding().minor(), delayed.outstanding().currency())},
         {"event", EventJson(entry)}});
  }
  boost::json::array wins;
  for (size_t index = 0; index < evidence->wins.size(); ++index) {
    if (!in_page(index)) continue;
    const lok::v1::HistoryEvent& entry = evidence->wins[index];
    const auto& won = entry.event().deal_won();
    wins.push_back({{"dealId", entry.event().deal_id()},
                    {"wonOn", FormatDate(DayOfSeconds(entry.event().occurred_at().seconds()))},
                    {"amount", Money(won.amount().minor(), won.amount().currency())},
                    {"event", EventJson(entry)}});
  }
  auto offsets = OffsetsJson(snapshot);
  if (!offsets.ok()) return Failure(offsets.status());
  boost::json::object last_contact{{"events", list(evidence->last_contact)}};
  last_contact["date"] = evidence->last_contact_day
                             ? boost::json::value(FormatDate(*evidence->last_contact_day))
                             : boost::json::value(nullptr);
  return Json({{"client", *params->client},
               {"asOf", FormatDate(as_of)},
               {"lastContact", std::move(last_contact)},
               {"openDelays", std::move(delays)},
               {"openDelaysTotal", evidence->open_delays.size()},
               {"wonDeals", std::move(wins)},
               {"wonDealsTotal", evidence->wins.size()},
               {"nextCursor", after + limit < std::max(evidence->open_delays.size(),
                                                       evidence->wins.size())
                                  ? std::to_string(after + limit)
                                  : std::string()},
               {"offsets", std::move(*offsets)}});
}

void RegisterExplainRoutes(http::Server& server, const ApiContext& context) {
  // The explanations read the provenance index and the events as stored.
  server.Handle("GET", "/v1/funnel/explain", [&context](const http::Request& request) {
    return WithReadView(*context.store, context.as_of, request, {"provenance", "history"},
                        [&](const store::KeyValueReader& snapshot) {
                          return HandleFunnelExplain(snapshot, request, context.reporting_currency);
                        });
  });
  server.Handle("GET", "/v1/concentration/explain", [&context](const http::Request& request) {
    return WithReadView(*context.store, context.as_of, request, {"provenance", "history"},
                        [&](const store::KeyValueReader& snapshot) {
                          return HandleConcentrationExplain(snapshot, request,
                                                            context.reporting_currency);
                        });
  });
  server.Handle("GET", "/v1/retention/explain", [&context](const http::Request& request) {
    // The handler reads the client's history up to asOf itself (exact), so
    // only knownAt needs a read model of its own.
    http::Request known_only = request;
    std::erase_if(known_only.query, [](const auto& entry) { return entry.first == "asOf"; });
    return WithReadView(*context.store, context.as_of, known_only, {"history"},
                        [&](const store::KeyValueReader& snapshot) {
                          return HandleRetentionExplain(snapshot, request);
                        });
  });
}

}  // namespace lok::api
