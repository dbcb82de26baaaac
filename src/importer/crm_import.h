// Turns the public "CRM + Sales + Opportunities" export (Maven Analytics; four
// CSV files) into Lok domain events, for `lokctl import-crm DIR --out FILE`.
//
//   StatusOr<ImportResult> result = importer::ImportCrmExport(dir);
//   if (!result.ok()) return result.status();
//   std::cout << result->summary.ToText();
//   LOK_RETURN_IF_ERROR(importer::WriteNdjson(result->events, out));
//
// Mapping of one row of sales_pipeline.csv (deal_id = opportunity_id,
// source = "crm-export", event_id = "<opportunity_id>:<payload field name>",
// so a re-import yields the same ids and publishing stays idempotent):
//
//   stage        events, in this order
//   Prospecting  lead_created
//   Engaging     lead_created, lead_qualified
//   Won          lead_created, lead_qualified, offer_sent, deal_won
//   Lost         lead_created, lead_qualified, offer_sent, deal_lost
//
// Decisions the dataset forces (each is counted in ImportSummary):
// - client_id is the account. Rows with an empty account get the placeholder
//   "unassigned:<opportunity_id>": one placeholder per deal rather than one
//   shared "unassigned" client, which would look like the biggest customer to
//   the concentration projection.
// - lead_created.region is the agent's regional_office from sales_teams.csv;
//   lead_created.channel stays CHANNEL_UNSPECIFIED (the export has none).
// - product is canonicalised to products.csv's spelling: an exact match wins;
//   otherwise names are compared ignoring case, spaces and punctuation, so
//   "GTXPro" becomes "GTX Pro". A product that matches nothing (or more than
//   one entry) is unknown.
// - Dates (the export has no creation or offer date): lead_created and
//   lead_qualified at engage_date; offer_sent and deal_won/deal_lost at
//   close_date (the final offer is the one the customer decided on). Rows with
//   no engage_date (Prospecting) get lead_created at the export date: the
//   latest engage_date or close_date in sales_pipeline.csv (2017-12-31 for the
//   public dataset). Times are 00:00:00Z of the date plus the stage's position
//   in seconds (lead_created +0s, lead_qualified +1s, offer_sent +2s,
//   deal_won/deal_lost +3s), so ordering a deal's events by occurred_at keeps
//   the funnel order when stages share a date.
// - Amounts are USD, minor = dollars * 100. offer_sent.amount is close_value
//   for Won; for Lost (whose close_value is always 0) it is the product's list
//   price (products.csv sales_price). offer_sent.discount_bp is
//   max(0, (list - close_value) / list * 10000), rounded half up, for Won and 0
//   for Lost. deal_won.amount is close_value; deal_lost.reason is "crm: Lost".
//
// Rows that cannot be imported (unknown agent or product, unknown stage, a
// missing or malformed date or close_value where the stage needs one, a wrong
// field count, a duplicate opportunity_id) are skipped and listed in
// ImportSummary::skipped_rows with file, line and reason; never dropped
// silently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "lok/v1/events.pb.h"

namespace lok::importer {

// The `source` of every imported event.
inline constexpr std::string_view kCrmExportSource = "crm-export";

// A row that was skipped or imported with a caveat.
struct ImportProblem {
  std::string file;            // e.g. "sales_pipeline.csv"
  int64_t line = 0;            // 1-based line where the record starts; the header is line 1
  std::string opportunity_id;  // empty when the row has none
  std::string reason;          // e.g. "column sales_agent: 'X' is not in sales_teams.csv"

  friend bool operator==(const ImportProblem&, const ImportProblem&) = default;
};

struct EventCounts {
  int64_t lead_created = 0;
  int64_t lead_qualified = 0;
  int64_t offer_sent = 0;
  int64_t deal_won = 0;
  int64_t deal_lost = 0;

  int64_t Total() const {
    return lead_created + lead_qualified + offer_sent + deal_won + deal_lost;
  }
  friend bool operator==(const EventCounts&, const EventCounts&) = default;
};

// What the import did, for the operator to check before publishing.
struct ImportSummary {
  int64_t opportunities_read = 0;                    // data records in sales_pipeline.csv
  int64_t opportunities_imported = 0;                // read minus skipped
  std::map<std::string, int64_t> imported_by_stage;  // "Won" -> 4238
  EventCounts events_written;
  // Rows with an empty account, imported with client_id "unassigned:<opportunity_id>".
  int64_t placeholder_clients = 0;
  // "GTXPro -> GTX Pro" -> number of rows rewritten.
  std::map<std::string, int64_t> product_canonicalisations;
  // The latest date in the pipeline, "YYYY-MM-DD"; empty when it has none.
  std::string export_date;
  // Rows with no engage_date (Prospecting) whose lead_created is dated at export_date.
  int64_t leads_dated_at_export_date = 0;
  // Accounts named in the pipeline but absent from accounts.csv -> rows; imported as named.
  std::map<std::string, int64_t> accounts_not_in_accounts_csv;
  std::vector<ImportProblem> skipped_rows;  // not imported
  std::vector<ImportProblem> warnings;      // imported, but worth a look

  // A multi-line, human-readable report ending in a newline.
  std::string ToText() const;
};

struct ImportResult {
  // In sales_pipeline.csv order; each deal's events in funnel order.
  std::vector<lok::v1::Event> events;
  ImportSummary summary;
};

// Reads sales_pipeline.csv, sales_teams.csv, products.csv and accounts.csv
// from `directory` (RFC 4180 CSV with a header line; LF or CRLF; UTF-8, an
// optional BOM) and maps them to events as described at the top of this file.
//
// Returns kNotFound naming every missing file; kInvalidArgument naming
// file:line and the column when a file cannot be parsed at all (unterminated
// quote, missing header column) or a reference file (sales_teams.csv,
// products.csv, accounts.csv) has a malformed or conflicting row, since
// guessing there would misattribute many deals; kUnavailable when a file
// cannot be read. Malformed pipeline rows do not fail the import: they are
// skipped and reported in the summary. Pure function of the files; safe to
// call concurrently.
[[nodiscard]] StatusOr<ImportResult> ImportCrmExport(const std::filesystem::path& directory);

// Writes `events` to `out`, one per line, in the protobuf JSON mapping with
// proto field names ("event_id", "occurred_at", "lead_created"). The file is
// written beside `out` under a temporary name and renamed over it, so `out`
// is either complete or untouched. Returns kUnavailable when the file cannot
// be written (the message names the path), kInternal if an event cannot be
// converted to JSON.
[[nodiscard]] Status WriteNdjson(const std::vector<lok::v1::Event>& events,
                                 const std::filesystem::path& out);

}  // namespace lok::importer
