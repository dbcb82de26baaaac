// A projection turns events into a read model. It is pure domain logic: it
// reads and writes only through store::Transaction, never a log or a storage
// engine, so it can be tested in memory and replayed anywhere.
//
// Contract every projection keeps:
// - Order independence: the read model depends on the set of events applied,
//   not on their order. Choices between events go by (occurred_at, event_id).
// - Apply is called once per distinct (source, event_id); the projector has
//   already dropped duplicates and invalid events.
// - State is keyed under the projection's own prefix.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "lok/v1/events.pb.h"
#include "store/transaction.h"

namespace lok::projections {

// Where lokd records the version each read model was built with: this
// prefix + the projection's Name(), the version as decimal text (see
// engine/rebuild.h).
inline constexpr std::string_view kVersionRecordPrefix = "_meta/version/";

// Where an event sits in the log.
struct EventPosition {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t record_time_ms = 0;  // when the log received it
  std::string_view record_value = {};  // the record's bytes exactly as stored in the log
};

class Projection {
 public:
  virtual ~Projection() = default;

  // A short stable name ("funnel"), also the key prefix of its state.
  virtual std::string_view Name() const = 0;

  // Applies one valid, new event. An error means this event cannot be
  // applied: the projector discards every write the event made (in all
  // projections) and parks it with its client's later events
  // (engine/parking.h). Only kUnavailable, kDeadlineExceeded, kCancelled and
  // a failed store read abort the whole batch, which the projector retries
  // from the stored offsets. Bad input is rejected by validation before and
  // never reaches Apply.
  virtual Status Apply(const lok::v1::Event& event, const EventPosition& position,
                       store::Transaction& transaction) = 0;

  // The version of this projection's code. Bump it when a change makes the
  // stored read model differ from what the code would build from the same
  // events (a new key family, a changed encoding or rule); lokd records the
  // version each read model was built with and rebuilds a model whose
  // version differs in the background while it serves the old one.
  virtual int Version() const { return 1; }

  // Whether the read model depends only on the set of events applied. False
  // for models that record log positions (history): their digest then
  // depends on the log's order too.
  virtual bool OrderIndependent() const { return true; }

  // The form of a stored value that a digest covers. Log-time metadata (when
  // the log received an event) is stripped here so that the digest speaks
  // about what the events say. Default: the value as stored.
  virtual std::string DigestForm(std::string_view key, std::string_view value) const {
    (void)key;
    return std::string(value);
  }
};

}  // namespace lok::projections
