// The dashboard's files (web/dist, built by Vite) served by lokd.
//
//   GET /             index.html                   Cache-Control: no-cache
//   GET /index.html   index.html                   Cache-Control: no-cache
//   GET /assets/<f>   a content-hashed asset       Cache-Control: public, max-age=31536000, immutable
//
// index.html is revalidated on every load because it names the current assets;
// the assets never change under their name (Vite puts a content hash in it), so
// browsers keep them. Every answer carries an ETag; a matching If-None-Match
// gets a 304 without a body.
//
//   lok::api::RegisterStaticFiles(server, "/opt/lok/web/dist");
#pragma once

#include <filesystem>
#include <string_view>

#include "http/http_server.h"

namespace lok::api {

// The Content-Type for a file name by its extension ("app.js" ->
// "text/javascript; charset=utf-8"); "application/octet-stream" when unknown.
std::string_view ContentTypeFor(std::string_view file_name);

// Answers a GET for request.path from the directory `web_root`.
// Success: 200 with the file, its Content-Type, Cache-Control and ETag; 304
// when If-None-Match matches the ETag.
// 400 when the path is not absolute or has a "..", "." or empty segment, a
// backslash or a NUL (request.path is already percent-decoded, so "%2e%2e"
// counts as ".."); nothing outside web_root is ever read, symbolic links
// included.
// 404 when the file is missing or not a regular file, and when web_root has no
// index.html (the dashboard was not built; the message says how to build it).
// 500 when the file exists but cannot be read.
// Thread-safe: reads the file system on every call and keeps no state.
http::Response ServeStaticFile(const std::filesystem::path& web_root, const http::Request& request);

// Registers GET "/", "/index.html" and "/assets/*" on `server`, served from
// `web_root` with ServeStaticFile. REQUIRES: server.Start() not yet called.
void RegisterStaticFiles(http::Server& server, const std::filesystem::path& web_root);

}  // namespace lok::api
