#include "api/auth.h"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

#include "base/sha256.h"
#include "events/event_codec.h"

namespace lok::api {
namespace {

// The role a route needs; nullopt for open routes.
std::optional<Role> RequiredRole(const http::Request& request) {
  const std::string& path = request.path;
  if (!path.starts_with("/v1/")) return std::nullopt;  // health, metrics, dashboard files
  if (path.starts_with("/v1/admin/")) return Role::kAdmin;
  if (path == "/v1/events" && request.method == "POST") return Role::kPublish;
  return Role::kRead;
}

bool Covers(Role held, Role needed) { return held == Role::kAdmin || held == needed; }

http::Response Unauthorized(std::string message) {
  http::Response response = http::JsonError(401, message);
  response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"lok\"");
  return response;
}

}  // namespace

StatusOr<Authenticator> Authenticator::FromFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("auth file " + path.string() + ": cannot open");
  std::ostringstream contents;
  contents << in.rdbuf();
  StatusOr<Authenticator> parsed = FromJson(contents.str());
  if (!parsed.ok()) return parsed.status().WithContext("auth file " + path.string());
  return parsed;
}

StatusOr<Authenticator> Authenticator::FromJson(std::string_view json) {
  boost::system::error_code error;
  boost::json::value root = boost::json::parse(json, error);
  if (error) return InvalidArgumentError("not valid JSON: " + error.message());
  const boost::json::object* object = root.if_object();
  const boost::json::value* tokens = object == nullptr ? nullptr : object->if_contains("tokens");
  if (tokens == nullptr || !tokens->is_array()) {
    return InvalidArgumentError("tokens: required, an array of token entries");
  }
  Authenticator authenticator;
  authenticator.enabled_ = true;
  size_t index = 0;
  for (const boost::json::value& entry : tokens->as_array()) {
    const std::string where = "tokens[" + std::to_string(index++) + "]";
    const boost::json::object* fields = entry.if_object();
    if (fields == nullptr) return InvalidArgumentError(where + ": must be an object");
    auto text = [&](std::string_view field) -> std::optional<std::string> {
      const boost::json::value* value = fields->if_contains(field);
      if (value == nullptr || !value->is_string()) return std::nullopt;
      return std::string(value->as_string());
    };
    TokenGrant grant;
    std::optional<std::string> name = text("name");
    std::optional<std::string> hash = text("sha256");
    std::optional<std::string> role = text("role");
    if (!name || name->empty()) return InvalidArgumentError(where + ".name: required");
    if (!hash || hash->size() != 64 ||
        hash->find_first_not_of("0123456789abcdef") != std::string::npos) {
      return InvalidArgumentError(where + ".sha256: must be 64 lower-case hex digits (lokctl hash-token)");
    }
    if (!role || (*role != "publish" && *role != "read" && *role != "admin")) {
      return InvalidArgumentError(where + ".role: must be publish, read or admin");
    }
    grant.name = *name;
    grant.role = *role == "publish" ? Role::kPublish : *role == "read" ? Role::kRead : Role::kAdmin;
    for (const auto& [field, target] :
         {std::pair{"sources", &grant.sources}, std::pair{"event_types", &grant.event_types}}) {
      const boost::json::value* list = fields->if_contains(field);
      if (list == nullptr) continue;
      if (!list->is_array()) return InvalidArgumentError(where + "." + field + ": must be an array of strings");
      for (const boost::json::value& item : list->as_array()) {
        if (!item.is_string()) return InvalidArgumentError(where + "." + field + ": must be an array of strings");
        target->insert(std::string(item.as_string()));
      }
    }
    if (authenticator.by_hash_.contains(*hash)) {
      return InvalidArgumentError(where + ".sha256: the same token is listed twice");
    }
    authenticator.by_hash_.emplace(*hash, std::move(grant));
  }
  for (const auto& [hash, grant] : authenticator.by_hash_) {
    if (!authenticator.by_name_.emplace(grant.name, &grant).second) {
      return InvalidArgumentError("tokens: the name '" + grant.name + "' is used twice");
    }
  }
  return authenticator;
}

std::optional<http::Response> Authenticator::Guard(http::Request& request) const {
  request.headers.erase(std::string(kCallerHeader));
  if (!enabled_) return std::nullopt;
  const std::optional<Role> needed = RequiredRole(request);
  if (!needed) return std::nullopt;
  auto header = request.headers.find("authorization");
  if (header == request.headers.end() || !header->second.starts_with("Bearer ")) {
    return Unauthorized("authorization: a bearer token is required (Authorization: Bearer <token>)");
  }
  const std::string token = header->second.substr(7);
  auto grant = by_hash_.find(Sha256Hex(token));
  if (grant == by_hash_.end()) return Unauthorized("authorization: unknown token");
  if (!Covers(grant->second.role, *needed)) {
    return http::JsonError(403, "token '" + grant->second.name + "' may not " +
                                    (request.method + " " + request.path) + ": its role does not allow it");
  }
  request.headers[std::string(kCallerHeader)] = grant->second.name;
  return std::nullopt;
}

const TokenGrant* Authenticator::CallerOf(const http::Request& request) const {
  if (!enabled_) return nullptr;
  auto header = request.headers.find(std::string(kCallerHeader));
  if (header == request.headers.end()) return nullptr;
  auto grant = by_name_.find(header->second);
  return grant == by_name_.end() ? nullptr : grant->second;
}

std::optional<std::string> Authenticator::RefusalFor(const TokenGrant& grant,
                                                     const lok::v1::Event& event) {
  if (grant.role == Role::kAdmin) return std::nullopt;
  if (!grant.sources.empty() && !grant.sources.contains(event.source())) {
    return "source '" + event.source() + "' is not allowed for token '" + grant.name + "'";
  }
  const std::string type(events::PayloadName(event));
  if (!grant.event_types.empty() && !grant.event_types.contains(type)) {
    return "event type '" + type + "' is not allowed for token '" + grant.name + "'";
  }
  return std::nullopt;
}

}  // namespace lok::api
