#include "http/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace lok::http {

std::optional<std::string> Request::QueryParam(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 413;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

Response ErrorResponse(const Status& status) {
  return JsonError(HttpStatusFor(status), status.message());
}

Response JsonError(int status, std::string_view message) {
  boost::json::value body = {
      {"error", {{"code", status}, {"message", boost::json::string_view(message)}}}};
  Response response;
  response.status = status;
  response.body = boost::json::serialize(body);
  return response;
}

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// How long a connection that is closed after an error response keeps reading (and
// discarding) what the client still sends. Closing a socket with unread input makes
// the kernel send a reset, which can destroy the error response before the client
// reads it (e.g. a client still uploading an oversized body).
constexpr std::chrono::seconds kMaxLingerTime{5};
// Wait before accepting again after accept() fails (e.g. out of file descriptors).
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

std::string_view ToStd(beast::string_view view) { return {view.data(), view.size()}; }

std::string ToLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

bool HasLineBreak(std::string_view text) { return text.find_first_of("\r\n") != text.npos; }

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

constexpr std::array<double, 16> kLatencyBounds = {0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005,
                                                   0.0075, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5, 1.0, 2.5, 10.0};

// One route's request durations (RouteLatency), updated lock-free by every
// worker thread.
class LatencyCounters {
 public:
  void Record(std::chrono::steady_clock::duration elapsed) {
    const int64_t nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
    const double seconds = static_cast<double>(nanos) * 1e-9;
    const auto bucket = static_cast<size_t>(
        std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds) -
        kLatencyBounds.begin());
    if (bucket < kLatencyBounds.size()) buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_nanos_.fetch_add(static_cast<uint64_t>(std::max<int64_t>(nanos, 0)),
                         std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
  }

  RouteLatency Snapshot(std::string method, std::string route) const {
    RouteLatency latency{.method = std::move(method), .route = std::move(route)};
    uint64_t cumulative = 0;
    for (const std::atomic<uint64_t>& bucket : buckets_) {
      cumulative += bucket.load(std::memory_order_relaxed);
      latency.cumulative.push_back(cumulative);
    }
    latency.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) * 1e-9;
    latency.count = std::max(count_.load(std::memory_order_relaxed), cumulative);
    return latency;
  }

  bool Empty() const { return count_.load(std::memory_order_relaxed) == 0; }

 private:
  std::array<std::atomic<uint64_t>, kLatencyBounds.size()> buckets_{};
  std::atomic<uint64_t> sum_nanos_{0};
  std::atomic<uint64_t> count_{0};
};

// Maps (method, path) to handlers; see Server::Handle for the matching rules.
// Thread-safety: Add() only before concurrent Find() calls begin.
class Router {
 public:
  struct Match {
    const Handler* handler = nullptr;  // null: no route for this method
    std::string allowed_methods;       // when handler is null: "" -> 404, else the Allow value
    LatencyCounters* latency = nullptr;  // the route's, or the unmatched requests'
  };

  void Add(std::string method, std::string path, Handler handler) {
    if (path.size() >= 2 && path.ends_with("/*")) {
      path.pop_back();  // keep the slash: "/v1/clients/*" -> prefix "/v1/clients/"
      prefix_routes_[std::move(path)][std::move(method)].handler = std::move(handler);
    } else {
      exact_routes_[std::move(path)][std::move(method)].handler = std::move(handler);
    }
  }

  // See Server::Latencies.
  std::vector<RouteLatency> Latencies() const {
    std::vector<RouteLatency> result;
    if (!unmatched_.Empty()) result.push_back(unmatched_.Snapshot("", ""));
    const auto add = [&](const auto& routes, bool prefix) {
      for (const auto& [path, methods] : routes) {
        for (const auto& [method, route] : methods) {
          if (route.latency->Empty()) continue;
          result.push_back(route.latency->Snapshot(method, prefix ? path + "*" : path));
        }
      }
    };
    add(exact_routes_, false);
    add(prefix_routes_, true);
    std::sort(result.begin(), result.end(), [](const RouteLatency& a, const RouteLatency& b) {
      return std::tie(a.route, a.method) < std::tie(b.route, b.method);
    });
    return result;
  }

  void SetGuard(Guard guard) { guard_ = std::move(guard); }
  const Guard& guard() const { return guard_; }

