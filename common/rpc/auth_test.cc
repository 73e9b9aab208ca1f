#include "common/rpc/auth.h"

#include <gtest/gtest.h>

#include <set>

namespace psflow::rpc {
namespace {

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned char c : s) {
    h.push_back(d[c >> 4]);
    h.push_back(d[c & 15]);
  }
  return h;
}

// The proof is HMAC-SHA256 of the documented message (the value is Python's
// hmac module's for the same inputs, as tests/hostile_peer.py computes it).
TEST(AuthTest, ProofIsHmacSha256OfTheDocumentedMessage) {
  std::string nonce;
  for (int i = 0; i < 32; ++i) nonce.push_back(static_cast<char>(i));
  EXPECT_EQ(Hex(HelloProof("secret", nonce, "worker:0", 7)),
            "be48bd710c2c0bf968f48a9dbf60c44107240dc17213eb124dcebbc64ae0fcdb");
  // Every input changes it.
  const std::string p = HelloProof("secret", nonce, "worker:0", 7);
  EXPECT_NE(p, HelloProof("secreT", nonce, "worker:0", 7));
  EXPECT_NE(p, HelloProof("secret", nonce, "worker:1", 7));
  EXPECT_NE(p, HelloProof("secret", nonce, "worker:0", 8));
  nonce[31] ^= 1;
  EXPECT_NE(p, HelloProof("secret", nonce, "worker:0", 7));
}

TEST(AuthTest, NoncesAreFreshAndComparisonsExact) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto n = NewNonce();
    ASSERT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(n->size(), kNonceBytes);
    EXPECT_TRUE(seen.insert(*n).second);
  }
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace psflow::rpc
