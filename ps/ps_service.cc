#include "ps/ps_service.h"

#include <algorithm>

#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/proto/ps.pb.h"

namespace psflow {
namespace {

rpc::Message WithBody(const google::protobuf::MessageLite& body) {
  rpc::Message m;
  m.header.set_body(body.SerializeAsString());
  return m;
}

}  // namespace

bool PsService::WaitForShutdown(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(shutdown_mu_);
  return shutdown_cv_.wait_for(l, timeout, [this] { return shutdown_; });
}

PsService::PsService(ParameterServer* ps) : ps_(ps), wait_thread_([this] { AnswerWaiters(); }) {}

PsService::~PsService() { Close(); }

void PsService::Close() {
  std::vector<StepWaiter> left;
  {
    std::lock_guard<std::mutex> l(wait_mu_);
    if (closing_) return;
    closing_ = true;
  }
  wait_cv_.notify_all();
  wait_thread_.join();
  {
    std::lock_guard<std::mutex> l(wait_mu_);
    left.swap(waiters_);
  }
  for (StepWaiter& w : left) w.respond(CancelledError("the parameter server is shutting down"));
}

rpc::Handler PsService::Handler() {
  return [this](rpc::Message req, rpc::Responder respond) {
    if (req.header.method() == ps::kWaitForStep) return WaitForStep(std::move(req), std::move(respond));
    respond(Handle(std::move(req)));
  };
}

void PsService::WakeWaiters() {
  {
    std::lock_guard<std::mutex> l(wait_mu_);
    ++wakeups_;
  }
  wait_cv_.notify_all();
}

void PsService::WaitForStep(rpc::Message req, rpc::Responder respond) {
  if (Status s = CheckIncarnation(req.header); !s.ok()) return respond(s);
  auto body = ps::ParseBody<ps::WaitForStepRequest>(req);
  if (!body.ok()) return respond(body.status());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::clamp<int64_t>(body->timeout_ms(), 0, 600000));
  bool closed;
  {
    std::lock_guard<std::mutex> l(wait_mu_);
    closed = closing_;
    if (!closed) {
      waiters_.push_back({body->until_ready(), body->after_step(), deadline, std::move(respond)});
      ++wakeups_;
    }
  }
  if (closed) return respond(CancelledError("the parameter server is shutting down"));
  wait_cv_.notify_all();
}