  Match Find(std::string_view method, std::string_view path) const {
    std::vector<const MethodMap*> candidates;  // best first
    if (auto exact = exact_routes_.find(path); exact != exact_routes_.end()) {
      candidates.push_back(&exact->second);
    }
    std::vector<std::pair<size_t, const MethodMap*>> prefixes;
    for (const auto& [prefix, methods] : prefix_routes_) {
      if (path.size() > prefix.size() && path.starts_with(prefix)) {
        prefixes.emplace_back(prefix.size(), &methods);
      }
    }
    std::sort(prefixes.begin(), prefixes.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [length, methods] : prefixes) candidates.push_back(methods);

    std::vector<std::string_view> allowed;
    for (const MethodMap* methods : candidates) {
      if (auto route = methods->find(method); route != methods->end()) {
        Match match;
        match.handler = &route->second.handler;
        match.latency = route->second.latency.get();
        return match;
      }
      for (const auto& [name, route] : *methods) allowed.push_back(name);
    }
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    Match match;
    match.latency = &unmatched_;
    for (std::string_view name : allowed) {
      if (!match.allowed_methods.empty()) match.allowed_methods += ", ";
      match.allowed_methods += name;
    }
    return match;
  }

 private:
  struct Route {
    Handler handler;
    // Behind a pointer: the counters are atomics and must not move.
    std::unique_ptr<LatencyCounters> latency = std::make_unique<LatencyCounters>();
  };
  using MethodMap = std::map<std::string, Route, std::less<>>;
  std::map<std::string, MethodMap, std::less<>> exact_routes_;
  std::map<std::string, MethodMap, std::less<>> prefix_routes_;
  Guard guard_;
  mutable LatencyCounters unmatched_;
};

// Converts a parsed Beast request. Fails when the target is not a valid origin-form
// (or absolute-form) request target.
StatusOr<Request> ToRequest(bhttp::request<bhttp::string_body>&& message) {
  std::string_view target = ToStd(message.target());
  auto url = boost::urls::parse_origin_form(target);
  if (!url) url = boost::urls::parse_absolute_uri(target);
  if (!url) return InvalidArgumentError("malformed request target '" + std::string(target) + "'");

  Request request;
  request.method = std::string(ToStd(message.method_string()));
  request.path = url->path();
  if (request.path.empty()) request.path = "/";
  for (const auto& param : url->params()) {
    request.query.emplace_back(param.key, param.value);
  }
  for (const auto& field : message) {
    std::string name = ToLower(ToStd(field.name_string()));
    auto [entry, inserted] = request.headers.try_emplace(std::move(name), ToStd(field.value()));
    if (!inserted) {
      entry->second += ", ";
      entry->second += ToStd(field.value());
    }
  }
  request.body = std::move(message.body());
  return request;
}

// Checks what Beast would otherwise reject with an exception, or send verbatim.
Status ValidateResponse(const Response& response) {
  if (response.status < 100 || response.status > 599) {
    return InvalidArgumentError("status " + std::to_string(response.status) +
                                " is outside 100..599");
  }
  if (HasLineBreak(response.content_type)) return InvalidArgumentError("content_type has CR/LF");
  for (const auto& [name, value] : response.headers) {
    if (name.empty() || HasLineBreak(name) || name.find(':') != name.npos) {
      return InvalidArgumentError("invalid header name '" + name + "'");
    }
    if (HasLineBreak(value)) return InvalidArgumentError("header " + name + " has CR/LF");
  }
  return Status::Ok();
}

// What the registry needs of a connection, whatever its stream (TCP or TLS).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Thread-safe: closes the connection on its strand.
  virtual void Close() = 0;
};

// The open connections, so that Stop() can close them.
// Thread-safety: all methods are thread-safe.
class ConnectionRegistry {
 public:
  // Returns false (and keeps nothing) once CloseAll() has begun.
  bool Add(const std::shared_ptr<SessionBase>& session) {
    std::lock_guard lock(mutex_);
    if (closing_) return false;
    sessions_.emplace(session.get(), session);
    return true;
  }

  void Remove(const SessionBase* session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
  }

  // Refuses further Add() calls and asks every open session to close.
  void CloseAll();

 private:
  std::mutex mutex_;
  bool closing_ = false;
  std::unordered_map<const SessionBase*, std::weak_ptr<SessionBase>> sessions_;
};

