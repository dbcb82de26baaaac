#include "api/concentration_api.h"

#include <google/protobuf/arena.h>

#include "api/proto_json.h"
#include "api/query_params.h"
#include "base/civil_time.h"
#include "engine/projector.h"
#include "projections/concentration.h"

namespace lok::api {
namespace {

using projections::ConcentrationWindow;
using projections::ScopeKind;

// The window a query covers; see the header for the rules.
StatusOr<ConcentrationWindow> ResolveWindow(const QueryParams& params, int64_t today) {
  // asOf bounds the events (api/read_view.h); the window is from/to when
  // given, else the trailing year up to the evaluation day.
  if (!params.from_day && !params.to_day) {
    return projections::TrailingYearEndingAt(params.EvaluationDay(today));
  }
  if (!params.from_day) return projections::TrailingYearEndingAt(*params.to_day);
  const int32_t first = MonthOfDay(*params.from_day);
  if (!params.to_day)
    return ConcentrationWindow{ConcentrationWindow::Kind::kTrailingYear, first + 11};
  const int32_t last = MonthOfDay(*params.to_day);
  const int32_t months = last - first + 1;
  if (months == 1) return ConcentrationWindow{ConcentrationWindow::Kind::kMonth, last};
  if (months == 12) return ConcentrationWindow{ConcentrationWindow::Kind::kTrailingYear, last};
  return InvalidArgumentError(
      "from, to: the window must span 1 calendar month or 12 consecutive calendar months "
      "(dates snap to whole months); got " +
      std::to_string(months) + " months");
}

http::Response ProtoJson(const google::protobuf::Message& message) {
  http::Response response;
  if (!AppendProtoJson(message, response.body)) {
    return http::JsonError(500, "concentration: the answer could not be rendered as JSON");
  }
  return response;
}

}  // namespace

http::Response HandleConcentration(const store::KeyValueReader& snapshot,
                                   const http::Request& request,
                                   const ConcentrationSettings& settings) {
  ParamSpec spec;
  spec.breakdowns = {Breakdown::kSalesperson, Breakdown::kRegion, Breakdown::kProduct};
  spec.as_of = true;
  spec.limit = true;
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, settings.reporting_currency);
  if (!params.ok()) return http::ErrorResponse(params.status());

  projections::ConcentrationQuery query;
  const int64_t today = settings.today_day >= 0 ? settings.today_day : Today();
  StatusOr<ConcentrationWindow> window = ResolveWindow(*params, today);
  if (!window.ok()) return http::ErrorResponse(window.status());
  query.window = *window;
  query.currency = params->currency;
  int filters = 0;
  if (params->salesperson) {
    query.scope_kind = ScopeKind::kSalesperson;
    query.scope_value = *params->salesperson;
    ++filters;
  }
  if (params->region) {
    query.scope_kind = ScopeKind::kRegion;
    query.scope_value = *params->region;
    ++filters;
  }
  if (params->product) {
    query.scope_kind = ScopeKind::kProduct;
    query.scope_value = *params->product;
    ++filters;
  }
  if (filters > 1) {
    return http::JsonError(400, "salesperson, region, product: at most one of them is supported");
  }
  switch (params->by) {
    case Breakdown::kSalesperson:
      query.breakdown = ScopeKind::kSalesperson;
      break;
    case Breakdown::kRegion:
      query.breakdown = ScopeKind::kRegion;
      break;
    case Breakdown::kProduct:
      query.breakdown = ScopeKind::kProduct;
      break;
    default:
      break;
  }
  if (query.breakdown && filters > 0) {
    return http::JsonError(400,
                           "by: cannot be combined with a salesperson, region or product filter");
  }
  if (query.breakdown && params->client) {
    return http::JsonError(400, "client: cannot be combined with by");
  }
  query.client = params->client;
  query.limit = params->limit.value_or(10);
  query.client_share_alert = settings.client_share_alert;
  query.hhi_moderate = settings.hhi_moderate;
  query.hhi_high = settings.hhi_high;

  // The answer (hundreds of small messages with a breakdown) on one arena.
  google::protobuf::Arena arena;
  auto* answer = google::protobuf::Arena::CreateMessage<lok::v1::ConcentrationResponse>(&arena);
  if (Status status = projections::QueryConcentration(snapshot, query, *answer); !status.ok()) {
    return http::ErrorResponse(status);
  }
  if (!params->from_day && !params->to_day) {
    answer->set_as_of(FormatDate(params->EvaluationDay(today)));
  }
  answer->set_by(std::string(BreakdownName(params->by)));
  StatusOr<log::PartitionOffsets> positions = engine::ReadPositions(snapshot);
  if (!positions.ok()) return http::ErrorResponse(positions.status());
  for (const auto& [partition, offset] : *positions)
    (*answer->mutable_offsets())[partition] = offset;
  return ProtoJson(*answer);
}

}  // namespace lok::api
