// The funnel read model: how many deals reached each stage, and for how much.
//
// Stages are ordered LEAD < QUALIFIED < OFFER < WON | LOST. A deal has reached
// a stage when its furthest stage is at or beyond it: a won deal has reached
// LEAD, QUALIFIED, OFFER and WON (not LOST). Skipped stages count as reached.
// If a deal has both a deal_won and a deal_lost, the one with the later
// occurred_at decides (a tie goes to the larger event_id).
//
// State: one FunnelDeal per deal ("funnel/deal/<deal_id>") and aggregate
// counters per partition ("funnel/agg/<partition>/..."). Each event updates
// the aggregates by contribution(new deal) - contribution(old deal), so the
// aggregates depend only on the set of events.
#pragma once

#include "lok/v1/query.pb.h"
#include "lok/v1/state.pb.h"
#include "projections/projection.h"

namespace lok::projections {

class FunnelProjection : public Projection {
 public:
  std::string_view Name() const override { return "funnel"; }
  Status Apply(const lok::v1::Event& event, const EventPosition& position,
               store::Transaction& transaction) override;
};

// Folds one deal event into a deal's state (pure). Events that do not concern
// the funnel leave it unchanged.
void FoldDealEvent(const lok::v1::Event& event, lok::v1::FunnelDeal& deal);

// The furthest stage a deal has reached; STAGE_UNSPECIFIED for an empty deal.
lok::v1::Stage FurthestStage(const lok::v1::FunnelDeal& deal);

// True when `deal` counts as having reached `stage`.
bool HasReached(const lok::v1::FunnelDeal& deal, lok::v1::Stage stage);

// Reads the funnel's stage counts from a store: sums the per-partition
// aggregates. `win_rate` = won / (won + lost), 0 when nothing closed.
StatusOr<lok::v1::FunnelResponse> QueryFunnel(const store::KeyValueReader& reader);

}  // namespace lok::projections
