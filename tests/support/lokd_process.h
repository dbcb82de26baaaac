// Runs the real lokd binary as a child process for integration tests.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace lok::testing {

class LokdProcess {
 public:
  // Starts build/bin/lokd with `--data-dir data_dir --http 127.0.0.1:<free port>`
  // and `extra_arguments`, and waits until /healthz answers.
  static StatusOr<std::unique_ptr<LokdProcess>> Start(const std::filesystem::path& data_dir,
                                                      std::vector<std::string> extra_arguments);
  // Starts build/bin/<binary> (e.g. lok-gateway) with `--http 127.0.0.1:<free
  // port>` and `arguments`, and waits until /healthz answers.
  static StatusOr<std::unique_ptr<LokdProcess>> StartBinary(const std::string& binary,
                                                            std::vector<std::string> arguments);
  // Stops the process with SIGTERM if it still runs.
  ~LokdProcess();

  const std::string& url() const { return url_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits for the process to end; returns its wait status.
  int Stop(int signal);

 private:
  LokdProcess(pid_t pid, std::string url) : pid_(pid), url_(std::move(url)) {}
  pid_t pid_;
  std::string url_;
  bool running_ = true;
};

// A loopback TCP port that was free a moment ago.
uint16_t FreePort();

// A fresh, empty directory under the system temp dir, unique to this test.
std::filesystem::path FreshDirectory(const std::string& tag);

// Runs `command` through the shell with stderr merged into stdout; returns
// its wait status and output.
std::pair<int, std::string> RunShell(const std::string& command);

// The Kafka brokers for integration tests ($LOK_KAFKA_BROKERS), or "".
std::string KafkaBrokers();

}  // namespace lok::testing
