#include "common/rpc/transport.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <thread>

#include "common/core/logging.h"

namespace psflow::rpc {
namespace {

// Runs callbacks after a delay, on one thread for the whole process: the
// retries' backoff (a channel's callback may run on its transport's own
// thread, which must not sleep).  Never destroyed: a retry may be pending
// at exit.
class RetryTimer {
 public:
  static RetryTimer& Get() {
    static RetryTimer* t = new RetryTimer();
    return *t;
  }
  void After(std::chrono::milliseconds delay, std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> l(mu_);
      due_.emplace(std::chrono::steady_clock::now() + delay, std::move(fn));
    }
    cv_.notify_one();
  }

 private:
  RetryTimer() {
    std::thread([this] { Loop(); }).detach();
  }
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      if (due_.empty()) {
        cv_.wait(l);
        continue;
      }
      auto first = due_.begin();
      if (first->first > std::chrono::steady_clock::now()) {
        cv_.wait_until(l, first->first);
        continue;
      }
      std::function<void()> fn = std::move(first->second);
      due_.erase(first);
      l.unlock();
      fn();
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> due_;
};

}  // namespace

void Channel::CallAsync(const std::string& method, Message request, const CallOptions& options, Responder done) {
  if (!options.idempotent || options.max_attempts <= 1) return Send(method, std::move(request), options, std::move(done));
  struct Attempt : std::enable_shared_from_this<Attempt> {
    Channel* ch;
    std::string method;
    Message request;
    CallOptions options;
    Responder done;
    int n = 0;
    void Go() {
      auto self = shared_from_this();
      ch->Send(method, request, options, [self](StatusOr<Message> r) {
        const bool retry = !r.ok() && (IsUnavailableError(r.status()) || IsDeadlineExceededError(r.status())) &&
                           self->n + 1 < self->options.max_attempts;
        if (!retry) return self->done(std::move(r));
        const int64_t backoff =
            std::min(self->options.max_backoff_ms, self->options.initial_backoff_ms << std::min(self->n, 20));
        ++self->n;
        // What this task waits for, and for how long at most.
        (self->n == 1 ? LOG(INFO) : LOG(WARNING))
            << r.status().message() << "; retrying in " << backoff << " ms (attempt " << self->n + 1 << " of "
            << self->options.max_attempts << ")";
        RetryTimer::Get().After(std::chrono::milliseconds(backoff), [self] { self->Go(); });
      });
    }
  };
  auto a = std::make_shared<Attempt>();
  a->ch = this;
  a->method = method;
  a->request = std::move(request);
  a->options = options;
  a->done = std::move(done);
  a->Go();
}

StatusOr<Message> Channel::Call(const std::string& method, Message request, const CallOptions& options) {
  std::promise<StatusOr<Message>> p;
  auto f = p.get_future();
  CallAsync(method, std::move(request), options, [&p](StatusOr<Message> r) { p.set_value(std::move(r)); });
  return f.get();
}

namespace {

class TcpChannel final : public Channel {
 public:
  explicit TcpChannel(ChannelOptions o) : ch_(std::move(o)) {}

 protected:
  void Send(const std::string& method, Message request, const CallOptions& options, Responder done) override {
    ch_.CallAsync(method, std::move(request), options, std::move(done));  // one attempt
  }

 private:
  RpcChannel ch_;
};

class TcpTransport final : public Transport {
 public:
  StatusOr<std::unique_ptr<RpcServer>> Listen(ServerOptions options, Handler handler) override {
    return RpcServer::Start(std::move(options), std::move(handler));
  }
  std::unique_ptr<Channel> Connect(ChannelOptions options) override {
    return std::make_unique<TcpChannel>(std::move(options));
  }
};

// Encodes and decodes a message as the wire would.
StatusOr<Message> ThroughTheWire(const Message& m, const FrameLimits& limits, const std::string& peer) {
  EncodedFrame f;
  RETURN_IF_ERROR(EncodeFrame(m, &f));
  return DecodeFlatFrame(FlattenFrame(f), limits, peer);
}

}  // namespace

std::unique_ptr<Transport> NewTcpTransport() { return std::make_unique<TcpTransport>(); }

struct FakeTransport::Endpoint {
  ServerOptions options;
  Handler handler;
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> rejected{0};
};

class FakeServer final : public RpcServer {
 public:
  FakeServer(FakeTransport* t, std::string address, std::shared_ptr<FakeTransport::Endpoint> e, int port)
      : t_(t), address_(std::move(address)), e_(std::move(e)), port_(port) {}
  ~FakeServer() override { Stop(); }
  int port() const override { return port_; }
  void Stop() override {
    if (e_->stopped.exchange(true)) return;
    std::lock_guard<std::mutex> l(t_->mu_);
    t_->endpoints_.erase(address_);
  }
  int64_t rejected_connections() const override { return e_->rejected; }
  int64_t bad_frames() const override { return 0; }

