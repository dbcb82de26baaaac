// The parked-event endpoints over real HTTP, with the auth guard, in front of
// a real projector (embedded log, RocksDB) whose projection rejects chosen
// events.
#include "api/parked_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <random>
#include <set>

#include "api/auth.h"
#include "base/sha256.h"
#include "http/http_client.h"
#include "log/embedded_log.h"

namespace lok::api {
namespace {

constexpr int32_t kPartitions = 2;
const std::string kTopic = "events";

lok::v1::Event WonEvent(const std::string& id, const std::string& client) {
  lok::v1::Event event;
  event.set_event_id(id);
  event.set_source("crm");
  event.mutable_occurred_at()->set_seconds(1704067200);
  event.set_client_id(client);
  event.set_deal_id("deal-" + id);
  event.mutable_deal_won()->mutable_amount()->set_minor(100);
  event.mutable_deal_won()->mutable_amount()->set_currency("USD");
  return event;
}

// Rejects the poisoned event ids; counts what it applied.
class PickyProjection : public projections::Projection {
 public:
  std::string_view Name() const override { return "picky"; }
  Status Apply(const lok::v1::Event& event, const projections::EventPosition&,
               store::Transaction& transaction) override {
    if (poisoned.contains(event.event_id())) {
      return InvalidArgumentError("picky: refuses " + event.event_id());
    }
    transaction.Put("picky/" + event.event_id(), "applied");
    return Status::Ok();
  }
  std::set<std::string> poisoned;
};

class ParkedApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    directory_ = std::filesystem::temp_directory_path() /
                 ("lok-parked-api-test-" + std::to_string(std::random_device()()));
    std::filesystem::create_directories(directory_);
    auto log = log::EmbeddedLog::Open((directory_ / "log").string(), kPartitions);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    ASSERT_TRUE(log_->CreateTopic(kTopic, kPartitions).ok());
    auto store = store::RocksStore::Open((directory_ / "state").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    reader_ = log_->NewReader(kTopic);
    engine::ProjectorOptions options;
    options.topic = kTopic;
    options.poll_timeout = std::chrono::milliseconds(50);
    projector_ = std::make_unique<engine::Projector>(*store_, *reader_, *log_,
                                                     std::vector<projections::Projection*>{&picky_},
                                                     options, metrics_);
    ASSERT_TRUE(projector_->Start().ok());

    auto auth = Authenticator::FromJson(R"({"tokens":[{"name":"ops","sha256":")" +
                                        Sha256Hex("admin-secret") +
                                        R"(","role":"admin"},{"name":"dashboard","sha256":")" +
                                        Sha256Hex("read-secret") + R"(","role":"read"}]})");
    ASSERT_TRUE(auth.ok()) << auth.status().ToString();
    auth_ = std::move(auth).value();
    context_.with_projector = [this](const std::function<Status(engine::Projector&)>& action) {
      return action(*projector_);
    };
    live_store_ = std::make_unique<store::LiveStore>(store_);
    context_.store = live_store_.get();
    server_ = std::make_unique<http::Server>(http::ServerOptions{});
    RegisterParkedRoutes(*server_, context_);
    server_->SetGuard([this](http::Request& request) { return auth_.Guard(request); });
    ASSERT_TRUE(server_->Start().ok());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  void TearDown() override {
    server_->Stop();
    projector_.reset();
    live_store_.reset();
    reader_.reset();
    store_.reset();
    log_.reset();
    std::filesystem::remove_all(directory_);
  }

  void Drain() {
    for (int round = 0; round < 100; ++round) {
      auto consumed = projector_->RunOnce();
      ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
      if (*consumed == 0) return;
    }
    FAIL() << "projector did not drain";
  }

  // The client "eu/acme" (a '/' in the id) has e2 rejected, e3 held behind it;
  // "beta" is applied.
  void ParkOneClient() {
    picky_.poisoned = {"e2"};
    std::vector<log::OutgoingRecord> records;
    for (const lok::v1::Event& event : {WonEvent("e1", "eu/acme"), WonEvent("e2", "eu/acme"),
                                        WonEvent("e3", "eu/acme"), WonEvent("b1", "beta")}) {
      records.push_back({event.client_id(), event.SerializeAsString(), {}});
    }
    ASSERT_TRUE(log_->Append(kTopic, records).ok());
    Drain();
  }

  struct Reply {
    int status = 0;
    boost::json::value body;
  };
  Reply Call(const std::string& method, const std::string& target,
             const std::string& token = "admin-secret") {
    auto response = http::Fetch(method, url_ + target, "", "application/json",
                                std::chrono::seconds(10), http::BearerHeader(token));
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    if (!response.ok()) return {};
    return {response->status, boost::json::parse(response->body)};
  }

  bool Applied(const std::string& event_id) {
    auto stored = store_->Get("picky/" + event_id);
    EXPECT_TRUE(stored.ok());
    return stored->has_value();
  }

  std::filesystem::path directory_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::shared_ptr<store::RocksStore> store_;
  std::unique_ptr<store::LiveStore> live_store_;
  std::unique_ptr<log::LogReader> reader_;
  PickyProjection picky_;
  engine::ProjectorMetrics metrics_;
  std::unique_ptr<engine::Projector> projector_;
  Authenticator auth_;
  ParkedContext context_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
};

