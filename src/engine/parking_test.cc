// Parking: a projector on a real embedded log and a real RocksDB store, with
// a projection that rejects chosen events.
#include "engine/parking.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "engine/projector.h"
#include "engine/projector_fixture.h"
#include "events/event_codec.h"
#include "events/validation.h"
#include "log/embedded_log.h"
#include "projections/funnel.h"

namespace lok::engine {
namespace {

lok::v1::Event WonEvent(const std::string& id, const std::string& client, int64_t minor = 100) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("billing");
  event.mutable_occurred_at()->set_seconds(1700000000);
  event.set_client_id(client);
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

log::OutgoingRecord AsRecord(const lok::v1::Event& event) {
  return {event.client_id(), event.SerializeAsString(), {}};
}

void AppendVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

constexpr int kFutureField = 99;

// An event of a type a newer schema added as payload field 99 (the current
// proto lacks it): the envelope of `envelope`, and a DealWon-shaped body.
std::string FutureTypeBytes(const lok::v1::Event& envelope) {
  lok::v1::Event without_payload = envelope;
  without_payload.clear_payload();
  std::string bytes = without_payload.SerializeAsString();
  lok::v1::DealWon body;
  body.mutable_amount()->set_minor(700);
  body.mutable_amount()->set_currency("USD");
  const std::string body_bytes = body.SerializeAsString();
  AppendVarint(bytes, (uint64_t{kFutureField} << 3) | 2);  // length-delimited
  AppendVarint(bytes, body_bytes.size());
  bytes += body_bytes;
  return bytes;
}

// The decoder of a lokd upgraded to the newer schema: in it, field 99 is a
// deal-won-like type, which it applies as deal_won.
StatusOr<lok::v1::Event> UpgradedDecode(std::string_view bytes) {
  LOK_ASSIGN_OR_RETURN(lok::v1::Event event, events::DecodeBinary(bytes));
  google::protobuf::UnknownFieldSet* unknown = event.GetReflection()->MutableUnknownFields(&event);
  for (int index = 0; index < unknown->field_count(); ++index) {
    if (unknown->field(index).number() != kFutureField) continue;
    if (!event.mutable_deal_won()->ParseFromString(unknown->field(index).length_delimited())) {
      return InvalidArgumentError("field 99: not a DealWon");
    }
    unknown->DeleteByNumber(kFutureField);
    break;
  }
  return event;
}

// Rejects the events whose event_id is poisoned, after writing a key (which
// must not survive); records the order in which it applied events.
class PickyProjection : public projections::Projection {
 public:
  std::string_view Name() const override { return "picky"; }
  Status Apply(const lok::v1::Event& event, const projections::EventPosition&,
               store::Transaction& transaction) override {
    transaction.Put("picky/" + event.event_id(), "seen");
    transaction.AddCounter("picky/count", 1);
    if (unavailable_) return UnavailableError("picky: backing service down");
    if (poisoned_.contains(event.event_id())) {
      return FailedPreconditionError("picky: cannot take " + event.event_id());
    }
    applied_.push_back(event.event_id());
    return Status::Ok();
  }
  std::set<std::string> poisoned_;
  bool unavailable_ = false;
  std::vector<std::string> applied_;
};

class ParkingTest : public ProjectorFixture {
 protected:
  ParkingTest() : ProjectorFixture("lok-parking") {}

  void SetUp() override {
    ProjectorFixture::SetUp();
    OpenProjector();
  }

  // (Re)opens store and projector, as a restarted (or upgraded) lokd would.
  void OpenProjector(ProjectorOptions::DecodeFunction decode_parked = nullptr) {
    ProjectorOptions options;
    options.max_batch = 5;
    options.poll_timeout = std::chrono::milliseconds(50);
    options.decode_parked = std::move(decode_parked);
    // The funnel first, so a rejection by picky must undo the funnel's writes.
    ProjectorFixture::OpenProjector({&funnel_, &picky_}, options);
  }

