// `lokctl dlq list|show|redrive` against a real lokd on the embedded log:
// records that fail validation are dead-lettered, listed, inspected and
// re-driven, and a re-driven record that is still invalid comes back to the
// dead-letter topic carrying lok.redriven-from.
#include <gtest/gtest.h>

#include <array>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>

#include "client/lok_client.h"
#include "http/http_client.h"
#include "log/embedded_log.h"
#include "support/event_generator.h"
#include "support/lokd_process.h"

namespace lok::testing {
namespace {

constexpr int32_t kPartitions = 4;
const std::string kTopic = "lok.dlq-cli";
const std::string kGarbage = "\x08\x96\x01 this is not an Event";

class DlqCliTest : public ::testing::Test {
 protected:
  void SetUp() override { data_dir_ = FreshDirectory("dlq-cli"); }
  void TearDown() override {
    lokd_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  std::pair<int, std::string> Lokctl(const std::string& arguments) {
    return RunShell(std::string(LOK_BIN_DIR) + "/lokctl dlq " + arguments + " --url " +
                    lokd_->url());
  }

  // GET /v1/admin/dlq as JSON.
  boost::json::array DeadLetters() {
    auto response = http::Fetch("GET", lokd_->url() + "/v1/admin/dlq");
    EXPECT_TRUE(response.ok() && response->status == 200);
    if (!response.ok()) return {};
    return boost::json::parse(response->body).at("deadLetters").as_array();
  }

  std::filesystem::path data_dir_;
  std::unique_ptr<LokdProcess> lokd_;
};

TEST_F(DlqCliTest, DeadLettersAreListedShownAndRedriven) {
  // lokd's POST /v1/events validates, so bad records are appended to the
  // embedded log directly, before lokd owns it.
  GeneratedEvents generated = GenerateEvents(40, 5, 3);
  lok::v1::Event negative = generated.events.front();
  negative.set_event_id("negative-money");
  negative.mutable_deal_won()->mutable_amount()->set_minor(-100);
  negative.mutable_deal_won()->mutable_amount()->set_currency("USD");
  std::vector<log::OutgoingRecord> records;
  for (const auto& event : generated.events) {
    records.push_back({event.client_id(), event.SerializeAsString(), {}});
  }
  records.push_back({"client-1", kGarbage, {{"trace", "abc"}}});
  records.push_back({negative.client_id(), negative.SerializeAsString(), {}});
  log::PartitionOffsets ends;
  {
    auto log = log::EmbeddedLog::Open((data_dir_ / "log").string(), kPartitions);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->CreateTopic(kTopic, kPartitions).ok());
    auto positions = (*log)->Append(kTopic, std::move(records));
    ASSERT_TRUE(positions.ok()) << positions.status().ToString();
    for (const auto& position : *positions) {
      ends[position.partition] = std::max(ends[position.partition], position.offset + 1);
    }
  }
  auto started = LokdProcess::Start(
      data_dir_, {"--topic", kTopic, "--partitions", std::to_string(kPartitions)});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  lokd_ = std::move(started).value();
  auto funnel = client::WaitForOffsets(lokd_->url(), ends, std::chrono::seconds(60));
  ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();

  auto [list_status, listed] = Lokctl("list");
  ASSERT_EQ(list_status, 0) << listed;
  EXPECT_NE(listed.find("not a valid lok.v1.Event"), std::string::npos) << listed;
  EXPECT_NE(listed.find("deal_won.amount.minor: must be >= 0"), std::string::npos) << listed;
  EXPECT_NE(listed.find("client-1"), std::string::npos) << listed;

  std::string garbage;
  for (const auto& letter : DeadLetters()) {
    if (letter.at("key").as_string() == "client-1") {
      garbage = std::to_string(letter.at("partition").to_number<int64_t>()) + "/" +
                std::to_string(letter.at("offset").to_number<int64_t>());
    }
  }
  ASSERT_FALSE(garbage.empty());

  auto [show_status, shown] = Lokctl("show " + garbage);
  ASSERT_EQ(show_status, 0) << shown;
  EXPECT_NE(shown.find("still invalid"), std::string::npos) << shown;
  EXPECT_NE(shown.find("trace: abc"), std::string::npos) << shown;
  EXPECT_NE(shown.find("CJYBIHRoaXMg"), std::string::npos) << shown;
  EXPECT_NE(Lokctl("show 99/0").first, 0);
  EXPECT_NE(Lokctl("redrive").first, 0);

  auto [redrive_status, redriven] = Lokctl("redrive " + garbage);
  ASSERT_EQ(redrive_status, 0) << redriven;
  EXPECT_NE(redriven.find("re-drove 1 dead letters"), std::string::npos) << redriven;

  // Still invalid: the projector dead-letters it again, naming where it came from.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  boost::json::array letters = DeadLetters();
  while (letters.size() < 3 && std::chrono::steady_clock::now() < deadline) letters = DeadLetters();
  ASSERT_EQ(letters.size(), 3U);
  std::string again;
  for (const auto& letter : letters) {
    const std::string position = std::to_string(letter.at("partition").to_number<int64_t>()) + "/" +
                                 std::to_string(letter.at("offset").to_number<int64_t>());
    if (letter.at("key").as_string() == "client-1" && position != garbage) again = position;
    if (position == garbage) {
      EXPECT_TRUE(letter.at("redriven").is_object());
    }
  }
  ASSERT_FALSE(again.empty());
  auto [again_status, again_shown] = Lokctl("show " + again);
  EXPECT_NE(again_shown.find("lok.redriven-from: " + garbage), std::string::npos) << again_shown;
  EXPECT_NE(again_shown.find("trace: abc"), std::string::npos) << again_shown;

  auto [valid_status, valid_only] = Lokctl("redrive --all --only-valid");
  ASSERT_EQ(valid_status, 0) << valid_only;
  EXPECT_NE(valid_only.find("re-drove 0 dead letters"), std::string::npos) << valid_only;
  EXPECT_NE(valid_only.find("1 already re-driven"), std::string::npos) << valid_only;
  EXPECT_NE(valid_only.find("2 still invalid"), std::string::npos) << valid_only;
}

}  // namespace
}  // namespace lok::testing
