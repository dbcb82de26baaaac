#include "projections/retention.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <limits>
#include <set>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "base/civil_time.h"
#include "base/key_encoding.h"
#include "events/validation.h"
#include "projections/mark.h"
#include "projections/retention_summary.h"

namespace lok::projections {
namespace {

using internal::DatedAmount;
using internal::DecodeRetentionSummaryFor;
using internal::EncodeRetentionSummary;
using internal::RetentionSummary;
using internal::SummarizeRetention;
using lok::v1::ClientRetention;
using lok::v1::Event;
using lok::v1::Mark;
using lok::v1::Money;
using lok::v1::RetentionClient;
using lok::v1::RetentionReason;

constexpr std::string_view kClientPrefix = "retention/client/";
constexpr std::string_view kSummaryPrefix = "retention/s/";
constexpr std::string_view kIndexPrefix = "retention/q/";
constexpr std::string_view kAggregatePrefix = "retention/agg/";
constexpr char kRevenueCounter = 'r';
constexpr char kClientsCounter = 'n';
constexpr char kRegularCounter = 'g';
// 1 + the latest day of any client's dated facts (a counter only raised, so
// the largest value whatever the order of the events).
constexpr char kMaxDayCounter = 'm';

constexpr char kScopeAll = 'a';
constexpr char kScopeSalesperson = 's';
constexpr char kScopeRegion = 'r';

constexpr char kTermContact = 'c';
constexpr char kTermPayments = 'p';
constexpr char kTermRhythm = 'h';
constexpr char kTermDecline = 'd';
// Not a term that can make a client need attention: regular clients by
// revenue, so the heaviest clients are always among the candidates.
constexpr char kRevenueRank = 'w';
constexpr char kTerms[] = {kTermContact, kTermPayments, kTermRhythm, kTermDecline};
// Not a term either: regular clients by the most their score can be (see
// ScoreBoundsOf), per currency, in buckets of 1/kBoundBuckets of a score
// point, by revenue inside a bucket.
constexpr char kScoreBound = 'b';
constexpr int kBoundBuckets = 4;
// Bounds are stored rounded up to this, and compared with a margin of it.
constexpr double kBoundEpsilon = 1e-9;
// The first projection version with the score-bound index and the max-day
// counter (older stores are answered from the term lists alone).
constexpr int kScoreBoundVersion = 5;
// The first projection version whose revenue_declining index is bucketed by
// the week of each interval's end (older stores are read the old way).
constexpr int kDeclineByWeekVersion = 4;

// "All facts known": the state's current view.
constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

int64_t DayOf(const Mark& mark) { return DayOfSeconds(mark.occurred_at().seconds()); }

// Sorts a repeated message field by its `mark` (ascending).
template <typename Field>
void SortByMark(Field& field) {
  std::sort(field.begin(), field.end(),
            [](const auto& left, const auto& right) { return Earlier(left.mark(), right.mark()); });
}

void AddContactDay(int64_t day, RetentionClient& client) {
  auto* days = client.mutable_contact_days();
  auto at = std::lower_bound(days->begin(), days->end(), day);
  if (at != days->end() && *at == day) return;
  const auto index = at - days->begin();
  days->Add(day);
  std::rotate(days->begin() + index, days->end() - 1, days->end());
}

lok::v1::RetentionDeal& DealOf(std::string_view deal_id, RetentionClient& client) {
  for (auto& deal : *client.mutable_deals()) {
    if (deal.deal_id() == deal_id) return deal;
  }
  client.add_deals()->set_deal_id(std::string(deal_id));
  std::sort(client.mutable_deals()->begin(), client.mutable_deals()->end(),
            [](const auto& left, const auto& right) { return left.deal_id() < right.deal_id(); });
  return DealOf(deal_id, client);
}

lok::v1::RetentionInvoice& InvoiceOf(std::string_view invoice_id, RetentionClient& client) {
  for (auto& invoice : *client.mutable_invoices()) {
    if (invoice.invoice_id() == invoice_id) return invoice;
  }
  client.add_invoices()->set_invoice_id(std::string(invoice_id));
  std::sort(
      client.mutable_invoices()->begin(), client.mutable_invoices()->end(),
      [](const auto& left, const auto& right) { return left.invoice_id() < right.invoice_id(); });
  return InvoiceOf(invoice_id, client);
}

void NoteSalesperson(const std::string& salesperson, const Mark& mark, RetentionClient& client) {
  if (salesperson.empty()) return;
  if (!client.has_salesperson_mark() || Earlier(client.salesperson_mark(), mark)) {
    client.set_salesperson(salesperson);
    *client.mutable_salesperson_mark() = mark;
  }
}

// ---------------------------------------------------------------------------
// What the state says on a day: only facts dated on or before it.

// Facts point into the summary they were taken from (no copies: a retention
// query evaluates hundreds of clients).
struct Win {
  int64_t day = 0;
  int64_t minor = 0;
  std::string_view currency;
};

struct OpenDelay {
  int64_t due_day = 0;  // the delay's day - its days_overdue
  int64_t minor = 0;    // outstanding
  std::string_view currency;
};

// Amounts per currency in currency order (as a std::map would iterate): a
// client has one or two currencies, so a sorted vector, reused from client
// to client, beats a tree that allocates a node per currency.
using CurrencyAmounts = std::vector<std::pair<std::string_view, int64_t>>;

void AddAmount(std::string_view currency, int64_t minor, CurrencyAmounts& amounts) {
  auto at = std::lower_bound(amounts.begin(), amounts.end(), currency,
                             [](const std::pair<std::string_view, int64_t>& entry,
                                std::string_view code) { return entry.first < code; });
  if (at != amounts.end() && at->first == currency) {
    at->second += minor;
  } else {
    amounts.insert(at, {currency, minor});
  }
}

int64_t AmountIn(const CurrencyAmounts& amounts, std::string_view currency) {
  for (const auto& [code, minor] : amounts) {
    if (code == currency) return minor;
  }
  return 0;
}

// Reusable: FactsAt clears every field, keeping the vectors' capacity (the
// queue evaluates hundreds of clients with one Facts).
struct Facts {
  std::optional<int64_t> last_contact_day;
  int64_t won_count = 0;     // won deals
  // Their wins: all of them (in deal order), or from the current facts
  // those dated after the day the query asked them from (latest first).
  std::vector<Win> wins;
  int64_t last_win_day = 0;  // the latest win's day (when there are wins)
  // With at least two wins: the median interval between consecutive win
  // days, at least 1 (MedianIntervalDays).
  double median_interval_days = 0;
  CurrencyAmounts revenue;   // per currency
  std::vector<OpenDelay> open_delays;
  std::vector<int64_t> scratch;
};

// The latest of `items[begin, end)` (ascending by mark) dated on or before
// `day`; nullptr when none.
const DatedAmount* LatestOnOrBefore(const std::vector<DatedAmount>& items, uint32_t begin,
                                    uint32_t end, int64_t day) {
  const DatedAmount* latest = nullptr;
  for (uint32_t index = begin; index < end; ++index) {
    if (items[index].day <= day) latest = &items[index];
  }
  return latest;
}

// The latest element of `events` (ascending by mark) dated on or before `day`.
template <typename Field>
const typename Field::value_type* LatestOnOrBefore(const Field& events, int64_t day) {
  const typename Field::value_type* latest = nullptr;
  for (const auto& event : events) {
    if (DayOf(event.mark()) <= day) latest = &event;
  }
  return latest;
}

// The median interval in days between consecutive won deals (by day), at
// least 1, from twice the median (TwiceMedianInterval).
double MedianIntervalDays(int64_t twice_median) {
  return std::max(static_cast<double>(twice_median) / 2.0, 1.0);
}

// The facts on `day` from the precomputed current facts.
// REQUIRES: CurrentFactsHoldOn(client, day).
void CurrentFactsAt(const RetentionSummary& client, Facts& facts) {
  const internal::CurrentFacts& current = client.current;
  facts.last_contact_day = current.last_contact_day;
  facts.won_count = current.won_count;
  facts.last_win_day = current.last_win_day;
  for (const DatedAmount& win : current.wins) {
    facts.wins.push_back({win.day, win.minor, client.currencies[win.currency]});
  }
  if (facts.won_count >= 2) {
    facts.median_interval_days = MedianIntervalDays(current.twice_median_interval);
  }
  for (const auto& [currency, minor] : current.revenue) {
    facts.revenue.emplace_back(client.currencies[currency], minor);
  }
  for (const DatedAmount& delay : current.open_delays) {
    facts.open_delays.push_back({delay.day, delay.minor, client.currencies[delay.currency]});
  }
}

// The facts dated on or before `day`: from the current facts when they hold
// on `day` (the live case), else from the dated facts.
// REQUIRES: the dated facts were decoded unless the current facts hold.
void FactsAt(const RetentionSummary& client, int64_t day, Facts& facts) {
  facts.last_contact_day.reset();
  facts.won_count = 0;
  facts.wins.clear();
  facts.last_win_day = 0;
  facts.median_interval_days = 0;
  facts.revenue.clear();
  facts.open_delays.clear();
  if (internal::CurrentFactsHoldOn(client, day)) {
    CurrentFactsAt(client, facts);
    return;
  }
  const auto& days = client.contact_days;
  auto after = std::upper_bound(days.begin(), days.end(), day);
  if (after != days.begin()) facts.last_contact_day = *(after - 1);
  uint32_t begin = 0;
  for (uint32_t end : client.deal_ends) {
    const DatedAmount* outcome = LatestOnOrBefore(client.outcomes, begin, end, day);
    begin = end;
    if (outcome == nullptr || !outcome->flag) continue;
    const std::string_view currency = client.currencies[outcome->currency];
    facts.last_win_day =
        facts.wins.empty() ? outcome->day : std::max(facts.last_win_day, outcome->day);
    facts.wins.push_back({outcome->day, outcome->minor, currency});
    if (!currency.empty()) AddAmount(currency, outcome->minor, facts.revenue);
  }
  facts.won_count = static_cast<int64_t>(facts.wins.size());
  if (facts.wins.size() >= 2) {
    facts.scratch.clear();
    for (const Win& win : facts.wins) facts.scratch.push_back(win.day);
    facts.median_interval_days = MedianIntervalDays(internal::TwiceMedianInterval(facts.scratch));
  }
  begin = 0;
  for (uint32_t end : client.invoice_ends) {
    const DatedAmount* latest = LatestOnOrBefore(client.payments, begin, end, day);
    begin = end;
    if (latest == nullptr || !latest->flag) continue;
    facts.open_delays.push_back(
        {latest->day - latest->days_overdue, latest->minor, client.currencies[latest->currency]});
  }
}

Facts FactsAt(const RetentionSummary& client, int64_t day) {
  Facts facts;
  FactsAt(client, day, facts);
  return facts;
}

int32_t CadenceDays(const RetentionSummary& client, const RetentionSettings& settings) {
  auto found = settings.cadence_by_region.find(client.region);
  const int32_t cadence =
      found != settings.cadence_by_region.end() ? found->second : settings.default_cadence_days;
  return std::max(cadence, 1);
}

// Revenue in `currency` won in (day - window, day] and in the window before.
std::pair<int64_t, int64_t> WindowRevenue(const std::vector<Win>& wins, std::string_view currency,
                                          int64_t day, int64_t window) {
  int64_t last = 0;
  int64_t previous = 0;
  for (const Win& win : wins) {
    if (win.currency != currency) continue;
    if (win.day > day - window && win.day <= day) last += win.minor;
    if (win.day > day - 2 * window && win.day <= day - window) previous += win.minor;
  }
  return {last, previous};
}

bool Declining(int64_t last, int64_t previous) { return previous > 0 && last < previous; }

// The days a win enters or leaves a revenue window (w, w + W, w + 2W):
// revenue_declining is constant from one to the next, and 0 after the last.
std::set<int64_t> DeclineBreakpoints(const std::vector<Win>& wins, int64_t window) {
  std::set<int64_t> points;
  for (const Win& win : wins) points.insert({win.day, win.day + window, win.day + 2 * window});
  return points;
}

Money MoneyOf(int64_t minor, std::string_view currency) {
  Money money;
  money.set_minor(minor);
  money.set_currency(std::string(currency));
  return money;
}

// All-client totals per currency, summed over partitions (current state).
struct Totals {
  std::map<std::string, int64_t> revenue;
  std::map<std::string, int64_t> clients;
  std::set<int32_t> partitions;  // partitions with regular clients
  std::optional<int64_t> max_day;  // the latest day of any dated fact
};

StatusOr<Totals> ReadTotals(const store::KeyValueReader& reader) {
  Totals totals;
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(
      reader.ScanPrefix(kAggregatePrefix, [&](std::string_view key, std::string_view value) {
        const size_t kind_at = kAggregatePrefix.size() + 4;
        std::optional<uint32_t> partition = ReadBigEndian32(key, kAggregatePrefix.size());
        StatusOr<int64_t> counter = store::DecodeCounter(value);
        if (key.size() <= kind_at || !partition || !counter.ok()) {
          corrupt = DataLossError("retention: unreadable aggregate");
          return false;
        }
        const std::string currency(key.substr(kind_at + 1));
        switch (key[kind_at]) {
          case kRevenueCounter:
            totals.revenue[currency] += *counter;
            break;
          case kClientsCounter:
            totals.clients[currency] += *counter;
            break;
          case kRegularCounter:
            if (*counter > 0) totals.partitions.insert(static_cast<int32_t>(*partition));
            break;
          case kMaxDayCounter:
            totals.max_day = std::max(totals.max_day.value_or(*counter - 1), *counter - 1);
            break;
          default:
            break;
        }
        return true;
      }));
  LOK_RETURN_IF_ERROR(corrupt);
  return totals;
}

// Σ revenue and clients with revenue in one currency: what client_weight needs.
struct CurrencyTotals {
  int64_t revenue = 0;
  int64_t clients = 0;
};

CurrencyTotals TotalsIn(const Totals& totals, const std::string& currency) {
  CurrencyTotals result;
  if (auto found = totals.revenue.find(currency); found != totals.revenue.end()) {
    result.revenue = found->second;
  }
  if (auto found = totals.clients.find(currency); found != totals.clients.end()) {
    result.clients = found->second;
  }
  return result;
}

// One positive term of a score, before it becomes a RetentionReason.
struct Term {
  Term(std::string_view term_name, double term_value, double term_weight)
      : name(term_name), value(term_value), weight(term_weight) {}

