// The history read model: every applied event, exactly as it is stored in
// the log, with its partition and offset, indexed by client and by deal so
// that a history never scans the log.
//
// State (under "history/"):
//   event/<partition:be32><offset:be64>                    lok.v1.HistoryEvent (raw bytes kept;
//                                                          the decoded event too for CloudEvents)
//   client/<client>\0\1<occurred_at><partition><offset>    "" (index)
//   deal/<deal>\0\1<occurred_at><partition><offset>        "" (index)
// Index keys sort by business time (seconds, nanos), then by log position,
// so a history reads in the order things happened, whatever the arrival
// order was. Costs one more copy of every event in the store.
#pragma once

#include <optional>
#include <string>

#include "lok/v1/history.pb.h"
#include "projections/projection.h"

namespace lok::projections {

class HistoryProjection : public Projection {
 public:
  std::string_view Name() const override { return "history"; }
  bool OrderIndependent() const override { return false; }
  Status Apply(const lok::v1::Event& event, const EventPosition& position,
               store::Transaction& transaction) override;
};

enum class HistoryOf { kClient, kDeal };

// Up to `limit` events of the client or deal `id`, oldest first (or newest
// first with `newest_first`), after the opaque `after` cursor of a previous
// page (empty: from the start). Newest-first reads the entity's index keys
// (not its events) to find the page. Errors: kInvalidArgument for a
// malformed cursor; kDataLoss for unreadable state.
// The two timelines of as-of queries (docs/METRICS.md): only events that
// occurred before `occurred_before_ms` and that the log received by
// `known_at_ms` (record time). Unset: no bound.
struct HistoryBounds {
  std::optional<int64_t> occurred_before_ms;
  std::optional<int64_t> known_at_ms;
};

StatusOr<lok::v1::HistoryResponse> QueryHistory(const store::KeyValueReader& reader, HistoryOf of,
                                                std::string_view id, size_t limit,
                                                std::string_view after, bool newest_first = false,
                                                const HistoryBounds& bounds = {});

}  // namespace lok::projections
