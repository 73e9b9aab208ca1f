#include "common/distributed/ps_client.h"

#include <algorithm>
#include <cstring>
#include <future>

#include "common/core/strcat.h"
#include "common/proto/ps.pb.h"

namespace psflow {

PsClient::PsClient(std::vector<std::unique_ptr<rpc::Channel>> channels, Placement placement, int64_t timeout_ms,
                   int max_attempts)
    : channels_(std::move(channels)), placement_(std::move(placement)), timeout_ms_(timeout_ms), max_attempts_(max_attempts) {}

std::vector<StatusOr<rpc::Message>> PsClient::Fanout(const std::string& method, std::vector<rpc::Message> requests,
                                                     bool idempotent, const std::vector<bool>* only, int64_t timeout_ms) {
  if (timeout_ms < 0) timeout_ms = timeout_ms_;
  std::vector<std::promise<StatusOr<rpc::Message>>> promises(channels_.size());
  std::vector<std::future<StatusOr<rpc::Message>>> futures;
  for (auto& p : promises) futures.push_back(p.get_future());
  for (size_t k = 0; k < channels_.size(); ++k) {
    if (only != nullptr && !(*only)[k]) {
      promises[k].set_value(rpc::Message{});
      continue;
    }
    channels_[k]->CallAsync(method, std::move(requests[k]),
                            {.timeout_ms = timeout_ms, .idempotent = idempotent, .max_attempts = max_attempts_},
                            [&promises, k](StatusOr<rpc::Message> r) { promises[k].set_value(std::move(r)); });
  }
  std::vector<StatusOr<rpc::Message>> out;
  for (auto& f : futures) out.push_back(f.get());
  return out;
}

Status PsClient::Initialize(const std::map<std::string, Tensor>& values) {
  std::vector<ps::InitializeRequest> bodies(channels_.size());
  std::vector<rpc::Message> reqs(channels_.size());
  for (const auto& [name, t] : values) {
    const auto* parts = placement_.Parts(name);
    if (parts == nullptr) return InvalidArgumentError("variable ", name, " has no PS placement");
    for (const VariablePart& part : *parts) {
      const size_t k = static_cast<size_t>(part.task);
      bodies[k].add_names(part.name);
      if (part.rows < 0) {
        reqs[k].tensors.push_back(t);
        continue;
      }
      if (!(t.shape() == placement_.Shape(name))) {
        return InvalidArgumentError("variable ", name, " is ", t.shape().DebugString(), " but was partitioned as ",
                                    placement_.Shape(name).DebugString());
      }
      reqs[k].tensors.push_back(t.SliceRows(part.row_begin, part.row_begin + part.rows));
      ps::SliceInfo* si = bodies[k].add_slices();
      si->set_name(part.name);
      si->set_full_name(name);
      for (int64_t d : t.shape().dims()) si->add_full_shape(d);
      si->set_row_begin(part.row_begin);
    }
  }
  for (size_t k = 0; k < reqs.size(); ++k) reqs[k].header.set_body(bodies[k].SerializeAsString());
  for (auto& r : Fanout(ps::kInitialize, std::move(reqs), false)) RETURN_IF_ERROR(r.status());
  return OkStatus();
}

namespace {

// Copies `part` into rows [begin, begin + part rows) of `full`.
Status PlaceRows(const std::string& name, const Tensor& part, int64_t begin, Tensor* full) {
  if (part.dtype() != full->dtype() || part.shape().rank() != full->shape().rank() ||
      begin + part.shape().dim(0) > full->shape().dim(0) ||
      part.TotalBytes() != full->SliceRows(begin, begin + part.shape().dim(0)).TotalBytes()) {
    return DataLossError("a part of ", name, " came back as ", DTypeName(part.dtype()), " ", part.shape().DebugString(),
                         ", which does not fit rows from ", begin, " of ", full->shape().DebugString());
  }
  std::memcpy(full->SliceRows(begin, begin + part.shape().dim(0)).raw_data(), part.raw_data(), part.TotalBytes());
  return OkStatus();
}

}  // namespace

StatusOr<std::map<std::string, Tensor>> PsClient::Pull(const std::vector<std::string>& names) {
  std::vector<ps::PullRequest> bodies(channels_.size());
  // For each task, the (variable, part) behind each name it is asked for.
  std::vector<std::vector<std::pair<const std::string*, const VariablePart*>>> asked(channels_.size());
  for (const std::string& n : names) {
    const auto* parts = placement_.Parts(n);
    if (parts == nullptr) return InvalidArgumentError("variable ", n, " has no PS placement");
    for (const VariablePart& part : *parts) {
      bodies[static_cast<size_t>(part.task)].add_names(part.name);
      asked[static_cast<size_t>(part.task)].emplace_back(&n, &part);
    }
  }
  std::vector<rpc::Message> reqs(channels_.size());
  for (size_t k = 0; k < reqs.size(); ++k) reqs[k].header.set_body(bodies[k].SerializeAsString());
  auto results = Fanout(ps::kPull, std::move(reqs), true);
  std::map<std::string, Tensor> out;
  for (size_t k = 0; k < results.size(); ++k) {
    RETURN_IF_ERROR(results[k].status());
    if (results[k]->tensors.size() != asked[k].size()) {
      return DataLossError("ps task ", k, " answered Pull with ", results[k]->tensors.size(), " tensors for ",
                           asked[k].size(), " names");
    }
    for (size_t i = 0; i < asked[k].size(); ++i) {
      const auto& [name, part] = asked[k][i];
      Tensor& got = results[k]->tensors[i];
      if (part->rows < 0) {
        out[*name] = std::move(got);
        continue;
      }
      auto [it, fresh] = out.try_emplace(*name);
      if (fresh) it->second = Tensor(got.dtype(), placement_.Shape(*name));
      RETURN_IF_ERROR(PlaceRows(*name, got, part->row_begin, &it->second));
    }
  }
  return out;
}

StatusOr<Tensor> PsClient::PullRows(const std::string& name, const Tensor& rows) {
  const auto* parts = placement_.Parts(name);
  if (parts == nullptr) return InvalidArgumentError("variable ", name, " has no PS placement");
  if (rows.dtype() != DType::kInt64 || rows.shape().rank() != 1) {
    return InvalidArgumentError("rows of ", name, " must be an int64 vector");
  }
  std::vector<ps::PullRequest> bodies(channels_.size());
  std::vector<rpc::Message> reqs(channels_.size());
  // For each task, the positions in `rows` each of its row tensors answers.
  std::vector<std::vector<std::vector<int64_t>>> positions(channels_.size());
  const auto ids = rows.flat<int64_t>();
  for (const VariablePart& part : *parts) {
    std::vector<int64_t> local, where;
    for (int64_t i = 0; i < rows.num_elements(); ++i) {
      const int64_t r = ids[static_cast<size_t>(i)];
      if (part.rows < 0 || (r >= part.row_begin && r < part.row_begin + part.rows)) {
        local.push_back(part.rows < 0 ? r : r - part.row_begin);
        where.push_back(i);
      }
    }
    if (local.empty()) continue;
    const size_t k = static_cast<size_t>(part.task);
    bodies[k].add_row_names(part.name);
    reqs[k].tensors.push_back(Tensor::FromVector<int64_t>(local, TensorShape({static_cast<int64_t>(local.size())})));
    positions[k].push_back(std::move(where));
  }
  std::vector<bool> asked(channels_.size());
  for (size_t k = 0; k < reqs.size(); ++k) {
    reqs[k].header.set_body(bodies[k].SerializeAsString());
    asked[k] = bodies[k].row_names_size() > 0;  // only the tasks holding some of the rows
  }
  auto results = Fanout(ps::kPull, std::move(reqs), true, &asked);
  Tensor out;
  int64_t filled = 0;
  for (size_t k = 0; k < results.size(); ++k) {
    RETURN_IF_ERROR(results[k].status());
    if (results[k]->tensors.size() != positions[k].size()) {
      return DataLossError("ps task ", k, " answered a row Pull of ", name, " with ", results[k]->tensors.size(),
                           " tensors for ", positions[k].size());
    }
    for (size_t j = 0; j < positions[k].size(); ++j) {
      const Tensor& got = results[k]->tensors[j];
      if (got.shape().rank() < 1 || got.shape().dim(0) != static_cast<int64_t>(positions[k][j].size())) {
        return DataLossError("ps task ", k, " answered a row Pull of ", name, " with ", got.shape().DebugString(),
                             " for ", positions[k][j].size(), " rows");
      }
      if (!out.initialized()) {
        std::vector<int64_t> dims = got.shape().dims();
        dims[0] = rows.num_elements();
        out = Tensor(got.dtype(), TensorShape(dims));
      }
      const size_t n = positions[k][j].size();
      const size_t row_bytes = out.shape().dim(0) == 0 ? 0 : out.TotalBytes() / static_cast<size_t>(out.shape().dim(0));
      if (got.dtype() != out.dtype() || got.TotalBytes() != n * row_bytes) {
        return DataLossError("ps task ", k, " answered a row Pull of ", name, " with ", DTypeName(got.dtype()), " ",
                             got.shape().DebugString(), ", which does not fit rows of ", out.shape().DebugString());
      }
      // One copy per row, straight into place.
      const char* src = static_cast<const char*>(got.raw_data());
      char* dst = static_cast<char*>(out.raw_data());
      const int64_t* where = positions[k][j].data();
      for (size_t i = 0; i < n; ++i) {
        std::memcpy(dst + static_cast<size_t>(where[i]) * row_bytes, src + i * row_bytes, row_bytes);
      }
      filled += static_cast<int64_t>(n);
    }
  }
  if (filled != rows.num_elements()) {
    return InvalidArgumentError("some rows of ", name, " are out of range [0, ", placement_.Shape(name).dim(0), ")");
  }
  return out;
}

StatusOr<int64_t> PsClient::Push(const std::map<std::string, Tensor>& dense, int64_t step) {
  std::vector<PushItem> items;
  for (const auto& [name, g] : dense) items.push_back({.name = name, .grad = g});
  return PushItems(items, step);
}

StatusOr<int64_t> PsClient::PushItems(const std::vector<PushItem>& grads, int64_t step) {
  std::vector<ps::PushRequest> bodies(channels_.size());
  std::vector<rpc::Message> reqs(channels_.size());
  auto add = [&](const VariablePart& part, Tensor g, Tensor rows) {
    const size_t k = static_cast<size_t>(part.task);
    bodies[k].add_names(part.name);
    bodies[k].add_sparse(rows.initialized());
    reqs[k].tensors.push_back(std::move(g));
    if (rows.initialized()) reqs[k].tensors.push_back(std::move(rows));
  };
  for (const PushItem& item : grads) {
    const auto* parts = placement_.Parts(item.name);
    if (parts == nullptr) return InvalidArgumentError("variable ", item.name, " has no PS placement");
    const bool sparse = item.rows.initialized();
    if (sparse && (item.rows.dtype() != DType::kInt64 || item.rows.shape().rank() != 1 ||
                   item.grad.shape().rank() < 1 || item.grad.shape().dim(0) != item.rows.num_elements())) {
      return InvalidArgumentError("sparse gradient of ", item.name, ": ", item.grad.shape().DebugString(),
                                  " values for ", item.rows.shape().DebugString(), " rows (want int64 [n] and [n,...])");
    }
    for (const VariablePart& part : *parts) {
      if (part.rows < 0) {
        add(part, item.grad, item.rows);
      } else if (!sparse) {
        if (item.grad.shape().rank() < 1 || item.grad.shape().dim(0) != placement_.Shape(item.name).dim(0)) {
          return InvalidArgumentError("gradient of ", item.name, " is ", item.grad.shape().DebugString(), ", not ",
                                      placement_.Shape(item.name).DebugString());
        }
        add(part, item.grad.SliceRows(part.row_begin, part.row_begin + part.rows), Tensor());
      } else {
        // The rows of this part, renumbered from its first row.
        std::vector<int64_t> local, where;
        const auto ids = item.rows.flat<int64_t>();
        for (int64_t i = 0; i < item.rows.num_elements(); ++i) {
          const int64_t r = ids[static_cast<size_t>(i)];
          if (r >= part.row_begin && r < part.row_begin + part.rows) {
            local.push_back(r - part.row_begin);
            where.push_back(i);
          }
        }
        if (local.empty()) continue;
        std::vector<int64_t> dims = item.grad.shape().dims();
        dims[0] = static_cast<int64_t>(local.size());
        Tensor values(item.grad.dtype(), TensorShape(dims));
        // One copy per row (the shapes were checked above).
        const size_t row_bytes = item.grad.TotalBytes() / static_cast<size_t>(item.rows.num_elements());
        const char* src = static_cast<const char*>(item.grad.raw_data());
        char* dst = static_cast<char*>(values.raw_data());
        for (size_t i = 0; i < where.size(); ++i) {
          std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(where[i]) * row_bytes, row_bytes);
        }
        add(part, values, Tensor::FromVector<int64_t>(local, TensorShape({dims[0]})));
      }
    }
  }
  for (size_t k = 0; k < reqs.size(); ++k) {
    bodies[k].set_step(step);
    bodies[k].set_increment_global_step(k == 0);
    reqs[k].header.set_body(bodies[k].SerializeAsString());
  }
  auto results = Fanout(ps::kPush, std::move(reqs), false);
  int64_t gs = -1;
  for (size_t k = 0; k < results.size(); ++k) {
    RETURN_IF_ERROR(results[k].status());
    if (k == 0) {
      ASSIGN_OR_RETURN(auto r, ps::ParseBody<ps::PushResponse>(*results[k]));
      gs = r.global_step();
      if (r.stop_requested()) stop_requested_ = true;
    }
  }
  return gs;
}

