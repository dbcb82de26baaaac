// CloudEvents 1.0 for Lok events: the Kafka protocol binding and the HTTP
// binding, binary and structured mode, decoded into lok.v1.Event.
//
// Binary mode: the attributes travel as headers, the payload message as the
// value/body. Kafka header names are "ce_<attribute>", HTTP ones
// "ce-<attribute>"; the data's type is the "content-type" header.
//
//   ce_specversion  1.0                         required
//   ce_id           -> event_id                 required
//   ce_source       -> source                   required
//   ce_type         lok.v1.<payload field>      required, e.g. lok.v1.deal_won
//   ce_time         -> occurred_at (RFC 3339)   required (Lok needs business time)
//   ce_subject      deal events (lead_created, lead_qualified, offer_sent,
//                   deal_won, deal_lost): the deal_id; other events: the client_id
//   ce_clientid     (extension) the client_id; defaults to the Kafka record key,
//                   or for non-deal events to ce_subject
//   ce_dealid       (extension) the deal_id of a non-deal event (e.g. an invoice)
//   ce_correlationid, ce_causationid  (extensions) -> correlation_id, causation_id
//   content-type    application/protobuf (or application/x-protobuf): the payload
//                   message's bytes (e.g. a lok.v1.DealWon); application/json: the
//                   payload message in the protobuf JSON mapping
//
// Structured mode: content-type application/cloudevents+json and the whole
// event as one JSON object with the same attributes ("id", "source", ...,
// "clientid") and either "data" (datacontenttype application/json, the
// default) or "data_base64" (datacontenttype application/protobuf).
//
// Where the client_id comes from several places (key, clientid, subject) they
// must agree. Every error names the header or attribute and the rule, e.g.
// "ce_id: required (a CloudEvent's id becomes the event's event_id)". The
// decoded event still has to pass Validate (validation.h).
//
// Thread-safe: all functions are pure.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "lok/v1/events.pb.h"

namespace lok::events {

// One message header as seen on the wire (not owned).
struct MessageHeader {
  std::string_view name;
  std::string_view value;
};

// Which protocol binding the headers come from: it decides the attribute
// header prefix, "ce_" on Kafka, "ce-" on HTTP.
enum class Binding { kKafka, kHttp };

// What a message is, by its headers.
enum class MessageMode {
  kLokProtobuf,           // no CloudEvents headers: a lok.v1.Event, protobuf binary
  kCloudEventBinary,      // a <prefix>specversion header
  kCloudEventStructured,  // content-type application/cloudevents+json
};

// The data format of a CloudEvent's payload.
enum class DataFormat { kProtobuf, kJson };

inline constexpr std::string_view kCloudEventsJsonType = "application/cloudevents+json";
inline constexpr std::string_view kCloudEventsBatchJsonType = "application/cloudevents-batch+json";
// ce_type values are this prefix and the payload's field name in lok.v1.Event.
inline constexpr std::string_view kCloudEventTypePrefix = "lok.v1.";

// A CloudEvent whose type is lok.v1.<name> for a name this version does not
// know decodes to its envelope (id, source, time, client_id) with no payload,
// and its type in an unknown field of this number (the largest protobuf
// allows; never a field of Event). The projector parks such an event with its
// type as the reason, and an upgraded lokd re-decodes the stored record and
// applies it; validation rejects it everywhere else, naming the type.
inline constexpr int kUnknownCloudEventTypeField = 536870911;

// The CloudEvent type recorded by the rule above; empty when there is none.
std::string UnknownCloudEventType(const lok::v1::Event& event);

// Header names are matched case-insensitively (HTTP lower-cases them, some
// Kafka clients do not).
MessageMode ModeOf(std::span<const MessageHeader> headers, Binding binding);

// Decodes one message of either mode, or a plain Lok protobuf record when it
// carries no CloudEvents headers (events::DecodeBinary, as before). `key` is
// the Kafka record key ("" on HTTP).
// Errors: kInvalidArgument naming the header/attribute and the rule, or the
// codec's errors for the payload.
StatusOr<lok::v1::Event> DecodeMessage(std::span<const MessageHeader> headers, std::string_view key,
                                       std::string_view value, Binding binding);

// Binary mode: attributes from `headers`, payload in `data`.
// Errors: as DecodeMessage.
StatusOr<lok::v1::Event> DecodeBinaryCloudEvent(std::span<const MessageHeader> headers,
                                                std::string_view key, std::string_view data,
                                                Binding binding);

// Structured mode: one CloudEvent as a JSON object.
// Errors: as DecodeMessage; "cloudevent: not a JSON object" for other JSON.
StatusOr<lok::v1::Event> DecodeStructuredCloudEvent(std::string_view json, std::string_view key);

// The ce_type of an event ("lok.v1.deal_won"); "" when it has no payload.
std::string CloudEventType(const lok::v1::Event& event);

// Binary-mode headers for `event` under `binding` (including content-type),
// and the matching data. For publishers written in C++ and for tests.
// REQUIRES: `event` is valid.
std::vector<std::pair<std::string, std::string>> BinaryModeHeaders(const lok::v1::Event& event,
                                                                   DataFormat format,
                                                                   Binding binding);
std::string BinaryModeData(const lok::v1::Event& event, DataFormat format);

// The structured-mode JSON object for `event` ("data" for kJson,
// "data_base64" for kProtobuf). REQUIRES: `event` is valid.
std::string EncodeStructuredCloudEvent(const lok::v1::Event& event, DataFormat format);

}  // namespace lok::events