  std::string_view name;
  double value = 0;
  double weight = 0;
  int64_t days = 0;
  double threshold_days = 0;
  std::optional<int64_t> amount;    // in the query currency
  std::optional<int64_t> baseline;  // likewise
  double share = 0;
};

// A client's score on a day, in plain values: the queue scores hundreds of
// candidates and renders only the best `limit` (RetentionOf). Reusable:
// Evaluate resets every field, keeping the vectors' capacity.
struct Evaluation {
  Facts facts;
  int32_t cadence = 1;
  bool regular = false;
  CurrencyAmounts overdue;  // open delays per currency
  std::vector<Term> terms;  // empty: no attention needed
  double score = 0;
};

// The client's retention on `day` in `settings.currency`, into `evaluation`.
void Evaluate(const RetentionSummary& client, int64_t day, const RetentionSettings& settings,
              const CurrencyTotals& totals, Evaluation& evaluation) {
  FactsAt(client, day, evaluation.facts);
  evaluation.overdue.clear();
  evaluation.terms.clear();
  evaluation.score = 0;
  const Facts& facts = evaluation.facts;
  const std::string& currency = settings.currency;
  const RetentionWeights& weights = settings.weights;
  evaluation.regular =
      facts.won_count >= std::max<int64_t>(settings.min_won_deals, 1);
  for (const OpenDelay& delay : facts.open_delays) {
    AddAmount(delay.currency, delay.minor, evaluation.overdue);
  }
  const int32_t cadence = CadenceDays(client, settings);
  evaluation.cadence = cadence;
  if (!evaluation.regular) return;

  std::vector<Term>& attention = evaluation.terms;
  // contact_overdue
  if (facts.last_contact_day) {
    const int64_t beyond = day - (*facts.last_contact_day + cadence);
    if (beyond > 0) {
      Term& term = attention.emplace_back(
          "contact_overdue", std::min(static_cast<double>(beyond) / cadence, settings.contact_cap),
          weights.contact_overdue);
      term.days = beyond;
      term.threshold_days = cadence;
    }
  }
  // payments_overdue
  const int64_t client_revenue = AmountIn(facts.revenue, currency);
  if (!facts.open_delays.empty()) {
    int64_t max_days = 0;
    for (const OpenDelay& delay : facts.open_delays) {
      max_days = std::max(max_days, day - delay.due_day);
    }
    const int64_t amount = AmountIn(evaluation.overdue, currency);
    const double amount_part =
        amount == 0 ? 0.0
        : client_revenue <= 0
            ? 1.0
            : std::min(static_cast<double>(amount) / static_cast<double>(client_revenue), 1.0);
    const double age_part =
        std::min(static_cast<double>(max_days) / std::max(settings.payment_age_days, 1), 1.0);
    if (amount_part + age_part > 0) {
      Term& term = attention.emplace_back("payments_overdue", amount_part + age_part,
                                          weights.payments_overdue);
      term.days = max_days;
      term.amount = amount;
    }
  }
  // rhythm_broken
  if (facts.won_count >= 2) {
    const double median = facts.median_interval_days;
    const double threshold = settings.rhythm_factor * median;
    const int64_t since = day - facts.last_win_day;
    const double excess = static_cast<double>(since) - threshold;
    if (excess > 0) {
      Term& term = attention.emplace_back(
          "rhythm_broken", std::min(excess / median, settings.rhythm_cap), weights.rhythm_broken);
      term.days = since;
      term.threshold_days = threshold;
    }
  }
  // revenue_declining
  {
    const auto [last, previous] =
        WindowRevenue(facts.wins, currency, day, settings.revenue_window_days);
    if (Declining(last, previous)) {
      Term& term = attention.emplace_back(
          "revenue_declining", 1.0 - static_cast<double>(last) / static_cast<double>(previous),
          weights.revenue_declining);
      term.amount = last;
      term.baseline = previous;
    }
  }
  if (attention.empty()) return;
  // client_weight
  const int64_t total = totals.revenue;
  const int64_t clients = totals.clients;
  if (client_revenue > 0 && total > 0 && clients > 0) {
    const double share =
        std::min(static_cast<double>(client_revenue) / static_cast<double>(total), 1.0);
    Term& term = attention.emplace_back(
        "client_weight", std::min(share * static_cast<double>(clients), settings.client_weight_cap),
        weights.client_weight);
    term.amount = client_revenue;
    term.share = share;
  }
  double score = 0;
  for (const Term& term : attention) score += term.value * term.weight;
  evaluation.score = score;
}

// The fields a queue entry and a card share, from the evaluation: `Answer`
// is lok.v1.RetentionEntry or lok.v1.ClientRetention (the queue fills its
// entries in place instead of copying them out of a card).
template <typename Answer>
void FillRetention(const RetentionSummary& client, const Evaluation& evaluation,
                   const RetentionSettings& settings, Answer& result) {
  const Facts& facts = evaluation.facts;
  const std::string& currency = settings.currency;
  result.set_client_id(std::string(client.client_id));
  result.set_salesperson(std::string(client.salesperson));
  result.set_region(std::string(client.region));
  result.set_won_deals(facts.won_count);
  for (const auto& [code, minor] : facts.revenue) *result.add_revenue() = MoneyOf(minor, code);
  for (const auto& [code, minor] : evaluation.overdue) *result.add_overdue() = MoneyOf(minor, code);
  if (facts.last_contact_day) {
    result.set_last_contact(FormatDate(*facts.last_contact_day));
    result.set_next_contact_due(FormatDate(*facts.last_contact_day + evaluation.cadence));
  }
  if (evaluation.terms.empty()) return;
  for (const Term& term : evaluation.terms) {
    RetentionReason& reason = *result.add_reasons();
    reason.set_term(std::string(term.name));
    reason.set_value(term.value);
    reason.set_weight(term.weight);
    reason.set_contribution(term.value * term.weight);
    reason.set_days(term.days);
    reason.set_threshold_days(term.threshold_days);
    if (term.amount) *reason.mutable_amount() = MoneyOf(*term.amount, currency);
    if (term.baseline) *reason.mutable_baseline_amount() = MoneyOf(*term.baseline, currency);
    reason.set_share(term.share);
  }
  result.set_score(evaluation.score);
}

// The evaluation as a card, without the invoice and contact lists.
ClientRetention RetentionOf(const RetentionSummary& client, const Evaluation& evaluation,
                            int64_t day, const RetentionSettings& settings) {
  ClientRetention result;
  FillRetention(client, evaluation, settings, result);
  result.set_as_of(FormatDate(day));
  result.set_currency(settings.currency);
  result.set_is_regular(evaluation.regular);
  result.set_needs_attention(!evaluation.terms.empty());
  return result;
}

// ---------------------------------------------------------------------------
// The attention index and the aggregates, as functions of the state alone.

std::string ScopePrefix(int32_t partition, char scope, std::string_view scope_value, char term) {
  std::string key(kIndexPrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  key.push_back(scope);
  AppendEscapedString(key, scope_value);
  key.push_back(term);
  return key;
}

using IndexEntries = std::map<std::string, std::string>;

// The days a term of a regular client becomes positive, from the current
// state: (term, day, value) where value is the decline interval's start.
struct Attention {
  char term;
  int64_t day;
  std::optional<int64_t> start;
};

// REQUIRES: `facts` = FactsAt(client, kForever), `client` from
// SummarizeRetention (so its facts list every win).
std::vector<Attention> AttentionOf(const RetentionSummary& client, const Facts& facts,
                                   const RetentionSettings& settings) {
  std::vector<Attention> result;
  if (static_cast<int64_t>(facts.wins.size()) < std::max<int64_t>(settings.min_won_deals, 1)) {
    return result;
  }
  if (facts.last_contact_day) {
    result.push_back(
        {kTermContact, *facts.last_contact_day + CadenceDays(client, settings) + 1, std::nullopt});
  }
  if (!facts.open_delays.empty()) {
    int64_t earliest = kForever;
    for (const OpenDelay& delay : facts.open_delays) earliest = std::min(earliest, delay.due_day);
    result.push_back({kTermPayments, earliest, std::nullopt});
  }
  if (facts.wins.size() >= 2) {
    const double threshold = settings.rhythm_factor * facts.median_interval_days;
    // The first whole number of days since the last win above the threshold.
    result.push_back({kTermRhythm,
                      facts.last_win_day + static_cast<int64_t>(std::floor(threshold)) + 1,
                      std::nullopt});
  }
  // revenue_declining is constant between the days where a win enters or
  // leaves a window (w, w + W, w + 2W). Index the maximal positive intervals
  // that end after the last win.
  const int64_t window = settings.revenue_window_days;
  const std::set<int64_t> points = DeclineBreakpoints(facts.wins, window);
  std::set<std::string_view> currencies;
  for (const Win& win : facts.wins) currencies.insert(win.currency);
  const int64_t last_win = facts.last_win_day;
  std::optional<int64_t> open_start;
  for (auto point = points.begin(); point != points.end(); ++point) {
    bool positive = false;
    for (std::string_view currency : currencies) {
      const auto [last, previous] = WindowRevenue(facts.wins, currency, *point, window);
      positive = positive || Declining(last, previous);
    }
    if (positive && !open_start) open_start = *point;
    if (!positive && open_start) {
      if (*point > last_win) result.push_back({kTermDecline, -*point, open_start});
      open_start.reset();
    }
  }
  // The last point is w_max + 2W, where both windows are empty: never open.
  return result;
}

// The most a regular client's score can be, without client_weight, in one
// currency on any day on or after its last dated fact (the state does not
// change on such days; the terms only grow until their caps):
// contact_overdue and rhythm_broken at their caps, payments_overdue with its
// age part at 1, and revenue_declining at its largest value on those days,
// which is 0 from `decline_end` on (both revenue windows empty).
// client_weight depends on all clients' totals, so the query adds it from
// `revenue`. `currency` "" is the bound in every currency the client has no
// amount in.
struct ScoreBound {
  std::string_view currency;
  double without_decline = 0;  // without client_weight either
  double decline = 0;          // revenue_declining's contribution, before decline_end
  int64_t decline_end = 0;
  int64_t revenue = 0;  // in `currency`
};

// REQUIRES: `facts` = FactsAt(client, kForever) of a regular client whose
// last dated fact is on `last_day`.
std::vector<ScoreBound> ScoreBoundsOf(const Facts& facts, int64_t last_day,
                                      const RetentionSettings& settings) {
  const RetentionWeights& weights = settings.weights;
  const auto positive = [](double weight) { return std::max(weight, 0.0); };
  double common = 0;
  if (facts.last_contact_day) common += positive(weights.contact_overdue) * settings.contact_cap;
  if (facts.won_count >= 2) common += positive(weights.rhythm_broken) * settings.rhythm_cap;
  std::set<std::string_view> currencies;
  for (const Win& win : facts.wins) {
    if (!win.currency.empty()) currencies.insert(win.currency);
  }
  for (const OpenDelay& delay : facts.open_delays) {
    if (!delay.currency.empty()) currencies.insert(delay.currency);
  }
  std::vector<ScoreBound> bounds;
  // In a currency the client has no amount in: only the age part of payments.
  ScoreBound other;
  other.without_decline =
      common + (facts.open_delays.empty() ? 0.0 : positive(weights.payments_overdue));
  bounds.push_back(other);
  const int64_t window = settings.revenue_window_days;
  const std::set<int64_t> points = DeclineBreakpoints(facts.wins, window);
  for (std::string_view currency : currencies) {
    ScoreBound bound;
    bound.currency = currency;
    bound.revenue = AmountIn(facts.revenue, currency);
    bound.without_decline = common;
    if (!facts.open_delays.empty()) {
      int64_t amount = 0;
      for (const OpenDelay& delay : facts.open_delays) {
        if (delay.currency == currency) amount += delay.minor;
      }
      const double amount_part =
          amount == 0 ? 0.0
          : bound.revenue <= 0
              ? 1.0
              : std::min(static_cast<double>(amount) / static_cast<double>(bound.revenue), 1.0);
      bound.without_decline += positive(weights.payments_overdue) * (amount_part + 1.0);
    }
    for (auto point = points.begin(); point != points.end(); ++point) {
      const auto next = std::next(point);
      if (next == points.end() || *next <= last_day) continue;  // over before last_day
      const auto [last, previous] = WindowRevenue(facts.wins, currency, *point, window);
      if (!Declining(last, previous)) continue;
      bound.decline = std::max(bound.decline,
                               positive(weights.revenue_declining) *
                                   (1.0 - static_cast<double>(last) / static_cast<double>(previous)));
      bound.decline_end = *next;
    }
    bounds.push_back(bound);
  }
  return bounds;
}

std::optional<int64_t> LastFactDay(const RetentionSummary& client);

// The week (7-day block from the epoch) a day falls in: the decline
// index's buckets.
int64_t WeekOf(int64_t day) { return FloorDiv(day, 7); }

IndexEntries IndexEntriesOf(const RetentionSummary& client, int32_t partition,
                            const RetentionSettings& settings) {
  IndexEntries entries;
  std::vector<std::pair<char, std::string_view>> scopes = {{kScopeAll, ""}};
  if (!client.salesperson.empty()) scopes.emplace_back(kScopeSalesperson, client.salesperson);
  if (!client.region.empty()) scopes.emplace_back(kScopeRegion, client.region);
  const Facts facts = FactsAt(client, kForever);
  const std::vector<Attention> attentions = AttentionOf(client, facts, settings);
  if (attentions.empty()) return entries;  // not regular
  for (const auto& [currency, minor] : facts.revenue) {
    for (const auto& [scope, scope_value] : scopes) {
      std::string key = ScopePrefix(partition, scope, scope_value, kRevenueRank);
      AppendEscapedString(key, currency);
      AppendOrderedInt64(key, -minor);
      AppendEscapedString(key, client.client_id);
      entries[std::move(key)] = "";
    }
  }
  // The score-bound index: <currency> -(bucket of the whole bound)
  // -(revenue) <client>; in the value the bound without and the part of
  // revenue_declining (both rounded up to kBoundEpsilon), and decline_end.
  const std::optional<int64_t> last_day = LastFactDay(client);
  for (const ScoreBound& bound :
       ScoreBoundsOf(facts, last_day.value_or(0), settings)) {
    const auto bucket = static_cast<int64_t>(
        std::floor((bound.without_decline + bound.decline) * kBoundBuckets));
    std::string value;
    AppendOrderedInt64(value, static_cast<int64_t>(std::ceil(bound.without_decline / kBoundEpsilon)));
    AppendOrderedInt64(value, static_cast<int64_t>(std::ceil(bound.decline / kBoundEpsilon)));
    AppendOrderedInt64(value, bound.decline_end);
    for (const auto& [scope, scope_value] : scopes) {
      std::string key = ScopePrefix(partition, scope, scope_value, kScoreBound);
      AppendEscapedString(key, bound.currency);
      AppendOrderedInt64(key, -bucket);
      AppendOrderedInt64(key, -bound.revenue);
      AppendEscapedString(key, client.client_id);
      entries[std::move(key)] = value;
    }
  }
  for (const Attention& attention : attentions) {
    for (const auto& [scope, scope_value] : scopes) {
      std::string key = ScopePrefix(partition, scope, scope_value, attention.term);
      std::string value;
      if (attention.term == kTermDecline) {
        // [start, end): -(the week of end), start; end in the value.
        const int64_t end = -attention.day;
        AppendOrderedInt64(key, -WeekOf(end));
        AppendOrderedInt64(key, *attention.start);
        AppendOrderedInt64(value, end);
      } else {
        AppendOrderedInt64(key, attention.day);
      }
      AppendEscapedString(key, client.client_id);
      entries[std::move(key)] = std::move(value);
    }
  }
  return entries;
}

std::string AggregateKey(int32_t partition, char kind, std::string_view currency) {
  std::string key(kAggregatePrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  key.push_back(kind);
  key.append(currency);
  return key;
}

void AddContribution(const RetentionSummary& client, int32_t partition, int64_t sign,
                     const RetentionSettings& settings, store::Transaction& transaction) {
  const Facts facts = FactsAt(client, kForever);
  for (const auto& [currency, minor] : facts.revenue) {
    transaction.AddCounter(AggregateKey(partition, kRevenueCounter, currency), sign * minor);
    transaction.AddCounter(AggregateKey(partition, kClientsCounter, currency), sign);
  }
  if (static_cast<int64_t>(facts.wins.size()) >= std::max<int64_t>(settings.min_won_deals, 1)) {
    transaction.AddCounter(AggregateKey(partition, kRegularCounter, ""), sign);
  }
}

// The latest day of a contact, outcome or payment event of `client`.
std::optional<int64_t> LastFactDay(const RetentionSummary& client) {
  std::optional<int64_t> last;
  const auto note = [&](int64_t day) { last = std::max(last.value_or(day), day); };
  if (!client.contact_days.empty()) note(client.contact_days.back());
  for (const DatedAmount& outcome : client.outcomes) note(outcome.day);
  for (const DatedAmount& payment : client.payments) note(payment.day);
  return last;
}

bool ConcernsRetention(const Event& event) {
  switch (event.payload_case()) {
    case Event::kInvoiceIssued:
    case Event::kPaymentReceived:
    case Event::kPaymentDelayed:
    case Event::kClientContacted:
      return true;
    default:
      return events::IsDealEvent(event);
  }
}

std::string ClientKey(std::string_view client_id) {
  std::string key(kClientPrefix);
  key.append(client_id);
  return key;
}

std::string SummaryKey(std::string_view client_id) {
  std::string key(kSummaryPrefix);
  key.append(client_id);
  return key;
}

StatusOr<std::optional<RetentionClient>> ReadClient(const store::KeyValueReader& reader,
                                                    std::string_view client_id) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(ClientKey(client_id)));
  if (!stored) return std::optional<RetentionClient>();
  RetentionClient client;
  if (!client.ParseFromString(*stored)) {
    return DataLossError("retention: unreadable client state for " + std::string(client_id));
  }
  return std::optional<RetentionClient>(std::move(client));
}

// ---------------------------------------------------------------------------
// The queue's candidate walk.

// One entry taken from a term index or the revenue ranking: `order` is the
// key's ordered int64 (due day, -end, or -revenue), so (order, client_id)
// sorts like the key's suffix (both encodings keep the order).
struct Taken {
  int64_t order = 0;
  std::string client_id;
  bool operator<(const Taken& other) const {
    return order != other.order ? order < other.order : client_id < other.client_id;
  }
};

struct CandidateLists {
  std::vector<Taken> revenue;
  std::vector<Taken> terms[std::size(kTerms)];
};

// The smallest key greater than every key starting with `prefix` (the
// prefix is never all 0xFF: it ends with an escaped string or a term).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// Appends to `lists` what one partition's index of `scope` offers on `day`:
// per term at most `per_term` clients due longest (decline: whose positive
// interval holds `day`, after skipping at most 8 × per_term intervals that
// start later), and the `per_term` clients with the most revenue in
// `currency`. Clears `complete` when a term had more. One iterator walks
// the four term indexes and the ranking (they are adjacent in key order),
// seeking from one to the next. Errors: kDataLoss on an unreadable key it
// reads (the client id only of the entries it takes); storage errors.
Status WalkCandidates(const store::KeyValueReader& reader, int32_t partition, char scope,
                      std::string_view scope_value, std::string_view currency, int64_t day,
                      size_t per_term, bool legacy_decline, CandidateLists& lists,
                      bool& complete) {
  struct Stage {
    char term = 0;
    std::string prefix;
    std::vector<Taken>* taken = nullptr;
    size_t taken_here = 0;
    size_t skipped = 0;  // legacy decline layout only
  };
  // In key order: c < d < h < p < w.
  std::vector<Stage> stages;
  for (char term : {kTermContact, kTermDecline, kTermRhythm, kTermPayments}) {
    const size_t slot = static_cast<size_t>(std::find(std::begin(kTerms), std::end(kTerms), term) -
                                            std::begin(kTerms));
    stages.push_back({term, ScopePrefix(partition, scope, scope_value, term), &lists.terms[slot]});
  }
  {
    std::string prefix = ScopePrefix(partition, scope, scope_value, kRevenueRank);
    AppendEscapedString(prefix, currency);
    stages.push_back({kRevenueRank, std::move(prefix), &lists.revenue});
  }
  Status corrupt = Status::Ok();
  std::string client_id;
  std::string seek_target;  // where kSeek continues in the same stage
  enum class Next { kEntry, kStage, kSeek };
  const auto unreadable = [&](std::string_view what) {
    corrupt = DataLossError("retention: unreadable index " + std::string(what));
    return Next::kStage;
  };
  // What `stage` wants after this entry.
  const auto visit_entry = [&](Stage& stage, std::string_view key, std::string_view value) {
    const size_t prefix_size = stage.prefix.size();
    size_t position = prefix_size + 8;
    if (stage.term == kRevenueRank) {
      if (stage.taken_here == per_term) return Next::kStage;
      if (!ReadEscapedStringInto(key, position, client_id)) return unreadable("key");
      ++stage.taken_here;
      stage.taken->push_back({*ReadOrderedInt64(key, prefix_size), client_id});
      return stage.taken_here < per_term ? Next::kEntry : Next::kStage;
    }
    std::optional<int64_t> key_day = ReadOrderedInt64(key, prefix_size);
    if (!key_day) return unreadable("key");
    int64_t order = *key_day;
    if (stage.term == kTermDecline && legacy_decline) {
      // Versions before 4: keyed by -end, start in the value; intervals that
      // start after asOf are stepped over, at most 8 × per_term of them.
      if (-*key_day <= day) return Next::kStage;  // ended on or before asOf
      std::optional<int64_t> start = ReadOrderedInt64(value, 0);
      if (!start) return unreadable("value");
      if (*start > day) {
        if (++stage.skipped > 8 * per_term) {
          complete = false;
          return Next::kStage;
        }
        return Next::kEntry;
      }
    } else if (stage.term == kTermDecline) {
      // Buckets by the week of the interval's end, latest first; inside one,
      // by start. An interval holds asOf when start <= day < end.
      const int64_t week = -*key_day;
      if (week * 7 + 6 <= day) return Next::kStage;  // every end here and later <= asOf
      std::optional<int64_t> start = ReadOrderedInt64(key, prefix_size + 8);
      std::optional<int64_t> end = ReadOrderedInt64(value, 0);
      if (!start) return unreadable("key");
      if (!end) return unreadable("value");
      if (*start > day) {
        // The rest of this bucket starts after asOf: on to the next week.
        seek_target = stage.prefix;
        AppendOrderedInt64(seek_target, *key_day + 1);
        return Next::kSeek;
      }
      if (*end <= day) return Next::kEntry;  // ended on or before asOf
      position = prefix_size + 16;
      // Sorts like the key: the week, then the start (days fit in 32 bits).
      order = *key_day * (int64_t{1} << 32) + (*start + (int64_t{1} << 31));
    } else if (*key_day > day) {
      return Next::kStage;
    }
    if (stage.taken_here == per_term) {
      complete = false;
      return Next::kStage;
    }
    // The client id is read only from the entries taken.
    if (!ReadEscapedStringInto(key, position, client_id)) return unreadable("key");
    ++stage.taken_here;
    stage.taken->push_back({order, client_id});
    return Next::kEntry;
  };
  using ScanStep = store::KeyValueReader::ScanStep;
  size_t current = 0;
  const auto seek_to = [](const std::string& target) {
    return ScanStep{ScanStep::Action::kSeek, target};
  };
  LOK_RETURN_IF_ERROR(reader.ScanRangeSeeking(
      stages.front().prefix, PrefixEnd(stages.back().prefix),
      [&](std::string_view key, std::string_view value) {
        // The stage `key` belongs to, or the next one after it.
        while (current < stages.size() && !key.starts_with(stages[current].prefix)) {
          if (key < stages[current].prefix) return seek_to(stages[current].prefix);
          ++current;
        }
        if (current == stages.size()) return ScanStep{ScanStep::Action::kStop, {}};
        switch (visit_entry(stages[current], key, value)) {
          case Next::kEntry:
            return ScanStep{};
          case Next::kSeek:
            return seek_to(seek_target);
          case Next::kStage:
            break;
        }
        if (!corrupt.ok() || ++current == stages.size()) {
          return ScanStep{ScanStep::Action::kStop, {}};
        }
        return seek_to(stages[current].prefix);
      }));
  return corrupt;
}

// client_weight's contribution for `revenue` in the query currency, as
// Evaluate computes it.
double WeightContribution(int64_t revenue, const CurrencyTotals& totals,
                          const RetentionSettings& settings) {
  if (revenue <= 0 || totals.revenue <= 0 || totals.clients <= 0) return 0;
  const double share =
      std::min(static_cast<double>(revenue) / static_cast<double>(totals.revenue), 1.0);
  return std::min(share * static_cast<double>(totals.clients), settings.client_weight_cap) *
         settings.weights.client_weight;
}

// The clients with the highest score bounds (ScoreBoundsOf + their
// client_weight now), at most `size` of them, and the highest bound of a
// client not kept: no client outside `kept` can score above `best_left`.
struct BoundWalk {
  explicit BoundWalk(size_t capacity) : size(capacity) {}
  struct Kept {
    double bound = 0;
    std::string client_id;
    bool operator>(const Kept& other) const { return bound > other.bound; }
  };
  size_t size;
  std::vector<Kept> kept;  // a min-heap by bound
  double best_left = -std::numeric_limits<double>::infinity();

