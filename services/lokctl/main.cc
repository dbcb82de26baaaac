// lokctl: Lok's command line. Wiring only; the work is in src/.
//
//   lokctl publish FILE.ndjson --url http://127.0.0.1:8080
//   lokctl publish FILE.ndjson --brokers 127.0.0.1:9092 --topic lok.events
//   lokctl import-crm DIR --out FILE.ndjson
//   lokctl verify --url http://127.0.0.1:8080
//   lokctl rebuild [--projection NAME]... [--no-wait] | rebuild status | rebuild drop
//   lokctl dlq list|show P/O|redrive (P/O | --all) --url http://127.0.0.1:8080
//   lokctl parked list|show CLIENT|retry CLIENT|skip CLIENT [--all] --url http://127.0.0.1:8080
//   lokctl demo
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <boost/json.hpp>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "base/sha256.h"
#include "client/lok_client.h"
#include "http/http_client.h"
#include "importer/crm_import.h"
#include "log/kafka_log.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

// --token / LOK_TOKEN: the bearer token sent to lokd (empty: none).
std::string g_token;

int Fail(const lok::Status& status) {
  std::cerr << "lokctl: " << status.ToString() << "\n";
  return 1;
}

lok::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return lok::NotFoundError(path.string() + ": cannot open");
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// The shared CRM dataset: --dataset, $LOK_DATASET, or shared/ beside or above
// the working directory.
fs::path FindDataset(const std::string& given) {
  if (!given.empty()) return given;
  const fs::path relative = fs::path("shared") / "datasets" / "crm-sales-opportunities";
  for (fs::path directory = fs::current_path(); !directory.empty();
       directory = directory.parent_path()) {
    if (fs::exists(directory / relative / "sales_pipeline.csv")) return directory / relative;
    if (fs::exists(directory / ".." / relative / "sales_pipeline.csv")) {
      return fs::weakly_canonical(directory / ".." / relative);
    }
    if (directory == directory.root_path()) break;
  }
  return relative;
}

int Publish(const std::string& file, const std::string& url, const std::string& brokers,
            const std::string& topic, bool partial) {
  auto contents = ReadFile(file);
  if (!contents.ok()) return Fail(contents.status());
  lok::client::PublishOptions options;
  options.partial = partial;
  lok::StatusOr<lok::client::PublishSummary> summary = lok::UnavailableError("unreachable");
  if (!brokers.empty()) {
    lok::log::KafkaConfig kafka;
    kafka.brokers = brokers;
    auto writer = lok::log::KafkaLogWriter::Create(kafka);
    if (!writer.ok()) return Fail(writer.status());
    summary = lok::client::PublishToLog(*contents, **writer, topic, options);
  } else {
    options.token = g_token;
    summary = lok::client::PublishOverHttp(*contents, url, options);
  }
  if (!summary.ok()) return Fail(summary.status());
  std::cout << summary->ToText();
  if (!summary->rejected.empty() && !partial) {
    std::cout << "nothing was published: fix the lines above, or pass --partial to publish the "
                 "valid ones\n";
    return 1;
  }
  return summary->rejected.empty() ? 0 : 3;
}

// POST /v1/admin/verify and print the report; exit 1 on a mismatch.
int Verify(const std::string& url) {
  auto response = lok::http::Fetch("POST", url + "/v1/admin/verify", "", "application/json",
                                   std::chrono::hours(2), lok::http::BearerHeader(g_token));
  if (!response.ok()) return Fail(response.status());
  boost::system::error_code error;
  boost::json::value report = boost::json::parse(response->body, error);
  if (error || !report.is_object() || !report.as_object().contains("models")) {
    std::cerr << "lokctl: verify: HTTP " << response->status << ": " << response->body << "\n";
    return 2;
  }
  const auto& object = report.as_object();
  std::cout << "replayed " << object.at("recordsReplayed").to_number<int64_t>()
            << " records up to the live offsets " << boost::json::serialize(object.at("offsets"))
            << "\n";
  for (const auto& model : object.at("models").as_array()) {
    const auto& entry = model.as_object();
    const bool match = entry.at("match").as_bool();
    std::cout << (match ? "  ok        " : "  MISMATCH  ") << entry.at("model").as_string().c_str()
              << "  live " << entry.at("live").at("sha256").as_string().c_str() << "  replayed "
              << entry.at("replayed").at("sha256").as_string().c_str() << "\n";
    for (const auto& key : entry.at("firstDifferences").as_array()) {
      std::cout << "              first difference: " << key.as_string().c_str() << "\n";
    }
  }
  return object.at("ok").as_bool() ? 0 : 1;
}

