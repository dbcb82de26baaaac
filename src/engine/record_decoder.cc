#include "engine/record_decoder.h"

#include "events/cloudevents.h"
#include "events/event_codec.h"

namespace lok::engine {

StatusOr<lok::v1::Event> DecodeRecord(std::string_view key, std::string_view value,
                                      const std::vector<log::Header>& headers) {
  if (headers.empty()) return events::DecodeBinary(value);  // the common case, no copies
  std::vector<events::MessageHeader> views;
  views.reserve(headers.size());
  for (const log::Header& header : headers) views.push_back({header.key, header.value});
  return events::DecodeMessage(views, key, value, events::Binding::kKafka);
}

StatusOr<lok::v1::Event> DecodeRecord(const log::Record& record) {
  return DecodeRecord(record.key, record.value, record.headers);
}

}  // namespace lok::engine
