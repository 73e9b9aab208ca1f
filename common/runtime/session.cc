#include "common/runtime/session.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <utility>

#include "common/core/logging.h"
#include "common/core/strcat.h"
#include "common/gpu/gpu_device.h"
#include "common/graph/op_registry.h"
#include "common/ops/cpu_simd.h"
#include "common/ops/eigen_cpu.h"
#include "common/ops/fused_kernels.h"
#include "common/ops/onednn.h"
#include "common/ops/ops.h"

namespace psflow {

int64_t TraceNowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string ChromeTraceJson(const std::vector<TraceEvent>& events, const std::string& process_name) {
  std::string json = "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n";
  json += StrCat("  {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"args\": {\"name\": ", JsonQuote(process_name), "}}");
  const int64_t base = events.empty() ? 0 : events.front().start_us;
  for (const TraceEvent& e : events) {
    json += StrCat(",\n  {\"name\": ", JsonQuote(e.name), ", \"cat\": ", JsonQuote(e.category), ", \"ph\": \"X\", \"ts\": ",
                   e.start_us - base, ", \"dur\": ", e.duration_us, ", \"pid\": 1, \"tid\": ", e.category == "rpc" ? 2 : 1,
                   "}");
  }
  return json + "\n]}\n";
}
namespace {

int64_t Key(const Output& o) { return (static_cast<int64_t>(o.node->id()) << 16) | o.index; }

}  // namespace

struct Session::Plan {
  struct Step {
    const Node* node;
    const KernelFn* kernel;
    std::vector<int> input_slots;
    std::vector<bool> ref_input;
    int first_output_slot;
    bool stateful;
    bool on_gpu;  // a GPU session runs this step's kernel on its device
    // A fusion (fused_kernels.h): the step runs `node` (the MatMul or
    // Conv2D) with the bias as a third input and writes the output of
    // `tail` (the BiasAdd or Relu), named in traces and errors.
    const Node* tail = nullptr;
    std::vector<const Node*> producers;  // of each input, for errors
    // Slots no later step reads and no fetch names: dropped once this step
    // is done, so their buffers go back to the pool while they are still
    // in cache, and a step's peak memory is its live tensors only.
    std::vector<int> release;
  };
  std::vector<Step> steps;
  std::vector<int> feed_slots;   // in feed order
  std::vector<int> fetch_slots;  // in fetch order
  int num_slots = 0;
};

Session::Session(const Graph* graph, SessionOptions options)
    : graph_(graph),
      gpu_(options.gpu),
      log_device_placement_(options.log_device_placement),
      cpu_(EigenCpu::Shared(options.intra_op_threads)) {
  RegisterStandardOps();
  static std::once_flag logged;
  std::call_once(logged, [this] {
    LOG(INFO) << "CPU kernels: MatMul and Conv2D through " << onednn::Describe() << "; elementwise, pooling and "
              << "optimizer loops for " << simd::Get().isa << "; " << cpu_->num_threads() << " intra-op threads";
  });
  if (options.variables != nullptr) {
    variables_ = options.variables;
  } else {
    owned_variables_ = std::make_unique<LocalVariableStore>();
    variables_ = owned_variables_.get();
  }
}

Session::~Session() = default;

StatusOr<std::shared_ptr<const Session::Plan>> Session::GetPlan(
    const FeedList& feeds, const std::vector<Output>& fetches, const std::vector<Node*>& targets) {
  std::string key;
  for (const auto& [o, t] : feeds) key += o.name() + ",";
  key += "|";
  for (const Output& o : fetches) key += o.name() + ",";
  key += "|";
  for (const Node* n : targets) key += n->name() + ",";
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
  }