  bool Full() const { return kept.size() >= size; }
  double Lowest() const { return kept.front().bound; }
  void Leave(double bound) { best_left = std::max(best_left, bound); }
  void Offer(double bound, std::string_view client_id) {
    if (Full()) {
      if (bound <= Lowest()) return Leave(bound);
      std::pop_heap(kept.begin(), kept.end(), std::greater<>());
      Leave(kept.back().bound);
      kept.pop_back();
    }
    kept.push_back({bound, std::string(client_id)});
    std::push_heap(kept.begin(), kept.end(), std::greater<>());
  }
};

// Offers `walk` the score-bound index of one scope and currency (""
// included): bucket by bucket, the highest first; inside a bucket by revenue,
// so the bucket's remaining bound only falls, and the walk leaves a bucket
// (and stops) once nothing left in it (after it) can beat what it keeps.
Status WalkBounds(const store::KeyValueReader& reader, int32_t partition, char scope,
                  std::string_view scope_value, std::string_view currency, int64_t day,
                  const CurrencyTotals& totals, const RetentionSettings& settings,
                  BoundWalk& walk) {
  std::string prefix = ScopePrefix(partition, scope, scope_value, kScoreBound);
  AppendEscapedString(prefix, currency);
  const double weight_cap =
      std::max(settings.weights.client_weight, 0.0) * settings.client_weight_cap;
  const auto bucket_top = [](int64_t bucket) {
    return static_cast<double>(bucket + 1) / kBoundBuckets + kBoundEpsilon;
  };
  Status corrupt = Status::Ok();
  std::string client_id;
  using ScanStep = store::KeyValueReader::ScanStep;
  std::optional<int64_t> bucket_seen;
  const auto unreadable = [&] {
    corrupt = DataLossError("retention: unreadable score-bound index entry");
    return ScanStep{ScanStep::Action::kStop, {}};
  };
  LOK_RETURN_IF_ERROR(reader.ScanRangeSeeking(
      prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
        const std::optional<int64_t> negative_bucket = ReadOrderedInt64(key, prefix.size());
        const std::optional<int64_t> negative_revenue = ReadOrderedInt64(key, prefix.size() + 8);
        const std::optional<int64_t> without_decline = ReadOrderedInt64(value, 0);
        const std::optional<int64_t> decline = ReadOrderedInt64(value, 8);
        const std::optional<int64_t> decline_end = ReadOrderedInt64(value, 16);
        if (!negative_bucket || !negative_revenue || !without_decline || !decline ||
            !decline_end) {
          return unreadable();
        }
        const int64_t bucket = -*negative_bucket;
        if (bucket != bucket_seen) {
          bucket_seen = bucket;
          // Every bound from here on is below this.
          if (walk.Full() && bucket_top(bucket) + weight_cap <= walk.Lowest()) {
            walk.Leave(bucket_top(bucket) + weight_cap);
            return ScanStep{ScanStep::Action::kStop, {}};
          }
        }
        const double weight = WeightContribution(-*negative_revenue, totals, settings);
        if (walk.Full() && bucket_top(bucket) + weight <= walk.Lowest()) {
          // The rest of this bucket has no more revenue: on to the next one.
          walk.Leave(bucket_top(bucket) + weight);
          std::string next = prefix;
          AppendOrderedInt64(next, *negative_bucket + 1);
          return ScanStep{ScanStep::Action::kSeek, std::move(next)};
        }
        const int64_t bound_units = *without_decline + (day < *decline_end ? *decline : 0);
        const double bound = static_cast<double>(bound_units + 2) * kBoundEpsilon + weight;
        if (walk.Full() && bound <= walk.Lowest()) {
          walk.Leave(bound);
          return ScanStep{};
        }
        // The client id only of the entries kept.
        size_t position = prefix.size() + 16;
        if (!ReadEscapedStringInto(key, position, client_id)) return unreadable();
        walk.Offer(bound, client_id);
        return ScanStep{};
      }));
  return corrupt;
}
}  // namespace

