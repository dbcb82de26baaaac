#include "engine/record_decoder.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/projector.h"
#include "events/cloudevents.h"
#include "log/embedded_log.h"
#include "projections/funnel.h"
#include "projections/history.h"
#include "store/transaction.h"

namespace lok::engine {
namespace {

lok::v1::Event WonEvent(const std::string& id, const std::string& client, int64_t minor) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(1700000000);
  event.set_client_id(client);
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

std::vector<log::Header> ToHeaders(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<log::Header> headers;
  for (const auto& [name, value] : pairs) headers.push_back({name, value});
  return headers;
}

log::OutgoingRecord BinaryMode(const lok::v1::Event& event, events::DataFormat format) {
  return {event.client_id(), events::BinaryModeData(event, format),
          ToHeaders(events::BinaryModeHeaders(event, format, events::Binding::kKafka))};
}

log::OutgoingRecord StructuredMode(const lok::v1::Event& event) {
  return {event.client_id(),
          events::EncodeStructuredCloudEvent(event, events::DataFormat::kJson),
          {{"content-type", "application/cloudevents+json"}}};
}

TEST(RecordDecoderTest, DecodesPlainAndCloudEventRecords) {
  const lok::v1::Event event = WonEvent("e1", "acme", 100);
  for (const log::OutgoingRecord& outgoing :
       {log::OutgoingRecord{"acme", event.SerializeAsString(), {}},
        BinaryMode(event, events::DataFormat::kProtobuf),
        BinaryMode(event, events::DataFormat::kJson), StructuredMode(event)}) {
    log::Record record{.key = outgoing.key, .value = outgoing.value, .headers = outgoing.headers};
    StatusOr<lok::v1::Event> decoded = DecodeRecord(record);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->SerializeAsString(), event.SerializeAsString());
  }
}

// The projector on a real embedded log and RocksDB store applies CloudEvents
// like Lok records, dead-letters a CloudEvent without ce_id with the reason,
// and the history reads them back.
TEST(RecordDecoderTest, ProjectorAppliesCloudEventsAndDeadLettersBadOnes) {
  const auto root =
      std::filesystem::temp_directory_path() / ("lok-record-decoder-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  auto log = log::EmbeddedLog::Open((root / "log").string(), 2);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->CreateTopic("events", 2).ok());
  auto store = store::RocksStore::Open((root / "state").string());
  ASSERT_TRUE(store.ok());
  std::unique_ptr<log::LogReader> reader = (*log)->NewReader("events");
  projections::FunnelProjection funnel;
  projections::HistoryProjection history;
  ProjectorMetrics metrics;
  ProjectorOptions options;
  options.topic = "events";
  options.poll_timeout = std::chrono::milliseconds(50);
  Projector projector(**store, *reader, **log, {&funnel, &history}, options, metrics);
  ASSERT_TRUE(projector.Start().ok());

  log::OutgoingRecord no_id = BinaryMode(WonEvent("e4", "acme", 400), events::DataFormat::kJson);
  std::erase_if(no_id.headers, [](const log::Header& header) { return header.key == "ce_id"; });
  std::vector<log::OutgoingRecord> records = {
      {"acme", WonEvent("e1", "acme", 100).SerializeAsString(), {}},
      BinaryMode(WonEvent("e2", "acme", 200), events::DataFormat::kProtobuf),
      StructuredMode(WonEvent("e3", "acme", 300)),
      no_id,
  };
  ASSERT_TRUE((*log)->Append("events", records).ok());
  for (int round = 0; round < 100; ++round) {
    StatusOr<size_t> consumed = projector.RunOnce();
    ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
    if (*consumed == 0) break;
  }
  auto answer = projections::QueryFunnel(**store);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->stages(3).deals(), 3);
  EXPECT_EQ(metrics.dead_lettered(), 1);

  auto dlq = (*log)->NewReader("events.dlq");
  ASSERT_TRUE(dlq->Assign({{0, 0}, {1, 0}}).ok());
  auto letters = dlq->Poll(10, std::chrono::milliseconds(100));
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 1U);
  std::string reason;
  for (const log::Header& header : (*letters)[0].headers) {
    if (header.key == log::kDeadLetterReasonHeader) reason = header.value;
  }
  EXPECT_EQ(reason, "ce_id: required (a CloudEvent's id becomes the event's event_id)");

  auto events = projections::QueryHistory(**store, projections::HistoryOf::kClient, "acme", 10, "",
                                          /*newest_first=*/false);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->events_size(), 3);
  std::set<std::string> ids;
  for (const auto& entry : events->events()) ids.insert(entry.event().event_id());
  EXPECT_EQ(ids, (std::set<std::string>{"e1", "e2", "e3"}));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace lok::engine
