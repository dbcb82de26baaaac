// The retention scoring summary: the dated facts a retention score needs,
// without the marks' event ids and sources, the deal and invoice ids or the
// recent contacts (the card's). The projection stores it beside each
// client's full state (retention/s/<client_id>), in the same batch, so a
// queue query decodes a few hundred compact summaries instead of parsing a
// few hundred full states. Scores are computed from a summary in every
// path (the queue, the card, the index), so the two cannot disagree.
//
// Encoding (every integer a LEB128 varint; signed ones zigzag-encoded):
//   format (2), client_id, salesperson, region     strings: length, bytes
//   currencies: count, strings                       (a table the amounts index)
//   current facts (CurrentFacts: the facts on every day on or after the
//   latest dated fact, precomputed so a query on such a day, the live case,
//   reads only these):
//     last day: 0, or 1 then the day               (none: no dated facts)
//     last contact day: 0, or 1 then the day
//     won deals: count; with one or more the last win day, with two or
//       more 2 × the median interval (varint)
//     revenue: count, then currency index, minor       (in currency code order)
//     open delays: count, then due day, minor, currency index   (in invoice order)
//     wins, latest first (ties in deal order): days before the previous
//       one (the first: before the last win day), minor, currency index
//       (last, so a query stops at the first win too old for its windows)
//   dated facts (every fact with its day, for any asOf):
//     contact days: count, first day, then gaps       (ascending, distinct)
//     deals: count; per deal its outcomes: count, then
//       day, won (0/1), minor, currency index           (in mark order)
//     invoices: count; per invoice its payments: count, then
//       day, delayed (0/1), days_overdue, minor, currency index   (in mark order)
// Format 1 (retention version 2) is format 2 without the current facts;
// it still decodes (with has_current false).
//
// Internal to the retention projection (and its tests).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lok/v1/retention.pb.h"

namespace lok::projections::internal {

// One dated fact: a deal outcome (flag = won) or a payment event (flag =
// delayed, with days_overdue). `currency` indexes RetentionSummary::currencies.
struct DatedAmount {
  int64_t day = 0;
  bool flag = false;
  int64_t days_overdue = 0;  // payments only
  int64_t minor = 0;
  uint32_t currency = 0;
};

// The facts on every day D on or after `last_day` (when there is no dated
// fact, on every day): exactly what the dated facts give for such a D.
struct CurrentFacts {
  std::optional<int64_t> last_day;  // the latest day of a contact, outcome or payment
  std::optional<int64_t> last_contact_day;
  int64_t won_count = 0;     // deals whose latest outcome is a win
  int64_t last_win_day = 0;  // the latest of their days (with a win)
  // Those outcomes (day, minor, currency; flag true), latest first (ties in
  // deal order); from DecodeRetentionSummaryFor only those dated after its
  // `wins_after`.
  std::vector<DatedAmount> wins;
  // With at least two wins: twice the median of the intervals between
  // consecutive win days (TwiceMedianInterval), before the at-least-1 rule.
  int64_t twice_median_interval = 0;
  // Σ minor of the wins per currency with a non-empty code, in code order.
  std::vector<std::pair<uint32_t, int64_t>> revenue;
  // Per invoice whose latest payment event is a delay: day = its due day
  // (the delay's day - days_overdue), minor = outstanding, in invoice order.
  std::vector<DatedAmount> open_delays;
};

// Views into the client state or the bytes it was made from: valid while
// they are. Reusable: Decode clears every field, keeping capacity.
struct RetentionSummary {
  std::string_view client_id;
  std::string_view salesperson;
  std::string_view region;
  std::vector<std::string_view> currencies;
  // Set by DecodeRetentionSummary(For) from format 2 bytes; never by
  // SummarizeRetention (the card evaluates the dated facts).
  bool has_current = false;
  CurrentFacts current;
  // False when DecodeRetentionSummaryFor skipped the dated facts below.
  bool has_dated = true;
  std::vector<int64_t> contact_days;  // ascending
  // Outcomes of deal d: outcomes[deal_ends[d-1] .. deal_ends[d]), in mark order.
  std::vector<DatedAmount> outcomes;
  std::vector<uint32_t> deal_ends;
  // Payment events of invoice i, likewise.
  std::vector<DatedAmount> payments;
  std::vector<uint32_t> invoice_ends;
};

// 2 × the median of the intervals between consecutive values of `days`
// once sorted (even count: the sum of the two middle ones), so the median
// is this / 2.0 exactly. REQUIRES: days.size() >= 2. Reorders `days`, and
// uses it as scratch.
int64_t TwiceMedianInterval(std::vector<int64_t>& days);

// The current facts of `summary`'s dated facts.
void CurrentFactsOf(const RetentionSummary& summary, CurrentFacts& current);

// The summary of `client` (views into it).
void SummarizeRetention(const lok::v1::RetentionClient& client, RetentionSummary& summary);

// Format 2, with the current facts computed from the dated facts (whatever
// summary.current holds).
std::string EncodeRetentionSummary(const RetentionSummary& summary);

// Fills `summary` with views into `bytes`, every part. False when the bytes
// are not an encoded summary (truncated, unknown format, an index out of
// range).
bool DecodeRetentionSummary(std::string_view bytes, RetentionSummary& summary);

// Like DecodeRetentionSummary, but when the current facts hold on `day`
// (day >= current.last_day, or no dated fact) decodes only them, and of
// their wins only those dated after `wins_after` (a query's revenue windows
// end there): then has_dated is false and the bytes after are not checked.
bool DecodeRetentionSummaryFor(std::string_view bytes, int64_t day, int64_t wins_after,
                               RetentionSummary& summary);

// Whether `summary`'s current facts are its facts on `day`.
inline bool CurrentFactsHoldOn(const RetentionSummary& summary, int64_t day) {
  return summary.has_current &&
         (!summary.current.last_day || day >= *summary.current.last_day);
}

}  // namespace lok::projections::internal
