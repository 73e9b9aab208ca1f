#include "common/rpc/rpc.h"

#include "common/rpc/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <atomic>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <future>
#include <thread>

namespace psflow::rpc {
namespace {

using ::testing::HasSubstr;

// An echo service: returns the request's tensors doubled; "Fail" answers
// with an error; "Slow" answers after 300 ms.
bool Eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 100; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

// Answers of the "Slow" method sent so far (300 ms after each request).
std::atomic<int> slow_answers{0};

std::unique_ptr<RpcServer> EchoServer(const std::string& token) {
  auto s = RpcServer::Start({.port = 0, .token = token, .task = "ps:0"}, [](Message req, Responder respond) {
    if (req.header.method() == "Fail") return respond(FailedPreconditionError("variable w is not initialized"));
    if (req.header.method() == "Slow") {
      std::thread([respond] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        respond(Message{});
        ++slow_answers;
      }).detach();
      return;
    }
    Message resp;
    for (const Tensor& t : req.tensors) {
      Tensor d = t.DeepCopy();
      for (float& v : d.flat<float>()) v *= 2;
      resp.tensors.push_back(d);
    }
    resp.header.set_body(req.header.body());
    respond(std::move(resp));
  });
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(s).value();
}

std::string Addr(const RpcServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }

TEST(RpcTest, RoundTripsTensorsWithManyCallsInFlight) {
  auto server = EchoServer("secret");
  RpcChannel ch({.address = Addr(*server), .token = "secret", .task = "worker:0"});
  std::vector<std::future<StatusOr<Message>>> futures;
  std::vector<std::shared_ptr<std::promise<StatusOr<Message>>>> promises;
  for (int i = 0; i < 50; ++i) {
    Message m;
    m.header.set_body(std::to_string(i));
    m.tensors.push_back(Tensor::FromVector<float>({static_cast<float>(i), 1}, TensorShape({2})));
    auto p = std::make_shared<std::promise<StatusOr<Message>>>();
    futures.push_back(p->get_future());
    ch.CallAsync("Echo", std::move(m), {.timeout_ms = 5000}, [p](StatusOr<Message> r) { p->set_value(std::move(r)); });
  }
  for (int i = 0; i < 50; ++i) {
    StatusOr<Message> r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->header.body(), std::to_string(i));  // answers matched to their requests
    EXPECT_EQ(r->tensors[0].flat<float>()[0], 2.f * i);
  }
  // A big tensor (8 MiB).
  Message big;
  big.tensors.push_back(Tensor(DType::kFloat, TensorShape({2 << 20})));
  for (float& v : big.tensors[0].flat<float>()) v = 1.5f;
  auto r = ch.Call("Echo", std::move(big), {.timeout_ms = 10000});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->tensors[0].flat<float>()[(2 << 20) - 1], 3.f);
}

TEST(RpcTest, ErrorsNamePeerMethodAndTask) {
  auto server = EchoServer("");
  RpcChannel ch({.address = Addr(*server), .task = "worker:3"});
  auto r = ch.Call("Fail", Message{}, {.timeout_ms = 5000});
  EXPECT_TRUE(IsFailedPreconditionError(r.status()));
  EXPECT_THAT(r.status().message(), HasSubstr("variable w is not initialized"));
  EXPECT_THAT(r.status().message(), HasSubstr("call Fail from worker:3 to " + Addr(*server)));
  EXPECT_THAT(r.status().message(), HasSubstr("answered by ps:0"));
  auto slow = ch.Call("Slow", Message{}, {.timeout_ms = 50});
  EXPECT_TRUE(IsDeadlineExceededError(slow.status())) << slow.status();
  EXPECT_THAT(slow.status().message(), HasSubstr("no answer within 50 ms"));
  // The slow answer comes back before the server goes (its thread still holds the connection).
  ASSERT_TRUE(Eventually([] { return slow_answers.load() == 1; }));
  // Nothing listening: Unavailable at once, one attempt (rpc::Channel retries).
  const int dead_port = server->port();
  server->Stop();
  RpcChannel gone({.address = "127.0.0.1:" + std::to_string(dead_port), .task = "worker:3"});
  const auto t0 = std::chrono::steady_clock::now();
  auto u = gone.Call("Pull", Message{}, {.timeout_ms = 1000, .idempotent = true, .max_attempts = 3, .initial_backoff_ms = 500});
  EXPECT_TRUE(IsUnavailableError(u.status())) << u.status();
  EXPECT_THAT(u.status().message(), HasSubstr("cannot connect to 127.0.0.1:" + std::to_string(dead_port)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));  // no backoff here
}

