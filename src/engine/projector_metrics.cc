#include "engine/projector_metrics.h"

#include <fmt/format.h>

namespace lok::engine {

void AppendPrometheusSample(std::string& out, std::string_view type, std::string_view name,
                            std::string_view help, int64_t value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

void AppendPrometheusSample(std::string& out, std::string_view type, std::string_view name,
                            std::string_view help, double value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

void AppendPrometheusHistogram(std::string& out, std::string_view name, std::string_view labels,
                               std::span<const double> bounds,
                               std::span<const uint64_t> cumulative, uint64_t count, double sum) {
  const std::string_view comma = labels.empty() ? "" : ",";
  for (size_t bucket = 0; bucket < bounds.size() && bucket < cumulative.size(); ++bucket) {
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, comma, bounds[bucket],
                       cumulative[bucket]);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, comma, count);
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum, name, braces, count);
}

std::string PrometheusLabelValue(std::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return escaped;
}

void ProjectorMetrics::RecordBatch(int64_t applied, int64_t duplicates, int64_t dead_lettered,
                                   double seconds) {
  applied_.fetch_add(applied);
  duplicates_.fetch_add(duplicates);
  dead_lettered_.fetch_add(dead_lettered);
  batches_.fetch_add(1);
  std::lock_guard lock(mutex_);
  latency_sum_ += seconds;
  for (size_t bucket = 0; bucket < kLatencyBuckets.size(); ++bucket) {
    if (seconds <= kLatencyBuckets[bucket]) ++latency_counts_[bucket];
  }
}

void ProjectorMetrics::RecordRetried(int64_t applied, int64_t duplicates, int64_t dead_lettered) {
  retried_.fetch_add(applied);
  applied_.fetch_add(applied);
  duplicates_.fetch_add(duplicates);
  dead_lettered_.fetch_add(dead_lettered);
}

void ProjectorMetrics::RecordLag(const log::PartitionOffsets& end_offsets,
                                 const log::PartitionOffsets& positions) {
  std::lock_guard lock(mutex_);
  positions_ = positions;
  lag_.clear();
  for (const auto& [partition, end] : end_offsets) {
    auto position = positions.find(partition);
    const int64_t next = position == positions.end() ? 0 : position->second;
    lag_[partition] = std::max<int64_t>(0, end - next);
  }
}

std::string ProjectorMetrics::RenderPrometheus() const {
  std::string out;
  auto counter = [&](std::string_view name, std::string_view help, int64_t value) {
    AppendPrometheusSample(out, "counter", name, help, value);
  };
  counter("lok_events_applied_total", "Events applied to the read models by this process.",
          applied_.load());
  counter("lok_events_duplicate_total", "Events dropped as duplicates of (source, event_id).",
          duplicates_.load());
  counter("lok_events_dead_lettered_total", "Records sent to the dead-letter topic.",
          dead_lettered_.load());
  counter("lok_projector_errors_total", "Batches that failed and were retried from the store.",
          errors_.load());
  counter("lok_events_parked_total",
          "Events parked by this process: rejected by a projection, of an unknown type, or "
          "behind an earlier parked event of their client.",
          parked_.load());
  counter("lok_parked_retried_total", "Parked events applied by a retry.", retried_.load());
  counter("lok_parked_skipped_total", "Parked events an operator skipped.", skipped_.load());
  auto gauge = [&](std::string_view name, std::string_view help, int64_t value) {
    AppendPrometheusSample(out, "gauge", name, help, value);
  };
  gauge("lok_parked_events", "Events parked now, waiting for a retry or a skip.",
        parked_events_.load());
  gauge("lok_parked_clients", "Clients with parked events now.", parked_clients_.load());
  out += fmt::format(
      "# HELP lok_projector_caught_up 1 once the projector has reached the log's end.\n"
      "# TYPE lok_projector_caught_up gauge\nlok_projector_caught_up {}\n",
      caught_up_.load() ? 1 : 0);
  std::lock_guard lock(mutex_);
  out +=
      "# HELP lok_projector_batch_seconds Time from poll to committed batch.\n"
      "# TYPE lok_projector_batch_seconds histogram\n";
  AppendPrometheusHistogram(out, "lok_projector_batch_seconds", "", kLatencyBuckets,
                            latency_counts_, static_cast<uint64_t>(batches_.load()), latency_sum_);
  out +=
      "# HELP lok_consumer_lag_records Records in the log not yet applied, per partition.\n"
      "# TYPE lok_consumer_lag_records gauge\n";
  for (const auto& [partition, lag] : lag_) {
    out += fmt::format("lok_consumer_lag_records{{partition=\"{}\"}} {}\n", partition, lag);
  }
  out +=
      "# HELP lok_consumer_position Next offset to apply, per partition.\n"
      "# TYPE lok_consumer_position gauge\n";
  for (const auto& [partition, position] : positions_) {
    out += fmt::format("lok_consumer_position{{partition=\"{}\"}} {}\n", partition, position);
  }
  return out;
}

}  // namespace lok::engine
