// The README's demo command, end to end: `lokctl demo --exit` imports the
// shared CRM dataset, runs lokd on the embedded log and prints the funnel.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "support/lokd_process.h"

namespace lok::testing {
namespace {

TEST(LokctlDemoTest, DemoImportsTheDatasetAndPrintsTheFunnelTwiceTheSame) {
  const std::filesystem::path dataset = LOK_SHARED_DATASET_DIR;
  if (!std::filesystem::exists(dataset / "sales_pipeline.csv")) GTEST_SKIP() << "no shared dataset";
  const std::filesystem::path data_dir = FreshDirectory("demo");
  const std::string command = std::string(LOK_BIN_DIR) + "/lokctl demo --exit --dataset " +
                              dataset.string() + " --data-dir " + data_dir.string() +
                              " --http 127.0.0.1:" + std::to_string(FreePort());
  for (int run = 0; run < 2; ++run) {
    auto [status, output] = RunShell(command);
    ASSERT_EQ(status, 0) << output;
    EXPECT_NE(output.find("30522 events appended"), std::string::npos) << output;
    EXPECT_NE(output.find("LEAD           8800"), std::string::npos) << output;
    EXPECT_NE(output.find("WON            4238  USD 10005534.00"), std::string::npos) << output;
    EXPECT_NE(output.find("LOST           2473"), std::string::npos) << output;
    EXPECT_NE(output.find("win rate   63.2 %"), std::string::npos) << output;
  }
  std::filesystem::remove_all(data_dir);
}

}  // namespace
}  // namespace lok::testing