// One connection: reads a request, answers it, and repeats while keep-alive holds.
// Every member function except Close() runs on the connection's strand.
// `Stream` is beast::tcp_stream (plain HTTP) or beast::ssl_stream over it (TLS).
template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(Stream stream, const Router& router, const ServerOptions& options,
          ConnectionRegistry& registry)
      : stream_(std::move(stream)),
        router_(router),
        options_(options),
        registry_(registry),
        request_timer_(stream_.get_executor()) {}

  ~Session() { registry_.Remove(this); }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Lowest().expires_after(self->options_.read_timeout);
        self->stream_.async_handshake(net::ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) {
            spdlog::debug("http: TLS handshake failed: {}", ec.message());
            return self->CloseNow();
          }
          self->DoRead();
        });
      } else {
        self->DoRead();
      }
    });
  }

  // Thread-safe: closes the connection on its strand; pending operations are aborted.
  void Close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->CloseNow(); });
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(options_.max_body_bytes));
    // One deadline for the header and body together. Its own timer, not the
    // stream's expiry (which closes the socket), so that a client that is too
    // slow can still be told why (408).
    Lowest().expires_never();
    timed_out_ = false;
    request_timer_.expires_after(options_.read_timeout);
    request_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the request arrived, or the connection closed
      self->timed_out_ = true;
      beast::error_code ignored;
      self->Lowest().socket().cancel(ignored);
    });
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->OnReadHeader(ec);
                             });
  }

  void OnReadHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    // Clients such as curl send "Expect: 100-continue" before a large body and wait
    // (curl: one second) for this interim response before sending it.
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(
          stream_, net::buffer(kContinue.data(), kContinue.size()),
          [self = this->shared_from_this()](beast::error_code write_ec, std::size_t) {
            if (write_ec) return self->CloseNow();
            self->DoReadBody();
          });
    }
    DoReadBody();
  }

  void DoReadBody() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    request_timer_.cancel();
    if (ec && timed_out_) {
      // Idle between requests: close quietly; part of a request received: say why.
      if (buffer_.size() == 0 && !parser_->got_some()) return CloseNow();
      return SendErrorAndClose(408, "request not received completely within the read timeout of " +
                                        std::to_string(options_.read_timeout.count()) +
                                        " s (--http-read-timeout)");
    }
    if (ec == bhttp::error::end_of_stream) return CloseNow();  // client closed between requests
    if (ec == bhttp::error::body_limit) {
      return SendErrorAndClose(413, "request body exceeds the limit of " +
                                        std::to_string(options_.max_body_bytes) +
                                        " bytes (--max-body-bytes)");
    }
    if (ec == bhttp::error::header_limit) {
      return SendErrorAndClose(431, "request header fields too large");
    }
    if (ec && ec != bhttp::error::partial_message && IsParseError(ec)) {
      spdlog::debug("http: malformed request: {}", ec.message());
      return SendErrorAndClose(400, "malformed HTTP request: " + ec.message());
    }
    if (ec) return CloseNow();  // timeout, reset, aborted by Stop(), truncated request

    bhttp::request<bhttp::string_body> message = parser_->release();
    const unsigned version = message.version();
    const bool keep_alive = message.keep_alive();
    StatusOr<Request> request = ToRequest(std::move(message));
    if (!request.ok()) return SendErrorAndClose(400, request.status().message());
    request_started_ = std::chrono::steady_clock::now();
    Send(Dispatch(*request), version, keep_alive, /*linger=*/false);
  }

  // Sets latency_ to the counters the request's duration goes to.
  Response Dispatch(Request& request) {
    Router::Match match = router_.Find(request.method, request.path);
    latency_ = match.latency;
    if (match.handler == nullptr) {
      if (match.allowed_methods.empty()) return JsonError(404, "no route for " + request.path);
      Response response =
          JsonError(405, "method " + request.method + " not allowed for " + request.path);
      response.headers.emplace_back("Allow", std::move(match.allowed_methods));
      return response;
    }
    Response response;
    try {
      if (router_.guard()) {
        if (std::optional<Response> refused = router_.guard()(request)) return *refused;
      }
      response = (*match.handler)(request);
    } catch (const std::exception& e) {
      spdlog::error("http: handler for {} {} threw: {}", request.method, request.path, e.what());
      return JsonError(500, "internal error");
    } catch (...) {
      spdlog::error("http: handler for {} {} threw a non-standard exception", request.method,
                    request.path);
      return JsonError(500, "internal error");
    }
    if (Status valid = ValidateResponse(response); !valid.ok()) {
      spdlog::error("http: handler for {} {} returned an invalid response: {}", request.method,
                    request.path, valid.message());
      return JsonError(500, "internal error");
    }
    return response;
  }

  void SendErrorAndClose(int status, const std::string& message) {
    Send(JsonError(status, message), 11, /*keep_alive=*/false, /*linger=*/true);
  }

  // Writes `response`; then reads the next request, or closes the connection when
  // keep-alive is off (after lingering when `linger`).
  void Send(Response response, unsigned version, bool keep_alive, bool linger) {
    auto& message = response_.emplace(static_cast<bhttp::status>(response.status), version);
    if (!response.content_type.empty()) {
      message.set(bhttp::field::content_type, response.content_type);
    }
    for (auto& [name, value] : response.headers) message.set(name, value);
    message.body() = std::move(response.body);
    message.keep_alive(keep_alive);
    message.prepare_payload();
    Lowest().expires_after(options_.read_timeout);
    bhttp::async_write(stream_, message,
                       [self = this->shared_from_this(), linger](
                           beast::error_code ec, std::size_t) { self->OnWrite(ec, linger); });
  }

  void OnWrite(beast::error_code ec, bool linger) {
    if (latency_ != nullptr) {
      if (!ec) latency_->Record(std::chrono::steady_clock::now() - request_started_);
      latency_ = nullptr;
    }
    const bool close = response_->need_eof();
    response_.reset();
    if (ec) return CloseNow();
    if (!close) return DoRead();
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!linger) return CloseNow();
    Lowest().expires_after(
        std::min<std::chrono::steady_clock::duration>(options_.read_timeout, kMaxLingerTime));
    DoLinger();
  }

  // Discards input until the client closes its side or the linger deadline passes.
  void DoLinger() {
    stream_.async_read_some(net::buffer(linger_buffer_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->CloseNow();
                              self->DoLinger();
                            });
  }

  void CloseNow() {
    request_timer_.cancel();
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  Stream stream_;
  const Router& router_;
  const ServerOptions& options_;
  ConnectionRegistry& registry_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::array<char, 4096> linger_buffer_{};
  net::steady_timer request_timer_;  // the read deadline of the request being read
  bool timed_out_ = false;
  // The routed request being answered: when it was read, where its duration goes.
  std::chrono::steady_clock::time_point request_started_;
  LatencyCounters* latency_ = nullptr;
};

