// A deterministic generator of a realistic mix of sales events, for the
// benchmarks. Every event it produces is valid (see events/validation.h).
//
// Each deal follows a plan drawn when it starts:
//   lead_created -> client_contacted x1-3 -> lead_qualified (70%)
//   -> offer_sent x1-3 (85% of qualified), each followed by a meeting
//   -> deal_won / deal_lost / still open
//   -> for won deals: invoice_issued x1-2, each paid (payment_received) or
//      late (payment_delayed, then often paid); follow-up contacts.
// That averages about 8 events per deal. A few thousand deals are in flight
// at once and the next event comes from a random one of them, so the events
// of a deal are interleaved with others' and business time (occurred_at)
// grows steadily, as in a real feed. Deal ids are unique; each deal belongs
// to a client drawn uniformly among `clients`.
//
// Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "lok/v1/events.pb.h"
#include "lok/v1/query.pb.h"

namespace lok::bench {

struct EventMixOptions {
  uint64_t seed = 42;
  int64_t clients = 10'000;
  // Deals whose events are interleaved at any moment.
  size_t deals_in_flight = 5'000;
};

class EventMix {
 public:
  explicit EventMix(EventMixOptions options);

  // The next event, with occurred_at after every earlier one's.
  lok::v1::Event Next();

  // Deals with at least one event so far (the last few are unfinished).
  int64_t deals() const { return deals_; }

  // The number of deals that have reached `stage` by the events produced so
  // far, by the funnel's definition (projections/funnel.h): the count the
  // funnel projection must report after applying exactly those events.
  int64_t DealsThatReached(lok::v1::Stage stage) const;

 private:
  struct PlannedDeal {
    int64_t deal_index = 0;
    std::vector<lok::v1::Event> events;  // envelope completed when emitted
    size_t next = 0;
  };

  PlannedDeal PlanDeal();
  int64_t Uniform(int64_t low, int64_t high);  // inclusive
  bool Chance(double probability);
  template <size_t kSize>
  std::string Pick(const std::array<std::string_view, kSize>& choices);

  EventMixOptions options_;
  std::mt19937_64 random_;
  int64_t clock_seconds_;
  int64_t events_emitted_ = 0;
  int64_t deals_ = 0;
  std::vector<PlannedDeal> in_flight_;
  std::vector<lok::v1::Stage> furthest_stage_;  // per deal index
};

}  // namespace lok::bench
