// Converts RocksDB's status into Lok's at the edge, for every module that
// talks to RocksDB (the store and the embedded log).
#pragma once

#include <string_view>

#include "base/status.h"

namespace rocksdb {
class Status;
}

namespace lok::store {

// OK for OK; otherwise "<what>: <rocksdb message>" with kDataLoss for
// corruption, kUnavailable for I/O, busy and timeouts, kInternal otherwise.
Status FromRocksStatus(const rocksdb::Status& status, std::string_view what);

}  // namespace lok::store
