// The cluster token's handshake: the token never travels.  A server opens
// every connection with a `_Challenge` frame carrying a fresh random nonce;
// the channel's first frame (`_Hello`) carries
//   proof = HMAC-SHA256(token, "psflow-hello-v3" 0x00 nonce task 0x00 incarnation)
// which the server recomputes and compares in constant time.  A proof
// captured on one connection is useless on another (another nonce), and a
// listener learns nothing that lets it connect.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/core/status.h"

namespace psflow::rpc {

inline constexpr size_t kNonceBytes = 32;

// kNonceBytes from OpenSSL's random generator.
StatusOr<std::string> NewNonce();
// The 32-byte proof above.
std::string HelloProof(std::string_view token, std::string_view nonce, std::string_view task, uint64_t incarnation);
// a == b, in time that depends on the lengths only.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace psflow::rpc