  std::set<int64_t> fed;
  for (const auto& [o, t] : feeds) fed.insert(Key(o));
  // Depth-first post-order over the nodes the fetches and targets need; a
  // fed tensor cuts the edge to its producer.
  std::vector<const Node*> order;
  std::vector<char> state(static_cast<size_t>(graph_->num_nodes()), 0);  // 0 new, 1 open, 2 done
  std::vector<std::pair<const Node*, size_t>> stack;
  auto visit = [&](const Node* root) -> Status {
    if (state[static_cast<size_t>(root->id())] == 2) return OkStatus();
    stack.emplace_back(root, 0);
    state[static_cast<size_t>(root->id())] = 1;
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      const size_t n_in = n->inputs().size(), n_all = n_in + n->control_inputs().size();
      if (next < n_all) {
        const Node* dep;
        if (next < n_in) {
          const Output& in = n->inputs()[next];
          ++next;
          if (fed.count(Key(in))) continue;
          dep = in.node;
        } else {
          dep = n->control_inputs()[next - n_in];
          ++next;
        }
        const char st = state[static_cast<size_t>(dep->id())];
        if (st == 1) return InvalidArgumentError("graph has a cycle through node ", dep->name());
        if (st == 0) {
          state[static_cast<size_t>(dep->id())] = 1;
          stack.emplace_back(dep, 0);
        }
        continue;
      }
      state[static_cast<size_t>(n->id())] = 2;
      order.push_back(n);
      stack.pop_back();
    }
    return OkStatus();
  };
  for (const Output& o : fetches) {
    if (!o.valid() || o.node->graph() != graph_) {
      return InvalidArgumentError("a fetch is not a tensor of this session's graph");
    }
    if (!fed.count(Key(o))) RETURN_IF_ERROR(visit(o.node));
  }
  for (const Node* n : targets) {
    if (n == nullptr || n->graph() != graph_) {
      return InvalidArgumentError("a target is not an operation of this session's graph");
    }
    RETURN_IF_ERROR(visit(n));
  }

  // Fusions (CPU sessions, float): MatMul or Conv2D -> BiasAdd (-> Relu),
  // each link's output read by the next only (not fetched, not fed, no
  // other reader).  The gradients never read those outputs (ReluGrad reads
  // Relu's), so training steps fuse too.
  std::map<int64_t, int> readers;
  std::set<const Node*> awaited;  // control inputs of a planned node: they keep their own step
  for (const Node* n : order) {
    for (const Output& in : n->inputs()) ++readers[Key(in)];
    for (const Node* c : n->control_inputs()) awaited.insert(c);
  }
  for (const Output& o : fetches) readers[Key(o)] += 2;  // never fused away
  for (const Node* t : targets) awaited.insert(t);
  auto only_link = [&](const Output& o, const char* type) {
    return o.node->type() == type && o.dtype() == DType::kFloat && readers[Key(o)] == 1 && !fed.count(Key(o)) &&
           !awaited.count(o.node);
  };
  struct Fusion {
    const Node* head;  // MatMul / Conv2D
    const Node* bias_add;
    bool relu;
  };
  std::map<const Node*, Fusion> fused_at;  // by the chain's last node
  std::set<const Node*> fused_away;        // the chain's other nodes
  if (gpu_ == nullptr && onednn::Enabled()) {
    auto head_of = [&](const Node* bias_add) -> const Node* {
      const Output x = bias_add->inputs()[0];
      if (only_link(x, "MatMul") || only_link(x, "Conv2D")) return x.node;
      return nullptr;
    };
    for (const Node* n : order) {
      if (n->type() == "Relu" && only_link(n->inputs()[0], "BiasAdd") && !fused_away.count(n->inputs()[0].node)) {
        const Node* b = n->inputs()[0].node;
        if (const Node* h = head_of(b)) {
          fused_at[n] = {h, b, true};
          fused_away.insert({h, b});
        }
      }
    }
    for (const Node* n : order) {
      if (n->type() == "BiasAdd" && n->output_dtype(0) == DType::kFloat && !fused_away.count(n) && !fused_at.count(n)) {
        if (const Node* h = head_of(n); h != nullptr && !fused_away.count(h)) {
          fused_at[n] = {h, n, false};
          fused_away.insert(h);
        }
      }
    }
  }

  auto plan = std::make_shared<Plan>();
  std::map<int64_t, int> slot;
  auto slot_of = [&](const Output& o) {
    auto [it, inserted] = slot.emplace(Key(o), plan->num_slots);
    if (inserted) ++plan->num_slots;
    return it->second;
  };
  for (const auto& [o, t] : feeds) plan->feed_slots.push_back(slot_of(o));
  const std::string gpu_name = gpu_ == nullptr ? "" : gpu_->Description().substr(0, gpu_->Description().find(' '));
  for (const Node* n : order) {
    if (fused_away.count(n)) continue;
    if (auto f = fused_at.find(n); f != fused_at.end()) {
      const Fusion& fu = f->second;
      const OpDef* def = OpRegistry::Global()->Lookup(fu.head->type());
      if (log_device_placement_) {
        LOG(INFO) << n->name() << " (" << fu.head->type() << "+BiasAdd" << (fu.relu ? "+Relu" : "") << ", fused from "
                  << fu.head->name() << "): cpu";
      }
      Plan::Step step{fu.head, fu.head->type() == "MatMul" ? &FusedMatMulKernel(fu.relu) : &FusedConv2DKernel(fu.relu),
                      {}, {}, 0, def->stateful, false};
      step.tail = n;
      for (const Output& in : {fu.head->inputs()[0], fu.head->inputs()[1], fu.bias_add->inputs()[1]}) {
        step.input_slots.push_back(slot_of(in));
        step.ref_input.push_back(false);
        step.producers.push_back(in.node);
      }
      step.first_output_slot = plan->num_slots;
      const Output o{const_cast<Node*>(n), 0};
      if (!fed.count(Key(o))) slot[Key(o)] = plan->num_slots;
      plan->num_slots += 1;
      plan->steps.push_back(std::move(step));
      continue;
    }
    const KernelFn* k = nullptr;
    bool on_gpu = false;
    if (gpu_ != nullptr) {
      // Strings never live on a GPU: ops that touch them stay on the CPU.
      bool strings = false;
      for (const Output& in : n->inputs()) strings |= in.dtype() == DType::kString;
      for (int i = 0; i < n->num_outputs(); ++i) strings |= n->output_dtype(i) == DType::kString;
      k = strings ? nullptr : gpu_->kernels().Lookup(n->type(), DeviceKind::kGPU);
      on_gpu = k != nullptr;
      if (k == nullptr) {
        static std::mutex logged_mu;
        static std::set<std::string> logged;
        std::lock_guard<std::mutex> l(logged_mu);
        if (logged.insert(n->type()).second) {
          LOG(WARNING) << "op " << n->type() << " (node " << n->name() << ") has no GPU kernel" << (strings ? " for strings" : "")
                       << "; it runs on the CPU, with its inputs and outputs copied";
        }
      }
    }
    if (k == nullptr) k = KernelRegistry::Global()->Lookup(n->type(), DeviceKind::kCPU);
    if (k == nullptr) {
      return UnimplementedError("no CPU kernel for op ", n->type(), " (node ", n->name(), ")");
    }
    const OpDef* def = OpRegistry::Global()->Lookup(n->type());
    if (log_device_placement_) LOG(INFO) << n->name() << " (" << n->type() << "): " << (on_gpu ? gpu_name : "cpu");
    Plan::Step step{n, k, {}, {}, 0, def->stateful || def->caches, on_gpu};
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      step.producers.push_back(n->inputs()[i].node);
      step.input_slots.push_back(slot_of(n->inputs()[i]));
      step.ref_input.push_back(std::find(def->ref_inputs.begin(), def->ref_inputs.end(),
                                         static_cast<int>(i)) != def->ref_inputs.end());
    }
    step.first_output_slot = plan->num_slots;
    for (int k2 = 0; k2 < n->num_outputs(); ++k2) {
      const Output o{const_cast<Node*>(n), k2};
      if (fed.count(Key(o))) continue;  // keep the fed value's slot
      slot[Key(o)] = plan->num_slots + k2;
    }
    plan->num_slots += n->num_outputs();
    plan->steps.push_back(std::move(step));
  }
  for (const Output& o : fetches) plan->fetch_slots.push_back(slot_of(o));
  // Each slot's last reader (or its producer, if nothing reads it).
  std::vector<int> last(static_cast<size_t>(plan->num_slots), -1);
  for (size_t si = 0; si < plan->steps.size(); ++si) {
    const Plan::Step& st = plan->steps[si];
    for (int k2 = 0; k2 < st.node->num_outputs(); ++k2) last[static_cast<size_t>(st.first_output_slot + k2)] = static_cast<int>(si);
    for (int in : st.input_slots) last[static_cast<size_t>(in)] = static_cast<int>(si);
  }
  for (int f : plan->fetch_slots) last[static_cast<size_t>(f)] = -1;
  for (int f : plan->feed_slots) last[static_cast<size_t>(f)] = -1;
  for (size_t slot_index = 0; slot_index < last.size(); ++slot_index) {
    if (last[slot_index] >= 0) plan->steps[static_cast<size_t>(last[slot_index])].release.push_back(static_cast<int>(slot_index));
  }
  std::lock_guard<std::mutex> l(mu_);
  plans_[key] = plan;
  return std::shared_ptr<const Plan>(plan);
}

