#include "support/event_generator.h"

#include <algorithm>
#include <random>

#include "events/event_codec.h"

namespace lok::testing {
namespace {

enum Outcome { kLeadOnly, kQualified, kOffer, kWon, kLost };

lok::v1::Event Envelope(const std::string& id, const std::string& client, const std::string& deal,
                        int64_t seconds) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source(id.back() % 2 == 0 ? "crm" : "billing");
  event.mutable_occurred_at()->set_seconds(seconds);
  event.set_client_id(client);
  event.set_deal_id(deal);
  return event;
}

void SetUsd(lok::v1::Money* money, int64_t minor) {
  money->set_minor(minor);
  money->set_currency("USD");
}

}  // namespace

GeneratedEvents GenerateEvents(size_t count, int clients, uint32_t seed) {
  std::mt19937 random(seed);
  GeneratedEvents generated;
  auto& events = generated.events;
  auto& funnel = generated.funnel;
  const int64_t start = 1704067200;  // 2024-01-01
  int deal_number = 0;
  // Leave room for the largest deal (lead, qualified, 2 offers, 2 outcomes).
  while (events.size() + 6 <= count && events.size() < count * 9 / 10) {
    const std::string deal = "deal-" + std::to_string(deal_number);
    const std::string client =
        "client-" + std::to_string(random() % static_cast<uint32_t>(clients));
    const auto outcome = static_cast<Outcome>(random() % 5);
    const int64_t at = start + deal_number * 60;
    const std::string prefix = "ev-" + std::to_string(deal_number) + "-";
    ++deal_number;
    // A won deal sometimes arrives without its earlier stages (skipped).
    const bool skip_early = outcome == kWon && random() % 4 == 0;
    if (!skip_early) {
      auto lead = Envelope(prefix + "lead", client, deal, at);
      lead.mutable_lead_created()->set_salesperson("rep-" + std::to_string(random() % 7));
      lead.mutable_lead_created()->set_channel(lok::v1::LeadCreated::INBOUND_CALL);
      events.push_back(lead);
      if (outcome >= kQualified) {
        auto qualified = Envelope(prefix + "qual", client, deal, at + 100);
        qualified.mutable_lead_qualified();
        events.push_back(qualified);
      }
    }
    int64_t latest_offer = -1;
    if (outcome >= kOffer && !skip_early) {
      const int offers = 1 + static_cast<int>(random() % 2);
      for (int offer_index = 0; offer_index < offers; ++offer_index) {
        const int64_t amount = 100000 + static_cast<int64_t>(random() % 900000);
        auto offer = Envelope(prefix + "offer" + std::to_string(offer_index), client, deal,
                              at + 200 + offer_index);
        SetUsd(offer.mutable_offer_sent()->mutable_amount(), amount);
        events.push_back(offer);
        latest_offer = amount;
      }
    }
    Outcome final_outcome = outcome;
    int64_t won_amount = 0;
    if (outcome == kWon || outcome == kLost) {
      // Sometimes both outcomes arrive; the later occurred_at decides.
      const bool conflicting = random() % 6 == 0;
      if (outcome == kWon || conflicting) {
        won_amount = 50000 + static_cast<int64_t>(random() % 500000);
        auto won = Envelope(prefix + "won", client, deal, at + (outcome == kWon ? 400 : 300));
        SetUsd(won.mutable_deal_won()->mutable_amount(), won_amount);
        events.push_back(won);
      }
      if (outcome == kLost || conflicting) {
        auto lost = Envelope(prefix + "lost", client, deal, at + (outcome == kLost ? 400 : 300));
        lost.mutable_deal_lost()->set_reason("price");
        events.push_back(lost);
      }
      final_outcome = outcome;
    }
    // Reached counts by construction.
    const int furthest = static_cast<int>(final_outcome);
    for (int stage = 0; stage <= std::min(furthest, 2); ++stage) {
      ++funnel.deals[static_cast<size_t>(stage)];
      if (latest_offer >= 0) funnel.amounts[static_cast<size_t>(stage)] += latest_offer;
    }
    if (final_outcome == kWon) {
      ++funnel.deals[3];
      funnel.amounts[3] += won_amount;
    } else if (final_outcome == kLost) {
      ++funnel.deals[4];
      if (latest_offer >= 0) funnel.amounts[4] += latest_offer;
    }
  }
  // Fill up with client contacts, which the funnel ignores.
  for (size_t filler = 0; events.size() < count; ++filler) {
    lok::v1::Event contact =
        Envelope("contact-" + std::to_string(filler),
                 "client-" + std::to_string(filler % static_cast<size_t>(clients)), "",
                 start + static_cast<int64_t>(filler));
    contact.mutable_client_contacted()->set_channel(lok::v1::ClientContacted::CALL);
    contact.mutable_client_contacted()->set_direction(lok::v1::ClientContacted::OUTBOUND);
    events.push_back(contact);
  }
  std::shuffle(events.begin(), events.end(), random);
  return generated;
}

std::string ToNdjson(const std::vector<lok::v1::Event>& events) {
  std::string body;
  for (const auto& event : events) {
    body += events::EncodeJson(event);
    body += '\n';
  }
  return body;
}

}  // namespace lok::testing