void FoldRetentionEvent(const Event& event, int32_t recent_contacts, RetentionClient& client) {
  if (!ConcernsRetention(event)) return;
  if (client.client_id().empty()) client.set_client_id(event.client_id());
  const Mark mark = MarkOf(event);
  const int64_t day = DayOf(mark);
  if (events::IsDealEvent(event)) AddContactDay(day, client);
  switch (event.payload_case()) {
    case Event::kLeadCreated: {
      const auto& lead = event.lead_created();
      NoteSalesperson(lead.salesperson(), mark, client);
      if (!lead.region().empty() &&
          (!client.has_region_mark() || Earlier(client.region_mark(), mark))) {
        client.set_region(lead.region());
        *client.mutable_region_mark() = mark;
      }
      break;
    }
    case Event::kDealWon:
    case Event::kDealLost: {
      auto& deal = DealOf(event.deal_id(), client);
      auto* terminal = deal.add_terminals();
      *terminal->mutable_mark() = mark;
      terminal->set_won(event.has_deal_won());
      if (event.has_deal_won()) *terminal->mutable_amount() = event.deal_won().amount();
      SortByMark(*deal.mutable_terminals());
      break;
    }
    case Event::kClientContacted: {
      const auto& contacted = event.client_contacted();
      AddContactDay(day, client);
      client.set_contacts_count(client.contacts_count() + 1);
      NoteSalesperson(contacted.salesperson(), mark, client);
      auto* contact = client.add_recent_contacts();
      *contact->mutable_mark() = mark;
      contact->set_channel(contacted.channel());
      contact->set_direction(contacted.direction());
      contact->set_salesperson(contacted.salesperson());
      auto* contacts = client.mutable_recent_contacts();
      std::sort(contacts->begin(), contacts->end(), [](const auto& left, const auto& right) {
        return Earlier(right.mark(), left.mark());
      });
      while (contacts->size() > std::max(recent_contacts, 0)) contacts->RemoveLast();
      break;
    }
    case Event::kInvoiceIssued: {
      const auto& issued = event.invoice_issued();
      auto& invoice = InvoiceOf(issued.invoice_id(), client);
      if (!invoice.has_issued() || Earlier(invoice.issued(), mark)) {
        *invoice.mutable_issued() = mark;
        *invoice.mutable_amount() = issued.amount();
        invoice.set_due_date(issued.due_date());
      }
      break;
    }
    case Event::kPaymentDelayed:
    case Event::kPaymentReceived: {
      const bool delayed = event.has_payment_delayed();
      auto& invoice = InvoiceOf(
          delayed ? event.payment_delayed().invoice_id() : event.payment_received().invoice_id(),
          client);
      auto* payment = invoice.add_payments();
      *payment->mutable_mark() = mark;
      payment->set_delayed(delayed);
      if (delayed) {
        payment->set_days_overdue(event.payment_delayed().days_overdue());
        *payment->mutable_amount() = event.payment_delayed().outstanding();
      } else {
        *payment->mutable_amount() = event.payment_received().amount();
      }
      SortByMark(*invoice.mutable_payments());
      break;
    }
    default:
      break;
  }
}

