// The retention queue read model: regular clients (at least
// RetentionSettings::min_won_deals won deals) that need attention, ordered by
// a priority score made of named terms. Every number is defined in
// docs/metrics/retention.md.
//
// State:
//   retention/client/<client_id>          lok.v1.RetentionClient (all dated facts
//                                         the terms need, so a past asOf is exact
//                                         for them)
//   retention/s/<client_id>               the client's scoring summary: the dated
//                                         facts of the terms only, compact, after
//                                         the current facts (the facts from the
//                                         last dated one on; retention_summary.h);
//                                         what the queue reads per candidate
//   retention/q/<partition:be32><scope><term><day:ordered64><client>
//                                         the attention index (see below)
//   retention/agg/<partition:be32>r<cur>  Σ won revenue in <cur> (minor units)
//   retention/agg/<partition:be32>n<cur>  clients with won revenue in <cur>
//   retention/agg/<partition:be32>g       regular clients
//   retention/agg/<partition:be32>m       1 + the latest day of any dated fact
// <scope> is 'a' (all), 's'+escaped salesperson or 'r'+escaped region.
// <partition> is always 0 in this version (one store per projector instance;
// per-partition indexes multiplied a query's candidate reads); queries still
// merge whatever partitions a store holds.
//
// The attention index holds, per regular client and scope, one key per term
// with the first day the term is positive given the current state (contact
// due + 1, rhythm threshold + 1, the earliest open delay's due day) and, for
// revenue_declining, one key per positive interval [start, end) keyed by
// -(the week of end) and then start (end in the value). A query scans, per
// partition, only keys whose day says the term is positive on asOf (for
// revenue_declining: in each week bucket from the latest down to asOf's,
// the intervals that started by asOf, seeking past the rest of the bucket,
// so intervals that start after asOf are never stepped over one by one),
// takes a bounded number of the longest-due clients per term, adds the regular clients with the most
// revenue in the query currency (retention/q/<partition><scope>w<currency>
// <-revenue:ordered64><client>), and computes their exact scores from their
// scoring summaries (the card computes it from the same summary of the full
// state).
//
// First, on days on or after every client's last fact (the live case), a
// query reads the score-bound index: per scope and currency (and "" for
// the currencies a client has no amount in), each regular client's highest
// possible score without client_weight (terms at their caps, from the
// current state), in buckets of a quarter point, by revenue inside a bucket
// (retention/q/<partition><scope>b<currency><-bucket:ordered64>
// <-revenue:ordered64><client>, the bound in the value). Adding client_weight
// from the revenue, it keeps the max(candidates_per_term, 2 × limit)
// clients with the highest bounds and scores them; when the last place's
// score beats every bound left out, the answer is exact and complete. Only
// otherwise does it read the term lists above as well.
//
// Thread-safety: RetentionProjection is stateless apart from its settings;
// the query functions only read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "lok/v1/retention.pb.h"
#include "projections/projection.h"

namespace lok::projections {

struct RetentionWeights {
  double contact_overdue = 1.0;
  double payments_overdue = 2.0;
  double rhythm_broken = 1.0;
  double revenue_declining = 1.0;
  double client_weight = 0.5;
};

// The projection (index) and the queries must use the same values of
// min_won_deals, default_cadence_days, cadence_by_region, rhythm_factor,
// revenue_window_days, the caps and the weights (the score bounds use the
// last two); changing them needs a rebuild of the read model.
struct RetentionSettings {
  int32_t min_won_deals = 2;
  // Contact cadence: by the client's region ("segment"), else the default.
  int32_t default_cadence_days = 30;
  std::map<std::string, int32_t, std::less<>> cadence_by_region;
  double rhythm_factor = 1.5;
  int32_t revenue_window_days = 90;
  // Caps of the normalised values.
  double contact_cap = 3.0;
  double rhythm_cap = 3.0;
  double client_weight_cap = 3.0;
  // Days overdue at which the age part of payments_overdue reaches 1.
  int32_t payment_age_days = 90;
  RetentionWeights weights;
  // Client-state contacts kept for the card.
  int32_t recent_contacts = 20;
  // Candidates taken per term (and by revenue): max(candidates_per_term, 2 × limit).
  int32_t candidates_per_term = 128;
  // Money terms use this currency (the API sets it from `currency`).
  std::string currency = "USD";
};

class RetentionProjection : public Projection {
 public:
  explicit RetentionProjection(RetentionSettings settings = {}) : settings_(std::move(settings)) {}
  std::string_view Name() const override { return "retention"; }
  // 2: the scoring summaries (retention/s/...); 3: with their current facts
  // (summary format 2); 4: the revenue_declining index bucketed by the week
  // of each interval's end; 5: the score-bound index and the max-day counter.
  int Version() const override { return 5; }
  Status Apply(const lok::v1::Event& event, const EventPosition& position,
               store::Transaction& transaction) override;

 private:
  RetentionSettings settings_;
};

// Folds one event into a client's retention state (pure). Events that do
// not concern retention leave it unchanged.
void FoldRetentionEvent(const lok::v1::Event& event, int32_t recent_contacts,
                        lok::v1::RetentionClient& client);

struct RetentionQuery {
  int64_t as_of_day = 0;  // days since the epoch
  int64_t limit = 50;
  std::optional<std::string> salesperson;
  std::optional<std::string> region;
  std::optional<std::string> client;
};

// The queue on `query.as_of_day` in `settings.currency`. Reads the index and
// at most 9 × max(candidates_per_term, 2 × limit) client summaries (4 × by
// score bounds, 5 × from the term lists and the ranking); never scans all
// clients. Errors: kDataLoss on unreadable state; storage errors.
StatusOr<lok::v1::RetentionResponse> QueryRetention(const store::KeyValueReader& reader,
                                                    const RetentionQuery& query,
                                                    const RetentionSettings& settings);

// One client's retention on `as_of_day`, money terms in `settings.currency`.
// Errors: kNotFound when no retention event of the client was applied;
// kDataLoss on unreadable state.
StatusOr<lok::v1::ClientRetention> QueryClientRetention(const store::KeyValueReader& reader,
                                                        std::string_view client_id,
                                                        int64_t as_of_day,
                                                        const RetentionSettings& settings);

}  // namespace lok::projections
