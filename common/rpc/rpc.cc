#include "common/rpc/rpc.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/core/logging.h"
#include "common/rpc/auth.h"

namespace psflow::rpc {
namespace asio = boost::asio;
using asio::ip::tcp;

Status AsioErrorToStatus(int value, const std::string& message, const std::string& what) {
  namespace err = asio::error;
  StatusCode code = StatusCode::kUnavailable;  // transport failures: the caller may retry
  if (value == err::operation_aborted) code = StatusCode::kCancelled;
  else if (value == err::timed_out) code = StatusCode::kDeadlineExceeded;
  else if (value == err::access_denied) code = StatusCode::kPermissionDenied;
  return Status(code, StrCat(what, ": ", message));
}

namespace {

Status FromAsio(const boost::system::error_code& ec, const std::string& what) {
  return AsioErrorToStatus(ec.value(), ec.message(), what);
}

std::vector<asio::const_buffer> Buffers(const EncodedFrame& f) {
  std::vector<asio::const_buffer> out;
  out.reserve(f.buffers.size());
  for (std::string_view b : f.buffers) out.emplace_back(b.data(), b.size());
  return out;
}

StatusOr<std::pair<std::string, std::string>> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgumentError("address '", address, "' is not host:port");
  }
  return std::make_pair(address.substr(0, colon), address.substr(colon + 1));
}

// TLS: one context per server or channel, from run.tls's PEM files.
StatusOr<std::shared_ptr<asio::ssl::context>> MakeTlsContext(const TlsOptions& t, bool server) {
  if (!t.enabled()) return std::shared_ptr<asio::ssl::context>();
  for (const auto& [field, value] : {std::pair<const char*, const std::string&>{"ca", t.ca}, {"cert", t.cert}, {"key", t.key}}) {
    if (value.empty()) {
      return InvalidArgumentError("run.tls.", field, " is not set: TLS needs ca, cert and key (PEM files; "
                                  "scripts/make_certs.sh writes a set)");
    }
  }
  auto ctx = std::make_shared<asio::ssl::context>(server ? asio::ssl::context::tls_server : asio::ssl::context::tls_client);
  ::SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression);
  boost::system::error_code ec;
  auto check = [&](const char* field, const std::string& path, const char* what) -> Status {
    if (!ec) return OkStatus();
    std::string why = ec.message();
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      std::fclose(f);
      if (const char* reason = ::ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) why = reason;
    } else {
      why = std::strerror(errno);
    }
    return InvalidArgumentError("run.tls.", field, ": cannot load ", path, ": ", why, " (it must be ", what,
                                ", a PEM file this task can read)");
  };
  ctx->load_verify_file(t.ca, ec);
  RETURN_IF_ERROR(check("ca", t.ca, "the certificate of the CA that signed every task's certificate"));
  ctx->use_certificate_chain_file(t.cert, ec);
  RETURN_IF_ERROR(check("cert", t.cert, "this task's certificate"));
  ctx->use_private_key_file(t.key, asio::ssl::context::pem, ec);
  RETURN_IF_ERROR(check("key", t.key, "the private key of run.tls.cert"));  // OpenSSL also checks it matches
  ctx->set_verify_mode(asio::ssl::verify_peer | (server ? asio::ssl::verify_fail_if_no_peer_cert : 0));
  return ctx;
}

}  // namespace

Status CheckTls(const TlsOptions& tls) {
  RETURN_IF_ERROR(MakeTlsContext(tls, /*server=*/true).status());
  return MakeTlsContext(tls, /*server=*/false).status();
}

namespace {

// A connection's byte stream: a TCP socket, or TLS over one.  Asio's
// composed reads and writes run on it; every operation is started on the
// connection's strand (an SSL engine is not thread-safe).  Held by
// shared_ptr: operations in flight keep the one they started on alive when
// a channel moves to a new connection.
class Stream {
 public:
  using executor_type = tcp::socket::executor_type;
  Stream(tcp::socket s, const std::shared_ptr<asio::ssl::context>& tls) : tls_(tls), tcp_(std::move(s)) {
    if (tls_) ssl_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(tcp_), *tls_);
  }
  executor_type get_executor() { return socket().get_executor(); }
  tcp::socket& socket() { return ssl_ ? ssl_->next_layer() : tcp_; }
  asio::ssl::stream<tcp::socket>* tls() { return ssl_.get(); }
  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& b, Handler&& h) {
    if (ssl_) {
      ssl_->async_read_some(b, std::forward<Handler>(h));
    } else {
      tcp_.async_read_some(b, std::forward<Handler>(h));
    }
  }
  template <typename Buffers, typename Handler>
  void async_write_some(const Buffers& b, Handler&& h) {
    if (ssl_) {
      ssl_->async_write_some(b, std::forward<Handler>(h));
    } else {
      tcp_.async_write_some(b, std::forward<Handler>(h));
    }
  }
  void Close() {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

 private:
  std::shared_ptr<asio::ssl::context> tls_;  // outlives ssl_
  tcp::socket tcp_;                          // moved into ssl_ with TLS
  std::unique_ptr<asio::ssl::stream<tcp::socket>> ssl_;
};

