#include "importer/crm_import.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lok::importer {
namespace {

constexpr char kPipelineHeader[] =
    "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n";
constexpr char kTeams[] =
    "sales_agent,manager,regional_office\n"
    "Moses Frase,Dustin Brinkmann,Central\n"
    "Darcel Schlecht,Summer Sewald,West\n";
constexpr char kProducts[] =
    "product,series,sales_price\n"
    "GTX Basic,GTX,550\n"
    "GTX Pro,GTX,4821\n"
    "MG Special,MG,55\n";
constexpr char kAccounts[] =
    "account,sector,year_established,revenue,employees,office_location,subsidiary_of\n"
    "Cancity,retail,2001,718.62,2448,United States,\n"
    "\"Acme, Inc.\",technolgy,1996,1100.04,2822,United States,\n";

// One row per stage, with the dataset's quirks: GTXPro, empty accounts, a
// quoted account with a comma, a Prospecting row without dates.
constexpr char kFourStages[] =
    "WON1,Darcel Schlecht,GTXPro,Cancity,Won,2016-10-25,2017-03-11,4514\n"
    "LOST1,Moses Frase,GTX Basic,\"Acme, Inc.\",Lost,2016-10-26,2017-03-02,0\n"
    "ENG1,Moses Frase,MG Special,,Engaging,2017-12-27,,\n"
    "PRO1,Darcel Schlecht,GTX Basic,,Prospecting,,,\n";

std::string ToJson(const lok::v1::Event& event) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(event, &json, options).ok());
  return json;
}

std::vector<std::string> ToJson(const std::vector<lok::v1::Event>& events) {
  std::vector<std::string> lines;
  for (const lok::v1::Event& event : events) lines.push_back(ToJson(event));
  return lines;
}

class CrmImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = std::filesystem::temp_directory_path() /
                 ("lok_crm_import_" + std::string(test->name()) + "_" + std::to_string(getpid()));
    std::filesystem::remove_all(directory_);
    std::filesystem::create_directories(directory_);
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }

  void WriteFile(const std::string& name, const std::string& contents) {
    std::ofstream out(directory_ / name, std::ios::binary);
    out << contents;
    ASSERT_TRUE(out.good());
  }

  // Writes the reference files above and a pipeline with `rows` under the header.
  void WriteExport(const std::string& rows) {
    WriteFile("sales_teams.csv", kTeams);
    WriteFile("products.csv", kProducts);
    WriteFile("accounts.csv", kAccounts);
    WriteFile("sales_pipeline.csv", kPipelineHeader + rows);
  }

  ImportResult Import() {
    StatusOr<ImportResult> result = ImportCrmExport(directory_);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(result).value() : ImportResult{};
  }

  std::filesystem::path directory_;
};

TEST_F(CrmImportTest, WonOpportunityBecomesFourEvents) {
  WriteExport("WON1,Darcel Schlecht,GTXPro,Cancity,Won,2016-10-25,2017-03-11,4514\n");
  ImportResult result = Import();
  // Discount: (4821 - 4514) / 4821 = 636.8 bp, rounded to 637.
  EXPECT_EQ(
      ToJson(result.events),
      (std::vector<std::string>{
          R"({"event_id":"WON1:lead_created","source":"crm-export","occurred_at":"2016-10-25T00:00:00Z","client_id":"Cancity","deal_id":"WON1","lead_created":{"salesperson":"Darcel Schlecht","region":"West","product":"GTX Pro"}})",
          R"({"event_id":"WON1:lead_qualified","source":"crm-export","occurred_at":"2016-10-25T00:00:01Z","client_id":"Cancity","deal_id":"WON1","lead_qualified":{}})",
          R"({"event_id":"WON1:offer_sent","source":"crm-export","occurred_at":"2017-03-11T00:00:02Z","client_id":"Cancity","deal_id":"WON1","offer_sent":{"amount":{"minor":"451400","currency":"USD"},"discount_bp":637}})",
          R"({"event_id":"WON1:deal_won","source":"crm-export","occurred_at":"2017-03-11T00:00:03Z","client_id":"Cancity","deal_id":"WON1","deal_won":{"amount":{"minor":"451400","currency":"USD"}}})",
      }));
}

