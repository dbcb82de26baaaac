#include "http/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "http/http_client.h"

namespace lok::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using ::testing::HasSubstr;

std::string Url(const Server& server, std::string_view target) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + std::string(target);
}

// The error object of a JsonError body, e.g. {"code":404,"message":"..."}.
boost::json::object ErrorOf(const ClientResponse& response) {
  return boost::json::parse(response.body).as_object().at("error").as_object();
}

// A plain TCP connection for what Fetch cannot do: keep-alive, raw bytes, headers.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : socket_(io_context_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
  }

  void Send(std::string_view bytes) { net::write(socket_, net::buffer(bytes)); }

  bhttp::response<bhttp::string_body> ReadResponse() {
    bhttp::response<bhttp::string_body> response;
    bhttp::read(socket_, buffer_, response);
    return response;
  }

  // True when the server has closed the connection (nothing more to read).
  bool ReadsEof() {
    char byte = 0;
    beast::error_code ec;
    socket_.read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context io_context_;
  net::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
};

Response Text(std::string body) {
  Response response;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

// The latency of one (method, route) from Latencies(); fails the test when absent.
RouteLatency LatencyOf(const Server& server, std::string_view method, std::string_view route) {
  for (RouteLatency& latency : server.Latencies()) {
    if (latency.method == method && latency.route == route) return latency;
  }
  ADD_FAILURE() << "no latency for " << method << " " << route;
  return {};
}

TEST(HttpServerTest, CountsEachRoutesRequestDurationsInCumulativeBuckets) {
  Server server({});
  server.Handle("GET", "/fast", [](const Request&) { return Text("fast"); });
  // Works 3 ms: its durations can never fall in the buckets up to 2 ms.
  server.Handle("GET", "/slow", [](const Request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    return Text("slow");
  });
  server.Handle("GET", "/v1/clients/*", [](const Request&) { return Text("client"); });
  server.Handle("GET", "/never", [](const Request&) { return Text("never"); });
  ASSERT_TRUE(server.Start().ok());
  EXPECT_TRUE(server.Latencies().empty());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Fetch("GET", Url(server, "/fast")).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Fetch("GET", Url(server, "/slow")).ok());
  ASSERT_TRUE(Fetch("GET", Url(server, "/v1/clients/acme")).ok());
  ASSERT_TRUE(Fetch("GET", Url(server, "/v1/clients/globex")).ok());
  ASSERT_EQ(Fetch("GET", Url(server, "/nowhere"))->status, 404);
  ASSERT_EQ(Fetch("POST", Url(server, "/fast"))->status, 405);
  // A request is counted once the server's write completes, which may be
  // just after the client has read the response: wait for all 11.
  const auto counted = [&] {
    uint64_t total = 0;
    for (const RouteLatency& latency : server.Latencies()) total += latency.count;
    return total;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (counted() < 11 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }

  const std::span<const double> bounds = LatencyBucketBounds();
  ASSERT_FALSE(bounds.empty());
  EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));
  const std::vector<RouteLatency> all = server.Latencies();
  std::vector<std::string> routes;
  for (const RouteLatency& latency : all) {
    routes.push_back(latency.method + " " + latency.route);
    ASSERT_EQ(latency.cumulative.size(), bounds.size());
    EXPECT_TRUE(std::is_sorted(latency.cumulative.begin(), latency.cumulative.end()));
    EXPECT_LE(latency.cumulative.back(), latency.count);
  }
  // Routes that answered, in route order; 404 and 405 under the route "".
  EXPECT_THAT(routes, ::testing::ElementsAre(" ", "GET /fast", "GET /slow", "GET /v1/clients/*"));
  EXPECT_EQ(LatencyOf(server, "", "").count, 2u);
  EXPECT_EQ(LatencyOf(server, "GET", "/fast").count, 5u);
  EXPECT_EQ(LatencyOf(server, "GET", "/v1/clients/*").count, 2u);
  const RouteLatency slow = LatencyOf(server, "GET", "/slow");
  EXPECT_EQ(slow.count, 2u);
  EXPECT_GE(slow.sum_seconds, 0.006);
  for (size_t bucket = 0; bucket < bounds.size(); ++bucket) {
    if (bounds[bucket] < 0.003) {
      EXPECT_EQ(slow.cumulative[bucket], 0u) << bounds[bucket];
    }
  }
  server.Stop();
}

