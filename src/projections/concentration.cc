#include "projections/concentration.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <functional>
#include <map>
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

// Every value of a dimension that has revenue in a window, with its
// statistics summed over the partitions (the "scopes seen" index).
StatusOr<std::map<std::string, Stats>> ReadScopeValues(const store::KeyValueReader& reader,
                                                       const std::vector<int32_t>& partitions,
                                                       const std::string& window_part,
                                                       ScopeKind kind) {
  std::map<std::string, Stats> values;
  Status corrupt = Status::Ok();
  for (int32_t partition : partitions) {
    std::string prefix = PartitionedKey(kStatPrefix, partition, window_part);
    prefix.push_back(ScopeChar(kind));
    LOK_RETURN_IF_ERROR(
        reader.ScanPrefix(prefix, [&](std::string_view key, std::string_view bytes) {
          size_t position = prefix.size();
          std::optional<std::string> value = ReadEscapedString(key, position);
          StatusOr<Stats> stats = DecodeStats(bytes);
          if (!value || !stats.ok()) {
            corrupt = DataLossError("concentration: unreadable scope statistics");
            return false;
          }
          values[*value] += *stats;
          return true;
        }));
    LOK_RETURN_IF_ERROR(corrupt);
  }
  return values;
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

StatusOr<ParetoK80> ComputeK80(const store::KeyValueReader& reader,
                               const std::vector<int32_t>& partitions, const std::string& group,
                               int64_t total) {
  std::map<int32_t, std::array<int64_t, 2>, std::greater<>> buckets;  // clients, Σ revenue
  Status corrupt = Status::Ok();
  for (int32_t partition : partitions) {
    const std::string prefix = PartitionedKey(kHistogramPrefix, partition, group);
    LOK_RETURN_IF_ERROR(reader.ScanPrefix(prefix, [&](std::string_view key,
                                                      std::string_view value) {
      std::optional<uint32_t> bucket = ReadBigEndian32(key, prefix.size());
      std::array<int64_t, 2> counts{};
      if (!bucket || key.size() != prefix.size() + 4 ||
          !store::DecodeCounterVectorInto(value, counts).ok()) {
        corrupt = DataLossError("concentration: unreadable revenue distribution");
        return false;
      }
      auto& sums = buckets[static_cast<int32_t>(*bucket)];
      sums[0] += counts[0];
      sums[1] += counts[1];
      return true;
    }));
    LOK_RETURN_IF_ERROR(corrupt);
  }
  // The first k clients reach 80 % when 5 · Σ of their revenue >= 4 · total.
  const Uint128 goal = 4 * static_cast<Uint128>(static_cast<uint64_t>(total));
  Uint128 cumulative = 0;
  int64_t counted = 0;
  for (const auto& [bucket, sums] : buckets) {
    const Uint128 with_bucket = cumulative + static_cast<uint64_t>(sums[1]);
    if (5 * with_bucket < goal) {
      cumulative = with_bucket;
      counted += sums[0];
      continue;
    }
    if (sums[0] > kParetoScanLimit) {
      const long double missing = (static_cast<long double>(goal) -
                                   5.0L * static_cast<long double>(cumulative)) / 5.0L;
      const long double average =
          static_cast<long double>(sums[1]) / static_cast<long double>(sums[0]);
      const auto needed = static_cast<int64_t>(std::ceil(missing / average));
      return ParetoK80{counted + std::clamp<int64_t>(needed, 1, sums[0]), false};
    }
    // The bucket's clients, highest revenue first, from every partition.
    const int64_t lower = BucketLowerBound(bucket);
    const int64_t upper = BucketLowerBound(bucket + 1);  // exclusive
    std::vector<int64_t> revenues;
    for (int32_t partition : partitions) {
      const std::string prefix = PartitionedKey(kTopPrefix, partition, group);
      std::string begin = prefix, end = prefix;
      AppendBigEndian64(begin, ~static_cast<uint64_t>(upper - 1));
      AppendBigEndian64(end, ~static_cast<uint64_t>(lower) + 1);
      LOK_RETURN_IF_ERROR(reader.ScanRange(begin, end, [&](std::string_view key,
                                                           std::string_view) {
        std::optional<uint64_t> inverted = ReadBigEndian64(key, prefix.size());
        if (!inverted) {
          corrupt = DataLossError("concentration: unreadable index entry");
          return false;
        }
        revenues.push_back(static_cast<int64_t>(~*inverted));
        return true;
      }));
      LOK_RETURN_IF_ERROR(corrupt);
    }
    std::sort(revenues.begin(), revenues.end(), std::greater<>());
    for (size_t index = 0; index < revenues.size(); ++index) {
      cumulative += static_cast<uint64_t>(revenues[index]);
      if (5 * cumulative >= goal) return ParetoK80{counted + static_cast<int64_t>(index) + 1, true};
    }
    return DataLossError("concentration: revenue distribution and index disagree");
  }
  return ParetoK80{counted, true};  // no revenue: k80 = 0
}

lok::v1::Money MoneyOf(int64_t minor, std::string_view currency) {
  lok::v1::Money money;
  money.set_minor(minor);
  money.set_currency(std::string(currency));
  return money;
}

// A client's row: revenue and share as given, the rest from its attributes.
StatusOr<lok::v1::ConcentrationClient> ClientRow(const store::KeyValueReader& reader,
                                                 std::string_view client, int64_t revenue,
                                                 int64_t total, std::string_view currency) {
  lok::v1::ConcentrationClient row;
  row.set_client_id(std::string(client));
  *row.mutable_revenue() = MoneyOf(revenue, currency);
  row.set_share(Share(revenue, total));
  // The client's five counters in one batched read, keys in key order.
  const std::vector<std::string> keys = {
      ClientKey(client, kDiscountSum), ClientKey(client, kDaysLateSum),
      ClientKey(client, kDelayedInvoices), ClientKey(client, kOverdue, currency),
      ClientKey(client, kDiscountedDeals)};
  LOK_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> values, reader.MultiGet(keys));
  std::array<int64_t, 5> counters{};
  for (size_t index = 0; index < counters.size(); ++index) {
    if (!values[index]) continue;
    LOK_ASSIGN_OR_RETURN(counters[index], store::DecodeCounter(*values[index]));
  }
  const auto [discount, days, delayed, overdue, deals] = counters;
  *row.mutable_overdue() = MoneyOf(overdue, currency);
  row.set_delayed_invoices(delayed);
  row.set_average_days_late(Share(days, delayed));
  row.set_discounted_won_deals(deals);
  row.set_average_discount_bp(Share(discount, deals));
  return row;
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

// Builds one scope's block and appends its alerts to `response`.
StatusOr<ConcentrationBlock> BuildBlock(const store::KeyValueReader& reader,
                                        const std::vector<int32_t>& partitions,
                                        const ConcentrationQuery& query, ScopeKind kind,
                                        const std::string& value, const Stats& stats,
                                        lok::v1::ConcentrationResponse& response) {
  const ConcentrationWindow& window = query.window;
  const char bucket =
      window.kind == ConcentrationWindow::Kind::kMonth ? kMonthBucket : kTrailingBucket;
  const std::string group = Group(bucket, window.last_month, query.currency, kind, value);
  ConcentrationBlock block;
  block.set_scope(ScopeLabel(kind, value));
  *block.mutable_revenue() = MoneyOf(stats.sum, query.currency);
  block.set_clients(stats.clients);
  block.set_hhi(Hhi(stats));
  block.set_pareto_k80_exact(true);

  TopList top;
  if (stats.sum > 0) {
    const auto wanted = static_cast<size_t>(std::max<int64_t>(query.limit, 10));
    // Enough for the top 10 and the listed clients, and past every client
    // over the share alert.
    LOK_ASSIGN_OR_RETURN(
        top, ReadTop(reader, partitions, group, [&](const std::vector<TopEntry>& entries) {
          return entries.size() >= wanted &&
                 Share(entries.back().revenue, stats.sum) < query.client_share_alert;
        }));
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
    LOK_ASSIGN_OR_RETURN(ParetoK80 k80, ComputeK80(reader, partitions, group, stats.sum));
    block.set_pareto_k80(k80.clients);
    block.set_pareto_k80_exact(k80.exact);
  }

  if (query.client) {
    LOK_ASSIGN_OR_RETURN(int64_t revenue, ReadClientRevenue(reader, *query.client, group));
    LOK_ASSIGN_OR_RETURN(*block.add_top_clients(),
                         ClientRow(reader, *query.client, revenue, stats.sum, query.currency));
  } else {
    const size_t rows = std::min(top.entries.size(), static_cast<size_t>(query.limit));
    for (size_t rank = 0; rank < rows; ++rank) {
      LOK_ASSIGN_OR_RETURN(*block.add_top_clients(),
                           ClientRow(reader, top.entries[rank].client, top.entries[rank].revenue,
                                     stats.sum, query.currency));
    }
  }

  for (int32_t month = window.first_month(); month <= window.last_month; ++month) {
    LOK_ASSIGN_OR_RETURN(
        Stats month_stats,
        ReadStats(reader, partitions, Group(kMonthBucket, month, query.currency, kind, value)));
    lok::v1::ConcentrationMonth* point = block.add_trend();
    point->set_month(FormatMonth(month));
    *point->mutable_revenue() = MoneyOf(month_stats.sum, query.currency);
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
    for (const TopEntry& entry : top.entries) {
      const double share = Share(entry.revenue, stats.sum);
      if (share < query.client_share_alert) break;
      AddAlert(ConcentrationAlert::CLIENT_SHARE, block.scope(), entry.client, share,
               query.client_share_alert, response);
    }
  }
  return block;
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
  if (query.breakdown && query.scope_kind != ScopeKind::kAll) {
    return InvalidArgumentError(
        "by: cannot be combined with a salesperson, region or product filter");
  }
  LOK_ASSIGN_OR_RETURN(std::vector<int32_t> partitions, ReadPartitions(reader));
  const ConcentrationWindow& window = query.window;
  const char bucket =
      window.kind == ConcentrationWindow::Kind::kMonth ? kMonthBucket : kTrailingBucket;
  const std::string window_part = WindowPart(bucket, window.last_month, query.currency);

  lok::v1::ConcentrationResponse response;
  response.set_window_start(FormatDate(window.first_day()));
  response.set_window_end(FormatDate(window.last_day()));
  response.set_currency(query.currency);
  LOK_ASSIGN_OR_RETURN(Stats overall_stats,
                       ReadStats(reader, partitions,
                                 Group(bucket, window.last_month, query.currency, query.scope_kind,
                                       query.scope_value)));
  LOK_ASSIGN_OR_RETURN(*response.mutable_overall(),
                       BuildBlock(reader, partitions, query, query.scope_kind, query.scope_value,
                                  overall_stats, response));
  if (query.breakdown) {
    LOK_ASSIGN_OR_RETURN(auto values,
                         ReadScopeValues(reader, partitions, window_part, *query.breakdown));
    for (const auto& [value, stats] : values) {
      LOK_ASSIGN_OR_RETURN(
          *response.add_breakdown(),
          BuildBlock(reader, partitions, query, *query.breakdown, value, stats, response));
    }
  }
  return response;
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
  LOK_ASSIGN_OR_RETURN(*answer.mutable_client(),
                       ClientRow(reader, client_id, revenue, total.sum, currency));
  return answer;
}

}  // namespace lok::projections
