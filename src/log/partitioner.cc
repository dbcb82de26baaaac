#include "log/partitioner.h"

namespace lok::log {

int32_t Murmur2(std::string_view key) {
  const uint32_t seed = 0x9747b28c;
  const uint32_t multiplier = 0x5bd1e995;
  const int rotation = 24;
  const size_t length = key.size();
  uint32_t hash = seed ^ static_cast<uint32_t>(length);
  const auto byte = [&](size_t index) {
    return static_cast<uint32_t>(static_cast<unsigned char>(key[index]));
  };
  const size_t whole_words = length / 4;
  for (size_t word = 0; word < whole_words; ++word) {
    const size_t base = word * 4;
    uint32_t k =
        byte(base) | (byte(base + 1) << 8) | (byte(base + 2) << 16) | (byte(base + 3) << 24);
    k *= multiplier;
    k ^= k >> rotation;
    k *= multiplier;
    hash *= multiplier;
    hash ^= k;
  }
  const size_t tail = whole_words * 4;
  switch (length % 4) {
    case 3:
      hash ^= byte(tail + 2) << 16;
      [[fallthrough]];
    case 2:
      hash ^= byte(tail + 1) << 8;
      [[fallthrough]];
    case 1:
      hash ^= byte(tail);
      hash *= multiplier;
      break;
    default:
      break;
  }
  hash ^= hash >> 13;
  hash *= multiplier;
  hash ^= hash >> 15;
  return static_cast<int32_t>(hash);
}

int32_t PartitionForKey(std::string_view key, int32_t partition_count) {
  const uint32_t positive = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffffU;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partition_count));
}

}  // namespace lok::log