  int64_t OffsetSum() {
    auto positions = ReadPositions(*store_);
    EXPECT_TRUE(positions.ok());
    int64_t total = 0;
    for (const auto& [partition, offset] : *positions) total += offset;
    return total;
  }

  std::vector<std::string> ParkedIds(const std::string& client) {
    auto parked = ReadParkedEvents(*store_, client, std::nullopt, 100);
    EXPECT_TRUE(parked.ok());
    std::vector<std::string> ids;
    for (const auto& event : *parked) ids.push_back(event.event_id());
    return ids;
  }

  bool Present(const std::string& key) {
    auto stored = store_->Get(key);
    EXPECT_TRUE(stored.ok());
    return stored->has_value();
  }

  // Acme: a1 a2(poisoned) a3 a4; beta: b1 b2 b3.
  void PublishAcmeAndBeta() {
    picky_.poisoned_ = {"a2"};
    Append({AsRecord(WonEvent("a1", "acme")), AsRecord(WonEvent("b1", "beta")),
            AsRecord(WonEvent("a2", "acme")), AsRecord(WonEvent("a3", "acme")),
            AsRecord(WonEvent("b2", "beta")), AsRecord(WonEvent("a4", "acme")),
            AsRecord(WonEvent("b3", "beta"))});
    Drain();
  }

  projections::FunnelProjection funnel_;
  PickyProjection picky_;
};

TEST_F(ParkingTest, RejectedEventParksItsClientInOrderWhileOtherClientsAreApplied) {
  PublishAcmeAndBeta();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a2", "a3", "a4"}));
  EXPECT_TRUE(ParkedIds("beta").empty());
  EXPECT_EQ(picky_.applied_, (std::vector<std::string>{"a1", "b1", "b2", "b3"}));
  EXPECT_EQ(WonDeals(), 4) << "a1 and beta's three";
  EXPECT_EQ(OffsetSum(), 7) << "the offsets pass parked events";
  EXPECT_EQ(Counter(kAppliedCounter), 4);

  auto parked = ReadParkedEvents(*store_, "acme", std::nullopt, 10);
  ASSERT_TRUE(parked.ok());
  EXPECT_EQ((*parked)[0].cause(), lok::v1::ParkedEvent::FAILED);
  EXPECT_EQ((*parked)[0].reason(), "picky: FAILED_PRECONDITION: picky: cannot take a2");
  EXPECT_EQ((*parked)[0].attempts(), 1);
  EXPECT_EQ((*parked)[0].value(), WonEvent("a2", "acme").SerializeAsString())
      << "original bytes kept";
  EXPECT_EQ((*parked)[1].cause(), lok::v1::ParkedEvent::HELD);
  EXPECT_LT((*parked)[0].offset(), (*parked)[1].offset());

  // Nothing of a2 stayed: neither picky's key, nor the funnel's deal, nor a dedupe mark.
  EXPECT_FALSE(Present("picky/a2"));
  EXPECT_TRUE(Present("picky/a1"));
  EXPECT_FALSE(Present("funnel/deal/deal-a2"));
  EXPECT_TRUE(Present("funnel/deal/deal-a1"));
  EXPECT_EQ(Counter("picky/count"), 4);

  auto totals = ReadParkedTotals(*store_);
  ASSERT_TRUE(totals.ok());
  EXPECT_EQ(totals->events, 3);
  EXPECT_EQ(totals->clients, 1);
  EXPECT_EQ(metrics_.parked(), 3);
  EXPECT_EQ(metrics_.parked_events(), 3);
  EXPECT_EQ(metrics_.parked_clients(), 1);

  // Later events of acme keep waiting behind a2; beta's go on.
  Append({AsRecord(WonEvent("a5", "acme")), AsRecord(WonEvent("b4", "beta"))});
  Drain();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a2", "a3", "a4", "a5"}));
  EXPECT_EQ(WonDeals(), 5);
}

TEST_F(ParkingTest, ParkedQueueSurvivesAReopenAndStillHoldsTheClient) {
  PublishAcmeAndBeta();
  const std::string metrics_before = metrics_.RenderPrometheus();
  OpenProjector();  // as after a crash: only the store remembers
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a2", "a3", "a4"}));
  EXPECT_EQ(OffsetSum(), 7);
  EXPECT_EQ(metrics_.parked_events(), 3) << "the gauge is loaded from the store";
  Append({AsRecord(WonEvent("a5", "acme"))});
  Drain();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a2", "a3", "a4", "a5"}));
  EXPECT_EQ(WonDeals(), 4);
}

TEST_F(ParkingTest, RetryAfterTheCauseIsFixedAppliesTheClientsEventsInOrder) {
  PublishAcmeAndBeta();
  picky_.applied_.clear();
  picky_.poisoned_.clear();  // the cause is fixed
  auto retried = projector_->RetryParked("acme");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->applied, 3);
  EXPECT_EQ(retried->remaining, 0);
  EXPECT_FALSE(retried->stopped_at.has_value());
  EXPECT_EQ(picky_.applied_, (std::vector<std::string>{"a2", "a3", "a4"}));
  EXPECT_EQ(WonDeals(), 7);
  EXPECT_EQ(Counter(kAppliedCounter), 7);
  EXPECT_TRUE(ParkedIds("acme").empty());
  EXPECT_EQ(Counter(kParkedEventsCounter), 0);
  EXPECT_EQ(Counter(kParkedClientsCounter), 0);
  EXPECT_EQ(metrics_.retried(), 3);
  EXPECT_EQ(metrics_.parked_clients(), 0);

