#include "api/dlq_api.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <charconv>
#include <functional>
#include <mutex>
#include <optional>

#include "base/base64.h"
#include "base/key_encoding.h"
#include "base/utf8.h"
#include "engine/record_decoder.h"
#include "events/event_codec.h"
#include "events/validation.h"

namespace lok::api {
namespace {

constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;
constexpr size_t kRedriveChunk = 500;
constexpr size_t kMaxListedRedrives = 1000;
constexpr std::string_view kDlqPath = "/v1/admin/dlq";

// A dead-letter record with its dlq headers read.
struct DeadLetter {
  log::Record record;
  std::string reason;
  std::string original_topic;
  int64_t original_partition = -1;
  int64_t original_offset = -1;
};

// Where a dead letter was re-driven to.
struct RedriveMark {
  log::Position to;
  int64_t at_ms = 0;
};

std::optional<int64_t> ParseWholeNumber(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [next, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || next != end || value < 0) return std::nullopt;
  return value;
}

// "P/O" -> a position; nullopt when malformed.
std::optional<log::Position> ParsePosition(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<int64_t> partition = ParseWholeNumber(text.substr(0, slash));
  std::optional<int64_t> offset = ParseWholeNumber(text.substr(slash + 1));
  if (!partition || !offset || *partition > INT32_MAX) return std::nullopt;
  return log::Position{static_cast<int32_t>(*partition), *offset};
}

std::string FormatPosition(const log::Position& position) {
  return std::to_string(position.partition) + "/" + std::to_string(position.offset);
}

// Text for JSON: as is when it is UTF-8, else with every byte outside
// printable ASCII as \xNN (JSON strings must be UTF-8).
std::string DisplayText(std::string_view bytes) {
  return IsValidUtf8(bytes) ? std::string(bytes) : engine::PrintableKey(bytes);
}

bool IsDeadLetterHeader(std::string_view key) {
  return key == log::kDeadLetterReasonHeader || key == log::kDeadLetterTopicHeader ||
         key == log::kDeadLetterPartitionHeader || key == log::kDeadLetterOffsetHeader;
}

DeadLetter ReadDeadLetter(log::Record record) {
  DeadLetter letter;
  // The projector appends its headers after the original ones, so the last
  // occurrence is this dead-lettering's (a re-driven record keeps none).
  for (const log::Header& header : record.headers) {
    if (header.key == log::kDeadLetterReasonHeader) {
      letter.reason = header.value;
    } else if (header.key == log::kDeadLetterTopicHeader) {
      letter.original_topic = header.value;
    } else if (header.key == log::kDeadLetterPartitionHeader) {
      letter.original_partition = ParseWholeNumber(header.value).value_or(-1);
    } else if (header.key == log::kDeadLetterOffsetHeader) {
      letter.original_offset = ParseWholeNumber(header.value).value_or(-1);
    }
  }
  letter.record = std::move(record);
  return letter;
}

std::string RedriveKey(const log::Position& letter) {
  std::string key(kRedrivenPrefix);
  AppendBigEndian32(key, static_cast<uint32_t>(letter.partition));
  AppendBigEndian64(key, static_cast<uint64_t>(letter.offset));
  return key;
}

std::string EncodeRedriveMark(const RedriveMark& mark) {
  std::string value;
  AppendBigEndian32(value, static_cast<uint32_t>(mark.to.partition));
  AppendBigEndian64(value, static_cast<uint64_t>(mark.to.offset));
  AppendBigEndian64(value, static_cast<uint64_t>(mark.at_ms));
  return value;
}

StatusOr<std::optional<RedriveMark>> ReadRedriveMark(const store::KeyValueReader& store,
                                                     const log::Position& letter) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> value, store.Get(RedriveKey(letter)));
  if (!value) return std::optional<RedriveMark>();
  std::optional<uint32_t> partition = ReadBigEndian32(*value, 0);
  std::optional<uint64_t> offset = ReadBigEndian64(*value, 4);
  std::optional<uint64_t> at_ms = ReadBigEndian64(*value, 12);
  if (!partition || !offset || !at_ms) {
    return DataLossError("dlq: unreadable re-drive mark of " + FormatPosition(letter));
  }
  return std::optional<RedriveMark>(
      RedriveMark{{static_cast<int32_t>(*partition), static_cast<int64_t>(*offset)},
                  static_cast<int64_t>(*at_ms)});
}