// Reads the server's opening _Challenge frame from `s`; returns its nonce.
std::string ReadChallenge(boost::asio::ip::tcp::socket& s) {
  char fixed[kFixedHeaderSize];
  boost::asio::read(s, boost::asio::buffer(fixed));
  uint32_t len = 0;
  std::memcpy(&len, fixed + 8, 4);
  std::string bytes(len, '\0');
  boost::asio::read(s, boost::asio::buffer(bytes));
  RpcHeader h;
  EXPECT_TRUE(h.ParseFromString(bytes));
  EXPECT_EQ(h.method(), "_Challenge");
  EXPECT_EQ(h.nonce().size(), kNonceBytes);
  return h.nonce();
}

TEST(RpcTest, BadFramesAndMissingTokensCloseOnlyThatConnection) {
  auto server = EchoServer("secret");
  namespace asio = boost::asio;
  asio::io_context io;
  // A connection that sends garbage.
  {
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server->port())});
    ReadChallenge(s);
    std::string junk(64, 'x');
    asio::write(s, asio::buffer(junk));
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);  // the server closes it
    EXPECT_TRUE(ec);
  }
  // A frame whose header length is absurd.
  {
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server->port())});
    ReadChallenge(s);
    char fixed[kFixedHeaderSize] = {'P', 'S', 'F', 'L', kFrameVersion, 0, 0, 0, 0, 0, 0, 0x7f};
    asio::write(s, asio::buffer(fixed));
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);
    EXPECT_TRUE(ec);
  }
  // A client without the token.
  RpcChannel intruder({.address = Addr(*server), .token = "guess", .task = "worker:9"});
  auto r = intruder.Call("Echo", Message{}, {.timeout_ms = 2000});
  EXPECT_TRUE(IsUnavailableError(r.status())) << r.status();
  // The server still serves good clients.
  RpcChannel ok({.address = Addr(*server), .token = "secret", .task = "worker:0"});
  Message m;
  m.tensors.push_back(Tensor::Scalar<float>(4));
  auto good = ok.Call("Echo", std::move(m), {.timeout_ms = 2000});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->tensors[0].flat<float>()[0], 8.f);
  EXPECT_EQ(server->bad_frames(), 2);
  EXPECT_EQ(server->rejected_connections(), 1);
}

namespace asio = boost::asio;

// A raw TCP connection to `server`, for writing what a hostile peer writes.
// The server's challenge is read (RawConnect keeps its nonce for Hello).
std::map<const asio::ip::tcp::socket*, std::string> nonces;
std::unique_ptr<asio::ip::tcp::socket> RawConnect(asio::io_context& io, const RpcServer& server) {
  auto s = std::make_unique<asio::ip::tcp::socket>(io);
  s->connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())});
  nonces[s.get()] = ReadChallenge(*s);
  return s;
}

// The fixed header announcing `header_len` and `payload_len` bytes.
std::string Fixed(uint32_t header_len, uint64_t payload_len) {
  std::string f(kFixedHeaderSize, '\0');
  std::memcpy(f.data(), &kFrameMagic, 4);
  std::memcpy(f.data() + 4, &kFrameVersion, 2);
  std::memcpy(f.data() + 8, &header_len, 4);
  std::memcpy(f.data() + 12, &payload_len, 8);
  return f;
}

// The _Hello a channel sends on `s` (a RawConnect socket), proving `token`.
std::string Hello(const asio::ip::tcp::socket& s, const std::string& token) {
  RpcHeader h;
  h.set_method("_Hello");
  h.set_task("raw:0");
  h.set_proof(HelloProof(token, nonces.at(&s), "raw:0", 0));
  const std::string bytes = h.SerializeAsString();
  return Fixed(static_cast<uint32_t>(bytes.size()), 0) + bytes;
}

