#include "events/upcaster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::events {
namespace {

using ::testing::HasSubstr;

constexpr const char* kEnvelope =
    R"("event_id":"e1","source":"erp","occurred_at":"2024-03-01T10:00:00Z","client_id":"acme","deal_id":"d1")";

std::string DealWonJson(const std::string& deal_won, const std::string& key = "deal_won") {
  return std::string("{") + kEnvelope + ",\"" + key + "\":" + deal_won + "}";
}

// The bytes an old producer wrote: the envelope, then deal_won (field 23) as
// `string amount = 1; string currency = 2;` plus `extra` raw DealWon fields.
std::string OldBinaryDealWon(const std::string& amount, const std::string& currency,
                             const std::string& extra = "") {
  lok::v1::Event envelope;
  envelope.set_event_id("e1");
  envelope.set_source("erp");
  envelope.mutable_occurred_at()->set_seconds(1709287200);
  envelope.set_client_id("acme");
  envelope.set_deal_id("d1");
  std::string deal_won;
  deal_won += '\x0a';  // field 1, length-delimited
  deal_won += static_cast<char>(amount.size());
  deal_won += amount;
  if (!currency.empty()) {
    deal_won += '\x12';  // field 2, length-delimited
    deal_won += static_cast<char>(currency.size());
    deal_won += currency;
  }
  deal_won += extra;
  std::string bytes = envelope.SerializeAsString();
  bytes += "\xba\x01";  // field 23, length-delimited
  bytes += static_cast<char>(deal_won.size());
  bytes += deal_won;
  return bytes;
}

TEST(UpcasterTest, OldJsonDealWonWithDecimalAmountBecomesMoney) {
  const uint64_t upcasts_before = UpcastCount();
  auto event = DecodeJson(DealWonJson(R"({"amount":"1234.50","currency":"EUR"})"));
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->deal_won().amount().minor(), 123450);
  EXPECT_EQ(event->deal_won().amount().currency(), "EUR");
  EXPECT_TRUE(Validate(*event).ok()) << Validate(*event).ToString();
  EXPECT_EQ(UpcastCount(), upcasts_before + 1);
}

TEST(UpcasterTest, UpcastJsonRewritesOnlyTheOldPayload) {
  auto upcast =
      UpcastJson(R"({"event_id":"e1","dealWon":{"amount":"7","currency":"JPY","note":1}})");
  ASSERT_TRUE(upcast.ok()) << upcast.status().ToString();
  ASSERT_TRUE(upcast->has_value());
  EXPECT_EQ(**upcast,
            R"({"event_id":"e1","dealWon":{"amount":{"minor":"7","currency":"JPY"},"note":1}})");
}

TEST(UpcasterTest, CurrentShapesAreNotTouched) {
  const uint64_t upcasts_before = UpcastCount();
  auto current = UpcastJson(DealWonJson(R"({"amount":{"minor":"1500","currency":"USD"}})"));
  ASSERT_TRUE(current.ok());
  EXPECT_FALSE(current->has_value());
  auto other_payload = UpcastJson(std::string("{") + kEnvelope + R"(,"lead_qualified":{}})");
  ASSERT_TRUE(other_payload.ok());
  EXPECT_FALSE(other_payload->has_value());
  auto not_json = UpcastJson(R"({"deal_won": )");
  ASSERT_TRUE(not_json.ok());
  EXPECT_FALSE(not_json->has_value());
  EXPECT_EQ(UpcastCount(), upcasts_before);
}

TEST(UpcasterTest, OldJsonDealWonWithoutCurrencyNamesTheField) {
  auto event = DecodeJson(DealWonJson(R"({"amount":"1234.50"})"));
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(event.status().message(), HasSubstr("deal_won.currency: required beside a "
                                                  "decimal-string deal_won.amount"));
}

TEST(UpcasterTest, TooManyDecimalPlacesAreRejectedNotRounded) {
  auto event = DecodeJson(DealWonJson(R"({"amount":"1234.505","currency":"EUR"})"));
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(event.status().message(),
            "deal_won.amount: \"1234.505\" has more decimal places than the minor unit of EUR "
            "allows (2); amounts are never rounded");
}

TEST(UpcasterTest, JsonNumberAmountIsRejected) {
  auto event = DecodeJson(DealWonJson(R"({"amount":1234.5,"currency":"EUR"})"));
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(event.status().message(), HasSubstr("deal_won.amount: must be a Money object"));
}

