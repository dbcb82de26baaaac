// lok_funnel_bench: Google Benchmark microbenchmarks of the projector's
// per-event CPU work, without RocksDB or the log:
//   BM_DecodeAndValidate  events::DecodeBinary + events::Validate of one event
//   BM_FunnelApply        FunnelProjection::Apply of a projector-sized batch
//                         over a MemoryStore transaction, then Finish + Commit
// Events come from the same generator as lok_projector_bench (event_mix.h).
//
//   lok_funnel_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "event_mix.h"
#include "events/event_codec.h"
#include "events/validation.h"
#include "projections/funnel.h"
#include "store/transaction.h"

namespace {

constexpr size_t kCorpusEvents = 200'000;
constexpr int32_t kPartitions = 8;

const std::vector<lok::v1::Event>& Corpus() {
  static const std::vector<lok::v1::Event> corpus = [] {
    lok::bench::EventMix mix({});
    std::vector<lok::v1::Event> events;
    events.reserve(kCorpusEvents);
    for (size_t index = 0; index < kCorpusEvents; ++index) events.push_back(mix.Next());
    return events;
  }();
  return corpus;
}

void BM_DecodeAndValidate(benchmark::State& state) {
  std::vector<std::string> encoded;
  encoded.reserve(Corpus().size());
  for (const lok::v1::Event& event : Corpus()) encoded.push_back(event.SerializeAsString());
  size_t next = 0;
  int64_t bytes = 0;
  for ([[maybe_unused]] auto iteration : state) {
    const std::string& value = encoded[next];
    next = (next + 1) % encoded.size();
    lok::StatusOr<lok::v1::Event> event = lok::events::DecodeBinary(value);
    if (!event.ok() || !lok::events::Validate(*event).ok()) {
      state.SkipWithError("generated event did not decode or validate");
      break;
    }
    benchmark::DoNotOptimize(event);
    bytes += static_cast<int64_t>(value.size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_DecodeAndValidate);

// One iteration = one batch of state.range(0) events, as the projector
// applies them: one transaction, every event through the funnel, one commit.
// The store starts empty and is reset whenever the corpus wraps, so it holds
// at most kCorpusEvents events' worth of deals.
void BM_FunnelApply(benchmark::State& state) {
  const auto batch_size = static_cast<size_t>(state.range(0));
  const std::vector<lok::v1::Event>& corpus = Corpus();
  std::vector<int32_t> partitions;
  partitions.reserve(corpus.size());
  for (const lok::v1::Event& event : corpus) {
    partitions.push_back(
        static_cast<int32_t>(std::hash<std::string>{}(event.client_id()) % kPartitions));
  }
  lok::projections::FunnelProjection funnel;
  auto store = std::make_unique<lok::store::MemoryStore>();
  size_t next = 0;
  for ([[maybe_unused]] auto iteration : state) {
    if (next + batch_size > corpus.size()) {
      state.PauseTiming();
      store = std::make_unique<lok::store::MemoryStore>();
      next = 0;
      state.ResumeTiming();
    }
    lok::store::Transaction transaction(*store);
    for (size_t index = next; index < next + batch_size; ++index) {
      const lok::projections::EventPosition position{partitions[index], static_cast<int64_t>(index),
                                                     0};
      lok::Status status = funnel.Apply(corpus[index], position, transaction);
      if (!status.ok()) {
        state.SkipWithError(status.ToString().c_str());
        return;
      }
    }
    lok::StatusOr<lok::store::ChangeSet> changes = transaction.Finish();
    if (!changes.ok()) {
      state.SkipWithError(changes.status().ToString().c_str());
      return;
    }
    store->Commit(*changes);
    next += batch_size;
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FunnelApply)->Arg(500)->Arg(2000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