Status Session::AssignVariables(const std::map<std::string, Tensor>& values) {
  std::vector<std::string> names;
  std::vector<Tensor> host;
  for (const auto& [name, t] : values) {
    if (gpu_ != nullptr && t.device().is_host() && t.dtype() != DType::kString) {
      names.push_back(name);
      host.push_back(t);
    } else {
      RETURN_IF_ERROR(variables_->Assign(name, t));
    }
  }
  if (names.empty()) return OkStatus();
  auto dev = gpu_->CopyAllToDevice(host);
  if (!dev.ok()) return dev.status().WithContext("copying ", names.size(), " variables to ", gpu_->Description());
  for (size_t i = 0; i < names.size(); ++i) RETURN_IF_ERROR(variables_->Assign(names[i], std::move((*dev)[i])));
  return OkStatus();
}

StatusOr<std::vector<Tensor>> Session::ReadVariables(const std::vector<std::string>& names) {
  std::vector<Tensor> out;
  std::vector<size_t> on_device;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(Tensor t, variables_->Read(name));
    if (!t.device().is_host()) on_device.push_back(out.size());
    out.push_back(std::move(t));
  }
  RETURN_IF_ERROR(CopyToHostInPlace(on_device, &out));
  return out;
}

Status Session::Run(const FeedList& feeds, const std::vector<Output>& fetches,
                    const std::vector<Node*>& targets, std::vector<Tensor>* outputs, const RunOptions& run_options) {
  for (const auto& [o, t] : feeds) {
    if (!o.valid() || o.node->graph() != graph_) {
      return InvalidArgumentError("a fed tensor is not a tensor of this session's graph");
    }
    if (t.dtype() != o.dtype()) {
      return InvalidArgumentError("Cannot feed a value of dtype ", DTypeName(t.dtype()),
                                  " for Tensor '", o.name(), "', which has dtype ",
                                  DTypeName(o.dtype()));
    }
    if (!o.shape().IsCompatibleWith(t.shape())) {
      return InvalidArgumentError("Cannot feed value of shape ", t.shape().DebugString(),
                                  " for Tensor '", o.name(), "', which has shape ",
                                  o.shape().DebugString());
    }
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Plan> plan, GetPlan(feeds, fetches, targets));
  if (gpu_ != nullptr) RETURN_IF_ERROR(gpu_->MakeCurrent());
  std::vector<TraceEvent>* trace = std::exchange(trace_, nullptr);
  std::vector<Tensor> values(static_cast<size_t>(plan->num_slots));
  for (size_t i = 0; i < feeds.size(); ++i) {
    values[static_cast<size_t>(plan->feed_slots[i])] = feeds[i].second;
  }
  for (size_t si = 0; si < plan->steps.size(); ++si) {
    const Plan::Step& step = plan->steps[si];
    const Node& n = *step.node;
    std::vector<Tensor> inputs;
    inputs.reserve(step.input_slots.size());
    for (size_t i = 0; i < step.input_slots.size(); ++i) {
      Tensor& v = values[static_cast<size_t>(step.input_slots[i])];
      if (!v.initialized() && !step.ref_input[i]) {
        const Node* producer = step.producers[i];
        if (producer->type() == "VariableV2") {
          return FailedPreconditionError("Attempting to use uninitialized value ", producer->name(),
                                         " (needed by ", n.name(), "); run the initializers or "
                                         "restore a checkpoint first");
        }
        return InternalError("input ", i, " of ", n.name(), " was not computed");
      }
      if (v.initialized() && step.on_gpu && v.device().is_host()) {
        // A feed, or a CPU step's result: copied once, then shared by every consumer.
        auto d = gpu_->CopyToDevice(v);
        if (!d.ok()) return d.status().WithContext("copying input ", i, " of ", n.name(), " to ", gpu_->device().ToString());
        v = *std::move(d);
      }
      if (v.initialized() && step.on_gpu && v.device() != gpu_->device()) {
        return InvalidArgumentError("input ", i, " of ", n.name(), " is on ", v.device().ToString(), ", the session runs on ",
                                    gpu_->device().ToString());
      }
      if (v.initialized() && !step.on_gpu && !v.device().is_host()) {
        auto h = v.ToHost();
        if (!h.ok()) return h.status().WithContext("copying input ", i, " of ", n.name(), " to the host");
        inputs.push_back(*std::move(h));
        continue;
      }
      inputs.push_back(v);
    }
    KernelState* state = nullptr;
    if (step.stateful || step.on_gpu) {
      std::lock_guard<std::mutex> l(mu_);
      auto& s = kernel_states_[n.id()];
      if (s == nullptr) s = std::make_unique<KernelState>();
      state = s.get();
    }
    OpKernelContext ctx(n, std::move(inputs), variables_, &cpu_->device(), state);
    if (step.on_gpu) ctx.SetGpu(gpu_, static_cast<int>(si));
    const int64_t t0 = trace ? TraceNowMicros() : 0;
    Status s = (*step.kernel)(ctx);
    // A traced GPU step waits for each kernel, so that spans are kernel times.
    if (trace && step.on_gpu && s.ok()) s = gpu_->Synchronize();
    if (trace) {
      trace->push_back({step.tail ? step.tail->name() : n.name(),
                        step.tail ? StrCat(n.type(), "+BiasAdd", step.tail->type() == "Relu" ? "+Relu" : "") : n.type(), t0,
                        TraceNowMicros() - t0});
    }
    if (!s.ok()) {
      if (step.tail) return s.WithContext("node ", step.tail->name(), " (", n.type(), " fused with its BiasAdd)");
      return s.WithContext("node ", n.name(), " (", n.type(), ")");
    }
    for (int k = 0; k < n.num_outputs(); ++k) {
      values[static_cast<size_t>(step.first_output_slot + k)] = std::move(ctx.outputs()[static_cast<size_t>(k)]);
    }
    for (int r : step.release) values[static_cast<size_t>(r)] = Tensor();
  }
  if (gpu_ != nullptr) {
    ASSIGN_OR_RETURN(KernelError e, gpu_->TakeKernelError());
    if (e.code != KernelError::kNone) {
      const Node* n = e.tag >= 0 && static_cast<size_t>(e.tag) < plan->steps.size() ? plan->steps[static_cast<size_t>(e.tag)].node : nullptr;
      return InvalidArgumentError(KernelErrorMessage(e), " (on ", gpu_->device().ToString(), ")")
          .WithContext("node ", n ? n->name() : "?", " (", n ? n->type() : "?", ")");
    }
  }
  outputs->clear();
  std::vector<size_t> on_device;  // fetches to copy to the host, in one batch
  for (size_t i = 0; i < fetches.size(); ++i) {
    const Tensor& v = values[static_cast<size_t>(plan->fetch_slots[i])];
    if (!v.initialized()) {
      if (fetches[i].node->type() == "VariableV2") {
        return FailedPreconditionError("Attempting to use uninitialized value ", fetches[i].node->name());
      }
      return InternalError("fetch ", fetches[i].name(), " was not computed");
    }
    if (run_options.fetch_to_host && !v.device().is_host()) {
      if (gpu_ != nullptr && v.device() == gpu_->device()) {
        on_device.push_back(i);
      } else {  // a fed tensor of another device
        auto h = v.ToHost();
        if (!h.ok()) return h.status().WithContext("copying fetch ", fetches[i].name(), " to the host");
        outputs->push_back(*std::move(h));
        continue;
      }
    }
    outputs->push_back(v);
  }
  return CopyToHostInPlace(on_device, outputs).WithContext("copying the fetches to the host");
}

Status Session::CopyToHostInPlace(const std::vector<size_t>& which, std::vector<Tensor>* tensors) {
  if (which.empty()) return OkStatus();
  std::vector<Tensor> dev;
  for (size_t i : which) dev.push_back((*tensors)[i]);
  if (gpu_ == nullptr) return InternalError("device tensors in a CPU session");
  ASSIGN_OR_RETURN(std::vector<Tensor> host, gpu_->CopyAllToHost(dev));
  for (size_t k = 0; k < which.size(); ++k) (*tensors)[which[k]] = std::move(host[k]);
  return OkStatus();
}

}  // namespace psflow
