#include "events/validation.h"

#include <google/protobuf/unknown_field_set.h>

#include <chrono>

#include "base/utf8.h"
#include "events/cloudevents.h"

namespace lok::events {
namespace {

using lok::v1::Event;

class Checker {
 public:
  void Require(bool condition, std::string field, std::string rule) {
    if (!condition) violations_.push_back({std::move(field), std::move(rule)});
  }

  void RequiredString(const std::string& value, const std::string& field, size_t max_length) {
    Require(!value.empty(), field, "required");
    OptionalString(value, field, max_length);
  }

  void OptionalString(const std::string& value, const std::string& field, size_t max_length) {
    Require(value.size() <= max_length, field,
            "must be at most " + std::to_string(max_length) + " bytes, got " +
                std::to_string(value.size()));
    // Parsers reject bad UTF-8 already; this catches strings set from other
    // sources (CloudEvents headers).
    Require(IsValidUtf8(value), field, "must be valid UTF-8");
  }

  // A Money that must be present: a non-negative amount in an ISO 4217 code.
  void RequiredMoney(bool present, const lok::v1::Money& money, const std::string& field) {
    if (!present) {
      Require(false, field, "required");
      return;
    }
    Require(money.minor() >= 0, field + ".minor", "must be >= 0");
    Require(IsCurrencyCode(money.currency()), field + ".currency",
            "must be an ISO 4217 code of three upper-case letters (e.g. USD)");
  }

  void YearMonth(const std::string& value, const std::string& field) {
    bool shaped = value.size() == 7 && value[4] == '-' && AllDigits(value.substr(0, 4)) &&
                  AllDigits(value.substr(5, 2));
    bool month_ok =
        shaped && std::stoi(value.substr(5, 2)) >= 1 && std::stoi(value.substr(5, 2)) <= 12;
    Require(month_ok, field, "must be a month in the form YYYY-MM");
  }

  void Date(const std::string& value, const std::string& field, bool required) {
    if (value.empty()) {
      Require(!required, field, "required");
      return;
    }
    bool shaped = value.size() == 10 && value[4] == '-' && value[7] == '-' &&
                  AllDigits(value.substr(0, 4)) && AllDigits(value.substr(5, 2)) &&
                  AllDigits(value.substr(8, 2));
    bool valid = false;
    if (shaped) {
      std::chrono::year_month_day date{
          std::chrono::year(std::stoi(value.substr(0, 4))),
          std::chrono::month(static_cast<unsigned>(std::stoi(value.substr(5, 2)))),
          std::chrono::day(static_cast<unsigned>(std::stoi(value.substr(8, 2))))};
      valid = date.ok();
    }
    Require(valid, field, "must be a calendar date in the form YYYY-MM-DD");
  }

  std::vector<Violation> Take() { return std::move(violations_); }

  static bool IsCurrencyCode(const std::string& code) {
    if (code.size() != 3) return false;
    for (char letter : code) {
      if (letter < 'A' || letter > 'Z') return false;
    }
    return true;
  }

 private:
  static bool AllDigits(const std::string& text) {
    for (char digit : text) {
      if (digit < '0' || digit > '9') return false;
    }
    return !text.empty();
  }

