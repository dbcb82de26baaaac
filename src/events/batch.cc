#include "events/batch.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <boost/json.hpp>
#include <limits>

#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::events {
namespace {

using google::protobuf::internal::WireFormatLite;

std::string MediaTypeOf(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  std::string lower(type);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

char FirstNonSpace(std::string_view body) {
  for (char c : body) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
  }
  return '\0';
}

Status TooManyEvents(size_t count, size_t limit, bool at_least) {
  return ResourceExhaustedError("body: " + std::string(at_least ? "more than " : "") +
                                std::to_string(count) + " events, more than the limit of " +
                                std::to_string(limit) + " per request (--max-events-per-request)");
}

// Decodes one item with `decode`, then validates it; the outcome goes into
// `batch` under `number`.
template <typename Decode>
void AddItem(ParsedBatch& batch, size_t number, size_t bytes, const BatchLimits& limits,
             Decode decode) {
  if (bytes > limits.max_event_bytes) {
    batch.rejected.push_back({number, EventTooLargeReason(bytes, limits.max_event_bytes)});
    return;
  }
  StatusOr<lok::v1::Event> event = decode();
  Status status = event.ok() ? Validate(*event) : event.status();
  if (!status.ok()) {
    batch.rejected.push_back({number, status.message()});
    return;
  }
  batch.events.push_back(std::move(event).value());
  batch.event_lines.push_back(number);
}

// The elements of a JSON array body. Strings need not be UTF-8 here: the
// element's decoder names the field that is not.
StatusOr<boost::json::array> ParseJsonArray(std::string_view body, std::string_view what,
                                            const BatchLimits& limits) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(body, error, {}, options);
  if (error) return InvalidArgumentError("body: not valid JSON: " + error.message());
  if (!value.is_array())
    return InvalidArgumentError("body: must be a JSON array of " + std::string(what));
  boost::json::array items = std::move(value.get_array());
  if (items.size() > limits.max_events) {
    return TooManyEvents(items.size(), limits.max_events, /*at_least=*/false);
  }
  return items;
}

StatusOr<ParsedBatch> ParseProtobufBatch(std::string_view body, const BatchLimits& limits) {
  if (body.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgumentError("body: too large for a protobuf batch");
  }
  ParsedBatch batch;
  batch.numbered_by_line = false;
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(body.data()),
                                               static_cast<int>(body.size()));
  size_t index = 0;
  for (;;) {
    const uint32_t tag = input.ReadTag();
    const auto position = static_cast<size_t>(input.CurrentPosition());
    if (tag == 0) {
      if (position == body.size()) break;
      return InvalidArgumentError(
          "body: not a valid lok.v1.EventBatch (protobuf binary): bad tag at byte " +
          std::to_string(position));
    }
    if (WireFormatLite::GetTagFieldNumber(tag) != 1 ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      // A field of a newer EventBatch: skipped, as unknown fields are.
      if (!WireFormatLite::SkipField(&input, tag)) {
        return InvalidArgumentError(
            "body: not a valid lok.v1.EventBatch (protobuf binary): truncated field at byte " +
            std::to_string(position));
      }
      continue;
    }
    uint32_t length = 0;
    if (!input.ReadVarint32(&length)) {
      return InvalidArgumentError(
          "body: not a valid lok.v1.EventBatch (protobuf binary): truncated length of events[" +
          std::to_string(index) + "]");
    }
    const auto start = static_cast<size_t>(input.CurrentPosition());
    if (length > body.size() - start) {
      return InvalidArgumentError("body: not a valid lok.v1.EventBatch (protobuf binary): events[" +
                                  std::to_string(index) + "] claims " + std::to_string(length) +
                                  " bytes, " + std::to_string(body.size() - start) + " remain");
    }
    if (index == limits.max_events) {
      return TooManyEvents(limits.max_events, limits.max_events, /*at_least=*/true);
    }
    const std::string_view item = body.substr(start, length);
    (void)input.Skip(static_cast<int>(length));
    AddItem(batch, index, item.size(), limits, [&] { return DecodeBinary(item); });
    ++index;
  }
  return batch;
}

}  // namespace

