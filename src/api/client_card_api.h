// GET /v1/clients/{id}: the client's card, assembled from the funnel (deals
// by stage), concentration (revenue, share, payment behaviour, discounts) and
// retention (score, reasons, invoices, contacts) read models.
#pragma once

#include "api/concentration_api.h"
#include "api/retention_api.h"
#include "http/http_server.h"
#include "store/transaction.h"

namespace lok::api {

// Answers for the client named by the path's last segment (percent-decoded).
// Query: asOf (default today), currency (default the reporting currency).
// 404 when no read model knows the client.
http::Response HandleClientCard(const store::KeyValueReader& snapshot, const http::Request& request,
                                const RetentionApiSettings& settings);

}  // namespace lok::api