// A JSON body of lokd, or an error naming the HTTP status.
lok::StatusOr<boost::json::object> JsonBody(
    const lok::StatusOr<lok::http::ClientResponse>& response, const std::string& what) {
  if (!response.ok()) return response.status();
  boost::system::error_code error;
  boost::json::value body = boost::json::parse(response->body, error);
  if (error || !body.is_object() || response->status >= 300) {
    return lok::Status(lok::StatusCode::kUnavailable,
                       what + ": HTTP " + std::to_string(response->status) + ": " + response->body);
  }
  return body.as_object();
}

// GET /v1/restatements?since=T and print the late events and the changed numbers.
int Restatement(const std::string& url, const std::string& since, int limit) {
  auto body = JsonBody(lok::http::Fetch("GET",
                                        url + "/v1/restatements?since=" + since +
                                            "&limit=" + std::to_string(limit),
                                        "", "application/json", std::chrono::minutes(30),
                                        lok::http::BearerHeader(g_token)),
                       "restatement");
  if (!body.ok()) return Fail(body.status());
  const auto& object = *body;
  const auto text = [](const boost::json::value& value) {
    return value.is_string() ? std::string(value.as_string()) : boost::json::serialize(value);
  };
  std::cout << object.at("lateEventCount").to_number<int64_t>()
            << " events received after " << text(object.at("since"))
            << " occurred at or before it\n";
  for (const auto& event : object.at("lateEvents").as_array()) {
    std::cout << "  " << text(event.at("position")) << "  " << text(event.at("type")) << "  "
              << text(event.at("source")) << "/" << text(event.at("eventId")) << "  client "
              << text(event.at("clientId")) << "  occurred " << text(event.at("occurredAt"))
              << "  received " << text(event.at("receivedAt")) << "\n";
  }
  if (!object.at("complete").as_bool()) std::cout << "  ... (--limit shows more)\n";
  const auto& changes = object.at("changes").as_array();
  std::cout << changes.size() << " reported numbers changed\n";
  for (const auto& change : changes) {
    std::cout << "  " << text(change.at("metric")) << ": " << text(change.at("old")) << " -> "
              << text(change.at("new")) << "  (late events";
    for (const auto& position : change.at("lateEvents").as_array()) std::cout << " " << text(position);
    std::cout << ")\n";
  }
  return 0;
}

// "[#########...........]  42.0%  12345 events/s  ETA 0:13  replaying"
std::string ProgressLine(const boost::json::object& progress) {
  constexpr int kWidth = 30;
  const double fraction = progress.at("fraction").to_number<double>();
  const int filled = static_cast<int>(fraction * kWidth);
  const double eta = progress.at("etaSeconds").to_number<double>();
  const std::string eta_text = eta < 0 ? "--:--"
                                       : fmt::format("{}:{:02}", static_cast<int64_t>(eta) / 60,
                                                     static_cast<int64_t>(eta) % 60);
  return fmt::format("[{}{}] {:5.1f}%  {:.0f} events/s  ETA {}  {}",
                     std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(kWidth - filled), '.'), fraction * 100,
                     progress.at("eventsPerSecond").to_number<double>(), eta_text,
                     progress.at("state").as_string().c_str());
}

void PrintRebuild(const boost::json::object& progress) {
  std::cout << "state " << progress.at("state").as_string().c_str() << ", store generation "
            << progress.at("currentGeneration").to_number<int64_t>() << " current";
  if (progress.at("state").as_string() != "idle") {
    std::cout << "; rebuild of generation " << progress.at("generation").to_number<int64_t>()
              << " (" << boost::json::serialize(progress.at("projections")) << ", "
              << progress.at("reason").as_string().c_str()
              << "): " << progress.at("recordsReplayed").to_number<int64_t>() << "/"
              << progress.at("recordsTarget").to_number<int64_t>() << " records";
  }
  std::cout << "; old generations on disk " << boost::json::serialize(progress.at("oldGenerations"))
            << "\n";
  if (const auto* error = progress.if_contains("error"))
    std::cout << "error: " << error->as_string().c_str() << "\n";
}

