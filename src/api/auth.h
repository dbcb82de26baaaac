// Who may do what on lokd's HTTP API: bearer tokens per calling system, kept
// hashed (SHA-256) in a JSON file, each with a role and, for publishers, the
// `source` values and event types it may publish.
//
//   {"tokens": [
//     {"name": "crm",  "sha256": "<hex>", "role": "publish",
//      "sources": ["crm"], "event_types": ["lead_created", "lead_qualified"]},
//     {"name": "dashboard", "sha256": "<hex>", "role": "read"},
//     {"name": "ops",  "sha256": "<hex>", "role": "admin"}]}
//
// Roles: publish → POST /v1/events; read → the query API (GET /v1/...);
// admin → everything, including /v1/admin/*. /healthz, /readyz, /metrics and
// the dashboard's static files are open. Empty `sources` / `event_types`
// mean any. `lokctl hash-token` prints the hash of a token.
//
// Thread-safe after construction (read-only).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "base/status.h"
#include "http/http_server.h"
#include "lok/v1/events.pb.h"

namespace lok::api {

enum class Role { kPublish, kRead, kAdmin };

struct TokenGrant {
  std::string name;
  Role role = Role::kRead;
  std::set<std::string> sources;      // empty: any
  std::set<std::string> event_types;  // payload names; empty: any
};

// The header the guard sets to the authenticated caller's name (and strips
// from incoming requests, so it cannot be forged).
inline constexpr std::string_view kCallerHeader = "x-lok-caller";

class Authenticator {
 public:
  // Authentication off: every request passes.
  Authenticator() = default;

  // Reads the tokens file. Errors: kNotFound (file), kInvalidArgument naming
  // the entry and field ("tokens[2].role: must be publish, read or admin").
  static StatusOr<Authenticator> FromFile(const std::filesystem::path& path);
  static StatusOr<Authenticator> FromJson(std::string_view json);

  bool enabled() const { return enabled_; }

  // The guard for http::Server::SetGuard: 401 without a known token, 403 when
  // the token's role does not cover the route; sets kCallerHeader.
  std::optional<http::Response> Guard(http::Request& request) const;

  // The grant of an authenticated request (after Guard), or nullptr when
  // authentication is off.
  const TokenGrant* CallerOf(const http::Request& request) const;

  // Why `grant` may not publish `event`, or nullopt when it may.
  static std::optional<std::string> RefusalFor(const TokenGrant& grant, const lok::v1::Event& event);

 private:
  bool enabled_ = false;
  std::map<std::string, TokenGrant, std::less<>> by_hash_;  // sha256 hex -> grant
  std::map<std::string, const TokenGrant*, std::less<>> by_name_;
};

}  // namespace lok::api
