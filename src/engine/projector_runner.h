// The live projector's thread, on a store that can change: a rebuild stops
// it, and starts it again on the rebuilt store.
//
// Stopping waits for the batch in flight; the store holds the positions, so
// a start on the same or on a rebuilt store at the same positions resumes
// exactly where it stopped.
//
// Thread-safe: Start, Stop and store() may be called from any thread.
#pragma once

#include <functional>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/projector.h"
#include "engine/projector_metrics.h"
#include "log/log.h"
#include "projections/projection.h"
#include "store/rocks_store.h"

namespace lok::engine {

// Sets the calling thread's nice value (Linux: a per-thread attribute), for
// the background threads that should yield the CPU to queries (the projector,
// a rebuild). Raising it needs no privilege; a failure only costs query
// latency, so it is logged, not returned. 0: unchanged.
void SetThreadNice(int nice);

class ProjectorRunner {
 public:
  // Everything passed by reference must outlive the runner. `thread_nice`
  // (0-19) is the projector thread's nice value: above 0 the thread yields the
  // CPU to normal-priority threads (lokd's HTTP queries) when the cores are
  // busy, and still takes whatever they leave idle. 0: normal priority.
  ProjectorRunner(log::LogReader& reader, log::LogWriter& dead_letters,
                  std::vector<projections::Projection*> projections, ProjectorOptions options,
                  ProjectorMetrics& metrics, int thread_nice = 0);
  ~ProjectorRunner();  // stops

  // Runs a projector over `store` in a new thread until Stop. A running one
  // is stopped first.
  void Start(std::shared_ptr<store::RocksStore> store);

  // Stops the thread after its batch in flight and returns the store it
  // wrote (nullptr when it was not running). Idempotent.
  std::shared_ptr<store::RocksStore> Stop();

  bool running() const;

  // Runs `action` on the running projector, under the runner's lock so a
  // rebuild cannot stop or replace it meanwhile (parked retries and skips).
  // Errors: kUnavailable when no projector runs (between a rebuild's stop and
  // start); otherwise what `action` returns.
  Status WithProjector(const std::function<Status(Projector&)>& action);

 private:
  log::LogReader& reader_;
  log::LogWriter& dead_letters_;
  std::vector<projections::Projection*> projections_;
  ProjectorOptions options_;
  ProjectorMetrics& metrics_;
  const int thread_nice_;

  mutable std::mutex mutex_;
  std::shared_ptr<store::RocksStore> store_;
  std::unique_ptr<Projector> projector_;
  std::jthread thread_;
};

}  // namespace lok::engine
