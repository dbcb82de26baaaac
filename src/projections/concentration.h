// The client concentration read model: how much of the won revenue comes
// from how few clients. docs/metrics/concentration.md defines every number.
//
// Revenue. A deal's revenue is its deal_won amount, dated at the won event's
// occurred_at, counted while the deal's outcome is WON (the funnel's rule: the
// later terminal event wins, a tie goes to the larger event_id). Its
// salesperson, region and product come from its earliest lead_created; a deal
// without one counts only in the "all" scope.
//
// Windows. Arbitrary date ranges cannot be answered from incrementally
// maintained sums of squares without scanning clients, so the model keeps
// exact statistics for a fixed set of windows:
//   - every calendar month ('M' buckets, also the monthly HHI trend), and
//   - every trailing 12 months ending with a month ('T' buckets): a deal won
//     in month m counts in the 12 trailing windows ending at m .. m+11.
// A calendar year is the trailing window ending in December.
//
// Incremental statistics. For each (partition, bucket, currency, scope) the
// model keeps every client's revenue, the client count, Σ revenue and
// Σ revenue² (unsigned 128-bit, exact while Σ revenue² < 2^128), and an index
// ordered by revenue (descending) then client_id. When a deal's contribution
// changes, each affected client revenue moves from old to new: its index entry
// is rewritten and Σ, Σ² move by (new − old) and (new² − old²). Aggregates are
// a function of the deal states alone, so they do not depend on arrival order.
// Clients are disjoint across partitions, so Σ, Σ² and counts add up across
// partitions at query time and top lists merge. This version writes every
// key under partition ("stripe") 0: each projector instance has its own
// store, so one stripe per store makes a query read one index, not eight.
//
// Key layout (G = partition:be32, bucket:'M'|'T', month:be32 (months since
// 1970-01), currency:escaped, scope kind:'a'|'s'|'r'|'p', scope value:escaped):
//   concentration/part/<partition:be32>             partitions seen ("")
//   concentration/deal/<deal_id>                    lok.v1.FunnelDeal (own copy)
//   concentration/invoice/<client:esc><invoice:esc> lok.v1.ConcentrationInvoice
//   concentration/client/<client:esc>P              the client's partition (be32)
//   concentration/client/<client:esc>n | d          delayed invoices | Σ their days_overdue
//   concentration/client/<client:esc>w | b          won deals with an offer | Σ their discount_bp
//   concentration/client/<client:esc>o<currency>    overdue outstanding, minor units
//   concentration/stat/G                            clients:be64 Σ:be64 Σ²:be128
//   concentration/rev/G<client:esc>                 the client's revenue (counter)
//   concentration/top/G<~revenue:be64><client:esc>  "" — the revenue-ordered index
//   concentration/hist/G<bucket:be32>               clients, Σ revenue (counter vector)
//                                                   of the revenue bucket, for k80
// The stat keys double as the "scopes seen" index: a prefix scan over
// G-without-the-value lists the salespeople (regions, products) of a window.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lok/v1/concentration.pb.h"
#include "projections/projection.h"

namespace lok::projections {

class ConcentrationProjection : public Projection {
 public:
  std::string_view Name() const override { return "concentration"; }
  // Folds deal events (lead_created, offer_sent, deal_won, deal_lost) and
  // payment events (payment_delayed, payment_received); ignores the rest.
  // Errors: kDataLoss when stored state is unreadable; store failures.
  Status Apply(const lok::v1::Event& event, const EventPosition& position,
               store::Transaction& transaction) override;
};

// A window the model answers exactly.
struct ConcentrationWindow {
  enum class Kind { kMonth, kTrailingYear };
  Kind kind = Kind::kTrailingYear;
  int32_t last_month = 0;  // months since 1970-01; the window's (only or last) month

  int32_t first_month() const { return kind == Kind::kMonth ? last_month : last_month - 11; }
  int64_t first_day() const;  // days since the epoch, inclusive
  int64_t last_day() const;   // days since the epoch, inclusive
};

// The trailing 12 months ending with the month of `day`. asOf works at month
// granularity: asOf=2024-03-15 covers 2023-04-01 .. 2024-03-31.
ConcentrationWindow TrailingYearEndingAt(int64_t day);

enum class ScopeKind { kAll, kSalesperson, kRegion, kProduct };

struct ConcentrationQuery {
  ConcentrationWindow window;
  std::string currency = "USD";
  ScopeKind scope_kind = ScopeKind::kAll;  // the overall block's scope
  std::string scope_value;                 // empty for kAll
  // When set, one block per value of this dimension in the window.
  // REQUIRES: scope_kind == kAll when set.
  std::optional<ScopeKind> breakdown;
  // When set, each block's top_clients holds just this client's row.
  std::optional<std::string> client;
  int64_t limit = 10;  // top clients per block
  double client_share_alert = 0.20;
  double hhi_moderate = 1500;
  double hhi_high = 2500;
};

// Pareto k80 comes from the revenue distribution (clients and Σ revenue per
// revenue bucket, buckets 1/16 of a power of two wide): whole buckets from
// the top, then the crossing bucket's clients read from the revenue index.
// When that bucket holds more than this many clients, k80 is counted in it
// from the bucket's average revenue instead (pareto_k80_exact = false).
inline constexpr int64_t kParetoScanLimit = 10000;

// Answers a concentration query from `reader` (a consistent snapshot). Reads
// only the window's statistics, the index entries it needs and the listed
// clients' attributes; never all clients. `offsets` is left empty.
// Errors: kDataLoss when stored state is unreadable; store failures.
StatusOr<lok::v1::ConcentrationResponse> QueryConcentration(const store::KeyValueReader& reader,
                                                            const ConcentrationQuery& query);
// The same answer written into `response` (cleared first), which may live on
// a google::protobuf::Arena: an answer with a breakdown is hundreds of small
// messages. On error `response` holds a partial answer.
Status QueryConcentration(const store::KeyValueReader& reader, const ConcentrationQuery& query,
                          lok::v1::ConcentrationResponse& response);

// One client's revenue and share (scope "all") in the trailing 12 months
// ending with `as_of_day`'s month, in `currency`, with its overdue amount (in
// `currency`), average days late and average discount. A client the model has
// never seen gets a zero row (OK, not kNotFound).
// Errors: kDataLoss when stored state is unreadable; store failures.
StatusOr<lok::v1::ClientConcentration> QueryClientConcentration(const store::KeyValueReader& reader,
                                                                std::string_view client_id,
                                                                std::string_view currency,
                                                                int64_t as_of_day);

}  // namespace lok::projections
