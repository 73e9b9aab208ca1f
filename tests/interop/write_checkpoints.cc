// psflow_interop_writer DIR: writes the psflow checkpoints that
// tests/interop/tf_interop.py has TensorFlow read back:
//   DIR/single/   one shard: every dtype, scalar/empty/matrix shapes
//   DIR/sharded/  three shards written in parallel, a partitioned embedding,
//                 global_step; `checkpoint` state file from CheckpointManager
//   DIR/dynamic/  a dynamic embedding table on two PS tasks (ps/), trained a
//                 few steps and saved as the chief saves it; expected.json
//                 lists every id's row, slot, freq and version
// Values follow interop_values.h.
#include <fstream>
#include <iomanip>
#include <set>
#include <iostream>
#include <thread>

#include "common/checkpoint/checkpoint_manager.h"
#include "common/checkpoint/tensor_bundle.h"
#include "common/core/logging.h"
#include "common/distributed/placement.h"
#include "ps/parameter_server.h"
#include "tests/interop/interop_values.h"

namespace psflow {
namespace {

Status WriteSingle(const std::string& dir) {
  ASSIGN_OR_RETURN(auto mgr, CheckpointManager::Create(Env::Default(), dir, {}));
  const std::string prefix = mgr->PrefixForStep(1);
  BundleWriter w(Env::Default(), prefix);
  const DType dtypes[] = {DType::kFloat, DType::kDouble, DType::kHalf, DType::kBFloat16,
                          DType::kInt32, DType::kInt64,  DType::kBool, DType::kString};
  int seed = 0;
  for (DType dt : dtypes) {
    ++seed;
    RETURN_IF_ERROR(w.Add(StrCat(DTypeName(dt), "/scalar"), interop::MakeValues(dt, TensorShape({}), seed)));
    RETURN_IF_ERROR(w.Add(StrCat(DTypeName(dt), "/empty"), interop::MakeValues(dt, TensorShape({0, 3}), seed)));
    RETURN_IF_ERROR(w.Add(StrCat(DTypeName(dt), "/matrix"), interop::MakeValues(dt, TensorShape({5, 7}), seed)));
  }
  RETURN_IF_ERROR(w.Add("global_step", Tensor::Scalar<int64_t>(1)));
  RETURN_IF_ERROR(w.Finish());
  return mgr->Commit(prefix);
}

Status WriteSharded(const std::string& dir) {
  ASSIGN_OR_RETURN(auto mgr, CheckpointManager::Create(Env::Default(), dir, {}));
  const std::string prefix = mgr->PrefixForStep(2);
  const TensorShape emb_shape({10, 4});
  const Tensor emb = interop::MakeValues(DType::kFloat, emb_shape, 9);
  const int64_t rows[] = {0, 4, 7, 10};
  std::vector<BundleEntries> parts(3);
  std::vector<Status> status(3);
  std::vector<std::thread> threads;
  for (int k = 0; k < 3; ++k) {
    threads.emplace_back([&, k] {
      status[k] = [&]() -> Status {
        BundleShardWriter w(Env::Default(), prefix, k, 3);
        RETURN_IF_ERROR(w.Add(StrCat("dense", k, "/kernel"),
                              interop::MakeValues(DType::kFloat, TensorShape({6, 3}), k)));
        RETURN_IF_ERROR(w.Add(StrCat("dense", k, "/kernel/Adam"),
                              interop::MakeValues(DType::kFloat, TensorShape({6, 3}), 10 + k)));
        if (k == 0) RETURN_IF_ERROR(w.Add("global_step", Tensor::Scalar<int64_t>(2)));
        ASSIGN_OR_RETURN(TensorSlice slice,
                         TensorSlice::FromExtents({rows[k], 0}, {rows[k + 1] - rows[k], 4}));
        Tensor part(DType::kFloat, slice.SliceShape(emb_shape));
        CopySliceIntersection(emb, TensorSlice::Full(2), &part, slice, emb_shape);
        RETURN_IF_ERROR(w.AddSlice("embedding", emb_shape, slice, part));
        ASSIGN_OR_RETURN(parts[k], w.Finish());
        return OkStatus();
      }();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(WriteBundleIndex(Env::Default(), prefix, 3, parts));
  return mgr->Commit(prefix);
}

// Two PS tasks hold "emb/weights-values" (dim 4, Adagrad); three training
// pulls and pushes of ids routed as trainers route them, then a sharded save.
Status WriteDynamic(const std::string& dir) {
  const std::string name = "emb/weights-values";
  const int kTasks = 2;
  std::vector<std::unique_ptr<ParameterServer>> ps;
  for (int k = 0; k < kTasks; ++k) {
    ASSIGN_OR_RETURN(auto p, ParameterServer::Create({.task_index = k, .optimizer = "adagrad", .hyper = {.lr = 0.5f}}));
    RETURN_IF_ERROR(p->Initialize({{name, Tensor(DType::kFloat, TensorShape({0, 4}))}}, {},
                                  {{name, {.dim = 4, .stddev = 0.5f, .seed = 42}}}));
    ps.push_back(std::move(p));
  }
  const std::vector<std::vector<int64_t>> steps = {
      {-7, 3, int64_t{1} << 40, 12345678901},
      {3, -7, 999, -9223372036854775807LL},
      {3, 5, 6, 7, 8, 9, 10}};
  for (size_t step = 0; step < steps.size(); ++step) {
    for (int k = 0; k < kTasks; ++k) {
      std::vector<int64_t> ids;
      for (int64_t id : steps[step]) {
        if (DynamicRowTask(id, kTasks) == k) ids.push_back(id);
      }
      if (ids.empty()) continue;
      const int64_t n = static_cast<int64_t>(ids.size());
      const Tensor idt = Tensor::FromVector<int64_t>(ids, TensorShape({n}));
      const Tensor counts = Tensor::FromVector<int64_t>(std::vector<int64_t>(ids.size(), 2), TensorShape({n}));
      RETURN_IF_ERROR(ps[k]->PullDynamicRows(name, idt, &counts, static_cast<int64_t>(step) + 1).status());
      Tensor grad(DType::kFloat, TensorShape({n, 4}));
      for (int64_t i = 0; i < 4 * n; ++i) grad.flat<float>()[static_cast<size_t>(i)] = 0.1f * static_cast<float>(i % 7 - 3);
      RETURN_IF_ERROR(ps[k]->Push({{.name = name, .grad = grad, .rows = idt}}, static_cast<int64_t>(step), k == 0).status());
    }
  }
  ASSIGN_OR_RETURN(auto mgr, CheckpointManager::Create(Env::Default(), dir, {}));
  const std::string prefix = mgr->PrefixForStep(ps[0]->global_step());
  std::vector<BundleEntries> parts;
  for (int k = 0; k < kTasks; ++k) {
    ASSIGN_OR_RETURN(BundleEntries e, ps[k]->SaveShard(prefix, k, kTasks));
    parts.push_back(std::move(e));
  }
  for (const std::string& key : ps[0]->StackedKeys()) RETURN_IF_ERROR(StackRowsAcrossShards(&parts, key));
  RETURN_IF_ERROR(WriteBundleIndex(Env::Default(), prefix, kTasks, parts));
  RETURN_IF_ERROR(mgr->Commit(prefix));
  // What every id holds now, read back from the PS tasks.
  std::ofstream out(JoinPath(dir, "expected.json"));
  out << std::setprecision(9) << "{\"prefix\": \"" << prefix << "\", \"rows\": [";
  bool first = true;
  std::set<int64_t> seen;
  for (const auto& ids : steps) {
    for (int64_t id : ids) {
      if (!seen.insert(id).second) continue;
      const int k = DynamicRowTask(id, kTasks);
      const Tensor one = Tensor::FromVector<int64_t>({id}, TensorShape({1}));
      ASSIGN_OR_RETURN(Tensor row, ps[k]->PullRows(name, one));
      int64_t freq = 0, last = 0;
      for (size_t step = 0; step < steps.size(); ++step) {
        for (int64_t x : steps[step]) {
          if (x == id) {
            freq += 2;
            last = static_cast<int64_t>(step) + 1;
          }
        }
      }
      out << (first ? "" : ", ") << "{\"id\": \"" << id << "\", \"task\": " << k << ", \"freq\": " << freq
          << ", \"version\": " << last << ", \"value\": [";
      for (int j = 0; j < 4; ++j) out << (j ? ", " : "") << row.flat<float>()[static_cast<size_t>(j)];
      out << "]}";
      first = false;
    }
  }
  out << "]}\n";
  out.close();
  if (!out) return DataLossError("cannot write ", JoinPath(dir, "expected.json"));
  return OkStatus();
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) {
  psflow::SetLogIdentity("interop_writer", 0);
  if (argc != 2) {
    std::cerr << "usage: psflow_interop_writer DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  psflow::Status s = psflow::WriteSingle(psflow::JoinPath(dir, "single"));
  if (s.ok()) s = psflow::WriteSharded(psflow::JoinPath(dir, "sharded"));
  if (s.ok()) s = psflow::WriteDynamic(psflow::JoinPath(dir, "dynamic"));
  if (!s.ok()) {
    std::cerr << "psflow_interop_writer: " << s << "\n";
    return 1;
  }
  return 0;
}
