#include "http/http_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace lok::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

constexpr std::uint64_t kMaxResponseBodyBytes = std::uint64_t{1} << 30;

std::string_view ToStd(beast::string_view view) { return {view.data(), view.size()}; }

// RFC 9110 token characters, the only ones allowed in a method.
bool IsToken(std::string_view text) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  if (text.empty()) return false;
  for (char c : text) {
    const bool alphanumeric =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alphanumeric && kSymbols.find(c) == kSymbols.npos) return false;
  }
  return true;
}

struct Target {
  std::string host;            // without brackets, percent-decoded
  std::string port;            // decimal
  std::string host_header;     // host[:port] as written in the URL
  std::string request_target;  // "/path?query"
};

StatusOr<Target> ParseUrl(std::string_view url) {
  const std::string quoted = "url '" + std::string(url) + "'";
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return InvalidArgumentError(quoted + ": not an absolute URL: " + parsed.error().message());
  }
  if (parsed->scheme_id() != boost::urls::scheme::http) {
    return InvalidArgumentError(quoted + ": only http:// URLs are supported");
  }
  Target target;
  target.host = parsed->host_address();
  if (target.host.empty()) return InvalidArgumentError(quoted + ": no host");
  if (parsed->has_port()) {
    if (parsed->port_number() == 0) return InvalidArgumentError(quoted + ": invalid port");
    target.port = std::to_string(parsed->port_number());
  } else {
    target.port = "80";
  }
  target.host_header = std::string(parsed->encoded_host_and_port());
  target.request_target = std::string(parsed->encoded_path());
  if (target.request_target.empty()) target.request_target = "/";
  if (parsed->has_query()) {
    target.request_target += '?';
    target.request_target += std::string_view(parsed->encoded_query());
  }
  return target;
}

// One request/response exchange driven by a private, single-threaded io_context, with
// a deadline over the whole exchange.
class Exchange {
 public:
  Exchange(std::string url, Target target, bhttp::request<bhttp::string_body> request,
           std::chrono::milliseconds timeout)
      : url_(std::move(url)),
        target_(std::move(target)),
        request_(std::move(request)),
        timeout_(timeout) {
    parser_.body_limit(kMaxResponseBodyBytes);
  }

  StatusOr<ClientResponse> Run() {
    deadline_.expires_after(timeout_);
    deadline_.async_wait([this](beast::error_code ec) {
      if (ec || result_.has_value()) return;  // cancelled: the exchange finished first
      timed_out_ = true;
      resolver_.cancel();
      stream_.close();  // aborts the pending connect, write or read
    });

    beast::error_code ec;
    net::ip::address address = net::ip::make_address(target_.host, ec);
    if (!ec) {
      // Numeric host: no lookup, so the deadline covers everything.
      auto port = static_cast<net::ip::port_type>(std::stoul(target_.port));
      stream_.async_connect(tcp::endpoint(address, port),
                            [this](beast::error_code connect_ec) { OnConnect(connect_ec); });
    } else {
      resolver_.async_resolve(
          target_.host, target_.port,
          [this](beast::error_code resolve_ec, const tcp::resolver::results_type& endpoints) {
            OnResolve(resolve_ec, endpoints);
          });
    }
    io_context_.run();
    if (!result_.has_value()) return InternalError("fetch " + url_ + ": exchange did not finish");
    return std::move(*result_);
  }

 private:
  void OnResolve(beast::error_code ec, const tcp::resolver::results_type& endpoints) {
    // A lookup already running when the deadline passed still completes normally.
    if (ec || timed_out_) {
      return Fail(UnavailableError("resolve " + target_.host + ": " + ec.message()));
    }
    stream_.async_connect(endpoints, [this](beast::error_code connect_ec, const tcp::endpoint&) {
      OnConnect(connect_ec);
    });
  }

  void OnConnect(beast::error_code ec) {
    if (ec) {
      return Fail(UnavailableError("connect to " + target_.host_header + ": " + ec.message()));
    }
    bhttp::async_write(stream_, request_,
                       [this](beast::error_code write_ec, std::size_t) { OnWrite(write_ec); });
  }

