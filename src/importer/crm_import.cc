#include "importer/crm_import.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <system_error>
#include <utility>

namespace lok::importer {
namespace {

using Date = std::chrono::sys_days;

constexpr std::string_view kPipelineFile = "sales_pipeline.csv";
constexpr std::string_view kTeamsFile = "sales_teams.csv";
constexpr std::string_view kProductsFile = "products.csv";
constexpr std::string_view kAccountsFile = "accounts.csv";
constexpr std::string_view kCurrency = "USD";
constexpr std::string_view kPlaceholderClientPrefix = "unassigned:";
constexpr std::string_view kLostReason = "crm: Lost";

// Seconds added to a stage's date so that a deal's events sort in funnel order.
constexpr int64_t kLeadCreatedSecond = 0;
constexpr int64_t kLeadQualifiedSecond = 1;
constexpr int64_t kOfferSentSecond = 2;
constexpr int64_t kDecisionSecond = 3;

// Amounts above this (in minor units, 10^12 USD) are rejected so that the
// discount arithmetic cannot overflow.
constexpr int64_t kMaxAmountMinor = 100'000'000'000'000;

std::string Quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string Location(std::string_view file, int64_t line) {
  return std::string(file) + ":" + std::to_string(line);
}

// ---------------------------------------------------------------------------
// RFC 4180 reading. A small reader rather than a library: Debian's
// fast-cpp-csv-parser (libfccp-dev) reads line by line (no line breaks inside
// quotes), fixes the column count at compile time and reports errors by
// exception; libcsv (libcsv-dev) is a dormant C callback API. Neither reports
// the record's line number the way the summary needs.

struct CsvRecord {
  int64_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
  std::string error;  // non-empty: malformed, `fields` are unreliable
};

bool IsRecordEnd(char c) { return c == '\n' || c == '\r'; }

// Fields are separated by ',' and records by LF, CRLF or CR. A field in
// double quotes may contain ',', line breaks and "" for a quote. A quote in
// an unquoted field is kept as text; text after a closing quote marks the
// record malformed. Blank lines are skipped. Fails only on an unterminated
// quote, after which no record boundary can be trusted.
StatusOr<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view file) {
  std::vector<CsvRecord> records;
  size_t pos = 0;
  int64_t line = 1;
  if (text.starts_with("\xEF\xBB\xBF")) pos = 3;  // UTF-8 byte order mark

  // REQUIRES: IsRecordEnd(text[pos]).
  auto consume_record_end = [&] {
    if (text[pos++] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
    ++line;
  };

  while (pos < text.size()) {
    if (IsRecordEnd(text[pos])) {  // blank line
      consume_record_end();
      continue;
    }
    CsvRecord record;
    record.line = line;
    while (true) {
      std::string field;
      const size_t column = record.fields.size() + 1;
      if (text[pos] == '"') {
        const int64_t quote_line = line;
        ++pos;
        bool closed = false;
        while (pos < text.size()) {
          const char c = text[pos++];
          if (c == '"') {
            if (pos < text.size() && text[pos] == '"') {
              field += '"';
              ++pos;
            } else {
              closed = true;
              break;
            }
          } else {
            if (c == '\n' || (c == '\r' && (pos >= text.size() || text[pos] != '\n'))) ++line;
            field += c;
          }
        }
        if (!closed) {
          return InvalidArgumentError(Location(file, quote_line) + ": field " +
                                      std::to_string(column) + ": unterminated quoted field");
        }
        if (pos < text.size() && text[pos] != ',' && !IsRecordEnd(text[pos])) {
          if (record.error.empty()) {
            record.error = "field " + std::to_string(column) + ": text after the closing quote";
          }
          while (pos < text.size() && text[pos] != ',' && !IsRecordEnd(text[pos])) {
            field += text[pos++];
          }
        }
      } else {
        while (pos < text.size() && text[pos] != ',' && !IsRecordEnd(text[pos])) {
          field += text[pos++];
        }
      }
      record.fields.push_back(std::move(field));
      if (pos >= text.size()) break;
      if (text[pos] == ',') {
        ++pos;
        if (pos >= text.size() || IsRecordEnd(text[pos])) {
          record.fields.emplace_back();  // a trailing comma ends with an empty field
          if (pos < text.size()) consume_record_end();
          break;
        }
        continue;
      }
      consume_record_end();
      break;
    }
    records.push_back(std::move(record));
  }
  return records;
}

// A CSV file whose columns were looked up by name in its header.
struct CsvTable {
  std::string file;
  size_t header_size = 0;
  std::vector<size_t> column_indexes;  // per requested column, its index in a record
  std::vector<CsvRecord> rows;

  // REQUIRES: row.fields.size() == header_size.
  const std::string& Field(const CsvRecord& row, size_t requested_column) const {
    return row.fields[column_indexes[requested_column]];
  }
};

StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return UnavailableError("cannot open " + path.string() + ": " +
                            std::generic_category().message(errno));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return UnavailableError("cannot read " + path.string());
  return contents.str();
}

StatusOr<CsvTable> LoadTable(const std::filesystem::path& directory, std::string_view file,
                             std::span<const std::string_view> columns) {
  LOK_ASSIGN_OR_RETURN(std::string text, ReadFile(directory / file));
  LOK_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, ParseCsv(text, file));
  if (records.empty())
    return InvalidArgumentError(std::string(file) + ": empty, expected a header");
  const CsvRecord& header = records.front();
  if (!header.error.empty()) {
    return InvalidArgumentError(Location(file, header.line) + ": header: " + header.error);
  }
  CsvTable table;
  table.file = std::string(file);
  table.header_size = header.fields.size();
  for (std::string_view column : columns) {
    auto found = std::find(header.fields.begin(), header.fields.end(), column);
    if (found == header.fields.end()) {
      return InvalidArgumentError(Location(file, header.line) + ": missing column " +
                                  Quoted(column));
    }
    table.column_indexes.push_back(static_cast<size_t>(found - header.fields.begin()));
  }
  table.rows.assign(std::make_move_iterator(records.begin() + 1),
                    std::make_move_iterator(records.end()));
  return table;
}