// What a failed handshake most likely means, for the log and the error.
std::string TlsHandshakeError(const boost::system::error_code& ec, const std::string& peer, bool server) {
  return StrCat("TLS handshake with ", peer, " failed: ", ec.message(), " (",
                server ? "a peer without run.tls, or one whose certificate run.tls.ca did not sign"
                       : "is run.tls set on that task, did run.tls.ca sign its certificate, and does the certificate "
                         "name the host as the cluster spec does (subjectAltName)?",
                ")");
}

// A connection that ended: a close between frames is the peer going away
// (Unavailable); one inside a frame is a truncated frame, which a server
// treats as a bad frame (DataLoss, logged like the others) and a client as
// a broken transport (`truncated` = Unavailable: idempotent calls retry).
Status ReadError(const boost::system::error_code& ec, const std::string& peer, const char* part, size_t got,
                 uint64_t want, StatusCode truncated) {
  if (ec == asio::error::eof && (got > 0 || std::string_view(part) != "fixed header")) {
    return Status(truncated, StrCat("truncated frame from ", peer, ": the connection closed after ", got, " of the ",
                                    want, " bytes of its ", part));
  }
  return FromAsio(ec, StrCat("connection with ", peer));
}

// Reads frames from a socket on a strand, allocating only for bytes that
// came: the fixed header; the protobuf header in growing chunks; then,
// after `check` (the server's token check) and CheckFrameTensors accepted
// the header, the payload into an aligned buffer.  Shared by both ends.
class FrameReader {
 public:
  using OnFrame = std::function<void(StatusOr<Message>)>;
  using Strand = asio::strand<asio::io_context::executor_type>;
  struct Options {
    FrameLimits limits;
    std::string peer;  // for errors
    // Runs once the header is in, before its tensors are checked and its
    // payload is allocated (the server's token check).  May be empty.
    std::function<Status(const RpcHeader&)> check;
    StatusCode truncated;  // the code of a frame cut short (see ReadError)
    // False once `socket` belongs to another connection (a channel that
    // reconnected): the frame's next read is then not issued.  May be empty.
    std::function<bool()> current;
    // > 0: a frame whose first bytes came must be whole by then, or the
    // stream is closed and the read fails with DeadlineExceeded.
    int64_t frame_timeout_ms = 0;
  };
  static void Read(std::shared_ptr<Stream> stream, Strand& strand, Options options, std::shared_ptr<void> keep, OnFrame done) {
    std::shared_ptr<State> st(new State{.stream = std::move(stream), .strand = strand, .o = std::move(options),
                                        .keep = std::move(keep), .done = std::move(done)});
    asio::async_read(*st->stream, asio::buffer(st->fixed, kFixedHeaderSize),
                     asio::bind_executor(strand, [st](const boost::system::error_code& ec, size_t got) {
                       if (ec) return st->Done(ReadError(ec, st->o.peer, "fixed header", got, kFixedHeaderSize, st->o.truncated));
                       auto fh = ParseFixedHeader(std::string_view(st->fixed, kFixedHeaderSize), st->o.limits, st->o.peer);
                       if (!fh.ok()) return st->Done(fh.status());
                       st->fh = *fh;
                       if (st->o.frame_timeout_ms > 0) StartDeadline(st);
                       ReadHeader(st);
                     }));
  }

 private:
  struct State {
    std::shared_ptr<Stream> stream;
    Strand& strand;
    const Options o;
    std::shared_ptr<void> keep;  // the connection
    OnFrame done;
    char fixed[kFixedHeaderSize];
    FixedHeader fh;
    std::string header;  // grows as its bytes arrive
    std::shared_ptr<TensorBuffer> payload;
    std::unique_ptr<asio::steady_timer> deadline;  // frame_timeout_ms
    bool timed_out = false;
    // Every end of the read comes here: the deadline's verdict wins over
    // the error its closing caused.
    void Done(StatusOr<Message> m) {
      if (deadline) deadline->cancel();
      if (timed_out) {
        m = DeadlineExceededError("a frame from ", o.peer, " did not come whole within ", o.frame_timeout_ms,
                                  " ms (it announced a ", fh.header_len, "-byte header and ", fh.payload_len,
                                  " payload bytes): a stalled or slow peer");
      }
      done(std::move(m));
    }
  };
  static void StartDeadline(const std::shared_ptr<State>& st) {
    st->deadline = std::make_unique<asio::steady_timer>(st->strand, std::chrono::milliseconds(st->o.frame_timeout_ms));
    std::weak_ptr<State> weak = st;
    st->deadline->async_wait(asio::bind_executor(st->strand, [weak](const boost::system::error_code& ec) {
      auto s = weak.lock();
      if (ec || !s) return;
      s->timed_out = true;
      s->stream->Close();  // the pending read fails; Done reports why
    }));
  }
  // At most this much more than has arrived is allocated for a header.
  static constexpr size_t kHeaderChunk = 64 << 10;

