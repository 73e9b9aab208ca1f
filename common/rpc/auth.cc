#include "common/rpc/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace psflow::rpc {

StatusOr<std::string> NewNonce() {
  std::string n(kNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(n.data()), static_cast<int>(n.size())) != 1) {
    return InternalError("OpenSSL's RAND_bytes could not make a connection nonce");
  }
  return n;
}

std::string HelloProof(std::string_view token, std::string_view nonce, std::string_view task, uint64_t incarnation) {
  std::string msg = "psflow-hello-v3";
  msg.push_back('\0');
  msg.append(nonce);
  msg.append(task);
  msg.push_back('\0');
  msg.append(std::to_string(incarnation));
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace psflow::rpc