void ConnectionRegistry::CloseAll() {
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    for (const auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
  }
  // Outside the lock: dropping the last reference runs ~Session, which calls Remove().
  for (const auto& session : open) session->Close();
}

}  // namespace

class Server::Impl {
 public:
  explicit Impl(ServerOptions options)
      : options_(std::move(options)),
        io_context_(std::max(options_.threads, 1)),
        acceptor_(net::make_strand(io_context_)),
        accept_retry_timer_(acceptor_.get_executor()) {}

  ~Impl() { Stop(); }

  void Handle(std::string method, std::string path, Handler handler) {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) {
      spdlog::error("http: Handle({}, {}) after Start() is ignored", method, path);
      return;
    }
    router_.Add(std::move(method), std::move(path), std::move(handler));
  }

  void SetGuard(Guard guard) {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) {
      spdlog::error("http: SetGuard() after Start() is ignored");
      return;
    }
    router_.SetGuard(std::move(guard));
  }

  Status Start() {
    std::lock_guard lock(lifecycle_mutex_);
    if (started_) return FailedPreconditionError("http server: Start() called twice");
    if (stopped_) return FailedPreconditionError("http server: cannot restart after Stop()");
    if (options_.threads < 1) {
      return InvalidArgumentError("http server: threads must be >= 1, got " +
                                  std::to_string(options_.threads));
    }
    const std::string where = options_.address + ":" + std::to_string(options_.port);
    LOK_RETURN_IF_ERROR(LoadTls());
    LOK_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveListenEndpoint());

    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    tcp::endpoint local;
    if (!ec) local = acceptor_.local_endpoint(ec);
    if (ec) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      return UnavailableError("http server: cannot listen on " + where + ": " + ec.message());
    }
    port_ = local.port();
    started_ = true;

    DoAccept();
    threads_.reserve(static_cast<size_t>(options_.threads));
    for (int i = 0; i < options_.threads; ++i) {
      threads_.emplace_back([this] { RunWorker(); });
    }
    spdlog::info("http: listening on {}:{} with {} threads{}", options_.address, port_,
                 options_.threads, tls_context_ ? " (TLS)" : "");
    return Status::Ok();
  }

  uint16_t port() const { return port_; }

  std::vector<RouteLatency> Latencies() const { return router_.Latencies(); }

  void Stop() {
    std::lock_guard lock(lifecycle_mutex_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_retry_timer_.cancel();
    });
    registry_.CloseAll();
    // With the acceptor and every connection closed, io_context runs out of work and
    // the workers return once the handlers in progress finish.
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
    beast::error_code ignored;
    acceptor_.close(ignored);  // in case the posted close never ran; no thread runs now
  }

 private:
  // The TLS context from the certificate and key files, when both are set.
  Status LoadTls() {
    if (options_.tls_cert_file.empty() && options_.tls_key_file.empty()) return Status::Ok();
    if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
      return InvalidArgumentError(
          "http server: TLS needs both a certificate (--tls-cert) and a "
          "private key (--tls-key)");
    }
    auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                         net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                         net::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    context->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec) {
      return InvalidArgumentError("--tls-cert " + options_.tls_cert_file +
                                  ": not a readable PEM certificate chain: " + ec.message());
    }
    context->use_private_key_file(options_.tls_key_file, net::ssl::context::pem, ec);
    if (ec) {
      return InvalidArgumentError(
          "--tls-key " + options_.tls_key_file +
          ": not a readable PEM private key for the certificate: " + ec.message());
    }
    tls_context_ = std::move(context);
    return Status::Ok();
  }

  StatusOr<tcp::endpoint> ResolveListenEndpoint() {
    beast::error_code ec;
    net::ip::address address = net::ip::make_address(options_.address, ec);
    if (!ec) return tcp::endpoint(address, options_.port);
    tcp::resolver resolver(io_context_);
    auto results = resolver.resolve(options_.address, std::to_string(options_.port),
                                    tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return InvalidArgumentError("http server: address '" + options_.address +
                                  "' does not resolve: " + ec.message());
    }
    return results.begin()->endpoint();
  }

  void DoAccept() {
    acceptor_.async_accept(
        net::make_strand(io_context_),
        [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
  }

  // Runs on the acceptor's strand.
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;  // Stop()
    if (ec) {
      spdlog::warn("http: accept failed: {}; retrying", ec.message());
      accept_retry_timer_.expires_after(kAcceptRetryDelay);
      accept_retry_timer_.async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec && acceptor_.is_open()) DoAccept();
      });
      return;
    }
    if (tls_context_) {
      auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_context_),
          router_, options_, registry_);
      if (registry_.Add(session)) session->Start();
    } else {
      auto session = std::make_shared<Session<beast::tcp_stream>>(
          beast::tcp_stream(std::move(socket)), router_, options_, registry_);
      if (registry_.Add(session)) session->Start();
    }
    DoAccept();
  }

  void RunWorker() {
    for (;;) {
      try {
        io_context_.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("http: worker caught exception: {}", e.what());
      } catch (...) {
        spdlog::error("http: worker caught a non-standard exception");
      }
    }
  }

  // Destruction runs bottom-up: the acceptor goes before the io_context it uses, and
  // sessions still queued in the io_context are destroyed before the registry, router
  // and options they refer to.
  const ServerOptions options_;
  std::unique_ptr<net::ssl::context> tls_context_;  // set when serving TLS
  Router router_;
  ConnectionRegistry registry_;
  std::mutex lifecycle_mutex_;  // guards started_, stopped_, threads_
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<uint16_t> port_{0};
  std::vector<std::thread> threads_;
  net::io_context io_context_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_timer_;
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() = default;

void Server::SetGuard(Guard guard) { impl_->SetGuard(std::move(guard)); }

void Server::Handle(std::string method, std::string path, Handler handler) {
  impl_->Handle(std::move(method), std::move(path), std::move(handler));
}

Status Server::Start() {
  try {
    return impl_->Start();
  } catch (const std::exception& e) {  // e.g. std::system_error from std::thread
    Stop();
    return InternalError(std::string("http server: start failed: ") + e.what());
  }
}

uint16_t Server::port() const { return impl_->port(); }

std::vector<RouteLatency> Server::Latencies() const { return impl_->Latencies(); }

std::span<const double> LatencyBucketBounds() { return kLatencyBounds; }

void Server::Stop() { impl_->Stop(); }

}  // namespace lok::http
