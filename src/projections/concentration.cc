#include "projections/concentration.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "base/civil_time.h"
#include "base/key_encoding.h"
#include "projections/funnel.h"
#include "projections/mark.h"

namespace lok::projections {
namespace {

using lok::v1::ConcentrationAlert;
using lok::v1::ConcentrationBlock;
using lok::v1::ConcentrationInvoice;
using lok::v1::Event;
using lok::v1::FunnelDeal;
using lok::v1::Mark;

// Σ revenue² of a scope needs more than 64 bits: 1e10 cents squared is 1e20.
__extension__ typedef unsigned __int128 Uint128;

constexpr std::string_view kPartitionPrefix = "concentration/part/";
constexpr std::string_view kDealPrefix = "concentration/deal/";
constexpr std::string_view kInvoicePrefix = "concentration/invoice/";
constexpr std::string_view kClientPrefix = "concentration/client/";
constexpr std::string_view kStatPrefix = "concentration/stat/";
constexpr std::string_view kRevenuePrefix = "concentration/rev/";
constexpr std::string_view kTopPrefix = "concentration/top/";
constexpr std::string_view kHistogramPrefix = "concentration/hist/";

constexpr char kMonthBucket = 'M';
constexpr char kTrailingBucket = 'T';
constexpr int32_t kTrailingMonths = 12;

// Per-client attributes under kClientPrefix<client>.
constexpr char kClientPartition = 'P';
constexpr char kDelayedInvoices = 'n';
constexpr char kDaysLateSum = 'd';
constexpr char kDiscountedDeals = 'w';
constexpr char kDiscountSum = 'b';
constexpr char kOverdue = 'o';

// ---- Keys ----

char ScopeChar(ScopeKind kind) {
  switch (kind) {
    case ScopeKind::kAll:
      return 'a';
    case ScopeKind::kSalesperson:
      return 's';
    case ScopeKind::kRegion:
      return 'r';
    case ScopeKind::kProduct:
      return 'p';
  }
  return 'a';
}

std::string ScopeLabel(ScopeKind kind, std::string_view value) {
  switch (kind) {
    case ScopeKind::kAll:
      return "all";
    case ScopeKind::kSalesperson:
      return "salesperson=" + std::string(value);
    case ScopeKind::kRegion:
      return "region=" + std::string(value);
    case ScopeKind::kProduct:
      return "product=" + std::string(value);
  }
  return "all";
}

// bucket, month and currency: the part of a group shared by all its scopes.
std::string WindowPart(char bucket, int32_t month, std::string_view currency) {
  std::string part;
  part.push_back(bucket);
  AppendBigEndian32(part, static_cast<uint32_t>(month));
  AppendEscapedString(part, currency);
  return part;
}

// Every key is written under stripe 0: a projector instance keeps its own
// store for the partitions it owns, so splitting the statistics and the index
// by partition inside one store only multiplied the reads a query merges (8
// index scans instead of one). The stripe stays in the layout, and the
// queries still merge whatever stripes exist, so a store written with
// per-partition stripes reads the same.
constexpr int32_t kStripe = 0;

// A group: one (bucket, month, currency, scope) without the partition.
std::string Group(char bucket, int32_t month, std::string_view currency, ScopeKind kind,
                  std::string_view value) {
  std::string group = WindowPart(bucket, month, currency);
  group.push_back(ScopeChar(kind));
  AppendEscapedString(group, value);
  return group;
}

std::string PartitionedKey(std::string_view prefix, int32_t partition, std::string_view rest) {
  std::string key(prefix);
  AppendBigEndian32(key, static_cast<uint32_t>(partition));
  key.append(rest);
  return key;
}

std::string RevenueKey(int32_t partition, std::string_view group, std::string_view client) {
  std::string key = PartitionedKey(kRevenuePrefix, partition, group);
  AppendEscapedString(key, client);
  return key;
}

std::string TopKey(int32_t partition, std::string_view group, int64_t revenue,
                   std::string_view client) {
  std::string key = PartitionedKey(kTopPrefix, partition, group);
  AppendBigEndian64(key, ~static_cast<uint64_t>(revenue));  // descending revenue
  AppendEscapedString(key, client);
  return key;
}

// The revenue distribution of a group: clients and Σ revenue per revenue
// bucket. Bucket b covers [lower, upper) with kBucketsPerDoubling equal
// slices of each power of two, so a bucket's values differ by under 6.25 %.
constexpr int kBucketsPerDoubling = 16;

int32_t RevenueBucket(int64_t revenue) {  // REQUIRES: revenue > 0
  const auto value = static_cast<uint64_t>(revenue);
  const int exponent = static_cast<int>(std::bit_width(value)) - 1;
  const auto slice = static_cast<int32_t>(
      ((static_cast<Uint128>(value - (uint64_t{1} << exponent)) * kBucketsPerDoubling) >>
       exponent));
  return exponent * kBucketsPerDoubling + slice;
}

// The smallest revenue in bucket `bucket`.
int64_t BucketLowerBound(int32_t bucket) {
  const int exponent = bucket / kBucketsPerDoubling;
  const int slice = bucket % kBucketsPerDoubling;
  const uint64_t base = uint64_t{1} << exponent;
  // The least value whose slice is `slice`: ceil(slice · base / steps).
  const auto offset = static_cast<uint64_t>(
      (static_cast<Uint128>(slice) * base + kBucketsPerDoubling - 1) / kBucketsPerDoubling);
  return static_cast<int64_t>(base + offset);
}

std::string HistogramKey(int32_t partition, std::string_view group, int32_t bucket) {
  std::string key = PartitionedKey(kHistogramPrefix, partition, group);
  AppendBigEndian32(key, static_cast<uint32_t>(bucket));
  return key;
}

std::string ClientKey(std::string_view client, char attribute, std::string_view suffix = "") {
  std::string key(kClientPrefix);
  AppendEscapedString(key, client);
  key.push_back(attribute);
  key.append(suffix);
  return key;
}

// ---- Statistics of a group ----

struct Stats {
  int64_t clients = 0;  // clients with revenue > 0
  int64_t sum = 0;      // Σ revenue, minor units
  Uint128 sum_of_squares = 0;