TEST(HttpServerTest, RoutesExactAndPrefixPaths) {
  Server server({});
  server.Handle("GET", "/v1/funnel", [](const Request&) { return Text("funnel"); });
  server.Handle("GET", "/v1/clients/*", [](const Request& request) { return Text(request.path); });
  server.Handle("GET", "/v1/clients/special", [](const Request&) { return Text("exact"); });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> funnel = Fetch("GET", Url(server, "/v1/funnel"));
  ASSERT_TRUE(funnel.ok()) << funnel.status().ToString();
  EXPECT_EQ(funnel->status, 200);
  EXPECT_EQ(funnel->body, "funnel");
  EXPECT_EQ(funnel->content_type, "text/plain");

  StatusOr<ClientResponse> client = Fetch("GET", Url(server, "/v1/clients/acme"));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(client->body, "/v1/clients/acme");

  StatusOr<ClientResponse> exact = Fetch("GET", Url(server, "/v1/clients/special"));
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(exact->body, "exact");
}

TEST(HttpServerTest, UnknownPathIs404NamingThePath) {
  Server server({});
  server.Handle("GET", "/v1/clients/*", [](const Request&) { return Text("client"); });
  ASSERT_TRUE(server.Start().ok());

  for (std::string path : {"/v1/nothing", "/v1/clients/", "/v1/clients"}) {
    StatusOr<ClientResponse> response = Fetch("GET", Url(server, path));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 404) << path;
    EXPECT_EQ(response->content_type, "application/json");
    boost::json::object error = ErrorOf(*response);
    EXPECT_EQ(error.at("code").as_int64(), 404);
    EXPECT_THAT(std::string(error.at("message").as_string()), HasSubstr(path));
  }
}

TEST(HttpServerTest, WrongMethodIs405WithAllowHeader) {
  Server server({});
  server.Handle("GET", "/v1/things", [](const Request&) { return Text("get"); });
  server.Handle("POST", "/v1/things", [](const Request&) { return Text("post"); });
  ASSERT_TRUE(server.Start().ok());

  RawConnection connection(server.port());
  connection.Send("DELETE /v1/things HTTP/1.1\r\nHost: test\r\n\r\n");
  bhttp::response<bhttp::string_body> response = connection.ReadResponse();
  EXPECT_EQ(response.result_int(), 405u);
  EXPECT_EQ(response[bhttp::field::allow], "GET, POST");
  EXPECT_EQ(boost::json::parse(response.body()).at("error").at("code").as_int64(), 405);
}

TEST(HttpServerTest, QueryIsParsedAndPercentDecodedInOrder) {
  Request seen;
  Server server({});
  server.Handle("GET", "/v1/echo path", [&seen](const Request& request) {
    seen = request;
    return Text("ok");
  });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> response =
      Fetch("GET", Url(server, "/v1/echo%20path?a=1&b=x%20y&a=2&c=p+q&flag"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  ASSERT_EQ(response->status, 200);
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.path, "/v1/echo path");
  using Param = std::pair<std::string, std::string>;
  EXPECT_THAT(seen.query,
              ::testing::ElementsAre(Param{"a", "1"}, Param{"b", "x y"}, Param{"a", "2"},
                                     Param{"c", "p q"}, Param{"flag", ""}));
  EXPECT_EQ(seen.QueryParam("a"), "1");
  EXPECT_EQ(seen.QueryParam("b"), "x y");
  EXPECT_EQ(seen.QueryParam("missing"), std::nullopt);
  EXPECT_EQ(seen.headers.at("user-agent"), "lok-http-client");
}

TEST(HttpServerTest, PostBodyIsEchoed) {
  Server server({});
  server.Handle("POST", "/v1/echo", [](const Request& request) {
    Response response;
    response.content_type = request.headers.at("content-type");
    response.body = request.body;
    return response;
  });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> response =
      Fetch("POST", Url(server, "/v1/echo"), R"({"deal":"d-1"})", "application/x-test");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"deal":"d-1"})");
  EXPECT_EQ(response->content_type, "application/x-test");
}

TEST(HttpServerTest, BodyOverLimitGets413WithJsonError) {
  Server server({.max_body_bytes = 1024});
  server.Handle("POST", "/v1/echo", [](const Request& request) { return Text(request.body); });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> at_limit =
      Fetch("POST", Url(server, "/v1/echo"), std::string(1024, 'a'));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().ToString();
  EXPECT_EQ(at_limit->status, 200);

  // Large enough that the server answers while the client is still sending.
  StatusOr<ClientResponse> over =
      Fetch("POST", Url(server, "/v1/echo"), std::string(4 * 1024 * 1024, 'a'));
  ASSERT_TRUE(over.ok()) << over.status().ToString();
  EXPECT_EQ(over->status, 413);
  EXPECT_EQ(over->content_type, "application/json");
  EXPECT_EQ(ErrorOf(*over).at("code").as_int64(), 413);
}