 private:
  FakeTransport* const t_;
  const std::string address_;
  std::shared_ptr<FakeTransport::Endpoint> e_;
  const int port_;
};

class FakeChannel final : public Channel {
 public:
  FakeChannel(FakeTransport* t, ChannelOptions o) : t_(t), o_(std::move(o)) {}

 protected:
  void Send(const std::string& method, Message request, const CallOptions& options, Responder done) override {
    std::shared_ptr<FakeTransport::Endpoint> e;
    bool drop_request, drop_response;
    int64_t delay;
    {
      std::lock_guard<std::mutex> l(t_->mu_);
      auto it = t_->endpoints_.find(o_.address);
      if (it != t_->endpoints_.end()) e = it->second;
      std::uniform_real_distribution<double> u(0, 1);
      drop_request = u(t_->rng_) < t_->drop_rate_;
      drop_response = u(t_->rng_) < t_->drop_rate_;
      t_->dropped_ += drop_request + (drop_response && !drop_request);
      delay = t_->delay_ms_;
    }
    const std::string what = StrCat("call ", method, " from ", o_.task, " to ", o_.address);
    if (e == nullptr) return done(UnavailableError(what, " failed: cannot connect to ", o_.address, " (no such task)"));
    if (!e->options.token.empty() && e->options.token != o_.token) {
      ++e->rejected;
      return done(UnavailableError(what, " failed: the connection was refused (cluster token)"));
    }
    request.header.set_method(method);
    request.header.set_task(o_.task);
    request.header.set_incarnation(o_.incarnation);
    // Delivery, the handler and the reply run on their own thread, as a
    // network would; a dropped message shows up as a deadline.
    std::thread([e, request = std::move(request), options, done, delay, drop_request, drop_response, what,
                 limits = o_.limits, peer = o_.address]() mutable {
      auto start = std::chrono::steady_clock::now();
      auto timeout = [&] {
        std::this_thread::sleep_until(start + std::chrono::milliseconds(options.timeout_ms));
        done(DeadlineExceededError(what, " got no answer within ", options.timeout_ms, " ms"));
      };
      if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      if (drop_request) return timeout();
      auto wire = ThroughTheWire(request, limits, peer);
      if (!wire.ok()) return done(wire.status());
      // Shared: the handler may answer after this thread gave up waiting.
      auto p = std::make_shared<std::promise<StatusOr<Message>>>();
      auto f = p->get_future();
      e->handler(std::move(*wire), [p](StatusOr<Message> r) { p->set_value(std::move(r)); });
      if (f.wait_until(start + std::chrono::milliseconds(options.timeout_ms)) != std::future_status::ready) {
        return done(DeadlineExceededError(what, " got no answer within ", options.timeout_ms, " ms"));
      }
      StatusOr<Message> r = f.get();
      if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      if (drop_response) return timeout();
      if (!r.ok()) return done(Status(r.status().code(), StrCat(r.status().message(), " (", what, ")")));
      r->header.set_is_response(true);
      done(ThroughTheWire(*r, limits, peer));
    }).detach();
  }

 private:
  FakeTransport* const t_;
  const ChannelOptions o_;
};

StatusOr<std::unique_ptr<RpcServer>> FakeTransport::Listen(ServerOptions options, Handler handler) {
  std::lock_guard<std::mutex> l(mu_);
  const int port = options.port == 0 ? next_port_++ : options.port;
  const std::string address = StrCat(options.host, ":", port);
  if (endpoints_.count(address)) return AlreadyExistsError("fake address ", address, " is in use");
  auto e = std::make_shared<Endpoint>();
  e->options = options;
  e->handler = std::move(handler);
  endpoints_[address] = e;
  return std::unique_ptr<RpcServer>(new FakeServer(this, address, e, port));
}

std::unique_ptr<Channel> FakeTransport::Connect(ChannelOptions options) {
  return std::make_unique<FakeChannel>(this, std::move(options));
}

void FakeTransport::SetDropRate(double p) {
  std::lock_guard<std::mutex> l(mu_);
  drop_rate_ = p;
}
void FakeTransport::SetDelayMs(int64_t ms) {
  std::lock_guard<std::mutex> l(mu_);
  delay_ms_ = ms;
}
int64_t FakeTransport::dropped() const {
  std::lock_guard<std::mutex> l(mu_);
  return dropped_;
}

}  // namespace psflow::rpc