  // Now marked applied: a republished a2 is a duplicate; new acme events apply at once.
  Append({AsRecord(WonEvent("a2", "acme")), AsRecord(WonEvent("a6", "acme"))});
  Drain();
  EXPECT_EQ(Counter(kDuplicateCounter), 1);
  EXPECT_EQ(WonDeals(), 8);
  EXPECT_TRUE(ParkedIds("acme").empty());
  EXPECT_EQ(projector_->RetryParked("acme").status().code(), StatusCode::kNotFound);
}

TEST_F(ParkingTest, RetryStopsAtTheFirstEventThatFailsAgainAndKeepsTheRest) {
  picky_.poisoned_ = {"a2", "a4"};
  Append({AsRecord(WonEvent("a1", "acme")), AsRecord(WonEvent("a2", "acme")),
          AsRecord(WonEvent("a3", "acme")), AsRecord(WonEvent("a4", "acme")),
          AsRecord(WonEvent("a5", "acme"))});
  Drain();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a2", "a3", "a4", "a5"}));

  picky_.poisoned_ = {"a4"};
  auto retried = projector_->RetryParked("acme");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->applied, 2);
  EXPECT_EQ(retried->remaining, 2);
  ASSERT_TRUE(retried->stopped_at.has_value());
  EXPECT_EQ(retried->stopped_at->event_id(), "a4");
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a4", "a5"}));
  auto head = ReadParkedEvents(*store_, "acme", std::nullopt, 1);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ((*head)[0].attempts(), 2);
  EXPECT_EQ((*head)[0].cause(), lok::v1::ParkedEvent::FAILED) << "was HELD behind a2";
  EXPECT_FALSE(Present("picky/a4"));
  EXPECT_EQ(WonDeals(), 3);
  EXPECT_EQ(Counter(kParkedEventsCounter), 2);
  EXPECT_EQ(Counter(kParkedClientsCounter), 1);
}

