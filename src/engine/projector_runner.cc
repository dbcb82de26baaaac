#include "engine/projector_runner.h"

namespace lok::engine {

ProjectorRunner::ProjectorRunner(log::LogReader& reader, log::LogWriter& dead_letters,
                                 std::vector<projections::Projection*> projections,
                                 ProjectorOptions options, ProjectorMetrics& metrics)
    : reader_(reader),
      dead_letters_(dead_letters),
      projections_(std::move(projections)),
      options_(std::move(options)),
      metrics_(metrics) {}

ProjectorRunner::~ProjectorRunner() { (void)Stop(); }

void ProjectorRunner::Start(std::shared_ptr<store::RocksStore> store) {
  (void)Stop();
  std::lock_guard lock(mutex_);
  store_ = std::move(store);
  projector_ = std::make_unique<Projector>(*store_, reader_, dead_letters_, projections_, options_,
                                           metrics_);
  thread_ =
      std::jthread([projector = projector_.get()](std::stop_token stop) { projector->Run(stop); });
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