// POST /v1/admin/rebuild, then a progress bar until it ends; exit 1 when it fails.
int Rebuild(const std::string& url, const std::vector<std::string>& projections, bool wait) {
  std::string query;
  for (const std::string& name : projections)
    query += (query.empty() ? "?projection=" : ",") + name;
  auto started =
      JsonBody(lok::http::Fetch("POST", url + "/v1/admin/rebuild" + query, "", "application/json",
                                std::chrono::seconds(30), lok::http::BearerHeader(g_token)),
               "rebuild");
  if (!started.ok()) return Fail(started.status());
  if (!wait) {
    PrintRebuild(*started);
    return 0;
  }
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  boost::json::object progress = *started;
  std::string last_line;
  while (progress.at("state").as_string() == "replaying" ||
         progress.at("state").as_string() == "switching") {
    const std::string line = ProgressLine(progress);
    if (terminal) {
      std::cerr << "\r" << line << "\x1b[K" << std::flush;
    } else if (line != last_line) {
      std::cerr << line << "\n";
    }
    last_line = line;
    std::this_thread::sleep_for(std::chrono::milliseconds(terminal ? 250 : 2000));
    auto polled =
        JsonBody(lok::http::Fetch("GET", url + "/v1/admin/rebuild", "", "application/json",
                                  std::chrono::seconds(30), lok::http::BearerHeader(g_token)),
                 "rebuild status");
    if (!polled.ok()) return Fail(polled.status());
    progress = *polled;
  }
  if (terminal) std::cerr << "\r" << ProgressLine(progress) << "\x1b[K\n";
  PrintRebuild(progress);
  return progress.at("state").as_string() == "done" ? 0 : 1;
}

int RebuildStatus(const std::string& url) {
  auto progress =
      JsonBody(lok::http::Fetch("GET", url + "/v1/admin/rebuild", "", "application/json",
                                std::chrono::seconds(30), lok::http::BearerHeader(g_token)),
               "rebuild status");
  if (!progress.ok()) return Fail(progress.status());
  PrintRebuild(*progress);
  return 0;
}

int RebuildDrop(const std::string& url) {
  auto dropped =
      JsonBody(lok::http::Fetch("DELETE", url + "/v1/admin/rebuild/old", "", "application/json",
                                std::chrono::minutes(10), lok::http::BearerHeader(g_token)),
               "rebuild drop");
  if (!dropped.ok()) return Fail(dropped.status());
  std::cout << "dropped store generations " << boost::json::serialize(dropped->at("dropped"))
            << "\n";
  return 0;
}

int ImportCrm(const std::string& directory, const std::string& out) {
  auto result = lok::importer::ImportCrmExport(directory);
  if (!result.ok()) return Fail(result.status());
  lok::Status written = lok::importer::WriteNdjson(result->events, out);
  if (!written.ok()) return Fail(written);
  std::cout << result->summary.ToText() << "wrote " << result->events.size() << " events to " << out
            << "\n";
  return 0;
}

// Starts lokd beside this binary; returns its pid.
lok::StatusOr<pid_t> StartLokd(const fs::path& data_dir, const std::string& http) {
  const fs::path lokd = fs::read_symlink("/proc/self/exe").parent_path() / "lokd";
  std::vector<std::string> arguments = {lokd.string(), "--data-dir", data_dir.string(), "--http",
                                        http};
  std::vector<char*> argv;
  for (std::string& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int error = posix_spawn(&pid, lokd.c_str(), nullptr, nullptr, argv.data(), environ)) {
    return lok::UnavailableError(lokd.string() + ": cannot start: " + std::strerror(error));
  }
  return pid;
}

int Demo(const std::string& data_dir, const std::string& dataset_dir, const std::string& http,
         bool exit_after) {
  const fs::path dataset = FindDataset(dataset_dir);
  std::cout << "lok demo: importing the CRM export in " << dataset.string() << "\n";
  auto imported = lok::importer::ImportCrmExport(dataset);
  if (!imported.ok()) return Fail(imported.status().WithContext("--dataset"));
  std::cout << imported->summary.ToText();
  fs::create_directories(data_dir);
  const fs::path ndjson = fs::path(data_dir) / "crm-events.ndjson";
  lok::Status written = lok::importer::WriteNdjson(imported->events, ndjson);
  if (!written.ok()) return Fail(written);

  // Stop signals reach lokctl, which stops lokd in turn.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto pid = StartLokd(data_dir, http);
  if (!pid.ok()) return Fail(pid.status());
  const std::string url = "http://" + http;
  auto stop_lokd = [&] {
    kill(*pid, SIGTERM);
    int status = 0;
    waitpid(*pid, &status, 0);
  };
  lok::Status healthy = lok::client::WaitHealthy(url, std::chrono::seconds(30));
  if (!healthy.ok()) {
    stop_lokd();
    return Fail(healthy);
  }
  auto contents = ReadFile(ndjson);
  if (!contents.ok()) return Fail(contents.status());
  auto summary = lok::client::PublishOverHttp(*contents, url, {});
  if (!summary.ok()) {
    stop_lokd();
    return Fail(summary.status());
  }
  std::cout << "published: " << summary->ToText();
  auto funnel = lok::client::WaitForOffsets(url, summary->offsets, std::chrono::minutes(2));
  if (!funnel.ok()) {
    stop_lokd();
    return Fail(funnel.status());
  }
  std::cout << "\n"
            << lok::client::FormatFunnel(*funnel) << "\n"
            << "lokd is serving on " << url << ": the dashboard is at " << url
            << "/  (or try: curl " << url << "/v1/funnel)\n"
            << "data in " << data_dir << "; publishing the same file again changes nothing "
            << "(events are deduplicated by source and event_id)\n";
  if (exit_after) {
    stop_lokd();
    return 0;
  }
  std::cout << "press Ctrl-C to stop\n" << std::flush;
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  stop_lokd();
  return 0;
}