TEST_F(ParkingTest, SkipRecordsWhatWasSkippedAndRetryAppliesTheRest) {
  PublishAcmeAndBeta();
  auto skipped = projector_->SkipParked("acme", /*all=*/false, "ops@example");
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  ASSERT_EQ(skipped->skipped.size(), 1U);
  EXPECT_EQ(skipped->skipped[0].event_id(), "a2");
  EXPECT_EQ(skipped->remaining, 2);
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a3", "a4"}));

  auto audit = ReadSkippedEvents(*store_, "acme", 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1U);
  EXPECT_EQ((*audit)[0].event_id(), "a2");
  EXPECT_EQ((*audit)[0].skipped_by(), "ops@example");
  EXPECT_GT((*audit)[0].skipped_at_ms(), 0);
  EXPECT_EQ((*audit)[0].reason(), "picky: FAILED_PRECONDITION: picky: cannot take a2");
  EXPECT_EQ(metrics_.skipped(), 1);

  // Still parked until retried: a new event waits behind a3.
  Append({AsRecord(WonEvent("a5", "acme"))});
  Drain();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a3", "a4", "a5"}));
  auto retried = projector_->RetryParked("acme");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->applied, 3);
  EXPECT_EQ(WonDeals(), 7) << "all but the skipped a2";
  EXPECT_FALSE(Present("funnel/deal/deal-a2"));

  // A skipped event has no dedupe mark: a corrected copy is applied.
  picky_.poisoned_.clear();
  Append({AsRecord(WonEvent("a2", "acme"))});
  Drain();
  EXPECT_EQ(WonDeals(), 8);
}

TEST_F(ParkingTest, SkipAllEmptiesTheQueueAndUnparksTheClient) {
  PublishAcmeAndBeta();
  auto skipped = projector_->SkipParked("acme", /*all=*/true, "");
  ASSERT_TRUE(skipped.ok()) << skipped.status().ToString();
  EXPECT_EQ(skipped->skipped_count, 3);
  EXPECT_EQ(skipped->remaining, 0);
  EXPECT_EQ(Counter(kParkedClientsCounter), 0);
  EXPECT_EQ(Counter(kParkedEventsCounter), 0);
  auto audit = ReadSkippedEvents(*store_, "acme", 10);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->size(), 3U);
  Append({AsRecord(WonEvent("a5", "acme"))});
  Drain();
  EXPECT_EQ(WonDeals(), 5) << "acme is not parked any more";
  EXPECT_EQ(projector_->SkipParked("acme", true, "").status().code(), StatusCode::kNotFound);
}

TEST_F(ParkingTest, UnknownEventTypeIsParkedAndAppliedInOrderAfterAnUpgrade) {
  const lok::v1::Event envelope = WonEvent("f1", "acme");
  Append({AsRecord(WonEvent("a1", "acme")),
          {"acme", FutureTypeBytes(envelope), {}},
          AsRecord(WonEvent("a2", "acme")),
          AsRecord(WonEvent("b1", "beta"))});
  Drain();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"f1", "a2"}));
  EXPECT_EQ(Counter(kDeadLetteredCounter), 0) << "parked, not dead-lettered";
  auto parked = ReadParkedEvents(*store_, "acme", std::nullopt, 10);
  ASSERT_TRUE(parked.ok());
  EXPECT_EQ((*parked)[0].cause(), lok::v1::ParkedEvent::UNKNOWN_EVENT_TYPE);
  EXPECT_EQ((*parked)[0].reason(), "unknown event type (field 99); upgrade lokd");
  EXPECT_EQ((*parked)[0].payload(), "");
  EXPECT_EQ(WonDeals(), 2) << "a1 and beta's b1";

  // This lokd still does not know it: a retry keeps everything parked.
  auto again = projector_->RetryParked("acme");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->applied, 0);
  EXPECT_EQ(again->remaining, 2);
  ASSERT_TRUE(again->stopped_at.has_value());
  EXPECT_EQ(again->stopped_at->reason(), "unknown event type (field 99); upgrade lokd");
  EXPECT_EQ(again->stopped_at->attempts(), 2);

  // The upgrade: a lokd whose decoder knows field 99 reopens the same store.
  OpenProjector(UpgradedDecode);
  picky_.applied_.clear();
  auto retried = projector_->RetryParked("acme");
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(retried->applied, 2);
  EXPECT_EQ(retried->remaining, 0);
  EXPECT_EQ(picky_.applied_, (std::vector<std::string>{"f1", "a2"}));
  EXPECT_EQ(WonDeals(), 4);
  auto deal = store_->Get("funnel/deal/deal-f1");
  ASSERT_TRUE(deal.ok());
  EXPECT_TRUE(deal->has_value()) << "applied as the upgraded lokd reads it";
}

