// GET /v1/clients/{id}/history and GET /v1/deals/{id}/history: the events of
// a client or deal in business-time order, with partition and offset, exactly
// as stored. Paged: `limit` (1..1000, default 100) and `after` (the previous
// page's nextCursor); `order=desc` lists the newest first.
#pragma once

#include "http/http_server.h"
#include "store/transaction.h"

namespace lok::api {

// True when `path` is /v1/clients/{id}/history or /v1/deals/{id}/history.
bool IsHistoryPath(std::string_view path);

http::Response HandleHistory(const store::KeyValueReader& snapshot, const http::Request& request);

}  // namespace lok::api