TEST(UpcasterTest, DecimalsUseTheCurrencysMinorUnit) {
  EXPECT_EQ(*DecimalToMinorUnits("1234.50", "EUR", "f"), 123450);
  EXPECT_EQ(*DecimalToMinorUnits("1234", "EUR", "f"), 123400);
  EXPECT_EQ(*DecimalToMinorUnits("1234.5", "USD", "f"), 123450);
  EXPECT_EQ(*DecimalToMinorUnits("1234.500", "EUR", "f"), 123450);  // trailing zeros are exact
  EXPECT_EQ(*DecimalToMinorUnits("1500", "JPY", "f"), 1500);
  EXPECT_EQ(*DecimalToMinorUnits("1500.00", "KRW", "f"), 1500);
  EXPECT_EQ(*DecimalToMinorUnits("1.234", "BHD", "f"), 1234);
  EXPECT_EQ(*DecimalToMinorUnits("0.5", "KWD", "f"), 500);
  EXPECT_EQ(*DecimalToMinorUnits("0", "EUR", "f"), 0);
  EXPECT_EQ(*DecimalToMinorUnits("92233720368547758.07", "EUR", "f"),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(MinorUnitExponent("OMR"), 3);
  EXPECT_EQ(MinorUnitExponent("TND"), 3);
  EXPECT_EQ(MinorUnitExponent("JOD"), 3);
  EXPECT_EQ(MinorUnitExponent("CLF"), 4);
  EXPECT_EQ(MinorUnitExponent("XYZ"), 2);
}

TEST(UpcasterTest, MalformedDecimalsNameTheFieldAndTheRule) {
  for (const char* decimal :
       {"", "-5.00", "+5", "12,50", "1.", ".5", "1e3", " 12", "12.3.4", "NaN"}) {
    auto minor = DecimalToMinorUnits(decimal, "EUR", "deal_won.amount");
    EXPECT_EQ(minor.status().code(), StatusCode::kInvalidArgument) << decimal;
    EXPECT_THAT(minor.status().message(),
                HasSubstr("deal_won.amount: must be a non-negative decimal number"))
        << decimal;
  }
  EXPECT_THAT(DecimalToMinorUnits("1.5", "JPY", "deal_won.amount").status().message(),
              HasSubstr("minor unit of JPY allows (0)"));
  EXPECT_THAT(DecimalToMinorUnits("92233720368547758.08", "EUR", "f").status().message(),
              HasSubstr("f: \"92233720368547758.08\" is too large"));
}

TEST(UpcasterTest, OldBinaryDealWonBecomesMoneyAndKeepsUnknownFields) {
  const std::string unknown_field_9 = "\x48\x2a";  // field 9, varint 42
  auto event = DecodeBinary(OldBinaryDealWon("1234.50", "EUR", unknown_field_9));
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->event_id(), "e1");
  EXPECT_EQ(event->deal_won().amount().minor(), 123450);
  EXPECT_EQ(event->deal_won().amount().currency(), "EUR");
  EXPECT_TRUE(Validate(*event).ok()) << Validate(*event).ToString();
  const auto& unknown = event->deal_won().GetReflection()->GetUnknownFields(event->deal_won());
  ASSERT_EQ(unknown.field_count(), 1);
  EXPECT_EQ(unknown.field(0).number(), 9);
  EXPECT_EQ(unknown.field(0).varint(), 42u);
}

// "100000000" happens to parse as a Money (an unknown fixed64 field 6) in the
// current schema: recognising the old shape by its bytes, not by a failed
// parse, is what turns it into 1,000,000.00 instead of an empty Money.
TEST(UpcasterTest, OldBinaryAmountThatAlsoParsesAsMoneyIsStillUpcast) {
  const std::string bytes = OldBinaryDealWon("100000000", "USD");
  lok::v1::Event naive;
  ASSERT_TRUE(naive.ParseFromString(bytes));
  EXPECT_EQ(naive.deal_won().amount().minor(), 0);
  auto event = DecodeBinary(bytes);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->deal_won().amount().minor(), 10000000000);
  EXPECT_EQ(event->deal_won().amount().currency(), "USD");
}

TEST(UpcasterTest, OldBinaryDealWonWithoutCurrencyNamesTheField) {
  auto event = DecodeBinary(OldBinaryDealWon("1234.50", ""));
  EXPECT_EQ(event.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(event.status().message(), HasSubstr("deal_won.currency: required"));
}

TEST(UpcasterTest, CurrentBinaryEventsAreNotTouched) {
  lok::v1::Event event;
  event.set_event_id("e1");
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");  // minor 0: currency first
  auto zero = UpcastBinary(event.SerializeAsString());
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(zero->has_value());
  event.mutable_deal_won()->mutable_amount()->set_minor(0x7f7f7f7f7f);
  auto large = UpcastBinary(event.SerializeAsString());
  ASSERT_TRUE(large.ok());
  EXPECT_FALSE(large->has_value());
  event.mutable_deal_won()->clear_amount();  // an empty deal_won: the validator's business
  auto empty = UpcastBinary(event.SerializeAsString());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  auto garbage = UpcastBinary("\xba\x01\x7f garbage");
  ASSERT_TRUE(garbage.ok());
  EXPECT_FALSE(garbage->has_value());
}

}  // namespace
}  // namespace lok::events