TEST_F(CrmImportTest, LostOpportunityOffersAtListPriceAndKeepsQuotedAccount) {
  WriteExport("LOST1,Moses Frase,GTX Basic,\"Acme, Inc.\",Lost,2016-10-26,2017-03-02,0\n");
  ImportResult result = Import();
  EXPECT_EQ(
      ToJson(result.events),
      (std::vector<std::string>{
          R"({"event_id":"LOST1:lead_created","source":"crm-export","occurred_at":"2016-10-26T00:00:00Z","client_id":"Acme, Inc.","deal_id":"LOST1","lead_created":{"salesperson":"Moses Frase","region":"Central","product":"GTX Basic"}})",
          R"({"event_id":"LOST1:lead_qualified","source":"crm-export","occurred_at":"2016-10-26T00:00:01Z","client_id":"Acme, Inc.","deal_id":"LOST1","lead_qualified":{}})",
          R"({"event_id":"LOST1:offer_sent","source":"crm-export","occurred_at":"2017-03-02T00:00:02Z","client_id":"Acme, Inc.","deal_id":"LOST1","offer_sent":{"amount":{"minor":"55000","currency":"USD"}}})",
          R"({"event_id":"LOST1:deal_lost","source":"crm-export","occurred_at":"2017-03-02T00:00:03Z","client_id":"Acme, Inc.","deal_id":"LOST1","deal_lost":{"reason":"crm: Lost"}})",
      }));
  EXPECT_TRUE(result.summary.warnings.empty());
}

TEST_F(CrmImportTest, EngagingWithoutAccountGetsPlaceholderClient) {
  WriteExport("ENG1,Moses Frase,MG Special,,Engaging,2017-12-27,,\n");
  ImportResult result = Import();
  EXPECT_EQ(
      ToJson(result.events),
      (std::vector<std::string>{
          R"({"event_id":"ENG1:lead_created","source":"crm-export","occurred_at":"2017-12-27T00:00:00Z","client_id":"unassigned:ENG1","deal_id":"ENG1","lead_created":{"salesperson":"Moses Frase","region":"Central","product":"MG Special"}})",
          R"({"event_id":"ENG1:lead_qualified","source":"crm-export","occurred_at":"2017-12-27T00:00:01Z","client_id":"unassigned:ENG1","deal_id":"ENG1","lead_qualified":{}})",
      }));
  EXPECT_EQ(result.summary.placeholder_clients, 1);
}

TEST_F(CrmImportTest, ProspectingWithoutDatesIsDatedAtLatestDateInFile) {
  WriteExport(kFourStages);
  ImportResult result = Import();
  ASSERT_EQ(result.events.size(), 11u);
  EXPECT_EQ(
      ToJson(result.events.back()),
      R"({"event_id":"PRO1:lead_created","source":"crm-export","occurred_at":"2017-12-27T00:00:00Z","client_id":"unassigned:PRO1","deal_id":"PRO1","lead_created":{"salesperson":"Darcel Schlecht","region":"West","product":"GTX Basic"}})");
  EXPECT_EQ(result.summary.export_date, "2017-12-27");
  EXPECT_EQ(result.summary.leads_dated_at_export_date, 1);
}

TEST_F(CrmImportTest, SummaryCountsEventsAndQuirks) {
  WriteExport(kFourStages);
  ImportResult result = Import();
  const ImportSummary& summary = result.summary;
  EXPECT_EQ(summary.opportunities_read, 4);
  EXPECT_EQ(summary.opportunities_imported, 4);
  EXPECT_EQ(summary.imported_by_stage,
            (std::map<std::string, int64_t>{
                {"Engaging", 1}, {"Lost", 1}, {"Prospecting", 1}, {"Won", 1}}));
  EXPECT_EQ(
      summary.events_written,
      (EventCounts{
          .lead_created = 4, .lead_qualified = 3, .offer_sent = 2, .deal_won = 1, .deal_lost = 1}));
  EXPECT_EQ(summary.events_written.Total(), static_cast<int64_t>(result.events.size()));
  EXPECT_EQ(summary.placeholder_clients, 2);
  EXPECT_EQ(summary.product_canonicalisations,
            (std::map<std::string, int64_t>{{"GTXPro -> GTX Pro", 1}}));
  EXPECT_TRUE(summary.accounts_not_in_accounts_csv.empty());
  EXPECT_TRUE(summary.skipped_rows.empty());
  EXPECT_TRUE(summary.warnings.empty());
}

TEST_F(CrmImportTest, SummaryTextNamesEveryDecision) {
  WriteExport(kFourStages);
  const std::string text = Import().summary.ToText();
  EXPECT_NE(text.find("opportunities read: 4 (imported 4, skipped 0)"), std::string::npos) << text;
  EXPECT_NE(text.find("events written: 11"), std::string::npos) << text;
  EXPECT_NE(text.find("rows with no account: 2"), std::string::npos) << text;
  EXPECT_NE(text.find("GTXPro -> GTX Pro: 1 rows"), std::string::npos) << text;
  EXPECT_NE(text.find("export date 2017-12-27"), std::string::npos) << text;
}