  static void ReadHeader(const std::shared_ptr<State>& st) {
    if (st->o.current && !st->o.current()) return;
    const size_t have = st->header.size();
    if (have == st->fh.header_len) return ReadPayload(st);
    const size_t chunk = std::min<size_t>(st->fh.header_len - have, std::max<size_t>(kHeaderChunk, have));
    st->header.resize(have + chunk);
    asio::async_read(*st->stream, asio::buffer(st->header.data() + have, chunk),
                     asio::bind_executor(st->strand, [st, have](const boost::system::error_code& ec, size_t got) {
                       if (ec) return st->Done(ReadError(ec, st->o.peer, "header", have + got, st->fh.header_len, st->o.truncated));
                       ReadHeader(st);
                     }));
  }

  static void ReadPayload(const std::shared_ptr<State>& st) {
    auto header = ParseFrameHeader(st->header, st->o.peer);
    if (!header.ok()) return st->Done(header.status());
    if (st->o.check) {
      if (Status s = st->o.check(*header); !s.ok()) return st->Done(s);
    }
    if (Status s = CheckFrameTensors(*header, st->fh.payload_len, st->o.peer); !s.ok()) return st->Done(s);
    std::string().swap(st->header);
    try {
      st->payload = AllocateHostBuffer(static_cast<size_t>(st->fh.payload_len));
    } catch (const std::bad_alloc&) {
      return st->Done(ResourceExhaustedError("frame from ", st->o.peer, " (", header->method(), "): cannot allocate ",
                                             st->fh.payload_len, " payload bytes"));
    }
    auto decode = [st, h = std::make_shared<RpcHeader>(std::move(*header))]() {
      const std::string method = h->method();
      try {
        st->Done(DecodeFrame(std::move(*h), st->payload, st->o.peer));
      } catch (const std::bad_alloc&) {
        st->Done(ResourceExhaustedError("frame from ", st->o.peer, " (", method, "): out of memory decoding it"));
      }
    };
    if (st->fh.payload_len == 0) return decode();
    if (st->o.current && !st->o.current()) return;
    asio::async_read(*st->stream, asio::buffer(st->payload->data(), static_cast<size_t>(st->fh.payload_len)),
                     asio::bind_executor(st->strand, [st, decode](const boost::system::error_code& ec, size_t got) {
                       if (ec) return st->Done(ReadError(ec, st->o.peer, "payload", got, st->fh.payload_len, st->o.truncated));
                       decode();
                     }));
  }
};

// A write queue on a strand: frames go out one after another.
class Writer {
 public:
  using Strand = asio::strand<asio::io_context::executor_type>;
  // REQUIRES: called on `strand`; completions run there too.
  void Enqueue(std::shared_ptr<Stream> stream, Strand& strand, std::shared_ptr<EncodedFrame> f, std::shared_ptr<void> keep,
               std::function<void(const boost::system::error_code&)> on_error) {
    queue_.push_back(std::move(f));
    if (!writing_) WriteNext(std::move(stream), strand, std::move(keep), std::move(on_error));
  }
  void Clear() {
    queue_.clear();
    writing_ = false;
  }

 private:
  void WriteNext(std::shared_ptr<Stream> stream, Strand& strand, std::shared_ptr<void> keep,
                 std::function<void(const boost::system::error_code&)> on_error) {
    if (queue_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto f = queue_.front();
    Stream& s = *stream;
    asio::async_write(s, Buffers(*f), asio::bind_executor(strand, [this, stream, &strand, f, keep, on_error](
                                                              const boost::system::error_code& ec, size_t) {
      if (ec) {
        Clear();
        on_error(ec);
        return;
      }
      if (!queue_.empty() && queue_.front() == f) queue_.pop_front();
      WriteNext(stream, strand, keep, on_error);
    }));
  }
  std::deque<std::shared_ptr<EncodedFrame>> queue_;
  bool writing_ = false;
};

// ---------------------------------------------------------------------------
// Server

class ServerImpl;

// What a connection may hold before it is authenticated: its first frame's
// header is at most this long (a channel's first frame is a ~100-byte
// Hello), its payload is read only after the token in that header is
// checked, and that header must have come within first_frame_timeout_ms.
constexpr uint32_t kMaxUnauthenticatedHeaderBytes = 64 << 10;
// The frame a server sends first on every connection: a fresh nonce
// (common/rpc/auth.h).
constexpr char kChallengeMethod[] = "_Challenge";
// The frame a channel sends first on every connection, answering the
// challenge: the task, its incarnation and the proof that it holds the
// cluster token, no tensors.  Never passed to the handler.
constexpr char kHelloMethod[] = "_Hello";

class ServerConn : public std::enable_shared_from_this<ServerConn> {
 public:
  ServerConn(tcp::socket socket, ServerImpl* server);
  void Start();
  void Close() {
    first_frame_timer_.cancel();
    stream_->Close();
  }
  // Closes it if it has not proved the token yet (on its strand); for
  // ServerImpl's bound on such connections.
  void CloseUnauthenticated() {
    asio::post(strand_, [self = shared_from_this()] {
      if (self->authed_) return;
      LOG(WARNING) << "closing connection from " << self->peer_ << ": too many connections have not proved the "
                   << "cluster token (a flood?); this is the oldest";
      self->Close();
    });
  }
  bool authenticated() const { return authed_flag_.load(std::memory_order_relaxed); }

