// Test fixture: a projector on a real embedded log (topic "events", 4
// partitions) and a real RocksDB store, in a fresh directory per test.
// Tests of the projector and of parking derive from it, choose their
// projections and options in OpenProjector, and may call it again to
// reopen the store and the projector as a restarted lokd would.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/projector.h"
#include "log/embedded_log.h"
#include "projections/funnel.h"
#include "store/rocks_store.h"

namespace lok::engine {

class ProjectorFixture : public ::testing::Test {
 protected:
  // `prefix` names the test's directory under the system's temporary one.
  explicit ProjectorFixture(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            (prefix_ + "-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    auto log = log::EmbeddedLog::Open((root_ / "log").string(), 4);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    ASSERT_TRUE(log_->CreateTopic("events", 4).ok());
  }

  void TearDown() override {
    projector_.reset();
    reader_.reset();
    store_.reset();
    log_.reset();
    std::filesystem::remove_all(root_);
  }

  // (Re)opens the store and a started projector of `projections` reading
  // "events" with `options` (its topic is set here).
  void OpenProjector(std::vector<projections::Projection*> projections,
                     ProjectorOptions options) {
    projector_.reset();
    reader_.reset();
    store_.reset();
    auto store = store::RocksStore::Open((root_ / "state").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    reader_ = log_->NewReader("events");
    options.topic = "events";
    projector_ = std::make_unique<Projector>(*store_, *reader_, *log_, std::move(projections),
                                             std::move(options), metrics_);
    ASSERT_TRUE(projector_->Start().ok());
  }

  void Append(const std::vector<log::OutgoingRecord>& records) {
    ASSERT_TRUE(log_->Append("events", records).ok());
  }

  // Runs batches until one consumes nothing.
  void Drain() {
    for (int round = 0; round < 1000; ++round) {
      auto consumed = projector_->RunOnce();
      ASSERT_TRUE(consumed.ok()) << consumed.status().ToString();
      if (*consumed == 0) return;
    }
    FAIL() << "projector did not drain";
  }

  int64_t Counter(std::string_view key) {
    auto stored = store_->Get(key);
    EXPECT_TRUE(stored.ok());
    return *stored ? *store::DecodeCounter(**stored) : 0;
  }

  int64_t WonDeals() {
    auto funnel = projections::QueryFunnel(*store_);
    EXPECT_TRUE(funnel.ok());
    return funnel->stages(3).deals();
  }

  const std::string prefix_;
  std::filesystem::path root_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<store::RocksStore> store_;
  std::unique_ptr<log::LogReader> reader_;
  ProjectorMetrics metrics_;
  std::unique_ptr<Projector> projector_;
};

}  // namespace lok::engine