void PsService::AnswerWaiters() {
  std::unique_lock<std::mutex> l(wait_mu_);
  while (!closing_) {
    const auto now = std::chrono::steady_clock::now();
    const int64_t step = ps_->global_step();
    const bool stop = ps_->stop_requested();
    const bool ready_now = ps_->ready();
    std::vector<rpc::Responder> ready;
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      // Early stopping answers the step waiters; a worker waiting to start keeps waiting.
      const bool reached = it->until_ready ? ready_now : step > it->after_step || stop;
      if (reached || now >= it->deadline) {
        ready.push_back(std::move(it->respond));
        it = waiters_.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
    if (!ready.empty()) {
      ps::PushResponse r;
      r.set_global_step(step);
      r.set_stop_requested(stop);
      r.set_ready(ready_now);
      l.unlock();
      for (auto& respond : ready) respond(WithBody(r));
      l.lock();
      continue;  // the step may have moved meanwhile
    }
    const uint64_t seen = wakeups_;
    wait_cv_.wait_until(l, next, [&] { return closing_ || wakeups_ != seen; });
  }
}

Status PsService::CheckIncarnation(const rpc::RpcHeader& h) {
  if (h.incarnation() == 0 || h.task().empty()) return OkStatus();  // a client that does not say
  std::lock_guard<std::mutex> l(mu_);
  auto& retired = retired_[h.task()];
  if (retired.count(h.incarnation())) {
    return AbortedError("request ", h.method(), " from an earlier incarnation of ", h.task(),
                        " (the task has restarted since); dropped");
  }
  auto [it, inserted] = incarnations_.emplace(h.task(), h.incarnation());
  if (!inserted && it->second != h.incarnation()) {
    retired.insert(it->second);
    if (retired.size() > 64) retired.erase(retired.begin());  // bounded
    it->second = h.incarnation();
  }
  return OkStatus();
}

// Pushes remembered per task: more than a trainer has in flight by far.
constexpr size_t kPushWindow = 4096;

bool PsService::FirstPush(const rpc::RpcHeader& h, uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  RecentPushes& p = pushes_[h.task()];
  if (p.incarnation != h.incarnation()) p = RecentPushes{.incarnation = h.incarnation()};  // a new process
  if (!p.ids.insert(id).second) {
    ++duplicate_pushes_;
    LOG(INFO) << "push " << id << " from " << h.task() << " came again (a retry after a broken connection); it is "
              << "applied once (" << duplicate_pushes_ << " such retries so far)";
    return false;
  }
  p.order.push_back(id);
  if (p.order.size() > kPushWindow) {
    p.ids.erase(p.order.front());
    p.order.pop_front();
  }
  return true;
}

void PsService::ForgetPush(const rpc::RpcHeader& h, uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = pushes_.find(h.task());
  if (it != pushes_.end()) it->second.ids.erase(id);  // its place in `order` ages out harmlessly
}

StatusOr<rpc::Message> PsService::Handle(rpc::Message req) {
  RETURN_IF_ERROR(CheckIncarnation(req.header));
  const std::string& method = req.header.method();
  if (method == ps::kInitialize) {
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::InitializeRequest>(req));
    if (body.names_size() != static_cast<int>(req.tensors.size())) {
      return InvalidArgumentError("Initialize: ", body.names_size(), " names for ", req.tensors.size(), " tensors");
    }
    std::map<std::string, Tensor> values;
    for (int i = 0; i < body.names_size(); ++i) values[body.names(i)] = req.tensors[static_cast<size_t>(i)];
    std::map<std::string, SaveSliceInfo> slices;
    for (const auto& si : body.slices()) {
      std::vector<int64_t> dims(si.full_shape().begin(), si.full_shape().end());
      auto full = TensorShape::FromDims(dims);
      if (!full.ok()) return full.status().WithContext("Initialize: the full shape of ", si.full_name());
      slices[si.name()] = {.full_name = si.full_name(), .full_shape = *full, .row_begin = si.row_begin()};
    }
    std::map<std::string, DynamicTableInit> tables;
    for (const auto& t : body.dynamic()) {
      tables[t.name()] = {.dim = t.dim(), .zeros_init = t.zeros_init(), .stddev = t.stddev(), .seed = t.seed(),
                          .filter_freq = t.filter_freq(), .steps_to_live = t.steps_to_live(), .max_rows = t.max_rows(),
                          .evict_when_full = t.evict_when_full()};
    }
    RETURN_IF_ERROR(ps_->Initialize(values, slices, tables));
    if (!body.restore_prefix().empty()) {
      // A restarted task rejoining a running job: its share of the last
      // checkpoint, then ready, before anyone else is answered.
      ASSIGN_OR_RETURN(auto reader, BundleReader::Open(ps_->env(), body.restore_prefix()));
      RETURN_IF_ERROR(ps_->Restore(*reader, std::max(1, body.num_tasks())));
      ps_->SetReady();
      LOG(INFO) << "restored this task's variables from " << body.restore_prefix() << " (global_step "
                << ps_->global_step() << " here); serving again";
    }
    ps_->SetInitialized();
    WakeWaiters();
    return rpc::Message{};
  }
  // Until the chief has initialized this task (a task restarted alone waits
  // for it), its variables are not the job's: refuse what would read,
  // change or save them; the callers wait and try again.
  if ((method == ps::kPull || method == ps::kPush || method == ps::kSave) && !ps_->initialized()) {
    return UnavailableError(LogIdentity(), " has not been initialized: it has ",
                            "(re)started and waits for the chief to restore its variables from the last checkpoint");
  }
  if (method == ps::kPull) {
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::PullRequest>(req));
    std::vector<std::string> names(body.names().begin(), body.names().end());
    ASSIGN_OR_RETURN(std::vector<Tensor> values, ps_->Pull(names));
    auto counted = [&](int i) { return i < body.counted_size() && body.counted(i); };
    size_t want = 0;
    for (int i = 0; i < body.row_names_size(); ++i) want += counted(i) ? 2 : 1;
    if (want != req.tensors.size()) {
      return InvalidArgumentError("Pull: ", body.row_names_size(), " row pulls need ", want, " tensors, got ",
                                  req.tensors.size());
    }
    // The row pulls of one request share one answer's bound.
    uint64_t budget = ParameterServer::kMaxPullBytes;
    size_t t = 0;
    for (int i = 0; i < body.row_names_size(); ++i) {
      const Tensor& ids = req.tensors[t++];
      StatusOr<Tensor> rows = counted(i) ? ps_->PullDynamicRows(body.row_names(i), ids, &req.tensors[t++], body.step(), budget)
                                         : ps_->PullRows(body.row_names(i), ids, budget);
      RETURN_IF_ERROR(rows.status());
      budget -= std::min<uint64_t>(budget, rows->TotalBytes());
      values.push_back(std::move(rows).value());
    }
    rpc::Message resp;
    resp.tensors = std::move(values);
    return resp;
  }
  if (method == ps::kPush) {
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::PushRequest>(req));
    std::vector<PushItem> items;
    size_t t = 0;
    for (int i = 0; i < body.names_size(); ++i) {
      const bool sparse = i < body.sparse_size() && body.sparse(i);
      if (t + (sparse ? 2 : 1) > req.tensors.size()) return InvalidArgumentError("Push: too few tensors for its names");
      PushItem item{.name = body.names(i), .grad = req.tensors[t++]};
      if (sparse) item.rows = req.tensors[t++];
      items.push_back(std::move(item));
    }
    if (body.push_id() != 0 && !FirstPush(req.header, body.push_id())) {
      // A retry of a push that landed (or is landing): answered, not applied again.
      ps::PushResponse r;
      r.set_global_step(ps_->global_step());
      r.set_stop_requested(ps_->stop_requested());
      return WithBody(r);
    }
    auto pushed = ps_->Push(items, body.step(), body.increment_global_step());
    if (!pushed.ok()) {
      if (body.push_id() != 0) ForgetPush(req.header, body.push_id());
      return pushed.status().WithContext("Push from ", req.header.task().empty() ? "a client" : req.header.task());
    }
    const int64_t step = *pushed;
    WakeWaiters();
    ps::PushResponse r;
    r.set_global_step(step);
    r.set_stop_requested(ps_->stop_requested());
    return WithBody(r);
  }
  if (method == ps::kSave) {
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::SaveRequest>(req));
    ASSIGN_OR_RETURN(BundleEntries entries, ps_->SaveShard(body.prefix(), body.shard_id(), body.num_shards()));
    ps::SaveResponse r;
    for (auto& [k, e] : entries) {
      r.add_keys(k);
      *r.add_entries() = e;
    }
    for (const std::string& k : ps_->StackedKeys()) r.add_stacked(k);
    return WithBody(r);
  }
  if (method == ps::kRestore) {
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::RestoreRequest>(req));
    ASSIGN_OR_RETURN(auto reader, BundleReader::Open(ps_->env(), body.prefix()));
    RETURN_IF_ERROR(ps_->Restore(*reader, std::max(1, body.num_tasks())));
    WakeWaiters();
    return rpc::Message{};
  }
  if (method == ps::kShutdown) {
    LOG(INFO) << "the chief (" << req.header.task() << ") says the job is done";
    {
      std::lock_guard<std::mutex> l(shutdown_mu_);
      shutdown_ = true;
    }
    shutdown_cv_.notify_all();
    return rpc::Message{};
  }
  if (method == ps::kRequestStop) {
    LOG(INFO) << req.header.task() << " asks the trainers to stop (early stopping)";
    ps_->RequestStop();
    WakeWaiters();
    return rpc::Message{};
  }
  if (method == ps::kSetReady) {
    ps_->SetReady();
    WakeWaiters();
    return rpc::Message{};
  }
  if (method == ps::kStatus) {
    ps::StatusResponse r;
    r.set_global_step(ps_->global_step());
    r.set_initialized(ps_->initialized());
    r.set_ready(ps_->ready());
    r.set_stop_requested(ps_->stop_requested());
    for (const auto& n : ps_->VariableNames()) r.add_variables(n);
    for (const auto& [name, st] : ps_->Stats()) {
      auto* c = r.add_counters();
      c->set_name(name);
      c->set_pulls(st.pulls);
      c->set_pushes(st.pushes);
      c->set_bytes_out(st.bytes_out);
      c->set_bytes_in(st.bytes_in);
    }
    for (const auto& [name, st] : ps_->TableStats()) {
      auto* c = r.add_tables();
      c->set_name(name);
      c->set_rows(st.rows);
      c->set_bytes(st.bytes);
      c->set_candidates(st.candidates);
      c->set_hits(st.hits);
      c->set_filtered(st.filtered);
      c->set_admissions(st.admissions);
      c->set_evictions(st.evictions);
      c->set_dropped_updates(st.dropped_updates);
    }
    return WithBody(r);
  }
  return UnimplementedError("unknown parameter-server method '", method, "'");
}

}  // namespace psflow