TEST_F(CrmImportTest, WonAboveListPriceHasNoDiscount) {
  WriteExport("W,Moses Frase,GTX Basic,Cancity,Won,2017-01-02,2017-02-03,588\n");
  ImportResult result = Import();
  ASSERT_EQ(result.events.size(), 4u);
  EXPECT_EQ(result.events[2].offer_sent().discount_bp(), 0);
  EXPECT_EQ(result.events[2].offer_sent().amount().minor(), 58800);
}

TEST_F(CrmImportTest, UnknownAgentAndProductAreSkippedWithLineAndReason) {
  WriteExport(
      "A,Nobody,GTX Basic,Cancity,Won,2017-01-02,2017-02-03,500\n"
      "B,Moses Frase,GTX Ultra,Cancity,Engaging,2017-01-02,,\n"
      "C,Moses Frase,GTX Basic,Cancity,Engaging,2017-01-02,,\n");
  ImportResult result = Import();
  EXPECT_EQ(result.summary.opportunities_read, 3);
  EXPECT_EQ(result.summary.opportunities_imported, 1);
  EXPECT_EQ(result.events.size(), 2u);
  EXPECT_EQ(
      result.summary.skipped_rows,
      (std::vector<ImportProblem>{
          {"sales_pipeline.csv", 2, "A", "column sales_agent: 'Nobody' is not in sales_teams.csv"},
          {"sales_pipeline.csv", 3, "B", "column product: 'GTX Ultra' is not in products.csv"},
      }));
}

TEST_F(CrmImportTest, RowsMissingRequiredDataAreSkippedAndOthersKept) {
  WriteExport(
      "A,Moses Frase,GTX Basic,Cancity,Won,2017-01-02,,500\n"
      "B,Moses Frase,GTX Basic,Cancity,Won,2017-01-02,2017-02-30,500\n"
      "C,Moses Frase,GTX Basic,Cancity,Won,2017-01-02,2017-02-03,\n"
      "D,Moses Frase,GTX Basic,Cancity,Engaging,,,\n"
      "E,Moses Frase,GTX Basic,Cancity,Closed,2017-01-02,2017-02-03,1\n"
      "F,Moses Frase,GTX Basic,Cancity\n"
      "G,Moses Frase,GTX Basic,Cancity,Engaging,2017-01-02,,\n"
      "G,Moses Frase,GTX Basic,Cancity,Engaging,2017-01-02,,\n");
  ImportResult result = Import();
  EXPECT_EQ(result.summary.opportunities_read, 8);
  EXPECT_EQ(result.summary.opportunities_imported, 1);
  std::vector<std::string> reasons;
  for (const ImportProblem& problem : result.summary.skipped_rows) {
    reasons.push_back(std::to_string(problem.line) + " " + problem.reason);
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{
                         "2 column close_date: empty, but stage Won needs it",
                         "3 column close_date: '2017-02-30' is not a date (YYYY-MM-DD)",
                         "4 column close_value: '' is not an amount in USD",
                         "5 column engage_date: empty, but stage Engaging needs it",
                         "6 column deal_stage: 'Closed' is not Prospecting, Engaging, Won or Lost",
                         "7 expected 8 fields, found 4",
                         "9 column opportunity_id: duplicate of line 8",
                     }));
}

TEST_F(CrmImportTest, QuotedLineBreakKeepsLineNumbersOfLaterRows) {
  WriteExport(
      "A,Moses Frase,GTX Basic,\"Two\nLines\",Engaging,2017-01-02,,\n"
      "B,Nobody,GTX Basic,Cancity,Engaging,2017-01-02,,\n");
  ImportResult result = Import();
  ASSERT_EQ(result.events.size(), 2u);
  EXPECT_EQ(result.events[0].client_id(), "Two\nLines");
  EXPECT_EQ(result.summary.accounts_not_in_accounts_csv,
            (std::map<std::string, int64_t>{{"Two\nLines", 1}}));
  ASSERT_EQ(result.summary.skipped_rows.size(), 1u);
  EXPECT_EQ(result.summary.skipped_rows[0].line, 4);
}

TEST_F(CrmImportTest, ReadsCrlfBomAndEscapedQuotes) {
  WriteFile("sales_teams.csv",
            "\xEF\xBB\xBFsales_agent,manager,regional_office\r\nMoses Frase,X,East\r\n");
  WriteFile("products.csv", "product,series,sales_price\r\nGTX Basic,GTX,550\r\n");
  WriteFile("accounts.csv", "account\r\n");
  WriteFile("sales_pipeline.csv",
            std::string(kPipelineHeader) +
                "A,Moses Frase,GTX Basic,\"Say \"\"Hi\"\"\",Engaging,2017-01-02,,\r\n");
  ImportResult result = Import();
  ASSERT_EQ(result.events.size(), 2u);
  EXPECT_EQ(result.events[0].client_id(), "Say \"Hi\"");
  EXPECT_EQ(result.events[0].lead_created().region(), "East");
}

