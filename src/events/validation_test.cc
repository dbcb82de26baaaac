#include "events/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "events/event_codec.h"

namespace lok::events {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

lok::v1::Event ValidDealWon() {
  lok::v1::Event event;
  event.set_event_id("e-1");
  event.set_source("billing");
  event.mutable_occurred_at()->set_seconds(1700000000);
  event.set_client_id("acme");
  event.set_deal_id("d-1");
  event.mutable_deal_won()->mutable_amount()->set_minor(250000);
  event.mutable_deal_won()->mutable_amount()->set_currency("EUR");
  return event;
}

std::vector<Violation> ViolationsAfter(void (*mutate)(lok::v1::Event&)) {
  lok::v1::Event event = ValidDealWon();
  mutate(event);
  return FindViolations(event);
}

TEST(ValidationTest, ValidEventHasNoViolations) {
  EXPECT_THAT(FindViolations(ValidDealWon()), IsEmpty());
  EXPECT_TRUE(Validate(ValidDealWon()).ok());
}

TEST(ValidationTest, EnvelopeFieldsAreRequired) {
  lok::v1::Event event;
  event.mutable_lead_qualified();
  EXPECT_THAT(FindViolations(event),
              ElementsAre(Violation{"event_id", "required"}, Violation{"source", "required"},
                          Violation{"occurred_at", "required"}, Violation{"client_id", "required"},
                          Violation{"deal_id", "required"}));
}

TEST(ValidationTest, DealIdIsOptionalForClientEvents) {
  lok::v1::Event event = ValidDealWon();
  event.clear_deal_id();
  auto* contact = event.mutable_client_contacted();
  contact->set_channel(lok::v1::ClientContacted::CALL);
  contact->set_direction(lok::v1::ClientContacted::OUTBOUND);
  EXPECT_THAT(FindViolations(event), IsEmpty());
}

TEST(ValidationTest, MissingPayloadIsNamed) {
  auto violations = ViolationsAfter([](lok::v1::Event& event) { event.clear_payload(); });
  ASSERT_EQ(violations.size(), 1U);
  EXPECT_EQ(violations[0].field, "payload");
}

TEST(ValidationTest, PayloadOfANewerSchemaIsNamedAsUnknownType) {
  lok::v1::Event event = ValidDealWon();
  event.clear_payload();
  // Field 99, length-delimited, empty: a payload this version does not know.
  std::string bytes = event.SerializeAsString() + std::string("\x9a\x06\x00", 3);
  lok::v1::Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  auto violations = FindViolations(parsed);
  ASSERT_EQ(violations.size(), 1U);
  EXPECT_EQ(violations[0].field, "payload");
  EXPECT_EQ(
      violations[0].rule,
      "unknown event type (field number 99): published by a newer schema than this lokd knows");
}

TEST(ValidationTest, NegativeMoneyIsRejected) {
  auto violations = ViolationsAfter(
      [](lok::v1::Event& event) { event.mutable_deal_won()->mutable_amount()->set_minor(-1); });
  EXPECT_THAT(violations, ElementsAre(Violation{"deal_won.amount.minor", "must be >= 0"}));
}

TEST(ValidationTest, CurrencyMustBeThreeUpperCaseLetters) {
  for (const char* bad : {"", "eur", "EURO", "E1R"}) {
    lok::v1::Event event = ValidDealWon();
    event.mutable_deal_won()->mutable_amount()->set_currency(bad);
    auto violations = FindViolations(event);
    ASSERT_EQ(violations.size(), 1U) << bad;
    EXPECT_EQ(violations[0].field, "deal_won.amount.currency");
  }
}

TEST(ValidationTest, MissingAmountIsRequired) {
  auto violations =
      ViolationsAfter([](lok::v1::Event& event) { event.mutable_deal_won()->clear_amount(); });
  EXPECT_THAT(violations, ElementsAre(Violation{"deal_won.amount", "required"}));
}

TEST(ValidationTest, TimestampOutsideSaneBoundsIsRejected) {
  for (int64_t seconds : {int64_t{0}, int64_t{253402300799} /* 9999-12-31 */}) {
    lok::v1::Event event = ValidDealWon();
    event.mutable_occurred_at()->set_seconds(seconds);
    auto violations = FindViolations(event);
    ASSERT_EQ(violations.size(), 1U);
    EXPECT_EQ(violations[0].field, "occurred_at");
  }
}

TEST(ValidationTest, OverlongStringsAreRejected) {
  auto violations = ViolationsAfter(
      [](lok::v1::Event& event) { event.set_client_id(std::string(kMaxIdLength + 1, 'x')); });
  EXPECT_THAT(violations,
              ElementsAre(Violation{"client_id", "must be at most 256 bytes, got 257"}));
}

TEST(ValidationTest, HugeStringsNameTheFieldAndTheLimit) {
  auto violations = ViolationsAfter([](lok::v1::Event& event) {
    event.mutable_deal_lost()->set_reason(std::string(1'000'000, 'x'));
  });
  EXPECT_THAT(violations, ElementsAre(Violation{"deal_lost.reason",
                                                "must be at most 4096 bytes, got 1000000"}));
}

TEST(ValidationTest, StringsSetFromHeadersMustBeUtf8) {
  auto violations = ViolationsAfter([](lok::v1::Event& event) { event.set_source("cr\xffm"); });
  EXPECT_THAT(violations, ElementsAre(Violation{"source", "must be valid UTF-8"}));
}

TEST(ValidationTest, DiscountMustBeBetweenZeroAndFullPrice) {
  lok::v1::Event event = ValidDealWon();
  auto* offer = event.mutable_offer_sent();
  offer->mutable_amount()->set_minor(100);
  offer->mutable_amount()->set_currency("USD");
  offer->set_discount_bp(10001);
  EXPECT_THAT(
      FindViolations(event),
      ElementsAre(Violation{"offer_sent.discount_bp", "must be between 0 and 10000 basis points"}));
}

TEST(ValidationTest, InvoiceNeedsIdAndCalendarDueDate) {
  lok::v1::Event event = ValidDealWon();
  auto* invoice = event.mutable_invoice_issued();
  invoice->mutable_amount()->set_minor(100);
  invoice->mutable_amount()->set_currency("USD");
  invoice->set_due_date("2025-02-30");
  auto violations = FindViolations(event);
  ASSERT_EQ(violations.size(), 2U);
  EXPECT_EQ(violations[0].field, "invoice_issued.invoice_id");
  EXPECT_EQ(violations[1].field, "invoice_issued.due_date");
}

TEST(ValidationTest, PaymentDelayedNeedsNonNegativeDays) {
  lok::v1::Event event = ValidDealWon();
  auto* delay = event.mutable_payment_delayed();
  delay->set_invoice_id("i-1");
  delay->set_days_overdue(-3);
  delay->mutable_outstanding()->set_minor(5);
  delay->mutable_outstanding()->set_currency("USD");
  EXPECT_THAT(FindViolations(event),
              ElementsAre(Violation{"payment_delayed.days_overdue", "must be >= 0"}));
}

TEST(ValidationTest, ContactNeedsChannelAndDirection) {
  lok::v1::Event event = ValidDealWon();
  event.mutable_client_contacted();
  auto violations = FindViolations(event);
  ASSERT_EQ(violations.size(), 2U);
  EXPECT_EQ(violations[0].field, "client_contacted.channel");
  EXPECT_EQ(violations[1].field, "client_contacted.direction");
}

TEST(ValidationTest, TargetPeriodMustBeYearMonth) {
  for (const char* bad : {"2025-13", "2025-1", "25-01", ""}) {
    lok::v1::Event event = ValidDealWon();
    auto* target = event.mutable_target_set();
    target->set_period(bad);
    target->mutable_amount()->set_minor(1);
    target->mutable_amount()->set_currency("USD");
    EXPECT_THAT(FindViolations(event),
                ElementsAre(Violation{"target_set.period", "must be a month in the form YYYY-MM"}))
        << bad;
  }
}

TEST(ValidationTest, ValidateListsEveryViolation) {
  lok::v1::Event event = ValidDealWon();
  event.clear_source();
  event.mutable_deal_won()->mutable_amount()->set_minor(-5);
  Status status = Validate(event);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "source: required; deal_won.amount.minor: must be >= 0");
}

}  // namespace
}  // namespace lok::events