 private:
  void Challenge();
  void ReadNext();
  void Respond(uint64_t request_id, const std::string& method, StatusOr<Message> result);

  std::shared_ptr<Stream> stream_;
  asio::strand<asio::io_context::executor_type> strand_;
  ServerImpl* const server_;
  std::string peer_;
  bool authed_ = false;  // on the strand
  std::atomic<bool> authed_flag_{false};  // the same, for other threads
  std::string nonce_;    // this connection's challenge
  asio::steady_timer first_frame_timer_;
  Writer writer_;
};

class ServerImpl final : public RpcServer {
 public:
  ServerImpl(ServerOptions o, Handler h) : options_(std::move(o)), handler_(std::move(h)), acceptor_(io_) {}
  ~ServerImpl() override { Stop(); }

  Status Init() {
    ASSIGN_OR_RETURN(tls_, MakeTlsContext(options_.tls, /*server=*/true));
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(options_.host, ec);
    if (ec) return InvalidArgumentError("cannot listen on host '", options_.host, "': ", ec.message());
    tcp::endpoint ep(addr, static_cast<unsigned short>(options_.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return FromAsio(ec, StrCat(options_.task.empty() ? "server" : options_.task, " cannot listen on ", options_.host, ":",
                                 options_.port, " (is another task using the port?)"));
    }
    port_ = acceptor_.local_endpoint().port();
    Accept();
    for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { io_.run(); });
    return OkStatus();
  }
  int port() const override { return port_; }
  void Stop() override {
    if (stopped_.exchange(true)) return;
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
    // No thread runs handlers any more: close the listening socket and every
    // connection directly, so peers see the server go away at once.
    boost::system::error_code ec;
    acceptor_.close(ec);
    std::lock_guard<std::mutex> l(mu_);
    for (auto& w : conns_) {
      if (auto c = w.lock()) c->Close();
    }
  }
  int64_t rejected_connections() const override { return rejected_; }
  int64_t bad_frames() const override { return bad_frames_; }
  int64_t accept_errors() const override { return accept_errors_; }
  int64_t tls_refused() const override { return tls_refused_; }

  asio::io_context& io() { return io_; }
  const ServerOptions& options() const { return options_; }
  const Handler& handler() const { return handler_; }
  const std::shared_ptr<asio::ssl::context>& tls() const { return tls_; }
  std::atomic<int64_t> rejected_{0}, bad_frames_{0}, accept_errors_{0}, tls_refused_{0};

 private:
  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
      if (ec) {
        // Out of file descriptors, or a connection aborted before it was
        // accepted: keep accepting after a pause, or the server would stop
        // taking connections for good.
        ++accept_errors_;
        LOG(WARNING) << (options_.task.empty() ? "server" : options_.task) << " could not accept a connection ("
                     << ec.message() << "); trying again in 100 ms";
        accept_retry_.expires_after(std::chrono::milliseconds(100));
        accept_retry_.async_wait([this](const boost::system::error_code& e) {
          if (!e) Accept();
        });
        return;
      }
      auto c = std::make_shared<ServerConn>(std::move(socket), this);
      std::shared_ptr<ServerConn> evict;
      {
        std::lock_guard<std::mutex> l(mu_);
        conns_.push_back(c);
        if (conns_.size() > 64) {  // forget closed connections
          std::erase_if(conns_, [](const std::weak_ptr<ServerConn>& w) { return w.expired(); });
        }
        // At most max_unauthenticated connections wait to prove the token:
        // one more evicts the oldest (tasks prove it within a round trip).
        std::erase_if(unauthenticated_, [](const std::weak_ptr<ServerConn>& w) {
          auto s = w.lock();
          return !s || s->authenticated();
        });
        if (options_.max_unauthenticated > 0 &&
            unauthenticated_.size() >= static_cast<size_t>(options_.max_unauthenticated)) {
          evict = unauthenticated_.front().lock();
          unauthenticated_.pop_front();
          ++evicted_;
        }
        unauthenticated_.push_back(c);
      }
      if (evict) evict->CloseUnauthenticated();
      c->Start();
      Accept();
    });
  }

  const ServerOptions options_;
  const Handler handler_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: plain TCP
  asio::io_context io_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_ =
      std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(io_.get_executor());
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_{io_};
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::vector<std::weak_ptr<ServerConn>> conns_;  // GUARDED_BY(mu_)
  std::deque<std::weak_ptr<ServerConn>> unauthenticated_;  // GUARDED_BY(mu_): oldest first
  int64_t evicted_ = 0;                                     // GUARDED_BY(mu_)
};