// --- lokctl dlq: list, show and re-drive dead letters through lokd's admin API.

// Calls lokd and returns the JSON object it answers with; an HTTP error
// status becomes an error carrying lokd's message.
lok::StatusOr<boost::json::object> CallLokd(const std::string& method, const std::string& url,
                                            const std::string& body = "") {
  auto response = lok::http::Fetch(method, url, body, "application/json", std::chrono::minutes(10),
                                   lok::http::BearerHeader(g_token));
  if (!response.ok()) return response.status();
  boost::system::error_code error;
  boost::json::value parsed = boost::json::parse(response->body, error);
  if (response->status != 200) {
    std::string message = response->body;
    if (!error && parsed.is_object() && parsed.as_object().contains("error")) {
      const boost::json::value* text = parsed.at("error").as_object().if_contains("message");
      if (text != nullptr && text->is_string()) message = text->as_string().c_str();
    }
    const lok::StatusCode code = response->status == 404   ? lok::StatusCode::kNotFound
                                 : response->status == 400 ? lok::StatusCode::kInvalidArgument
                                                           : lok::StatusCode::kUnavailable;
    return lok::Status(code, "HTTP " + std::to_string(response->status) + ": " + message);
  }
  if (error || !parsed.is_object())
    return lok::InternalError("lokd sent no JSON object: " + response->body);
  return std::move(parsed.as_object());
}

