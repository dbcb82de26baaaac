#include "api/static_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace lok::api {
namespace {

std::string Header(const http::Response& response, std::string_view name) {
  for (const auto& [header, value] : response.headers) {
    if (header == name) return value;
  }
  return "";
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::filesystem::temp_directory_path() /
            ("lok_static_files_test_" + std::to_string(std::random_device{}()));
    root_ = base_ / "dist";
    std::filesystem::create_directories(root_ / "assets");
    Write(root_ / "index.html", "<!doctype html><title>Lok</title>");
    Write(root_ / "assets" / "index-AbC123.js", "console.log(1)");
    Write(root_ / "assets" / "index-AbC123.css", "body{}");
    Write(base_ / "secret.txt", "outside the web root");
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  static void Write(const std::filesystem::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
  }

  http::Response Get(const std::string& path, std::string if_none_match = "") const {
    http::Request request{.method = "GET", .path = path};
    if (!if_none_match.empty()) request.headers["if-none-match"] = std::move(if_none_match);
    return ServeStaticFile(root_, request);
  }

  std::filesystem::path base_;
  std::filesystem::path root_;
};

TEST_F(StaticFilesTest, RootServesIndexHtmlRevalidatedOnEveryLoad) {
  for (const std::string path : {"/", "/index.html"}) {
    const http::Response response = Get(path);
    EXPECT_EQ(response.status, 200) << path;
    EXPECT_EQ(response.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(response.body, "<!doctype html><title>Lok</title>");
    EXPECT_EQ(Header(response, "Cache-Control"), "no-cache");
    EXPECT_NE(Header(response, "Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    EXPECT_EQ(Header(response, "X-Content-Type-Options"), "nosniff");
  }
}

TEST_F(StaticFilesTest, HashedAssetsAreImmutableWithTheirContentType) {
  const http::Response script = Get("/assets/index-AbC123.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(script.body, "console.log(1)");
  EXPECT_EQ(Header(script, "Cache-Control"), "public, max-age=31536000, immutable");

  const http::Response style = Get("/assets/index-AbC123.css");
  EXPECT_EQ(style.content_type, "text/css; charset=utf-8");
}

TEST_F(StaticFilesTest, ContentTypesByExtension) {
  EXPECT_EQ(ContentTypeFor("a.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("chart.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("shot.png"), "image/png");
  EXPECT_EQ(ContentTypeFor("font.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("app.js.map"), "application/json");
  EXPECT_EQ(ContentTypeFor("README"), "application/octet-stream");
}

TEST_F(StaticFilesTest, DotDotAndOtherUnsafeSegmentsAreRejected) {
  // request.path is percent-decoded by the server, so %2e%2e arrives as "..".
  const std::vector<std::string> paths = {
      "/assets/../../secret.txt", "/../secret.txt",  "/assets/./index-AbC123.js",
      "/assets//index-AbC123.js", "/assets/..",      "/assets\\..\\..\\secret.txt",
      std::string("/assets/a\0b", 11)};
  for (const std::string& path : paths) {
    const http::Response response = Get(path);
    EXPECT_EQ(response.status, 400) << path;
    EXPECT_EQ(response.body.find("outside the web root"), std::string::npos);
  }
}

TEST_F(StaticFilesTest, SymbolicLinkOutOfTheRootIsNotFollowed) {
  std::filesystem::create_symlink(base_ / "secret.txt", root_ / "assets" / "link.txt");
  const http::Response response = Get("/assets/link.txt");
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body.find("outside the web root"), std::string::npos);
}

TEST_F(StaticFilesTest, MissingFilesAndDirectoriesAre404) {
  EXPECT_EQ(Get("/assets/missing.js").status, 404);
  EXPECT_EQ(Get("/assets").status, 404);
}

TEST_F(StaticFilesTest, UnbuiltDashboardSaysHowToBuildIt) {
  std::filesystem::remove(root_ / "index.html");
  const http::Response response = Get("/");
  EXPECT_EQ(response.status, 404);
  EXPECT_NE(response.body.find("npm run build"), std::string::npos) << response.body;
  EXPECT_EQ(ServeStaticFile(base_ / "nowhere", http::Request{.path = "/"}).status, 404);
}

TEST_F(StaticFilesTest, MatchingETagGets304WithoutBody) {
  const http::Response first = Get("/assets/index-AbC123.js");
  const std::string etag = Header(first, "ETag");
  ASSERT_FALSE(etag.empty());

  const http::Response again = Get("/assets/index-AbC123.js", "W/\"other\", " + etag);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(Header(again, "Cache-Control"), "public, max-age=31536000, immutable");

  EXPECT_EQ(Get("/assets/index-AbC123.js", "\"stale\"").status, 200);
}

}  // namespace
}  // namespace lok::api
