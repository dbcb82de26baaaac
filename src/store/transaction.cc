#include "store/transaction.h"

#include <algorithm>

#include "base/key_encoding.h"

namespace lok::store {

std::string EncodeCounter(int64_t value) {
  std::string bytes;
  AppendBigEndian64(bytes, static_cast<uint64_t>(value));
  return bytes;
}

StatusOr<int64_t> DecodeCounter(std::string_view bytes) {
  if (bytes.size() != 8) return DataLossError("counter: expected 8 bytes");
  return static_cast<int64_t>(*ReadBigEndian64(bytes, 0));
}

namespace {

uint64_t ZigZag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}

int64_t UnZigZag(uint64_t value) {
  return static_cast<int64_t>(value >> 1) ^ -static_cast<int64_t>(value & 1);
}

// Reads one LEB128 varint at `position`; false when truncated or too long.
bool ReadVarint(std::string_view bytes, size_t& position, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && position < bytes.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes[position++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string EncodeCounterVector(const std::vector<int64_t>& values) {
  size_t used = values.size();
  while (used > 0 && values[used - 1] == 0) --used;
  std::string bytes;
  bytes.reserve(used + 8);
  for (size_t index = 0; index < used; ++index) {
    uint64_t value = ZigZag(values[index]);
    while (value >= 0x80) {
      bytes.push_back(static_cast<char>((value & 0x7F) | 0x80));
      value >>= 7;
    }
    bytes.push_back(static_cast<char>(value));
  }
  return bytes;
}

StatusOr<std::vector<int64_t>> DecodeCounterVector(std::string_view bytes) {
  std::vector<int64_t> values;
  values.reserve(bytes.size());
  size_t position = 0;
  while (position < bytes.size()) {
    uint64_t value = 0;
    if (!ReadVarint(bytes, position, value)) return DataLossError("counter vector: bad varint");
    values.push_back(UnZigZag(value));
  }
  return values;
}

Status DecodeCounterVectorInto(std::string_view bytes, std::span<int64_t> out) {
  std::fill(out.begin(), out.end(), 0);
  size_t position = 0;
  for (size_t index = 0; position < bytes.size(); ++index) {
    uint64_t value = 0;
    if (index >= out.size()) return DataLossError("counter vector: more counters than expected");
    if (!ReadVarint(bytes, position, value)) return DataLossError("counter vector: bad varint");
    out[index] = UnZigZag(value);
  }
  return Status::Ok();
}

Status KeyValueReader::ScanRangeSeeking(
    std::string_view begin, std::string_view end,
    const std::function<ScanStep(std::string_view, std::string_view)>& visit) const {
  std::string from(begin);
  while (true) {
    std::optional<std::string> seek_to;
    LOK_RETURN_IF_ERROR(ScanRange(from, end, [&](std::string_view key, std::string_view value) {
      ScanStep step = visit(key, value);
      if (step.action == ScanStep::Action::kSeek) seek_to = std::move(step.seek_to);
      return step.action == ScanStep::Action::kNext;
    }));
    if (!seek_to || *seek_to >= end) return Status::Ok();
    from = std::move(*seek_to);
  }
}

Status KeyValueReader::ScanRangeReverse(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  std::vector<std::pair<std::string, std::string>> entries;
  LOK_RETURN_IF_ERROR(ScanRange(begin, end, [&](std::string_view key, std::string_view value) {
    entries.emplace_back(key, value);
    return true;
  }));
  for (auto entry = entries.rbegin(); entry != entries.rend(); ++entry) {
    if (!visit(entry->first, entry->second)) break;
  }
  return Status::Ok();
}

StatusOr<std::vector<std::optional<std::string>>> KeyValueReader::MultiGet(
    const std::vector<std::string>& keys) const {
  std::vector<std::optional<std::string>> values;
  values.reserve(keys.size());
  for (const std::string& key : keys) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(key));
    values.push_back(std::move(value));
  }
  return values;
}

StatusOr<std::optional<std::string>> Transaction::ReadBase(std::string_view key) const {
  StatusOr<std::optional<std::string>> value = base_.Get(key);
  if (!value.ok() && read_error_.ok()) read_error_ = value.status();
  return value;
}

StatusOr<std::optional<std::string>> Transaction::Get(std::string_view key) const {
  auto written = writes_.find(key);
  if (written != writes_.end()) return written->second;
  return ReadBase(key);
}

void Transaction::Put(std::string_view key, std::string value) {
  if (save_point_) RememberWrite(key);
  writes_.insert_or_assign(std::string(key), std::move(value));
}

void Transaction::Delete(std::string_view key) {
  if (save_point_) RememberWrite(key);
  writes_.insert_or_assign(std::string(key), std::nullopt);
}

void Transaction::AddCounter(std::string_view key, int64_t delta) {
  if (delta == 0) return;
  if (save_point_) RememberCounter(key);
  auto found = counter_deltas_.find(key);
  if (found == counter_deltas_.end()) {
    counter_deltas_.emplace(std::string(key), delta);
  } else {
    found->second += delta;
  }
}

void Transaction::AddCounterVector(std::string_view key, const std::vector<int64_t>& deltas) {
  if (save_point_) RememberVector(key);
  auto found = vector_deltas_.find(key);
  if (found == vector_deltas_.end()) {
    vector_deltas_.emplace(std::string(key), deltas);
    return;
  }
  std::vector<int64_t>& sums = found->second;
  if (sums.size() < deltas.size()) sums.resize(deltas.size(), 0);
  for (size_t index = 0; index < deltas.size(); ++index) sums[index] += deltas[index];
}

StatusOr<int64_t> Transaction::GetCounter(std::string_view key) const {
  LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, ReadBase(key));
  int64_t value = 0;
  if (stored) {
    LOK_ASSIGN_OR_RETURN(value, DecodeCounter(*stored));
  }
  auto found = counter_deltas_.find(key);
  return found == counter_deltas_.end() ? value : value + found->second;
}

