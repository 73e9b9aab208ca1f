// RPC over Boost.Asio TCP: a server that dispatches frames to a handler, and
// a channel (client) to one peer with many requests in flight.
//
//   auto server = RpcServer::Start({.port = 0, .token = "t"}, [](Message req, Responder done) {
//     Message resp;  ...  done(std::move(resp));          // or done(SomeError(...))
//   });
//   RpcChannel ch({.address = "127.0.0.1:" + std::to_string((*server)->port()), .token = "t", .task = "worker:0"});
//   ASSIGN_OR_RETURN(Message resp, ch.Call("Pull", std::move(req), {.timeout_ms = 5000, .idempotent = true}));
//
// Frames are common/rpc/frame.h; tensors are written with scatter/gather and
// received into aligned buffers they alias.  Every read is checked against
// limits before allocating, and a frame's payload is read only after its
// header was checked; a bad or truncated frame, or a connection whose first
// frame lacks the cluster token, closes that connection only (and is logged
// with the peer's address) while the server keeps serving.  Before its
// token is checked a connection holds at most a 64 KiB header, for at most
// first_frame_timeout_ms; a server keeps accepting when accept fails (out
// of file descriptors).  An exception out of the handler (std::bad_alloc)
// fails that call, not the server.  Every call has a
// deadline; idempotent calls are retried with exponential backoff on
// Unavailable.  Errors name the peer address, the method and the task.
// With TlsOptions every connection is TLS (1.2 or newer) with mutual
// authentication: both ends present a certificate that `ca` signed, and a
// channel checks that the server's names the host it dialled; the token
// challenge then runs inside the encrypted connection.  A peer that fails
// the handshake (plaintext, another CA) is closed and logged.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/rpc/frame.h"

namespace psflow::rpc {

// PEM files: the CA that signs every task's certificate, this task's
// certificate (chain) and its private key.  All three, or none (plain TCP).
struct TlsOptions {
  std::string ca, cert, key;
  bool enabled() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

using Responder = std::function<void(StatusOr<Message>)>;
using Handler = std::function<void(Message request, Responder respond)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;             // 0: pick a free port
  std::string token;        // required of every connection when not empty
  FrameLimits limits;
  int threads = 2;
  std::string task;         // "ps:0", for logs and errors
  // A connection whose first frame header (a channel's Hello, carrying the
  // token) has not come by then is closed: unauthenticated peers cannot
  // hold connections open.  0 or less: no deadline.
  int64_t first_frame_timeout_ms = 10000;
  // Once a frame has begun, all of it must come by then, or the connection
  // is closed (a stalled or slow-loris peer holds no buffer for long); the
  // peer's channel reconnects when it resumes.  0 or less: no deadline.
  int64_t frame_timeout_ms = 60000;
  // Connections that have not proved the token yet, at most; one more
  // closes the oldest of them (a flood of idle connections cannot keep
  // tasks, which prove it at once, from connecting).
  int max_unauthenticated = 256;
  TlsOptions tls;
};

class RpcServer {
 public:
  static StatusOr<std::unique_ptr<RpcServer>> Start(ServerOptions options, Handler handler);
  virtual ~RpcServer() = default;
  virtual int port() const = 0;
  virtual void Stop() = 0;
  // Counters for tests and status pages.
  virtual int64_t rejected_connections() const = 0;
  virtual int64_t bad_frames() const = 0;
  // Failed accepts (out of file descriptors, say); accepting goes on after them.
  virtual int64_t accept_errors() const { return 0; }
  // Connections closed because their TLS handshake failed (plaintext peers,
  // certificates of another CA).
  virtual int64_t tls_refused() const { return 0; }
};

struct ChannelOptions {
  std::string address;      // host:port
  std::string token;
  std::string task;         // the caller, e.g. "worker:1"
  uint64_t incarnation = 0;
  FrameLimits limits;
  TlsOptions tls;
};

// The deadline of one attempt, and the retry rule rpc::Channel
// (transport.h) applies: RpcChannel itself makes one attempt.
struct CallOptions {
  int64_t timeout_ms = 30000;
  bool idempotent = false;  // retried on Unavailable and DeadlineExceeded
  int max_attempts = 5;
  int64_t initial_backoff_ms = 50;  // doubled after each attempt...
  int64_t max_backoff_ms = 2000;    // ...up to this
};

class RpcChannel {
 public:
  explicit RpcChannel(ChannelOptions options);
  ~RpcChannel();
  RpcChannel(const RpcChannel&) = delete;
  RpcChannel& operator=(const RpcChannel&) = delete;

  // One attempt within options.timeout_ms (no retry: rpc::Channel retries).
  void CallAsync(const std::string& method, Message request, const CallOptions& options, Responder done);
  StatusOr<Message> Call(const std::string& method, Message request, const CallOptions& options);
  const std::string& address() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// OK when `tls` is disabled or its files make a server and a client
// context; else InvalidArgument naming the run.tls field and file.
Status CheckTls(const TlsOptions& tls);

// Converts an Asio/system error code on `what` (with peer and method) to a Status.
Status AsioErrorToStatus(int value, const std::string& message, const std::string& what);

}  // namespace psflow::rpc
