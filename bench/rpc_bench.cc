// rpc_bench: psflow RPC throughput on 127.0.0.1 beside raw TCP in the same run.
//
//   rpc_bench [--seconds_per_size 1] [--tls DIR]
//
// With --tls (a folder scripts/make_certs.sh wrote: ca.pem, cert.pem,
// key.pem) every figure is measured a second time over TLS (run.tls) and
// printed beside the plain one.
// Push: a client sends a tensor of each size to a server that replies with
// an empty message; pull: the server replies with a tensor of that size.
// Raw TCP: a plain socket writes the same number of bytes to a reader that
// acknowledges each message with one byte.  Round trips: 1 KiB pulls with
// 64 calls in flight (pipelined) and one at a time.
#include <utility>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <thread>

#include "common/core/logging.h"
#include "common/rpc/rpc.h"

namespace psflow::rpc {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Raw TCP: messages of `bytes`, each acknowledged by one byte.
double RawTcp(size_t bytes, double seconds) {
  asio::io_context io;
  tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  const unsigned short port = acc.local_endpoint().port();
  std::atomic<bool> done{false};
  std::thread server([&] {
    tcp::socket s = acc.accept();
    s.set_option(tcp::no_delay(true));
    std::vector<char> buf(bytes);
    char ack = 1;
    boost::system::error_code ec;
    while (true) {
      asio::read(s, asio::buffer(buf), ec);
      if (ec) return;
      asio::write(s, asio::buffer(&ack, 1), ec);
      if (ec) return;
    }
  });
  tcp::socket c(io);
  c.connect({asio::ip::make_address("127.0.0.1"), port});
  c.set_option(tcp::no_delay(true));
  std::vector<char> data(bytes, 'x');
  char ack;
  int64_t n = 0;
  const auto t0 = Clock::now();
  while (Since(t0) < seconds) {
    asio::write(c, asio::buffer(data));
    asio::read(c, asio::buffer(&ack, 1));
    ++n;
  }
  const double rate = static_cast<double>(n) * static_cast<double>(bytes) / Since(t0);
  c.close();
  server.join();
  return rate;
}

// 1 KiB pulls with `in_flight` calls outstanding: round trips per second.
double RoundTrips(RpcChannel& ch, int in_flight, double seconds) {
  std::atomic<int64_t> done{0};
  const auto t0 = Clock::now();
  std::atomic<bool> stop{false};
  std::promise<void> all_done;
  std::atomic<int> outstanding{0};
  std::function<void()> issue = [&] {
    if (stop) {
      if (--outstanding == 0) all_done.set_value();
      return;
    }
    Message m;
    m.header.set_body("1024");
    ch.CallAsync("Pull", std::move(m), {.timeout_ms = 30000}, [&](StatusOr<Message> r) {
      CHECK_OK(r.status());
      ++done;
      issue();
    });
  };
  outstanding = in_flight;
  for (int i = 0; i < in_flight; ++i) issue();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  all_done.get_future().wait();
  return static_cast<double>(done) / Since(t0);
}

int Main(int argc, char** argv) {
  double seconds = 1.0;
  std::string tls_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--seconds_per_size") seconds = std::atof(argv[i + 1]);
    if (std::string(argv[i]) == "--tls") tls_dir = argv[i + 1];
  }
  SetMinLogSeverity(LogSeverity::kWarning);
  std::map<int64_t, Tensor> pull_tensors;
  auto handler = [&](Message req, Responder respond) {
    Message resp;
    if (req.header.method() == "Pull") resp.tensors.push_back(pull_tensors.at(std::stoll(req.header.body())));
    respond(std::move(resp));
  };
  auto server = RpcServer::Start({.port = 0, .token = "bench", .task = "ps:0"}, handler);
  CHECK_OK(server.status());
  RpcChannel ch({.address = "127.0.0.1:" + std::to_string((*server)->port()), .token = "bench", .task = "worker:0"});
  std::unique_ptr<RpcServer> tls_server;
  std::unique_ptr<RpcChannel> tls_ch;
  if (!tls_dir.empty()) {
    const TlsOptions tls = {.ca = tls_dir + "/ca.pem", .cert = tls_dir + "/cert.pem", .key = tls_dir + "/key.pem"};
    auto s = RpcServer::Start({.port = 0, .token = "bench", .task = "ps:1", .tls = tls}, handler);
    CHECK_OK(s.status());
    tls_server = std::move(s).value();
    tls_ch = std::make_unique<RpcChannel>(ChannelOptions{
        .address = "127.0.0.1:" + std::to_string(tls_server->port()), .token = "bench", .task = "worker:0", .tls = tls});
  }
  std::printf("rpc_bench: 127.0.0.1, one connection, %.1f s per measurement%s\n", seconds,
              tls_ch ? "; TLS: run.tls with the certificates of --tls" : " (--tls DIR adds TLS figures)");
  std::printf("%10s %14s %14s %14s %12s %12s", "size", "push GB/s", "pull GB/s", "raw TCP GB/s", "push/raw", "pull/raw");
  if (tls_ch) std::printf(" %14s %14s %12s", "TLS push GB/s", "TLS pull GB/s", "TLS/plain");
  std::printf("\n");
  for (int64_t bytes : {int64_t{4} << 10, int64_t{64} << 10, int64_t{1} << 20, int64_t{16} << 20, int64_t{64} << 20}) {
    Tensor t(DType::kFloat, TensorShape({bytes / 4}));
    for (float& v : t.flat<float>()) v = 1.f;
    pull_tensors[bytes] = t;
    auto measure = [&](RpcChannel& c, bool push) {
      int64_t n = 0;
      const auto t0 = Clock::now();
      while (Since(t0) < seconds) {
        Message m;
        if (push) m.tensors.push_back(t);
        m.header.set_body(std::to_string(bytes));
        CHECK_OK(c.Call(push ? "Push" : "Pull", std::move(m), {.timeout_ms = 30000}).status());
        ++n;
      }
      return static_cast<double>(n) * static_cast<double>(bytes) / Since(t0);
    };
    const double push = measure(ch, true), pull = measure(ch, false), raw = RawTcp(static_cast<size_t>(bytes), seconds);
    std::printf("%9lldK %14.2f %14.2f %14.2f %12.2f %12.2f", static_cast<long long>(bytes >> 10), push / 1e9,
                pull / 1e9, raw / 1e9, push / raw, pull / raw);
    if (tls_ch) {
      const double tpush = measure(*tls_ch, true), tpull = measure(*tls_ch, false);
      std::printf(" %14.2f %14.2f %12.2f", tpush / 1e9, tpull / 1e9, (tpush + tpull) / (push + pull));
    }
    std::printf("\n");
  }
  // 1 KiB pulls: pipelined (64 in flight) and one at a time.
  pull_tensors[1024] = Tensor(DType::kFloat, TensorShape({256}));
  for (int in_flight : {64, 1}) {
    const double plain = RoundTrips(ch, in_flight, seconds);
    std::printf("1 KiB pulls, %2d in flight: %10.0f round trips/s%s", in_flight, plain,
                in_flight > 1 ? " (target >= 50000)" : "");
    if (tls_ch) std::printf("; over TLS %10.0f", RoundTrips(*tls_ch, in_flight, seconds));
    std::printf("\n");
  }
  if (tls_server) tls_server->Stop();
  (*server)->Stop();
  return 0;
}

}  // namespace
}  // namespace psflow::rpc

int main(int argc, char** argv) { return psflow::rpc::Main(argc, argv); }
