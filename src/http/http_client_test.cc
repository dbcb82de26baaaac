#include "http/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <thread>

#include "http/http_server.h"

namespace lok::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

Response Echo(const Request& request) {
  Response response;
  response.content_type = "text/plain";
  response.body = request.path + (request.query.empty() ? "" : "?" + request.query[0].first);
  return response;
}

TEST(ConnectionTest, ManyGetsOnOneConnectionAnswerInOrder) {
  Server server({});
  server.Handle("GET", "/v1/*", Echo);
  ASSERT_TRUE(server.Start().ok());
  auto connection = Connection::Open("http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(connection.ok()) << connection.status().ToString();
  for (int i = 0; i < 20; ++i) {
    const std::string target = "/v1/n" + std::to_string(i) + "?x";
    auto response = (*connection)->Get(target);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, target);
  }
  auto missing = (*connection)->Get("/elsewhere");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  server.Stop();
}

// A server that answers `per_connection` requests on each connection it
// accepts and then closes it without saying so (as an idle timeout does),
// counting the connections.
class ClosingServer {
 public:
  explicit ClosingServer(int per_connection)
      : acceptor_(io_context_, {net::ip::make_address("127.0.0.1"), 0}),
        thread_([this, per_connection] { Serve(per_connection); }) {}
  ~ClosingServer() {
    stop_ = true;
    beast::error_code ignored;
    tcp::socket poke(io_context_);
    poke.connect(acceptor_.local_endpoint(), ignored);  // unblocks accept
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_.load(); }

 private:
  void Serve(int per_connection) {
    while (!stop_) {
      beast::error_code ec;
      tcp::socket socket(io_context_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      ++accepted_;
      beast::flat_buffer buffer;
      for (int served = 0; served < per_connection; ++served) {
        bhttp::request<bhttp::string_body> request;
        bhttp::read(socket, buffer, request, ec);
        if (ec) break;
        bhttp::response<bhttp::string_body> response(bhttp::status::ok, 11);
        response.body() = std::string(request.target());
        response.keep_alive(true);
        response.prepare_payload();
        bhttp::write(socket, response, ec);
        if (ec) break;
      }
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
    }
  }

  net::io_context io_context_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

TEST(ConnectionTest, ReusesTheConnectionAndReconnectsOnceTheServerClosedIt) {
  ClosingServer server(/*per_connection=*/2);
  auto connection = Connection::Open("http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_TRUE(connection.ok());
  for (int i = 0; i < 6; ++i) {
    const std::string target = "/r" + std::to_string(i);
    auto response = (*connection)->Get(target);
    ASSERT_TRUE(response.ok()) << i << ": " << response.status().ToString();
    EXPECT_EQ(response->body, target);
  }
  // Two requests per connection: six requests need three, not six.
  EXPECT_EQ(server.accepted(), 3);
}

TEST(ConnectionTest, BadUrlsAndRefusedConnectionsAreErrors) {
  EXPECT_EQ(Connection::Open("http://localhost:8080").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Connection::Open("http://127.0.0.1:8080/v1/funnel").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Connection::Open("https://127.0.0.1:8080").status().code(),
            StatusCode::kInvalidArgument);
  // A port nothing listens on: bind one, remember it, close it.
  uint16_t port = 0;
  {
    net::io_context io_context;
    tcp::acceptor acceptor(io_context, {net::ip::make_address("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }
  auto connection = Connection::Open("http://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(connection.ok());
  auto response = (*connection)->Get("/");
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find("connect"), std::string::npos);
}

}  // namespace
}  // namespace lok::http
