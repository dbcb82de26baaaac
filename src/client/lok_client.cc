#include "client/lok_client.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>
#include <thread>

#include "events/event_codec.h"
#include "http/http_client.h"

namespace lok::client {
namespace {

std::string ToNdjson(const std::vector<lok::v1::Event>& events, size_t begin, size_t end) {
  std::string body;
  for (size_t index = begin; index < end; ++index) {
    body += events::EncodeJson(events[index]);
    body += '\n';
  }
  return body;
}

void MergeOffsets(log::PartitionOffsets& into, int32_t partition, int64_t next) {
  auto& slot = into[partition];
  slot = std::max(slot, next);
}

std::string MoneyText(const lok::v1::Money& money) {
  const int64_t whole = money.minor() / 100;
  const int64_t cents = money.minor() % 100;
  return fmt::format("{} {}.{:02d}", money.currency(), whole, cents);
}

}  // namespace

std::string PublishSummary::ToText() const {
  std::string text = fmt::format("{} lines read, {} events appended, {} rejected\n", lines,
                                 appended, rejected.size());
  for (const auto& line : rejected) text += fmt::format("  line {}: {}\n", line.line, line.reason);
  return text;
}

StatusOr<PublishSummary> PublishOverHttp(std::string_view ndjson, const std::string& base_url,
                                         const PublishOptions& options) {
  events::ParsedBatch batch = events::ParseNdjson(ndjson);
  PublishSummary summary;
  summary.lines = batch.events.size() + batch.rejected.size();
  summary.rejected = batch.rejected;
  if (!batch.rejected.empty() && !options.partial) return summary;
  const std::string url = base_url + "/v1/events";
  for (size_t begin = 0; begin < batch.events.size(); begin += options.chunk_events) {
    const size_t end = std::min(batch.events.size(), begin + options.chunk_events);
    LOK_ASSIGN_OR_RETURN(http::ClientResponse response,
                         http::Fetch("POST", url, ToNdjson(batch.events, begin, end),
                                     "application/x-ndjson", std::chrono::minutes(2),
                                     http::BearerHeader(options.token)));
    if (response.status != 200) {
      return UnavailableError(fmt::format("POST {}: HTTP {}: {} ({} events appended before)", url,
                                          response.status, response.body, summary.appended));
    }
    boost::system::error_code error;
    boost::json::value parsed = boost::json::parse(response.body, error);
    if (error || !parsed.is_object()) {
      return InternalError("POST " + url + ": unreadable answer: " + response.body);
    }
    const auto& object = parsed.as_object();
    summary.appended += static_cast<size_t>(object.at("appended").to_number<int64_t>());
    if (const auto* offsets = object.if_contains("offsets")) {
      for (const auto& [partition, next] : offsets->as_object()) {
        MergeOffsets(summary.offsets, std::stoi(std::string(partition)), next.to_number<int64_t>());
      }
    }
  }
  return summary;
}

StatusOr<PublishSummary> PublishToLog(std::string_view ndjson, log::LogWriter& writer,
                                      const std::string& topic, const PublishOptions& options) {
  events::ParsedBatch batch = events::ParseNdjson(ndjson);
  PublishSummary summary;
  summary.lines = batch.events.size() + batch.rejected.size();
  summary.rejected = batch.rejected;
  if (!batch.rejected.empty() && !options.partial) return summary;
  for (size_t begin = 0; begin < batch.events.size(); begin += options.chunk_events) {
    const size_t end = std::min(batch.events.size(), begin + options.chunk_events);
    std::vector<log::OutgoingRecord> records;
    for (size_t index = begin; index < end; ++index) {
      records.push_back(
          {batch.events[index].client_id(), batch.events[index].SerializeAsString(), {}});
    }
    LOK_ASSIGN_OR_RETURN(std::vector<log::Position> positions,
                         writer.Append(topic, std::move(records)));
    summary.appended += positions.size();
    for (const log::Position& position : positions) {
      MergeOffsets(summary.offsets, position.partition, position.offset + 1);
    }
  }
  return summary;
}

Status WaitHealthy(const std::string& base_url, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  Status last = UnavailableError("not tried");
  while (std::chrono::steady_clock::now() < until) {
    auto response =
        http::Fetch("GET", base_url + "/healthz", {}, "application/json", std::chrono::seconds(2));
    if (response.ok() && response->status == 200) return Status::Ok();
    last = response.ok() ? UnavailableError("HTTP " + std::to_string(response->status))
                         : response.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  return DeadlineExceededError("lokd at " + base_url + " not healthy: " + last.ToString());
}

StatusOr<lok::v1::FunnelResponse> FetchFunnel(const std::string& base_url) {
  LOK_ASSIGN_OR_RETURN(http::ClientResponse response, http::Fetch("GET", base_url + "/v1/funnel"));
  if (response.status != 200) {
    return UnavailableError("GET /v1/funnel: HTTP " + std::to_string(response.status) + ": " +
                            response.body);
  }
  lok::v1::FunnelResponse funnel;
  auto status = google::protobuf::util::JsonStringToMessage(response.body, &funnel);
  if (!status.ok()) return InternalError("GET /v1/funnel: unreadable answer: " + response.body);
  return funnel;
}

StatusOr<lok::v1::FunnelResponse> WaitForOffsets(const std::string& base_url,
                                                 const log::PartitionOffsets& offsets,
                                                 std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::string lagging = "no answer yet";
  while (std::chrono::steady_clock::now() < until) {
    auto funnel = FetchFunnel(base_url);
    if (funnel.ok()) {
      lagging.clear();
      for (const auto& [partition, next] : offsets) {
        auto found = funnel->offsets().find(partition);
        const int64_t at = found == funnel->offsets().end() ? 0 : found->second;
        if (at < next) {
          lagging = fmt::format("partition {} at {}, waiting for {}", partition, at, next);
          break;
        }
      }
      if (lagging.empty()) return funnel;
    } else {
      lagging = funnel.status().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  return DeadlineExceededError("read models did not catch up: " + lagging);
}

std::string FormatFunnel(const lok::v1::FunnelResponse& funnel) {
  std::string text = fmt::format("{:<10} {:>8}  {}\n", "stage", "deals", "amounts");
  for (const auto& stage : funnel.stages()) {
    std::string amounts;
    for (const auto& money : stage.amounts()) {
      amounts += (amounts.empty() ? "" : ", ") + MoneyText(money);
    }
    text += fmt::format("{:<10} {:>8}  {}\n", lok::v1::Stage_Name(stage.stage()), stage.deals(),
                        amounts);
  }
  text += fmt::format("win rate   {:.1f} %\n", funnel.win_rate() * 100);
  return text;
}

}  // namespace lok::client
