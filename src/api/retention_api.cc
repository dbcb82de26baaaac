#include "api/retention_api.h"

#include "api/proto_json.h"
#include "api/query_params.h"
#include "base/civil_time.h"
#include "engine/projector.h"

namespace lok::api {
namespace {

constexpr int64_t kDefaultLimit = 50;

}  // namespace

http::Response HandleRetention(const store::KeyValueReader& snapshot, const http::Request& request,
                               const RetentionApiSettings& settings) {
  ParamSpec spec;
  spec.as_of = true;
  spec.limit = true;
  StatusOr<QueryParams> params = ParseQueryParams(request, spec, settings.reporting_currency);
  if (!params.ok()) return http::ErrorResponse(params.status());
  if (params->from_day || params->to_day || params->product) {
    const std::string name = params->from_day ? "from" : params->to_day ? "to" : "product";
    return http::JsonError(400, name +
                                    ": not supported by /v1/retention (the queue is as of one "
                                    "day: use asOf; filters: salesperson, region, client)");
  }
  projections::RetentionSettings retention = settings.retention;
  retention.currency = params->currency;
  projections::RetentionQuery query;
  query.as_of_day =
      params->EvaluationDay(settings.today_day >= 0 ? settings.today_day : lok::Today());
  query.limit = params->limit.value_or(kDefaultLimit);
  query.salesperson = params->salesperson;
  query.region = params->region;
  query.client = params->client;

  StatusOr<lok::v1::RetentionResponse> queue =
      projections::QueryRetention(snapshot, query, retention);
  if (!queue.ok()) return http::ErrorResponse(queue.status());
  StatusOr<log::PartitionOffsets> positions = engine::ReadPositions(snapshot);
  if (!positions.ok()) return http::ErrorResponse(positions.status());
  for (const auto& [partition, offset] : *positions) {
    (*queue->mutable_offsets())[partition] = offset;
  }

  http::Response response;
  if (!AppendProtoJson(*queue, response.body)) {
    return http::JsonError(500, "retention: cannot render the answer");
  }
  return response;
}

}  // namespace lok::api
