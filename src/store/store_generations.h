// The generations of read-model stores in one data dir, and which one is
// current.
//
// Generation 0 is "<data_dir>/state" (the store of a node that never
// rebuilt); generation N > 0 is "<data_dir>/store-v<N>". The current one is
// named in "<data_dir>/CURRENT_STORE", replaced atomically (written to a
// temporary file, fsynced, renamed over, directory fsynced), as RocksDB
// switches its own CURRENT file. Without that file generation 0 is current.
// The pointer lives outside every store because it must choose between them.
//
// Thread-compatible: callers serialise MakeCurrent and Remove.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace lok::store {

class StoreGenerations {
 public:
  explicit StoreGenerations(std::string data_dir) : data_dir_(std::move(data_dir)) {}

  // The current generation. Errors: kDataLoss when CURRENT_STORE is
  // unreadable or names no generation.
  StatusOr<int> Current() const;

  // The directory of `generation`.
  std::string PathOf(int generation) const;

  // Generations with a directory on disk, ascending.
  std::vector<int> OnDisk() const;

  // A generation above the current one and every one on disk (never reuses a
  // leftover directory of an interrupted rebuild).
  StatusOr<int> Next() const;

  // Records `generation` as current, durably. Errors: kUnavailable on I/O
  // failure (the previous pointer then still holds).
  Status MakeCurrent(int generation);

  // Removes `generation`'s directory. Errors: kFailedPrecondition for the
  // current generation; kUnavailable on I/O failure.
  Status Remove(int generation);

 private:
  std::string data_dir_;
};

}  // namespace lok::store
