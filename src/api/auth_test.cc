#include "api/auth.h"

#include <gtest/gtest.h>

#include "base/sha256.h"

namespace lok::api {
namespace {

std::string TokensJson() {
  return R"({"tokens":[
    {"name":"crm","sha256":")" + Sha256Hex("crm-secret") +
         R"(","role":"publish","sources":["crm"],"event_types":["lead_created"]},
    {"name":"dashboard","sha256":")" + Sha256Hex("read-secret") + R"(","role":"read"},
    {"name":"ops","sha256":")" + Sha256Hex("admin-secret") + R"(","role":"admin"}]})";
}

http::Request RequestFor(std::string method, std::string path, std::string token = "") {
  http::Request request;
  request.method = std::move(method);
  request.path = std::move(path);
  if (!token.empty()) request.headers["authorization"] = "Bearer " + token;
  return request;
}

TEST(AuthTest, DisabledLetsEverythingThroughAndStripsTheCallerHeader) {
  Authenticator off;
  http::Request request = RequestFor("POST", "/v1/admin/verify");
  request.headers[std::string(kCallerHeader)] = "forged";
  EXPECT_FALSE(off.Guard(request).has_value());
  EXPECT_FALSE(request.headers.contains(std::string(kCallerHeader)));
  EXPECT_EQ(off.CallerOf(request), nullptr);
}

TEST(AuthTest, MissingOrUnknownTokenIs401WithJsonError) {
  auto auth = Authenticator::FromJson(TokensJson());
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  http::Request missing = RequestFor("GET", "/v1/funnel");
  auto refused = auth->Guard(missing);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
  EXPECT_NE(refused->body.find("bearer token is required"), std::string::npos);
  http::Request unknown = RequestFor("GET", "/v1/funnel", "guess");
  EXPECT_EQ(auth->Guard(unknown)->status, 401);
}

TEST(AuthTest, RolesCoverTheirRoutesOnly) {
  auto auth = Authenticator::FromJson(TokensJson());
  ASSERT_TRUE(auth.ok());
  auto status_of = [&](std::string method, std::string path, std::string token) {
    http::Request request = RequestFor(std::move(method), std::move(path), std::move(token));
    auto refused = auth->Guard(request);
    return refused ? refused->status : 200;
  };
  EXPECT_EQ(status_of("GET", "/v1/funnel", "read-secret"), 200);
  EXPECT_EQ(status_of("POST", "/v1/events", "read-secret"), 403);
  EXPECT_EQ(status_of("POST", "/v1/events", "crm-secret"), 200);
  EXPECT_EQ(status_of("GET", "/v1/funnel", "crm-secret"), 403);
  EXPECT_EQ(status_of("POST", "/v1/admin/verify", "read-secret"), 403);
  EXPECT_EQ(status_of("POST", "/v1/admin/verify", "admin-secret"), 200);
  EXPECT_EQ(status_of("GET", "/v1/retention", "admin-secret"), 200);
  EXPECT_EQ(status_of("GET", "/healthz", ""), 200);
  EXPECT_EQ(status_of("GET", "/metrics", ""), 200);
  EXPECT_EQ(status_of("GET", "/", ""), 200);
}

TEST(AuthTest, PublishersAreBoundToTheirSourcesAndTypes) {
  auto auth = Authenticator::FromJson(TokensJson());
  ASSERT_TRUE(auth.ok());
  http::Request request = RequestFor("POST", "/v1/events", "crm-secret");
  ASSERT_FALSE(auth->Guard(request).has_value());
  const TokenGrant* caller = auth->CallerOf(request);
  ASSERT_NE(caller, nullptr);
  EXPECT_EQ(caller->name, "crm");
  lok::v1::Event event;
  event.set_source("crm");
  event.mutable_lead_created();
  EXPECT_FALSE(Authenticator::RefusalFor(*caller, event).has_value());
  event.set_source("billing");
  EXPECT_EQ(Authenticator::RefusalFor(*caller, event), "source 'billing' is not allowed for token 'crm'");
  event.set_source("crm");
  event.mutable_deal_won();
  EXPECT_EQ(Authenticator::RefusalFor(*caller, event), "event type 'deal_won' is not allowed for token 'crm'");
}

TEST(AuthTest, BadFilesNameTheEntryAndField) {
  EXPECT_EQ(Authenticator::FromJson("{}").status().message(), "tokens: required, an array of token entries");
  EXPECT_EQ(Authenticator::FromJson(R"({"tokens":[{"name":"a","sha256":"abc","role":"read"}]})")
                .status()
                .message(),
            "tokens[0].sha256: must be 64 lower-case hex digits (lokctl hash-token)");
  EXPECT_EQ(Authenticator::FromJson(R"({"tokens":[{"name":"a","sha256":")" + Sha256Hex("x") +
                                    R"(","role":"root"}]})")
                .status()
                .message(),
            "tokens[0].role: must be publish, read or admin");
  EXPECT_EQ(Authenticator::FromFile("/nonexistent/tokens.json").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace lok::api