ServerConn::ServerConn(tcp::socket socket, ServerImpl* server)
    : stream_(std::make_shared<Stream>(std::move(socket), server->tls())), strand_(asio::make_strand(server->io())),
      server_(server), first_frame_timer_(server->io()) {
  boost::system::error_code ec;
  auto ep = stream_->socket().remote_endpoint(ec);
  peer_ = ec ? "unknown peer" : StrCat(ep.address().to_string(), ":", ep.port());
  stream_->socket().set_option(tcp::no_delay(true), ec);
}

// The first frame's deadline covers the TLS handshake too: a peer that
// stalls in it is closed like one that stalls before its Hello.
void ServerConn::Start() {
  auto self = shared_from_this();
  const int64_t ms = server_->options().first_frame_timeout_ms;
  if (ms > 0) {
    first_frame_timer_.expires_after(std::chrono::milliseconds(ms));
    first_frame_timer_.async_wait(asio::bind_executor(strand_, [this, self, ms](const boost::system::error_code& ec) {
      if (ec || authed_) return;  // cancelled: the first frame came
      ++server_->bad_frames_;
      LOG(WARNING) << "closing connection from " << peer_ << ": no first frame header within " << ms << " ms";
      Close();
    }));
  }
  asio::dispatch(strand_, [this, self] {
    if (!stream_->tls()) return Challenge();
    stream_->tls()->async_handshake(asio::ssl::stream_base::server,
                                    asio::bind_executor(strand_, [this, self](const boost::system::error_code& ec) {
      if (ec) {
        ++server_->tls_refused_;
        LOG(WARNING) << "refused connection: " << TlsHandshakeError(ec, peer_, /*server=*/true);
        return Close();
      }
      Challenge();
    }));
  });
}

// On the strand.
void ServerConn::Challenge() {
  auto self = shared_from_this();
  auto nonce = NewNonce();
  if (!nonce.ok()) {
    LOG(ERROR) << "closing connection from " << peer_ << ": " << nonce.status();
    return Close();
  }
  nonce_ = *nonce;
  Message challenge;
  challenge.header.set_method(kChallengeMethod);
  challenge.header.set_task(server_->options().task);
  challenge.header.set_nonce(nonce_);
  auto frame = std::make_shared<EncodedFrame>();
  CHECK_OK(EncodeFrame(challenge, frame.get()));  // no tensors: cannot fail
  writer_.Enqueue(stream_, strand_, frame, self, [this, self](const boost::system::error_code&) { Close(); });
  ReadNext();
}

