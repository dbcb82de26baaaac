#include "api/dlq_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <random>

#include "log/embedded_log.h"
#include "lok/v1/events.pb.h"

namespace lok::api {
namespace {

constexpr int32_t kPartitions = 4;
const std::string kTopic = "lok.events";
const std::string kGarbage = "\x08\x96\x01 this is not an Event";

lok::v1::Event WonEvent(const std::string& event_id, int64_t minor) {
  lok::v1::Event event;
  event.set_event_id(event_id);
  event.set_source("crm");
  event.set_client_id("acme");
  event.set_deal_id("d-1");
  event.mutable_occurred_at()->set_seconds(1704067200);
  event.mutable_deal_won()->mutable_amount()->set_minor(minor);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

// A dead letter as the projector writes it (engine/projector.cc).
log::OutgoingRecord DeadLetterOf(const std::string& key, const std::string& value,
                                 const std::string& reason, int64_t original_offset) {
  log::OutgoingRecord letter;
  letter.key = key;
  letter.value = value;
  letter.headers = {{"trace", "t-" + std::to_string(original_offset)},
                    {std::string(log::kDeadLetterReasonHeader), reason},
                    {std::string(log::kDeadLetterTopicHeader), kTopic},
                    {std::string(log::kDeadLetterPartitionHeader), "2"},
                    {std::string(log::kDeadLetterOffsetHeader), std::to_string(original_offset)}};
  return letter;
}

class DlqApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("lok-dlq-api-test-" + std::to_string(std::random_device()()));
    std::filesystem::create_directories(directory_);
    auto log = log::EmbeddedLog::Open((directory_ / "log").string(), kPartitions);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    ASSERT_TRUE(log_->CreateTopic(kTopic, kPartitions).ok());
    auto store = store::RocksStore::Open((directory_ / "state").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::make_unique<store::LiveStore>(
        std::shared_ptr<store::RocksStore>(std::move(store).value()));
    context_.writer = log_.get();
    context_.topic = kTopic;
    context_.store = store_.get();
    context_.new_dlq_reader = [this]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      return log_->NewReader(log::DeadLetterTopic(kTopic));
    };
    context_.read_deadline = std::chrono::seconds(10);
  }

  void TearDown() override {
    store_.reset();
    log_.reset();
    std::filesystem::remove_all(directory_);
  }

  // Three dead letters: bytes that are no Event, an invalid event, and one
  // that this build accepts (as after an upgrade that relaxed a rule).
  void AppendDeadLetters() {
    auto appended = log_->Append(
        log::DeadLetterTopic(kTopic),
        {DeadLetterOf("client-1", kGarbage, "event: not a valid lok.v1.Event (protobuf)", 10),
         DeadLetterOf("acme", WonEvent("negative", -100).SerializeAsString(),
                      "deal_won.amount.minor: must be >= 0", 11),
         DeadLetterOf("acme", WonEvent("fixed", 100).SerializeAsString(), "an old rule", 12)});
    ASSERT_TRUE(appended.ok()) << appended.status().ToString();
    letters_ = *appended;
  }

  boost::json::object Call(http::Response (*handler)(const DlqContext&, const http::Request&),
                           std::string method, std::string path,
                           std::vector<std::pair<std::string, std::string>> query, std::string body,
                           int expected_status) {
    http::Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.query = std::move(query);
    request.body = std::move(body);
    http::Response response = handler(context_, request);
    EXPECT_EQ(response.status, expected_status) << response.body;
    boost::system::error_code error;
    boost::json::value parsed = boost::json::parse(response.body, error);
    EXPECT_FALSE(error) << response.body;
    return parsed.is_object() ? parsed.as_object() : boost::json::object();
  }

  boost::json::object List(std::vector<std::pair<std::string, std::string>> query = {}) {
    return Call(HandleDlqList, "GET", "/v1/admin/dlq", std::move(query), "", 200);
  }
  boost::json::object Show(const log::Position& position, int expected_status = 200) {
    return Call(HandleDlqShow, "GET",
                "/v1/admin/dlq/" + std::to_string(position.partition) + "/" +
                    std::to_string(position.offset),
                {}, "", expected_status);
  }
  boost::json::object Redrive(const std::string& body, int expected_status = 200) {
    return Call(HandleDlqRedrive, "POST", "/v1/admin/dlq/redrive", {}, body, expected_status);
  }

  // Every record of the events topic.
  std::vector<log::Record> ReadEventsTopic() {
    std::unique_ptr<log::LogReader> reader = log_->NewReader(kTopic);
    log::PartitionOffsets from;
    for (int32_t partition = 0; partition < kPartitions; ++partition) from[partition] = 0;
    EXPECT_TRUE(reader->Assign(from).ok());
    auto records = reader->Poll(1000, std::chrono::milliseconds(0));
    EXPECT_TRUE(records.ok());
    return records.ok() ? *records : std::vector<log::Record>();
  }

