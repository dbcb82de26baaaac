// What the projector reports to /metrics. Counters of this process's life;
// the exact totals of the read model live in the store ("_stats/").
//
// Thread-safe: the projector thread writes, HTTP threads render.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "log/log.h"

namespace lok::engine {

// Appends one sample with its HELP and TYPE lines (`type`: "counter" or
// "gauge") in Prometheus' text format; every /metrics section uses it.
void AppendPrometheusSample(std::string& out, std::string_view type, std::string_view name,
                            std::string_view help, int64_t value);
void AppendPrometheusSample(std::string& out, std::string_view type, std::string_view name,
                            std::string_view help, double value);

// Appends one histogram series without its HELP and TYPE lines: the
// `name`_bucket lines for each bound and +Inf, `name`_sum and `name`_count.
// `labels` is "" or `key="value",...` (escaped, no braces); `cumulative[i]`
// counts the observations at or under `bounds[i]`.
void AppendPrometheusHistogram(std::string& out, std::string_view name, std::string_view labels,
                               std::span<const double> bounds,
                               std::span<const uint64_t> cumulative, uint64_t count, double sum);

// `value` as a Prometheus label value: backslash, double quote and line feed
// escaped.
std::string PrometheusLabelValue(std::string_view value);

class ProjectorMetrics {
 public:
  void RecordBatch(int64_t applied, int64_t duplicates, int64_t dead_lettered, double seconds);
  void RecordLag(const log::PartitionOffsets& end_offsets, const log::PartitionOffsets& positions);
  void SetCaughtUp(bool caught_up) { caught_up_.store(caught_up); }
  void RecordError() { errors_.fetch_add(1); }
  // Events the projector parked (engine/parking.h).
  void RecordParked(int64_t parked) { parked_.fetch_add(parked); }
  // A retry of parked events: `applied` also count as applied, and so on.
  void RecordRetried(int64_t applied, int64_t duplicates, int64_t dead_lettered);
  void RecordSkipped(int64_t skipped) { skipped_.fetch_add(skipped); }
  // What is parked now, as committed.
  void SetParkedDepth(int64_t events, int64_t clients) {
    parked_events_.store(events);
    parked_clients_.store(clients);
  }

  bool caught_up() const { return caught_up_.load(); }
  int64_t applied() const { return applied_.load(); }
  int64_t duplicates() const { return duplicates_.load(); }
  int64_t dead_lettered() const { return dead_lettered_.load(); }
  int64_t parked() const { return parked_.load(); }
  int64_t retried() const { return retried_.load(); }
  int64_t skipped() const { return skipped_.load(); }
  int64_t parked_events() const { return parked_events_.load(); }
  int64_t parked_clients() const { return parked_clients_.load(); }

  // The metrics in the Prometheus text exposition format (version 0.0.4).
  std::string RenderPrometheus() const;

 private:
  static constexpr std::array<double, 9> kLatencyBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,  0.1,    0.5,   1.0};
  std::atomic<int64_t> applied_{0};
  std::atomic<int64_t> duplicates_{0};
  std::atomic<int64_t> dead_lettered_{0};
  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<bool> caught_up_{false};
  std::atomic<int64_t> parked_{0};
  std::atomic<int64_t> retried_{0};
  std::atomic<int64_t> skipped_{0};
  std::atomic<int64_t> parked_events_{0};
  std::atomic<int64_t> parked_clients_{0};

  mutable std::mutex mutex_;
  std::array<uint64_t, kLatencyBuckets.size()> latency_counts_{};  // cumulative per bucket
  double latency_sum_ = 0;
  log::PartitionOffsets lag_;
  log::PartitionOffsets positions_;
};

}  // namespace lok::engine
