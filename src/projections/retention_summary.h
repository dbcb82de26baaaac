// The retention scoring summary: the dated facts a retention score needs,
// without the marks' event ids and sources, the deal and invoice ids or the
// recent contacts (the card's). The projection stores it beside each
// client's full state (retention/s/<client_id>), in the same batch, so a
// queue query decodes a few hundred compact summaries instead of parsing a
// few hundred full states. Scores are computed from a summary in every
// path (the queue, the card, the index), so the two cannot disagree.
//
// Encoding (every integer a LEB128 varint; signed ones zigzag-encoded):
//   format (1), client_id, salesperson, region     strings: length, bytes
//   currencies: count, strings                       (a table the amounts index)
//   contact days: count, first day, then gaps       (ascending, distinct)
//   deals: count; per deal its outcomes: count, then
//     day, won (0/1), minor, currency index           (in mark order)
//   invoices: count; per invoice its payments: count, then
//     day, delayed (0/1), days_overdue, minor, currency index   (in mark order)
//
// Internal to the retention projection (and its tests).
#pragma once

#include <cstdint>
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

// Views into the client state or the bytes it was made from: valid while
// they are. Reusable: Decode clears every field, keeping capacity.
struct RetentionSummary {
  std::string_view client_id;
  std::string_view salesperson;
  std::string_view region;
  std::vector<std::string_view> currencies;
  std::vector<int64_t> contact_days;  // ascending
  // Outcomes of deal d: outcomes[deal_ends[d-1] .. deal_ends[d]), in mark order.
  std::vector<DatedAmount> outcomes;
  std::vector<uint32_t> deal_ends;
  // Payment events of invoice i, likewise.
  std::vector<DatedAmount> payments;
  std::vector<uint32_t> invoice_ends;
};

// The summary of `client` (views into it).
void SummarizeRetention(const lok::v1::RetentionClient& client, RetentionSummary& summary);

std::string EncodeRetentionSummary(const RetentionSummary& summary);

// Fills `summary` with views into `bytes`. False when the bytes are not an
// encoded summary (truncated, unknown format, an index out of range).
bool DecodeRetentionSummary(std::string_view bytes, RetentionSummary& summary);

}  // namespace lok::projections::internal
