#include "projections/history.h"

#include <algorithm>

#include "base/key_encoding.h"
#include "events/event_codec.h"

namespace lok::projections {
namespace {

constexpr std::string_view kEventPrefix = "history/event/";
constexpr std::string_view kClientPrefix = "history/client/";
constexpr std::string_view kDealPrefix = "history/deal/";

std::string EventKey(int32_t partition, int64_t offset) {
  std::string key(kEventPrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  AppendBigEndian64(key, static_cast<uint64_t>(offset));
  return key;
}

std::string IndexPrefix(HistoryOf of, std::string_view id) {
  std::string key(of == HistoryOf::kClient ? kClientPrefix : kDealPrefix);
  AppendEscapedString(key, id);
  return key;
}

// The part of an index key after its prefix: time and position, 24 bytes.
std::string IndexSuffix(const lok::v1::Event& event, int32_t partition, int64_t offset) {
  std::string suffix;
  AppendOrderedInt64(suffix, event.occurred_at().seconds());
  AppendBigEndian32(suffix, static_cast<uint32_t>(event.occurred_at().nanos()));
  AppendBigEndian32(suffix, static_cast<uint32_t>(partition));
  AppendBigEndian64(suffix, static_cast<uint64_t>(offset));
  return suffix;
}

constexpr size_t kSuffixSize = 24;

// Whether `raw` is `event`'s own protobuf encoding, as for every plain Lok
// record. A CloudEvent's record value is not: its envelope travels in headers
// (binary mode: the value is only the payload, smaller than the event) or in
// JSON (structured mode). JSON starts with a byte no Event encoding starts with.
bool IsEventEncoding(std::string_view raw, const lok::v1::Event& event) {
  if (raw.size() != event.ByteSizeLong()) return false;
  return raw.empty() ||
         (raw.front() != '{' && raw.front() != ' ' && raw.front() != '\t' && raw.front() != '\r');
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (char byte : bytes) {
    hex.push_back(kDigits[(static_cast<unsigned char>(byte) >> 4) & 0xF]);
    hex.push_back(kDigits[static_cast<unsigned char>(byte) & 0xF]);
  }
  return hex;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto value = [](char digit) -> int {
    if (digit >= '0' && digit <= '9') return digit - '0';
    if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
    return -1;
  };
  std::string bytes;
  for (size_t index = 0; index < hex.size(); index += 2) {
    const int high = value(hex[index]);
    const int low = value(hex[index + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

}  // namespace

Status HistoryProjection::Apply(const lok::v1::Event& event, const EventPosition& position,
                                store::Transaction& transaction) {
  lok::v1::HistoryEvent entry;
  entry.set_partition(position.partition);
  entry.set_offset(position.offset);
  entry.set_record_time_ms(position.record_time_ms);
  entry.set_raw(position.record_value.empty() ? event.SerializeAsString()
                                              : std::string(position.record_value));
  // The decoded event is kept too when the raw bytes alone cannot give it back.
  if (!IsEventEncoding(entry.raw(), event)) *entry.mutable_event() = event;
  transaction.Put(EventKey(position.partition, position.offset), entry.SerializeAsString());
  const std::string suffix = IndexSuffix(event, position.partition, position.offset);
  transaction.Put(IndexPrefix(HistoryOf::kClient, event.client_id()) + suffix, "");
  if (!event.deal_id().empty()) {
    transaction.Put(IndexPrefix(HistoryOf::kDeal, event.deal_id()) + suffix, "");
  }
  return Status::Ok();
}

StatusOr<lok::v1::HistoryResponse> QueryHistory(const store::KeyValueReader& reader, HistoryOf of,
                                                std::string_view id, size_t limit,
                                                std::string_view after, bool newest_first,
                                                const HistoryBounds& bounds) {
  const std::string prefix = IndexPrefix(of, id);
  std::optional<std::string> cursor;
  if (!after.empty()) {
    cursor = FromHex(after);
    if (!cursor || cursor->size() != kSuffixSize) {
      return InvalidArgumentError("after: not a cursor returned by this endpoint");
    }
  }
  std::string begin = prefix;
  std::string end = prefix;
  end.push_back('\xff');
  if (cursor && !newest_first) {
    begin += *cursor;
    begin.push_back('\0');  // strictly after the cursor's entry
  }
  if (cursor && newest_first) end = prefix + *cursor;  // strictly before it
  if (bounds.occurred_before_ms) {
    // The index is in occurred_at order: events at or after the bound sort
    // at or after this key.
    const int64_t ms = *bounds.occurred_before_ms;
    const int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    std::string limit_key = prefix;
    AppendOrderedInt64(limit_key, seconds);
    AppendBigEndian32(limit_key, static_cast<uint32_t>((ms - seconds * 1000) * 1000000));
    end = std::min(end, limit_key);
  }
  lok::v1::HistoryResponse response;
  if (of == HistoryOf::kClient) {
    response.set_client_id(std::string(id));
  } else {
    response.set_deal_id(std::string(id));
  }
  // The index keys in page order (all of them for newest-first, which
  // reads the keys, not the events, to find its page).
  std::vector<std::string> keys;
  LOK_RETURN_IF_ERROR(reader.ScanRange(begin, end, [&](std::string_view key, std::string_view) {
    keys.emplace_back(key.substr(prefix.size()));
    // Without a record-time bound every key is an event of the page.
    return newest_first || bounds.known_at_ms || keys.size() <= limit;
  }));
  if (newest_first) std::reverse(keys.begin(), keys.end());
  std::vector<std::string> suffixes;
  bool more = false;
  for (const std::string& suffix : keys) {
    if (suffix.size() != kSuffixSize) return DataLossError("history: unreadable index key");
    const auto partition = static_cast<int32_t>(*ReadBigEndian32(suffix, 12));
    const auto offset = static_cast<int64_t>(*ReadBigEndian64(suffix, 16));
    lok::v1::HistoryEvent stored_entry;
    if (bounds.known_at_ms) {
      LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                           reader.Get(EventKey(partition, offset)));
      if (!stored || !stored_entry.ParseFromString(*stored)) {
        return DataLossError("history: unreadable entry at " + std::to_string(partition) + "/" +
                             std::to_string(offset));
      }
      if (stored_entry.record_time_ms() > *bounds.known_at_ms) continue;
    }
    if (suffixes.size() == limit) {
      more = true;  // another event of the page's kind follows
      break;
    }
    suffixes.push_back(suffix);
  }
  for (const std::string& suffix : suffixes) {
    const auto partition = static_cast<int32_t>(*ReadBigEndian32(suffix, 12));
    const auto offset = static_cast<int64_t>(*ReadBigEndian64(suffix, 16));
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                         reader.Get(EventKey(partition, offset)));
    lok::v1::HistoryEvent* entry = response.add_events();
    if (!stored || !entry->ParseFromString(*stored)) {
      return DataLossError("history: unreadable entry at " + std::to_string(partition) + "/" +
                           std::to_string(offset));
    }
    // Kept decoded when the record was a CloudEvent (see Apply).
    if (entry->has_event()) continue;
    // The raw bytes stay as stored; the decoded view goes through the codec
    // so that old shapes read as the current contract (upcaster).
    StatusOr<lok::v1::Event> decoded = events::DecodeBinary(entry->raw());
    if (!decoded.ok()) {
      return DataLossError("history: unreadable event at " + std::to_string(partition) + "/" +
                           std::to_string(offset) + ": " + decoded.status().message());
    }
    *entry->mutable_event() = std::move(decoded).value();
  }
  if (more && !suffixes.empty()) response.set_next_cursor(ToHex(suffixes.back()));
  return response;
}

}  // namespace lok::projections