TEST_F(CrmImportTest, ReimportGivesIdenticalEvents) {
  WriteExport(kFourStages);
  EXPECT_EQ(ToJson(Import().events), ToJson(Import().events));
}

TEST_F(CrmImportTest, MissingFilesAreNotFoundByName) {
  WriteFile("sales_pipeline.csv", kPipelineHeader);
  WriteFile("products.csv", kProducts);
  StatusOr<ImportResult> result = ImportCrmExport(directory_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("missing sales_teams.csv, accounts.csv"),
            std::string::npos)
      << result.status().message();
}

TEST_F(CrmImportTest, MissingColumnIsInvalidArgumentNamingFileAndColumn) {
  WriteExport("");
  WriteFile("sales_pipeline.csv", "opportunity_id,sales_agent\nA,Moses Frase\n");
  StatusOr<ImportResult> result = ImportCrmExport(directory_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(),
            InvalidArgumentError("sales_pipeline.csv:1: missing column 'product'"));
}

TEST_F(CrmImportTest, UnterminatedQuoteIsInvalidArgumentNamingLine) {
  WriteExport(
      "A,Moses Frase,GTX Basic,Cancity,Engaging,2017-01-02,,\n"
      "B,Moses Frase,GTX Basic,\"Cancity,Engaging,2017-01-02,,\n");
  StatusOr<ImportResult> result = ImportCrmExport(directory_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(),
            InvalidArgumentError("sales_pipeline.csv:3: field 4: unterminated quoted field"));
}

TEST_F(CrmImportTest, MalformedListPriceFailsTheImport) {
  WriteExport("");
  WriteFile("products.csv", "product,series,sales_price\nGTX Basic,GTX,cheap\n");
  StatusOr<ImportResult> result = ImportCrmExport(directory_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), InvalidArgumentError("products.csv:2: column sales_price: 'cheap' is "
                                                  "not an amount in USD"));
}

TEST_F(CrmImportTest, WriteNdjsonWritesOneJsonObjectPerLine) {
  WriteExport(kFourStages);
  ImportResult result = Import();
  const std::filesystem::path out = directory_ / "events.ndjson";
  ASSERT_TRUE(WriteNdjson(result.events, out).ok());
  std::ifstream in(out);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_EQ(lines, ToJson(result.events));
  EXPECT_FALSE(std::filesystem::exists(directory_ / "events.ndjson.tmp"));
}

TEST_F(CrmImportTest, WriteNdjsonToMissingDirectoryIsUnavailable) {
  Status status = WriteNdjson({}, directory_ / "no" / "such" / "events.ndjson");
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
}

// The public dataset: counts computed independently with Python's csv module.
TEST(CrmImportDatasetTest, PublicDatasetImportsEveryOpportunity) {
  const std::filesystem::path directory = LOK_SHARED_DATASET_DIR;
  if (!std::filesystem::exists(directory / "sales_pipeline.csv")) {
    GTEST_SKIP() << "dataset not found at " << directory;
  }
  StatusOr<ImportResult> result = ImportCrmExport(directory);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const ImportSummary& summary = result->summary;
  EXPECT_EQ(summary.opportunities_read, 8800);
  EXPECT_EQ(summary.opportunities_imported, 8800);
  EXPECT_EQ(summary.imported_by_stage,
            (std::map<std::string, int64_t>{
                {"Engaging", 1589}, {"Lost", 2473}, {"Prospecting", 500}, {"Won", 4238}}));
  EXPECT_EQ(summary.events_written, (EventCounts{.lead_created = 8800,
                                                 .lead_qualified = 8300,
                                                 .offer_sent = 6711,
                                                 .deal_won = 4238,
                                                 .deal_lost = 2473}));
  EXPECT_EQ(result->events.size(), 30522u);
  EXPECT_EQ(summary.placeholder_clients, 1425);
  EXPECT_EQ(summary.product_canonicalisations,
            (std::map<std::string, int64_t>{{"GTXPro -> GTX Pro", 1480}}));
  EXPECT_EQ(summary.export_date, "2017-12-31");
  EXPECT_EQ(summary.leads_dated_at_export_date, 500);
  EXPECT_TRUE(summary.accounts_not_in_accounts_csv.empty());
  EXPECT_TRUE(summary.skipped_rows.empty());
  EXPECT_TRUE(summary.warnings.empty());

  int64_t won_minor = 0;
  for (const lok::v1::Event& event : result->events) {
    if (event.has_deal_won()) won_minor += event.deal_won().amount().minor();
  }
  EXPECT_EQ(won_minor, 10'005'534 * int64_t{100});
}

}  // namespace
}  // namespace lok::importer