  static std::string Header(const log::Record& record, std::string_view key) {
    for (const log::Header& header : record.headers) {
      if (header.key == key) return header.value;
    }
    return "<absent>";
  }

  std::filesystem::path directory_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<store::LiveStore> store_;
  DlqContext context_;
  std::vector<log::Position> letters_;  // garbage, negative, fixed
};

TEST_F(DlqApiTest, NoDeadLetterTopicYetListsNothing) {
  boost::json::object page = List();
  EXPECT_TRUE(page.at("deadLetters").as_array().empty());
  EXPECT_EQ(page.at("nextCursor").as_string(), "");
  Show({0, 0}, 404);
  Redrive(R"({"partition":0,"offset":0})", 404);
  EXPECT_EQ(Redrive(R"({"all":true})").at("redriven").to_number<uint64_t>(), 0U);
}

TEST_F(DlqApiTest, ListPagesInPartitionAndOffsetOrderWithTheDeadLetterHeaders) {
  AppendDeadLetters();
  boost::json::object first = List({{"limit", "2"}});
  const auto& first_letters = first.at("deadLetters").as_array();
  ASSERT_EQ(first_letters.size(), 2U);
  ASSERT_NE(first.at("nextCursor").as_string(), "");
  boost::json::object second =
      List({{"limit", "2"}, {"after", first.at("nextCursor").as_string().c_str()}});
  const auto& second_letters = second.at("deadLetters").as_array();
  ASSERT_EQ(second_letters.size(), 1U);
  EXPECT_EQ(second.at("nextCursor").as_string(), "");

  std::vector<boost::json::object> all;
  for (const auto& letter : first_letters) all.push_back(letter.as_object());
  all.push_back(second_letters[0].as_object());
  for (size_t index = 1; index < all.size(); ++index) {
    const auto previous = std::make_pair(all[index - 1].at("partition").as_int64(),
                                         all[index - 1].at("offset").as_int64());
    const auto current =
        std::make_pair(all[index].at("partition").as_int64(), all[index].at("offset").as_int64());
    EXPECT_LT(previous, current);
  }
  bool saw_garbage = false;
  for (const auto& letter : all) {
    EXPECT_EQ(letter.at("originalTopic").as_string(), kTopic);
    EXPECT_EQ(letter.at("originalPartition").as_int64(), 2);
    EXPECT_TRUE(letter.at("redriven").is_null());
    if (letter.at("key").as_string() == "client-1") {
      saw_garbage = true;
      EXPECT_EQ(letter.at("reason").as_string(), "event: not a valid lok.v1.Event (protobuf)");
      EXPECT_EQ(letter.at("originalOffset").as_int64(), 10);
      EXPECT_EQ(letter.at("bytes").to_number<uint64_t>(), kGarbage.size());
      EXPECT_EQ(letter.at("partition").as_int64(), letters_[0].partition);
      EXPECT_EQ(letter.at("offset").as_int64(), letters_[0].offset);
    }
  }
  EXPECT_TRUE(saw_garbage);

  Call(HandleDlqList, "GET", "/v1/admin/dlq", {{"limit", "0"}}, "", 400);
  Call(HandleDlqList, "GET", "/v1/admin/dlq", {{"after", "x"}}, "", 400);
  Call(HandleDlqList, "GET", "/v1/admin/dlq", {{"colour", "red"}}, "", 400);
}

TEST_F(DlqApiTest, ShowGivesTheBytesTheEventAndWhetherThisBuildWouldAcceptIt) {
  AppendDeadLetters();
  boost::json::object garbage = Show(letters_[0]);
  EXPECT_EQ(std::string(garbage.at("valueBase64").as_string()).substr(0, 12), "CJYBIHRoaXMg");
  EXPECT_TRUE(garbage.at("event").is_null());
  EXPECT_FALSE(garbage.at("currentValidation").at("valid").as_bool());
  EXPECT_EQ(garbage.at("headers").as_array()[0].at("key").as_string(), "trace");

  boost::json::object negative = Show(letters_[1]);
  EXPECT_EQ(negative.at("event").at("eventId").as_string(), "negative");
  EXPECT_FALSE(negative.at("currentValidation").at("valid").as_bool());
  EXPECT_EQ(negative.at("currentValidation").at("reason").as_string(),
            "deal_won.amount.minor: must be >= 0");

  boost::json::object fixed = Show(letters_[2]);
  EXPECT_EQ(fixed.at("event").at("eventId").as_string(), "fixed");
  EXPECT_TRUE(fixed.at("currentValidation").at("valid").as_bool());
  EXPECT_EQ(fixed.at("reason").as_string(), "an old rule");

  Show({letters_[2].partition, letters_[2].offset + 100}, 404);
  Show({kPartitions + 3, 0}, 404);
  Call(HandleDlqShow, "GET", "/v1/admin/dlq/1", {}, "", 400);
  Call(HandleDlqShow, "GET", "/v1/admin/dlq/a/b", {}, "", 400);
}

TEST_F(DlqApiTest, RedriveAppendsTheOriginalBytesAndHeadersAndRecordsWhereTheyWent) {
  AppendDeadLetters();
  const log::Position fixed = letters_[2];
  boost::json::object one = Redrive(R"({"partition":)" + std::to_string(fixed.partition) +
                                    R"(,"offset":)" + std::to_string(fixed.offset) + "}");
  ASSERT_EQ(one.at("redriven").to_number<uint64_t>(), 1U);
  const auto& moved = one.at("records").as_array()[0].as_object();
  EXPECT_TRUE(moved.at("validNow").as_bool());
  const log::Position to{static_cast<int32_t>(moved.at("to").at("partition").as_int64()),
                         moved.at("to").at("offset").as_int64()};

  std::vector<log::Record> events = ReadEventsTopic();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].partition, to.partition);
  EXPECT_EQ(events[0].offset, to.offset);
  EXPECT_EQ(events[0].key, "acme");
  EXPECT_EQ(events[0].value, WonEvent("fixed", 100).SerializeAsString());
  EXPECT_EQ(Header(events[0], "trace"), "t-12");
  EXPECT_EQ(Header(events[0], kRedrivenFromHeader),
            std::to_string(fixed.partition) + "/" + std::to_string(fixed.offset));
  EXPECT_EQ(Header(events[0], log::kDeadLetterReasonHeader), "<absent>");
  EXPECT_EQ(Header(events[0], log::kDeadLetterOffsetHeader), "<absent>");

  boost::json::object shown = Show(fixed);
  ASSERT_TRUE(shown.at("redriven").is_object());
  EXPECT_EQ(shown.at("redriven").at("partition").as_int64(), to.partition);
  EXPECT_EQ(shown.at("redriven").at("offset").as_int64(), to.offset);
  EXPECT_GT(shown.at("redriven").at("atMs").as_int64(), 0);

  // "all" skips what was re-driven; onlyValid skips what would fail again.
  boost::json::object valid_only = Redrive(R"({"all":true,"onlyValid":true})");
  EXPECT_EQ(valid_only.at("redriven").to_number<uint64_t>(), 0U);
  EXPECT_EQ(valid_only.at("skipped").at("alreadyRedriven").to_number<uint64_t>(), 1U);
  EXPECT_EQ(valid_only.at("skipped").at("stillInvalid").to_number<uint64_t>(), 2U);

  boost::json::object by_reason = Redrive(R"({"all":true,"reason":"amount.minor"})");
  EXPECT_EQ(by_reason.at("redriven").to_number<uint64_t>(), 1U);
  EXPECT_EQ(by_reason.at("skipped").at("reasonMismatch").to_number<uint64_t>(), 1U);
  EXPECT_FALSE(by_reason.at("records").as_array()[0].at("validNow").as_bool());

  boost::json::object rest = Redrive(R"({"all":true})");
  EXPECT_EQ(rest.at("redriven").to_number<uint64_t>(), 1U);
  EXPECT_EQ(Redrive(R"({"all":true})").at("redriven").to_number<uint64_t>(), 0U);
  EXPECT_EQ(ReadEventsTopic().size(), 3U);
  const boost::json::object page = List();
  for (const auto& letter : page.at("deadLetters").as_array()) {
    EXPECT_TRUE(letter.at("redriven").is_object()) << boost::json::serialize(letter);
  }

  // Naming a letter re-drives it again: harmless, the projector deduplicates.
  Redrive(R"({"partition":)" + std::to_string(fixed.partition) + R"(,"offset":)" +
          std::to_string(fixed.offset) + "}");
  EXPECT_EQ(ReadEventsTopic().size(), 4U);
}

TEST_F(DlqApiTest, RedriveRejectsAnUnclearSelection) {
  AppendDeadLetters();
  Redrive("", 400);
  Redrive("[]", 400);
  Redrive("{}", 400);
  Redrive(R"({"partition":0})", 400);
  Redrive(R"({"partition":0,"offset":0,"all":true})", 400);
  Redrive(R"({"partition":-1,"offset":0})", 400);
  Redrive(R"({"all":"yes"})", 400);
  Redrive(R"({"all":true,"colour":"red"})", 400);
  EXPECT_TRUE(ReadEventsTopic().empty());
}

}  // namespace
}  // namespace lok::api
