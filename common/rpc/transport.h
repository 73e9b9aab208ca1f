// Transport: how tasks reach each other, behind one interface so that a
// whole cluster can run inside one test process.
//
//   std::unique_ptr<Transport> t = NewTcpTransport();            // Boost.Asio TCP
//   FakeTransport fake;  fake.SetDropRate(0.1);  fake.SetDelayMs(5);  // in-process
//   ASSIGN_OR_RETURN(auto server, t->Listen({.host = "127.0.0.1", .port = 2222, ...}, handler));
//   std::unique_ptr<Channel> ch = t->Connect({.address = "127.0.0.1:2222", ...});
//   ch->CallAsync("Pull", request, {.timeout_ms = 5000}, done);
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "common/rpc/rpc.h"

namespace psflow::rpc {

// A connection to one task.  It must outlive the calls made on it, their
// retries included.
class Channel {
 public:
  virtual ~Channel() = default;
  // Sends with the options' deadline; idempotent calls that fail with
  // Unavailable or DeadlineExceeded (a lost message) are sent again after an
  // exponential backoff, up to max_attempts.  The one retry mechanism of
  // psflow, for every transport: the backoff waits on one process-wide
  // timer thread (no thread per retry), which also sends the retries, so
  // `done` of a call that ends on a retry runs there: keep it short.
  void CallAsync(const std::string& method, Message request, const CallOptions& options, Responder done);
  StatusOr<Message> Call(const std::string& method, Message request, const CallOptions& options);

 protected:
  // One attempt.
  virtual void Send(const std::string& method, Message request, const CallOptions& options, Responder done) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual StatusOr<std::unique_ptr<RpcServer>> Listen(ServerOptions options, Handler handler) = 0;
  virtual std::unique_ptr<Channel> Connect(ChannelOptions options) = 0;
};

std::unique_ptr<Transport> NewTcpTransport();

// Delivers messages in process, through the same frame encoding as TCP (so
// bad frames and limits behave the same), with fault injection: a fraction
// of requests or responses dropped (the caller then times out) and a delay
// added to every delivery.
class FakeTransport final : public Transport {
 public:
  StatusOr<std::unique_ptr<RpcServer>> Listen(ServerOptions options, Handler handler) override;
  std::unique_ptr<Channel> Connect(ChannelOptions options) override;

  void SetDropRate(double p);
  void SetDelayMs(int64_t ms);
  int64_t dropped() const;

  // Internal: the registered servers.
  struct Endpoint;

 private:
  friend class FakeChannel;
  friend class FakeServer;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints_;  // GUARDED_BY(mu_)
  double drop_rate_ = 0;        // GUARDED_BY(mu_)
  int64_t delay_ms_ = 0;        // GUARDED_BY(mu_)
  int64_t dropped_ = 0;         // GUARDED_BY(mu_)
  int next_port_ = 40000;       // GUARDED_BY(mu_)
  std::mt19937_64 rng_{12345};  // GUARDED_BY(mu_)
};

}  // namespace psflow::rpc
