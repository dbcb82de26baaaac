#include "api/static_files.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

namespace lok::api {
namespace {

constexpr std::string_view kIndexFile = "index.html";
constexpr std::string_view kAssetsPrefix = "/assets/";
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "no-cache";
// The page loads only its own scripts and styles and talks only to lokd.
// ECharts' SVG renderer sets style attributes, hence 'unsafe-inline' for styles
// (scripts stay strict); the favicon is a data: URI.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

struct ContentType {
  std::string_view extension;
  std::string_view type;
};

constexpr std::array<ContentType, 16> kContentTypes = {{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".woff", "font/woff"},
    {".txt", "text/plain; charset=utf-8"},
}};

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EndsWithIgnoringCase(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  const std::string_view tail = text.substr(text.size() - suffix.size());
  for (size_t index = 0; index < suffix.size(); ++index) {
    if (AsciiLower(tail[index]) != suffix[index]) return false;
  }
  return true;
}

// True when every segment of `path` ("/a/b.js") is a plain name: not empty,
// not "." or "..", and the path holds no backslash or NUL.
bool IsSafeRelativePath(std::string_view path) {
  if (path.empty() || path.find('\\') != std::string_view::npos ||
      path.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

http::Response NotFound(std::string_view message) { return http::JsonError(404, message); }

// "<size>-<mtime>" in hex: changes whenever the file is rebuilt.
std::string ETagFor(uintmax_t size, std::filesystem::file_time_type modified) {
  std::ostringstream tag;
  tag << '"' << std::hex << size << '-'
      << static_cast<uint64_t>(modified.time_since_epoch().count()) << '"';
  return tag.str();
}

bool ETagMatches(const http::Request& request, const std::string& etag) {
  const auto header = request.headers.find("if-none-match");
  if (header == request.headers.end()) return false;
  const std::string& candidates = header->second;
  if (candidates == "*") return true;
  // A list of tags, possibly weak (W/"..."): weak comparison is what GET needs.
  size_t start = 0;
  while (start < candidates.size()) {
    size_t end = candidates.find(',', start);
    if (end == std::string::npos) end = candidates.size();
    std::string_view candidate(candidates.data() + start, end - start);
    while (!candidate.empty() && candidate.front() == ' ') candidate.remove_prefix(1);
    while (!candidate.empty() && candidate.back() == ' ') candidate.remove_suffix(1);
    if (candidate.starts_with("W/")) candidate.remove_prefix(2);
    if (candidate == etag) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view file_name) {
  for (const ContentType& content_type : kContentTypes) {
    if (EndsWithIgnoringCase(file_name, content_type.extension)) return content_type.type;
  }
  return "application/octet-stream";
}

http::Response ServeStaticFile(const std::filesystem::path& web_root, const http::Request& request) {
  namespace fs = std::filesystem;
  const std::string_view path = request.path;
  if (!path.starts_with('/')) return http::JsonError(400, "path must start with '/'");

  std::string_view relative = path.substr(1);
  const bool is_index = relative.empty() || relative == kIndexFile;
  if (is_index) relative = kIndexFile;
  if (!IsSafeRelativePath(relative)) {
    return http::JsonError(400, "path segments must be names: no '..', '.', empty segments or '\\'");
  }

  std::error_code error;
  const fs::path root = fs::weakly_canonical(web_root, error);
  if (error || !fs::is_regular_file(root / kIndexFile, error)) {
    return NotFound("the dashboard is not built in '" + web_root.string() +
                    "': run (cd web && npm ci && npm run build), or point --web-root at a "
                    "built web/dist");
  }
  // Resolve symbolic links and check the result is still inside the root.
  const fs::path file = fs::weakly_canonical(root / fs::path(relative), error);
  if (error) return NotFound("no such file: " + std::string(path));
  if (std::mismatch(root.begin(), root.end(), file.begin(), file.end()).first != root.end()) {
    return NotFound("no such file: " + std::string(path));
  }
  if (!fs::is_regular_file(file, error)) return NotFound("no such file: " + std::string(path));

  const uintmax_t size = fs::file_size(file, error);
  if (error) return http::JsonError(500, "cannot read " + std::string(path));
  const fs::file_time_type modified = fs::last_write_time(file, error);
  if (error) return http::JsonError(500, "cannot read " + std::string(path));

  http::Response response;
  const std::string etag = ETagFor(size, modified);
  const bool immutable = path.starts_with(kAssetsPrefix);
  response.headers.emplace_back("Cache-Control", immutable ? kImmutable : kRevalidate);
  response.headers.emplace_back("ETag", etag);
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (is_index) {
    response.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  if (ETagMatches(request, etag)) {
    response.status = 304;
    response.content_type.clear();
    return response;
  }

  std::ifstream stream(file, std::ios::binary);
  std::string body{std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>()};
  if (!stream.is_open() || stream.bad()) {
    return http::JsonError(500, "cannot read " + std::string(path));
  }
  response.content_type = std::string(ContentTypeFor(file.filename().string()));
  response.body = std::move(body);
  return response;
}

void RegisterStaticFiles(http::Server& server, const std::filesystem::path& web_root) {
  auto handler = [web_root](const http::Request& request) {
    return ServeStaticFile(web_root, request);
  };
  server.Handle("GET", "/", handler);
  server.Handle("GET", "/index.html", handler);
  server.Handle("GET", "/assets/*", handler);
}

}  // namespace lok::api