void ServerConn::ReadNext() {
  auto self = shared_from_this();
  FrameLimits limits = server_->options().limits;
  if (!authed_) limits.max_header_bytes = std::min(limits.max_header_bytes, kMaxUnauthenticatedHeaderBytes);
  // Runs on the strand once a frame's header is in, before its payload is
  // allocated: the first frame must carry the cluster token.
  auto check = [this](const RpcHeader& h) -> Status {
    if (authed_) return OkStatus();
    const std::string& token = server_->options().token;
    if (!token.empty() && (h.method() != kHelloMethod ||
                           !ConstantTimeEquals(h.proof(), HelloProof(token, nonce_, h.task(), h.incarnation())))) {
      return UnauthenticatedError("refused connection from ", peer_, " (task '", h.task(), "'",
                                  h.method() == kHelloMethod ? "" : StrCat(", ", h.method()),
                                  "): it does not prove it holds the cluster token (run.token or "
                                  "PSFLOW_CLUSTER_TOKEN must be the same on every task)");
    }
    authed_ = true;
    authed_flag_ = true;
    first_frame_timer_.cancel();
    return OkStatus();
  };
  FrameReader::Read(stream_, strand_, {.limits = limits, .peer = peer_, .check = check, .truncated = StatusCode::kDataLoss,
                                       .frame_timeout_ms = server_->options().frame_timeout_ms},
                    self, [this, self](StatusOr<Message> m) {
    if (!m.ok()) {
      if (IsUnauthenticatedError(m.status())) {
        ++server_->rejected_;
        LOG(WARNING) << m.status().message();
      } else if (!IsUnavailableError(m.status()) && !IsCancelledError(m.status())) {
        ++server_->bad_frames_;
        LOG(WARNING) << "closing connection from " << peer_ << ": " << m.status();
      }
      Close();
      return;
    }
    const uint64_t id = m->header.request_id();
    const std::string method = m->header.method();
    ReadNext();  // keep reading: many requests in flight
    if (method == kHelloMethod) return;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    // The responder holds the connection weakly: a handler may keep it past
    // the connection (an answer that comes later, as WaitForStep's), and
    // then it answers nobody.  Not past the server: a handler that answers
    // late must be done (PsService::Close) before the server stops.
    std::weak_ptr<ServerConn> weak = self;
    auto respond = [weak, id, method, answered](StatusOr<Message> result) {
      if (answered->exchange(true)) return;  // one answer per request, even from a handler that threw after answering
      std::shared_ptr<ServerConn> conn = weak.lock();
      if (!conn) return;
      asio::post(conn->strand_, [conn, id, method, result = std::move(result)]() mutable {
        conn->Respond(id, method, std::move(result));
      });
    };
    // Nothing a peer sends may end the server: an exception out of the
    // handler (an allocation too big for this machine) fails the call.
    try {
      server_->handler()(std::move(*m), respond);
    } catch (const std::bad_alloc&) {
      LOG(WARNING) << method << " from " << peer_ << " needs more memory than this machine has";
      respond(ResourceExhaustedError(method, " from ", peer_, " needs more memory than ", server_->options().task,
                                     " can allocate"));
    } catch (const std::exception& e) {
      LOG(ERROR) << method << " from " << peer_ << " failed with an exception: " << e.what();
      respond(InternalError(method, " from ", peer_, " failed on ", server_->options().task, ": ", e.what()));
    }
  });
}

void ServerConn::Respond(uint64_t request_id, const std::string& method, StatusOr<Message> result) {
  Message resp;
  if (result.ok()) resp = std::move(*result);
  resp.header.set_request_id(request_id);
  resp.header.set_is_response(true);
  resp.header.set_method(method);
  resp.header.set_task(server_->options().task);
  if (!result.ok()) {
    resp.header.set_status_code(static_cast<int>(result.status().code()));
    resp.header.set_status_message(result.status().message());
    resp.tensors.clear();
  }
  auto frame = std::make_shared<EncodedFrame>();
  Status s = EncodeFrame(resp, frame.get());
  if (!s.ok()) {
    resp.tensors.clear();
    resp.header.set_status_code(static_cast<int>(s.code()));
    resp.header.set_status_message(s.message());
    if (!EncodeFrame(resp, frame.get()).ok()) return;
  }
  auto self = shared_from_this();
  writer_.Enqueue(stream_, strand_, frame, self, [this, self](const boost::system::error_code&) { Close(); });
}

}  // namespace

StatusOr<std::unique_ptr<RpcServer>> RpcServer::Start(ServerOptions options, Handler handler) {
  auto s = std::make_unique<ServerImpl>(std::move(options), std::move(handler));
  RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<RpcServer>(std::move(s));
}

// ---------------------------------------------------------------------------
// Channel

class RpcChannel::Impl : public std::enable_shared_from_this<Impl> {
 public:
  explicit Impl(ChannelOptions o)
      : options_(std::move(o)), strand_(asio::make_strand(io_)), work_(io_.get_executor()) {
    auto tls = MakeTlsContext(options_.tls, /*server=*/false);
    if (tls.ok()) {
      tls_ = *tls;
    } else {
      tls_error_ = tls.status();
    }
    stream_ = std::make_shared<Stream>(tcp::socket(io_), tls_);
    thread_ = std::thread([this] { io_.run(); });
  }
  void Shutdown() {
    asio::post(strand_, [self = shared_from_this()] { self->Fail(CancelledError("the channel to ", self->options_.address, " was closed")); });
    work_.reset();
    asio::post(strand_, [self = shared_from_this()] { self->stream_->Close(); });
    io_.stop();
    if (thread_.joinable()) thread_.join();
    // No thread runs handlers any more: run here what is still queued (the
    // posts above, cancelled operations), or the handlers holding this Impl
    // would keep it alive for good, with its io_context that holds them
    // (a cycle LeakSanitizer found).
    io_.restart();
    while (io_.poll() > 0) {
    }
  }
  const std::string& address() const { return options_.address; }

  void Call(const std::string& method, Message req, const CallOptions& opts, Responder done) {
    auto self = shared_from_this();
    req.header.set_method(method);
    req.header.set_task(options_.task);
    req.header.set_incarnation(options_.incarnation);
    req.header.set_deadline_ms(opts.timeout_ms);
    asio::post(strand_, [self, req = std::move(req), opts, cb = std::move(done)]() mutable {
      self->Send(std::move(req), opts, std::move(cb));
    });
  }