  Stats& operator+=(const Stats& other) {
    clients += other.clients;
    sum += other.sum;
    sum_of_squares += other.sum_of_squares;
    return *this;
  }
};

std::string EncodeStats(const Stats& stats) {
  std::string bytes;
  AppendBigEndian64(bytes, static_cast<uint64_t>(stats.clients));
  AppendBigEndian64(bytes, static_cast<uint64_t>(stats.sum));
  AppendBigEndian64(bytes, static_cast<uint64_t>(stats.sum_of_squares >> 64));
  AppendBigEndian64(bytes, static_cast<uint64_t>(stats.sum_of_squares));
  return bytes;
}

StatusOr<Stats> DecodeStats(std::string_view bytes) {
  if (bytes.size() != 32) return DataLossError("concentration: unreadable statistics");
  Stats stats;
  stats.clients = static_cast<int64_t>(*ReadBigEndian64(bytes, 0));
  stats.sum = static_cast<int64_t>(*ReadBigEndian64(bytes, 8));
  stats.sum_of_squares = (static_cast<Uint128>(*ReadBigEndian64(bytes, 16)) << 64) |
                         static_cast<Uint128>(*ReadBigEndian64(bytes, 24));
  return stats;
}

Uint128 Square(int64_t value) {
  const auto magnitude = static_cast<Uint128>(static_cast<uint64_t>(value));
  return magnitude * magnitude;
}

// 10,000 · Σ revenue² / (Σ revenue)²; 0 for an empty scope.
double Hhi(const Stats& stats) {
  if (stats.sum <= 0) return 0.0;
  const auto sum = static_cast<long double>(stats.sum);
  return static_cast<double>(10000.0L * static_cast<long double>(stats.sum_of_squares) /
                             (sum * sum));
}

double Share(int64_t part, int64_t total) {
  return total <= 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(total);
}

// ---- Writing ----

// What a deal adds to the revenue statistics.
struct DealRevenue {
  bool counts = false;
  std::string client;
  int32_t partition = 0;
  int32_t month = 0;
  int64_t minor = 0;
  std::string currency;
  std::string salesperson;
  std::string region;
  std::string product;
  friend bool operator==(const DealRevenue&, const DealRevenue&) = default;
};

DealRevenue RevenueOf(const FunnelDeal& deal) {
  DealRevenue revenue;
  if (FurthestStage(deal) != lok::v1::WON || deal.won_amount().currency().empty()) return revenue;
  revenue.counts = true;
  revenue.client = deal.client_id();
  revenue.partition = deal.partition();
  revenue.month = MonthOfDay(DayOfSeconds(deal.outcome().occurred_at().seconds()));
  revenue.minor = deal.won_amount().minor();
  revenue.currency = deal.won_amount().currency();
  revenue.salesperson = deal.salesperson();
  revenue.region = deal.region();
  revenue.product = deal.product();
  return revenue;
}

// Moves one client's revenue in one group by `delta`, keeping the index, the
// client count, Σ and Σ² in step.
Status AdjustClientRevenue(store::Transaction& transaction, int32_t partition,
                           const std::string& group, std::string_view client, int64_t delta) {
  if (delta == 0) return Status::Ok();
  const std::string revenue_key = RevenueKey(partition, group, client);
  LOK_ASSIGN_OR_RETURN(int64_t before, transaction.GetCounter(revenue_key));
  const int64_t after = before + delta;
  if (after < 0) return InternalError("concentration: negative client revenue");
  transaction.AddCounter(revenue_key, delta);
  if (before > 0) {
    transaction.Delete(TopKey(partition, group, before, client));
    transaction.AddCounterVector(HistogramKey(partition, group, RevenueBucket(before)),
                                 {-1, -before});
  }
  if (after > 0) {
    transaction.Put(TopKey(partition, group, after, client), "");
    transaction.AddCounterVector(HistogramKey(partition, group, RevenueBucket(after)), {1, after});
  }

  const std::string stat_key = PartitionedKey(kStatPrefix, partition, group);
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(stat_key));
  Stats stats;
  if (stored) {
    LOK_ASSIGN_OR_RETURN(stats, DecodeStats(*stored));
  }
  stats.clients += (after > 0 ? 1 : 0) - (before > 0 ? 1 : 0);
  stats.sum += delta;
  stats.sum_of_squares += Square(after);  // unsigned wrap-around: exact in the end
  stats.sum_of_squares -= Square(before);
  if (stats.clients == 0 && stats.sum == 0 && stats.sum_of_squares == 0) {
    transaction.Delete(stat_key);
  } else {
    transaction.Put(stat_key, EncodeStats(stats));
  }
  return Status::Ok();
}

// Adds `sign` times a won deal to its month, the 12 trailing windows that
// contain the month, in every scope it belongs to.
Status AddRevenue(const DealRevenue& revenue, int64_t sign, store::Transaction& transaction) {
  const std::array<std::pair<ScopeKind, const std::string*>, 4> scopes = {{
      {ScopeKind::kAll, nullptr},
      {ScopeKind::kSalesperson, &revenue.salesperson},
      {ScopeKind::kRegion, &revenue.region},
      {ScopeKind::kProduct, &revenue.product},
  }};
  const int64_t delta = sign * revenue.minor;
  for (const auto& [kind, value] : scopes) {
    if (value != nullptr && value->empty()) continue;
    const std::string_view scope_value = value == nullptr ? std::string_view() : *value;
    LOK_RETURN_IF_ERROR(
        AdjustClientRevenue(transaction, revenue.partition,
                            Group(kMonthBucket, revenue.month, revenue.currency, kind, scope_value),
                            revenue.client, delta));
    for (int32_t last = revenue.month; last < revenue.month + kTrailingMonths; ++last) {
      LOK_RETURN_IF_ERROR(
          AdjustClientRevenue(transaction, revenue.partition,
                              Group(kTrailingBucket, last, revenue.currency, kind, scope_value),
                              revenue.client, delta));
    }
  }
  return Status::Ok();
}

// A won deal with an offer adds its latest offer's discount to its client.
void AddDiscount(const FunnelDeal& deal, int64_t sign, store::Transaction& transaction) {
  if (FurthestStage(deal) != lok::v1::WON || !deal.has_latest_offer()) return;
  transaction.AddCounter(ClientKey(deal.client_id(), kDiscountedDeals), sign);
  transaction.AddCounter(ClientKey(deal.client_id(), kDiscountSum), sign * deal.discount_bp());
}

bool IsOverdue(const ConcentrationInvoice& invoice) {
  return invoice.has_latest_delay() && (!invoice.has_latest_payment() ||
                                        Earlier(invoice.latest_payment(), invoice.latest_delay()));
}

void AddInvoice(std::string_view client, const ConcentrationInvoice& invoice, int64_t sign,
                store::Transaction& transaction) {
  if (!invoice.has_latest_delay()) return;
  transaction.AddCounter(ClientKey(client, kDelayedInvoices), sign);
  transaction.AddCounter(ClientKey(client, kDaysLateSum), sign * invoice.days_overdue());
  if (IsOverdue(invoice) && !invoice.outstanding().currency().empty()) {
    transaction.AddCounter(ClientKey(client, kOverdue, invoice.outstanding().currency()),
                           sign * invoice.outstanding().minor());
  }
}

// Records the partition and the client's partition, once.
Status NoteClient(const Event& event, int32_t partition, store::Transaction& transaction) {
  std::string partition_key(kPartitionPrefix);
  AppendBigEndian32(partition_key, static_cast<uint32_t>(partition));
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> seen, transaction.Get(partition_key));
  if (!seen) transaction.Put(partition_key, "");
  const std::string client_key = ClientKey(event.client_id(), kClientPartition);
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> known, transaction.Get(client_key));
  if (!known) {
    std::string bytes;
    AppendBigEndian32(bytes, static_cast<uint32_t>(partition));
    transaction.Put(client_key, std::move(bytes));
  }
  return Status::Ok();
}