  std::vector<Violation> violations_;
};

}  // namespace

bool IsDealEvent(const Event& event) {
  switch (event.payload_case()) {
    case Event::kLeadCreated:
    case Event::kLeadQualified:
    case Event::kOfferSent:
    case Event::kDealWon:
    case Event::kDealLost:
      return true;
    default:
      return false;
  }
}

std::vector<Violation> FindViolations(const Event& event) {
  Checker check;
  check.RequiredString(event.event_id(), "event_id", kMaxIdLength);
  check.RequiredString(event.source(), "source", kMaxIdLength);
  if (!event.has_occurred_at()) {
    check.Require(false, "occurred_at", "required");
  } else {
    const int64_t seconds = event.occurred_at().seconds();
    check.Require(seconds >= kMinOccurredAtSeconds && seconds < kMaxOccurredAtSeconds,
                  "occurred_at", "must be between 1990-01-01T00:00:00Z and 2100-01-01T00:00:00Z");
    check.Require(event.occurred_at().nanos() >= 0 && event.occurred_at().nanos() < 1'000'000'000,
                  "occurred_at.nanos", "must be in [0, 999999999]");
  }
  check.RequiredString(event.client_id(), "client_id", kMaxIdLength);
  if (IsDealEvent(event)) {
    check.RequiredString(event.deal_id(), "deal_id", kMaxIdLength);
  } else {
    check.OptionalString(event.deal_id(), "deal_id", kMaxIdLength);
  }
  check.OptionalString(event.correlation_id(), "correlation_id", kMaxIdLength);
  check.OptionalString(event.causation_id(), "causation_id", kMaxIdLength);

  switch (event.payload_case()) {
    case Event::kLeadCreated: {
      const auto& lead = event.lead_created();
      check.OptionalString(lead.salesperson(), "lead_created.salesperson", kMaxNameLength);
      check.OptionalString(lead.region(), "lead_created.region", kMaxNameLength);
      check.OptionalString(lead.product(), "lead_created.product", kMaxNameLength);
      break;
    }
    case Event::kLeadQualified:
      break;
    case Event::kOfferSent: {
      const auto& offer = event.offer_sent();
      check.RequiredMoney(offer.has_amount(), offer.amount(), "offer_sent.amount");
      check.Require(offer.discount_bp() >= 0 && offer.discount_bp() <= 10000,
                    "offer_sent.discount_bp", "must be between 0 and 10000 basis points");
      break;
    }
    case Event::kDealWon: {
      const auto& won = event.deal_won();
      check.RequiredMoney(won.has_amount(), won.amount(), "deal_won.amount");
      break;
    }
    case Event::kDealLost:
      check.OptionalString(event.deal_lost().reason(), "deal_lost.reason", kMaxTextLength);
      break;
    case Event::kInvoiceIssued: {
      const auto& invoice = event.invoice_issued();
      check.RequiredString(invoice.invoice_id(), "invoice_issued.invoice_id", kMaxIdLength);
      check.RequiredMoney(invoice.has_amount(), invoice.amount(), "invoice_issued.amount");
      check.Date(invoice.due_date(), "invoice_issued.due_date", /*required=*/true);
      break;
    }
    case Event::kPaymentReceived: {
      const auto& payment = event.payment_received();
      check.RequiredString(payment.invoice_id(), "payment_received.invoice_id", kMaxIdLength);
      check.RequiredMoney(payment.has_amount(), payment.amount(), "payment_received.amount");
      break;
    }
    case Event::kPaymentDelayed: {
      const auto& delay = event.payment_delayed();
      check.RequiredString(delay.invoice_id(), "payment_delayed.invoice_id", kMaxIdLength);
      check.Require(delay.days_overdue() >= 0, "payment_delayed.days_overdue", "must be >= 0");
      check.RequiredMoney(delay.has_outstanding(), delay.outstanding(),
                          "payment_delayed.outstanding");
      break;
    }
    case Event::kClientContacted: {
      const auto& contact = event.client_contacted();
      check.Require(contact.channel() != lok::v1::ClientContacted::CHANNEL_UNSPECIFIED,
                    "client_contacted.channel", "required: CALL, MEETING or EMAIL");
      check.Require(contact.direction() != lok::v1::ClientContacted::DIRECTION_UNSPECIFIED,
                    "client_contacted.direction", "required: INBOUND or OUTBOUND");
      check.OptionalString(contact.salesperson(), "client_contacted.salesperson", kMaxNameLength);
      break;
    }
    case Event::kTargetSet: {
      const auto& target = event.target_set();
      check.YearMonth(target.period(), "target_set.period");
      check.OptionalString(target.salesperson(), "target_set.salesperson", kMaxNameLength);
      check.OptionalString(target.region(), "target_set.region", kMaxNameLength);
      check.OptionalString(target.product(), "target_set.product", kMaxNameLength);
      check.RequiredMoney(target.has_amount(), target.amount(), "target_set.amount");
      break;
    }
    case Event::PAYLOAD_NOT_SET: {
      // A payload this version does not know arrives as an unknown field.
      const auto& unknown = event.GetReflection()->GetUnknownFields(event);
      if (const std::string type = UnknownCloudEventType(event); !type.empty()) {
        check.Require(false, "payload",
                      "unknown event type '" + type +
                          "' (ce_type): published by a newer schema than this lokd knows");
        break;
      }
      if (unknown.field_count() > 0) {
        check.Require(false, "payload",
                      "unknown event type (field number " +
                          std::to_string(unknown.field(0).number()) +
                          "): published by a newer schema than this lokd knows");
        break;
      }
      check.Require(false, "payload",
                    "required: one of lead_created, lead_qualified, offer_sent, deal_won, "
                    "deal_lost, invoice_issued, payment_received, payment_delayed, "
                    "client_contacted, target_set");
      break;
    }
  }
  return check.Take();
}

Status Validate(const Event& event) {
  std::vector<Violation> violations = FindViolations(event);
  if (violations.empty()) return Status::Ok();
  std::string message;
  for (const Violation& violation : violations) {
    if (!message.empty()) message += "; ";
    message += violation.ToString();
  }
  return InvalidArgumentError(std::move(message));
}

}  // namespace lok::events
