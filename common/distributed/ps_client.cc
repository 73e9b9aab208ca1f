#include "common/distributed/ps_client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <set>
#include <thread>

#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/proto/ps.pb.h"

namespace psflow {

PsClient::PsClient(std::vector<std::unique_ptr<rpc::Channel>> channels, Placement placement, int64_t timeout_ms,
                   int max_attempts)
    : channels_(std::move(channels)), placement_(std::move(placement)), timeout_ms_(timeout_ms), max_attempts_(max_attempts) {}

std::vector<StatusOr<rpc::Message>> PsClient::Fanout(const std::string& method, std::vector<rpc::Message> requests,
                                                     bool idempotent, const std::vector<bool>* only, int64_t timeout_ms,
                                                     bool wait_unavailable) {
  if (timeout_ms < 0) timeout_ms = timeout_ms_;
  const int64_t wait_ms = wait_unavailable ? unavailable_wait_ms_.load() : 0;
  std::vector<bool> send(channels_.size());
  for (size_t k = 0; k < send.size(); ++k) send[k] = only == nullptr || (*only)[k];
  std::vector<StatusOr<rpc::Message>> out(channels_.size(), rpc::Message{});  // tasks not asked: empty answers
  const auto start = std::chrono::steady_clock::now();
  auto last_said = start;
  while (true) {
    std::vector<std::promise<StatusOr<rpc::Message>>> promises(channels_.size());
    std::vector<std::future<StatusOr<rpc::Message>>> futures;
    for (auto& p : promises) futures.push_back(p.get_future());  // before any answer can come
    for (size_t k = 0; k < channels_.size(); ++k) {
      if (!send[k]) continue;
      // A copy when the call may be sent again (tensors share their buffers).
      rpc::Message req = wait_ms > 0 ? requests[k] : std::move(requests[k]);
      channels_[k]->CallAsync(method, std::move(req),
                              {.timeout_ms = timeout_ms, .idempotent = idempotent, .max_attempts = max_attempts_},
                              [&promises, k](StatusOr<rpc::Message> r) { promises[k].set_value(std::move(r)); });
    }
    for (size_t k = 0; k < channels_.size(); ++k) {
      if (send[k]) out[k] = futures[k].get();
    }
    if (wait_ms <= 0) return out;
    // PS tasks that are down or restarting: wait for them (bounded, logged),
    // then send them the same requests again (a push keeps its push_id).
    std::vector<size_t> down;
    for (size_t k = 0; k < out.size(); ++k) {
      send[k] = send[k] && !out[k].ok() && IsUnavailableError(out[k].status());
      if (send[k]) down.push_back(k);
    }
    const auto now = std::chrono::steady_clock::now();
    const int64_t waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count();
    if (down.empty() || waited >= wait_ms || (stop_ != nullptr && stop_->load())) return out;
    if (waited < 1000 || now - last_said >= std::chrono::seconds(10)) {
      last_said = now;
      for (size_t k : down) {
        LOG(WARNING) << method << ": ps:" << k << " is unavailable (" << out[k].status().message() << "); waiting for it"
                     << " (" << waited / 1000 << " s so far, at most " << wait_ms / 1000 << " s)";
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

Status PsClient::Initialize(const std::map<std::string, Tensor>& values,
                            const std::map<std::string, DynamicTableInit>& tables) {
  Status error;
  std::vector<rpc::Message> reqs = InitializeRequests(values, tables, &error);
  RETURN_IF_ERROR(error);
  for (auto& r : Fanout(ps::kInitialize, std::move(reqs), false)) RETURN_IF_ERROR(r.status());
  return OkStatus();
}

Status PsClient::RecoverTask(int task, const std::map<std::string, Tensor>& values,
                             const std::map<std::string, DynamicTableInit>& tables, const std::string& prefix) {
  if (task < 0 || task >= num_ps()) return InvalidArgumentError("RecoverTask: no PS task ", task);
  Status error;
  std::vector<rpc::Message> reqs = InitializeRequests(values, tables, &error);
  RETURN_IF_ERROR(error);
  ps::InitializeRequest body;
  if (!body.ParseFromString(reqs[static_cast<size_t>(task)].header.body())) return InternalError("RecoverTask: bad body");
  body.set_restore_prefix(prefix);  // empty: the initial values (no checkpoint yet)
  body.set_num_tasks(num_ps());
  reqs[static_cast<size_t>(task)].header.set_body(body.SerializeAsString());
  std::vector<bool> only(channels_.size());
  only[static_cast<size_t>(task)] = true;
  auto results = Fanout(ps::kInitialize, std::move(reqs), false, &only, -1, /*wait_unavailable=*/false);
  return results[static_cast<size_t>(task)].status();
}

std::vector<int> PsClient::TaskStates(int64_t timeout_ms) {
  std::vector<int> out;
  for (auto& r : Fanout(ps::kStatus, std::vector<rpc::Message>(channels_.size()), false, nullptr, timeout_ms, false)) {
    if (!r.ok()) {
      out.push_back(-1);
      continue;
    }
    auto body = ps::ParseBody<ps::StatusResponse>(*r);
    out.push_back(body.ok() ? (body->initialized() ? 1 : 0) : -1);
  }
  return out;
}

std::vector<rpc::Message> PsClient::InitializeRequests(const std::map<std::string, Tensor>& values,
                                                       const std::map<std::string, DynamicTableInit>& tables,
                                                       Status* error) {
  std::vector<ps::InitializeRequest> bodies(channels_.size());
  std::vector<rpc::Message> reqs(channels_.size());
  auto fail = [&](Status s) {
    *error = std::move(s);
    return std::vector<rpc::Message>();
  };
  for (const auto& [name, t] : values) {
    const auto* parts = placement_.Parts(name);
    if (parts == nullptr) return fail(InvalidArgumentError("variable ", name, " has no PS placement"));
    auto table = tables.find(name);
    if (placement_.Dynamic(name) != (table != tables.end())) {
      return fail(InvalidArgumentError("variable ", name, placement_.Dynamic(name)
                                                              ? " is placed as a dynamic table but has no table options"
                                                              : " has table options but a fixed shape"));
    }
    if (table != tables.end()) {
      const DynamicTableInit& o = table->second;
      const int64_t tasks = num_ps();
      for (const VariablePart& part : *parts) {
        const size_t k = static_cast<size_t>(part.task);
        bodies[k].add_names(part.name);
        reqs[k].tensors.push_back(t);
        ps::DynamicTableConfig* c = bodies[k].add_dynamic();
        c->set_name(part.name);
        c->set_dim(o.dim);
        c->set_zeros_init(o.zeros_init);
        c->set_stddev(o.stddev);
        c->set_seed(o.seed);
        c->set_filter_freq(o.filter_freq);
        c->set_steps_to_live(o.steps_to_live);
        c->set_max_rows(o.max_rows == 0 ? 0 : (o.max_rows + tasks - 1) / tasks);  // ids spread evenly by hash
        c->set_evict_when_full(o.evict_when_full);
      }
      continue;
    }
    for (const VariablePart& part : *parts) {
      const size_t k = static_cast<size_t>(part.task);
      bodies[k].add_names(part.name);
      if (part.rows < 0) {
        reqs[k].tensors.push_back(t);
        continue;
      }
      if (!(t.shape() == placement_.Shape(name))) {
        return fail(InvalidArgumentError("variable ", name, " is ", t.shape().DebugString(), " but was partitioned as ",
                                         placement_.Shape(name).DebugString()));
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
  return reqs;
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

// Ids of a dynamic table by the PS task holding them: per task, the ids
// and their positions in `ids`.
struct IdsByTask {
  std::vector<std::vector<int64_t>> ids, where;
};
IdsByTask SplitByTask(const Tensor& ids, int tasks) {
  IdsByTask out{std::vector<std::vector<int64_t>>(static_cast<size_t>(tasks)),
                std::vector<std::vector<int64_t>>(static_cast<size_t>(tasks))};
  const auto v = ids.flat<int64_t>();
  for (int64_t i = 0, end = ids.num_elements(); i < end; ++i) {
    const size_t k = static_cast<size_t>(DynamicRowTask(v[static_cast<size_t>(i)], tasks));
    out.ids[k].push_back(v[static_cast<size_t>(i)]);
    out.where[k].push_back(i);
  }
  return out;
}

// The rows `where` of t [n, ...], in that order (one copy per row).
Tensor GatherRows(const Tensor& t, const std::vector<int64_t>& where) {
  std::vector<int64_t> dims = t.shape().dims();
  const size_t row_bytes = dims[0] == 0 ? 0 : t.TotalBytes() / static_cast<size_t>(dims[0]);
  dims[0] = static_cast<int64_t>(where.size());
  Tensor out(t.dtype(), TensorShape(dims));
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < where.size(); ++i) {
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(where[i]) * row_bytes, row_bytes);
  }
  return out;
}

}  // namespace

StatusOr<std::map<std::string, Tensor>> PsClient::Pull(const std::vector<std::string>& names) {
  ASSIGN_OR_RETURN(PullResult r, PullAll(names, {}));
  return std::move(r.whole);
}

StatusOr<Tensor> PsClient::PullRows(const std::string& name, const Tensor& rows) {
  ASSIGN_OR_RETURN(PullResult r, PullAll({}, {{.name = name, .rows = rows}}));
  return std::move(r.rows[0]);
}

StatusOr<PsClient::PullResult> PsClient::PullAll(const std::vector<std::string>& names,
                                                 const std::vector<RowPull>& row_pulls, int64_t step) {
  const size_t tasks = channels_.size();
  std::vector<ps::PullRequest> bodies(tasks);
  std::vector<rpc::Message> reqs(tasks);
  // For each task, the (variable, part) behind each whole tensor it is asked
  // for, then (row pull, positions in its rows) behind each row tensor.
  std::vector<std::vector<std::pair<const std::string*, const VariablePart*>>> asked(tasks);
  struct RowAnswer {
    size_t pull;
    std::vector<int64_t> where;
  };
  std::vector<std::vector<RowAnswer>> row_asked(tasks);
  for (const std::string& n : names) {
    const auto* parts = placement_.Parts(n);
    if (parts == nullptr) return InvalidArgumentError("variable ", n, " has no PS placement");
    if (placement_.Dynamic(n)) {
      return InvalidArgumentError("dynamic embedding table ", n, " has no fixed rows to pull whole; pull rows by id");
    }
    for (const VariablePart& part : *parts) {
      bodies[static_cast<size_t>(part.task)].add_names(part.name);
      asked[static_cast<size_t>(part.task)].emplace_back(&n, &part);
    }
  }
  PullResult out;
  out.rows.resize(row_pulls.size());
  bool counted_any = false;  // a training pull counts ids: sent once, never retried
  for (size_t p = 0; p < row_pulls.size(); ++p) {
    const RowPull& rp = row_pulls[p];
    const auto* parts = placement_.Parts(rp.name);
    if (parts == nullptr) return InvalidArgumentError("variable ", rp.name, " has no PS placement");
    if (rp.rows.dtype() != DType::kInt64 || rp.rows.shape().rank() != 1) {
      return InvalidArgumentError("rows of ", rp.name, " must be an int64 vector");
    }
    if (placement_.Dynamic(rp.name)) {
      const bool counted = rp.counts.initialized();
      counted_any = counted_any || counted;
      if (counted && (rp.counts.dtype() != DType::kInt64 || rp.counts.num_elements() != rp.rows.num_elements())) {
        return InvalidArgumentError("counts of ", rp.name, " must be int64, one per id");
      }
      std::vector<int64_t> dims = placement_.Shape(rp.name).dims();
      dims[0] = rp.rows.num_elements();
      out.rows[p] = Tensor(DType::kFloat, TensorShape(dims));
      IdsByTask split = SplitByTask(rp.rows, num_ps());
      for (size_t k = 0; k < split.ids.size(); ++k) {
        if (split.ids[k].empty()) continue;
        const int64_t n = static_cast<int64_t>(split.ids[k].size());
        bodies[k].add_row_names(rp.name);
        bodies[k].add_counted(counted);
        reqs[k].tensors.push_back(Tensor::FromVector<int64_t>(split.ids[k], TensorShape({n})));
        if (counted) reqs[k].tensors.push_back(GatherRows(rp.counts, split.where[k]));
        row_asked[k].push_back({p, std::move(split.where[k])});
      }
      continue;
    }
    const int64_t limit = placement_.Shape(rp.name).dim(0);
    const auto ids = rp.rows.flat<int64_t>();
    for (int64_t i = 0, end = rp.rows.num_elements(); i < end; ++i) {
      const int64_t r = ids[static_cast<size_t>(i)];
      if (r < 0 || r >= limit) {
        return InvalidArgumentError("row ", r, " of ", rp.name, " is out of range [0, ", limit,
                                    "); are the ids of the lookup bigger than the table?");
      }
    }
    bool sent = false;
    for (const VariablePart& part : *parts) {
      std::vector<int64_t> local, where;
      for (int64_t i = 0, end = rp.rows.num_elements(); i < end; ++i) {
        const int64_t r = ids[static_cast<size_t>(i)];
        if (part.rows < 0 || (r >= part.row_begin && r < part.row_begin + part.rows)) {
          local.push_back(part.rows < 0 ? r : r - part.row_begin);
          where.push_back(i);
        }
      }
      // No rows at all: the last part still answers, with [0, row...] of its dtype.
      if (local.empty() && (sent || &part != &parts->back())) continue;
      sent = true;
      const size_t k = static_cast<size_t>(part.task);
      bodies[k].add_row_names(part.name);
      bodies[k].add_counted(false);
      reqs[k].tensors.push_back(Tensor::FromVector<int64_t>(local, TensorShape({static_cast<int64_t>(local.size())})));
      row_asked[k].push_back({p, std::move(where)});
    }
  }
  std::vector<bool> only(tasks);
  for (size_t k = 0; k < tasks; ++k) {
    bodies[k].set_step(step);
    reqs[k].header.set_body(bodies[k].SerializeAsString());
    only[k] = bodies[k].names_size() > 0 || bodies[k].row_names_size() > 0;  // only the tasks holding something
  }
  auto results = Fanout(ps::kPull, std::move(reqs), !counted_any, &only);
  for (size_t k = 0; k < tasks; ++k) {
    if (!only[k]) continue;
    RETURN_IF_ERROR(results[k].status());
    std::vector<Tensor>& got = results[k]->tensors;
    if (got.size() != asked[k].size() + row_asked[k].size()) {
      return DataLossError("ps task ", k, " answered Pull with ", got.size(), " tensors for ", asked[k].size(),
                           " names and ", row_asked[k].size(), " row pulls");
    }
    for (const Tensor& t : got) out.bytes += static_cast<int64_t>(t.TotalBytes());
    for (size_t i = 0; i < asked[k].size(); ++i) {
      const auto& [name, part] = asked[k][i];
      if (part->rows < 0) {
        out.whole[*name] = std::move(got[i]);
        continue;
      }
      auto [it, fresh] = out.whole.try_emplace(*name);
      if (fresh) it->second = Tensor(got[i].dtype(), placement_.Shape(*name));
      RETURN_IF_ERROR(PlaceRows(*name, got[i], part->row_begin, &it->second));
    }
    for (size_t j = 0; j < row_asked[k].size(); ++j) {
      const RowAnswer& a = row_asked[k][j];
      const std::string& name = row_pulls[a.pull].name;
      const Tensor& part = got[asked[k].size() + j];
      const size_t n = a.where.size();
      if (part.shape().rank() < 1 || part.shape().dim(0) != static_cast<int64_t>(n)) {
        return DataLossError("ps task ", k, " answered a row Pull of ", name, " with ", part.shape().DebugString(),
                             " for ", n, " rows");
      }
      Tensor& dst_t = out.rows[a.pull];
      if (!dst_t.initialized()) {
        std::vector<int64_t> dims = part.shape().dims();
        dims[0] = row_pulls[a.pull].rows.num_elements();
        dst_t = Tensor(part.dtype(), TensorShape(dims));
      }
      const size_t row_bytes = n == 0 ? 0 : part.TotalBytes() / n;
      if (part.dtype() != dst_t.dtype() || row_bytes * static_cast<size_t>(dst_t.shape().dim(0)) != dst_t.TotalBytes()) {
        return DataLossError("ps task ", k, " answered a row Pull of ", name, " with ", DTypeName(part.dtype()), " ",
                             part.shape().DebugString(), ", which does not fit rows of ", dst_t.shape().DebugString());
      }
      // One copy per row, straight into place.
      const char* src = static_cast<const char*>(part.raw_data());
      char* dst = static_cast<char*>(dst_t.raw_data());
      for (size_t i = 0; i < n; ++i) {
        std::memcpy(dst + static_cast<size_t>(a.where[i]) * row_bytes, src + i * row_bytes, row_bytes);
      }
    }
  }
  return out;
}

StatusOr<int64_t> PsClient::Push(const std::map<std::string, Tensor>& dense, int64_t step) {
  std::vector<PushItem> items;
  for (const auto& [name, g] : dense) items.push_back({.name = name, .grad = g});
  return PushItems(items, step);
}

StatusOr<int64_t> PsClient::PushItems(const std::vector<PushItem>& grads, int64_t step, int64_t* bytes_sent) {
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
    if (placement_.Dynamic(item.name)) {
      if (!sparse) return InvalidArgumentError("dynamic embedding table ", item.name, " takes row-sparse gradients by id only");
      // Each task gets the rows of the ids it holds.
      IdsByTask split = SplitByTask(item.rows, num_ps());
      for (size_t k = 0; k < split.ids.size(); ++k) {
        if (split.ids[k].empty()) continue;
        const int64_t n = static_cast<int64_t>(split.ids[k].size());
        add((*parts)[k], GatherRows(item.grad, split.where[k]), Tensor::FromVector<int64_t>(split.ids[k], TensorShape({n})));
      }
      continue;
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
        for (int64_t i = 0, end = item.rows.num_elements(); i < end; ++i) {
          const int64_t r = ids[static_cast<size_t>(i)];
          if (r >= part.row_begin && r < part.row_begin + part.rows) {
            local.push_back(r - part.row_begin);
            where.push_back(i);
          }
        }
        // A part without rows still gets its (empty) gradient: TensorFlow
        // applies every part's IndexedSlices (Adam's decays every row).
        const int64_t n = static_cast<int64_t>(local.size());
        add(part, GatherRows(item.grad, where), Tensor::FromVector<int64_t>(local, TensorShape({n})));
      }
    }
  }
  if (bytes_sent != nullptr) {
    *bytes_sent = 0;
    for (const rpc::Message& r : reqs) {
      for (const Tensor& t : r.tensors) *bytes_sent += static_cast<int64_t>(t.TotalBytes());
    }
  }
  // One id for every task's part: each PS task applies it once, so the
  // push may be retried when a connection breaks under it.
  const uint64_t push_id = next_push_id_++;
  for (size_t k = 0; k < reqs.size(); ++k) {
    bodies[k].set_step(step);
    bodies[k].set_increment_global_step(k == 0);
    bodies[k].set_push_id(push_id);
    reqs[k].header.set_body(bodies[k].SerializeAsString());
  }
  auto results = Fanout(ps::kPush, std::move(reqs), /*idempotent=*/true);
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
  std::set<std::string> stacked;
  for (auto& r : Fanout(ps::kSave, std::move(reqs), true)) {
    RETURN_IF_ERROR(r.status());
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::SaveResponse>(*r));
    if (body.keys_size() != body.entries_size()) {
      return DataLossError("ps task ", out.size(), " answered Save with ", body.keys_size(), " keys for ",
                           body.entries_size(), " entries");
    }
    BundleEntries e;
    for (int i = 0; i < body.keys_size(); ++i) e[body.keys(i)] = body.entries(i);
    stacked.insert(body.stacked().begin(), body.stacked().end());
    out.push_back(std::move(e));
  }
  for (const std::string& key : stacked) RETURN_IF_ERROR(StackRowsAcrossShards(&out, key).WithContext("saving ", prefix));
  return out;
}

Status PsClient::Restore(const std::string& prefix) {
  std::vector<rpc::Message> reqs(channels_.size());
  ps::RestoreRequest b;
  b.set_prefix(prefix);
  b.set_num_tasks(num_ps());
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

StatusOr<std::map<std::string, DynamicTableStats>> PsClient::TableCounters() {
  std::map<std::string, DynamicTableStats> out;
  for (auto& r : Fanout(ps::kStatus, std::vector<rpc::Message>(channels_.size()), true)) {
    RETURN_IF_ERROR(r.status());
    ASSIGN_OR_RETURN(auto body, ps::ParseBody<ps::StatusResponse>(*r));
    for (const auto& t : body.tables()) {
      out[t.name()] += {.rows = t.rows(), .bytes = t.bytes(), .candidates = t.candidates(), .hits = t.hits(),
                        .filtered = t.filtered(), .admissions = t.admissions(), .evictions = t.evictions(),
                        .dropped_updates = t.dropped_updates()};
    }
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
  // Its callers loop (bounded, logged): a task not up yet is not waited for here.
  for (auto& r : Fanout(ps::kWaitForStep, std::move(reqs), true, nullptr, timeout_ms + timeout_ms_,
                        /*wait_unavailable=*/false)) {
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