// Empty when the record can be read field by field; otherwise why not.
std::string ShapeProblem(const CsvTable& table, const CsvRecord& row) {
  if (!row.error.empty()) return row.error;
  if (row.fields.size() != table.header_size) {
    return "expected " + std::to_string(table.header_size) + " fields, found " +
           std::to_string(row.fields.size());
  }
  return "";
}

// ---------------------------------------------------------------------------
// Values.

// "YYYY-MM-DD" -> a valid calendar date.
std::optional<Date> ParseDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto number = [&](size_t offset, size_t length) -> std::optional<int> {
    int value = 0;
    const char* first = text.data() + offset;
    const char* last = first + length;
    auto [end, error] = std::from_chars(first, last, value);
    if (error != std::errc() || end != last || !std::isdigit(static_cast<unsigned char>(*first))) {
      return std::nullopt;
    }
    return value;
  };
  auto year = number(0, 4);
  auto month = number(5, 2);
  auto day = number(8, 2);
  if (!year || !month || !day) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;
  return Date(date);
}

std::string FormatDate(Date date) {
  const std::chrono::year_month_day ymd(date);
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

// Whole or cents-precise US dollars ("1054", "10.5", "10.50") -> cents.
std::optional<int64_t> ParseUsdMinor(std::string_view text) {
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view cents =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  auto all_digits = [](std::string_view digits) {
    return std::all_of(digits.begin(), digits.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
  };
  if (whole.empty() || whole.size() > 12 || !all_digits(whole)) return std::nullopt;
  if (dot != std::string_view::npos && (cents.empty() || cents.size() > 2 || !all_digits(cents))) {
    return std::nullopt;
  }
  int64_t dollars = 0;
  std::from_chars(whole.data(), whole.data() + whole.size(), dollars);
  int64_t minor = dollars * 100;
  if (!cents.empty()) {
    int64_t cent_value = 0;
    std::from_chars(cents.data(), cents.data() + cents.size(), cent_value);
    minor += cents.size() == 1 ? cent_value * 10 : cent_value;
  }
  if (minor > kMaxAmountMinor) return std::nullopt;
  return minor;
}

// Rounded half up; 0 when the deal closed at or above list.
int32_t DiscountBasisPoints(int64_t list_minor, int64_t close_minor) {
  if (list_minor <= 0 || close_minor >= list_minor) return 0;
  const int64_t basis_points = ((list_minor - close_minor) * 10'000 + list_minor / 2) / list_minor;
  return static_cast<int32_t>(std::min<int64_t>(basis_points, 10'000));
}

// "GTX Pro", "GTXPro", "gtx-pro" -> "gtxpro".
std::string FoldProductName(std::string_view name) {
  std::string folded;
  for (char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte)) folded += static_cast<char>(std::tolower(byte));
  }
  return folded;
}

// ---------------------------------------------------------------------------
// Reference files.

struct ProductCatalog {
  std::map<std::string, int64_t> list_price_minor;          // canonical name -> price
  std::map<std::string, std::vector<std::string>> by_fold;  // folded -> canonical names

  // The canonical spelling of `name`, or nullopt with `reason` set.
  std::optional<std::string> Canonical(const std::string& name, std::string& reason) const {
    if (list_price_minor.contains(name)) return name;
    auto found = by_fold.find(FoldProductName(name));
    if (found == by_fold.end()) {
      reason = "column product: " + Quoted(name) + " is not in products.csv";
      return std::nullopt;
    }
    if (found->second.size() > 1) {
      reason = "column product: " + Quoted(name) + " matches several products in products.csv";
      return std::nullopt;
    }
    return found->second.front();
  }
};

struct ReferenceData {
  std::map<std::string, std::string> region_by_agent;
  ProductCatalog products;
  std::set<std::string> accounts;
};

Status LoadReferenceData(const std::filesystem::path& directory, ReferenceData& reference) {
  {
    constexpr std::string_view kColumns[] = {"sales_agent", "regional_office"};
    LOK_ASSIGN_OR_RETURN(CsvTable table, LoadTable(directory, kTeamsFile, kColumns));
    for (const CsvRecord& row : table.rows) {
      if (std::string problem = ShapeProblem(table, row); !problem.empty()) {
        return InvalidArgumentError(Location(table.file, row.line) + ": " + problem);
      }
      const std::string& agent = table.Field(row, 0);
      const std::string& region = table.Field(row, 1);
      if (agent.empty()) {
        return InvalidArgumentError(Location(table.file, row.line) + ": column sales_agent: empty");
      }
      auto [entry, inserted] = reference.region_by_agent.emplace(agent, region);
      if (!inserted && entry->second != region) {
        return InvalidArgumentError(Location(table.file, row.line) +
                                    ": column regional_office: agent " + Quoted(agent) +
                                    " listed again with another region");
      }
    }
  }
  {
    constexpr std::string_view kColumns[] = {"product", "sales_price"};
    LOK_ASSIGN_OR_RETURN(CsvTable table, LoadTable(directory, kProductsFile, kColumns));
    for (const CsvRecord& row : table.rows) {
      if (std::string problem = ShapeProblem(table, row); !problem.empty()) {
        return InvalidArgumentError(Location(table.file, row.line) + ": " + problem);
      }
      const std::string& product = table.Field(row, 0);
      const std::string& price_text = table.Field(row, 1);
      if (product.empty()) {
        return InvalidArgumentError(Location(table.file, row.line) + ": column product: empty");
      }
      std::optional<int64_t> price = ParseUsdMinor(price_text);
      if (!price) {
        return InvalidArgumentError(Location(table.file, row.line) + ": column sales_price: " +
                                    Quoted(price_text) + " is not an amount in USD");
      }
      auto [entry, inserted] = reference.products.list_price_minor.emplace(product, *price);
      if (!inserted && entry->second != *price) {
        return InvalidArgumentError(Location(table.file, row.line) +
                                    ": column sales_price: " + "product " + Quoted(product) +
                                    " listed again with another price");
      }
      if (inserted) reference.products.by_fold[FoldProductName(product)].push_back(product);
    }
  }
  {
    constexpr std::string_view kColumns[] = {"account"};
    LOK_ASSIGN_OR_RETURN(CsvTable table, LoadTable(directory, kAccountsFile, kColumns));
    for (const CsvRecord& row : table.rows) {
      if (std::string problem = ShapeProblem(table, row); !problem.empty()) {
        return InvalidArgumentError(Location(table.file, row.line) + ": " + problem);
      }
      reference.accounts.insert(table.Field(row, 0));
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// The pipeline.

enum class Stage { kProspecting, kEngaging, kWon, kLost };

std::optional<Stage> ParseStage(std::string_view text) {
  if (text == "Prospecting") return Stage::kProspecting;
  if (text == "Engaging") return Stage::kEngaging;
  if (text == "Won") return Stage::kWon;
  if (text == "Lost") return Stage::kLost;
  return std::nullopt;
}

// A validated row of sales_pipeline.csv.
struct Opportunity {
  int64_t line = 0;
  std::string id;
  std::string stage_name;
  Stage stage = Stage::kProspecting;
  std::string agent;
  std::string region;
  std::string product;  // canonical
  std::string client_id;
  std::optional<Date> engage_date;
  std::optional<Date> close_date;  // set for Won and Lost
  int64_t close_minor = 0;         // Won only
  int64_t list_minor = 0;
};

enum PipelineColumn : size_t {
  kOpportunityId,
  kSalesAgent,
  kProduct,
  kAccount,
  kDealStage,
  kEngageDate,
  kCloseDate,
  kCloseValue,
};
constexpr std::string_view kPipelineColumns[] = {
    "opportunity_id", "sales_agent", "product",    "account",
    "deal_stage",     "engage_date", "close_date", "close_value",
};

// Checks one row against the reference data. Returns the opportunity, or
// nullopt after recording why it was skipped. Caveats go to the summary.
std::optional<Opportunity> ReadOpportunity(const CsvTable& table, const CsvRecord& row,
                                           const ReferenceData& reference, ImportSummary& summary) {
  auto skip = [&](std::string id, std::string reason) -> std::optional<Opportunity> {
    summary.skipped_rows.push_back({table.file, row.line, std::move(id), std::move(reason)});
    return std::nullopt;
  };
  if (std::string problem = ShapeProblem(table, row); !problem.empty()) {
    return skip(row.fields.empty() ? "" : row.fields.front(), problem);
  }
  auto field = [&](PipelineColumn column) -> const std::string& {
    return table.Field(row, column);
  };
  auto warn = [&](const std::string& id, std::string reason) {
    summary.warnings.push_back({table.file, row.line, id, std::move(reason)});
  };

  Opportunity opportunity;
  opportunity.line = row.line;
  opportunity.id = field(kOpportunityId);
  if (opportunity.id.empty()) return skip("", "column opportunity_id: empty");

  opportunity.stage_name = field(kDealStage);
  std::optional<Stage> stage = ParseStage(opportunity.stage_name);
  if (!stage) {
    return skip(opportunity.id, "column deal_stage: " + Quoted(opportunity.stage_name) +
                                    " is not Prospecting, Engaging, Won or Lost");
  }
  opportunity.stage = *stage;

  opportunity.agent = field(kSalesAgent);
  auto region = reference.region_by_agent.find(opportunity.agent);
  if (region == reference.region_by_agent.end()) {
    return skip(opportunity.id,
                "column sales_agent: " + Quoted(opportunity.agent) + " is not in sales_teams.csv");
  }
  opportunity.region = region->second;

  const std::string& product = field(kProduct);
  std::string reason;
  std::optional<std::string> canonical = reference.products.Canonical(product, reason);
  if (!canonical) return skip(opportunity.id, reason);
  opportunity.product = *canonical;
  opportunity.list_minor = reference.products.list_price_minor.at(*canonical);

  const bool decided = opportunity.stage == Stage::kWon || opportunity.stage == Stage::kLost;
  const std::string& engage_text = field(kEngageDate);
  if (!engage_text.empty()) {
    opportunity.engage_date = ParseDate(engage_text);
    if (!opportunity.engage_date) {
      return skip(opportunity.id,
                  "column engage_date: " + Quoted(engage_text) + " is not a date (YYYY-MM-DD)");
    }
  } else if (opportunity.stage != Stage::kProspecting) {
    return skip(opportunity.id,
                "column engage_date: empty, but stage " + opportunity.stage_name + " needs it");
  }

  const std::string& close_text = field(kCloseDate);
  if (decided) {
    if (close_text.empty()) {
      return skip(opportunity.id,
                  "column close_date: empty, but stage " + opportunity.stage_name + " needs it");
    }
    opportunity.close_date = ParseDate(close_text);
    if (!opportunity.close_date) {
      return skip(opportunity.id,
                  "column close_date: " + Quoted(close_text) + " is not a date (YYYY-MM-DD)");
    }
  }

  const std::string& value_text = field(kCloseValue);
  if (opportunity.stage == Stage::kWon) {
    std::optional<int64_t> close_minor = ParseUsdMinor(value_text);
    if (!close_minor) {
      return skip(opportunity.id,
                  "column close_value: " + Quoted(value_text) + " is not an amount in USD");
    }
    opportunity.close_minor = *close_minor;
  }

  // Only caveats from here on: the row will be imported.
  if (!decided && !close_text.empty()) {
    warn(opportunity.id, "column close_date: ignored for stage " + opportunity.stage_name);
  }
  if (opportunity.stage == Stage::kLost && !value_text.empty() &&
      ParseUsdMinor(value_text).value_or(1) != 0) {
    warn(opportunity.id, "column close_value: " + Quoted(value_text) +
                             " ignored for Lost; the offer is at list price");
  }
  if (opportunity.engage_date && opportunity.close_date &&
      *opportunity.close_date < *opportunity.engage_date) {
    warn(opportunity.id, "close_date is before engage_date");
  }
  if (product != opportunity.product) {
    ++summary.product_canonicalisations[product + " -> " + opportunity.product];
  }
  const std::string& account = field(kAccount);
  if (account.empty()) {
    opportunity.client_id = std::string(kPlaceholderClientPrefix) + opportunity.id;
    ++summary.placeholder_clients;
  } else {
    opportunity.client_id = account;
    if (!reference.accounts.contains(account)) ++summary.accounts_not_in_accounts_csv[account];
  }
  return opportunity;
}

lok::v1::Event NewEvent(const Opportunity& opportunity, std::string_view payload_name, Date date,
                        int64_t stage_second) {
  lok::v1::Event event;
  event.set_event_id(opportunity.id + ":" + std::string(payload_name));
  event.set_source(std::string(kCrmExportSource));
  const std::chrono::sys_seconds midnight = date;
  event.mutable_occurred_at()->set_seconds(
      static_cast<int64_t>(midnight.time_since_epoch().count()) + stage_second);
  event.set_client_id(opportunity.client_id);
  event.set_deal_id(opportunity.id);
  return event;
}

void SetUsd(int64_t minor, lok::v1::Money& money) {
  money.set_minor(minor);
  money.set_currency(std::string(kCurrency));
}

// Appends the opportunity's events in funnel order.
// REQUIRES: the opportunity has an engage_date or `lead_date` is the export date.
void AppendEvents(const Opportunity& opportunity, Date lead_date,
                  std::vector<lok::v1::Event>& events, EventCounts& counts) {
  {
    lok::v1::Event event = NewEvent(opportunity, "lead_created", lead_date, kLeadCreatedSecond);
    lok::v1::LeadCreated& lead = *event.mutable_lead_created();
    lead.set_salesperson(opportunity.agent);
    lead.set_region(opportunity.region);
    lead.set_product(opportunity.product);
    lead.set_channel(lok::v1::LeadCreated::CHANNEL_UNSPECIFIED);
    events.push_back(std::move(event));
    ++counts.lead_created;
  }
  if (opportunity.stage == Stage::kProspecting) return;

  {
    lok::v1::Event event =
        NewEvent(opportunity, "lead_qualified", *opportunity.engage_date, kLeadQualifiedSecond);
    event.mutable_lead_qualified();
    events.push_back(std::move(event));
    ++counts.lead_qualified;
  }
  if (opportunity.stage == Stage::kEngaging) return;

  const bool won = opportunity.stage == Stage::kWon;
  {
    lok::v1::Event event =
        NewEvent(opportunity, "offer_sent", *opportunity.close_date, kOfferSentSecond);
    lok::v1::OfferSent& offer = *event.mutable_offer_sent();
    SetUsd(won ? opportunity.close_minor : opportunity.list_minor, *offer.mutable_amount());
    offer.set_discount_bp(won ? DiscountBasisPoints(opportunity.list_minor, opportunity.close_minor)
                              : 0);
    events.push_back(std::move(event));
    ++counts.offer_sent;
  }
  if (won) {
    lok::v1::Event event =
        NewEvent(opportunity, "deal_won", *opportunity.close_date, kDecisionSecond);
    SetUsd(opportunity.close_minor, *event.mutable_deal_won()->mutable_amount());
    events.push_back(std::move(event));
    ++counts.deal_won;
  } else {
    lok::v1::Event event =
        NewEvent(opportunity, "deal_lost", *opportunity.close_date, kDecisionSecond);
    event.mutable_deal_lost()->set_reason(std::string(kLostReason));
    events.push_back(std::move(event));
    ++counts.deal_lost;
  }
}

void AppendProblems(std::ostringstream& text, std::string_view title,
                    const std::vector<ImportProblem>& problems) {
  text << "  " << title << ": " << problems.size() << "\n";
  for (const ImportProblem& problem : problems) {
    text << "    " << Location(problem.file, problem.line);
    if (!problem.opportunity_id.empty()) text << " (" << problem.opportunity_id << ")";
    text << ": " << problem.reason << "\n";
  }
}

}  // namespace

std::string ImportSummary::ToText() const {
  std::ostringstream text;
  text << "CRM import summary\n";
  text << "  opportunities read: " << opportunities_read << " (imported " << opportunities_imported
       << ", skipped " << skipped_rows.size() << ")\n";
  if (!imported_by_stage.empty()) {
    text << "    imported by stage:";
    std::string_view separator = " ";
    for (const auto& [stage, count] : imported_by_stage) {
      text << separator << stage << " " << count;
      separator = "; ";
    }
    text << "\n";
  }
  text << "  events written: " << events_written.Total() << "\n"
       << "    lead_created " << events_written.lead_created << "; lead_qualified "
       << events_written.lead_qualified << "; offer_sent " << events_written.offer_sent
       << "; deal_won " << events_written.deal_won << "; deal_lost " << events_written.deal_lost
       << "\n";
  text << "  rows with no account: " << placeholder_clients << " (client_id \""
       << kPlaceholderClientPrefix << "<opportunity_id>\")\n";
  text << "  product spellings canonicalised:" << (product_canonicalisations.empty() ? " none" : "")
       << "\n";
  for (const auto& [mapping, count] : product_canonicalisations) {
    text << "    " << mapping << ": " << count << " rows\n";
  }
  text << "  rows with no engage_date: " << leads_dated_at_export_date;
  if (leads_dated_at_export_date > 0) {
    text << " (lead_created dated at the export date " << export_date << ", the latest date in "
         << kPipelineFile << ")";
  }
  text << "\n";
  text << "  accounts not in " << kAccountsFile << ": " << accounts_not_in_accounts_csv.size()
       << "\n";
  for (const auto& [account, count] : accounts_not_in_accounts_csv) {
    text << "    " << account << ": " << count << " rows (imported as named)\n";
  }
  AppendProblems(text, "skipped rows", skipped_rows);
  AppendProblems(text, "warnings", warnings);
  return text.str();
}

StatusOr<ImportResult> ImportCrmExport(const std::filesystem::path& directory) {
  std::string missing;
  for (std::string_view file : {kPipelineFile, kTeamsFile, kProductsFile, kAccountsFile}) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(directory / file, error)) {
      missing += missing.empty() ? "" : ", ";
      missing += file;
    }
  }
  if (!missing.empty()) {
    return NotFoundError("CRM export " + directory.string() + ": missing " + missing);
  }

  ReferenceData reference;
  LOK_RETURN_IF_ERROR(LoadReferenceData(directory, reference));
  LOK_ASSIGN_OR_RETURN(CsvTable pipeline, LoadTable(directory, kPipelineFile, kPipelineColumns));

  ImportResult result;
  ImportSummary& summary = result.summary;
  std::vector<Opportunity> opportunities;
  std::map<std::string, int64_t> line_by_id;
  std::optional<Date> export_date;
  for (const CsvRecord& row : pipeline.rows) {
    ++summary.opportunities_read;
    std::optional<Opportunity> opportunity = ReadOpportunity(pipeline, row, reference, summary);
    if (!opportunity) continue;
    auto [first, inserted] = line_by_id.emplace(opportunity->id, row.line);
    if (!inserted) {
      summary.skipped_rows.push_back(
          {pipeline.file, row.line, opportunity->id,
           "column opportunity_id: duplicate of line " + std::to_string(first->second)});
      continue;
    }
    for (const std::optional<Date>& date : {opportunity->engage_date, opportunity->close_date}) {
      if (date && (!export_date || *date > *export_date)) export_date = date;
    }
    opportunities.push_back(std::move(*opportunity));
  }
  if (export_date) summary.export_date = FormatDate(*export_date);

  result.events.reserve(opportunities.size() * 4);
  for (const Opportunity& opportunity : opportunities) {
    std::optional<Date> lead_date = opportunity.engage_date;
    if (!lead_date) {
      if (!export_date) {
        summary.skipped_rows.push_back(
            {pipeline.file, opportunity.line, opportunity.id,
             "column engage_date: empty, and no row has a date to derive the export date from"});
        continue;
      }
      lead_date = export_date;
      ++summary.leads_dated_at_export_date;
    }
    AppendEvents(opportunity, *lead_date, result.events, summary.events_written);
    ++summary.imported_by_stage[opportunity.stage_name];
    ++summary.opportunities_imported;
  }
  std::stable_sort(summary.skipped_rows.begin(), summary.skipped_rows.end(),
                   [](const ImportProblem& a, const ImportProblem& b) { return a.line < b.line; });
  return result;
}

Status WriteNdjson(const std::vector<lok::v1::Event>& events, const std::filesystem::path& out) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::filesystem::path temporary = out;
  temporary += ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file) {
      return UnavailableError("cannot write " + temporary.string() + ": " +
                              std::generic_category().message(errno));
    }
    std::string line;
    for (const lok::v1::Event& event : events) {
      line.clear();
      auto converted = google::protobuf::util::MessageToJsonString(event, &line, options);
      if (!converted.ok()) {
        file.close();
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        return InternalError("event " + event.event_id() + ": to JSON: " + converted.ToString());
      }
      line += '\n';
      file.write(line.data(), static_cast<std::streamsize>(line.size()));
    }
    file.flush();
    if (!file) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      return UnavailableError("cannot write " + temporary.string());
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, out, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return UnavailableError("cannot rename " + temporary.string() + " to " + out.string() + ": " +
                            error.message());
  }
  return Status::Ok();
}

}  // namespace lok::importer