// Reads the dead-letter topic in (partition, offset) order from `from`
// (inclusive) through the end offsets seen at the start, calling `visit`
// until it returns false. Partitions at or beyond `partition_limit` are not
// read. A missing dead-letter topic has no records.
Status ScanDeadLetters(const DlqContext& context, const log::Position& from,
                       int32_t partition_limit,
                       const std::function<bool(log::Record record)>& visit) {
  LOK_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, context.new_dlq_reader());
  StatusOr<int32_t> partition_count = reader->PartitionCount();
  if (!partition_count.ok() && partition_count.status().code() == StatusCode::kNotFound) {
    return Status::Ok();
  }
  if (!partition_count.ok()) return partition_count.status();
  const int32_t last = std::min(*partition_count, partition_limit);
  if (from.partition >= last) return Status::Ok();

  log::PartitionOffsets everything;
  for (int32_t partition = from.partition; partition < last; ++partition) everything[partition] = 0;
  LOK_RETURN_IF_ERROR(reader->Assign(everything));
  LOK_ASSIGN_OR_RETURN(log::PartitionOffsets ends, reader->EndOffsets());

  const auto deadline = std::chrono::steady_clock::now() + context.read_deadline;
  for (int32_t partition = from.partition; partition < last; ++partition) {
    int64_t next = partition == from.partition ? from.offset : 0;
    const int64_t end = ends[partition];
    if (next >= end) continue;
    LOK_RETURN_IF_ERROR(reader->Assign({{partition, next}}));
    while (next < end) {
      if (std::chrono::steady_clock::now() > deadline) {
        return DeadlineExceededError(
            "dlq: the log did not deliver " + log::DeadLetterTopic(context.topic) + " partition " +
            std::to_string(partition) + " up to offset " + std::to_string(end) + " in time");
      }
      LOK_ASSIGN_OR_RETURN(std::vector<log::Record> records,
                           reader->Poll(kRedriveChunk, std::chrono::milliseconds(200)));
      for (log::Record& record : records) {
        // Kafka restarts a partition at its earliest record when `next` has
        // been deleted by retention; never go back before `next`.
        if (record.partition != partition || record.offset < next) continue;
        if (record.offset >= end) {
          next = end;
          break;
        }
        next = record.offset + 1;
        if (!visit(std::move(record))) return Status::Ok();
      }
    }
  }
  return Status::Ok();
}