std::string_view BodyFormatName(BodyFormat format) {
  switch (format) {
    case BodyFormat::kNdjson:
      return "ndjson";
    case BodyFormat::kJsonArray:
      return "json-array";
    case BodyFormat::kProtobufBatch:
      return "protobuf-batch";
    case BodyFormat::kCloudEvent:
      return "cloudevent";
    case BodyFormat::kCloudEventBatch:
      return "cloudevent-batch";
    case BodyFormat::kCloudEventBinary:
      return "cloudevent-binary";
  }
  return "unknown";
}

StatusOr<BodyFormat> BodyFormatOf(std::string_view content_type, std::string_view body,
                                  std::span<const MessageHeader> headers) {
  const std::string media_type = MediaTypeOf(content_type);
  if (media_type == kCloudEventsJsonType) return BodyFormat::kCloudEvent;
  if (media_type == kCloudEventsBatchJsonType) return BodyFormat::kCloudEventBatch;
  if (ModeOf(headers, Binding::kHttp) == MessageMode::kCloudEventBinary) {
    return BodyFormat::kCloudEventBinary;
  }
  if (media_type.empty() || media_type == "application/x-ndjson" ||
      media_type == "application/ndjson" || media_type == "application/jsonl" ||
      media_type == "text/plain") {
    return BodyFormat::kNdjson;
  }
  if (media_type == "application/json") {
    // One JSON object is also a one-line NDJSON body, as lokd took it before.
    return FirstNonSpace(body) == '[' ? BodyFormat::kJsonArray : BodyFormat::kNdjson;
  }
  if (media_type == "application/x-protobuf" || media_type == "application/protobuf") {
    return BodyFormat::kProtobufBatch;
  }
  return InvalidArgumentError(
      "content-type: unsupported '" + std::string(content_type.substr(0, 100)) +
      "'; POST /v1/events takes application/x-ndjson, application/json (an array), "
      "application/x-protobuf (a lok.v1.EventBatch), application/cloudevents+json, "
      "application/cloudevents-batch+json, or a binary-mode CloudEvent (ce-* headers)");
}

StatusOr<ParsedBatch> ParseBody(BodyFormat format, std::string_view body,
                                std::span<const MessageHeader> headers, const BatchLimits& limits) {
  switch (format) {
    case BodyFormat::kNdjson: {
      size_t count = 0;
      for (size_t start = 0; start < body.size();) {
        size_t end = body.find('\n', start);
        if (end == std::string_view::npos) end = body.size();
        if (body.substr(start, end - start).find_first_not_of(" \t\r") != std::string_view::npos) {
          ++count;
        }
        start = end + 1;
      }
      if (count > limits.max_events) return TooManyEvents(count, limits.max_events, false);
      return ParseNdjson(body, limits.max_event_bytes);
    }
    case BodyFormat::kJsonArray:
    case BodyFormat::kCloudEventBatch: {
      const bool cloudevents = format == BodyFormat::kCloudEventBatch;
      LOK_ASSIGN_OR_RETURN(boost::json::array items,
                           ParseJsonArray(body, cloudevents ? "CloudEvents" : "events", limits));
      ParsedBatch batch;
      batch.numbered_by_line = false;
      for (size_t index = 0; index < items.size(); ++index) {
        if (!items[index].is_object()) {
          batch.rejected.push_back({index, cloudevents
                                               ? "cloudevent: not a JSON object"
                                               : "event: must be a JSON object (a lok.v1.Event)"});
          continue;
        }
        const std::string item = boost::json::serialize(items[index]);
        AddItem(batch, index, item.size(), limits, [&] {
          return cloudevents ? DecodeStructuredCloudEvent(item, "") : DecodeJson(item);
        });
      }
      return batch;
    }
    case BodyFormat::kProtobufBatch:
      return ParseProtobufBatch(body, limits);
    case BodyFormat::kCloudEvent:
    case BodyFormat::kCloudEventBinary: {
      ParsedBatch batch;
      batch.numbered_by_line = false;
      AddItem(batch, 0, body.size(), limits, [&] {
        return format == BodyFormat::kCloudEvent
                   ? DecodeStructuredCloudEvent(body, "")
                   : DecodeBinaryCloudEvent(headers, "", body, Binding::kHttp);
      });
      return batch;
    }
  }
  return InternalError("batch: unknown body format");
}

}  // namespace lok::events