Status RetentionProjection::Apply(const Event& event, const EventPosition&,
                                  store::Transaction& transaction) {
  if (!ConcernsRetention(event)) return Status::Ok();
  const std::string key = ClientKey(event.client_id());
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  RetentionClient before;
  if (stored && !before.ParseFromString(*stored)) {
    return DataLossError("retention: unreadable client state for " + event.client_id());
  }
  RetentionClient after = before;
  // Stripe 0 for every client: one store per projector instance, so per-
  // partition indexes only multiplied the candidate reads of a query (see
  // kStripe in concentration.cc).
  if (!stored) after.set_partition(0);
  FoldRetentionEvent(event, settings_.recent_contacts, after);
  std::string serialized = after.SerializeAsString();
  if (stored && serialized == *stored) return Status::Ok();

  IndexEntries old_entries;
  RetentionSummary before_summary;
  if (stored) {
    SummarizeRetention(before, before_summary);
    old_entries = IndexEntriesOf(before_summary, before.partition(), settings_);
    AddContribution(before_summary, before.partition(), -1, settings_, transaction);
  }
  RetentionSummary after_summary;
  SummarizeRetention(after, after_summary);
  IndexEntries new_entries = IndexEntriesOf(after_summary, after.partition(), settings_);
  AddContribution(after_summary, after.partition(), +1, settings_, transaction);
  // The latest fact day of all clients (facts are never removed: it only grows).
  if (const std::optional<int64_t> last_day = LastFactDay(after_summary)) {
    const std::string max_key = AggregateKey(after.partition(), kMaxDayCounter, "");
    LOK_ASSIGN_OR_RETURN(const int64_t stored_max, transaction.GetCounter(max_key));
    if (*last_day + 1 > stored_max) transaction.AddCounter(max_key, *last_day + 1 - stored_max);
  }
  // The scoring summary: written when it changed (a contact changes the
  // full state's recent contacts but not always the summary).
  std::string summary = EncodeRetentionSummary(after_summary);
  if (!stored || summary != EncodeRetentionSummary(before_summary)) {
    transaction.Put(SummaryKey(event.client_id()), std::move(summary));
  }
  for (const auto& [entry_key, value] : old_entries) {
    if (!new_entries.contains(entry_key)) transaction.Delete(entry_key);
  }
  for (auto& [entry_key, value] : new_entries) {
    auto old = old_entries.find(entry_key);
    if (old == old_entries.end() || old->second != value) {
      transaction.Put(entry_key, std::move(value));
    }
  }
  transaction.Put(key, std::move(serialized));
  return Status::Ok();
}