Status ApplyDealEvent(const Event& event, int32_t partition, store::Transaction& transaction) {
  std::string key(kDealPrefix);
  key.append(event.deal_id());
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  FunnelDeal before;
  if (stored && !before.ParseFromString(*stored)) {
    return DataLossError("concentration: unreadable deal state for " + event.deal_id());
  }
  FunnelDeal after = before;
  if (!stored) after.set_partition(partition);
  FoldDealEvent(event, after);
  std::string serialized = after.SerializeAsString();
  if (stored && serialized == *stored) return Status::Ok();
  const DealRevenue revenue_before = RevenueOf(before);
  const DealRevenue revenue_after = RevenueOf(after);
  if (!(revenue_before == revenue_after)) {
    if (revenue_before.counts) LOK_RETURN_IF_ERROR(AddRevenue(revenue_before, -1, transaction));
    if (revenue_after.counts) LOK_RETURN_IF_ERROR(AddRevenue(revenue_after, +1, transaction));
  }
  AddDiscount(before, -1, transaction);
  AddDiscount(after, +1, transaction);
  transaction.Put(key, std::move(serialized));
  return Status::Ok();
}

Status ApplyPaymentEvent(const Event& event, store::Transaction& transaction) {
  const bool delayed = event.has_payment_delayed();
  const std::string& invoice_id =
      delayed ? event.payment_delayed().invoice_id() : event.payment_received().invoice_id();
  std::string key(kInvoicePrefix);
  AppendEscapedString(key, event.client_id());
  AppendEscapedString(key, invoice_id);
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  ConcentrationInvoice before;
  if (stored && !before.ParseFromString(*stored)) {
    return DataLossError("concentration: unreadable invoice state for " + invoice_id);
  }
  ConcentrationInvoice after = before;
  const Mark mark = MarkOf(event);
  if (delayed) {
    if (!after.has_latest_delay() || Earlier(after.latest_delay(), mark)) {
      *after.mutable_latest_delay() = mark;
      after.set_days_overdue(event.payment_delayed().days_overdue());
      *after.mutable_outstanding() = event.payment_delayed().outstanding();
    }
  } else if (!after.has_latest_payment() || Earlier(after.latest_payment(), mark)) {
    *after.mutable_latest_payment() = mark;
  }
  std::string serialized = after.SerializeAsString();
  if (stored && serialized == *stored) return Status::Ok();
  AddInvoice(event.client_id(), before, -1, transaction);
  AddInvoice(event.client_id(), after, +1, transaction);
  transaction.Put(key, std::move(serialized));
  return Status::Ok();
}

// ---- Reading ----

StatusOr<int64_t> ReadCounter(const store::KeyValueReader& reader, std::string_view key) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(key));
  if (!stored) return int64_t{0};
  return store::DecodeCounter(*stored);
}

StatusOr<std::vector<int32_t>> ReadPartitions(const store::KeyValueReader& reader) {
  std::vector<int32_t> partitions;
  LOK_RETURN_IF_ERROR(
      reader.ScanPrefix(kPartitionPrefix, [&](std::string_view key, std::string_view) {
        if (auto partition = ReadBigEndian32(key, kPartitionPrefix.size())) {
          partitions.push_back(static_cast<int32_t>(*partition));
        }
        return true;
      }));
  return partitions;
}

// A group's statistics summed over the partitions.
StatusOr<Stats> ReadStats(const store::KeyValueReader& reader,
                          const std::vector<int32_t>& partitions, const std::string& group) {
  Stats total;
  for (int32_t partition : partitions) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                         reader.Get(PartitionedKey(kStatPrefix, partition, group)));
    if (!stored) continue;
    LOK_ASSIGN_OR_RETURN(Stats stats, DecodeStats(*stored));
    total += stats;
  }
  return total;
}

// The smallest key after every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

// One range of a ScanRanges call: its keys go to `visit`, which may go on,
// skip ahead inside the range (kSeek) or end the range early (kStop).
struct RangeTask {
  std::string begin;
  std::string end;  // exclusive
  std::function<store::KeyValueReader::ScanStep(std::string_view, std::string_view)> visit;
};

// Scans several ranges, in key order, with one seeking scan (one iterator on
// RocksDB instead of one per range: creating and positioning an iterator
// costs about as much as reading a few dozen keys).
// REQUIRES: the ranges are sorted by `begin` and do not overlap.
Status ScanRanges(const store::KeyValueReader& reader, std::vector<RangeTask>& tasks) {
  using Step = store::KeyValueReader::ScanStep;
  if (tasks.empty()) return Status::Ok();
  size_t current = 0;
  return reader.ScanRangeSeeking(
      tasks.front().begin, tasks.back().end,
      [&](std::string_view key, std::string_view value) -> Step {
        while (current < tasks.size() && key >= std::string_view(tasks[current].end)) ++current;
        if (current == tasks.size()) return {Step::Action::kStop, {}};
        RangeTask& task = tasks[current];
        if (key < std::string_view(task.begin)) return {Step::Action::kSeek, task.begin};
        Step step = task.visit(key, value);
        if (step.action == Step::Action::kSeek &&
            std::string_view(step.seek_to) >= std::string_view(task.end)) {
          step = {Step::Action::kStop, {}};
        }
        if (step.action != Step::Action::kStop) return step;
        if (++current == tasks.size()) return {Step::Action::kStop, {}};
        return {Step::Action::kSeek, tasks[current].begin};
      });
}

