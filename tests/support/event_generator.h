// Deterministic synthetic events with the funnel they must produce, worked
// out from the generator's own choices, not from the projection code.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lok/v1/events.pb.h"

namespace lok::testing {

struct ExpectedFunnel {
  // Deals that reached LEAD, QUALIFIED, OFFER, WON, LOST.
  std::array<int64_t, 5> deals{};
  // USD minor units per stage: won amounts for WON, latest offers otherwise.
  std::array<int64_t, 5> amounts{};
};

struct GeneratedEvents {
  std::vector<lok::v1::Event> events;  // shuffled: arrival order is random
  ExpectedFunnel funnel;
};

// Exactly `count` events over about count/5 deals and `clients` clients.
// Some deals skip stages, some get several offers, some get conflicting
// outcomes; the rest of the events are client contacts.
GeneratedEvents GenerateEvents(size_t count, int clients, uint32_t seed);

// The events as NDJSON (protobuf JSON mapping, one per line).
std::string ToNdjson(const std::vector<lok::v1::Event>& events);

}  // namespace lok::testing