StatusOr<std::vector<BundleEntries>> PsClient::Save(const std::string& prefix) {
  std::vector<rpc::Message> reqs(channels_.size());
  for (size_t k = 0; k < reqs.size(); ++k) {
    ps::SaveRequest b;
    b.set_prefix(prefix);
    b.set_shard_id(static_cast<int>(k));
    b.set_num_shards(num_ps());
    reqs[k].header.set_body(b.SerializeAsString());
  }
  std::vector<BundleEntries> out;
  for (auto& r : Fanout(ps::kSave, std::move(reqs), true)) {
    RETURN_IF_ERROR(r.status());
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::SaveResponse>(*r));
    BundleEntries e;
    for (int i = 0; i < body.keys_size(); ++i) e[body.keys(i)] = body.entries(i);
    out.push_back(std::move(e));
  }
  return out;
}

Status PsClient::Restore(const std::string& prefix) {
  std::vector<rpc::Message> reqs(channels_.size());
  ps::RestoreRequest b;
  b.set_prefix(prefix);
  for (auto& r : reqs) r.header.set_body(b.SerializeAsString());
  for (auto& r : Fanout(ps::kRestore, std::move(reqs), true)) RETURN_IF_ERROR(r.status());
  return OkStatus();
}

StatusOr<std::vector<std::map<std::string, VariableStats>>> PsClient::Counters() {
  std::vector<std::map<std::string, VariableStats>> out;
  for (auto& r : Fanout(ps::kStatus, std::vector<rpc::Message>(channels_.size()), true)) {
    RETURN_IF_ERROR(r.status());
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::StatusResponse>(*r));
    std::map<std::string, VariableStats>& m = out.emplace_back();
    for (const auto& c : body.counters()) m[c.name()] = {c.pulls(), c.pushes(), c.bytes_out(), c.bytes_in()};
  }
  return out;
}

