#include "support/lokd_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>

#include "client/lok_client.h"

extern char** environ;

namespace lok::testing {

uint16_t FreePort() {
  int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(socket_fd);
  return ntohs(address.sin_port);
}

std::filesystem::path FreshDirectory(const std::string& tag) {
  std::random_device random;
  auto path = std::filesystem::temp_directory_path() /
              ("lok-it-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
  return path;
}

std::pair<int, std::string> RunShell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::array<char, 4096> buffer{};
  while (size_t read = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
    output.append(buffer.data(), read);
  }
  const int status = ::pclose(pipe);
  return {status, output};
}

std::string KafkaBrokers() {
  const char* brokers = std::getenv("LOK_KAFKA_BROKERS");
  return brokers == nullptr ? "" : brokers;
}

StatusOr<std::unique_ptr<LokdProcess>> LokdProcess::Start(
    const std::filesystem::path& data_dir, std::vector<std::string> extra_arguments) {
  std::vector<std::string> arguments = {"--data-dir", data_dir.string()};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  return StartBinary("lokd", std::move(arguments));
}

StatusOr<std::unique_ptr<LokdProcess>> LokdProcess::StartBinary(
    const std::string& binary_name, std::vector<std::string> extra_arguments) {
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  const std::string binary = std::string(LOK_BIN_DIR) + "/" + binary_name;
  std::vector<std::string> arguments = {binary, "--http", address, "--log-level", "warn"};
  arguments.insert(arguments.end(), extra_arguments.begin(), extra_arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int error = posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ)) {
    return UnavailableError(binary + ": " + std::strerror(error));
  }
  std::unique_ptr<LokdProcess> process(new LokdProcess(pid, "http://" + address));
  Status healthy = client::WaitHealthy(process->url(), std::chrono::seconds(60));
  if (!healthy.ok()) return healthy;
  return process;
}

int LokdProcess::Stop(int signal) {
  if (!running_) return 0;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  running_ = false;
  return status;
}

LokdProcess::~LokdProcess() { Stop(SIGTERM); }

}  // namespace lok::testing
