// Parking: the per-client queue of events the projector could not apply.
//
// An event that a projection rejects, or whose type this lokd does not know,
// is not retried forever (which would block every client) and not dropped: it
// is parked, and every later event of the same client is parked behind it, so
// the client's order is kept while all other clients go on. The projector
// writes parked events in the same WriteBatch as the offsets that pass them;
// an operator retries or skips them per client (Projector::RetryParked,
// Projector::SkipParked; GET/POST /v1/admin/parked).
//
// Store keys (all in the projector's store):
//   _parked/event/<client><partition:be32><offset:be64>  lok.v1.ParkedEvent
//   _parked/client/<client>                              depth (counter)
//   _parked/skipped/<client><partition:be32><offset:be64> lok.v1.ParkedEvent
//                                                        with skipped_at/by
//   _stats/parked_events, _stats/parked_clients          totals (counters)
// <client> is AppendEscapedString(client_id), so one client's events are one
// prefix, in (partition, offset) order, which is the client's log order
// (every event of a client carries its client_id as key, so one partition).
//
// Which failures park an event and which fail the whole batch (retried from
// the stored offsets, as before parking existed): see IsInfrastructureFailure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "lok/v1/events.pb.h"
#include "lok/v1/log.pb.h"
#include "store/transaction.h"

namespace lok::engine {

inline constexpr std::string_view kParkedEventPrefix = "_parked/event/";
inline constexpr std::string_view kParkedClientPrefix = "_parked/client/";
inline constexpr std::string_view kParkedSkippedPrefix = "_parked/skipped/";
inline constexpr std::string_view kParkedEventsCounter = "_stats/parked_events";
inline constexpr std::string_view kParkedClientsCounter = "_stats/parked_clients";

std::string ParkedClientKey(std::string_view client_id);
// The prefix of every parked event of `client_id`.
std::string ParkedEventPrefix(std::string_view client_id);
std::string ParkedEventKey(std::string_view client_id, int32_t partition, int64_t offset);
std::string SkippedEventKey(std::string_view client_id, int32_t partition, int64_t offset);

// Whether a projection's error means the system cannot apply anything right
// now (fail the batch, retry it from the stored offsets) rather than that
// this one event cannot be applied (park it):
//   infrastructure: any error while the transaction read the store
//     (`read_error` not OK: RocksDB I/O, corruption the engine reports), and
//     kUnavailable, kDeadlineExceeded, kCancelled (transient by definition);
//   this event: everything else a projection decides on, e.g.
//     kInvalidArgument / kFailedPrecondition (the event breaks a rule of the
//     read model), kNotFound, kAlreadyExists, kResourceExhausted, kDataLoss
//     (the stored state this event needs does not decode) and kInternal (an
//     invariant broke on this event). Retrying those forever would block
//     every client for one client's problem.
// Commit failures and log failures never reach this: they fail the batch.
bool IsInfrastructureFailure(const Status& projection_error, const Status& read_error);

// The field number of the payload when `event` carries one this lokd does
// not know: no payload case is set and an unknown length-delimited field
// numbered at or above the payload oneof's first number (20) is present
// (protobuf keeps unknown fields). nullopt otherwise.
std::optional<int32_t> UnknownPayloadField(const lok::v1::Event& event);

// "unknown event type (field N); upgrade lokd", or for a CloudEvent
// (events::kUnknownCloudEventTypeField) "unknown event type 'lok.v1.x'
// (ce_type); upgrade lokd".
std::string UnknownEventTypeReason(const lok::v1::Event& event, int32_t field_number);

// events::Validate without the payload rule: the envelope (ids, source,
// occurred_at, ...) of an event whose payload this lokd does not know.
Status ValidateEnvelope(const lok::v1::Event& event);

// Reads and writes of the parked queue.
struct ParkedTotals {
  int64_t events = 0;
  int64_t clients = 0;
};
StatusOr<ParkedTotals> ReadParkedTotals(const store::KeyValueReader& reader);

struct ParkedClient {
  std::string client_id;
  int64_t depth = 0;
  lok::v1::ParkedEvent head;  // the first (oldest) parked event
};

// Parked clients in client_id byte order, starting after `after_client`
// ("" = from the first), at most `limit`.
StatusOr<std::vector<ParkedClient>> ListParkedClients(const store::KeyValueReader& reader,
                                                      std::string_view after_client, size_t limit);

// The depth of `client_id`'s queue; 0 when nothing of it is parked.
StatusOr<int64_t> ReadParkedDepth(const store::KeyValueReader& reader, std::string_view client_id);

// `client_id`'s parked events in order, starting after (partition, offset)
// when given, at most `limit`.
StatusOr<std::vector<lok::v1::ParkedEvent>> ReadParkedEvents(
    const store::KeyValueReader& reader, std::string_view client_id,
    std::optional<std::pair<int32_t, int64_t>> after, size_t limit);

// The events an operator skipped for `client_id`, in (partition, offset)
// order, at most `limit`.
StatusOr<std::vector<lok::v1::ParkedEvent>> ReadSkippedEvents(const store::KeyValueReader& reader,
                                                              std::string_view client_id,
                                                              size_t limit);

// "FAILED" -> "failed", "UNKNOWN_EVENT_TYPE" -> "unknown_event_type", ...
std::string CauseName(lok::v1::ParkedEvent::Cause cause);

}  // namespace lok::engine