StatusOr<int64_t> PsClient::GlobalStep() {
  auto r = channels_[0]->Call(ps::kStatus, rpc::Message{},
                              {.timeout_ms = timeout_ms_, .idempotent = true, .max_attempts = max_attempts_});
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::StatusResponse>(*r));
  if (body.stop_requested()) stop_requested_ = true;
  return body.global_step();
}

StatusOr<int64_t> PsClient::WaitForStep(int64_t after_step, int64_t timeout_ms) {
  ps::WaitForStepRequest body;
  body.set_after_step(after_step);
  body.set_timeout_ms(timeout_ms);
  rpc::Message req;
  req.header.set_body(body.SerializeAsString());
  // The answer comes by timeout_ms; the call's own deadline leaves room.
  auto r = channels_[0]->Call(ps::kWaitForStep, std::move(req),
                              {.timeout_ms = timeout_ms + timeout_ms_, .idempotent = true, .max_attempts = max_attempts_});
  RETURN_IF_ERROR(r.status());
  ASSIGN_OR_RETURN(auto answer, ps::ParseBody<ps::PushResponse>(*r));
  if (answer.stop_requested()) stop_requested_ = true;
  return answer.global_step();
}

Status PsClient::RequestStop() {
  return channels_[0]
      ->Call(ps::kRequestStop, rpc::Message{}, {.timeout_ms = timeout_ms_, .idempotent = true, .max_attempts = max_attempts_})
      .status();
}

