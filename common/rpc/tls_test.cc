// TLS on real loopback connections, with certificates that
// scripts/make_certs.sh writes (openssl from Debian).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "common/core/testing.h"
#include "common/rpc/rpc.h"

namespace psflow::rpc {
namespace {

using ::testing::HasSubstr;

struct Certs {
  std::string dir;
  TlsOptions good;      // names 127.0.0.1
  TlsOptions far;       // same CA, names only 10.1.2.3
  TlsOptions stranger;  // another CA
};

const Certs& TestCerts() {
  static const Certs* certs = [] {
    auto* c = new Certs;
    c->dir = testing::FreshTempDir("tls_certs");
    const std::string script = std::string(PSFLOW_SOURCE_DIR) + "/scripts/make_certs.sh";
    const std::string q = " > /dev/null 2>&1";
    EXPECT_EQ(std::system((script + " " + c->dir + "/a 127.0.0.1 localhost" + q).c_str()), 0);
    EXPECT_EQ(std::system(("CERT_NAME=far " + script + " " + c->dir + "/a 10.1.2.3" + q).c_str()), 0);
    EXPECT_EQ(std::system((script + " " + c->dir + "/b 127.0.0.1" + q).c_str()), 0);
    const std::string a = c->dir + "/a/", b = c->dir + "/b/";
    c->good = {.ca = a + "ca.pem", .cert = a + "cert.pem", .key = a + "key.pem"};
    c->far = {.ca = a + "ca.pem", .cert = a + "far.pem", .key = a + "far-key.pem"};
    c->stranger = {.ca = b + "ca.pem", .cert = b + "cert.pem", .key = b + "key.pem"};
    return c;
  }();
  return *certs;
}

std::unique_ptr<RpcServer> Echo(const TlsOptions& tls, const std::string& token = "t") {
  // A peer silent in the handshake is closed after 1 s (a plaintext channel
  // waits for a challenge that a TLS server sends only after it).
  auto s = RpcServer::Start({.port = 0, .token = token, .task = "ps:0", .first_frame_timeout_ms = 1000, .tls = tls},
                            [](Message req, Responder respond) {
    Message resp;
    for (const Tensor& t : req.tensors) resp.tensors.push_back(t.DeepCopy());
    resp.header.set_body(req.header.body());
    respond(std::move(resp));
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

std::string Addr(const RpcServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }

StatusOr<Message> Call(RpcChannel& ch, std::vector<float> values) {
  Message m;
  m.header.set_body("hello");
  const int64_t n = static_cast<int64_t>(values.size());
  m.tensors.push_back(Tensor::FromVector<float>(std::move(values), TensorShape({n})));
  return ch.Call("Echo", std::move(m), {.timeout_ms = 10000});
}

TEST(TlsTest, MutuallyAuthenticatedCallsCarryTensors) {
  const Certs& c = TestCerts();
  auto server = Echo(c.good);
  RpcChannel ch({.address = Addr(*server), .token = "t", .task = "worker:0", .tls = c.good});
  for (int64_t n : {3, 1 << 21}) {  // a few bytes, and 8 MiB (many TLS records)
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i % 1000) * 0.5f;
    auto r = Call(ch, v);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->tensors.size(), 1u);
    auto got = r->tensors[0].flat<float>();
    ASSERT_EQ(static_cast<int64_t>(got.size()), n);
    EXPECT_EQ(got[static_cast<size_t>(n - 1)], v.back());
    EXPECT_EQ(r->header.body(), "hello");
  }
  EXPECT_EQ(server->tls_refused(), 0);
  EXPECT_EQ(server->rejected_connections(), 0);
}

TEST(TlsTest, TheTokenIsStillCheckedInsideTls) {
  const Certs& c = TestCerts();
  auto server = Echo(c.good, "right");
  RpcChannel ch({.address = Addr(*server), .token = "wrong", .task = "worker:0", .tls = c.good});
  auto r = Call(ch, {1});
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(Eventually([&] { return server->rejected_connections() >= 1; }));
}

TEST(TlsTest, APlaintextPeerIsRefusedAndCounted) {
  const Certs& c = TestCerts();
  auto server = Echo(c.good);
  RpcChannel plain({.address = Addr(*server), .token = "t", .task = "worker:0"});
  auto r = Call(plain, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsUnavailableError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("does it have run.tls, which this task lacks?"));
  EXPECT_TRUE(Eventually([&] { return server->tls_refused() >= 1; }));
}

TEST(TlsTest, ATlsChannelToAPlaintextServerSaysWhatToCheck) {
  const Certs& c = TestCerts();
  auto server = Echo(TlsOptions{});
  RpcChannel ch({.address = Addr(*server), .token = "t", .task = "worker:0", .tls = c.good});
  auto r = Call(ch, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("TLS handshake with " + Addr(*server) + " failed"));
  EXPECT_THAT(r.status().message(), HasSubstr("is run.tls set on that task"));
}

TEST(TlsTest, ACertificateOfAnotherCaIsRefusedBothWays) {
  const Certs& c = TestCerts();
  auto server = Echo(c.good);
  RpcChannel ch({.address = Addr(*server), .token = "t", .task = "worker:0", .tls = c.stranger});
  auto r = Call(ch, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("TLS handshake"));
}

TEST(TlsTest, TheServerCertificateMustNameTheHostDialled) {
  const Certs& c = TestCerts();
  auto server = Echo(c.far);  // names 10.1.2.3, dialled as 127.0.0.1
  RpcChannel ch({.address = Addr(*server), .token = "t", .task = "worker:0", .tls = c.good});
  auto r = Call(ch, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("subjectAltName"));
}

TEST(TlsTest, BadFilesAreNamedWithTheirField) {
  const Certs& c = TestCerts();
  TlsOptions missing = c.good;
  missing.cert = c.dir + "/nowhere.pem";
  auto s = RpcServer::Start({.port = 0, .tls = missing}, [](Message, Responder respond) { respond(Message{}); });
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("run.tls.cert: cannot load " + c.dir + "/nowhere.pem"));

  TlsOptions half = {.ca = c.good.ca};
  s = RpcServer::Start({.port = 0, .tls = half}, [](Message, Responder respond) { respond(Message{}); });
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("run.tls.cert is not set"));

  TlsOptions mismatched = c.good;
  mismatched.key = c.far.key;
  s = RpcServer::Start({.port = 0, .tls = mismatched}, [](Message, Responder respond) { respond(Message{}); });
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("run.tls.key: cannot load " + c.far.key));
  EXPECT_THAT(s.status().message(), HasSubstr("the private key of run.tls.cert"));

  auto server = Echo(c.good);
  RpcChannel ch({.address = Addr(*server), .token = "t", .task = "worker:0", .tls = missing});
  auto r = Call(ch, {1});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("run.tls.cert: cannot load"));
}

}  // namespace
}  // namespace psflow::rpc
