#include "service/listener_flags.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "service/gateway_service.h"
#include "service/lok_service.h"

namespace lok::service {
namespace {

// Parses `args` like a command line of a binary that registered only the
// shared flags.
void Parse(ListenerFlags& flags, std::vector<std::string> args) {
  CLI::App app{"test"};
  AddListenerFlags(app, flags, "LOK_TEST_HTTP");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
}

TEST(ListenerFlagsTest, FillBothServicesConfigs) {
  ListenerFlags flags{.http = "127.0.0.1:8080"};
  Parse(flags, {"--http", "0.0.0.0:9443", "--http-threads", "4", "--http-read-timeout", "7",
                "--max-body-bytes", "1000", "--max-event-bytes", "500",
                "--max-events-per-request", "9", "--kafka-property", "security.protocol=SSL",
                "--kafka-property", "ssl.ca.location=/etc/ca.pem"});
  ServiceConfig service;
  ASSERT_TRUE(ApplyListenerFlags(flags, service).ok());
  EXPECT_EQ(service.http_address, "0.0.0.0");
  EXPECT_EQ(service.http_port, 9443);
  EXPECT_EQ(service.http_threads, 4);
  EXPECT_EQ(service.http_read_timeout, std::chrono::seconds(7));
  EXPECT_EQ(service.max_body_bytes, 1000u);
  EXPECT_EQ(service.max_event_bytes, 500u);
  EXPECT_EQ(service.max_events_per_request, 9u);
  EXPECT_EQ(service.kafka_properties,
            (std::map<std::string, std::string>{{"security.protocol", "SSL"},
                                                {"ssl.ca.location", "/etc/ca.pem"}}));
  GatewayConfig gateway;
  ASSERT_TRUE(ApplyListenerFlags(flags, gateway).ok());
  EXPECT_EQ(gateway.http_port, 9443);
  EXPECT_EQ(gateway.max_events_per_request, 9u);
  EXPECT_EQ(gateway.kafka_properties, service.kafka_properties);
}

TEST(ListenerFlagsTest, DefaultsAreTheConfigsDefaults) {
  ListenerFlags flags{.http = "127.0.0.1:8080"};
  Parse(flags, {});
  ServiceConfig applied;
  ASSERT_TRUE(ApplyListenerFlags(flags, applied).ok());
  const ServiceConfig defaults;
  EXPECT_EQ(applied.http_threads, defaults.http_threads);
  EXPECT_EQ(applied.http_read_timeout, defaults.http_read_timeout);
  EXPECT_EQ(applied.max_body_bytes, defaults.max_body_bytes);
  EXPECT_EQ(applied.max_event_bytes, defaults.max_event_bytes);
  EXPECT_EQ(applied.max_events_per_request, defaults.max_events_per_request);
  EXPECT_EQ(flags.log_level, "info");
}

TEST(ListenerFlagsTest, ABadListenAddressIsNamedAndLeavesTheConfigAlone) {
  for (std::string_view bad : {"8080", ":8080", "host:", "host:http", "host:65536", "host:80x"}) {
    SCOPED_TRACE(bad);
    ListenerFlags flags{.http = std::string(bad)};
    ServiceConfig config;
    const Status status = ApplyListenerFlags(flags, config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("--http"), std::string::npos) << status.message();
    EXPECT_EQ(config.http_port, ServiceConfig{}.http_port);
  }
  const StatusOr<HostPort> ipv6 = ParseHttpFlag("[::1]:0");
  ASSERT_TRUE(ipv6.ok());
  EXPECT_EQ(ipv6->host, "[::1]");
  EXPECT_EQ(ipv6->port, 0);
}

TEST(ListenerFlagsTest, AKafkaPropertyWithoutKeyOrValueIsNamed) {
  for (std::string bad : {"security.protocol", "=SSL"}) {
    SCOPED_TRACE(bad);
    ListenerFlags flags{.http = "127.0.0.1:1", .kafka_properties = {"acks=all", bad}};
    GatewayConfig config;
    const Status status = ApplyListenerFlags(flags, config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("--kafka-property"), std::string::npos);
    EXPECT_NE(status.message().find(bad), std::string::npos);
    EXPECT_TRUE(config.kafka_properties.empty());
  }
}

TEST(ListenerFlagsTest, OutOfRangeValuesAndUnknownLogLevelsAreRejectedByTheParser) {
  ListenerFlags flags{.http = "127.0.0.1:1"};
  EXPECT_THROW(Parse(flags, {"--http-threads", "0"}), CLI::ValidationError);
  EXPECT_THROW(Parse(flags, {"--max-event-bytes", "10"}), CLI::ValidationError);
  EXPECT_THROW(Parse(flags, {"--log-level", "verbose"}), CLI::ValidationError);
  Parse(flags, {"--log-level", "warn"});
  EXPECT_EQ(flags.log_level, "warn");
}

}  // namespace
}  // namespace lok::service
