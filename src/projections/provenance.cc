#include "projections/provenance.h"

#include <algorithm>
#include <map>

#include "base/civil_time.h"
#include "base/key_encoding.h"
#include "events/validation.h"
#include "projections/history.h"
#include "projections/mark.h"

namespace lok::projections {
namespace {

using lok::v1::Event;
using lok::v1::FunnelDeal;

constexpr std::string_view kDealPrefix = "provenance/deal/";
constexpr std::string_view kClientPrefix = "provenance/client/";
constexpr std::string_view kFunnelPrefix = "provenance/funnel/";
constexpr int64_t kFar = int64_t{1} << 40;

std::string DealKey(std::string_view deal_id) {
  return std::string(kDealPrefix) + std::string(deal_id);
}

std::string ClientPrefix(std::string_view client_id) {
  std::string key(kClientPrefix);
  AppendEscapedString(key, client_id);
  return key;
}

std::string StagePrefix(char mode, size_t stage) {
  std::string key(kFunnelPrefix);
  key.push_back(mode);
  key.push_back(static_cast<char>('0' + stage));
  return key;
}

// The index keys and values of a deal's state.
std::map<std::string, std::string> IndexOf(const std::string& deal_id, const FunnelDeal& deal) {
  std::map<std::string, std::string> index;
  if (FurthestStage(deal) == lok::v1::STAGE_UNSPECIFIED) return index;
  const DealStageFacts facts = StageFactsOf(deal);
  for (size_t stage = 0; stage < 5; ++stage) {
    if (!facts.reached[stage]) continue;
    std::string value;
    AppendEscapedString(value, deal.client_id());
    AppendEscapedString(value, deal.salesperson());
    AppendEscapedString(value, deal.region());
    AppendEscapedString(value, deal.product());
    AppendEscapedString(value, facts.currency);
    AppendOrderedInt64(value, facts.amount[stage]);
    AppendOrderedInt64(value, facts.entered_at[stage]);
    for (const auto& [mode, seconds] :
         {std::pair{'c', facts.entered_at[0]}, std::pair{'p', facts.entered_at[stage]}}) {
      std::string key = StagePrefix(mode, stage);
      AppendOrderedInt64(key, DayOfSeconds(seconds));
      key.append(deal_id);
      index.emplace(std::move(key), value);
    }
  }
  return index;
}

StatusOr<ExplainedDeal> DecodeEntry(std::string_view key, std::string_view value,
                                    size_t prefix_size) {
  ExplainedDeal deal;
  size_t position = 0;
  std::optional<std::string> client = ReadEscapedString(value, position);
  std::optional<std::string> salesperson = ReadEscapedString(value, position);
  std::optional<std::string> region = ReadEscapedString(value, position);
  std::optional<std::string> product = ReadEscapedString(value, position);
  std::optional<std::string> currency = ReadEscapedString(value, position);
  std::optional<int64_t> amount = ReadOrderedInt64(value, position);
  std::optional<int64_t> at = amount ? ReadOrderedInt64(value, position + 8) : std::nullopt;
  if (!client || !salesperson || !region || !product || !currency || !at ||
      key.size() < prefix_size + 8) {
    return DataLossError("provenance: unreadable index entry");
  }
  deal.deal_id = std::string(key.substr(prefix_size + 8));
  deal.client_id = std::move(*client);
  deal.salesperson = std::move(*salesperson);
  deal.region = std::move(*region);
  deal.product = std::move(*product);
  deal.currency = std::move(*currency);
  deal.amount = *amount;
  deal.at_seconds = *at;
  return deal;
}

// Cursors are the hex of the last listed key's tail after a fixed prefix.
std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (char byte : bytes) {
    const auto value = static_cast<unsigned char>(byte);
    hex.push_back(kDigits[value >> 4]);
    hex.push_back(kDigits[value & 0xF]);
  }
  return hex;
}

StatusOr<std::string> Unhex(std::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return InvalidArgumentError("after: not a cursor of this endpoint");
  std::string bytes;
  for (size_t index = 0; index < hex.size(); index += 2) {
    const int high = digit(hex[index]);
    const int low = digit(hex[index + 1]);
    if (high < 0 || low < 0) return InvalidArgumentError("after: not a cursor of this endpoint");
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

bool Fits(const std::optional<std::string>& filter, const std::string& value) {
  return !filter || *filter == value;
}

// Adds `deal` to `explanation`: always to the totals, to the page when it is
// after the cursor and the page has room.
void Take(ExplainedDeal deal, std::string_view cursor_key, std::string_view after, size_t limit,
          const std::string& currency, bool& full, Explanation& explanation) {
  ++explanation.count;
  if (deal.currency == currency) explanation.amount += deal.amount;
  if (!after.empty() && cursor_key <= after) return;
  if (explanation.deals.size() < limit) {
    explanation.deals.push_back(std::move(deal));
    if (explanation.deals.size() == limit) explanation.next_cursor = Hex(cursor_key);
  } else {
    full = true;
  }
}

}  // namespace

Status ProvenanceIndex::Apply(const lok::v1::Event& event, const EventPosition& position,
                              store::Transaction& transaction) {
  if (!events::IsDealEvent(event)) return Status::Ok();
  const std::string key = DealKey(event.deal_id());
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  FunnelDeal before;
  if (stored && !before.ParseFromString(*stored)) {
    return DataLossError("provenance: unreadable deal state for " + event.deal_id());
  }
  FunnelDeal after = before;
  if (!stored) {
    after.set_partition(position.partition);
    transaction.Put(ClientPrefix(event.client_id()) + event.deal_id(), "");
  }
  FoldDealEvent(event, after);
  std::string serialized = after.SerializeAsString();
  if (stored && serialized == *stored) return Status::Ok();
  const std::map<std::string, std::string> old_index = IndexOf(event.deal_id(), before);
  const std::map<std::string, std::string> new_index = IndexOf(event.deal_id(), after);
  for (const auto& [index_key, value] : old_index) {
    if (!new_index.contains(index_key)) transaction.Delete(index_key);
  }
  for (const auto& [index_key, value] : new_index) {
    auto old = old_index.find(index_key);
    if (old == old_index.end() || old->second != value) transaction.Put(index_key, value);
  }
  transaction.Put(key, std::move(serialized));
  return Status::Ok();
}

StatusOr<Explanation> ExplainFunnel(const store::KeyValueReader& reader,
                                    const FunnelExplainQuery& query) {
  const int rank = StageRank(query.stage);
  if (rank == 0) return InvalidArgumentError("stage: must be LEAD, QUALIFIED, OFFER, WON or LOST");
  const auto stage = static_cast<size_t>(query.stage) - 1;  // LEAD 0 .. LOST 4, as the funnel's
  const std::string prefix = StagePrefix(query.mode == FunnelMode::kPeriod ? 'p' : 'c', stage);
  LOK_ASSIGN_OR_RETURN(std::string after_tail, Unhex(query.after));
  const std::string after = query.after.empty() ? "" : prefix + after_tail;
  std::string begin = prefix, end = prefix;
  AppendOrderedInt64(begin, query.from_day.value_or(-kFar));
  AppendOrderedInt64(end, query.to_day ? *query.to_day + 1 : kFar);
  Explanation explanation;
  Status corrupt = Status::Ok();
  bool full = false;
  LOK_RETURN_IF_ERROR(
      reader.ScanRange(begin, end, [&](std::string_view key, std::string_view value) {
        StatusOr<ExplainedDeal> deal = DecodeEntry(key, value, prefix.size());
        if (!deal.ok()) {
          corrupt = deal.status();
          return false;
        }
        if (!Fits(query.salesperson, deal->salesperson) || !Fits(query.region, deal->region) ||
            !Fits(query.product, deal->product) || !Fits(query.client, deal->client_id)) {
          return true;
        }
        Take(std::move(deal).value(), key.substr(prefix.size()),
             after.empty() ? "" : std::string_view(after).substr(prefix.size()), query.limit,
             query.currency, full, explanation);
        return true;
      }));
  LOK_RETURN_IF_ERROR(corrupt);
  if (!full) explanation.next_cursor.clear();
  return explanation;
}

StatusOr<Explanation> ExplainRevenue(const store::KeyValueReader& reader,
                                     const RevenueExplainQuery& query) {
  const std::string prefix = ClientPrefix(query.client);
  LOK_ASSIGN_OR_RETURN(std::string after, Unhex(query.after));
  std::vector<std::string> deal_ids;
  LOK_RETURN_IF_ERROR(reader.ScanPrefix(prefix, [&](std::string_view key, std::string_view) {
    deal_ids.emplace_back(key.substr(prefix.size()));
    return true;
  }));
  Explanation explanation;
  bool full = false;
  for (const std::string& deal_id : deal_ids) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(DealKey(deal_id)));
    FunnelDeal deal;
    if (!stored || !deal.ParseFromString(*stored))
      return DataLossError("provenance: unreadable deal " + deal_id);
    if (!deal.won() || !deal.has_outcome()) continue;
    const int64_t day = DayOfSeconds(deal.outcome().occurred_at().seconds());
    if ((query.from_day && day < *query.from_day) || (query.to_day && day > *query.to_day))
      continue;
    if (!Fits(query.salesperson, deal.salesperson()) || !Fits(query.region, deal.region()) ||
        !Fits(query.product, deal.product())) {
      continue;
    }
    ExplainedDeal explained{deal_id,
                            deal.client_id(),
                            deal.salesperson(),
                            deal.region(),
                            deal.product(),
                            deal.won_amount().currency(),
                            deal.won_amount().minor(),
                            deal.outcome().occurred_at().seconds()};
    Take(std::move(explained), deal_id, after, query.limit, query.currency, full, explanation);
  }
  if (!full) explanation.next_cursor.clear();
  return explanation;
}

