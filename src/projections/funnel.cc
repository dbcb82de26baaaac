#include "projections/funnel.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <span>
#include <tuple>

#include "base/civil_time.h"
#include "base/key_encoding.h"
#include "events/validation.h"
#include "projections/mark.h"

namespace lok::projections {
namespace {

using lok::v1::Event;
using lok::v1::FunnelDeal;
using lok::v1::Mark;
using lok::v1::Stage;

constexpr std::string_view kDealPrefix = "funnel/deal/";
constexpr std::string_view kClientPrefix = "funnel/client/";
constexpr std::string_view kCellPrefix = "funnel/cell/";
constexpr std::string_view kTargetPrefix = "funnel/target/";
constexpr std::array<Stage, 5> kStages = {lok::v1::LEAD, lok::v1::QUALIFIED, lok::v1::OFFER,
                                          lok::v1::WON, lok::v1::LOST};

// The counters of one aggregate cell. Stage-indexed blocks use 0 = LEAD ..
// 4 = LOST; "open" blocks use 0 = LEAD .. 2 = OFFER (an open deal's furthest).
constexpr size_t kCellReached = 0;        // [5] deals reaching (cohort) / entering (period)
constexpr size_t kCellAmount = 5;         // [5] their amounts in the cell's currency
constexpr size_t kCellCycleSeconds = 10;  // lead_created -> deal_won, summed
constexpr size_t kCellCycleDeals = 11;
constexpr size_t kCellStaySeconds = 12;  // [3] time spent in LEAD, QUALIFIED, OFFER
constexpr size_t kCellStayDeals = 15;    // [3] deals that entered explicitly and left
constexpr size_t kCellOpenDeals = 18;    // [3] open deals by furthest stage (cohort only)
constexpr size_t kCellOpenAmount = 21;   // [3] their latest offers (cohort only)
constexpr size_t kCellMetrics = 24;      // the counters above; then, per lead channel:
// Inbound demand: leads and won deals per lead channel (the channel's enum
// value is the slot; values beyond the slots count as CHANNEL_UNSPECIFIED).
constexpr size_t kChannelSlots = 16;
static_assert(lok::v1::LeadCreated::Channel_MAX < static_cast<int>(kChannelSlots));
constexpr size_t kCellChannelLeads = kCellMetrics;                  // [16]
constexpr size_t kCellChannelWon = kCellChannelLeads + kChannelSlots;  // [16]
constexpr size_t kCellSize = kCellChannelWon + kChannelSlots;

// Which count a cell holds: deals by the day their lead started (cohort) or
// stage entries by the day they happened (period).
constexpr char kCohort = 'c';
constexpr char kPeriod = 'p';

// Which dimensions a cell keeps. Every deal's contribution goes to one cell of
// each family; a query reads the smallest family that keeps every dimension
// it filters or breaks down by, so the common queries read a few cells per
// period instead of one per (salesperson, region, product) combination.
enum class Family : char {
  kTotal = 't',        // none of salesperson, region, product
  kSalesperson = 's',  // one dimension each
  kRegion = 'r',
  kProduct = 'd',
  kSalespersonRegion = 'e',  // two dimensions each
  kSalespersonProduct = 'f',
  kRegionProduct = 'g',
  kAll = 'a',  // all three
};
constexpr std::array<Family, 8> kFamilies = {
    Family::kTotal,         Family::kSalesperson,         Family::kRegion,
    Family::kProduct,       Family::kSalespersonRegion,   Family::kSalespersonProduct,
    Family::kRegionProduct, Family::kAll};

// The dimensions a family keeps, as bits: 1 salesperson, 2 region, 4 product.
// Its keys hold them in that order.
constexpr int kSalespersonBit = 1;
constexpr int kRegionBit = 2;
constexpr int kProductBit = 4;
int DimensionsOf(Family family) {
  switch (family) {
    case Family::kTotal:
      return 0;
    case Family::kSalesperson:
      return kSalespersonBit;
    case Family::kRegion:
      return kRegionBit;
    case Family::kProduct:
      return kProductBit;
    case Family::kSalespersonRegion:
      return kSalespersonBit | kRegionBit;
    case Family::kSalespersonProduct:
      return kSalespersonBit | kProductBit;
    case Family::kRegionProduct:
      return kRegionBit | kProductBit;
    case Family::kAll:
      return kSalespersonBit | kRegionBit | kProductBit;
  }
  return 0;
}
Family FamilyOfDimensions(int dimensions) {
  for (Family family : kFamilies) {
    if (DimensionsOf(family) == dimensions) return family;
  }
  return Family::kAll;
}

// How long a cell's time covers. A cell's time is its unit's number: the day
// since the epoch, the month's block (month * 4 + block), the month since
// 1970-01, the year since 1970. Each unit is a union of whole units of the
// finer levels, so a window is whole years, then whole months, blocks and
// days at its ragged edges (RangesFor).
constexpr char kDay = 'd';
constexpr char kBlock = 'w';  // days 1-8, 9-16, 17-24 and 25-end of a month
constexpr char kMonth = 'm';
constexpr char kYear = 'y';

// The levels a family keeps, coarsest first (every family keeps days and
// months). Each (family, level) costs about as much to write as any other
// (a batch of events spans a few days, so each level gets one cell per
// dimension combination), so the finer families keep fewer levels: the
// totals and single dimensions keep all four (all-time answers from ~20
// year cells); the pairs no years (a query combining two dimensions over
// all time reads month cells, a few hundred); all three only days and
// months (such queries filter on most dimensions and are rare).
std::span<const char> LevelsOf(Family family) {
  static constexpr std::array<char, 4> kAll = {kYear, kMonth, kBlock, kDay};
  static constexpr std::array<char, 3> kNoYears = {kMonth, kBlock, kDay};
  static constexpr std::array<char, 2> kMonthsAndDays = {kMonth, kDay};
  switch (DimensionsOf(family)) {
    case 0:
    case kSalespersonBit:
    case kRegionBit:
    case kProductBit:
      return kAll;
    case kSalespersonBit | kRegionBit | kProductBit:
      return kMonthsAndDays;
    default:
      return kNoYears;
  }
}
constexpr int64_t kBlockDays = 8;
constexpr int64_t kBlocksPerMonth = 4;

// The unit of `level` that `day` falls in.
int64_t UnitOfDay(char level, int64_t day) {
  const int32_t month = MonthOfDay(day);
  switch (level) {
    case kBlock:
      return int64_t{month} * kBlocksPerMonth +
             std::min((day - FirstDayOfMonth(month)) / kBlockDays, kBlocksPerMonth - 1);
    case kMonth:
      return month;
    case kYear:
      return FloorDiv(month, 12);
    default:
      return day;
  }
}

// The first day of a unit of `level`.
int64_t FirstDayOfUnit(char level, int64_t unit) {
  switch (level) {
    case kBlock:
      return FirstDayOfMonth(static_cast<int32_t>(FloorDiv(unit, kBlocksPerMonth))) +
             (unit - FloorDiv(unit, kBlocksPerMonth) * kBlocksPerMonth) * kBlockDays;
    case kMonth:
      return FirstDayOfMonth(static_cast<int32_t>(unit));
    case kYear:
      return FirstDayOfMonth(static_cast<int32_t>(unit * 12));
    default:
      return unit;
  }
}

// The month a unit of a level finer than a year falls in.
int32_t MonthOfUnit(char level, int64_t unit) {
  switch (level) {
    case kBlock:
      return static_cast<int32_t>(FloorDiv(unit, kBlocksPerMonth));
    case kMonth:
      return static_cast<int32_t>(unit);
    case kYear:
      return static_cast<int32_t>(unit * 12);
    default:
      return MonthOfDay(unit);
  }
}

size_t StageIndex(Stage stage) { return static_cast<size_t>(stage) - 1; }

// Sets the mark `has` / `get` / `set` describe to `mark` when it is empty or
// `mark` is earlier; true when it changed.
template <typename Has, typename Get, typename Set>
bool KeepEarliest(Has has, Get get, Set set, const Mark& mark) {
  if (has() && !Earlier(mark, get())) return false;
  set(mark);
  return true;
}

std::string DealKey(std::string_view deal_id) {
  return std::string(kDealPrefix) + std::string(deal_id);
}

std::string ClientDealKey(std::string_view client_id, std::string_view deal_id) {
  std::string key(kClientPrefix);
  AppendEscapedString(key, client_id);
  key.append(deal_id);
  return key;
}

// The dimensions and time of a cell. Cells carry no partition: each
// projector instance keeps its own store for the partitions it owns, so a
// cell already holds exactly one instance's share, and leaving the partition
// out of the key makes a query read 1/partitions as many cells.
//
// Key layout, after "funnel/cell/<mode><family><level>":
//   <salesperson><region><product><time><currency>
// keeping only the family's dimensions (escaped strings; none for family t).
// The lead channel is not a key dimension: each cell counts leads and won
// deals per channel in its own slots, which is all the inbound section needs.
// Leading with the dimensions makes a filter on them one contiguous range
// per level, and a breakdown by one hop from one value's window to the next
// (see ScanFamily).
struct CellKey {
  char mode = kCohort;
  Family family = Family::kAll;
  char level = kDay;
  int64_t time = 0;  // the unit of `level`: a day, block, month or year
  std::string currency;
  std::string salesperson;
  std::string region;
  std::string product;
  // Set by DecodeCellKey: where each kept dimension's escaped value ends in
  // the key, in key order, and how many there are.
  std::array<size_t, 3> dimension_end{};
  int dimensions = 0;
};

// The family's dimensions of `cell`, in key order; returns how many.
int DimensionValues(CellKey& cell, std::array<std::string*, 3>& values) {
  const int bits = DimensionsOf(cell.family);
  size_t count = 0;
  if (bits & kSalespersonBit) values[count++] = &cell.salesperson;
  if (bits & kRegionBit) values[count++] = &cell.region;
  if (bits & kProductBit) values[count++] = &cell.product;
  return static_cast<int>(count);
}

std::string FamilyPrefix(char mode, Family family, char level) {
  std::string key(kCellPrefix);
  key.push_back(mode);
  key.push_back(static_cast<char>(family));
  key.push_back(level);
  return key;
}

// Decodes `key` into `cell` (reusing its strings); false when malformed.
bool DecodeCellKey(std::string_view key, CellKey& cell) {
  if (!key.starts_with(kCellPrefix) || key.size() < kCellPrefix.size() + 3) return false;
  size_t position = kCellPrefix.size();
  cell.mode = key[position++];
  cell.family = static_cast<Family>(key[position++]);
  cell.level = key[position++];
  cell.salesperson.clear();
  cell.region.clear();
  cell.product.clear();
  std::array<std::string*, 3> values{};
  cell.dimensions = DimensionValues(cell, values);
  for (int index = 0; index < cell.dimensions; ++index) {
    if (!ReadEscapedStringInto(key, position, *values[static_cast<size_t>(index)])) return false;
    cell.dimension_end[static_cast<size_t>(index)] = position;
  }
  std::optional<int64_t> time = ReadOrderedInt64(key, position);
  if (!time) return false;
  cell.time = *time;
  position += 8;
  if (!ReadEscapedStringInto(key, position, cell.currency)) return false;
  return position == key.size();
}

int64_t Seconds(const Mark& mark) { return mark.occurred_at().seconds(); }

// What a deal adds to the cells, derived from its state alone.
struct DealFacts {
  std::array<bool, 5> reached{};
  std::array<int64_t, 5> entered_at{};  // seconds; skipped stages: the next reached stage's time
  std::array<bool, 3> entered_explicitly{};
  std::array<int64_t, 5> amount{};
  std::string currency;
};

DealFacts FactsOf(const FunnelDeal& deal) {
  DealFacts facts;
  for (Stage stage : kStages) facts.reached[StageIndex(stage)] = HasReached(deal, stage);
  // A stage's entry is the earliest mark at or beyond it, so entries never
  // decrease along the funnel even when events skip stages.
  int64_t earliest = std::numeric_limits<int64_t>::max();
  if (deal.has_outcome()) {
    earliest = Seconds(deal.outcome());
    facts.entered_at[StageIndex(deal.won() ? lok::v1::WON : lok::v1::LOST)] = earliest;
  }
  const std::array<const Mark*, 3> marks = {deal.has_lead() ? &deal.lead() : nullptr,
                                            deal.has_qualified() ? &deal.qualified() : nullptr,
                                            deal.has_offer() ? &deal.offer() : nullptr};
  for (int index = 2; index >= 0; --index) {
    const auto slot = static_cast<size_t>(index);
    if (marks[slot] != nullptr) earliest = std::min(earliest, Seconds(*marks[slot]));
    facts.entered_at[slot] = earliest;
    facts.entered_explicitly[slot] = marks[slot] != nullptr;
  }
  facts.currency = deal.won() && deal.has_outcome() ? deal.won_amount().currency()
                                                    : deal.offer_amount().currency();
  const int64_t offer =
      deal.offer_amount().currency() == facts.currency ? deal.offer_amount().minor() : 0;
  for (size_t index = 0; index < 5; ++index) facts.amount[index] = facts.reached[index] ? offer : 0;
  facts.amount[StageIndex(lok::v1::WON)] =
      facts.reached[StageIndex(lok::v1::WON)] ? deal.won_amount().minor() : 0;
  return facts;
}

using CellValues = std::array<int64_t, kCellSize>;

// A deal's contribution at day level, before it is spread over families and
// levels: one entry per (mode, day, currency, dimensions, channel).
struct DayCell {
  char mode = kCohort;
  int64_t day = 0;
  std::string currency;
  std::string salesperson;
  std::string region;
  std::string product;
  friend auto operator<=>(const DayCell&, const DayCell&) = default;
};
using DayDeltas = std::map<DayCell, CellValues>;

// Adds `sign` times the deal's contribution to `deltas`.
void AddContribution(const FunnelDeal& deal, int64_t sign, DayDeltas& deltas) {
  if (FurthestStage(deal) == lok::v1::STAGE_UNSPECIFIED) return;
  const DealFacts facts = FactsOf(deal);
  DayCell cell;
  cell.currency = facts.currency;
  cell.salesperson = deal.salesperson();
  cell.region = deal.region();
  cell.product = deal.product();
  const int channel = static_cast<int>(deal.channel());
  const size_t channel_slot =
      channel > 0 && channel < static_cast<int>(kChannelSlots) ? static_cast<size_t>(channel) : 0;
  const bool won = facts.reached[StageIndex(lok::v1::WON)];
  const bool open = !deal.has_outcome();
  const bool cycle = won && deal.has_lead();

  auto add = [&](char mode, int64_t seconds, size_t slot, int64_t value) {
    if (value == 0) return;
    cell.mode = mode;
    cell.day = DayOfSeconds(seconds);
    CellValues& values = deltas[cell];
    values[slot] += sign * value;
    if (slot == kCellReached + StageIndex(lok::v1::LEAD)) {
      values[kCellChannelLeads + channel_slot] += sign * value;
    } else if (slot == kCellReached + StageIndex(lok::v1::WON)) {
      values[kCellChannelWon + channel_slot] += sign * value;
    }
  };

  // Cohort: everything at the day the deal started.
  const int64_t start = facts.entered_at[0];
  for (size_t stage = 0; stage < 5; ++stage) {
    if (!facts.reached[stage]) continue;
    add(kCohort, start, kCellReached + stage, 1);
    add(kCohort, start, kCellAmount + stage, facts.amount[stage]);
  }
  if (cycle) {
    add(kCohort, start, kCellCycleSeconds, Seconds(deal.outcome()) - Seconds(deal.lead()));
    add(kCohort, start, kCellCycleDeals, 1);
  }
  // Period: each stage entry on its own day.
  for (size_t stage = 0; stage < 5; ++stage) {
    if (!facts.reached[stage]) continue;
    add(kPeriod, facts.entered_at[stage], kCellReached + stage, 1);
    add(kPeriod, facts.entered_at[stage], kCellAmount + stage, facts.amount[stage]);
  }
  if (cycle) {
    add(kPeriod, Seconds(deal.outcome()), kCellCycleSeconds,
        Seconds(deal.outcome()) - Seconds(deal.lead()));
    add(kPeriod, Seconds(deal.outcome()), kCellCycleDeals, 1);
  }
  // Time in stage: for stages entered explicitly and left, counted in the
  // cohort of the deal and on the day the deal left the stage.
  for (size_t stage = 0; stage < 3; ++stage) {
    const size_t next = stage + 1;
    const bool left = stage < 2 ? facts.reached[next] : deal.has_outcome();
    if (!facts.entered_explicitly[stage] || !left) continue;
    const int64_t left_at = stage < 2 ? facts.entered_at[next] : Seconds(deal.outcome());
    const int64_t stay = left_at - facts.entered_at[stage];
    add(kCohort, start, kCellStaySeconds + stage, stay);
    add(kCohort, start, kCellStayDeals + stage, 1);
    add(kPeriod, left_at, kCellStaySeconds + stage, stay);
    add(kPeriod, left_at, kCellStayDeals + stage, 1);
  }
  if (open) {
    const size_t furthest = StageIndex(FurthestStage(deal));
    add(kCohort, start, kCellOpenDeals + furthest, 1);
    add(kCohort, start, kCellOpenAmount + furthest, facts.amount[furthest]);
  }
}

// The cell of `family` and `level` that a day-level entry falls in.
CellKey CellOf(const DayCell& day_cell, Family family, char level) {
  CellKey cell;
  cell.mode = day_cell.mode;
  cell.family = family;
  cell.level = level;
  cell.time = UnitOfDay(level, day_cell.day);
  cell.currency = day_cell.currency;
  const int bits = DimensionsOf(family);
  if (bits & kSalespersonBit) cell.salesperson = day_cell.salesperson;
  if (bits & kRegionBit) cell.region = day_cell.region;
  if (bits & kProductBit) cell.product = day_cell.product;
  return cell;
}

bool AllZero(const CellValues& values) {
  return std::all_of(values.begin(), values.end(), [](int64_t value) { return value == 0; });
}

std::string TargetKey(int32_t month, const lok::v1::TargetSet& target) {
  std::string key(kTargetPrefix);
  AppendOrderedInt64(key, month);
  AppendEscapedString(key, target.salesperson());
  AppendEscapedString(key, target.region());
  AppendEscapedString(key, target.product());
  return key;
}

Status ApplyTarget(const Event& event, const EventPosition& position,
                   store::Transaction& transaction) {
  const auto& target = event.target_set();
  const std::optional<int32_t> month = ParseMonth(target.period());
  if (!month) return Status::Ok();  // validation rejects these before
  const std::string key = TargetKey(*month, target);
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  lok::v1::TargetState state;
  if (stored && !state.ParseFromString(*stored)) {
    return DataLossError("funnel: unreadable target state for " + target.period());
  }
  state.set_period(target.period());
  state.set_salesperson(target.salesperson());
  state.set_region(target.region());
  state.set_product(target.product());
  lok::v1::TargetVersion version;
  *version.mutable_mark() = MarkOf(event);
  *version.mutable_amount() = target.amount();
  version.set_record_time_ms(position.record_time_ms);
  // Versions stay sorted by mark, so the last one is the plan in force
  // whatever order they arrived in.
  auto* versions = state.mutable_versions();
  const auto insert_at = std::distance(
      versions->begin(),
      std::find_if(versions->begin(), versions->end(), [&](const lok::v1::TargetVersion& other) {
        return Earlier(version.mark(), other.mark());
      }));
  versions->Add(std::move(version));
  std::rotate(versions->begin() + insert_at, versions->end() - 1, versions->end());
  transaction.Put(key, state.SerializeAsString());
  return Status::Ok();
}

// ---- Query side ----

using CellSums = CellValues;

// Sums of the cells that pass the query's filters, overall and per row.
struct Aggregation {
  CellSums total{};
  std::map<std::string, CellSums, std::less<>> rows;
  std::array<std::array<int64_t, 2>, kChannelSlots> channels{};  // leads, won
  // A breakdown by month or quarter: the row of the last cell's month (the
  // cells of a month are read one after another; rows never move in a map).
  std::optional<int32_t> last_month;
  CellSums* last_month_row = nullptr;
};

struct CellRange {
  char level;
  int64_t first;  // units of `level`
  int64_t last;   // inclusive
};

// Appends the cells of [from, to] (days; nullopt: unbounded) to `ranges`
// using `levels` (coarsest first, ending with days): the whole units of the
// coarsest level inside the window, and the ragged edges on either side from
// the finer levels.
void AppendRanges(std::optional<int64_t> from, std::optional<int64_t> to,
                  std::span<const char> levels, std::vector<CellRange>& ranges) {
  constexpr int64_t kFar = int64_t{1} << 40;
  const char level = levels.front();
  if (level == kDay) {
    ranges.push_back({kDay, from.value_or(-kFar), to.value_or(kFar)});
    return;
  }
  const int64_t first_full = !from ? -kFar
                             : FirstDayOfUnit(level, UnitOfDay(level, *from)) == *from
                                 ? UnitOfDay(level, *from)
                                 : UnitOfDay(level, *from) + 1;
  const int64_t last_full = !to ? kFar
                            : FirstDayOfUnit(level, UnitOfDay(level, *to) + 1) - 1 == *to
                                ? UnitOfDay(level, *to)
                                : UnitOfDay(level, *to) - 1;
  const std::span<const char> finer = levels.subspan(1);
  if (first_full > last_full) {
    AppendRanges(from, to, finer, ranges);
    return;
  }
  if (from) {
    const int64_t before = FirstDayOfUnit(level, first_full) - 1;
    if (before >= *from) AppendRanges(from, before, finer, ranges);
  }
  ranges.push_back({level, first_full, last_full});
  if (to) {
    const int64_t after = FirstDayOfUnit(level, last_full + 1);
    if (after <= *to) AppendRanges(after, to, finer, ranges);
  }
}

// The cells of `family` covering [from, to] exactly: year cells for its
// whole years, month and block cells for the whole months and blocks at its
// edges, day cells for the rest (of the levels the family keeps).
// `whole_months`: no cell spans more than a month (for breakdowns by month
// or quarter).
std::vector<CellRange> RangesFor(Family family, std::optional<int64_t> from,
                                 std::optional<int64_t> to, bool whole_months) {
  std::span<const char> levels = LevelsOf(family);
  if (whole_months && levels.front() == kYear) levels = levels.subspan(1);
  std::vector<CellRange> ranges;
  AppendRanges(from, to, levels, ranges);
  return ranges;
}

// The smallest family holding every dimension the query filters or breaks
// down by.
Family FamilyFor(const FunnelQuery& query) {
  const bool salesperson = query.salesperson || query.by == FunnelBreakdown::kSalesperson;
  const bool region = query.region || query.by == FunnelBreakdown::kRegion;
  const bool product = query.product || query.by == FunnelBreakdown::kProduct;
  return FamilyOfDimensions((salesperson ? kSalespersonBit : 0) | (region ? kRegionBit : 0) |
                            (product ? kProductBit : 0));
}

bool Matches(const CellKey& cell, const FunnelQuery& query) {
  return (!query.salesperson || cell.salesperson == *query.salesperson) &&
         (!query.region || cell.region == *query.region) &&
         (!query.product || cell.product == *query.product);
}

std::string RowKey(const CellKey& cell, FunnelBreakdown by) {
  const int32_t month = MonthOfUnit(cell.level, cell.time);
  switch (by) {
    case FunnelBreakdown::kSalesperson:
      return cell.salesperson;
    case FunnelBreakdown::kRegion:
      return cell.region;
    case FunnelBreakdown::kProduct:
      return cell.product;
    case FunnelBreakdown::kMonth:
      return FormatMonth(month);
    case FunnelBreakdown::kQuarter:
      return FormatQuarter(month);
    case FunnelBreakdown::kNone:
      return "";
  }
  return "";
}

void AddCell(const CellKey& cell, const CellValues& values, const FunnelQuery& query,
             Aggregation& aggregation) {
  if (!Matches(cell, query)) return;
  const bool same_currency = cell.currency == query.currency;
  auto accumulate = [&](CellSums& sums) {
    if (same_currency) {
      for (size_t slot = 0; slot < kCellMetrics; ++slot) sums[slot] += values[slot];
      return;
    }
    for (size_t slot = 0; slot < kCellMetrics; ++slot) {
      const bool amount = (slot >= kCellAmount && slot < kCellAmount + 5) ||
                          (slot >= kCellOpenAmount && slot < kCellOpenAmount + 3);
      if (!amount) sums[slot] += values[slot];
    }
  };
  accumulate(aggregation.total);
  if (query.by == FunnelBreakdown::kMonth || query.by == FunnelBreakdown::kQuarter) {
    const int32_t month = MonthOfUnit(cell.level, cell.time);
    if (aggregation.last_month != month) {
      aggregation.last_month = month;
      aggregation.last_month_row = &aggregation.rows[RowKey(cell, query.by)];
    }
    accumulate(*aggregation.last_month_row);
  } else if (query.by != FunnelBreakdown::kNone) {
    // A dimension's row is looked up by the cell's own string (no copy per
    // cell).
    const std::string& dimension = query.by == FunnelBreakdown::kSalesperson ? cell.salesperson
                                   : query.by == FunnelBreakdown::kRegion    ? cell.region
                                                                             : cell.product;
    auto row = aggregation.rows.find(std::string_view(dimension));
    if (row == aggregation.rows.end()) {
      row = aggregation.rows.try_emplace(RowKey(cell, query.by)).first;
    }
    accumulate(row->second);
  }
  for (size_t channel = 0; channel < kChannelSlots; ++channel) {
    aggregation.channels[channel][0] += values[kCellChannelLeads + channel];
    aggregation.channels[channel][1] += values[kCellChannelWon + channel];
  }
}

bool DecodeCellValues(std::string_view bytes, CellValues& values) {
  return store::DecodeCounterVectorInto(bytes, values).ok();
}

// Adds the cells of one family (cohort or period) inside the window.
//
// One seeking scan per range of cells: the key leads with the family's
// dimensions, so the scan starts at the first filter's value, and whenever a
// key's dimension differs from its filter, or its time lies outside the
// range, it seeks to the next key that can match (the filter's value, the
// range's first time, or past the current dimension value). A filter on
// every dimension of the family reads one contiguous range; a breakdown
// reads one window per value present.
Status ScanFamily(const store::KeyValueReader& reader, char mode, Family family,
                  std::optional<int64_t> from, std::optional<int64_t> to,
                  const FunnelQuery& query, Aggregation& aggregation) {
  // The query's filters on the family's dimensions, in key order.
  std::array<const std::optional<std::string>*, 3> filters{};
  int dimensions = 0;
  {
    const int bits = DimensionsOf(family);
    if (bits & kSalespersonBit) filters[static_cast<size_t>(dimensions++)] = &query.salesperson;
    if (bits & kRegionBit) filters[static_cast<size_t>(dimensions++)] = &query.region;
    if (bits & kProductBit) filters[static_cast<size_t>(dimensions++)] = &query.product;
  }
  const bool whole_months =
      query.by == FunnelBreakdown::kMonth || query.by == FunnelBreakdown::kQuarter;
  using Step = store::KeyValueReader::ScanStep;
  CellKey cell;
  CellValues values{};
  std::array<std::string*, 3> cell_values{};
  for (const CellRange& range : RangesFor(family, from, to, whole_months)) {
    const std::string prefix = FamilyPrefix(mode, family, range.level);
    // Start at the leading filters' values (and the range's first time when
    // every dimension is filtered); end past the prefix they share.
    std::string begin = prefix;
    int fixed = 0;
    while (fixed < dimensions && *filters[static_cast<size_t>(fixed)]) {
      AppendEscapedString(begin, **filters[static_cast<size_t>(fixed)]);
      ++fixed;
    }
    std::string end = begin;
    if (fixed == dimensions) {
      AppendOrderedInt64(begin, range.first);
      AppendOrderedInt64(end, range.last + 1);
    } else if (fixed > 0) {
      end.back() = '\x02';  // past every key of the filters' escaped values
    } else {
      end.back() = static_cast<char>(end.back() + 1);
    }
    // The escaped value that ends at `at` ends with 0x00 0x01; 0x00 0x02
    // sorts after every key with this value there, before the next value's.
    auto past = [](std::string_view key, size_t at) {
      std::string seek(key.substr(0, at));
      seek.back() = '\x02';
      return Step{Step::Action::kSeek, std::move(seek)};
    };
    Status corrupt = Status::Ok();
    LOK_RETURN_IF_ERROR(reader.ScanRangeSeeking(
        begin, end, [&](std::string_view key, std::string_view value) -> Step {
          if (!DecodeCellKey(key, cell) || cell.family != family || cell.dimensions != dimensions) {
            corrupt = DataLossError("funnel: unreadable cell");
            return {Step::Action::kStop, {}};
          }
          DimensionValues(cell, cell_values);
          for (int index = 0; index < dimensions; ++index) {
            const auto slot = static_cast<size_t>(index);
            const std::optional<std::string>& filter = *filters[slot];
            if (!filter) continue;
            const int order = cell_values[slot]->compare(*filter);
            if (order == 0) continue;
            const size_t kept = index == 0 ? prefix.size() : cell.dimension_end[slot - 1];
            if (order < 0) {
              std::string seek(key.substr(0, kept));
              AppendEscapedString(seek, *filter);
              return {Step::Action::kSeek, std::move(seek)};
            }
            if (index == 0) return {Step::Action::kStop, {}};
            return past(key, kept);
          }
          const size_t dimensions_end =
              dimensions == 0 ? prefix.size()
                              : cell.dimension_end[static_cast<size_t>(dimensions - 1)];
          if (cell.time < range.first) {
            std::string seek(key.substr(0, dimensions_end));
            AppendOrderedInt64(seek, range.first);
            return {Step::Action::kSeek, std::move(seek)};
          }
          if (cell.time > range.last) {
            if (dimensions == 0) return {Step::Action::kStop, {}};
            return past(key, dimensions_end);
          }
          if (!DecodeCellValues(value, values)) {
            corrupt = DataLossError("funnel: unreadable cell");
            return {Step::Action::kStop, {}};
          }
          AddCell(cell, values, query, aggregation);
          return {};
        }));
    LOK_RETURN_IF_ERROR(corrupt);
  }
  return Status::Ok();
}

// The client filter: the client's own deals, contributed in memory.
Status AggregateClient(const store::KeyValueReader& reader, const FunnelQuery& query, bool period,
                       bool window, Aggregation& aggregation) {
  std::string prefix(kClientPrefix);
  AppendEscapedString(prefix, *query.client);
  std::vector<std::string> deal_ids;
  LOK_RETURN_IF_ERROR(reader.ScanPrefix(prefix, [&](std::string_view key, std::string_view) {
    deal_ids.emplace_back(key.substr(prefix.size()));
    return true;
  }));
  DayDeltas deltas;
  for (const std::string& deal_id : deal_ids) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(DealKey(deal_id)));
    FunnelDeal deal;
    if (!stored || !deal.ParseFromString(*stored))
      return DataLossError("funnel: unreadable deal " + deal_id);
    AddContribution(deal, 1, deltas);
  }
  const char wanted = period ? kPeriod : kCohort;
  for (const auto& [day_cell, values] : deltas) {
    if (day_cell.mode != wanted) continue;
    if (window && ((query.from_day && day_cell.day < *query.from_day) ||
                   (query.to_day && day_cell.day > *query.to_day))) {
      continue;
    }
    AddCell(CellOf(day_cell, Family::kAll, kDay), values, query, aggregation);
  }
  return Status::Ok();
}