 private:
  struct Pending {
    std::string method;
    Responder done;
    std::shared_ptr<asio::steady_timer> timer;
    std::shared_ptr<asio::steady_timer> slow;  // the "still waiting" warning
  };
  // A call without an answer by then is logged (what it waits for and how
  // much longer it will), so that no wait of a task is silent.
  static constexpr int64_t kSlowCallMs = 10000;

  std::string What(const std::string& method) const {
    return StrCat("call ", method, " from ", options_.task.empty() ? "client" : options_.task, " to ", options_.address);
  }

  // On the strand.
  void Send(Message req, const CallOptions& opts, Responder done) {
    const uint64_t id = ++next_id_;
    req.header.set_request_id(id);
    auto frame = std::make_shared<EncodedFrame>();
    Status s = EncodeFrame(req, frame.get());
    if (!s.ok()) return done(s.WithContext(What(req.header.method())));
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(opts.timeout_ms));
    const std::string method = req.header.method();
    std::shared_ptr<asio::steady_timer> slow;
    if (opts.timeout_ms > 2 * kSlowCallMs && method != "WaitForStep") {  // WaitForStep waits on purpose
      slow = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(kSlowCallMs));
      slow->async_wait(asio::bind_executor(strand_, [self = shared_from_this(), id, ms = opts.timeout_ms](
                                                        const boost::system::error_code& ec) {
        if (ec || !self->pending_.count(id)) return;
        LOG(WARNING) << self->What(self->pending_[id].method) << ": no answer after " << kSlowCallMs / 1000
                     << " s; waiting up to " << (ms - kSlowCallMs) / 1000 << " s more";
      }));
    }
    pending_[id] = Pending{method, std::move(done), timer, slow};
    auto self = shared_from_this();
    timer->async_wait(asio::bind_executor(strand_, [self, id, ms = opts.timeout_ms](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: answered in time
      auto it = self->pending_.find(id);
      if (it == self->pending_.end()) return;
      Responder d = std::move(it->second.done);
      const std::string m = it->second.method;
      self->pending_.erase(it);
      d(DeadlineExceededError(self->What(m), " got no answer within ", ms, " ms"));
    }));
    outbox_.push_back(frame);
    if (!connected_) {
      Connect();
      return;
    }
    if (ready_) Flush();
  }

  void Connect() {
    if (connecting_) return;
    connecting_ = true;
    if (!tls_error_.ok()) return FailAndReset(tls_error_.WithContext("cannot connect to ", options_.address));
    auto hp = SplitAddress(options_.address);
    if (!hp.ok()) return FailAndReset(hp.status());
    auto self = shared_from_this();
    auto resolver = std::make_shared<tcp::resolver>(io_);
    resolver->async_resolve(hp->first, hp->second, asio::bind_executor(strand_, [self, resolver](
        const boost::system::error_code& ec, tcp::resolver::results_type results) {
      if (ec) return self->FailAndReset(FromAsio(ec, StrCat("cannot resolve ", self->options_.address)));
      // The stream is held by the operations on it: a reset meanwhile swaps
      // in a new one without freeing this one under them.
      std::shared_ptr<Stream> stream = self->stream_;
      asio::async_connect(stream->socket(), results, asio::bind_executor(self->strand_, [self, stream](
          const boost::system::error_code& ec2, const tcp::endpoint&) {
        if (stream != self->stream_) return;  // reset meanwhile
        if (ec2) {
          self->connecting_ = false;
          return self->FailAndReset(FromAsio(ec2, StrCat("cannot connect to ", self->options_.address,
                                                         " (is the task running?)")));
        }
        boost::system::error_code ignore;
        self->stream_->socket().set_option(tcp::no_delay(true), ignore);
        if (auto* tls = self->stream_->tls()) {
          // The server's certificate must name the host this channel dialled.
          tls->set_verify_callback(asio::ssl::host_name_verification(SplitAddress(self->options_.address)->first));
          const uint64_t gen = self->gen_;
          return tls->async_handshake(asio::ssl::stream_base::client, asio::bind_executor(self->strand_, [self, gen, stream](
              const boost::system::error_code& ec3) {
            if (gen != self->gen_) return;
            self->connecting_ = false;
            if (ec3) {
              return self->FailAndReset(UnavailableError(TlsHandshakeError(ec3, self->options_.address, false)));
            }
            self->connected_ = true;
            self->ReadNext();
          }));
        }
        self->connecting_ = false;
        self->connected_ = true;
        self->ReadNext();  // the server's challenge first: calls wait in the outbox until it is answered
      }));
    }));
  }

  // The first frame of each connection: who we are, and the proof that we
  // hold the token (over the server's nonce).
  std::shared_ptr<EncodedFrame> Hello(const std::string& nonce) const {
    Message hello;
    hello.header.set_method(kHelloMethod);
    hello.header.set_task(options_.task);
    hello.header.set_incarnation(options_.incarnation);
    if (!options_.token.empty()) hello.header.set_proof(HelloProof(options_.token, nonce, options_.task, options_.incarnation));
    auto frame = std::make_shared<EncodedFrame>();
    CHECK_OK(EncodeFrame(hello, frame.get()));  // no tensors: cannot fail
    return frame;
  }

  void Flush() {
    auto self = shared_from_this();
    const uint64_t gen = gen_;
    while (!outbox_.empty()) {
      writer_.Enqueue(stream_, strand_, outbox_.front(), self, [self, gen](const boost::system::error_code& ec) {
        if (gen != self->gen_) return;  // an old connection's failure
        self->FailAndReset(FromAsio(ec, StrCat("connection to ", self->options_.address)));
      });
      outbox_.pop_front();
    }
  }

  void ReadNext() {
    auto self = shared_from_this();
    const uint64_t gen = gen_;
    FrameReader::Read(stream_, strand_,
                      {.limits = options_.limits, .peer = options_.address, .truncated = StatusCode::kUnavailable,
                       .current = [self, gen] { return gen == self->gen_; }},
                      self, [self, gen](StatusOr<Message> m) {
      if (gen != self->gen_) return;  // an old connection's read
      if (!m.ok() && !self->ready_ && !self->stream_->tls()) {
        return self->FailAndReset(Status(m.status().code(), StrCat(
            m.status().message(), " before its psflow challenge: the server refused this task (does it have run.tls, "
            "which this task lacks? is this task's address allowed?)")));
      }
      if (!m.ok()) return self->FailAndReset(m.status());
      if (!self->ready_) {  // the server's challenge, answered before any call goes out
        if (m->header.method() != kChallengeMethod || m->header.nonce().size() != kNonceBytes) {
          return self->FailAndReset(UnavailableError(self->options_.address, " did not open with a psflow challenge "
                                                     "(got '", m->header.method(), "'): is it a psflow task of this "
                                                     "release?"));
        }
        self->ready_ = true;
        self->outbox_.push_front(self->Hello(m->header.nonce()));
        self->Flush();
        return self->ReadNext();
      }
      auto it = self->pending_.find(m->header.request_id());
      if (it != self->pending_.end()) {
        it->second.timer->cancel();
        if (it->second.slow) it->second.slow->cancel();
        Responder d = std::move(it->second.done);
        const std::string method = it->second.method;
        self->pending_.erase(it);
        if (m->header.status_code() != 0) {
          d(Status(static_cast<StatusCode>(m->header.status_code()),
                   StrCat(m->header.status_message(), " (", self->What(method), ", answered by ",
                          m->header.task().empty() ? self->options_.address : m->header.task(), ")")));
        } else {
          d(std::move(*m));
        }
      }
      self->ReadNext();
    });
  }

  // Fails every pending call and drops the connection; the next call reconnects.
  void FailAndReset(const Status& s) {
    ++gen_;
    connected_ = false;
    connecting_ = false;
    ready_ = false;
    stream_->Close();
    stream_ = std::make_shared<Stream>(tcp::socket(io_), tls_);  // a TLS session does not outlive its connection
    writer_.Clear();
    outbox_.clear();
    Fail(s);
  }
  void Fail(const Status& s) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, p] : pending) {
      p.timer->cancel();
      if (p.slow) p.slow->cancel();
      p.done(Status(s.code(), StrCat(What(p.method), " failed: ", s.message())));
    }
  }

  const ChannelOptions options_;
  std::shared_ptr<asio::ssl::context> tls_;  // null: plain TCP
  Status tls_error_;                         // why run.tls's files could not be loaded
  asio::io_context io_;
  std::shared_ptr<Stream> stream_;           // on the strand
  asio::strand<asio::io_context::executor_type> strand_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  // Everything below is touched on the strand only.
  bool connected_ = false, connecting_ = false;
  bool ready_ = false;  // the server's challenge answered: calls may go out
  uint64_t gen_ = 0;  // connection generation: callbacks of older ones are ignored
  uint64_t next_id_ = 0;
  std::map<uint64_t, Pending> pending_;
  std::deque<std::shared_ptr<EncodedFrame>> outbox_;
  Writer writer_;
};

RpcChannel::RpcChannel(ChannelOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}
RpcChannel::~RpcChannel() { impl_->Shutdown(); }
const std::string& RpcChannel::address() const { return impl_->address(); }

void RpcChannel::CallAsync(const std::string& method, Message request, const CallOptions& options, Responder done) {
  impl_->Call(method, std::move(request), options, std::move(done));
}

StatusOr<Message> RpcChannel::Call(const std::string& method, Message request, const CallOptions& options) {
  std::promise<StatusOr<Message>> p;
  auto f = p.get_future();
  CallAsync(method, std::move(request), options, [&p](StatusOr<Message> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace psflow::rpc
