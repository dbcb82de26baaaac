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