std::string FormatTimeMs(int64_t milliseconds) {
  const std::time_t seconds = static_cast<std::time_t>(milliseconds / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

std::string Text(const boost::json::value& value) {
  if (value.is_string()) return value.as_string().c_str();
  return boost::json::serialize(value);
}

std::string PositionText(const boost::json::value& position) {
  return Text(position.at("partition")) + "/" + Text(position.at("offset"));
}

std::string RedrivenText(const boost::json::value& redriven) {
  return redriven.is_object() ? "-> " + PositionText(redriven) : "-";
}

std::string Trim(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

int DlqList(const std::string& url, int limit, const std::string& after) {
  std::string target = Trim(url) + "/v1/admin/dlq?limit=" + std::to_string(limit);
  if (!after.empty()) target += "&after=" + after;
  auto page = CallLokd("GET", target);
  if (!page.ok()) return Fail(page.status());
  const auto& letters = page->at("deadLetters").as_array();
  if (letters.empty()) {
    std::cout << "no dead letters in " << Text(page->at("topic"))
              << (after.empty() ? "" : " after " + after) << "\n";
    return 0;
  }
  std::cout << fmt::format("{:<10} {:<19} {:<16} {:<22} {:>6}  {:<10} {}\n", "DLQ", "TIME (UTC)",
                           "KEY", "FROM", "BYTES", "REDRIVEN", "REASON");
  for (const auto& entry : letters) {
    const auto& letter = entry.as_object();
    std::string key = Text(letter.at("key"));
    if (key.size() > 16) key = key.substr(0, 15) + "~";
    const std::string from = Text(letter.at("originalTopic")) + " " +
                             Text(letter.at("originalPartition")) + "/" +
                             Text(letter.at("originalOffset"));
    std::cout << fmt::format("{:<10} {:<19} {:<16} {:<22} {:>6}  {:<10} {}\n", PositionText(entry),
                             FormatTimeMs(letter.at("timestampMs").to_number<int64_t>()), key, from,
                             Text(letter.at("bytes")), RedrivenText(letter.at("redriven")),
                             Text(letter.at("reason")));
  }
  const std::string next = Text(page->at("nextCursor"));
  if (!next.empty()) std::cout << "more: lokctl dlq list --after " << next << "\n";
  return 0;
}

int DlqShow(const std::string& url, const std::string& position) {
  auto letter = CallLokd("GET", Trim(url) + "/v1/admin/dlq/" + position);
  if (!letter.ok()) return Fail(letter.status());
  const auto& json = *letter;
  std::cout << "dead letter   " << PositionText(json) << "  ("
            << FormatTimeMs(json.at("timestampMs").to_number<int64_t>()) << " UTC)\n"
            << "from          " << Text(json.at("originalTopic")) << " "
            << Text(json.at("originalPartition")) << "/" << Text(json.at("originalOffset")) << "\n"
            << "key           " << Text(json.at("key")) << "\n"
            << "reason        " << Text(json.at("reason")) << "\n"
            << "re-driven     "
            << (json.at("redriven").is_object()
                    ? "to " + PositionText(json.at("redriven")) + " at " +
                          FormatTimeMs(json.at("redriven").at("atMs").to_number<int64_t>()) + " UTC"
                    : std::string("no"))
            << "\n";
  const auto& now = json.at("currentValidation").as_object();
  std::cout << "now           "
            << (now.at("valid").as_bool()
                    ? std::string("valid: a re-drive would be applied (or ignored as a duplicate)")
                    : "still invalid: " + Text(now.at("reason")))
            << "\n";
  std::cout << "headers\n";
  for (const auto& header : json.at("headers").as_array()) {
    std::cout << "  " << Text(header.at("key")) << ": " << Text(header.at("value")) << "\n";
  }
  std::cout << "bytes         " << Text(json.at("bytes")) << " (base64) "
            << Text(json.at("valueBase64")) << "\n";
  if (json.at("event").is_object()) {
    std::cout << "event         " << boost::json::serialize(json.at("event")) << "\n";
  } else {
    std::cout << "event         (the bytes are not a lok.v1.Event)\n";
  }
  return 0;
}

int DlqRedrive(const std::string& url, const std::string& position, bool all,
               const std::string& reason, bool only_valid) {
  boost::json::object body;
  if (all) {
    body["all"] = true;
  } else {
    const size_t slash = position.find('/');
    int64_t partition = -1, offset = -1;
    try {
      size_t used = 0;
      if (slash != std::string::npos) {
        partition = std::stoll(position.substr(0, slash), &used);
        if (used != slash) partition = -1;
        offset = std::stoll(position.substr(slash + 1), &used);
        if (used != position.size() - slash - 1) offset = -1;
      }
    } catch (const std::exception&) {
      partition = -1;
    }
    if (partition < 0 || offset < 0) {
      return Fail(lok::InvalidArgumentError(
          "expected PARTITION/OFFSET (e.g. 0/12) or --all, got '" + position + "'"));
    }
    body["partition"] = partition;
    body["offset"] = offset;
  }
  if (!reason.empty()) body["reason"] = reason;
  if (only_valid) body["onlyValid"] = true;
  auto result = CallLokd("POST", Trim(url) + "/v1/admin/dlq/redrive", boost::json::serialize(body));
  if (!result.ok()) return Fail(result.status());
  const auto& json = *result;
  std::cout << "re-drove " << Text(json.at("redriven")) << " dead letters to "
            << Text(json.at("topic")) << "\n";
  size_t still_invalid = 0;
  for (const auto& record : json.at("records").as_array()) {
    const bool valid = record.at("validNow").as_bool();
    if (!valid) ++still_invalid;
    std::cout << "  " << PositionText(record.at("from")) << " -> " << PositionText(record.at("to"))
              << (valid ? "" : "  (still invalid: it will be dead-lettered again)") << "\n";
  }
  if (json.at("recordsTruncated").as_bool()) std::cout << "  ...\n";
  const auto& skipped = json.at("skipped").as_object();
  const std::string skipped_text =
      fmt::format("skipped: {} already re-driven, {} other reasons, {} still invalid",
                  Text(skipped.at("alreadyRedriven")), Text(skipped.at("reasonMismatch")),
                  Text(skipped.at("stillInvalid")));
  if (all || skipped_text != "skipped: 0 already re-driven, 0 other reasons, 0 still invalid") {
    std::cout << skipped_text << "\n";
  }
  if (json.at("redriven").to_number<int64_t>() > 0) {
    std::cout << "events already applied are ignored (deduplicated by source and event_id)\n";
  }
  return 0;
}

// --- lokctl parked: clients whose events wait behind one lokd could not apply.

// A path segment: every byte outside [A-Za-z0-9-._~] as %XX (so a client id
// holding '/', '?' or spaces stays one segment).
std::string PathSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char byte : text) {
    const auto value = static_cast<unsigned char>(byte);
    if (std::isalnum(value) || byte == '-' || byte == '.' || byte == '_' || byte == '~') {
      encoded.push_back(byte);
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[value >> 4]);
      encoded.push_back(kHex[value & 0x0F]);
    }
  }
  return encoded;
}

std::string ParkedEventLine(const boost::json::value& event) {
  std::string id = Text(event.at("eventId"));
  if (id.size() > 24) id = id.substr(0, 23) + "~";
  return fmt::format("{:<12} {:<19} {:<24} {:<18} {:>3}  {:<18} {}", PositionText(event),
                     FormatTimeMs(event.at("parkedAtMs").to_number<int64_t>()), id,
                     Text(event.at("type")).empty() ? "(unknown)" : Text(event.at("type")),
                     Text(event.at("attempts")), Text(event.at("cause")), Text(event.at("reason")));
}

