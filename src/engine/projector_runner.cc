#include "engine/projector_runner.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lok::engine {

void SetThreadNice(int nice) {
  if (nice == 0) return;
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice) != 0) {
    spdlog::warn("lok: cannot set a background thread's nice value to {}: {}", nice,
                 std::strerror(errno));
  }
}

ProjectorRunner::ProjectorRunner(log::LogReader& reader, log::LogWriter& dead_letters,
                                 std::vector<projections::Projection*> projections,
                                 ProjectorOptions options, ProjectorMetrics& metrics,
                                 int thread_nice)
    : reader_(reader),
      dead_letters_(dead_letters),
      projections_(std::move(projections)),
      options_(std::move(options)),
      metrics_(metrics),
      thread_nice_(thread_nice) {}

ProjectorRunner::~ProjectorRunner() { (void)Stop(); }

void ProjectorRunner::Start(std::shared_ptr<store::RocksStore> store) {
  (void)Stop();
  std::lock_guard lock(mutex_);
  store_ = std::move(store);
  projector_ = std::make_unique<Projector>(*store_, reader_, dead_letters_, projections_, options_,
                                           metrics_);
  thread_ = std::jthread([projector = projector_.get(), nice = thread_nice_](std::stop_token stop) {
    SetThreadNice(nice);
    projector->Run(stop);
  });
}

std::shared_ptr<store::RocksStore> ProjectorRunner::Stop() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  projector_.reset();
  return std::move(store_);
}

Status ProjectorRunner::WithProjector(const std::function<Status(Projector&)>& action) {
  std::lock_guard lock(mutex_);
  if (projector_ == nullptr) return UnavailableError("the projector is not running (rebuild)");
  return action(*projector_);
}

bool ProjectorRunner::running() const {
  std::lock_guard lock(mutex_);
  return thread_.joinable();
}

}  // namespace lok::engine
