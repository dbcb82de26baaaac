// The one place that decides whether an event is acceptable. Every rule
// violation names the field (in proto field-name form, e.g.
// "offer_sent.amount.currency") and the rule it breaks.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "lok/v1/events.pb.h"

namespace lok::events {

struct Violation {
  std::string field;  // "client_id", "deal_won.amount.minor"
  std::string rule;   // "required", "must be >= 0"
  std::string ToString() const { return field + ": " + rule; }
  friend bool operator==(const Violation&, const Violation&) = default;
};

// Limits shared by the validator and documented in the README.
inline constexpr size_t kMaxIdLength = 256;                   // event_id, client_id, deal_id, ...
inline constexpr size_t kMaxNameLength = 256;                 // salesperson, region, product
inline constexpr size_t kMaxTextLength = 4096;                // deal_lost.reason
inline constexpr int64_t kMinOccurredAtSeconds = 631152000;   // 1990-01-01T00:00:00Z
inline constexpr int64_t kMaxOccurredAtSeconds = 4102444800;  // 2100-01-01T00:00:00Z (exclusive)

// All rule violations of `event`, in field order; empty when it is valid.
std::vector<Violation> FindViolations(const lok::v1::Event& event);

// OK when valid; otherwise kInvalidArgument whose message lists every
// violation: "client_id: required; deal_won.amount.currency: must be ...".
Status Validate(const lok::v1::Event& event);

// True for the payloads that belong to a deal and therefore need deal_id.
bool IsDealEvent(const lok::v1::Event& event);

}  // namespace lok::events
