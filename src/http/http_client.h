// A blocking, one-shot HTTP/1.1 client for lokctl and tests.
//
//   StatusOr<lok::http::ClientResponse> response =
//       lok::http::Fetch("GET", "http://127.0.0.1:8080/v1/funnel?from=2024-01-01");
//   if (!response.ok()) return response.status();
//   if (response->status != 200) ...
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace lok::http {

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string content_type;  // empty when the server sent none
};

// Sends one request to `url` ("http://host[:port]/target?query"; port defaults to 80)
// on a fresh connection and returns the response, whatever its status code. `body` is
// sent with `content_type` when non-empty. Responses larger than 1 GiB are refused.
//
// Errors: kInvalidArgument naming the url when it is not an absolute http:// URL (https
// is not supported) or the method is not a valid token; kUnavailable when the host does
// not resolve, the connection fails (e.g. refused) or breaks; kDeadlineExceeded when
// the whole exchange takes longer than `timeout` (a name lookup that is already running
// is not interrupted, so resolving a host name may overrun it); kInternal when the
// response is not valid HTTP; kResourceExhausted when it is too large.
//
// Thread-safety: safe to call concurrently; each call uses its own connection and
// io_context.
StatusOr<ClientResponse> Fetch(std::string_view method, std::string_view url,
                               std::string_view body = {},
                               std::string_view content_type = "application/json",
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The same with extra request headers, e.g. {"Authorization", "Bearer ..."}.
// Errors as above; kInvalidArgument for a header with CR/LF.
StatusOr<ClientResponse> Fetch(std::string_view method, std::string_view url,
                               std::string_view body, std::string_view content_type,
                               std::chrono::milliseconds timeout,
                               const std::vector<std::pair<std::string, std::string>>& headers);

// {"Authorization", "Bearer <token>"}, or no header for an empty token.
std::vector<std::pair<std::string, std::string>> BearerHeader(std::string_view token);

}  // namespace lok::http
