// The funnel read model: how many deals reach each stage, how fast, for how
// much, against which plan — by period, salesperson, region and product.
//
// Stages are ordered LEAD < QUALIFIED < OFFER < WON | LOST. A deal has reached
// a stage when its furthest stage is at or beyond it: a won deal has reached
// LEAD, QUALIFIED, OFFER and WON (not LOST). Skipped stages count as reached,
// entered at the time of the next stage the deal did reach. If a deal has
// both a deal_won and a deal_lost, the later occurred_at decides (a tie goes
// to the larger event_id).
//
// State (all under "funnel/"):
//   deal/<deal_id>                 lok.v1.FunnelDeal
//   client/<client>\0\1<deal_id>   index of a client's deals
//   cell/<mode><family><level><dimensions><time><currency>
//       a counter vector (see kCell* in funnel.cc)
//       mode = 'c' cohort (deals by the day their lead started) or 'p' period
//       (stage entries by the day they happened); level = 'd' day, 'w'
//       8-day block of a month (days 1-8, 9-16, 17-24, 25-end), 'm' month or
//       'y' year; family = which dimensions the cell keeps (its key leads
//       with their values, in this order): 't' none, 's' salesperson, 'r'
//       region, 'd' product, 'e' salesperson+region, 'f' salesperson+product,
//       'g' region+product, 'a' all three. Leads and won deals per lead
//       channel are slots of every cell, not a key dimension.
//   target/<month><salesperson><region><product>   lok.v1.TargetState
// Each deal event updates the cells by contribution(new deal) −
// contribution(old deal), so the cells depend only on the set of events.
// A query reads the smallest family keeping every dimension it filters or
// breaks down by: the year cells of whole years in its window, then month,
// block and day cells for its ragged edges (a breakdown by month or quarter
// reads no year cells). Its cost grows with the number of those cells and
// the values of the dimensions it breaks down by, never with the number of
// deals or events.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "lok/v1/query.pb.h"
#include "lok/v1/state.pb.h"
#include "projections/projection.h"

namespace lok::projections {

// The version whose cell layout the queries read.
inline constexpr int kFunnelCellLayoutVersion = 2;

class FunnelProjection : public Projection {
 public:
  std::string_view Name() const override { return "funnel"; }
  // 2: pair families, year and 8-day block levels, dimensions leading every
  // cell key. QueryFunnel refuses a store whose recorded funnel version is
  // older (its cells have the old layout: lokd is rebuilding them).
  int Version() const override { return kFunnelCellLayoutVersion; }
  Status Apply(const lok::v1::Event& event, const EventPosition& position,
               store::Transaction& transaction) override;
  // Target versions without their record times.
  std::string DigestForm(std::string_view key, std::string_view value) const override;
};

// Folds one deal event into a deal's state (pure). Events that do not concern
// the funnel leave it unchanged.
void FoldDealEvent(const lok::v1::Event& event, lok::v1::FunnelDeal& deal);

// The furthest stage a deal has reached; STAGE_UNSPECIFIED for an empty deal.
lok::v1::Stage FurthestStage(const lok::v1::FunnelDeal& deal);

// A stage's place along the funnel: LEAD 1, QUALIFIED 2, OFFER 3, WON and
// LOST both 4; 0 for STAGE_UNSPECIFIED.
int StageRank(lok::v1::Stage stage);

// True when `deal` counts as having reached `stage`.
bool HasReached(const lok::v1::FunnelDeal& deal, lok::v1::Stage stage);

// What a deal counts for in the funnel's cells, from its state alone, per
// stage LEAD, QUALIFIED, OFFER, WON, LOST (index 0..4): whether it reached
// the stage, when it entered it (seconds; a skipped stage at the next reached
// stage's time; the cohort day is entered_at[0]'s) and its amount there, in
// `currency`. The provenance index explains the funnel's counts with it.
struct DealStageFacts {
  std::array<bool, 5> reached{};
  std::array<int64_t, 5> entered_at{};
  std::array<int64_t, 5> amount{};
  std::string currency;
};
DealStageFacts StageFactsOf(const lok::v1::FunnelDeal& deal);

enum class FunnelMode { kCohort, kPeriod };
enum class FunnelBreakdown { kNone, kSalesperson, kRegion, kProduct, kMonth, kQuarter };

struct FunnelQuery {
  // kCohort: the deals whose lead started inside the window, followed to
  // their outcome today. kPeriod: the stage entries inside the window.
  FunnelMode mode = FunnelMode::kCohort;
  std::optional<int64_t> from_day;  // inclusive, days since the epoch
  std::optional<int64_t> to_day;    // inclusive
  std::optional<std::string> salesperson;
  std::optional<std::string> region;
  std::optional<std::string> product;
  std::optional<std::string> client;
  FunnelBreakdown by = FunnelBreakdown::kNone;
  std::string currency = "USD";
  // Probability of winning an open deal by its furthest stage, for the
  // weighted pipeline: LEAD, QUALIFIED, OFFER.
  std::array<double, 3> stage_probability = {0.10, 0.25, 0.50};
};

// Sales velocity per day = open deals x win rate x average won deal /
// average sales cycle in days; 0 without a cycle.
double SalesVelocityPerDay(int64_t open_deals, double win_rate, double average_won_deal,
                           double average_cycle_days);

// Weighted pipeline = sum over stages of the open deals' latest offers at
// that stage x the stage's probability (LEAD, QUALIFIED, OFFER), rounded to
// the nearest minor unit.
int64_t WeightedPipeline(const std::array<int64_t, 3>& open_offer_amounts,
                         const std::array<double, 3>& stage_probability);

// Answers a funnel query from the read model. Errors: storage failures,
// kDataLoss for unreadable state, kUnavailable when the store records a
// funnel version older than kFunnelCellLayoutVersion (cells of an older
// layout, which lokd rebuilds in the background after an upgrade).
StatusOr<lok::v1::FunnelResponse> QueryFunnel(const store::KeyValueReader& reader,
                                              const FunnelQuery& query);

// The foundation's query: all deals, all time, amounts in `currency`.
StatusOr<lok::v1::FunnelResponse> QueryFunnel(const store::KeyValueReader& reader);

// How many of a client's deals stand at each furthest stage (for the client
// card); reads only that client's deals.
StatusOr<std::map<lok::v1::Stage, int64_t>> ClientDealsByStage(const store::KeyValueReader& reader,
                                                               std::string_view client_id);

}  // namespace lok::projections
