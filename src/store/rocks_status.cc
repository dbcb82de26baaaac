#include "store/rocks_status.h"

#include <rocksdb/status.h>

namespace lok::store {

Status FromRocksStatus(const rocksdb::Status& status, std::string_view what) {
  if (status.ok()) return Status::Ok();
  std::string message = std::string(what) + ": " + status.ToString();
  if (status.IsCorruption()) return DataLossError(std::move(message));
  if (status.IsIOError() || status.IsBusy() || status.IsTimedOut()) {
    return UnavailableError(std::move(message));
  }
  return InternalError(std::move(message));
}

}  // namespace lok::store
