#include "event_mix.h"

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <string_view>

#include "projections/funnel.h"

namespace lok::bench {
namespace {

using lok::v1::ClientContacted;
using lok::v1::Event;
using lok::v1::LeadCreated;
using lok::v1::Stage;

constexpr int64_t kStartSeconds = 1704067200;  // 2024-01-01T00:00:00Z
constexpr int64_t kDaySeconds = 24 * 60 * 60;
constexpr std::string_view kSource = "bench";

constexpr std::array<std::string_view, 12> kSalespeople = {"ana",   "bruno", "chloe", "dmitri",
                                                           "elena", "farid", "greta", "hiro",
                                                           "ines",  "jonas", "kofi",  "lena"};
constexpr std::array<std::string_view, 5> kRegions = {"north", "south", "east", "west", "central"};
constexpr std::array<std::string_view, 6> kProducts = {"core",     "analytics", "support",
                                                       "training", "hosting",   "integration"};
constexpr std::array<std::string_view, 5> kLostReasons = {"price", "competitor", "no budget",
                                                          "timing", "no decision"};

// "YYYY-MM-DD" of the UTC day containing `seconds` since the epoch.
std::string CalendarDate(int64_t seconds) {
  const std::chrono::year_month_day date{std::chrono::floor<std::chrono::days>(
      std::chrono::sys_seconds{std::chrono::seconds{seconds}})};
  return fmt::format("{:04d}-{:02d}-{:02d}", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
}

void SetMoney(lok::v1::Money* money, int64_t minor, std::string_view currency) {
  money->set_minor(minor);
  money->set_currency(std::string(currency));
}

}  // namespace

EventMix::EventMix(EventMixOptions options)
    : options_(options), random_(options.seed), clock_seconds_(kStartSeconds) {}

int64_t EventMix::Uniform(int64_t low, int64_t high) {
  return std::uniform_int_distribution<int64_t>(low, high)(random_);
}

bool EventMix::Chance(double probability) {
  return std::bernoulli_distribution(probability)(random_);
}

template <size_t kSize>
std::string EventMix::Pick(const std::array<std::string_view, kSize>& choices) {
  return std::string(choices[static_cast<size_t>(Uniform(0, static_cast<int64_t>(kSize) - 1))]);
}

EventMix::PlannedDeal EventMix::PlanDeal() {
  PlannedDeal deal;
  deal.deal_index = static_cast<int64_t>(furthest_stage_.size());
  furthest_stage_.push_back(lok::v1::STAGE_UNSPECIFIED);

  const std::string deal_id = fmt::format("deal-{:08d}", deal.deal_index);
  const std::string client_id = fmt::format("client-{:05d}", Uniform(0, options_.clients - 1));
  const std::string salesperson = Pick(kSalespeople);
  const double currency_draw = std::uniform_real_distribution<double>(0, 1)(random_);
  const std::string_view currency =
      currency_draw < 0.7 ? "EUR" : (currency_draw < 0.9 ? "USD" : "GBP");

  // Deal events carry deal_id; client events (contacts) belong to the client.
  auto add = [&](bool of_deal) -> Event& {
    Event& event = deal.events.emplace_back();
    event.set_client_id(client_id);
    if (of_deal) event.set_deal_id(deal_id);
    return event;
  };
  auto add_contact = [&](ClientContacted::Channel channel) {
    ClientContacted* contact = add(false).mutable_client_contacted();
    contact->set_channel(channel);
    contact->set_direction(Chance(0.6) ? ClientContacted::OUTBOUND : ClientContacted::INBOUND);
    contact->set_salesperson(salesperson);
  };

  LeadCreated* lead = add(true).mutable_lead_created();
  lead->set_salesperson(salesperson);
  lead->set_region(Pick(kRegions));
  lead->set_product(Pick(kProducts));
  lead->set_channel(
      static_cast<LeadCreated::Channel>(Uniform(LeadCreated::INBOUND_CALL, LeadCreated::PARTNER)));

  for (int64_t call = Uniform(1, 3); call > 0; --call) {
    add_contact(Chance(0.7) ? ClientContacted::CALL : ClientContacted::EMAIL);
  }

  enum class Outcome { kOpen, kWon, kLost };
  Outcome outcome = Outcome::kOpen;
  int64_t offer_minor = 0;
  if (!Chance(0.7)) {
    if (Chance(0.4)) outcome = Outcome::kLost;  // disqualified
  } else {
    add(true).mutable_lead_qualified();
    if (!Chance(0.85)) {
      if (Chance(0.3)) outcome = Outcome::kLost;
    } else {
      offer_minor = Uniform(2'000, 80'000) * 100;
      int64_t discount_bp = Uniform(0, 500);
      for (int64_t revision = Uniform(1, 3); revision > 0; --revision) {
        lok::v1::OfferSent* offer = add(true).mutable_offer_sent();
        SetMoney(offer->mutable_amount(), offer_minor, currency);
        offer->set_discount_bp(static_cast<int32_t>(discount_bp));
        add_contact(ClientContacted::MEETING);
        discount_bp = std::min<int64_t>(discount_bp + Uniform(100, 700), 3'000);
        offer_minor -= offer_minor * Uniform(0, 8) / 100;  // the next revision is cheaper
      }
      const double outcome_draw = std::uniform_real_distribution<double>(0, 1)(random_);
      outcome = outcome_draw < 0.45 ? Outcome::kWon
                                    : (outcome_draw < 0.8 ? Outcome::kLost : Outcome::kOpen);
    }
  }

  if (outcome == Outcome::kLost) {
    add(true).mutable_deal_lost()->set_reason(Pick(kLostReasons));
    if (Chance(0.5)) add_contact(ClientContacted::EMAIL);
  } else if (outcome == Outcome::kWon) {
    SetMoney(add(true).mutable_deal_won()->mutable_amount(), offer_minor, currency);
    const int64_t installments = Uniform(1, 2);
    for (int64_t installment = 0; installment < installments; ++installment) {
      const std::string invoice_id = fmt::format("inv-{:08d}-{}", deal.deal_index, installment);
      const int64_t invoice_minor = offer_minor / installments;
      lok::v1::InvoiceIssued* invoice = add(true).mutable_invoice_issued();
      invoice->set_invoice_id(invoice_id);
      SetMoney(invoice->mutable_amount(), invoice_minor, currency);
      // due_date is set when the event is emitted, from its occurred_at.
      bool paid = Chance(0.85);
      if (!paid) {
        lok::v1::PaymentDelayed* delay = add(true).mutable_payment_delayed();
        delay->set_invoice_id(invoice_id);
        delay->set_days_overdue(static_cast<int32_t>(Uniform(1, 60)));
        SetMoney(delay->mutable_outstanding(), invoice_minor, currency);
        paid = Chance(0.6);
      }
      if (paid) {
        lok::v1::PaymentReceived* payment = add(true).mutable_payment_received();
        payment->set_invoice_id(invoice_id);
        SetMoney(payment->mutable_amount(), invoice_minor, currency);
      }
    }
    for (int64_t follow_up = Uniform(0, 2); follow_up > 0; --follow_up) {
      add_contact(Chance(0.5) ? ClientContacted::CALL : ClientContacted::MEETING);
    }
  }
  return deal;
}

Event EventMix::Next() {
  while (in_flight_.size() < options_.deals_in_flight) in_flight_.push_back(PlanDeal());
  const auto slot = static_cast<size_t>(Uniform(0, static_cast<int64_t>(in_flight_.size()) - 1));
  PlannedDeal& deal = in_flight_[slot];
  Event event = std::move(deal.events[deal.next++]);

  clock_seconds_ += Uniform(1, 120);
  event.set_event_id(fmt::format("evt-{:010d}", events_emitted_++));
  event.set_source(std::string(kSource));
  event.mutable_occurred_at()->set_seconds(clock_seconds_);
  if (event.has_invoice_issued()) {
    event.mutable_invoice_issued()->set_due_date(CalendarDate(clock_seconds_ + 30 * kDaySeconds));
  }

  Stage& furthest = furthest_stage_[static_cast<size_t>(deal.deal_index)];
  Stage reached = lok::v1::STAGE_UNSPECIFIED;
  switch (event.payload_case()) {
    case Event::kLeadCreated:
      reached = lok::v1::LEAD;
      ++deals_;
      break;
    case Event::kLeadQualified:
      reached = lok::v1::QUALIFIED;
      break;
    case Event::kOfferSent:
      reached = lok::v1::OFFER;
      break;
    case Event::kDealWon:
      reached = lok::v1::WON;
      break;
    case Event::kDealLost:
      reached = lok::v1::LOST;
      break;
    default:
      break;
  }
  if (lok::projections::StageRank(reached) > lok::projections::StageRank(furthest))
    furthest = reached;

  if (deal.next == deal.events.size()) in_flight_[slot] = PlanDeal();
  return event;
}

int64_t EventMix::DealsThatReached(Stage stage) const {
  int64_t deals = 0;
  for (Stage furthest : furthest_stage_) {
    const bool reached =
        (stage == lok::v1::WON || stage == lok::v1::LOST)
            ? furthest == stage
            : lok::projections::StageRank(stage) > 0 &&
                  lok::projections::StageRank(furthest) >= lok::projections::StageRank(stage);
    if (reached) ++deals;
  }
  return deals;
}

}  // namespace lok::bench
