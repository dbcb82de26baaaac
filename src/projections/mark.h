// Marks: when and by which event something happened. Every choice a
// projection makes between two events ("the first", "the latest") compares
// marks by (occurred_at, event_id, source), so it is the same whatever order
// the events arrived in.
#pragma once

#include <string_view>
#include <tuple>

#include "lok/v1/events.pb.h"
#include "lok/v1/state.pb.h"

namespace lok::projections {

inline lok::v1::Mark MarkOf(const lok::v1::Event& event) {
  lok::v1::Mark mark;
  *mark.mutable_occurred_at() = event.occurred_at();
  mark.set_event_id(event.event_id());
  mark.set_source(event.source());
  return mark;
}

inline auto MarkKey(const lok::v1::Mark& mark) {
  return std::make_tuple(mark.occurred_at().seconds(), mark.occurred_at().nanos(),
                         std::string_view(mark.event_id()), std::string_view(mark.source()));
}

// True when `left` happened before `right` in Lok's total order of events.
inline bool Earlier(const lok::v1::Mark& left, const lok::v1::Mark& right) {
  return MarkKey(left) < MarkKey(right);
}

}  // namespace lok::projections
