#include "store/store_generations.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace lok::store {
namespace {

class StoreGenerationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("lok-generations-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::filesystem::path root_;
};

TEST_F(StoreGenerationsTest, WithoutAPointerTheOriginalStateIsCurrent) {
  StoreGenerations generations(root_.string());
  EXPECT_EQ(*generations.Current(), 0);
  EXPECT_EQ(generations.PathOf(0), (root_ / "state").string());
  EXPECT_EQ(generations.PathOf(3), (root_ / "store-v3").string());
}

TEST_F(StoreGenerationsTest, NextSkipsLeftoversAndMakeCurrentSurvivesReopen) {
  std::filesystem::create_directories(root_ / "state");
  std::filesystem::create_directories(root_ / "store-v4");  // an interrupted rebuild
  std::filesystem::create_directories(root_ / "store-vx");  // not a generation
  StoreGenerations generations(root_.string());
  EXPECT_EQ(*generations.Next(), 5);
  ASSERT_TRUE(generations.MakeCurrent(5).ok());
  EXPECT_EQ(*StoreGenerations(root_.string()).Current(), 5);
  EXPECT_EQ(generations.OnDisk(), (std::vector<int>{0, 4}));
  EXPECT_FALSE(std::filesystem::exists(root_ / "CURRENT_STORE.tmp"));
}

TEST_F(StoreGenerationsTest, TheCurrentGenerationCannotBeRemoved) {
  std::filesystem::create_directories(root_ / "state");
  std::filesystem::create_directories(root_ / "store-v1");
  StoreGenerations generations(root_.string());
  ASSERT_TRUE(generations.MakeCurrent(1).ok());
  EXPECT_EQ(generations.Remove(1).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(generations.Remove(0).ok());
  EXPECT_EQ(generations.OnDisk(), (std::vector<int>{1}));
}

TEST_F(StoreGenerationsTest, AnUnreadablePointerIsDataLossNotSilentlyTheOriginal) {
  std::ofstream(root_ / "CURRENT_STORE") << "garbage\n";
  EXPECT_EQ(StoreGenerations(root_.string()).Current().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace lok::store