// Whether the server closed `s` within 5 s.
bool ClosedByServer(asio::ip::tcp::socket& s) {
  std::atomic<bool> closed{false};
  std::thread reader([&] {
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);
    closed = static_cast<bool>(ec);
  });
  for (int i = 0; i < 50 && !closed; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  boost::system::error_code ec;
  if (!closed) s.shutdown(asio::ip::tcp::socket::shutdown_both, ec);  // unblocks the reader
  reader.join();
  return closed;
}

int64_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  int64_t kb = -1;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> kb;
      break;
    }
  }
  return kb * 1024;
}

// Out of file descriptors, the server cannot accept a waiting connection;
// it keeps trying, and serves it once descriptors are free again.
TEST(RpcHostileTest, AcceptGoesOnAfterRunningOutOfFileDescriptors) {
  auto server = EchoServer("");
  RpcChannel ch({.address = Addr(*server), .task = "worker:0"});
  ASSERT_TRUE(ch.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());  // the channel's own descriptors exist
  RpcChannel late({.address = Addr(*server), .task = "worker:1"});
  // A low limit, then every descriptor taken but one (the late client's socket).
  // Gives back the descriptors and the limit however the test ends.
  struct Exhaustion {
    rlimit old{};
    std::vector<int> held;
    bool limited = false;
    void Release() {
      for (int fd : held) ::close(fd);
      held.clear();
      if (limited) ::setrlimit(RLIMIT_NOFILE, &old);
      limited = false;
    }
    ~Exhaustion() { Release(); }
  } ex;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &ex.old), 0);
  int open_fds = 0;
  for (int fd = 0; fd < 4096; ++fd) open_fds += ::fcntl(fd, F_GETFD) != -1;
  rlimit low = ex.old;
  low.rlim_cur = static_cast<rlim_t>(open_fds + 16);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  ex.limited = true;
  for (int fd; (fd = ::dup(2)) >= 0;) ex.held.push_back(fd);
  ASSERT_FALSE(ex.held.empty());
  ::close(ex.held.back());
  ex.held.pop_back();
  auto answer = std::async(std::launch::async, [&] { return late.Call("Echo", Message{}, {.timeout_ms = 20000}); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (server->accept_errors() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // waiting for the event, bounded
  }
  const int64_t errors = server->accept_errors();
  ex.Release();
  EXPECT_GT(errors, 0);  // it did run out
  auto r = answer.get();
  EXPECT_TRUE(r.ok()) << r.status();  // and served the connection afterwards
}

TEST(RpcHostileTest, TruncatedFrameThenCloseIsABadFrame) {
  auto server = EchoServer("secret");
  asio::io_context io;
  auto s = RawConnect(io, *server);
  asio::write(*s, asio::buffer(Hello(*s, "secret")));
  asio::write(*s, asio::buffer(Fixed(100, 0) + std::string(30, 'h')));  // 30 of 100 header bytes
  s->close();
  EXPECT_TRUE(Eventually([&] { return server->bad_frames() == 1; })) << server->bad_frames();
  // Closing between frames is a peer going away, not a bad frame.
  auto clean = RawConnect(io, *server);
  asio::write(*clean, asio::buffer(Hello(*clean, "secret")));
  clean->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(server->bad_frames(), 1);
}

// A proof holds for its own connection's nonce only: replayed on another
// connection it is refused.
TEST(RpcHostileTest, AProofIsGoodForItsOwnConnectionOnly) {
  auto server = EchoServer("secret");
  asio::io_context io;
  auto first = RawConnect(io, *server);
  const std::string hello = Hello(*first, "secret");
  asio::write(*first, asio::buffer(hello));
  auto replay = RawConnect(io, *server);
  asio::write(*replay, asio::buffer(hello));  // the same bytes; this connection's nonce differs
  EXPECT_TRUE(ClosedByServer(*replay));
  EXPECT_EQ(server->rejected_connections(), 1);
}

// What a channel sends never holds the token: a fake server that records the
// bytes sees the proof over its own nonce, which it can check, and nothing else.
TEST(RpcHostileTest, TheTokenNeverTravels) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string token = "a-long-cluster-token-0123456789";
  RpcChannel ch({.address = "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()), .token = token,
                 .task = "worker:4", .incarnation = 99});
  auto call = std::async(std::launch::async, [&] { return ch.Call("Echo", Message{}, {.timeout_ms = 2000}); });
  asio::ip::tcp::socket peer(io);
  acceptor.accept(peer);
  Message challenge;
  challenge.header.set_method("_Challenge");
  const std::string nonce(kNonceBytes, 'n');
  challenge.header.set_nonce(nonce);
  EncodedFrame f;
  ASSERT_TRUE(EncodeFrame(challenge, &f).ok());
  for (std::string_view b : f.buffers) asio::write(peer, asio::buffer(b.data(), b.size()));
  // Everything the channel sends before its call times out.
  std::string got;
  char buf[4096];
  boost::system::error_code ec;
  peer.non_blocking(false);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < until) {
    if (peer.available(ec) > 0) {
      const size_t n = peer.read_some(asio::buffer(buf), ec);
      got.append(buf, n);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_EQ(got.find(token), std::string::npos);
  ASSERT_GT(got.size(), kFixedHeaderSize);
  uint32_t len = 0;
  std::memcpy(&len, got.data() + 8, 4);
  RpcHeader hello;
  ASSERT_TRUE(hello.ParseFromString(got.substr(kFixedHeaderSize, len)));
  EXPECT_EQ(hello.method(), "_Hello");
  EXPECT_EQ(hello.proof(), HelloProof(token, nonce, "worker:4", 99));
  peer.close();
  EXPECT_FALSE(call.get().ok());
}

TEST(RpcHostileTest, TheTokenIsCheckedBeforeThePayloadIsRead) {
  auto server = EchoServer("secret");
  asio::io_context io;
  RpcHeader h;
  h.set_method("_Hello");
  h.set_proof(HelloProof("guess", "", "", 0));
  TensorMeta* t = h.add_tensors();
  t->set_dtype(tensorflow::DT_FLOAT);
  t->mutable_shape()->add_dim()->set_size(1 << 28);
  t->set_size(uint64_t{1} << 30);
  const std::string bytes = h.SerializeAsString();
  auto s = RawConnect(io, *server);
  asio::write(*s, asio::buffer(Fixed(static_cast<uint32_t>(bytes.size()), uint64_t{1} << 30) + bytes));
  EXPECT_TRUE(ClosedByServer(*s));  // without a byte of the 1 GiB payload
  EXPECT_EQ(server->rejected_connections(), 1);
  EXPECT_EQ(server->bad_frames(), 0);
}

TEST(RpcHostileTest, ConnectionsAnnouncingHugeFramesHoldLittleMemory) {
  auto server = EchoServer("secret");
  asio::io_context io;
  // Unauthenticated: a 16 MiB header is above what a first frame may have.
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> conns;
  for (int i = 0; i < 20; ++i) {
    conns.push_back(RawConnect(io, *server));
    asio::write(*conns.back(), asio::buffer(Fixed(16u << 20, uint64_t{4} << 30)));
  }
  for (auto& c : conns) EXPECT_TRUE(ClosedByServer(*c));
  EXPECT_EQ(server->bad_frames(), 20);
  conns.clear();
  // Authenticated peers that announce 16 MiB headers and 4 GiB payloads,
  // then send nothing: each holds what came plus one 64 KiB chunk (this
  // once zero-filled 16 MiB per connection and reserved the payload).
  const int64_t before = ResidentBytes();
  for (int i = 0; i < 100; ++i) {
    conns.push_back(RawConnect(io, *server));
    asio::write(*conns.back(), asio::buffer(Hello(*conns.back(), "secret") + Fixed(16u << 20, uint64_t{4} << 30)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t grown = ResidentBytes() - before;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int64_t kBound = int64_t{128} << 20;  // the sanitizers' shadow memory counts too
#else
  constexpr int64_t kBound = int64_t{32} << 20;
#endif
  EXPECT_LT(grown, kBound) << "100 idle connections took " << (grown >> 20) << " MiB";
  EXPECT_EQ(server->bad_frames(), 20);
  // The server still serves.
  RpcChannel ok({.address = Addr(*server), .token = "secret", .task = "worker:0"});
  EXPECT_TRUE(ok.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());
}

TEST(RpcHostileTest, ConnectionsWithoutAFirstFrameAreClosed) {
  auto s = RpcServer::Start({.port = 0, .token = "secret", .task = "ps:0", .first_frame_timeout_ms = 200},
                            [](Message, Responder respond) { respond(Message{}); });
  ASSERT_TRUE(s.ok()) << s.status();
  asio::io_context io;
  auto silent = RawConnect(io, **s);
  EXPECT_TRUE(ClosedByServer(*silent));
  EXPECT_EQ((*s)->bad_frames(), 1);
  // A real channel authenticates at once and stays.
  RpcChannel ch({.address = Addr(**s), .token = "secret", .task = "worker:0"});
  EXPECT_TRUE(ch.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(ch.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());
  EXPECT_EQ((*s)->bad_frames(), 1);
}

// An authenticated peer that starts a frame and stalls (a slow-loris, or a
// task stopped mid-send) loses its connection after frame_timeout_ms.
TEST(RpcHostileTest, AFrameThatStallsIsCutAfterItsDeadline) {
  auto s = RpcServer::Start({.port = 0, .token = "secret", .task = "ps:0", .frame_timeout_ms = 300},
                            [](Message, Responder respond) { respond(Message{}); });
  ASSERT_TRUE(s.ok()) << s.status();
  asio::io_context io;
  auto stalled = RawConnect(io, **s);
  asio::write(*stalled, asio::buffer(Hello(*stalled, "secret") + Fixed(100, 1 << 20)));
  EXPECT_TRUE(ClosedByServer(*stalled));
  EXPECT_TRUE(Eventually([&] { return (*s)->bad_frames() == 1; }));  // counted as the read fails, after the close
  // Calls that come whole are not touched, however long the connection lives.
  RpcChannel ch({.address = Addr(**s), .token = "secret", .task = "worker:0"});
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(ch.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ((*s)->bad_frames(), 1);
}

// A flood of connections that never prove the token: beyond
// max_unauthenticated the oldest are closed at once, and a task still
// connects and is served.
TEST(RpcHostileTest, AFloodOfSilentConnectionsEvictsItsOldest) {
  auto s = RpcServer::Start({.port = 0, .token = "secret", .task = "ps:0", .first_frame_timeout_ms = 60000,
                             .max_unauthenticated = 8},
                            [](Message, Responder respond) { respond(Message{}); });
  ASSERT_TRUE(s.ok()) << s.status();
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(RawConnect(io, **s));
  // The first 32 were evicted long before their 60 s; the last 8 stay.
  EXPECT_TRUE(ClosedByServer(*flood[0]));
  EXPECT_TRUE(ClosedByServer(*flood[31]));
  RpcChannel ch({.address = Addr(**s), .token = "secret", .task = "worker:0"});
  EXPECT_TRUE(ch.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());
  EXPECT_TRUE(ch.Call("Echo", Message{}, {.timeout_ms = 5000}).ok());
}

TEST(RpcHostileTest, HandlerExceptionsFailTheCallNotTheServer) {
  auto s = RpcServer::Start({.port = 0, .task = "ps:0"}, [](Message req, Responder respond) {
    if (req.header.method() == "Huge") throw std::bad_alloc();
    respond(Message{});
  });
  ASSERT_TRUE(s.ok()) << s.status();
  RpcChannel ch({.address = Addr(**s), .task = "worker:0"});
  auto r = ch.Call("Huge", Message{}, {.timeout_ms = 5000});
  EXPECT_TRUE(IsResourceExhaustedError(r.status())) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("needs more memory than ps:0 can allocate"));
  EXPECT_TRUE(ch.Call("Fine", Message{}, {.timeout_ms = 5000}).ok());
}

}  // namespace
}  // namespace psflow::rpc