TEST(HttpServerTest, HandlerExceptionIs500AndServerKeepsServing) {
  std::atomic<int> calls{0};
  Server server({});
  server.Handle("GET", "/v1/flaky", [&calls](const Request&) -> Response {
    if (calls.fetch_add(1) == 0) throw std::runtime_error("store offline");
    return Text("recovered");
  });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> failed = Fetch("GET", Url(server, "/v1/flaky"));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  EXPECT_EQ(failed->status, 500);
  EXPECT_EQ(ErrorOf(*failed).at("code").as_int64(), 500);
  // The exception text is logged, not sent to the client.
  EXPECT_THAT(failed->body, ::testing::Not(HasSubstr("store offline")));

  StatusOr<ClientResponse> next = Fetch("GET", Url(server, "/v1/flaky"));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "recovered");
}

TEST(HttpServerTest, ResponseWithHeaderInjectionIs500) {
  Server server({});
  server.Handle("GET", "/v1/bad", [](const Request&) {
    Response response = Text("x");
    response.headers.emplace_back("X-Test", "a\r\nSet-Cookie: evil=1");
    return response;
  });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> response = Fetch("GET", Url(server, "/v1/bad"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 500);
}

TEST(HttpServerTest, ConcurrentRequestsAreAllAnswered) {
  Server server({.threads = 4});
  server.Handle("GET", "/v1/echo", [](const Request& request) {
    return Text(request.QueryParam("n").value_or("missing"));
  });
  ASSERT_TRUE(server.Start().ok());

  constexpr int kClients = 8;
  constexpr int kRequestsPerClient = 25;
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back([&server, &answered, client] {
      for (int i = 0; i < kRequestsPerClient; ++i) {
        std::string n = std::to_string(client * 1000 + i);
        StatusOr<ClientResponse> response = Fetch("GET", Url(server, "/v1/echo?n=" + n));
        if (response.ok() && response->status == 200 && response->body == n) ++answered;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(answered.load(), kClients * kRequestsPerClient);
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Server server({});
  server.Handle("GET", "/v1/ping", [](const Request&) { return Text("pong"); });
  ASSERT_TRUE(server.Start().ok());

  RawConnection connection(server.port());
  for (int i = 0; i < 3; ++i) {
    connection.Send("GET /v1/ping HTTP/1.1\r\nHost: test\r\n\r\n");
    bhttp::response<bhttp::string_body> response = connection.ReadResponse();
    EXPECT_EQ(response.result_int(), 200u);
    EXPECT_EQ(response.body(), "pong");
    EXPECT_TRUE(response.keep_alive());
  }
}

TEST(HttpServerTest, ExpectContinueGetsInterimResponseBeforeBody) {
  Server server({});
  server.Handle("POST", "/v1/echo", [](const Request& request) { return Text(request.body); });
  ASSERT_TRUE(server.Start().ok());

  RawConnection connection(server.port());
  connection.Send(
      "POST /v1/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  EXPECT_EQ(connection.ReadResponse().result_int(), 100u);
  connection.Send("hello");
  bhttp::response<bhttp::string_body> response = connection.ReadResponse();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "hello");
}

TEST(HttpServerTest, MalformedRequestIs400AndClosesConnection) {
  Server server({});
  ASSERT_TRUE(server.Start().ok());

  RawConnection connection(server.port());
  connection.Send("THIS IS NOT HTTP\r\n\r\n");
  bhttp::response<bhttp::string_body> response = connection.ReadResponse();
  EXPECT_EQ(response.result_int(), 400u);
  EXPECT_EQ(boost::json::parse(response.body()).at("error").at("code").as_int64(), 400);
  EXPECT_TRUE(connection.ReadsEof());
}

TEST(HttpServerTest, IdleConnectionIsClosedAfterReadTimeout) {
  Server server({.read_timeout = std::chrono::seconds(1)});
  ASSERT_TRUE(server.Start().ok());

  RawConnection connection(server.port());
  EXPECT_TRUE(connection.ReadsEof());  // blocks until the server gives up on us
}

TEST(HttpServerTest, SlowRequestGets408NamingTheReadTimeout) {
  Server server({.read_timeout = std::chrono::seconds(1)});
  server.Handle("POST", "/echo",
                [](const Request& request) { return Response{.body = request.body}; });
  ASSERT_TRUE(server.Start().ok());

  RawConnection connection(server.port());
  // The header and half the body, then nothing: the server gives up and says why.
  connection.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  bhttp::response<bhttp::string_body> response = connection.ReadResponse();
  EXPECT_EQ(response.result_int(), 408u);
  EXPECT_THAT(response.body(), HasSubstr("read timeout of 1 s (--http-read-timeout)"));
  EXPECT_TRUE(connection.ReadsEof());
}

// A self-signed certificate for 127.0.0.1, made by the openssl CLI now.
struct TestCertificate {
  std::filesystem::path cert;
  std::filesystem::path key;
};

TestCertificate MakeCertificate() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("lok-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  TestCertificate files{dir / "cert.pem", dir / "key.pem"};
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      files.key.string() + " -out " + files.cert.string() + " >/dev/null 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return files;
}

TEST(HttpServerTest, ServesTlsWithTheGivenCertificate) {
  const TestCertificate files = MakeCertificate();
  Server server({.tls_cert_file = files.cert.string(), .tls_key_file = files.key.string()});
  server.Handle("GET", "/hello", [](const Request&) { return Response{.body = "{\"tls\":true}"}; });
  ASSERT_TRUE(server.Start().ok());

  // A client that trusts only this certificate and checks it.
  net::io_context io_context;
  net::ssl::context context(net::ssl::context::tls_client);
  context.load_verify_file(files.cert.string());
  beast::ssl_stream<beast::tcp_stream> stream(io_context, context);
  stream.set_verify_mode(net::ssl::verify_peer);
  stream.set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
  beast::get_lowest_layer(stream).connect({net::ip::make_address("127.0.0.1"), server.port()});
  stream.handshake(net::ssl::stream_base::client);
  bhttp::request<bhttp::string_body> request{bhttp::verb::get, "/hello", 11};
  request.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response);
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "{\"tls\":true}");

  // Plain HTTP to the TLS port gets no HTTP answer.
  auto plain = Fetch("GET", Url(server, "/hello"), {}, "application/json", std::chrono::seconds(5));
  EXPECT_FALSE(plain.ok() && plain->status == 200);
  std::filesystem::remove_all(files.cert.parent_path());
}

TEST(HttpServerTest, TlsWithAMissingKeyFailsToStartNamingTheFlag) {
  Server server({.tls_cert_file = "/nonexistent/cert.pem", .tls_key_file = "/nonexistent/key.pem"});
  Status started = server.Start();
  EXPECT_EQ(started.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(started.message(), HasSubstr("--tls-cert /nonexistent/cert.pem"));
}

TEST(HttpServerTest, StartFailsWithUnavailableWhenPortInUse) {
  Server first({});
  ASSERT_TRUE(first.Start().ok());

  Server second({.port = first.port()});
  Status status = second.Start();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("127.0.0.1:" + std::to_string(first.port())));
}

TEST(HttpServerTest, StartTwiceIsFailedPrecondition) {
  Server server({});
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().code(), StatusCode::kFailedPrecondition);
}

TEST(HttpServerTest, StopIsIdempotentAndFetchAfterwardsIsUnavailable) {
  Server server({});
  server.Handle("GET", "/v1/ping", [](const Request&) { return Text("pong"); });
  ASSERT_TRUE(server.Start().ok());
  RawConnection idle(server.port());  // an open keep-alive connection must not block Stop
  const std::string url = Url(server, "/v1/ping");
  ASSERT_TRUE(Fetch("GET", url).ok());

  server.Stop();
  server.Stop();

  StatusOr<ClientResponse> response = Fetch("GET", url);
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(idle.ReadsEof());
}

TEST(HttpClientTest, BadUrlIsInvalidArgument) {
  for (std::string url : {"not a url", "ftp://127.0.0.1/x", "https://127.0.0.1/x", "/v1/funnel",
                          "http:///v1/funnel"}) {
    StatusOr<ClientResponse> response = Fetch("GET", url);
    EXPECT_EQ(response.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(response.status().message(), HasSubstr(url));
  }
  EXPECT_EQ(Fetch("GE T", "http://127.0.0.1:1/").status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpClientTest, SlowServerIsDeadlineExceeded) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Server server({});
  server.Handle("GET", "/v1/slow", [released](const Request&) {
    released.wait();
    return Text("late");
  });
  ASSERT_TRUE(server.Start().ok());

  StatusOr<ClientResponse> response =
      Fetch("GET", Url(server, "/v1/slow"), {}, "application/json", std::chrono::milliseconds(100));
  release.set_value();
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace lok::http