Status Aggregate(const store::KeyValueReader& reader, const FunnelQuery& query, bool period,
                 bool window, Aggregation& aggregation) {
  if (query.client) return AggregateClient(reader, query, period, window, aggregation);
  return ScanFamily(reader, period ? kPeriod : kCohort, FamilyFor(query),
                    window ? query.from_day : std::nullopt, window ? query.to_day : std::nullopt,
                    query, aggregation);
}

double Ratio(double numerator, double denominator) {
  return denominator == 0 ? 0.0 : numerator / denominator;
}

lok::v1::Money MoneyOf(int64_t minor, const std::string& currency) {
  lok::v1::Money money;
  money.set_minor(minor);
  money.set_currency(currency);
  return money;
}

// The metrics of one slice. `pipeline` holds the open-deal counters (from
// cohort cells) when they differ from `sums` (period mode).
lok::v1::FunnelMetrics MetricsOf(const CellSums& sums, const CellSums& pipeline,
                                 const FunnelQuery& query) {
  lok::v1::FunnelMetrics metrics;
  const int64_t leads = sums[kCellReached];
  for (size_t stage = 0; stage < 5; ++stage) {
    auto* count = metrics.add_stages();
    count->set_stage(kStages[stage]);
    count->set_deals(sums[kCellReached + stage]);
    *count->add_amounts() = MoneyOf(sums[kCellAmount + stage], query.currency);
    if (stage < 3) {
      count->set_conversion_to_next(Ratio(static_cast<double>(sums[kCellReached + stage + 1]),
                                          static_cast<double>(sums[kCellReached + stage])));
      count->set_deals_left_stage(sums[kCellStayDeals + stage]);
      count->set_average_days_in_stage(
          Ratio(static_cast<double>(sums[kCellStaySeconds + stage]) / 86400.0,
                static_cast<double>(sums[kCellStayDeals + stage])));
    }
    count->set_cumulative_conversion(
        Ratio(static_cast<double>(sums[kCellReached + stage]), static_cast<double>(leads)));
  }
  const size_t won = StageIndex(lok::v1::WON);
  const size_t lost = StageIndex(lok::v1::LOST);
  const int64_t won_deals = sums[kCellReached + won];
  const int64_t won_amount = sums[kCellAmount + won];
  metrics.set_win_rate(Ratio(static_cast<double>(won_deals),
                             static_cast<double>(won_deals + sums[kCellReached + lost])));
  metrics.set_win_rate_by_value(Ratio(static_cast<double>(won_amount),
                                      static_cast<double>(won_amount + sums[kCellAmount + lost])));
  const int64_t average_won = won_deals == 0 ? 0 : won_amount / won_deals;
  *metrics.mutable_average_won_deal() = MoneyOf(average_won, query.currency);
  const double cycle_days = Ratio(static_cast<double>(sums[kCellCycleSeconds]) / 86400.0,
                                  static_cast<double>(sums[kCellCycleDeals]));
  metrics.set_average_sales_cycle_days(cycle_days);
  int64_t open = 0;
  std::array<int64_t, 3> open_amounts{};
  for (size_t stage = 0; stage < 3; ++stage) {
    open += pipeline[kCellOpenDeals + stage];
    open_amounts[stage] = pipeline[kCellOpenAmount + stage];
  }
  metrics.set_open_deals(open);
  *metrics.mutable_weighted_pipeline() =
      MoneyOf(WeightedPipeline(open_amounts, query.stage_probability), query.currency);
  metrics.set_sales_velocity_per_day(
      SalesVelocityPerDay(open, metrics.win_rate(), static_cast<double>(average_won), cycle_days));
  return metrics;
}