StatusOr<RetentionEvidence> ExplainRetention(const store::KeyValueReader& reader,
                                             std::string_view client_id, int64_t as_of_day) {
  RetentionEvidence evidence;
  std::map<std::string, lok::v1::HistoryEvent> latest_outcome;  // by deal
  std::map<std::string, lok::v1::HistoryEvent> latest_payment;  // by invoice
  auto keep_latest = [](std::map<std::string, lok::v1::HistoryEvent>& latest, const std::string& id,
                        const lok::v1::HistoryEvent& candidate) {
    auto found = latest.find(id);
    if (found == latest.end() ||
        Earlier(MarkOf(found->second.event()), MarkOf(candidate.event()))) {
      latest[id] = candidate;
    }
  };
  std::string after;
  do {
    LOK_ASSIGN_OR_RETURN(lok::v1::HistoryResponse page,
                         QueryHistory(reader, HistoryOf::kClient, client_id, 1000, after));
    for (const lok::v1::HistoryEvent& entry : page.events()) {
      const Event& event = entry.event();
      const int64_t day = DayOfSeconds(event.occurred_at().seconds());
      if (day > as_of_day) continue;
      if (events::IsDealEvent(event) || event.has_client_contacted()) {
        if (!evidence.last_contact_day || day > *evidence.last_contact_day) {
          evidence.last_contact_day = day;
          evidence.last_contact.clear();
        }
        if (day == *evidence.last_contact_day) evidence.last_contact.push_back(entry);
      }
      if (event.has_deal_won() || event.has_deal_lost())
        keep_latest(latest_outcome, event.deal_id(), entry);
      if (event.has_payment_delayed())
        keep_latest(latest_payment, event.payment_delayed().invoice_id(), entry);
      if (event.has_payment_received())
        keep_latest(latest_payment, event.payment_received().invoice_id(), entry);
    }
    after = page.next_cursor();
  } while (!after.empty());
  auto by_time = [](const lok::v1::HistoryEvent& left, const lok::v1::HistoryEvent& right) {
    return Earlier(MarkOf(left.event()), MarkOf(right.event()));
  };
  for (const auto& [deal, entry] : latest_outcome) {
    if (entry.event().has_deal_won()) evidence.wins.push_back(entry);
  }
  for (const auto& [invoice, entry] : latest_payment) {
    if (entry.event().has_payment_delayed()) evidence.open_delays.push_back(entry);
  }
  std::sort(evidence.wins.begin(), evidence.wins.end(), by_time);
  std::sort(evidence.open_delays.begin(), evidence.open_delays.end(), by_time);
  return evidence;
}

}  // namespace lok::projections