TEST_F(ParkedApiTest, ListShowsEachParkedClientWithDepthAndFirstReason) {
  ParkOneClient();
  Reply list = Call("GET", "/v1/admin/parked");
  ASSERT_EQ(list.status, 200) << boost::json::serialize(list.body);
  EXPECT_EQ(list.body.at("parkedEvents").as_int64(), 2);
  EXPECT_EQ(list.body.at("parkedClients").as_int64(), 1);
  const auto& clients = list.body.at("clients").as_array();
  ASSERT_EQ(clients.size(), 1U);
  EXPECT_EQ(clients[0].at("clientId").as_string(), "eu/acme");
  EXPECT_EQ(clients[0].at("depth").as_int64(), 2);
  EXPECT_EQ(clients[0].at("firstCause").as_string(), "failed");
  EXPECT_EQ(clients[0].at("firstReason").as_string(), "picky: INVALID_ARGUMENT: picky: refuses e2");
  EXPECT_GT(clients[0].at("oldestParkedAtMs").as_int64(), 0);
  EXPECT_EQ(list.body.at("nextCursor").as_string(), "");
}

TEST_F(ParkedApiTest, ListPagesByClientCursor) {
  picky_.poisoned = {"x1", "y1", "z1"};
  std::vector<log::OutgoingRecord> records;
  for (const lok::v1::Event& event :
       {WonEvent("x1", "client-x"), WonEvent("y1", "client-y"), WonEvent("z1", "client-z")}) {
    records.push_back({event.client_id(), event.SerializeAsString(), {}});
  }
  ASSERT_TRUE(log_->Append(kTopic, records).ok());
  Drain();
  Reply first = Call("GET", "/v1/admin/parked?limit=2");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.body.at("clients").as_array().size(), 2U);
  EXPECT_EQ(first.body.at("nextCursor").as_string(), "client-y");
  Reply second = Call("GET", "/v1/admin/parked?limit=2&after=client-y");
  ASSERT_EQ(second.status, 200);
  ASSERT_EQ(second.body.at("clients").as_array().size(), 1U);
  EXPECT_EQ(second.body.at("clients").as_array()[0].at("clientId").as_string(), "client-z");
  EXPECT_EQ(second.body.at("nextCursor").as_string(), "");
}

TEST_F(ParkedApiTest, ShowListsTheClientsEventsInOrderWithReasonsAndPositions) {
  ParkOneClient();
  Reply show = Call("GET", "/v1/admin/parked/eu%2Facme");
  ASSERT_EQ(show.status, 200) << boost::json::serialize(show.body);
  EXPECT_EQ(show.body.at("depth").as_int64(), 2);
  const auto& events = show.body.at("events").as_array();
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].at("eventId").as_string(), "e2");
  EXPECT_EQ(events[0].at("cause").as_string(), "failed");
  EXPECT_EQ(events[0].at("type").as_string(), "deal_won");
  EXPECT_EQ(events[0].at("event").at("client_id").as_string(), "eu/acme");
  EXPECT_EQ(events[1].at("eventId").as_string(), "e3");
  EXPECT_EQ(events[1].at("cause").as_string(), "held");
  EXPECT_EQ(events[0].at("partition").as_int64(), events[1].at("partition").as_int64());
  EXPECT_LT(events[0].at("offset").as_int64(), events[1].at("offset").as_int64());

  Reply page = Call("GET", "/v1/admin/parked/eu%2Facme?limit=1");
  ASSERT_EQ(page.status, 200);
  const std::string cursor(page.body.at("nextCursor").as_string());
  EXPECT_EQ(cursor, std::to_string(events[0].at("partition").as_int64()) + "/" +
                        std::to_string(events[0].at("offset").as_int64()));
  Reply rest = Call("GET", "/v1/admin/parked/eu%2Facme?after=" + cursor);
  ASSERT_EQ(rest.body.at("events").as_array().size(), 1U);
  EXPECT_EQ(rest.body.at("events").as_array()[0].at("eventId").as_string(), "e3");

  EXPECT_EQ(Call("GET", "/v1/admin/parked/nobody").status, 404);
  EXPECT_EQ(Call("GET", "/v1/admin/parked/eu%2Facme?after=x").status, 400);
  Reply bad_limit = Call("GET", "/v1/admin/parked?limit=0");
  EXPECT_EQ(bad_limit.status, 400);
  EXPECT_NE(boost::json::serialize(bad_limit.body).find("limit: must be"), std::string::npos);
}