// The "scopes seen" index of several windows (each given by its WindowPart)
// for one dimension: per window, every value with revenue and its
// statistics summed over the partitions. One seeking scan per partition.
// REQUIRES: `window_parts` sorted.
StatusOr<std::vector<std::map<std::string, Stats>>> ReadScopeValuesOfWindows(
    const store::KeyValueReader& reader, const std::vector<int32_t>& partitions,
    const std::vector<std::string>& window_parts, ScopeKind kind) {
  using Step = store::KeyValueReader::ScanStep;
  std::vector<std::map<std::string, Stats>> windows(window_parts.size());
  Status corrupt = Status::Ok();
  for (int32_t partition : partitions) {
    std::vector<RangeTask> tasks;
    tasks.reserve(window_parts.size());
    for (size_t index = 0; index < window_parts.size(); ++index) {
      std::string prefix = PartitionedKey(kStatPrefix, partition, window_parts[index]);
      prefix.push_back(ScopeChar(kind));
      std::string end = PrefixEnd(prefix);
      const size_t prefix_size = prefix.size();
      tasks.push_back({std::move(prefix), std::move(end),
                       [&windows, &corrupt, index, prefix_size](std::string_view key,
                                                               std::string_view bytes) -> Step {
                         size_t position = prefix_size;
                         std::optional<std::string> value = ReadEscapedString(key, position);
                         StatusOr<Stats> stats = DecodeStats(bytes);
                         if (!value || !stats.ok()) {
                           corrupt = DataLossError("concentration: unreadable scope statistics");
                           return {Step::Action::kStop, {}};
                         }
                         windows[index][*value] += *stats;
                         return {};
                       }});
    }
    LOK_RETURN_IF_ERROR(ScanRanges(reader, tasks));
    LOK_RETURN_IF_ERROR(corrupt);
  }
  return windows;
}

struct TopEntry {
  int64_t revenue = 0;
  std::string client;
};

// The global order: revenue descending, then client_id ascending.
bool Precedes(const TopEntry& left, const TopEntry& right) {
  if (left.revenue != right.revenue) return left.revenue > right.revenue;
  return left.client < right.client;
}

// The first clients of a group in the global order, merged over the
// partitions. Reads `per_partition` index entries of each partition; the merged
// list is exact up to the earliest last entry of a partition that had more.
// Grows the read (×2) until `enough` holds on the exact prefix, the group is
// exhausted, or kParetoScanLimit entries are exact. `complete` tells whether
// the list holds every client of the group.
struct TopList {
  std::vector<TopEntry> entries;
  bool complete = false;
};

StatusOr<TopList> ReadTop(const store::KeyValueReader& reader,
                          const std::vector<int32_t>& partitions, const std::string& group,
                          const std::function<bool(const std::vector<TopEntry>&)>& enough) {
  size_t per_partition = 16;
  while (true) {
    std::vector<TopEntry> merged;
    std::optional<TopEntry> frontier;
    Status corrupt = Status::Ok();
    for (int32_t partition : partitions) {
      const std::string prefix = PartitionedKey(kTopPrefix, partition, group);
      size_t taken = 0;
      bool truncated = false;
      LOK_RETURN_IF_ERROR(reader.ScanPrefix(prefix, [&](std::string_view key, std::string_view) {
        if (taken == per_partition) {
          truncated = true;
          return false;
        }
        size_t position = prefix.size() + 8;
        std::optional<uint64_t> inverted = ReadBigEndian64(key, prefix.size());
        std::optional<std::string> client = ReadEscapedString(key, position);
        if (!inverted || !client) {
          corrupt = DataLossError("concentration: unreadable index entry");
          return false;
        }
        merged.push_back({static_cast<int64_t>(~*inverted), std::move(*client)});
        ++taken;
        return true;
      }));
      LOK_RETURN_IF_ERROR(corrupt);
      if (truncated && (!frontier || Precedes(merged.back(), *frontier))) frontier = merged.back();
    }
    std::sort(merged.begin(), merged.end(), Precedes);
    if (!frontier) return TopList{std::move(merged), true};
    // Unread entries of a truncated partition all come after its last read one.
    const auto exact_end = std::find_if(merged.begin(), merged.end(), [&](const TopEntry& entry) {
      return Precedes(*frontier, entry);
    });
    merged.erase(exact_end, merged.end());
    if (enough(merged) || merged.size() >= static_cast<size_t>(kParetoScanLimit)) {
      return TopList{std::move(merged), false};
    }
    per_partition *= 2;
  }
}

// Pareto k80 from the revenue distribution: walk the buckets from the top
// until 80 % of Σ is reached, then count inside the crossing bucket from the
// revenue-ordered index (exact). When that bucket holds more than
// kParetoScanLimit clients, count there from the bucket's average revenue
// instead (exact = false; within the bucket's clients, usually far closer).
struct ParetoK80 {
  int64_t clients = 0;
  bool exact = true;
};

// Where the walk over the revenue distribution from the top stopped: k80
// itself (`result`), or the crossing bucket whose clients' revenues (from
// the index, any order) FinishK80 needs.
struct HistogramWalk {
  std::optional<ParetoK80> result;
  int32_t bucket = 0;  // the crossing bucket
  int64_t lower = 0;   // its revenues: [lower, upper)
  int64_t upper = 0;
  Uint128 goal = 0;
  Uint128 cumulative = 0;  // Σ revenue of the buckets above it
  int64_t counted = 0;     // their clients
};