int ParkedList(const std::string& url, int limit, const std::string& after) {
  std::string target = Trim(url) + "/v1/admin/parked?limit=" + std::to_string(limit);
  if (!after.empty()) target += "&after=" + PathSegment(after);
  auto page = CallLokd("GET", target);
  if (!page.ok()) return Fail(page.status());
  const auto& clients = page->at("clients").as_array();
  std::cout << Text(page->at("parkedEvents")) << " events of " << Text(page->at("parkedClients"))
            << " clients are parked\n";
  if (clients.empty()) return 0;
  std::cout << fmt::format("{:<24} {:>6}  {:<19} {:<12} {}\n", "CLIENT", "DEPTH", "OLDEST (UTC)",
                           "HEAD", "FIRST REASON");
  for (const auto& entry : clients) {
    std::string client = Text(entry.at("clientId"));
    if (client.size() > 24) client = client.substr(0, 23) + "~";
    std::cout << fmt::format("{:<24} {:>6}  {:<19} {:<12} {}\n", client, Text(entry.at("depth")),
                             FormatTimeMs(entry.at("oldestParkedAtMs").to_number<int64_t>()),
                             PositionText(entry.at("head")), Text(entry.at("firstReason")));
  }
  const std::string next = Text(page->at("nextCursor"));
  if (!next.empty()) std::cout << "more: lokctl parked list --after '" << next << "'\n";
  return 0;
}

int ParkedShow(const std::string& url, const std::string& client, int limit,
               const std::string& after) {
  std::string target =
      Trim(url) + "/v1/admin/parked/" + PathSegment(client) + "?limit=" + std::to_string(limit);
  if (!after.empty()) target += "&after=" + after;
  auto shown = CallLokd("GET", target);
  if (!shown.ok()) return Fail(shown.status());
  std::cout << "client " << client << ": " << Text(shown->at("depth")) << " parked events\n";
  const auto& events = shown->at("events").as_array();
  if (!events.empty()) {
    std::cout << fmt::format("{:<12} {:<19} {:<24} {:<18} {:>3}  {:<18} {}\n", "POSITION",
                             "PARKED (UTC)", "EVENT ID", "TYPE", "TRY", "CAUSE", "REASON");
    for (const auto& event : events) std::cout << ParkedEventLine(event) << "\n";
  }
  const std::string next = Text(shown->at("nextCursor"));
  if (!next.empty()) {
    std::cout << "more: lokctl parked show '" << client << "' --after " << next << "\n";
  }
  const auto& skipped = shown->at("skipped").as_array();
  if (!skipped.empty()) {
    std::cout << "skipped earlier:\n";
    for (const auto& event : skipped) {
      std::cout << "  " << PositionText(event) << " " << Text(event.at("eventId")) << " by "
                << Text(event.at("skippedBy")) << " at "
                << FormatTimeMs(event.at("skippedAtMs").to_number<int64_t>())
                << " UTC: " << Text(event.at("reason")) << "\n";
    }
  }
  return 0;
}

int ParkedRetry(const std::string& url, const std::string& client) {
  auto result = CallLokd("POST", Trim(url) + "/v1/admin/parked/" + PathSegment(client) + "/retry");
  if (!result.ok()) return Fail(result.status());
  const auto& json = *result;
  std::cout << "client " << client << ": applied " << Text(json.at("applied")) << ", "
            << Text(json.at("duplicates")) << " duplicates, " << Text(json.at("deadLettered"))
            << " dead-lettered; " << Text(json.at("remaining")) << " still parked\n";
  if (json.at("stoppedAt").is_object()) {
    const auto& head = json.at("stoppedAt");
    std::cout << "stopped at " << PositionText(head) << " (" << Text(head.at("eventId"))
              << ", attempt " << Text(head.at("attempts")) << "): " << Text(head.at("reason"))
              << "\n";
    return 3;
  }
  return 0;
}

