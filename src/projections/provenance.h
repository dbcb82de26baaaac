// The provenance index: which deals make up a funnel count or amount, a
// client's revenue, or a retention reason — so that any number can be
// explained down to the events behind it (their log positions come from the
// history model, projections/history.h).
//
// State (under "provenance/"):
//   deal/<deal_id>                      lok.v1.FunnelDeal (own copy, folded
//                                       with FoldDealEvent like the funnel's)
//   client/<client:esc><deal_id>        "" (a client's deals)
//   funnel/<mode><stage><day:ordered64><deal_id>
//       mode 'c' (cohort: the day the deal's lead started) or 'p' (period:
//       the day it entered the stage); stage '0'..'4' (LEAD .. LOST); one key
//       per stage the deal reached. Value: client, salesperson, region,
//       product, currency (escaped), amount at the stage and entry second
//       (ordered64 each).
// A deal event rewrites the deal's keys as keys(new state) − keys(old state),
// so the index, like the funnel's cells, depends only on the set of events.
// Explaining a count scans the index keys of its stage and window: its cost
// grows with the deals in the window (an audit tool, not a dashboard query).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lok/v1/history.pb.h"
#include "lok/v1/state.pb.h"
#include "projections/funnel.h"
#include "projections/projection.h"

namespace lok::projections {

class ProvenanceIndex : public Projection {
 public:
  std::string_view Name() const override { return "provenance"; }
  Status Apply(const lok::v1::Event& event, const EventPosition& position,
               store::Transaction& transaction) override;
};

struct ExplainedDeal {
  std::string deal_id;
  std::string client_id;
  std::string salesperson;
  std::string region;
  std::string product;
  std::string currency;    // of `amount`
  int64_t amount = 0;      // at the explained stage (won amount for WON), minor units
  int64_t at_seconds = 0;  // entered the stage (funnel) or was won (revenue)
};

struct Explanation {
  int64_t count = 0;                 // every deal behind the number, not only this page
  int64_t amount = 0;                // their amounts in the query's currency
  std::vector<ExplainedDeal> deals;  // this page, in index order
  std::string next_cursor;           // empty at the end
};

struct FunnelExplainQuery {
  FunnelMode mode = FunnelMode::kCohort;
  lok::v1::Stage stage = lok::v1::WON;
  std::optional<int64_t> from_day;  // inclusive
  std::optional<int64_t> to_day;    // inclusive
  std::optional<std::string> salesperson;
  std::optional<std::string> region;
  std::optional<std::string> product;
  std::optional<std::string> client;
  std::string currency = "USD";
  size_t limit = 100;
  std::string after;  // a previous page's next_cursor
};

// The deals behind QueryFunnel's count (and amount) of `query.stage` for the
// same mode, window and filters: count equals that stage's `deals`, amount
// its amount in `currency`. Errors: kInvalidArgument for a malformed cursor;
// kDataLoss for unreadable state; storage failures.
StatusOr<Explanation> ExplainFunnel(const store::KeyValueReader& reader,
                                    const FunnelExplainQuery& query);

struct RevenueExplainQuery {
  std::string client;
  std::optional<int64_t> from_day;  // the won day, inclusive
  std::optional<int64_t> to_day;
  std::optional<std::string> salesperson;
  std::optional<std::string> region;
  std::optional<std::string> product;
  std::string currency = "USD";
  size_t limit = 100;
  std::string after;
};

// The won deals making up `client`'s revenue in the window (the concentration
// rule: a deal whose outcome is WON, at its deal_won's day and amount).
// `amount` sums those in `currency`. Errors as ExplainFunnel.
StatusOr<Explanation> ExplainRevenue(const store::KeyValueReader& reader,
                                     const RevenueExplainQuery& query);

// The events behind a client's retention reasons on `as_of_day`, read from
// the client's history (the retention model's rules, docs/metrics/retention.md):
// the last contact (every deal event and client_contacted counts), each
// invoice whose latest payment event by then is a payment_delayed (open
// delays), and each deal whose latest outcome by then is a deal_won (the wins
// the rhythm and the revenue use). Each list in business-time order.
// Errors: kDataLoss for unreadable state; storage failures.
struct RetentionEvidence {
  std::optional<int64_t> last_contact_day;
  std::vector<lok::v1::HistoryEvent> last_contact;  // the events on that day
  std::vector<lok::v1::HistoryEvent> open_delays;
  std::vector<lok::v1::HistoryEvent> wins;
};
StatusOr<RetentionEvidence> ExplainRetention(const store::KeyValueReader& reader,
                                             std::string_view client_id, int64_t as_of_day);

}  // namespace lok::projections
