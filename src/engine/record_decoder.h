// The decode step of the projector: one log record -> one lok.v1.Event,
// whichever way it was published (events/cloudevents.h):
// - a plain Lok record (no CloudEvents headers): the Event's protobuf bytes;
// - a CloudEvent in binary mode (ce_* headers, payload in the value);
// - a CloudEvent in structured mode (content-type application/cloudevents+json).
// Thread-safe.
#pragma once

#include "base/status.h"
#include "log/log.h"
#include "lok/v1/events.pb.h"

namespace lok::engine {

// Decodes `record`; the Kafka key stands in for a CloudEvent's client_id.
// Errors: kInvalidArgument naming the header or field and the rule (the
// projector dead-letters the record with that reason).
StatusOr<lok::v1::Event> DecodeRecord(const log::Record& record);

// The same for a record's parts (dead letters keep the original headers).
StatusOr<lok::v1::Event> DecodeRecord(std::string_view key, std::string_view value,
                                      const std::vector<log::Header>& headers);

}  // namespace lok::engine