StatusOr<HistogramWalk> WalkHistogram(const store::KeyValueReader& reader,
                                      const std::vector<int32_t>& partitions,
                                      const std::string& group, int64_t total) {
  // The first k clients reach 80 % when 5 · Σ of their revenue >= 4 · total.
  const Uint128 goal = 4 * static_cast<Uint128>(static_cast<uint64_t>(total));
  Uint128 cumulative = 0;
  int64_t counted = 0;
  // The bucket where the walk from the top reaches the goal.
  std::optional<int32_t> crossing;
  std::array<int64_t, 2> crossing_sums{};
  // Takes the next bucket from the top; false once it is the crossing one.
  auto walk = [&](int32_t bucket, const std::array<int64_t, 2>& sums) {
    const Uint128 with_bucket = cumulative + static_cast<uint64_t>(sums[1]);
    if (5 * with_bucket < goal) {
      cumulative = with_bucket;
      counted += sums[0];
      return true;
    }
    crossing = bucket;
    crossing_sums = sums;
    return false;
  };
  Status corrupt = Status::Ok();
  auto decode = [&](std::string_view key, std::string_view value, size_t prefix_size,
                    int32_t& bucket, std::array<int64_t, 2>& counts) {
    std::optional<uint32_t> stored_bucket = ReadBigEndian32(key, prefix_size);
    counts = {};
    if (!stored_bucket || key.size() != prefix_size + 4 ||
        !store::DecodeCounterVectorInto(value, counts).ok()) {
      corrupt = DataLossError("concentration: unreadable revenue distribution");
      return false;
    }
    bucket = static_cast<int32_t>(*stored_bucket);
    return true;
  };
  if (partitions.size() == 1) {
    // One stripe (every store this version writes): its buckets from the
    // top, read only down to the crossing one (about a third of them).
    const std::string prefix = PartitionedKey(kHistogramPrefix, partitions[0], group);
    LOK_RETURN_IF_ERROR(reader.ScanRangeReverse(
        prefix, PrefixEnd(prefix), [&](std::string_view key, std::string_view value) {
          int32_t bucket = 0;
          std::array<int64_t, 2> counts{};
          return decode(key, value, prefix.size(), bucket, counts) && walk(bucket, counts);
        }));
    LOK_RETURN_IF_ERROR(corrupt);
  } else {
    // Several stripes: every bucket of each, summed, then walked from the top.
    std::vector<std::pair<int32_t, std::array<int64_t, 2>>> buckets;  // clients, Σ revenue
    for (int32_t partition : partitions) {
      const std::string prefix = PartitionedKey(kHistogramPrefix, partition, group);
      LOK_RETURN_IF_ERROR(
          reader.ScanPrefix(prefix, [&](std::string_view key, std::string_view value) {
            int32_t bucket = 0;
            std::array<int64_t, 2> counts{};
            if (!decode(key, value, prefix.size(), bucket, counts)) return false;
            buckets.emplace_back(bucket, counts);
            return true;
          }));
      LOK_RETURN_IF_ERROR(corrupt);
    }
    std::sort(buckets.begin(), buckets.end(),
              [](const auto& left, const auto& right) { return left.first > right.first; });
    for (size_t index = 0; index < buckets.size();) {
      std::array<int64_t, 2> sums{};
      const int32_t bucket = buckets[index].first;
      for (; index < buckets.size() && buckets[index].first == bucket; ++index) {
        sums[0] += buckets[index].second[0];
        sums[1] += buckets[index].second[1];
      }
      if (!walk(bucket, sums)) break;
    }
  }
  HistogramWalk result;
  if (!crossing) {  // no revenue: k80 = 0
    result.result = ParetoK80{counted, true};
    return result;
  }
  const std::array<int64_t, 2>& sums = crossing_sums;
  if (sums[0] > kParetoScanLimit) {
    const long double missing =
        (static_cast<long double>(goal) - 5.0L * static_cast<long double>(cumulative)) / 5.0L;
    const long double average =
        static_cast<long double>(sums[1]) / static_cast<long double>(sums[0]);
    const auto needed = static_cast<int64_t>(std::ceil(missing / average));
    result.result = ParetoK80{counted + std::clamp<int64_t>(needed, 1, sums[0]), false};
    return result;
  }
  result.bucket = *crossing;
  result.lower = BucketLowerBound(*crossing);
  result.upper = BucketLowerBound(*crossing + 1);  // exclusive
  result.goal = goal;
  result.cumulative = cumulative;
  result.counted = counted;
  return result;
}

// k80 from the crossing bucket's revenues, highest first.
StatusOr<ParetoK80> FinishK80(const HistogramWalk& walk, std::vector<int64_t> revenues) {
  if (walk.result) return *walk.result;
  std::sort(revenues.begin(), revenues.end(), std::greater<>());
  Uint128 cumulative = walk.cumulative;
  for (size_t index = 0; index < revenues.size(); ++index) {
    cumulative += static_cast<uint64_t>(revenues[index]);
    if (5 * cumulative >= walk.goal) {
      return ParetoK80{walk.counted + static_cast<int64_t>(index) + 1, true};
    }
  }
  return DataLossError("concentration: revenue distribution and index disagree");
}

// The begin and end keys of the index entries of `group` with revenues in
// [lower, upper).
std::pair<std::string, std::string> RevenueRange(int32_t partition, const std::string& group,
                                                 int64_t lower, int64_t upper) {
  const std::string prefix = PartitionedKey(kTopPrefix, partition, group);
  std::string begin = prefix, end = prefix;
  AppendBigEndian64(begin, ~static_cast<uint64_t>(upper - 1));
  AppendBigEndian64(end, ~static_cast<uint64_t>(lower) + 1);
  return {std::move(begin), std::move(end)};
}

StatusOr<ParetoK80> ComputeK80(const store::KeyValueReader& reader,
                               const std::vector<int32_t>& partitions, const std::string& group,
                               int64_t total) {
  LOK_ASSIGN_OR_RETURN(HistogramWalk walk, WalkHistogram(reader, partitions, group, total));
  if (walk.result) return *walk.result;
  // The bucket's clients, from every partition.
  std::vector<int64_t> revenues;
  Status corrupt = Status::Ok();
  for (int32_t partition : partitions) {
    const size_t prefix_size = kTopPrefix.size() + 4 + group.size();
    const auto [begin, end] = RevenueRange(partition, group, walk.lower, walk.upper);
    LOK_RETURN_IF_ERROR(reader.ScanRange(begin, end, [&](std::string_view key, std::string_view) {
      std::optional<uint64_t> inverted = ReadBigEndian64(key, prefix_size);
      if (!inverted) {
        corrupt = DataLossError("concentration: unreadable index entry");
        return false;
      }
      revenues.push_back(static_cast<int64_t>(~*inverted));
      return true;
    }));
    LOK_RETURN_IF_ERROR(corrupt);
  }
  return FinishK80(walk, std::move(revenues));
}

// Sets `money` in place (it may live on the answer's arena).
void SetMoney(lok::v1::Money* money, int64_t minor, std::string_view currency) {
  money->set_minor(minor);
  money->set_currency(std::string(currency));
}

// Point reads gathered from every block of an answer and done in one
// KeyValueReader::MultiGet, keys sorted and each read once (a client can be
// listed in several blocks): one batched read instead of hundreds of Gets.
class BatchedRead {
 public:
  // The slot the next Add() gets; slots are consecutive.
  size_t next_slot() const { return keys_.size(); }

  // Asks for `key`; returns the slot its value will have.
  size_t Add(std::string key) {
    keys_.push_back(std::move(key));
    return keys_.size() - 1;
  }

  // Reads every key asked for. Errors: store failures.
  Status Run(const store::KeyValueReader& reader) {
    std::vector<size_t> order(keys_.size());
    for (size_t index = 0; index < order.size(); ++index) order[index] = index;
    std::sort(order.begin(), order.end(),
              [&](size_t left, size_t right) { return keys_[left] < keys_[right]; });
    std::vector<std::string> distinct;
    distinct.reserve(keys_.size());
    distinct_of_slot_.assign(keys_.size(), 0);
    for (size_t slot : order) {
      if (distinct.empty() || distinct.back() != keys_[slot]) {
        distinct.push_back(std::move(keys_[slot]));
      }
      distinct_of_slot_[slot] = distinct.size() - 1;
    }
    keys_.clear();
    LOK_ASSIGN_OR_RETURN(values_, reader.MultiGet(distinct));
    return Status::Ok();
  }

  // The value at `slot`; nullopt when the key is absent. REQUIRES: Run() succeeded.
  const std::optional<std::string>& Value(size_t slot) const {
    return values_[distinct_of_slot_[slot]];
  }

 private:
  std::vector<std::string> keys_;
  std::vector<size_t> distinct_of_slot_;
  std::vector<std::optional<std::string>> values_;
};

