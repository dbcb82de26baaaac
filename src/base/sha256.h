// SHA-256 (OpenSSL), for read-model digests and hashed API tokens.
#pragma once

#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace lok {

// Incremental SHA-256. Not thread-safe; one object per digest.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Add(std::string_view bytes);
  // Adds the length of `bytes` (8 bytes, big-endian) and then the bytes, so
  // that a sequence of fields hashes unambiguously.
  void AddFramed(std::string_view bytes);
  // The digest as 64 lower-case hex digits. Call once.
  std::string HexDigest();

 private:
  evp_md_ctx_st* context_;
};

// The SHA-256 of `bytes` as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view bytes);

}  // namespace lok
