#include "projections/funnel.h"

#include <array>
#include <map>
#include <tuple>

#include "base/key_encoding.h"
#include "events/validation.h"

namespace lok::projections {
namespace {

using lok::v1::Event;
using lok::v1::FunnelDeal;
using lok::v1::Mark;
using lok::v1::Stage;

constexpr std::string_view kDealPrefix = "funnel/deal/";
constexpr std::string_view kAggregatePrefix = "funnel/agg/";
constexpr char kDealsCounter = 'n';
constexpr char kAmountCounter = 'a';
constexpr std::array<Stage, 5> kStages = {lok::v1::LEAD, lok::v1::QUALIFIED, lok::v1::OFFER,
                                          lok::v1::WON, lok::v1::LOST};

Mark MarkOf(const Event& event) {
  Mark mark;
  *mark.mutable_occurred_at() = event.occurred_at();
  mark.set_event_id(event.event_id());
  mark.set_source(event.source());
  return mark;
}

auto MarkKey(const Mark& mark) {
  return std::make_tuple(mark.occurred_at().seconds(), mark.occurred_at().nanos(),
                         std::string_view(mark.event_id()), std::string_view(mark.source()));
}

bool Earlier(const Mark& left, const Mark& right) { return MarkKey(left) < MarkKey(right); }

// Sets `slot` to `mark` when the slot is empty or `mark` is earlier.
void KeepEarliest(bool present, Mark* slot, const Mark& mark, bool& changed) {
  if (!present || Earlier(mark, *slot)) {
    *slot = mark;
    changed = true;
  }
}

int Rank(Stage stage) {
  switch (stage) {
    case lok::v1::LEAD:
      return 1;
    case lok::v1::QUALIFIED:
      return 2;
    case lok::v1::OFFER:
      return 3;
    case lok::v1::WON:
    case lok::v1::LOST:
      return 4;
    default:
      return 0;
  }
}

std::string DealKey(std::string_view deal_id) {
  std::string key(kDealPrefix);
  key.append(deal_id);
  return key;
}

std::string AggregateKey(int32_t partition, Stage stage, char kind, std::string_view currency) {
  std::string key(kAggregatePrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  key.push_back(static_cast<char>(stage));
  key.push_back(kind);
  key.append(currency);
  return key;
}

// Adds `sign` times the deal's contribution to the partition's aggregates.
void AddContribution(const FunnelDeal& deal, int64_t sign, store::Transaction& transaction) {
  for (Stage stage : kStages) {
    if (!HasReached(deal, stage)) continue;
    transaction.AddCounter(AggregateKey(deal.partition(), stage, kDealsCounter, ""), sign);
    const lok::v1::Money* amount = nullptr;
    if (stage == lok::v1::WON) {
      amount = &deal.won_amount();
    } else if (deal.has_offer_amount()) {
      amount = &deal.offer_amount();
    }
    if (amount != nullptr && !amount->currency().empty()) {
      transaction.AddCounter(
          AggregateKey(deal.partition(), stage, kAmountCounter, amount->currency()),
          sign * amount->minor());
    }
  }
}

}  // namespace

void FoldDealEvent(const Event& event, FunnelDeal& deal) {
  bool changed = false;
  const Mark mark = MarkOf(event);
  if (deal.client_id().empty()) deal.set_client_id(event.client_id());
  switch (event.payload_case()) {
    case Event::kLeadCreated: {
      bool earliest = false;
      KeepEarliest(deal.has_lead(), deal.mutable_lead(), mark, earliest);
      if (earliest) {
        const auto& lead = event.lead_created();
        deal.set_salesperson(lead.salesperson());
        deal.set_region(lead.region());
        deal.set_product(lead.product());
        deal.set_channel(lead.channel());
      }
      break;
    }
    case Event::kLeadQualified:
      KeepEarliest(deal.has_qualified(), deal.mutable_qualified(), mark, changed);
      break;
    case Event::kOfferSent:
      KeepEarliest(deal.has_offer(), deal.mutable_offer(), mark, changed);
      if (!deal.has_latest_offer() || Earlier(deal.latest_offer(), mark)) {
        *deal.mutable_latest_offer() = mark;
        *deal.mutable_offer_amount() = event.offer_sent().amount();
        deal.set_discount_bp(event.offer_sent().discount_bp());
      }
      break;
    case Event::kDealWon:
    case Event::kDealLost:
      if (!deal.has_outcome() || Earlier(deal.outcome(), mark)) {
        *deal.mutable_outcome() = mark;
        deal.set_won(event.has_deal_won());
        if (event.has_deal_won()) {
          *deal.mutable_won_amount() = event.deal_won().amount();
          deal.clear_lost_reason();
        } else {
          deal.clear_won_amount();
          deal.set_lost_reason(event.deal_lost().reason());
        }
      }
      break;
    default:
      break;
  }
}

Stage FurthestStage(const FunnelDeal& deal) {
  if (deal.has_outcome()) return deal.won() ? lok::v1::WON : lok::v1::LOST;
  if (deal.has_offer()) return lok::v1::OFFER;
  if (deal.has_qualified()) return lok::v1::QUALIFIED;
  if (deal.has_lead()) return lok::v1::LEAD;
  return lok::v1::STAGE_UNSPECIFIED;
}

bool HasReached(const FunnelDeal& deal, Stage stage) {
  const Stage furthest = FurthestStage(deal);
  if (stage == lok::v1::WON || stage == lok::v1::LOST) return furthest == stage;
  return Rank(furthest) >= Rank(stage) && Rank(stage) > 0;
}

Status FunnelProjection::Apply(const Event& event, const EventPosition& position,
                               store::Transaction& transaction) {
  if (!events::IsDealEvent(event)) return Status::Ok();
  const std::string key = DealKey(event.deal_id());
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  FunnelDeal before;
  if (stored && !before.ParseFromString(*stored)) {
    return DataLossError("funnel: unreadable deal state for " + event.deal_id());
  }
  FunnelDeal after = before;
  if (!stored) after.set_partition(position.partition);
  FoldDealEvent(event, after);
  std::string serialized = after.SerializeAsString();
  if (stored && serialized == *stored) return Status::Ok();
  AddContribution(before, -1, transaction);
  AddContribution(after, +1, transaction);
  transaction.Put(key, std::move(serialized));
  return Status::Ok();
}

StatusOr<lok::v1::FunnelResponse> QueryFunnel(const store::KeyValueReader& reader) {
  std::map<Stage, int64_t> deals;
  std::map<Stage, std::map<std::string, int64_t>> amounts;
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(
      reader.ScanPrefix(kAggregatePrefix, [&](std::string_view key, std::string_view value) {
        const size_t stage_at = kAggregatePrefix.size() + 4;
        StatusOr<int64_t> counter = store::DecodeCounter(value);
        if (key.size() < stage_at + 2 || !counter.ok()) {
          corrupt = DataLossError("funnel: unreadable aggregate");
          return false;
        }
        const auto stage = static_cast<Stage>(key[stage_at]);
        if (key[stage_at + 1] == kDealsCounter) {
          deals[stage] += *counter;
        } else {
          amounts[stage][std::string(key.substr(stage_at + 2))] += *counter;
        }
        return true;
      }));
  LOK_RETURN_IF_ERROR(corrupt);
  lok::v1::FunnelResponse response;
  for (Stage stage : kStages) {
    auto* count = response.add_stages();
    count->set_stage(stage);
    count->set_deals(deals[stage]);
    for (const auto& [currency, minor] : amounts[stage]) {
      auto* money = count->add_amounts();
      money->set_currency(currency);
      money->set_minor(minor);
    }
  }
  const int64_t closed = deals[lok::v1::WON] + deals[lok::v1::LOST];
  response.set_win_rate(
      closed == 0 ? 0.0 : static_cast<double>(deals[lok::v1::WON]) / static_cast<double>(closed));
  return response;
}

}  // namespace lok::projections
