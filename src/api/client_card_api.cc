#include "api/client_card_api.h"

#include "api/proto_json.h"
#include "api/query_params.h"
#include "base/civil_time.h"
#include "engine/projector.h"
#include "lok/v1/query.pb.h"
#include "projections/concentration.h"
#include "projections/funnel.h"
#include "projections/retention.h"

namespace lok::api {

http::Response HandleClientCard(const store::KeyValueReader& snapshot, const http::Request& request,
                                const RetentionApiSettings& settings) {
  constexpr std::string_view kPrefix = "/v1/clients/";
  const std::string client_id = request.path.substr(kPrefix.size());
  if (client_id.empty() || client_id.find('/') != std::string::npos) {
    return http::JsonError(404, "no such client path: " + request.path);
  }
  for (const auto& [name, value] : request.query) {
    if (name != "asOf" && name != "knownAt" && name != "currency") {
      return http::JsonError(400, "unknown query parameter '" + name +
                                      "'; allowed: asOf, currency, knownAt");
    }
  }
  ParamSpec spec;
  spec.as_of = true;
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, settings.reporting_currency);
  if (!params.ok()) return http::JsonError(400, params.status().message());
  const int64_t as_of = params->EvaluationDay(settings.today_day >= 0 ? settings.today_day : Today());

  lok::v1::ClientCard card;
  card.set_client_id(client_id);
  card.set_as_of(FormatDate(as_of));
  card.set_currency(params->currency);
  bool known = false;

  auto stages = projections::ClientDealsByStage(snapshot, client_id);
  if (!stages.ok()) return http::JsonError(500, stages.status().message());
  for (const auto& [stage, deals] : *stages) {
    auto* row = card.add_deals_by_stage();
    row->set_stage(stage);
    row->set_deals(deals);
    known = true;
  }
  auto concentration =
      projections::QueryClientConcentration(snapshot, client_id, params->currency, as_of);
  if (!concentration.ok()) return http::JsonError(500, concentration.status().message());
  *card.mutable_concentration() = *concentration;

  projections::RetentionSettings retention_settings = settings.retention;
  retention_settings.currency = params->currency;
  auto retention = projections::QueryClientRetention(snapshot, client_id, as_of, retention_settings);
  if (retention.ok()) {
    *card.mutable_retention() = *retention;
    known = true;
  } else if (retention.status().code() != StatusCode::kNotFound) {
    return http::JsonError(500, retention.status().message());
  }
  if (!known) return http::JsonError(404, "client '" + client_id + "': no events for this client");

  auto positions = engine::ReadPositions(snapshot);
  if (!positions.ok()) return http::JsonError(500, positions.status().message());
  for (const auto& [partition, offset] : *positions) (*card.mutable_offsets())[partition] = offset;

  http::Response response;
  if (!AppendProtoJson(card, response.body)) {
    return http::JsonError(500, "client card: cannot render the answer");
  }
  return response;
}

}  // namespace lok::api