  void OnWrite(beast::error_code ec) {
    // A server may answer early (e.g. 413) and close while the body is still being
    // sent; the response can still be read, so a broken write is only reported when
    // reading fails as well.
    if (ec && ec != net::error::broken_pipe && ec != net::error::connection_reset) {
      return Fail(UnavailableError("send to " + target_.host_header + ": " + ec.message()));
    }
    bhttp::async_read(stream_, buffer_, parser_,
                      [this](beast::error_code read_ec, std::size_t) { OnRead(read_ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return Fail(ResourceExhaustedError("fetch " + url_ + ": response body exceeds " +
                                         std::to_string(kMaxResponseBodyBytes) + " bytes"));
    }
    if (ec && ec != bhttp::error::partial_message && ec != bhttp::error::end_of_stream &&
        ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
      return Fail(InternalError("fetch " + url_ + ": malformed response: " + ec.message()));
    }
    if (ec) {
      return Fail(UnavailableError("read from " + target_.host_header + ": " + ec.message()));
    }
    bhttp::response<bhttp::string_body> message = parser_.release();
    ClientResponse response;
    response.status = static_cast<int>(message.result_int());
    response.content_type = std::string(ToStd(message[bhttp::field::content_type]));
    response.body = std::move(message.body());
    Finish(std::move(response));
  }

  void Fail(Status status) {
    if (timed_out_) {
      status = DeadlineExceededError("fetch " + url_ + ": no response within " +
                                     std::to_string(timeout_.count()) + " ms");
    }
    Finish(std::move(status));
  }

  void Finish(StatusOr<ClientResponse> result) {
    result_.emplace(std::move(result));
    deadline_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  const std::string url_;
  const Target target_;
  bhttp::request<bhttp::string_body> request_;
  const std::chrono::milliseconds timeout_;
  bool timed_out_ = false;
  std::optional<StatusOr<ClientResponse>> result_;
  net::io_context io_context_{1};
  tcp::resolver resolver_{io_context_};
  beast::tcp_stream stream_{io_context_};
  net::steady_timer deadline_{io_context_};
  beast::flat_buffer buffer_;
  bhttp::response_parser<bhttp::string_body> parser_;
};

StatusOr<ClientResponse> FetchOrThrow(
    std::string_view method, std::string_view url, std::string_view body,
    std::string_view content_type, std::chrono::milliseconds timeout,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  LOK_ASSIGN_OR_RETURN(Target target, ParseUrl(url));
  if (!IsToken(method)) {
    return InvalidArgumentError("fetch " + std::string(url) + ": invalid method '" +
                                std::string(method) + "'");
  }
  if (content_type.find_first_of("\r\n") != content_type.npos) {
    return InvalidArgumentError("fetch " + std::string(url) + ": content type has CR/LF");
  }
  bhttp::request<bhttp::string_body> request;
  request.version(11);
  request.method_string(method);
  request.target(target.request_target);
  request.set(bhttp::field::host, target.host_header);
  request.set(bhttp::field::user_agent, "lok-http-client");
  for (const auto& [name, value] : headers) {
    if (name.find_first_of("\r\n:") != name.npos || value.find_first_of("\r\n") != value.npos) {
      return InvalidArgumentError("fetch " + std::string(url) + ": header " + name + " has CR/LF");
    }
    request.set(name, value);
  }
  if (!body.empty()) {
    request.set(bhttp::field::content_type, content_type);
    request.body() = std::string(body);
  }
  request.keep_alive(false);
  request.prepare_payload();
  Exchange exchange(std::string(url), std::move(target), std::move(request), timeout);
  return exchange.Run();
}

}  // namespace

class Connection::Impl {
 public:
  Impl(std::string base_url, tcp::endpoint endpoint, std::string host_header,
       std::chrono::milliseconds timeout)
      : base_url_(std::move(base_url)),
        endpoint_(endpoint),
        host_header_(std::move(host_header)),
        timeout_(timeout) {}

  StatusOr<ClientResponse> Get(std::string_view target) {
    request_ = {};
    request_.version(11);
    request_.method(bhttp::verb::get);
    request_.target({target.data(), target.size()});
    request_.set(bhttp::field::host, host_header_);
    request_.set(bhttp::field::user_agent, "lok-http-client");
    request_.keep_alive(true);
    const bool was_connected = connected_;
    StatusOr<ClientResponse> response = Exchange(target);
    // A server may close an idle keep-alive connection at any time: the
    // first request on a reused connection then fails before any answer.
    if (!response.ok() && was_connected && !timed_out_ &&
        response.status().code() == StatusCode::kUnavailable) {
      response = Exchange(target);
    }
    return response;
  }

 private:
  StatusOr<ClientResponse> Exchange(std::string_view target) {
    const std::string url = base_url_ + std::string(target);
    result_.reset();
    timed_out_ = false;
    parser_.emplace();
    parser_->body_limit(kMaxResponseBodyBytes);
    io_context_.restart();
    deadline_.expires_after(timeout_);
    deadline_.async_wait([this](beast::error_code ec) {
      if (ec || result_.has_value()) return;
      timed_out_ = true;
      Drop();
    });
    if (connected_) {
      Send(url);
    } else {
      stream_.async_connect(endpoint_, [this, url](beast::error_code ec) {
        if (ec) return Fail(UnavailableError("connect to " + host_header_ + ": " + ec.message()));
        connected_ = true;
        Send(url);
      });
    }
    io_context_.run();
    if (!result_.has_value()) return InternalError("fetch " + url + ": exchange did not finish");
    if (timed_out_) {
      return DeadlineExceededError("fetch " + url + ": no response within " +
                                   std::to_string(timeout_.count()) + " ms");
    }
    return std::move(*result_);
  }

  void Send(const std::string& url) {
    bhttp::async_write(stream_, request_, [this, url](beast::error_code ec, std::size_t) {
      if (ec) return Fail(UnavailableError("send to " + host_header_ + ": " + ec.message()));
      bhttp::async_read(stream_, buffer_, *parser_,
                        [this, url](beast::error_code read_ec, std::size_t) {
                          OnRead(url, read_ec);
                        });
    });
  }

  void OnRead(const std::string& url, beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return Fail(ResourceExhaustedError("fetch " + url + ": response body exceeds " +
                                         std::to_string(kMaxResponseBodyBytes) + " bytes"));
    }
    if (ec && ec != bhttp::error::end_of_stream &&
        ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
      return Fail(InternalError("fetch " + url + ": malformed response: " + ec.message()));
    }
    if (ec) return Fail(UnavailableError("read from " + host_header_ + ": " + ec.message()));
    bhttp::response<bhttp::string_body> message = parser_->release();
    ClientResponse response;
    response.status = static_cast<int>(message.result_int());
    response.content_type = std::string(ToStd(message[bhttp::field::content_type]));
    response.body = std::move(message.body());
    if (!message.keep_alive()) Drop();
    Finish(std::move(response));
  }

  // A failed exchange leaves the stream in an unknown state: reconnect next time.
  void Fail(Status status) {
    Drop();
    Finish(std::move(status));
  }

  void Finish(StatusOr<ClientResponse> result) {
    result_.emplace(std::move(result));
    deadline_.cancel();
  }

  void Drop() {
    if (!connected_) {
      stream_.close();  // aborts a pending connect
      return;
    }
    connected_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    buffer_.clear();
  }

  const std::string base_url_;
  const tcp::endpoint endpoint_;
  const std::string host_header_;
  const std::chrono::milliseconds timeout_;
  bool connected_ = false;
  bool timed_out_ = false;
  std::optional<StatusOr<ClientResponse>> result_;
  net::io_context io_context_{1};
  beast::tcp_stream stream_{io_context_};
  net::steady_timer deadline_{io_context_};
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::empty_body> request_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
};

StatusOr<std::unique_ptr<Connection>> Connection::Open(std::string_view base_url,
                                                       std::chrono::milliseconds timeout) {
  LOK_ASSIGN_OR_RETURN(Target target, ParseUrl(base_url));
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(target.host, ec);
  if (ec) {
    return InvalidArgumentError("url '" + std::string(base_url) +
                                "': a connection needs a numeric host");
  }
  if (target.request_target != "/") {
    return InvalidArgumentError("url '" + std::string(base_url) +
                                "': a connection's URL has no path or query");
  }
  const tcp::endpoint endpoint(address, static_cast<net::ip::port_type>(std::stoul(target.port)));
  std::string base(base_url);
  if (base.ends_with('/')) base.pop_back();
  return std::unique_ptr<Connection>(new Connection(
      std::make_unique<Impl>(std::move(base), endpoint, std::move(target.host_header), timeout)));
}

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() = default;

StatusOr<ClientResponse> Connection::Get(std::string_view target) {
  try {
    return impl_->Get(target);
  } catch (const std::exception& e) {
    return InternalError("fetch " + std::string(target) + ": " + e.what());
  }
}

StatusOr<ClientResponse> Fetch(std::string_view method, std::string_view url, std::string_view body,
                               std::string_view content_type, std::chrono::milliseconds timeout) {
  return Fetch(method, url, body, content_type, timeout, {});
}

std::vector<std::pair<std::string, std::string>> BearerHeader(std::string_view token) {
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + std::string(token)}};
}

StatusOr<ClientResponse> Fetch(std::string_view method, std::string_view url, std::string_view body,
                               std::string_view content_type, std::chrono::milliseconds timeout,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  try {
    return FetchOrThrow(method, url, body, content_type, timeout, headers);
  } catch (const std::exception& e) {
    return InternalError("fetch " + std::string(url) + ": " + e.what());
  }
}

}  // namespace lok::http