StatusOr<lok::v1::RetentionResponse> QueryRetention(const store::KeyValueReader& reader,
                                                    const RetentionQuery& query,
                                                    const RetentionSettings& settings) {
  LOK_ASSIGN_OR_RETURN(Totals totals, ReadTotals(reader));
  const CurrencyTotals totals_in = TotalsIn(totals, settings.currency);
  const int64_t day = query.as_of_day;
  lok::v1::RetentionResponse response;
  response.set_as_of(FormatDate(day));
  response.set_currency(settings.currency);
  response.set_complete(true);

  // The candidates scored so far (each once), their summaries, and those
  // that need attention, best first (ties: client_id).
  struct Scored {
    double score = 0;
    size_t candidate = 0;  // index into candidates
  };
  std::vector<std::string> candidates;
  std::unordered_set<std::string> seen;  // = candidates
  std::vector<std::optional<std::string>> stored_values;
  std::vector<Scored> scored;
  RetentionSummary summary;
  Evaluation evaluation;
  // Wins on or before this day are in neither revenue window.
  const int64_t wins_after = day - 2 * static_cast<int64_t>(settings.revenue_window_days);
  // Scores the clients of `more` not scored yet: one batched read of their
  // summaries (sorted keys), then their evaluations.
  const auto score_more = [&](std::vector<std::string> more) -> Status {
    std::sort(more.begin(), more.end());
    more.erase(std::unique(more.begin(), more.end()), more.end());
    std::erase_if(more, [&](const std::string& client_id) { return seen.contains(client_id); });
    if (more.empty()) return Status::Ok();
    std::vector<std::string> keys;
    keys.reserve(more.size());
    for (const std::string& client_id : more) keys.push_back(SummaryKey(client_id));
    LOK_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values, reader.MultiGet(keys));
    for (size_t index = 0; index < more.size(); ++index) {
      const size_t candidate = candidates.size();
      seen.insert(more[index]);
      candidates.push_back(std::move(more[index]));
      stored_values.push_back(std::move(values[index]));
      const std::optional<std::string>& stored = stored_values.back();
      if (!stored) continue;
      if (!DecodeRetentionSummaryFor(*stored, day, wins_after, summary)) {
        return DataLossError("retention: unreadable scoring summary for " +
                             candidates.back());
      }
      if (query.salesperson && summary.salesperson != *query.salesperson) continue;
      if (query.region && summary.region != *query.region) continue;
      Evaluate(summary, day, settings, totals_in, evaluation);
      if (evaluation.terms.empty()) continue;
      scored.push_back({evaluation.score, candidate});
    }
    std::sort(scored.begin(), scored.end(), [&](const Scored& left, const Scored& right) {
      if (left.score != right.score) return left.score > right.score;
      return candidates[left.candidate] < candidates[right.candidate];
    });
    return Status::Ok();
  };
  const size_t limit = static_cast<size_t>(std::max<int64_t>(query.limit, 0));

  // Candidates: the client named by `client`, or from the narrowest scope
  // the filters allow, the clients with the highest score bounds, when they
  // prove the answer; else also per term the clients due longest and the
  // heaviest clients.
  if (query.client) {
    LOK_RETURN_IF_ERROR(score_more({*query.client}));
  } else {
    char scope = kScopeAll;
    std::string_view scope_value;
    if (query.salesperson) {
      scope = kScopeSalesperson;
      scope_value = *query.salesperson;
    } else if (query.region) {
      scope = kScopeRegion;
      scope_value = *query.region;
    }
    const size_t per_term =
        static_cast<size_t>(std::max<int64_t>(settings.candidates_per_term, 2 * query.limit));
    // A store built by an older version (being rebuilt in the background)
    // lacks the score-bound index (before 5) and keeps the revenue_declining
    // index in its old layout (before 4); it is read as such. A store
    // without a version record (tests, scratch) is current.
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> version,
                         reader.Get(std::string(kVersionRecordPrefix) + "retention"));
    int built_with = kScoreBoundVersion;
    if (version) {
      const auto parsed =
          std::from_chars(version->data(), version->data() + version->size(), built_with);
      if (parsed.ec != std::errc()) {
        return DataLossError("retention: unreadable version record '" + *version + "'");
      }
    }
    // The bounds hold on days on or after every client's last fact. The
    // per_term clients with the highest bounds; if they do not prove the
    // answer, the 4 × per_term highest (where many clients are still below
    // their caps, their bounds are far above their scores), scored per_term
    // at a time, the highest bounds first.
    bool proven = false;
    if (built_with >= kScoreBoundVersion && (!totals.max_day || day >= *totals.max_day)) {
      for (size_t capacity : {per_term, 4 * per_term}) {
        BoundWalk walk(capacity);
        for (int32_t partition : totals.partitions) {
          for (std::string_view currency :
               {std::string_view(settings.currency), std::string_view()}) {
            LOK_RETURN_IF_ERROR(WalkBounds(reader, partition, scope, scope_value, currency, day,
                                           totals_in, settings, walk));
          }
        }
        std::sort(walk.kept.begin(), walk.kept.end(), std::greater<>());
        for (size_t from = 0; from < walk.kept.size() && !proven; from += per_term) {
          const size_t to = std::min(walk.kept.size(), from + per_term);
          std::vector<std::string> more;
          for (size_t index = from; index < to; ++index) {
            more.push_back(std::move(walk.kept[index].client_id));
          }
          LOK_RETURN_IF_ERROR(score_more(std::move(more)));
          // No client left can score above this.
          const double best_left = to < walk.kept.size()
                                       ? std::max(walk.best_left, walk.kept[to].bound)
                                       : walk.best_left;
          // Exact when no client left out can reach the last place's score
          // (a tie could go either way on client_id: it must be beaten).
          proven = scored.size() >= limit
                       ? limit == 0 || scored[limit - 1].score > best_left
                       : best_left == -std::numeric_limits<double>::infinity();
        }
        if (proven) break;
      }
    }
    if (!proven) {
      const bool legacy_decline = built_with < kDeclineByWeekVersion;
      CandidateLists lists;
      bool complete = true;
      for (int32_t partition : totals.partitions) {
        LOK_RETURN_IF_ERROR(WalkCandidates(reader, partition, scope, scope_value,
                                           settings.currency, day, per_term, legacy_decline,
                                           lists, complete));
      }
      if (!complete) response.set_complete(false);
      std::vector<std::string> more;
      const auto take = [&](std::vector<Taken>& taken, bool counts_for_complete) {
        // Merged over partitions: the suffix order of the keys.
        std::sort(taken.begin(), taken.end());
        if (taken.size() > per_term) {
          if (counts_for_complete) response.set_complete(false);
          taken.resize(per_term);
        }
        for (Taken& entry : taken) more.push_back(std::move(entry.client_id));
      };
      take(lists.revenue, false);
      for (std::vector<Taken>& taken : lists.terms) take(taken, true);
      LOK_RETURN_IF_ERROR(score_more(std::move(more)));
    }
  }
  response.set_candidates(static_cast<int64_t>(candidates.size()));
  if (scored.size() > limit) scored.resize(limit);
  for (const Scored& best : scored) {
    // Decoded again (it decoded before), so no summary is kept per candidate.
    if (!DecodeRetentionSummaryFor(*stored_values[best.candidate], day, wins_after, summary)) {
      return DataLossError("retention: unreadable scoring summary for " +
                           candidates[best.candidate]);
    }
    Evaluate(summary, day, settings, totals_in, evaluation);
    FillRetention(summary, evaluation, settings, *response.add_entries());
  }
  return response;
}