// A client row waiting for its counters from a BatchedRead.
struct PendingRow {
  std::string client;
  int64_t revenue = 0;
  size_t first_slot = 0;  // the client's five counters, in the order AddClientRow asks
};

// Asks `read` for the counters of `client`'s row.
PendingRow AddClientRow(BatchedRead& read, std::string client, int64_t revenue,
                        std::string_view currency) {
  PendingRow row;
  row.first_slot = read.Add(ClientKey(client, kDiscountSum));
  read.Add(ClientKey(client, kDaysLateSum));
  read.Add(ClientKey(client, kDelayedInvoices));
  read.Add(ClientKey(client, kOverdue, currency));
  read.Add(ClientKey(client, kDiscountedDeals));
  row.client = std::move(client);
  row.revenue = revenue;
  return row;
}

// A client's row: revenue and share as given, the rest from its attributes.
Status FillClientRow(const BatchedRead& read, const PendingRow& pending, int64_t total,
                     std::string_view currency, lok::v1::ConcentrationClient& row) {
  row.set_client_id(pending.client);
  SetMoney(row.mutable_revenue(), pending.revenue, currency);
  row.set_share(Share(pending.revenue, total));
  std::array<int64_t, 5> counters{};
  for (size_t index = 0; index < counters.size(); ++index) {
    const std::optional<std::string>& value = read.Value(pending.first_slot + index);
    if (!value) continue;
    LOK_ASSIGN_OR_RETURN(counters[index], store::DecodeCounter(*value));
  }
  const auto [discount, days, delayed, overdue, deals] = counters;
  SetMoney(row.mutable_overdue(), overdue, currency);
  row.set_delayed_invoices(delayed);
  row.set_average_days_late(Share(days, delayed));
  row.set_discounted_won_deals(deals);
  row.set_average_discount_bp(Share(discount, deals));
  return Status::Ok();
}

// The client's revenue in a group; 0 when the model has never seen it.
StatusOr<int64_t> ReadClientRevenue(const store::KeyValueReader& reader, std::string_view client,
                                    const std::string& group) {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> partition_bytes,
                       reader.Get(ClientKey(client, kClientPartition)));
  if (!partition_bytes) return int64_t{0};
  std::optional<uint32_t> partition = ReadBigEndian32(*partition_bytes, 0);
  if (!partition) return DataLossError("concentration: unreadable client partition");
  return ReadCounter(reader, RevenueKey(static_cast<int32_t>(*partition), group, client));
}

void AddAlert(ConcentrationAlert::Kind kind, const std::string& scope, std::string client,
              double value, double threshold, lok::v1::ConcentrationResponse& response) {
  ConcentrationAlert* alert = response.add_alerts();
  alert->set_kind(kind);
  alert->set_scope(scope);
  alert->set_client_id(std::move(client));
  alert->set_value(value);
  alert->set_threshold(threshold);
}

// One scope's block while it is built: the scans happen first, block by
// block (StartBlock); the point reads of every block (client rows, monthly
// trend) are gathered in one BatchedRead and used after it ran (FinishBlock).
struct PendingBlock {
  ScopeKind kind = ScopeKind::kAll;
  std::string value;
  Stats stats;
  ConcentrationBlock* block = nullptr;  // in the answer
  TopList top;
  ParetoK80 k80;
  bool top_read = false;  // top and k80 already read (ReadTopsAndK80)
  std::vector<PendingRow> rows;
  size_t first_trend_slot = 0;  // months × partitions statistics, month-major
  // A breakdown block's trend: each month's statistics of every value of the
  // dimension (one scan per month, shared by the blocks); null: read its own.
  const std::vector<std::map<std::string, Stats>>* scanned_trend = nullptr;
};

// One group's index read while ReadTopsAndK80 scans: its first entries as
// ReadTop would return them, and the revenues of its k80 crossing bucket.
class TopScan {
 public:
  using Step = store::KeyValueReader::ScanStep;

  TopScan(std::string prefix, const HistogramWalk& walk, size_t wanted, int64_t sum,
          double share_alert)
      : prefix_(std::move(prefix)),
        walk_(walk),
        wanted_(wanted),
        sum_(sum),
        share_alert_(share_alert) {}

  const std::string& prefix() const { return prefix_; }

  // Takes the index entries from the top: every one until ReadTop's stopping
  // rule holds (checked where ReadTop checks it: after 16, 32, 64, ...
  // entries), then skips to the crossing bucket and reads its entries.
  Step Visit(std::string_view key) {
    std::optional<uint64_t> inverted = ReadBigEndian64(key, prefix_.size());
    if (!inverted) return Corrupt();
    const auto revenue = static_cast<int64_t>(~*inverted);
    const bool wants_crossing = !walk_.result.has_value();
    if (wants_crossing && revenue >= walk_.lower && revenue < walk_.upper) {
      crossing_.push_back(revenue);
    }
    if (!top_done_) {
      size_t position = prefix_.size() + 8;
      std::optional<std::string> client = ReadEscapedString(key, position);
      if (!client) return Corrupt();
      entries_.push_back({revenue, std::move(*client)});
      if (entries_.size() == checkpoint_) {
        if (Enough() || entries_.size() >= static_cast<size_t>(kParetoScanLimit)) {
          top_done_ = true;
        } else {
          checkpoint_ *= 2;
        }
      }
      if (!top_done_) return {};
    }
    if (!wants_crossing || revenue < walk_.lower) return {Step::Action::kStop, {}};
    if (revenue >= walk_.upper) {
      std::string seek = prefix_;
      AppendBigEndian64(seek, ~static_cast<uint64_t>(walk_.upper - 1));
      return {Step::Action::kSeek, std::move(seek)};
    }
    return {};
  }

  const Status& corrupt() const { return corrupt_; }
  std::vector<TopEntry>& entries() { return entries_; }
  std::vector<int64_t>& crossing() { return crossing_; }

 private:
  bool Enough() const {
    return entries_.size() >= wanted_ && Share(entries_.back().revenue, sum_) < share_alert_;
  }
  Step Corrupt() {
    corrupt_ = DataLossError("concentration: unreadable index entry");
    return {Step::Action::kStop, {}};
  }

  std::string prefix_;
  const HistogramWalk& walk_;
  size_t wanted_;
  int64_t sum_;
  double share_alert_;
  std::vector<TopEntry> entries_;
  size_t checkpoint_ = 16;
  bool top_done_ = false;
  std::vector<int64_t> crossing_;
  Status corrupt_ = Status::Ok();
};

