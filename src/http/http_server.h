// A small HTTP/1.1 server for Lok's JSON API, built on Boost.Beast.
//
// Routes map (method, path) to a Handler. Handlers take a parsed Request and return a
// Response; they never see Asio or Beast types.
//
//   lok::http::Server server({.port = 8080});
//   server.Handle("GET", "/v1/funnel", [](const lok::http::Request& request) {
//     return lok::http::Response{.body = R"({"stages":[]})"};
//   });
//   LOK_RETURN_IF_ERROR(server.Start());
//   ...
//   server.Stop();
//
// Behaviour on the wire: HTTP/1.1 keep-alive; unknown path -> 404; known path, other
// method -> 405 with an Allow header; handler throws -> 500 (logged; the server keeps
// serving); body over ServerOptions::max_body_bytes -> 413; header block over 8 KiB ->
// 431; malformed request -> 400; request not complete within read_timeout -> 408.
// Error responses carry a JsonError body, and after 400/408/413/431 the connection is
// closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace lok::http {

// The `{}` initializers let callers use designated initializers (Request{.path = "/"})
// without -Wmissing-field-initializers warnings.
struct Request {
  std::string method{};  // as sent, e.g. "GET", "POST"
  std::string path{};    // percent-decoded path without the query, e.g. "/v1/funnel"
  // Percent-decoded query parameters in the order sent ('+' decodes to a space). A key
  // without '=' has an empty value.
  std::vector<std::pair<std::string, std::string>> query{};
  // Header names are lower-cased. Repeated headers are joined with ", ".
  std::map<std::string, std::string> headers{};
  std::string body{};

  // The value of the first query parameter called `name`, or nullopt when absent.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;  // must be within 100..599; anything else is sent as a 500
  // Sent as Content-Type unless empty.
  std::string content_type = "application/json";
  std::string body{};
  // Extra headers. Names and values must not contain CR or LF (such a response is sent
  // as a 500 instead, to prevent header injection). Do not set Content-Length,
  // Transfer-Encoding or Connection: the server owns those.
  std::vector<std::pair<std::string, std::string>> headers{};
};

// A response with `status` and the body {"error":{"code":<status>,"message":<message>}}.
Response JsonError(int status, std::string_view message);

// The HTTP status for an error: invalid argument 400, unauthenticated 401,
// permission denied 403, not found 404, already exists / failed precondition
// 409, resource exhausted 413, unavailable 503, deadline exceeded 504, else 500.
int HttpStatusFor(const Status& status);

// JsonError(HttpStatusFor(status), status.message()).
Response ErrorResponse(const Status& status);

// Called on one of the server's threads; handlers for different connections run
// concurrently, so a handler must be thread-safe. An exception thrown by a handler
// becomes a 500 response and is logged.
using Handler = std::function<Response(const Request&)>;

// Runs before every routed handler (not for 404/405). Returns a response to
// refuse the request (401, 403), or nullopt to let it through; it may
// annotate the request (e.g. with the authenticated caller) for the handler.
using Guard = std::function<std::optional<Response>(Request&)>;

struct ServerOptions {
  // A numeric address ("127.0.0.1", "0.0.0.0", "::") or a host name resolved at Start().
  std::string address = "127.0.0.1";
  uint16_t port = 0;                         // 0: the kernel picks a free port (tests)
  size_t max_body_bytes = 16 * 1024 * 1024;  // a larger body -> 413, connection closed
  int threads = 2;                           // worker threads; must be >= 1
  // The longest a connection may sit idle or take to send one request; also bounds
  // each response write. A connection idle between requests is closed without a
  // response; one that sent part of a request gets a 408 naming the limit.
  std::chrono::seconds read_timeout{30};
  // TLS: PEM files of the certificate chain and its private key. Both empty:
  // plain HTTP. TLS 1.2 and later only.
  std::string tls_cert_file{};
  std::string tls_key_file{};
};

// How long one route's requests took: from the request read completely to
// its response written to the socket (guard, handler and write; not the
// wait for a worker thread before the read completes). Requests no route
// matched (404/405) count under the route "". Requests refused before
// routing (400, 408, 413, 431) are not counted.
struct RouteLatency {
  std::string method{};
  std::string route{};  // as registered, e.g. "/v1/clients/*"
  // cumulative[i]: requests that took at most LatencyBucketBounds()[i] seconds.
  std::vector<uint64_t> cumulative{};
  uint64_t count = 0;
  double sum_seconds = 0;
};

// The upper bounds in seconds of the latency histogram's buckets, ascending
// (+Inf is implied by RouteLatency::count).
std::span<const double> LatencyBucketBounds();

// Thread-safety: register every route with Handle() before Start(). After Start(),
// port() and Stop() may be called from any thread except the server's own (do not
// call Stop() from a handler: it joins the threads the handler runs on).
class Server {
 public:
  explicit Server(ServerOptions options);
  // Stops the server (see Stop()).
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes `method` requests for `path` to `handler`. `path` is matched exactly, except
  // that a path ending in "/*" is a prefix route: Handle("GET", "/v1/clients/*", h)
  // matches /v1/clients/acme and /v1/clients/acme/deals (not /v1/clients/); the handler
  // reads Request::path. An exact route wins over a prefix route, and a longer prefix
  // over a shorter one. Registering the same (method, path) again replaces the handler.
  // REQUIRES: Start() has not been called (later calls are logged and ignored).
  void Handle(std::string method, std::string path, Handler handler);

  // Binds, listens and starts the worker threads; returns once the server accepts
  // connections.
  // Errors: kUnavailable naming address:port when the bind fails (e.g. the port is in
  // use); kInvalidArgument when the address does not resolve, threads < 1, or the TLS
  // certificate or key cannot be loaded;
  // kFailedPrecondition when called twice or after Stop() (servers do not restart).
  // Installs the guard; must happen before Start().
  void SetGuard(Guard guard);

  Status Start();

  // The bound port, which differs from ServerOptions::port when that was 0.
  // REQUIRES: Start() succeeded (0 otherwise).
  uint16_t port() const;

  // Every route that answered at least one request, in (route, method)
  // order. A request counts once its response is written, which may be just
  // after the client has read it. Thread-safe; the counters are read without a lock, so a snapshot
  // taken while requests complete may be a request apart between fields.
  std::vector<RouteLatency> Latencies() const;

  // Stops accepting, closes every connection (responses in flight are dropped) and
  // joins the worker threads; returns once handlers have returned. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lok::http