// The plan rows in the window and, per slice key, the summed plan.
struct Plans {
  std::vector<lok::v1::PlanRow> rows;
};

bool TargetMatches(const lok::v1::TargetState& target, const FunnelQuery& query) {
  auto fits = [](const std::optional<std::string>& filter, const std::string& value) {
    return !filter || value == *filter;
  };
  return fits(query.salesperson, target.salesperson()) && fits(query.region, target.region()) &&
         fits(query.product, target.product());
}

// Which slice a target plans for, given the breakdown: "" for the total,
// the dimension value for a dimension breakdown, nullopt when it plans for a
// different slicing (e.g. a per-region target under by=salesperson).
std::optional<std::string> TargetSlice(const lok::v1::TargetState& target, FunnelBreakdown by,
                                       const FunnelQuery& query) {
  const bool has_sp = !target.salesperson().empty();
  const bool has_region = !target.region().empty();
  const bool has_product = !target.product().empty();
  const int dimensions = int{has_sp} + int{has_region} + int{has_product};
  // The slice the query itself selects by its filters.
  const int filtered = int{query.salesperson.has_value()} + int{query.region.has_value()} +
                       int{query.product.has_value()};
  switch (by) {
    case FunnelBreakdown::kSalesperson:
      return has_sp && dimensions == 1 + filtered - int{query.salesperson.has_value()}
                 ? std::optional<std::string>(target.salesperson())
                 : std::nullopt;
    case FunnelBreakdown::kRegion:
      return has_region && dimensions == 1 + filtered - int{query.region.has_value()}
                 ? std::optional<std::string>(target.region())
                 : std::nullopt;
    case FunnelBreakdown::kProduct:
      return has_product && dimensions == 1 + filtered - int{query.product.has_value()}
                 ? std::optional<std::string>(target.product())
                 : std::nullopt;
    case FunnelBreakdown::kMonth:
    case FunnelBreakdown::kQuarter: {
      if (dimensions != filtered) return std::nullopt;
      const int32_t month = *ParseMonth(target.period());
      return by == FunnelBreakdown::kMonth ? FormatMonth(month) : FormatQuarter(month);
    }
    case FunnelBreakdown::kNone:
      return dimensions == filtered ? std::optional<std::string>("") : std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

double SalesVelocityPerDay(int64_t open_deals, double win_rate, double average_won_deal,
                           double average_cycle_days) {
  return Ratio(static_cast<double>(open_deals) * win_rate * average_won_deal, average_cycle_days);
}

int64_t WeightedPipeline(const std::array<int64_t, 3>& open_offer_amounts,
                         const std::array<double, 3>& stage_probability) {
  double weighted = 0;
  for (size_t stage = 0; stage < 3; ++stage) {
    weighted += static_cast<double>(open_offer_amounts[stage]) * stage_probability[stage];
  }
  return static_cast<int64_t>(std::llround(weighted));
}

void FoldDealEvent(const Event& event, FunnelDeal& deal) {
  const Mark mark = MarkOf(event);
  if (deal.client_id().empty()) deal.set_client_id(event.client_id());
  switch (event.payload_case()) {
    case Event::kLeadCreated: {
      const bool earliest = KeepEarliest(
          [&] { return deal.has_lead(); }, [&]() -> const Mark& { return deal.lead(); },
          [&](const Mark& value) { *deal.mutable_lead() = value; }, mark);
      if (earliest) {
        const auto& lead = event.lead_created();
        deal.set_salesperson(lead.salesperson());
        deal.set_region(lead.region());
        deal.set_product(lead.product());
        deal.set_channel(lead.channel());
      }
      break;
    }
    case Event::kLeadQualified:
      KeepEarliest([&] { return deal.has_qualified(); },
                   [&]() -> const Mark& { return deal.qualified(); },
                   [&](const Mark& value) { *deal.mutable_qualified() = value; }, mark);
      break;
    case Event::kOfferSent:
      KeepEarliest([&] { return deal.has_offer(); }, [&]() -> const Mark& { return deal.offer(); },
                   [&](const Mark& value) { *deal.mutable_offer() = value; }, mark);
      if (!deal.has_latest_offer() || Earlier(deal.latest_offer(), mark)) {
        *deal.mutable_latest_offer() = mark;
        *deal.mutable_offer_amount() = event.offer_sent().amount();
        deal.set_discount_bp(event.offer_sent().discount_bp());
      }
      break;
    case Event::kDealWon:
    case Event::kDealLost:
      if (!deal.has_outcome() || Earlier(deal.outcome(), mark)) {
        *deal.mutable_outcome() = mark;
        deal.set_won(event.has_deal_won());
        if (event.has_deal_won()) {
          *deal.mutable_won_amount() = event.deal_won().amount();
          deal.clear_lost_reason();
        } else {
          deal.clear_won_amount();
          deal.set_lost_reason(event.deal_lost().reason());
        }
      }
      break;
    default:
      break;
  }
}

Stage FurthestStage(const FunnelDeal& deal) {
  if (deal.has_outcome()) return deal.won() ? lok::v1::WON : lok::v1::LOST;
  if (deal.has_offer()) return lok::v1::OFFER;
  if (deal.has_qualified()) return lok::v1::QUALIFIED;
  if (deal.has_lead()) return lok::v1::LEAD;
  return lok::v1::STAGE_UNSPECIFIED;
}

int StageRank(Stage stage) {
  switch (stage) {
    case lok::v1::LEAD:
      return 1;
    case lok::v1::QUALIFIED:
      return 2;
    case lok::v1::OFFER:
      return 3;
    case lok::v1::WON:
    case lok::v1::LOST:
      return 4;
    default:
      return 0;
  }
}

bool HasReached(const FunnelDeal& deal, Stage stage) {
  const Stage furthest = FurthestStage(deal);
  if (stage == lok::v1::WON || stage == lok::v1::LOST) return furthest == stage;
  return StageRank(furthest) >= StageRank(stage) && StageRank(stage) > 0;
}

Status FunnelProjection::Apply(const Event& event, const EventPosition& position,
                               store::Transaction& transaction) {
  if (event.has_target_set()) return ApplyTarget(event, position, transaction);
  if (!events::IsDealEvent(event)) return Status::Ok();
  const std::string key = DealKey(event.deal_id());
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, transaction.Get(key));
  FunnelDeal before;
  if (stored && !before.ParseFromString(*stored)) {
    return DataLossError("funnel: unreadable deal state for " + event.deal_id());
  }
  FunnelDeal after = before;
  if (!stored) {
    after.set_partition(position.partition);
    transaction.Put(ClientDealKey(event.client_id(), event.deal_id()), "");
  }
  FoldDealEvent(event, after);
  std::string serialized = after.SerializeAsString();
  if (stored && serialized == *stored) return Status::Ok();
  DayDeltas deltas;
  AddContribution(before, -1, deltas);
  AddContribution(after, +1, deltas);
  // Spread each changed day entry over every family and level; entries
  // the event left unchanged (old and new contributions cancel) write nothing.
  // The keys (24 per entry) are built in one buffer, as DecodeCellKey reads
  // them.
  std::vector<int64_t> values(kCellSize);
  std::string cell_key;
  for (const auto& [day_cell, delta] : deltas) {
    if (AllZero(delta)) continue;
    values.assign(delta.begin(), delta.end());
    for (Family family : kFamilies) {
      const int bits = DimensionsOf(family);
      for (char level : LevelsOf(family)) {
        cell_key.assign(kCellPrefix);
        cell_key.push_back(day_cell.mode);
        cell_key.push_back(static_cast<char>(family));
        cell_key.push_back(level);
        if (bits & kSalespersonBit) AppendEscapedString(cell_key, day_cell.salesperson);
        if (bits & kRegionBit) AppendEscapedString(cell_key, day_cell.region);
        if (bits & kProductBit) AppendEscapedString(cell_key, day_cell.product);
        AppendOrderedInt64(cell_key, UnitOfDay(level, day_cell.day));
        AppendEscapedString(cell_key, day_cell.currency);
        transaction.AddCounterVector(cell_key, values);
      }
    }
  }
  transaction.Put(key, std::move(serialized));
  return Status::Ok();
}

std::string FunnelProjection::DigestForm(std::string_view key, std::string_view value) const {
  if (!key.starts_with(kTargetPrefix)) return std::string(value);
  lok::v1::TargetState state;
  if (!state.ParseFromArray(value.data(), static_cast<int>(value.size())))
    return std::string(value);
  for (auto& version : *state.mutable_versions()) version.clear_record_time_ms();
  return state.SerializeAsString();
}

StatusOr<lok::v1::FunnelResponse> QueryFunnel(const store::KeyValueReader& reader,
                                              const FunnelQuery& query) {
  // A store without a version record (tests, scratch stores) is taken as
  // current; one built by an older version has cells these scans misread.
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> version,
                       reader.Get(std::string(kVersionRecordPrefix) + "funnel"));
  if (version) {
    int built_with = 0;
    const auto parsed =
        std::from_chars(version->data(), version->data() + version->size(), built_with);
    if (parsed.ec != std::errc() || built_with < kFunnelCellLayoutVersion) {
      return UnavailableError("funnel: the read model was built by funnel version " + *version +
                              ", whose cells this version (" +
                              std::to_string(kFunnelCellLayoutVersion) +
                              ") cannot read; it is being rebuilt (GET /readyz)");
    }
  }
  const bool period = query.mode == FunnelMode::kPeriod;
  Aggregation main;
  LOK_RETURN_IF_ERROR(Aggregate(reader, query, period, /*window=*/true, main));
  // The open pipeline is today's: in period mode it comes from every cohort.
  Aggregation pipeline_source;
  const Aggregation* pipeline = &main;
  if (period) {
    LOK_RETURN_IF_ERROR(
        Aggregate(reader, query, /*period=*/false, /*window=*/false, pipeline_source));
    pipeline = &pipeline_source;
  }

  lok::v1::FunnelResponse response;
  response.set_mode(period ? "period" : "cohort");
  if (query.from_day) response.set_from(FormatDate(*query.from_day));
  if (query.to_day) response.set_to(FormatDate(*query.to_day));
  response.set_currency(query.currency);
  *response.mutable_metrics() = MetricsOf(main.total, pipeline->total, query);
  *response.mutable_stages() = response.metrics().stages();
  response.set_win_rate(response.metrics().win_rate());

  static const CellSums kEmpty{};
  std::map<std::string, lok::v1::FunnelRow*> rows;
  if (query.by != FunnelBreakdown::kNone) {
    for (const auto& [key, sums] : main.rows) {
      auto found = pipeline->rows.find(key);
      auto* row = response.add_rows();
      row->set_key(key);
      *row->mutable_metrics() =
          MetricsOf(sums, found == pipeline->rows.end() ? kEmpty : found->second, query);
      rows[key] = row;
    }
  }

  // Plans in the window: the latest version of each target, against the won
  // amounts of its month and dimensions (always period mode).
  std::string begin(kTargetPrefix), end(kTargetPrefix);
  AppendOrderedInt64(begin, query.from_day ? MonthOfDay(*query.from_day) : -(int64_t{1} << 40));
  AppendOrderedInt64(end, query.to_day ? MonthOfDay(*query.to_day) + 1 : int64_t{1} << 40);
  std::vector<lok::v1::TargetState> targets;
  Status corrupt = Status::Ok();
  LOK_RETURN_IF_ERROR(reader.ScanRange(begin, end, [&](std::string_view, std::string_view value) {
    lok::v1::TargetState target;
    if (!target.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      corrupt = DataLossError("funnel: unreadable target");
      return false;
    }
    if (TargetMatches(target, query) && !target.versions().empty() &&
        target.versions().rbegin()->amount().currency() == query.currency) {
      targets.push_back(std::move(target));
    }
    return true;
  }));
  LOK_RETURN_IF_ERROR(corrupt);
  int64_t total_plan = 0, total_actual = 0;
  std::map<std::string, std::array<int64_t, 2>> row_plans;
  for (const auto& target : targets) {
    const int32_t month = *ParseMonth(target.period());
    FunnelQuery actual_query = query;
    actual_query.mode = FunnelMode::kPeriod;
    actual_query.by = FunnelBreakdown::kNone;
    actual_query.from_day = FirstDayOfMonth(month);
    actual_query.to_day = FirstDayOfMonth(month + 1) - 1;
    if (!target.salesperson().empty()) actual_query.salesperson = target.salesperson();
    if (!target.region().empty()) actual_query.region = target.region();
    if (!target.product().empty()) actual_query.product = target.product();
    Aggregation actual;
    LOK_RETURN_IF_ERROR(Aggregate(reader, actual_query, /*period=*/true, /*window=*/true, actual));
    const int64_t plan = target.versions().rbegin()->amount().minor();
    const int64_t won = actual.total[kCellAmount + StageIndex(lok::v1::WON)];
    auto* row = response.add_plan();
    row->set_period(target.period());
    row->set_salesperson(target.salesperson());
    row->set_region(target.region());
    row->set_product(target.product());
    *row->mutable_plan() = MoneyOf(plan, query.currency);
    *row->mutable_actual() = MoneyOf(won, query.currency);
    row->set_attainment(Ratio(static_cast<double>(won), static_cast<double>(plan)));
    if (std::optional<std::string> slice = TargetSlice(target, FunnelBreakdown::kNone, query)) {
      total_plan += plan;
      total_actual += won;
    }
    if (query.by != FunnelBreakdown::kNone) {
      if (std::optional<std::string> slice = TargetSlice(target, query.by, query)) {
        row_plans[*slice][0] += plan;
        row_plans[*slice][1] += won;
      }
    }
  }
  auto set_plan = [&](lok::v1::FunnelMetrics& metrics, int64_t plan, int64_t actual) {
    *metrics.mutable_plan() = MoneyOf(plan, query.currency);
    *metrics.mutable_plan_actual() = MoneyOf(actual, query.currency);
    metrics.set_plan_attainment(Ratio(static_cast<double>(actual), static_cast<double>(plan)));
  };
  set_plan(*response.mutable_metrics(), total_plan, total_actual);
  for (const auto& [key, plan] : row_plans) {
    auto found = rows.find(key);
    lok::v1::FunnelRow* row = found != rows.end() ? found->second : nullptr;
    if (row == nullptr) {
      row = response.add_rows();
      row->set_key(key);
      *row->mutable_metrics() = MetricsOf(kEmpty, kEmpty, query);
    }
    set_plan(*row->mutable_metrics(), plan[0], plan[1]);
  }

  for (size_t channel = 0; channel < kChannelSlots; ++channel) {
    const std::array<int64_t, 2>& counts = main.channels[channel];
    if (counts[0] == 0 && counts[1] == 0) continue;
    auto* row = response.add_inbound();
    row->set_channel(static_cast<lok::v1::LeadCreated::Channel>(channel));
    row->set_leads(counts[0]);
    row->set_won(counts[1]);
    row->set_conversion_to_won(
        Ratio(static_cast<double>(counts[1]), static_cast<double>(counts[0])));
  }
  return response;
}

StatusOr<lok::v1::FunnelResponse> QueryFunnel(const store::KeyValueReader& reader) {
  return QueryFunnel(reader, FunnelQuery{});
}

StatusOr<std::map<Stage, int64_t>> ClientDealsByStage(const store::KeyValueReader& reader,
                                                      std::string_view client_id) {
  std::string prefix(kClientPrefix);
  AppendEscapedString(prefix, client_id);
  std::map<Stage, int64_t> stages;
  std::vector<std::string> deal_ids;
  LOK_RETURN_IF_ERROR(reader.ScanPrefix(prefix, [&](std::string_view key, std::string_view) {
    deal_ids.emplace_back(key.substr(prefix.size()));
    return true;
  }));
  for (const std::string& deal_id : deal_ids) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, reader.Get(DealKey(deal_id)));
    FunnelDeal deal;
    if (!stored || !deal.ParseFromString(*stored))
      return DataLossError("funnel: unreadable deal " + deal_id);
    ++stages[FurthestStage(deal)];
  }
  return stages;
}

DealStageFacts StageFactsOf(const FunnelDeal& deal) {
  const DealFacts facts = FactsOf(deal);
  return {facts.reached, facts.entered_at, facts.amount, facts.currency};
}

}  // namespace lok::projections