int ParkedSkip(const std::string& url, const std::string& client, bool all) {
  auto result = CallLokd("POST", Trim(url) + "/v1/admin/parked/" + PathSegment(client) + "/skip" +
                                     (all ? "?all=true" : ""));
  if (!result.ok()) return Fail(result.status());
  const auto& json = *result;
  std::cout << "client " << client << ": skipped " << Text(json.at("skippedCount"))
            << " events (recorded in lokd's skip audit); " << Text(json.at("remaining"))
            << " still parked\n";
  for (const auto& event : json.at("skipped").as_array()) {
    std::cout << "  " << PositionText(event) << " " << Text(event.at("eventId")) << ": "
              << Text(event.at("reason")) << "\n";
  }
  if (json.at("remaining").to_number<int64_t>() > 0) {
    std::cout << "the rest stays parked until: lokctl parked retry '" << client << "'\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lokctl: Lok's command line"};
  app.add_option("--token", g_token, "Bearer token for lokd's API (see lokd --auth-file)")
      ->envname("LOK_TOKEN");
  std::string token_to_hash;
  auto* hash_token = app.add_subcommand(
      "hash-token", "Print the SHA-256 of a token, for the sha256 field of lokd's --auth-file");
  hash_token->add_option("token", token_to_hash, "The token (read from stdin when omitted)");
  app.require_subcommand(1);

  std::string file, url = "http://127.0.0.1:8080", brokers, topic = "lok.events";
  bool partial = false;
  auto* publish = app.add_subcommand("publish", "Validate an NDJSON file of events and publish it");
  publish->add_option("file", file, "NDJSON file, one lok.v1.Event per line")
      ->required()
      ->check(CLI::ExistingFile);
  publish->add_option("--url", url, "lokd's base URL")->envname("LOK_URL")->capture_default_str();
  publish->add_option("--brokers", brokers, "Publish straight to Kafka instead of through lokd")
      ->envname("LOK_BROKERS");
  publish->add_option("--topic", topic, "Kafka topic")->envname("LOK_TOPIC")->capture_default_str();
  publish->add_flag("--partial", partial, "Publish the valid lines even if some are invalid");

  std::string crm_dir, out;
  auto* import_crm = app.add_subcommand("import-crm", "Turn the CRM export into events (NDJSON)");
  import_crm->add_option("dir", crm_dir, "Directory with sales_pipeline.csv, accounts.csv, ...")
      ->required()
      ->check(CLI::ExistingDirectory);
  import_crm->add_option("--out", out, "Output NDJSON file")->required();

  std::string data_dir = "lok-demo-data", dataset, http = "127.0.0.1:8080";
  bool exit_after = false;
  auto* demo = app.add_subcommand(
      "demo", "Import the shared CRM dataset, run lokd on the embedded log, print the funnel");
  demo->add_option("--data-dir", data_dir, "Where lokd keeps its data")->capture_default_str();
  demo->add_option("--dataset", dataset, "The CRM export directory (default: shared/datasets/...)")
      ->envname("LOK_DATASET");
  demo->add_option("--http", http, "lokd's listen address")->capture_default_str();
  demo->add_flag("--exit", exit_after, "Stop lokd after printing the funnel");

  std::string verify_url = "http://127.0.0.1:8080";
  auto* verify = app.add_subcommand(
      "verify", "Replay the log into a scratch store and compare digests with the live read models");
  verify->add_option("--url", verify_url, "lokd's base URL")->envname("LOK_URL")->capture_default_str();

  std::string restatement_url = "http://127.0.0.1:8080", restatement_since;
  int restatement_limit = 100;
  auto* restatement = app.add_subcommand(
      "restatement", "Which reported numbers changed because events arrived after a moment");
  restatement->add_option("--since", restatement_since,
                          "When the numbers were reported: YYYY-MM-DD (end of day, UTC) or an "
                          "RFC 3339 instant")
      ->required();
  restatement->add_option("--limit", restatement_limit, "Late events listed (1..1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  restatement->add_option("--url", restatement_url, "lokd's base URL")
      ->envname("LOK_URL")
      ->capture_default_str();

  std::string rebuild_url = "http://127.0.0.1:8080";
  std::vector<std::string> rebuild_projections;
  bool rebuild_no_wait = false;
  auto* rebuild = app.add_subcommand(
      "rebuild", "Rebuild the read models from offset 0 beside the live ones, then switch to them");
  rebuild->require_subcommand(0, 1);
  rebuild->add_option("--projection", rebuild_projections,
                      "Recompute only this read model (repeatable); the others are copied");
  rebuild->add_flag("--no-wait", rebuild_no_wait, "Start it and return without the progress bar");
  auto* rebuild_status =
      rebuild->add_subcommand("status", "Progress of the running (or last) rebuild");
  auto* rebuild_drop =
      rebuild->add_subcommand("drop", "Remove the older store generations kept on disk");
  for (CLI::App* command : {rebuild, rebuild_status, rebuild_drop}) {
    command->add_option("--url", rebuild_url, "lokd's base URL")
        ->envname("LOK_URL")
        ->capture_default_str();
  }

  std::string dlq_url = "http://127.0.0.1:8080", dlq_after, dlq_position, dlq_reason;
  int dlq_limit = 50;
  bool dlq_all = false, dlq_only_valid = false;
  auto* dlq = app.add_subcommand("dlq", "List, inspect and re-drive dead-lettered records");
  dlq->require_subcommand(1);
  dlq->add_option("--url", dlq_url, "lokd's base URL")->envname("LOK_URL")->capture_default_str();
  auto* dlq_list = dlq->add_subcommand("list", "List dead letters in (partition, offset) order");
  dlq_list->add_option("--limit", dlq_limit, "Letters per page (1..1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  dlq_list->add_option("--after", dlq_after, "Continue after this PARTITION/OFFSET (the cursor)");
  auto* dlq_show =
      dlq->add_subcommand("show", "Show one dead letter: headers, bytes, event, validity now");
  dlq_show->add_option("position", dlq_position, "PARTITION/OFFSET in the dead-letter topic")
      ->required();
  auto* dlq_redrive =
      dlq->add_subcommand("redrive", "Re-append dead letters' original bytes to the events topic");
  dlq_redrive->add_option("position", dlq_position, "PARTITION/OFFSET in the dead-letter topic");
  dlq_redrive->add_flag("--all", dlq_all, "Every dead letter not re-driven yet");
  dlq_redrive->add_option("--reason", dlq_reason, "Only letters whose reason contains this text");
  dlq_redrive->add_flag("--only-valid", dlq_only_valid,
                        "Skip letters this lokd would still reject");
  for (CLI::App* command : {dlq_list, dlq_show, dlq_redrive}) {
    command->add_option("--url", dlq_url, "lokd's base URL")
        ->envname("LOK_URL")
        ->capture_default_str();
  }

  std::string parked_url = "http://127.0.0.1:8080", parked_after, parked_client;
  int parked_limit = 50;
  bool parked_all = false;
  auto* parked = app.add_subcommand(
      "parked",
      "List, inspect, retry and skip events parked per client (lokd could not apply them)");
  parked->require_subcommand(1);
  parked->add_option("--url", parked_url, "lokd's base URL")
      ->envname("LOK_URL")
      ->capture_default_str();
  auto* parked_list = parked->add_subcommand("list", "Parked clients with depth and first reason");
  parked_list->add_option("--after", parked_after, "Continue after this client (the cursor)");
  auto* parked_show = parked->add_subcommand("show", "One client's parked events in order");
  parked_show->add_option("--after", parked_after, "Continue after this PARTITION/OFFSET");
  for (CLI::App* command : {parked_list, parked_show}) {
    command->add_option("--limit", parked_limit, "Entries per page (1..1000)")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
  }
  auto* parked_retry = parked->add_subcommand(
      "retry", "Re-apply a client's parked events in order; stops at the first that fails again");
  auto* parked_skip = parked->add_subcommand(
      "skip", "Drop a client's first parked event (or all) without applying it; audited");
  parked_skip->add_flag("--all", parked_all, "Skip every parked event of the client");
  for (CLI::App* command : {parked_show, parked_retry, parked_skip}) {
    command->add_option("client", parked_client, "The client_id")->required();
  }
  for (CLI::App* command : {parked_list, parked_show, parked_retry, parked_skip}) {
    command->add_option("--url", parked_url, "lokd's base URL")
        ->envname("LOK_URL")
        ->capture_default_str();
  }

  CLI11_PARSE(app, argc, argv);
  if (*publish) return Publish(file, url, brokers, topic, partial);
  if (*import_crm) return ImportCrm(crm_dir, out);
  if (*hash_token) {
    if (token_to_hash.empty()) std::getline(std::cin, token_to_hash);
    if (token_to_hash.empty()) {
      std::cerr << "lokctl: hash-token: the token must not be empty\n";
      return 2;
    }
    std::cout << lok::Sha256Hex(token_to_hash) << "\n";
    return 0;
  }
  if (*verify) return Verify(verify_url);
  if (*restatement) return Restatement(restatement_url, restatement_since, restatement_limit);
  if (*rebuild_status) return RebuildStatus(rebuild_url);
  if (*rebuild_drop) return RebuildDrop(rebuild_url);
  if (*rebuild) return Rebuild(rebuild_url, rebuild_projections, !rebuild_no_wait);
  if (*demo) return Demo(data_dir, dataset, http, exit_after);
  if (*dlq_list) return DlqList(dlq_url, dlq_limit, dlq_after);
  if (*dlq_show) return DlqShow(dlq_url, dlq_position);
  if (*dlq_redrive) {
    if (dlq_all == !dlq_position.empty()) {
      std::cerr << "lokctl: dlq redrive: give PARTITION/OFFSET or --all (not both)\n";
      return 2;
    }
    return DlqRedrive(dlq_url, dlq_position, dlq_all, dlq_reason, dlq_only_valid);
  }
  if (*parked_list) return ParkedList(parked_url, parked_limit, parked_after);
  if (*parked_show) return ParkedShow(parked_url, parked_client, parked_limit, parked_after);
  if (*parked_retry) return ParkedRetry(parked_url, parked_client);
  if (*parked_skip) return ParkedSkip(parked_url, parked_client, parked_all);
  return 2;
}