// Every block's top entries and k80 on a store with one stripe: the
// distributions walked block by block (reverse scans), then every block's
// index entries in one scan (ScanRanges), instead of a top scan and a
// crossing-bucket scan per block. The same answer as ReadTop and ComputeK80.
Status ReadTopsAndK80(const store::KeyValueReader& reader, int32_t partition,
                      const ConcentrationQuery& query, char bucket,
                      std::vector<PendingBlock>& blocks) {
  const std::vector<int32_t> partitions = {partition};
  const auto wanted = static_cast<size_t>(std::max<int64_t>(query.limit, 10));
  std::vector<HistogramWalk> walks(blocks.size());
  std::vector<std::unique_ptr<TopScan>> scans(blocks.size());
  std::vector<size_t> order;
  for (size_t index = 0; index < blocks.size(); ++index) {
    const PendingBlock& block = blocks[index];
    if (block.stats.sum <= 0) continue;
    const std::string group =
        Group(bucket, query.window.last_month, query.currency, block.kind, block.value);
    LOK_ASSIGN_OR_RETURN(walks[index],
                         WalkHistogram(reader, partitions, group, block.stats.sum));
    scans[index] = std::make_unique<TopScan>(PartitionedKey(kTopPrefix, partition, group),
                                             walks[index], wanted, block.stats.sum,
                                             query.client_share_alert);
    order.push_back(index);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t left, size_t right) { return scans[left]->prefix() < scans[right]->prefix(); });
  std::vector<RangeTask> tasks;
  tasks.reserve(order.size());
  for (size_t index : order) {
    TopScan* scan = scans[index].get();
    tasks.push_back({scan->prefix(), PrefixEnd(scan->prefix()),
                     [scan](std::string_view key, std::string_view) { return scan->Visit(key); }});
  }
  LOK_RETURN_IF_ERROR(ScanRanges(reader, tasks));
  for (size_t index : order) {
    TopScan& scan = *scans[index];
    LOK_RETURN_IF_ERROR(scan.corrupt());
    PendingBlock& block = blocks[index];
    block.top.entries = std::move(scan.entries());
    LOK_ASSIGN_OR_RETURN(block.k80, FinishK80(walks[index], std::move(scan.crossing())));
    block.top_read = true;
  }
  return Status::Ok();
}

// Fills the block's totals, shares and k80, and asks `read` for its rows and
// trend.
Status StartBlock(const store::KeyValueReader& reader, const std::vector<int32_t>& partitions,
                  const ConcentrationQuery& query, PendingBlock& pending, BatchedRead& read) {
  const ConcentrationWindow& window = query.window;
  const char bucket =
      window.kind == ConcentrationWindow::Kind::kMonth ? kMonthBucket : kTrailingBucket;
  const Stats& stats = pending.stats;
  const std::string group =
      Group(bucket, window.last_month, query.currency, pending.kind, pending.value);
  ConcentrationBlock& block = *pending.block;
  block.set_scope(ScopeLabel(pending.kind, pending.value));
  SetMoney(block.mutable_revenue(), stats.sum, query.currency);
  block.set_clients(stats.clients);
  block.set_hhi(Hhi(stats));
  block.set_pareto_k80_exact(true);

  TopList& top = pending.top;
  if (stats.sum > 0) {
    if (!pending.top_read) {
      const auto wanted = static_cast<size_t>(std::max<int64_t>(query.limit, 10));
      // Enough for the top 10 and the listed clients, and past every client
      // over the share alert.
      LOK_ASSIGN_OR_RETURN(
          top, ReadTop(reader, partitions, group, [&](const std::vector<TopEntry>& entries) {
            return entries.size() >= wanted &&
                   Share(entries.back().revenue, stats.sum) < query.client_share_alert;
          }));
      LOK_ASSIGN_OR_RETURN(pending.k80, ComputeK80(reader, partitions, group, stats.sum));
    }
    int64_t top1 = 0, top5 = 0, top10 = 0;
    for (size_t rank = 0; rank < top.entries.size(); ++rank) {
      const int64_t revenue = top.entries[rank].revenue;
      if (rank < 1) top1 += revenue;
      if (rank < 5) top5 += revenue;
      if (rank < 10) top10 += revenue;
    }
    block.set_top1_share(Share(top1, stats.sum));
    block.set_top5_share(Share(top5, stats.sum));
    block.set_top10_share(Share(top10, stats.sum));
    block.set_pareto_k80(pending.k80.clients);
    block.set_pareto_k80_exact(pending.k80.exact);
  }

  if (query.client) {
    LOK_ASSIGN_OR_RETURN(int64_t revenue, ReadClientRevenue(reader, *query.client, group));
    pending.rows.push_back(AddClientRow(read, *query.client, revenue, query.currency));
  } else {
    const size_t rows = std::min(top.entries.size(), static_cast<size_t>(query.limit));
    pending.rows.reserve(rows);
    for (size_t rank = 0; rank < rows; ++rank) {
      pending.rows.push_back(
          AddClientRow(read, top.entries[rank].client, top.entries[rank].revenue, query.currency));
    }
  }

  pending.first_trend_slot = read.next_slot();
  if (pending.scanned_trend != nullptr) return Status::Ok();
  for (int32_t month = window.first_month(); month <= window.last_month; ++month) {
    const std::string month_group =
        Group(kMonthBucket, month, query.currency, pending.kind, pending.value);
    for (int32_t partition : partitions) {
      read.Add(PartitionedKey(kStatPrefix, partition, month_group));
    }
  }
  return Status::Ok();
}

// Adds the block's rows and trend from `read`, and appends its alerts to
// `response`. REQUIRES: read.Run() succeeded after StartBlock(pending).
Status FinishBlock(const ConcentrationQuery& query, const std::vector<int32_t>& partitions,
                   const BatchedRead& read, PendingBlock& pending,
                   lok::v1::ConcentrationResponse& response) {
  const ConcentrationWindow& window = query.window;
  const Stats& stats = pending.stats;
  ConcentrationBlock& block = *pending.block;
  for (const PendingRow& row : pending.rows) {
    LOK_RETURN_IF_ERROR(
        FillClientRow(read, row, stats.sum, query.currency, *block.add_top_clients()));
  }

  size_t slot = pending.first_trend_slot;
  for (int32_t month = window.first_month(); month <= window.last_month; ++month) {
    Stats month_stats;
    if (pending.scanned_trend != nullptr) {
      const auto& values =
          (*pending.scanned_trend)[static_cast<size_t>(month - window.first_month())];
      if (auto found = values.find(pending.value); found != values.end()) {
        month_stats = found->second;
      }
    }
    for (size_t partition = 0; pending.scanned_trend == nullptr && partition < partitions.size();
         ++partition, ++slot) {
      const std::optional<std::string>& stored = read.Value(slot);
      if (!stored) continue;
      LOK_ASSIGN_OR_RETURN(Stats partition_stats, DecodeStats(*stored));
      month_stats += partition_stats;
    }
    lok::v1::ConcentrationMonth* point = block.add_trend();
    point->set_month(FormatMonth(month));
    SetMoney(point->mutable_revenue(), month_stats.sum, query.currency);
    point->set_clients(month_stats.clients);
    point->set_hhi(Hhi(month_stats));
  }

  if (stats.sum > 0) {
    if (block.hhi() >= query.hhi_high) {
      AddAlert(ConcentrationAlert::HHI_HIGH, block.scope(), "", block.hhi(), query.hhi_high,
               response);
    } else if (block.hhi() >= query.hhi_moderate) {
      AddAlert(ConcentrationAlert::HHI_MODERATE, block.scope(), "", block.hhi(), query.hhi_moderate,
               response);
    }
    for (const TopEntry& entry : pending.top.entries) {
      const double share = Share(entry.revenue, stats.sum);
      if (share < query.client_share_alert) break;
      AddAlert(ConcentrationAlert::CLIENT_SHARE, block.scope(), entry.client, share,
               query.client_share_alert, response);
    }
  }
  return Status::Ok();
}

}  // namespace