StatusOr<ClientRetention> QueryClientRetention(const store::KeyValueReader& reader,
                                               std::string_view client_id, int64_t as_of_day,
                                               const RetentionSettings& settings) {
  LOK_ASSIGN_OR_RETURN(std::optional<RetentionClient> client, ReadClient(reader, client_id));
  if (!client) return NotFoundError("client '" + std::string(client_id) + "': no retention events");
  LOK_ASSIGN_OR_RETURN(Totals totals, ReadTotals(reader));
  RetentionSummary summary;
  SummarizeRetention(*client, summary);
  Evaluation evaluation;
  Evaluate(summary, as_of_day, settings, TotalsIn(totals, settings.currency), evaluation);
  ClientRetention result = RetentionOf(summary, evaluation, as_of_day, settings);
  result.set_contacts_count(client->contacts_count());
  for (const auto& contact : client->recent_contacts()) {
    if (DayOf(contact.mark()) > as_of_day) continue;
    auto* view = result.add_last_contacts();
    *view->mutable_occurred_at() = contact.mark().occurred_at();
    view->set_channel(contact.channel());
    view->set_direction(contact.direction());
    view->set_salesperson(contact.salesperson());
    view->set_event_id(contact.mark().event_id());
  }
  for (const auto& invoice : client->invoices()) {
    const bool issued = invoice.has_issued() && DayOf(invoice.issued()) <= as_of_day;
    const auto* latest = LatestOnOrBefore(invoice.payments(), as_of_day);
    if (!issued && latest == nullptr) continue;
    auto* view = result.add_invoices();
    view->set_invoice_id(invoice.invoice_id());
    if (issued) {
      *view->mutable_amount() = invoice.amount();
      view->set_due_date(invoice.due_date());
    }
    if (latest == nullptr) {
      view->set_status("open");
    } else if (latest->delayed()) {
      view->set_status("overdue");
      view->set_days_overdue(as_of_day - (DayOf(latest->mark()) - latest->days_overdue()));
      *view->mutable_outstanding() = latest->amount();
    } else {
      view->set_status("paid");
    }
  }
  return result;
}

}  // namespace lok::projections
