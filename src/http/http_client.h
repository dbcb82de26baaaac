// A blocking, one-shot HTTP/1.1 client for lokctl and tests.
//
//   StatusOr<lok::http::ClientResponse> response =
//       lok::http::Fetch("GET", "http://127.0.0.1:8080/v1/funnel?from=2024-01-01");
//   if (!response.ok()) return response.status();
//   if (response->status != 200) ...
#pragma once

#include <chrono>
#include <memory>
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

// A keep-alive HTTP/1.1 connection to one server for many GET requests in a
// row, as a browser keeps its connections to a dashboard open (the query
// benchmark uses one per client thread, so that it measures the answers and
// not a TCP handshake per request).
//
//   auto connection = lok::http::Connection::Open("http://127.0.0.1:8080");
//   auto response = (*connection)->Get("/v1/funnel?by=month");
//
// Thread-safety: one request at a time; use one Connection per thread.
class Connection {
 public:
  // `base_url`: "http://host:port" with a numeric host (no lookup). Connects
  // lazily, on the first request. Errors: kInvalidArgument for another URL.
  static StatusOr<std::unique_ptr<Connection>> Open(std::string_view base_url,
                                                    std::chrono::milliseconds timeout =
                                                        std::chrono::seconds(30));
  ~Connection();

  // GETs `target` ("/path?query"). Connects when not connected; when the
  // server had closed the idle connection, reconnects and sends again once.
  // Errors: kUnavailable (connect, send, read), kDeadlineExceeded (no
  // response within the timeout; the connection is dropped), kInternal
  // (malformed response), kResourceExhausted (body over 1 GiB).
  StatusOr<ClientResponse> Get(std::string_view target);

 private:
  class Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// {"Authorization", "Bearer <token>"}, or no header for an empty token.
std::vector<std::pair<std::string, std::string>> BearerHeader(std::string_view token);

}  // namespace lok::http
