// Kafka's default partitioner for keyed records, so that the embedded log, the
// Kafka producer (librdkafka's "murmur2_random") and Java producers all put a
// client's events on the same partition.
#pragma once

#include <cstdint>
#include <string_view>

namespace lok::log {

// Kafka's murmur2 hash of `key` (org.apache.kafka.common.utils.Utils.murmur2).
int32_t Murmur2(std::string_view key);

// The partition Kafka's default partitioner picks for a non-empty key:
// (murmur2(key) & 0x7fffffff) % partition_count.
// REQUIRES: partition_count > 0.
int32_t PartitionForKey(std::string_view key, int32_t partition_count);

}  // namespace lok::log