TEST_F(ParkedApiTest, RetryAppliesInOrderOnceFixedAndStopsWhileStillFailing) {
  ParkOneClient();
  Reply still = Call("POST", "/v1/admin/parked/eu%2Facme/retry");
  ASSERT_EQ(still.status, 200) << boost::json::serialize(still.body);
  EXPECT_EQ(still.body.at("applied").as_int64(), 0);
  EXPECT_EQ(still.body.at("remaining").as_int64(), 2);
  EXPECT_EQ(still.body.at("stoppedAt").at("eventId").as_string(), "e2");
  EXPECT_EQ(still.body.at("stoppedAt").at("attempts").as_int64(), 2);

  picky_.poisoned.clear();
  Reply fixed = Call("POST", "/v1/admin/parked/eu%2Facme/retry");
  ASSERT_EQ(fixed.status, 200) << boost::json::serialize(fixed.body);
  EXPECT_EQ(fixed.body.at("applied").as_int64(), 2);
  EXPECT_EQ(fixed.body.at("remaining").as_int64(), 0);
  EXPECT_TRUE(fixed.body.at("stoppedAt").is_null());
  EXPECT_TRUE(Applied("e2"));
  EXPECT_TRUE(Applied("e3"));
  EXPECT_EQ(Call("GET", "/v1/admin/parked").body.at("parkedClients").as_int64(), 0);
  EXPECT_EQ(Call("POST", "/v1/admin/parked/eu%2Facme/retry").status, 404);
}

TEST_F(ParkedApiTest, SkipRecordsTheCallerAndTheShowListsWhatWasSkipped) {
  ParkOneClient();
  EXPECT_EQ(Call("POST", "/v1/admin/parked/eu%2Facme/skip?all=maybe").status, 400);
  Reply skipped = Call("POST", "/v1/admin/parked/eu%2Facme/skip");
  ASSERT_EQ(skipped.status, 200) << boost::json::serialize(skipped.body);
  EXPECT_EQ(skipped.body.at("skippedCount").as_int64(), 1);
  EXPECT_EQ(skipped.body.at("skipped").as_array()[0].at("eventId").as_string(), "e2");
  EXPECT_EQ(skipped.body.at("skipped").as_array()[0].at("skippedBy").as_string(), "ops");
  EXPECT_EQ(skipped.body.at("remaining").as_int64(), 1);

  Reply show = Call("GET", "/v1/admin/parked/eu%2Facme");
  ASSERT_EQ(show.status, 200);
  EXPECT_EQ(show.body.at("events").as_array().size(), 1U);
  ASSERT_EQ(show.body.at("skipped").as_array().size(), 1U);
  EXPECT_EQ(show.body.at("skipped").as_array()[0].at("reason").as_string(),
            "picky: INVALID_ARGUMENT: picky: refuses e2");

  Reply rest = Call("POST", "/v1/admin/parked/eu%2Facme/skip?all=true");
  ASSERT_EQ(rest.status, 200);
  EXPECT_EQ(rest.body.at("skippedCount").as_int64(), 1);
  EXPECT_EQ(rest.body.at("remaining").as_int64(), 0);
  EXPECT_FALSE(Applied("e2"));
  EXPECT_FALSE(Applied("e3"));
  // Nothing parked any more, but the audit stays readable.
  Reply audit = Call("GET", "/v1/admin/parked/eu%2Facme");
  ASSERT_EQ(audit.status, 200);
  EXPECT_EQ(audit.body.at("depth").as_int64(), 0);
  EXPECT_EQ(audit.body.at("skipped").as_array().size(), 2U);
}

TEST_F(ParkedApiTest, OnlyTheAdminRoleMayUseTheParkedEndpoints) {
  ParkOneClient();
  EXPECT_EQ(Call("GET", "/v1/admin/parked", "read-secret").status, 403);
  EXPECT_EQ(Call("POST", "/v1/admin/parked/eu%2Facme/retry", "read-secret").status, 403);
  EXPECT_EQ(Call("POST", "/v1/admin/parked/eu%2Facme/skip", "").status, 401);
  EXPECT_EQ(Call("POST", "/v1/admin/parked/eu%2Facme/dance").status, 404);
  EXPECT_EQ(Call("GET", "/v1/admin/parked").body.at("parkedEvents").as_int64(), 2)
      << "nothing changed by the refused calls";
}

}  // namespace
}  // namespace lok::api