http::Response Json(int status, const boost::json::object& body) {
  http::Response response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

boost::json::object PositionJson(const log::Position& position) {
  return {{"partition", position.partition}, {"offset", position.offset}};
}

boost::json::object SummaryJson(const DeadLetter& letter, const std::optional<RedriveMark>& mark) {
  boost::json::object json{{"partition", letter.record.partition},
                           {"offset", letter.record.offset},
                           {"timestampMs", letter.record.timestamp_ms},
                           {"key", DisplayText(letter.record.key)},
                           {"originalTopic", DisplayText(letter.original_topic)},
                           {"originalPartition", letter.original_partition},
                           {"originalOffset", letter.original_offset},
                           {"reason", DisplayText(letter.reason)},
                           {"bytes", letter.record.value.size()}};
  if (mark) {
    boost::json::object redriven = PositionJson(mark->to);
    redriven["atMs"] = mark->at_ms;
    json["redriven"] = std::move(redriven);
  } else {
    json["redriven"] = nullptr;
  }
  return json;
}

// Whether this lokd's projector would accept `record` now: OK, or the reason
// it would dead-letter it. The original headers are kept on a dead letter, so
// a CloudEvent decodes as it did on the events topic.
Status CurrentValidation(const log::Record& record) {
  StatusOr<lok::v1::Event> event = engine::DecodeRecord(record);
  return event.ok() ? events::Validate(*event) : event.status();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The dead letter at `position`; kNotFound when there is none.
StatusOr<DeadLetter> FindDeadLetter(const DlqContext& context, const log::Position& position) {
  std::optional<log::Record> found;
  LOK_RETURN_IF_ERROR(
      ScanDeadLetters(context, position, position.partition + 1, [&](log::Record record) {
        if (record.offset == position.offset) found = std::move(record);
        return false;
      }));
  if (!found) {
    return NotFoundError("no dead letter at " + FormatPosition(position) + " of " +
                         log::DeadLetterTopic(context.topic));
  }
  return ReadDeadLetter(std::move(*found));
}

// The record that re-drives `letter` to the events topic.
log::OutgoingRecord RedriveRecord(const DeadLetter& letter) {
  log::OutgoingRecord record;
  record.key = letter.record.key;
  record.value = letter.record.value;
  for (const log::Header& header : letter.record.headers) {
    if (IsDeadLetterHeader(header.key) || header.key == kRedrivenFromHeader) continue;
    record.headers.push_back(header);
  }
  record.headers.push_back({std::string(kRedrivenFromHeader),
                            FormatPosition({letter.record.partition, letter.record.offset})});
  return record;
}

struct RedriveRequest {
  std::optional<log::Position> one;
  bool all = false;
  std::string reason_filter;
  bool only_valid = false;
};

StatusOr<RedriveRequest> ParseRedriveRequest(std::string_view body) {
  boost::system::error_code error;
  boost::json::value parsed = boost::json::parse(body, error);
  if (error || !parsed.is_object()) {
    return InvalidArgumentError(
        R"(body: expected a JSON object {"partition":P,"offset":O} or {"all":true})");
  }
  RedriveRequest request;
  std::optional<int64_t> partition;
  std::optional<int64_t> offset;
  for (const auto& [name, value] : parsed.as_object()) {
    if (name == "partition" || name == "offset") {
      if (!value.is_int64() || value.as_int64() < 0 ||
          (name == "partition" && value.as_int64() > INT32_MAX)) {
        return InvalidArgumentError(std::string(name) + ": must be a whole number >= 0");
      }
      (name == "partition" ? partition : offset) = value.as_int64();
    } else if (name == "all" || name == "onlyValid") {
      if (!value.is_bool())
        return InvalidArgumentError(std::string(name) + ": must be true or false");
      (name == "all" ? request.all : request.only_valid) = value.as_bool();
    } else if (name == "reason") {
      if (!value.is_string()) return InvalidArgumentError("reason: must be a string");
      request.reason_filter = value.as_string().c_str();
    } else {
      return InvalidArgumentError("unknown field '" + std::string(name) +
                                  "'; allowed: partition, offset, all, reason, onlyValid");
    }
  }
  if (partition.has_value() != offset.has_value()) {
    return InvalidArgumentError("partition and offset: give both");
  }
  if (partition && request.all)
    return InvalidArgumentError("give either partition and offset, or all");
  if (!partition && !request.all) {
    return InvalidArgumentError("nothing selected: give partition and offset, or \"all\":true");
  }
  if (partition) request.one = log::Position{static_cast<int32_t>(*partition), *offset};
  return request;
}

// Appends letters to the events topic in chunks and records each re-drive.
class Redriver {
 public:
  explicit Redriver(const DlqContext& context) : context_(context) {}

  Status Add(DeadLetter letter, bool valid_now) {
    pending_.push_back({std::move(letter), valid_now});
    if (pending_.size() >= kRedriveChunk) return Flush();
    return Status::Ok();
  }

  Status Flush() {
    if (pending_.empty()) return Status::Ok();
    std::vector<log::OutgoingRecord> records;
    records.reserve(pending_.size());
    for (const Pending& pending : pending_) records.push_back(RedriveRecord(pending.letter));
    LOK_ASSIGN_OR_RETURN(std::vector<log::Position> positions,
                         context_.writer->Append(context_.topic, std::move(records)));
    if (positions.size() != pending_.size()) {
      return InternalError("dlq: the log returned " + std::to_string(positions.size()) +
                           " positions for " + std::to_string(pending_.size()) + " records");
    }
    store::ChangeSet marks;
    const int64_t now = NowMs();
    for (size_t index = 0; index < pending_.size(); ++index) {
      const log::Position from{pending_[index].letter.record.partition,
                               pending_[index].letter.record.offset};
      marks.writes[RedriveKey(from)] = EncodeRedriveMark({positions[index], now});
      if (listed_.size() < kMaxListedRedrives) {
        listed_.push_back({{"from", PositionJson(from)},
                           {"to", PositionJson(positions[index])},
                           {"validNow", pending_[index].valid_now}});
      }
      spdlog::info("dlq: re-drove {} of {} to {}/{}", FormatPosition(from),
                   log::DeadLetterTopic(context_.topic), positions[index].partition,
                   positions[index].offset);
    }
    redriven_ += pending_.size();
    pending_.clear();
    return context_.store->Commit(marks);
  }

  size_t redriven() const { return redriven_; }
  boost::json::array& listed() { return listed_; }

 private:
  struct Pending {
    DeadLetter letter;
    bool valid_now = false;
  };
  const DlqContext& context_;
  std::vector<Pending> pending_;
  size_t redriven_ = 0;
  boost::json::array listed_;
};

}  // namespace

http::Response HandleDlqList(const DlqContext& context, const http::Request& request) {
  size_t limit = kDefaultPageSize;
  log::Position from{0, 0};
  for (const auto& [name, value] : request.query) {
    if (name == "limit") {
      std::optional<int64_t> parsed = ParseWholeNumber(value);
      if (!parsed || *parsed < 1 || *parsed > static_cast<int64_t>(kMaxPageSize)) {
        return http::JsonError(400,
                               "limit: must be a whole number from 1 to 1000, got '" + value + "'");
      }
      limit = static_cast<size_t>(*parsed);
    } else if (name == "after") {
      if (value.empty()) continue;
      std::optional<log::Position> after = ParsePosition(value);
      if (!after)
        return http::JsonError(400, "after: expected PARTITION/OFFSET, got '" + value + "'");
      from = {after->partition, after->offset + 1};
    } else {
      return http::JsonError(400, "unknown query parameter '" + name + "'; allowed: after, limit");
    }
  }
  std::vector<log::Record> records;
  // One more than the page tells whether another page follows.
  Status scanned = ScanDeadLetters(context, from, INT32_MAX, [&](log::Record record) {
    records.push_back(std::move(record));
    return records.size() <= limit;
  });
  if (!scanned.ok()) return http::ErrorResponse(scanned);
  const bool more = records.size() > limit;
  if (more) records.resize(limit);

  std::unique_ptr<store::KeyValueReader> snapshot = context.store->Snapshot();
  boost::json::array letters;
  for (log::Record& record : records) {
    DeadLetter letter = ReadDeadLetter(std::move(record));
    auto mark = ReadRedriveMark(*snapshot, {letter.record.partition, letter.record.offset});
    if (!mark.ok()) return http::ErrorResponse(mark.status());
    letters.push_back(SummaryJson(letter, *mark));
  }
  std::string next_cursor;
  if (more) {
    const boost::json::object& last = letters.back().as_object();
    next_cursor = FormatPosition(
        {static_cast<int32_t>(last.at("partition").as_int64()), last.at("offset").as_int64()});
  }
  return Json(200, {{"topic", log::DeadLetterTopic(context.topic)},
                    {"deadLetters", std::move(letters)},
                    {"nextCursor", next_cursor}});
}

http::Response HandleDlqShow(const DlqContext& context, const http::Request& request) {
  if (!request.query.empty()) {
    return http::JsonError(
        400, "unknown query parameter '" + request.query[0].first + "'; this endpoint takes none");
  }
  std::string_view path = request.path;
  const std::string prefix = std::string(kDlqPath) + "/";
  std::optional<log::Position> position;
  if (path.starts_with(prefix)) position = ParsePosition(path.substr(prefix.size()));
  if (!position) {
    return http::JsonError(400, "expected /v1/admin/dlq/PARTITION/OFFSET, got " + request.path);
  }
  StatusOr<DeadLetter> letter = FindDeadLetter(context, *position);
  if (!letter.ok()) return http::ErrorResponse(letter.status());
  auto mark = ReadRedriveMark(*context.store, *position);
  if (!mark.ok()) return http::ErrorResponse(mark.status());

  boost::json::object json = SummaryJson(*letter, *mark);
  boost::json::array headers;
  for (const log::Header& header : letter->record.headers) {
    headers.push_back({{"key", DisplayText(header.key)}, {"value", DisplayText(header.value)}});
  }
  json["headers"] = std::move(headers);
  json["keyBase64"] = Base64Encode(letter->record.key);
  json["valueBase64"] = Base64Encode(letter->record.value);
  StatusOr<lok::v1::Event> event = engine::DecodeRecord(letter->record);
  json["event"] = nullptr;
  if (event.ok()) {
    std::string event_json;
    google::protobuf::util::JsonPrintOptions options;
    if (google::protobuf::util::MessageToJsonString(*event, &event_json, options).ok()) {
      boost::system::error_code error;
      boost::json::value parsed = boost::json::parse(event_json, error);
      if (!error) json["event"] = std::move(parsed);
    }
  }
  const Status now = CurrentValidation(letter->record);
  json["currentValidation"] = boost::json::object{
      {"valid", now.ok()}, {"reason", now.ok() ? std::string() : DisplayText(now.message())}};
  return Json(200, json);
}

http::Response HandleDlqRedrive(const DlqContext& context, const http::Request& request) {
  if (!request.query.empty()) {
    return http::JsonError(400, "unknown query parameter '" + request.query[0].first +
                                    "'; the selection goes in the JSON body");
  }
  StatusOr<RedriveRequest> selection = ParseRedriveRequest(request.body);
  if (!selection.ok()) return http::ErrorResponse(selection.status());
  // One re-drive at a time, so that two "all" runs do not both re-drive a letter.
  static std::mutex running;
  std::unique_lock lock(running, std::try_to_lock);
  if (!lock.owns_lock()) return http::JsonError(409, "a re-drive is already running");

  Redriver redriver(context);
  size_t already_redriven = 0;
  size_t reason_mismatch = 0;
  size_t still_invalid = 0;
  if (selection->one) {
    StatusOr<DeadLetter> letter = FindDeadLetter(context, *selection->one);
    if (!letter.ok()) return http::ErrorResponse(letter.status());
    const bool valid_now = CurrentValidation(letter->record).ok();
    if (letter->reason.find(selection->reason_filter) == std::string::npos) {
      ++reason_mismatch;
    } else if (selection->only_valid && !valid_now) {
      ++still_invalid;
    } else {
      Status added = redriver.Add(std::move(*letter), valid_now);
      if (!added.ok()) return http::ErrorResponse(added);
    }
  } else {
    Status failed = Status::Ok();
    Status scanned = ScanDeadLetters(context, {0, 0}, INT32_MAX, [&](log::Record record) {
      auto mark = ReadRedriveMark(*context.store, {record.partition, record.offset});
      if (!mark.ok()) {
        failed = mark.status();
        return false;
      }
      if (*mark) {
        ++already_redriven;
        return true;
      }
      DeadLetter letter = ReadDeadLetter(std::move(record));
      if (letter.reason.find(selection->reason_filter) == std::string::npos) {
        ++reason_mismatch;
        return true;
      }
      const bool valid_now = CurrentValidation(letter.record).ok();
      if (selection->only_valid && !valid_now) {
        ++still_invalid;
        return true;
      }
      failed = redriver.Add(std::move(letter), valid_now);
      return failed.ok();
    });
    if (!failed.ok()) return http::ErrorResponse(failed);
    if (!scanned.ok()) {
      // Re-drive what was read before the log failed, then report the failure.
      Status flushed = redriver.Flush();
      if (!flushed.ok()) spdlog::warn("dlq: re-drive flush failed: {}", flushed.ToString());
      return http::ErrorResponse(scanned.WithContext(
          "after re-driving " + std::to_string(redriver.redriven()) + " letters"));
    }
  }
  Status flushed = redriver.Flush();
  if (!flushed.ok()) return http::ErrorResponse(flushed);
  const size_t listed = redriver.listed().size();
  return Json(200, {{"topic", context.topic},
                    {"redriven", redriver.redriven()},
                    {"skipped",
                     {{"alreadyRedriven", already_redriven},
                      {"reasonMismatch", reason_mismatch},
                      {"stillInvalid", still_invalid}}},
                    {"records", std::move(redriver.listed())},
                    {"recordsTruncated", listed < redriver.redriven()}});
}

void RegisterDlqRoutes(http::Server& server, const DlqContext& context) {
  server.Handle("GET", std::string(kDlqPath), [&context](const http::Request& request) {
    return HandleDlqList(context, request);
  });
  server.Handle("GET", std::string(kDlqPath) + "/*", [&context](const http::Request& request) {
    return HandleDlqShow(context, request);
  });
  server.Handle(
      "POST", std::string(kDlqPath) + "/redrive",
      [&context](const http::Request& request) { return HandleDlqRedrive(context, request); });
}

}  // namespace lok::api
