// lok-gateway: the ingest gateway. Configuration only: flags, LOK_GATEWAY_*
// variables and a config file become a GatewayConfig; src/service wires it.
//
//   lok-gateway --brokers HOST:PORT --topic lok.events --http 127.0.0.1:8090
//
// It takes the same POST /v1/events bodies as lokd, produces them to Kafka
// with the idempotent producer and answers 202 once the broker acknowledged,
// with each event's partition and offset. lokd consumes the topic as usual.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>

#include "service/gateway_service.h"
#include "service/listener_flags.h"

int main(int argc, char** argv) {
  lok::service::GatewayConfig config;
  lok::service::ListenerFlags listener{.http = "127.0.0.1:8090"};
  CLI::App app{"lok-gateway: HTTP ingest to Kafka for Lok"};
  app.set_config("--config", "", "Read options from a TOML or INI file");
  lok::service::AddListenerFlags(app, listener, "LOK_GATEWAY_HTTP");
  app.add_option("--brokers", config.brokers, "Kafka bootstrap servers")
      ->envname("LOK_BROKERS")
      ->required();
  app.add_option("--topic", config.topic, "The events topic")
      ->envname("LOK_TOPIC")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(listener.log_level));
  if (lok::Status applied = lok::service::ApplyListenerFlags(listener, config); !applied.ok()) {
    spdlog::critical("{}", applied.message());
    return 2;
  }

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto service = lok::service::GatewayService::Start(config);
  if (!service.ok()) {
    spdlog::critical("lok-gateway: {}", service.status().ToString());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("lok-gateway: {} received, shutting down", strsignal(signal_number));
  (*service)->Stop();
  return 0;
}
