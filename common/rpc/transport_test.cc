#include "common/rpc/transport.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace psflow::rpc {
namespace {

using ::testing::HasSubstr;

Handler Doubler() {
  return [](Message req, Responder respond) {
    Message resp;
    for (const Tensor& t : req.tensors) {
      Tensor d = t.DeepCopy();
      for (float& v : d.flat<float>()) v *= 2;
      resp.tensors.push_back(d);
    }
    respond(std::move(resp));
  };
}

// The same behaviour over TCP and over the fake.
class TransportTest : public ::testing::TestWithParam<bool> {
 protected:
  std::unique_ptr<Transport> Make() {
    if (GetParam()) return std::make_unique<FakeTransport>();
    return NewTcpTransport();
  }
};

TEST_P(TransportTest, CallsAndTokens) {
  auto t = Make();
  auto server = t->Listen({.port = 0, .token = "tok", .task = "ps:0"}, Doubler());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string addr = "127.0.0.1:" + std::to_string((*server)->port());
  auto ch = t->Connect({.address = addr, .token = "tok", .task = "worker:0"});
  Message m;
  m.tensors.push_back(Tensor::FromVector<float>({1, 2}, TensorShape({2})));
  auto r = ch->Call("Double", std::move(m), {.timeout_ms = 5000});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tensors[0].DebugString(), "float [2] {2, 4}");
  auto bad = t->Connect({.address = addr, .token = "wrong", .task = "worker:1"});
  EXPECT_TRUE(IsUnavailableError(bad->Call("Double", Message{}, {.timeout_ms = 2000}).status()));
  EXPECT_EQ((*server)->rejected_connections(), 1);
  (*server)->Stop();
  auto after = ch->Call("Double", Message{}, {.timeout_ms = 2000});
  EXPECT_TRUE(IsUnavailableError(after.status())) << after.status();
}

// One retry rule for both transports: an idempotent call to nobody is sent
// max_attempts times with a doubling backoff, then reported; a call that is
// not idempotent is sent once.
TEST_P(TransportTest, IdempotentCallsAreRetriedWithBackoff) {
  auto t = Make();
  auto server = t->Listen({.port = 0, .task = "ps:0"}, Doubler());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string addr = "127.0.0.1:" + std::to_string((*server)->port());
  (*server)->Stop();
  auto ch = t->Connect({.address = addr, .task = "worker:3"});
  auto t0 = std::chrono::steady_clock::now();
  auto u = ch->Call("Pull", Message{}, {.timeout_ms = 1000, .idempotent = true, .max_attempts = 3, .initial_backoff_ms = 40});
  EXPECT_TRUE(IsUnavailableError(u.status())) << u.status();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(120));  // backed off 40 + 80 ms
  t0 = std::chrono::steady_clock::now();
  auto once = ch->Call("Push", Message{}, {.timeout_ms = 1000, .idempotent = false, .max_attempts = 3, .initial_backoff_ms = 400});
  EXPECT_TRUE(IsUnavailableError(once.status())) << once.status();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(400));  // not retried
}

INSTANTIATE_TEST_SUITE_P(TcpAndFake, TransportTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Fake" : "Tcp"; });

TEST(FakeTransportTest, DropsAndDelaysBecomeDeadlinesAndLatency) {
  FakeTransport t;
  auto server = t.Listen({.port = 0, .task = "ps:0"}, Doubler());
  const std::string addr = "127.0.0.1:" + std::to_string((*server)->port());
  auto ch = t.Connect({.address = addr, .task = "worker:0"});
  t.SetDelayMs(30);
  const auto t0 = std::chrono::steady_clock::now();
  auto first = ch->Call("Double", Message{}, {.timeout_ms = 2000});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(60));  // both ways
  t.SetDelayMs(0);
  t.SetDropRate(1.0);
  auto r = ch->Call("Double", Message{}, {.timeout_ms = 100});
  EXPECT_TRUE(IsDeadlineExceededError(r.status())) << r.status();
  EXPECT_GE(t.dropped(), 1);
}

}  // namespace
}  // namespace psflow::rpc