int64_t ConcentrationWindow::first_day() const { return FirstDayOfMonth(first_month()); }
int64_t ConcentrationWindow::last_day() const { return FirstDayOfMonth(last_month + 1) - 1; }

ConcentrationWindow TrailingYearEndingAt(int64_t day) {
  return {ConcentrationWindow::Kind::kTrailingYear, MonthOfDay(day)};
}

Status ConcentrationProjection::Apply(const Event& event, const EventPosition&,
                                      store::Transaction& transaction) {
  switch (event.payload_case()) {
    case Event::kLeadCreated:
    case Event::kOfferSent:
    case Event::kDealWon:
    case Event::kDealLost:
      LOK_RETURN_IF_ERROR(NoteClient(event, kStripe, transaction));
      return ApplyDealEvent(event, kStripe, transaction);
    case Event::kPaymentDelayed:
    case Event::kPaymentReceived:
      LOK_RETURN_IF_ERROR(NoteClient(event, kStripe, transaction));
      return ApplyPaymentEvent(event, transaction);
    default:
      return Status::Ok();
  }
}

StatusOr<lok::v1::ConcentrationResponse> QueryConcentration(const store::KeyValueReader& reader,
                                                            const ConcentrationQuery& query) {
  lok::v1::ConcentrationResponse response;
  LOK_RETURN_IF_ERROR(QueryConcentration(reader, query, response));
  return response;
}

Status QueryConcentration(const store::KeyValueReader& reader, const ConcentrationQuery& query,
                          lok::v1::ConcentrationResponse& response) {
  response.Clear();
  if (query.breakdown && query.scope_kind != ScopeKind::kAll) {
    return InvalidArgumentError(
        "by: cannot be combined with a salesperson, region or product filter");
  }
  LOK_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ReadPartitions(reader));
  const ConcentrationWindow& window = query.window;
  const char bucket =
      window.kind == ConcentrationWindow::Kind::kMonth ? kMonthBucket : kTrailingBucket;

  response.set_window_start(FormatDate(window.first_day()));
  response.set_window_end(FormatDate(window.last_day()));
  response.set_currency(query.currency);
  // The overall block first, then one per value of the breakdown.
  std::vector<PendingBlock> blocks(1);
  blocks[0].block = response.mutable_overall();
  blocks[0].kind = query.scope_kind;
  blocks[0].value = query.scope_value;
  LOK_ASSIGN_OR_RETURN(blocks[0].stats, ReadStats(reader, partitions,
                                                  Group(bucket, window.last_month, query.currency,
                                                        query.scope_kind, query.scope_value)));
  // A breakdown's monthly trends: the values of one month are contiguous
  // keys, so one scan per month reads every block's point of that month.
  std::vector<std::map<std::string, Stats>> scanned_trend;
  if (query.breakdown) {
    // Every month of the trend, then the window itself: one seeking scan.
    std::vector<std::string> window_parts;
    for (int32_t month = window.first_month(); month <= window.last_month; ++month) {
      window_parts.push_back(WindowPart(kMonthBucket, month, query.currency));
    }
    if (bucket != kMonthBucket) {
      window_parts.push_back(WindowPart(bucket, window.last_month, query.currency));
    }
    LOK_ASSIGN_OR_RETURN(
        scanned_trend,
        ReadScopeValuesOfWindows(reader, partitions, window_parts, *query.breakdown));
    // A one-month window's values are its trend's last (and only) month.
    std::map<std::string, Stats> values =
        bucket != kMonthBucket ? std::move(scanned_trend.back()) : scanned_trend.back();
    if (bucket != kMonthBucket) scanned_trend.pop_back();
    blocks.reserve(values.size() + 1);
    for (auto& [value, stats] : values) {
      PendingBlock& block = blocks.emplace_back();
      block.block = response.add_breakdown();
      block.scanned_trend = &scanned_trend;
      block.kind = *query.breakdown;
      block.value = value;
      block.stats = stats;
    }
  }
  if (partitions.size() == 1) {
    LOK_RETURN_IF_ERROR(ReadTopsAndK80(reader, partitions[0], query, bucket, blocks));
  }
  BatchedRead read;
  for (PendingBlock& block : blocks) {
    LOK_RETURN_IF_ERROR(StartBlock(reader, partitions, query, block, read));
  }
  LOK_RETURN_IF_ERROR(read.Run(reader));
  for (PendingBlock& block : blocks) {
    LOK_RETURN_IF_ERROR(FinishBlock(query, partitions, read, block, response));
  }
  return Status::Ok();
}

StatusOr<lok::v1::ClientConcentration> QueryClientConcentration(const store::KeyValueReader& reader,
                                                                std::string_view client_id,
                                                                std::string_view currency,
                                                                int64_t as_of_day) {
  const ConcentrationWindow window = TrailingYearEndingAt(as_of_day);
  const std::string group =
      Group(kTrailingBucket, window.last_month, currency, ScopeKind::kAll, "");
  LOK_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ReadPartitions(reader));
  LOK_ASSIGN_OR_RETURN(Stats total, ReadStats(reader, partitions, group));
  LOK_ASSIGN_OR_RETURN(int64_t revenue, ReadClientRevenue(reader, client_id, group));
  lok::v1::ClientConcentration answer;
  answer.set_window_start(FormatDate(window.first_day()));
  answer.set_window_end(FormatDate(window.last_day()));
  BatchedRead read;
  const PendingRow row = AddClientRow(read, std::string(client_id), revenue, currency);
  LOK_RETURN_IF_ERROR(read.Run(reader));
  LOK_RETURN_IF_ERROR(FillClientRow(read, row, total.sum, currency, *answer.mutable_client()));
  return answer;
}

}  // namespace lok::projections