StatusOr<bool> PsClient::Initialized() {
  auto results = Fanout(ps::kStatus, std::vector<rpc::Message>(channels_.size()), true);
  for (auto& r : results) {
    RETURN_IF_ERROR(r.status());
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::StatusResponse>(*r));
    if (!body.initialized()) return false;
  }
  return true;
}

StatusOr<bool> PsClient::WaitForReady(int64_t timeout_ms) {
  ps::WaitForStepRequest body;
  body.set_until_ready(true);
  body.set_timeout_ms(timeout_ms);
  std::vector<rpc::Message> reqs(channels_.size());
  for (auto& r : reqs) r.header.set_body(body.SerializeAsString());
  // Each answer comes by timeout_ms; the calls' own deadline leaves room.
  bool all = true;
  for (auto& r : Fanout(ps::kWaitForStep, std::move(reqs), true, nullptr, timeout_ms + timeout_ms_)) {
    RETURN_IF_ERROR(r.status());
    ASSIGN_OR_RETURN(auto answer, ps::ParseBody<ps::PushResponse>(*r));
    if (answer.stop_requested()) stop_requested_ = true;
    all = all && answer.ready();
  }
  return all;
}

Status PsClient::MarkReady() {
  for (auto& r : Fanout(ps::kSetReady, std::vector<rpc::Message>(channels_.size()), true)) RETURN_IF_ERROR(r.status());
  return OkStatus();
}

}  // namespace psflow