void Transaction::SetSavePoint() {
  save_point_ = true;
  undo_.clear();
}

void Transaction::ReleaseSavePoint() {
  save_point_ = false;
  undo_.clear();
}

void Transaction::RollbackToSavePoint() {
  // Newest first, so a key changed twice ends at its state before the first change.
  for (auto undo = undo_.rbegin(); undo != undo_.rend(); ++undo) {
    switch (undo->kind) {
      case Undo::Kind::kWrite:
        if (undo->existed) {
          writes_.insert_or_assign(undo->key, std::move(undo->write));
        } else {
          writes_.erase(undo->key);
        }
        break;
      case Undo::Kind::kCounter:
        if (undo->existed) {
          counter_deltas_.insert_or_assign(undo->key, undo->counter);
        } else {
          counter_deltas_.erase(undo->key);
        }
        break;
      case Undo::Kind::kVector:
        if (undo->existed) {
          vector_deltas_.insert_or_assign(undo->key, std::move(undo->vector));
        } else {
          vector_deltas_.erase(undo->key);
        }
        break;
    }
  }
  ReleaseSavePoint();
}

void Transaction::RememberWrite(std::string_view key) {
  Undo undo;
  undo.kind = Undo::Kind::kWrite;
  undo.key = std::string(key);
  auto found = writes_.find(key);
  if (found != writes_.end()) {
    undo.existed = true;
    undo.write = found->second;
  }
  undo_.push_back(std::move(undo));
}

void Transaction::RememberCounter(std::string_view key) {
  Undo undo;
  undo.kind = Undo::Kind::kCounter;
  undo.key = std::string(key);
  auto found = counter_deltas_.find(key);
  if (found != counter_deltas_.end()) {
    undo.existed = true;
    undo.counter = found->second;
  }
  undo_.push_back(std::move(undo));
}

void Transaction::RememberVector(std::string_view key) {
  Undo undo;
  undo.kind = Undo::Kind::kVector;
  undo.key = std::string(key);
  auto found = vector_deltas_.find(key);
  if (found != vector_deltas_.end()) {
    undo.existed = true;
    undo.vector = found->second;
  }
  undo_.push_back(std::move(undo));
}

StatusOr<ChangeSet> Transaction::Finish() const {
  ChangeSet changes;
  changes.writes = writes_;
  for (const auto& [key, delta] : counter_deltas_) {
    if (delta == 0) continue;
    LOK_ASSIGN_OR_RETURN(int64_t value, GetCounter(key));
    if (value == 0) {
      changes.writes.insert_or_assign(key, std::nullopt);
    } else {
      changes.writes.insert_or_assign(key, EncodeCounter(value));
    }
  }
  for (const auto& [key, deltas] : vector_deltas_) {
    LOK_ASSIGN_OR_RETURN(std::optional<std::string> stored, ReadBase(key));
    std::vector<int64_t> values;
    if (stored) {
      LOK_ASSIGN_OR_RETURN(values, DecodeCounterVector(*stored));
    }
    if (values.size() < deltas.size()) values.resize(deltas.size(), 0);
    bool all_zero = true;
    for (size_t index = 0; index < values.size(); ++index) {
      if (index < deltas.size()) values[index] += deltas[index];
      all_zero = all_zero && values[index] == 0;
    }
    if (all_zero) {
      changes.writes.insert_or_assign(key, std::nullopt);
    } else {
      changes.writes.insert_or_assign(key, EncodeCounterVector(values));
    }
  }
  return changes;
}

StatusOr<std::optional<std::string>> MemoryStore::Get(std::string_view key) const {
  auto found = data_.find(key);
  if (found == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(found->second);
}

Status MemoryStore::ScanPrefix(
    std::string_view prefix,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  for (auto entry = data_.lower_bound(prefix);
       entry != data_.end() && std::string_view(entry->first).starts_with(prefix); ++entry) {
    if (!visit(entry->first, entry->second)) break;
  }
  return Status::Ok();
}

Status MemoryStore::ScanRange(
    std::string_view begin, std::string_view end,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  for (auto entry = data_.lower_bound(begin); entry != data_.end() && entry->first < end; ++entry) {
    if (!visit(entry->first, entry->second)) break;
  }
  return Status::Ok();
}

void MemoryStore::Commit(const ChangeSet& changes) {
  for (const auto& [key, value] : changes.writes) {
    if (value) {
      data_.insert_or_assign(key, *value);
    } else {
      data_.erase(key);
    }
  }
}

}  // namespace lok::store
