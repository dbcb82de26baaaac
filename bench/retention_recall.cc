// lok_retention_recall: how close the retention queue's answer is to the
// exact one on a large store. At a million clients the queue scores only
// the candidates its term indexes and revenue ranking offer (bounded per
// term, so `complete` is false); this tool scores every client that has a
// scoring summary, exactly as the queue scores a candidate (QueryRetention
// with `client`), sorts them as the queue does (score descending, then
// client id) and compares the two lists.
//
//   lok_retention_recall --data-dir /tmp/speed/ret10m --as-of 2048-04-01 --limit 50
//
// Reads the current store generation of a data dir; stop lokd first (the
// store is opened for writing, as RocksDB allows one process at a time).
// Not a test: the figure it prints is reported in bench/README.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/civil_time.h"
#include "projections/retention.h"
#include "store/rocks_store.h"
#include "store/store_generations.h"

namespace {

struct Options {
  std::string data_dir;
  std::string as_of;
  int64_t limit = 50;
  std::string salesperson;
  std::string region;
  std::string currency = "USD";
  int32_t candidates_per_term = lok::projections::RetentionSettings{}.candidates_per_term;
};

struct Scored {
  double score = 0;
  std::string client_id;
};

lok::Status Run(const Options& options) {
  const std::optional<int64_t> day = lok::ParseDate(options.as_of);
  if (!day) return lok::InvalidArgumentError("--as-of: not a date YYYY-MM-DD: " + options.as_of);
  lok::store::StoreGenerations generations(options.data_dir);
  LOK_ASSIGN_OR_RETURN(int generation, generations.Current());
  LOK_ASSIGN_OR_RETURN(std::unique_ptr<lok::store::RocksStore> store,
                       lok::store::RocksStore::Open(generations.PathOf(generation)));
  lok::projections::RetentionSettings settings;
  settings.currency = options.currency;
  settings.candidates_per_term = options.candidates_per_term;

  lok::projections::RetentionQuery query;
  query.as_of_day = *day;
  query.limit = options.limit;
  if (!options.salesperson.empty()) query.salesperson = options.salesperson;
  if (!options.region.empty()) query.region = options.region;
  LOK_ASSIGN_OR_RETURN(lok::v1::RetentionResponse queue,
                       lok::projections::QueryRetention(*store, query, settings));

  // Every client with a scoring summary, scored one at a time.
  std::vector<std::string> clients;
  const std::string prefix = "retention/s/";
  LOK_RETURN_IF_ERROR(store->ScanPrefix(prefix, [&](std::string_view key, std::string_view) {
    clients.emplace_back(key.substr(prefix.size()));
    return true;
  }));
  const auto started = std::chrono::steady_clock::now();
  std::vector<Scored> exact;
  lok::projections::RetentionQuery one = query;
  one.limit = 1;
  for (const std::string& client : clients) {
    one.client = client;
    LOK_ASSIGN_OR_RETURN(lok::v1::RetentionResponse answer,
                         lok::projections::QueryRetention(*store, one, settings));
    if (answer.entries_size() > 0) exact.push_back({answer.entries(0).score(), client});
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::sort(exact.begin(), exact.end(), [](const Scored& left, const Scored& right) {
    return left.score != right.score ? left.score > right.score : left.client_id < right.client_id;
  });
  const size_t top = std::min(exact.size(), static_cast<size_t>(options.limit));
  fmt::print("store         {} (generation {})\n", generations.PathOf(generation), generation);
  fmt::print("query         asOf {} limit {}{}{} currency {}\n", options.as_of, options.limit,
             options.salesperson.empty() ? "" : " salesperson " + options.salesperson,
             options.region.empty() ? "" : " region " + options.region, options.currency);
  fmt::print("queue         {} entries from {} candidates, complete {}\n", queue.entries_size(),
             queue.candidates(), queue.complete());
  fmt::print("exact         {} clients with a summary scored in {:.1f} s; {} need attention\n",
             clients.size(), seconds, exact.size());
  size_t same_place = 0;
  size_t listed = 0;
  std::optional<size_t> first_missing;
  for (size_t rank = 0; rank < top; ++rank) {
    bool found = false;
    for (int entry = 0; entry < queue.entries_size(); ++entry) {
      if (queue.entries(entry).client_id() != exact[rank].client_id) continue;
      found = true;
      if (static_cast<size_t>(entry) == rank) ++same_place;
    }
    if (found) {
      ++listed;
    } else if (!first_missing) {
      first_missing = rank;
    }
  }
  fmt::print("recall        {} of the exact top {} are in the queue ({} at the same place)\n",
             listed, top, same_place);
  if (first_missing) {
    fmt::print("first missing exact rank {} ({}, score {:.6f})\n", *first_missing + 1,
               exact[*first_missing].client_id, exact[*first_missing].score);
  }
  if (top > 0 && queue.entries_size() > 0) {
    fmt::print("last score    exact {:.6f}, queue {:.6f}\n", exact[top - 1].score,
               queue.entries(queue.entries_size() - 1).score());
  }
  return lok::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"lok_retention_recall: the retention queue against scoring every client"};
  app.add_option("--data-dir", options.data_dir, "lokd's data directory (lokd stopped)")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--as-of", options.as_of, "The queue's day, YYYY-MM-DD")->required();
  app.add_option("--limit", options.limit, "Entries compared")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))
      ->capture_default_str();
  app.add_option("--salesperson", options.salesperson, "The queue's salesperson filter");
  app.add_option("--region", options.region, "The queue's region filter");
  app.add_option("--currency", options.currency, "Currency of the money terms")
      ->capture_default_str();
  app.add_option("--candidates-per-term", options.candidates_per_term,
                 "RetentionSettings::candidates_per_term of the queue")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const lok::Status status = Run(options);
  if (!status.ok()) {
    fmt::print(stderr, "lok_retention_recall: {}\n", status.ToString());
    return 1;
  }
  return 0;
}
