// GET /readyz and /metrics while a rebuild runs in the background: still 200
// (the stored read models are served), with "rebuilding" and the gauges.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "api/query_api.h"
#include "http/http_client.h"
#include "projections/funnel.h"

namespace lok::api {
namespace {

TEST(ReadyzTest, ReportsTheBackgroundRebuildAndStaysReady) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("lok-readyz-" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  {
    store::StoreGenerations generations(root.string());
    store::LiveStore live(std::shared_ptr<store::RocksStore>(
        std::move(store::RocksStore::Open(generations.PathOf(0))).value()));
    projections::FunnelProjection funnel;
    // The rebuild's reader is held back until the test has looked.
    std::mutex mutex;
    std::condition_variable released_changed;
    bool released = false;
    engine::RebuildConfig config;
    config.live = &live;
    config.generations = &generations;
    config.projections = {&funnel};
    config.versions = {{"funnel", 1}};
    config.topic = "events";
    config.new_reader = [&]() -> StatusOr<std::unique_ptr<log::LogReader>> {
      std::unique_lock lock(mutex);
      released_changed.wait(lock, [&] { return released; });
      return UnavailableError("no log in this test");
    };
    engine::Rebuilder rebuilder(std::move(config));
    engine::ProjectorMetrics metrics;
    metrics.SetCaughtUp(true);
    ApiContext context;
    context.store = &live;
    context.metrics = &metrics;
    context.rebuilder = &rebuilder;
    http::Server server(http::ServerOptions{});
    RegisterRoutes(server, context);
    ASSERT_TRUE(server.Start().ok());
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port());

    ASSERT_TRUE(rebuilder.Start({}, "projection version changed").ok());
    auto ready = http::Fetch("GET", url + "/readyz");
    ASSERT_TRUE(ready.ok());
    EXPECT_EQ(ready->status, 200);
    boost::json::object body = boost::json::parse(ready->body).as_object();
    EXPECT_EQ(body.at("status"), "ready");
    ASSERT_TRUE(body.contains("rebuilding")) << ready->body;
    EXPECT_EQ(body.at("rebuilding").at("state"), "replaying");
    EXPECT_EQ(body.at("rebuilding").at("reason"), "projection version changed");
    auto metrics_text = http::Fetch("GET", url + "/metrics");
    ASSERT_TRUE(metrics_text.ok());
    EXPECT_NE(metrics_text->body.find("lok_rebuild_running 1\n"), std::string::npos);
    EXPECT_NE(metrics_text->body.find("lok_rebuild_eta_seconds -1\n"), std::string::npos);
    // The live store's caches (this store was opened without a row cache).
    EXPECT_NE(metrics_text->body.find("# TYPE lok_store_block_cache_bytes gauge\n"),
              std::string::npos);
    EXPECT_NE(metrics_text->body.find("lok_store_row_cache_bytes 0\n"), std::string::npos);
    // Each route's request durations; /readyz answered once before this
    // request, counted once its write completed (maybe just after the client
    // read it): fetch again until it shows, with a deadline.
    const std::string readyz_count =
        "lok_http_request_duration_seconds_count{method=\"GET\",route=\"/readyz\"} 1\n";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (metrics_text->body.find(readyz_count) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      metrics_text = http::Fetch("GET", url + "/metrics");
      ASSERT_TRUE(metrics_text.ok());
    }
    EXPECT_NE(metrics_text->body.find("# TYPE lok_http_request_duration_seconds histogram\n"),
              std::string::npos);
    EXPECT_NE(metrics_text->body.find(
                  "lok_http_request_duration_seconds_count{method=\"GET\",route=\"/readyz\"} 1\n"),
              std::string::npos)
        << metrics_text->body;
    EXPECT_NE(metrics_text->body.find("lok_http_request_duration_seconds_bucket{method=\"GET\","
                                      "route=\"/readyz\",le=\"+Inf\"} 1\n"),
              std::string::npos);

    {
      std::lock_guard lock(mutex);
      released = true;
    }
    released_changed.notify_all();
    rebuilder.Cancel();  // waits for the (now failed) rebuild to end
    EXPECT_EQ(rebuilder.Progress().state, engine::RebuildState::kFailed);
    ready = http::Fetch("GET", url + "/readyz");
    ASSERT_TRUE(ready.ok());
    EXPECT_EQ(boost::json::parse(ready->body).as_object().contains("rebuilding"), false)
        << ready->body;
    server.Stop();
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace lok::api
