#include "base/sha256.h"

#include <openssl/evp.h>

#include "base/key_encoding.h"

namespace lok {

Sha256::Sha256() : context_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(context_, EVP_sha256(), nullptr); }

Sha256::~Sha256() { EVP_MD_CTX_free(context_); }

void Sha256::Add(std::string_view bytes) { EVP_DigestUpdate(context_, bytes.data(), bytes.size()); }

void Sha256::AddFramed(std::string_view bytes) {
  std::string length;
  AppendBigEndian64(length, bytes.size());
  Add(length);
  Add(bytes);
}

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context_, digest, &size);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int index = 0; index < size; ++index) {
    hex.push_back(kDigits[digest[index] >> 4]);
    hex.push_back(kDigits[digest[index] & 0xF]);
  }
  return hex;
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 sha;
  sha.Add(bytes);
  return sha.HexDigest();
}

}  // namespace lok