TEST_F(ParkingTest, UndecodableOrInvalidRecordsAreStillDeadLettered) {
  lok::v1::Event no_payload = WonEvent("n1", "acme");
  no_payload.clear_payload();
  lok::v1::Event future_without_client = WonEvent("f1", "");
  Append({{"acme", "\xff\xfe not protobuf", {}},
          AsRecord(no_payload),
          {"", FutureTypeBytes(future_without_client), {}},
          AsRecord(WonEvent("a1", "acme"))});
  Drain();
  EXPECT_EQ(Counter(kDeadLetteredCounter), 3);
  EXPECT_EQ(Counter(kParkedEventsCounter), 0);
  EXPECT_EQ(WonDeals(), 1);
}

TEST_F(ParkingTest, InfrastructureFailureFailsTheBatchAndParksNothing) {
  picky_.unavailable_ = true;
  Append({AsRecord(WonEvent("a1", "acme")), AsRecord(WonEvent("b1", "beta"))});
  auto consumed = projector_->RunOnce();
  EXPECT_EQ(consumed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Counter(kParkedEventsCounter), 0);
  EXPECT_EQ(OffsetSum(), 0) << "nothing committed";

  picky_.unavailable_ = false;
  ASSERT_TRUE(projector_->Start().ok());
  Drain();
  EXPECT_EQ(WonDeals(), 2);
  EXPECT_EQ(OffsetSum(), 2);
}

TEST_F(ParkingTest, DuplicateOfAnAppliedEventBehindAParkedOneIsDroppedNotParked) {
  PublishAcmeAndBeta();
  Append({AsRecord(WonEvent("a1", "acme"))});  // applied before a2 was parked
  Drain();
  EXPECT_EQ(ParkedIds("acme"), (std::vector<std::string>{"a2", "a3", "a4"}));
  EXPECT_EQ(Counter(kDuplicateCounter), 1);
}

TEST(ParkingRulesTest, InfrastructureFailuresAreStorageReadsAndTransientCodes) {
  EXPECT_TRUE(IsInfrastructureFailure(InvalidArgumentError("x"), UnavailableError("disk")));
  EXPECT_TRUE(IsInfrastructureFailure(UnavailableError("x"), Status::Ok()));
  EXPECT_TRUE(IsInfrastructureFailure(DeadlineExceededError("x"), Status::Ok()));
  EXPECT_TRUE(IsInfrastructureFailure(Status(StatusCode::kCancelled, "x"), Status::Ok()));
  EXPECT_FALSE(IsInfrastructureFailure(InvalidArgumentError("x"), Status::Ok()));
  EXPECT_FALSE(IsInfrastructureFailure(FailedPreconditionError("x"), Status::Ok()));
  EXPECT_FALSE(IsInfrastructureFailure(DataLossError("unreadable deal"), Status::Ok()));
  EXPECT_FALSE(IsInfrastructureFailure(InternalError("invariant"), Status::Ok()));
}

TEST(ParkingRulesTest, OnlyAnUnknownPayloadFieldMakesAnUnknownType) {
  lok::v1::Event known = WonEvent("k", "acme");
  EXPECT_FALSE(UnknownPayloadField(known).has_value());
  auto future = events::DecodeBinary(FutureTypeBytes(known));
  ASSERT_TRUE(future.ok());
  EXPECT_EQ(UnknownPayloadField(*future), kFutureField);
  EXPECT_TRUE(ValidateEnvelope(*future).ok());
  EXPECT_FALSE(events::Validate(*future).ok());

  // An unknown envelope field (number below the payloads) is not a type.
  lok::v1::Event none = known;
  none.clear_payload();
  std::string bytes = none.SerializeAsString();
  AppendVarint(bytes, (uint64_t{9} << 3) | 2);
  AppendVarint(bytes, 1);
  bytes += "x";
  auto envelope_only = events::DecodeBinary(bytes);
  ASSERT_TRUE(envelope_only.ok());
  EXPECT_FALSE(UnknownPayloadField(*envelope_only).has_value());
}

}  // namespace
}  // namespace lok::engine
