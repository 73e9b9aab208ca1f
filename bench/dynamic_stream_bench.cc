// dynamic_stream_bench: a stream of 10^8 distinct ids through a dynamic
// embedding table on 2 PS tasks, as training would send it: each step a
// counted pull (rows created for admitted ids) and an Adagrad push of the
// pulled rows' gradients, both through ParameterServer in this process (no
// RPC: this measures the table, its admission, eviction and memory).
//
//   dynamic_stream_bench [--ids 100000000] [--hot_every 10] [--batch 65536] [--dim 16]
//                        [--max_rows 5000000] [--steps_to_live 100] [--filter_freq 2]
//
// Every id is new when it first comes; one in `hot_every` comes again the
// next step, so with filter_freq 2 about ids / hot_every ids are admitted
// (10^7 of 10^8) and the rest stay admission counts until steps_to_live
// sweeps them.  max_rows caps the rows over both tasks: a full task evicts
// its least recently seen tenth.  Prints progress, then the peak resident
// memory and whether the rows stayed under the cap.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/core/hash.h"
#include "common/core/logging.h"
#include "common/distributed/placement.h"
#include "ps/parameter_server.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ProcStatusKb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == field) {
      int64_t kb = 0;
      in >> kb;
      return kb;
    }
  }
  return 0;
}

int Main(int argc, char** argv) {
  int64_t ids = 100'000'000, hot_every = 10, batch = 65536, dim = 16, max_rows = 5'000'000, steps_to_live = 100,
          filter_freq = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (a == "--ids") ids = v;
    else if (a == "--hot_every") hot_every = v;
    else if (a == "--batch") batch = v;
    else if (a == "--dim") dim = v;
    else if (a == "--max_rows") max_rows = v;
    else if (a == "--steps_to_live") steps_to_live = v;
    else if (a == "--filter_freq") filter_freq = v;
    else {
      std::fprintf(stderr, "dynamic_stream_bench: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  SetMinLogSeverity(LogSeverity::kWarning);
  constexpr int kTasks = 2;
  const std::string name = "stream-values";
  std::vector<std::unique_ptr<ParameterServer>> ps;
  for (int k = 0; k < kTasks; ++k) {
    auto p = ParameterServer::Create({.task_index = k, .optimizer = "adagrad", .hyper = {.lr = 0.05f}});
    CHECK_OK(p.status());
    CHECK_OK((*p)->Initialize({{name, Tensor(DType::kFloat, TensorShape({0, dim}))}}, {},
                              {{name, {.dim = dim, .stddev = 0.1f, .seed = 3, .filter_freq = filter_freq,
                                       .steps_to_live = steps_to_live, .max_rows = (max_rows + kTasks - 1) / kTasks}}}));
    ps.push_back(std::move(p).value());
  }
  std::printf("dynamic_stream_bench: %lld distinct ids, 1 in %lld seen twice, batches of %lld, dim %lld, adagrad, "
              "filter_freq %lld, steps_to_live %lld, max_rows %lld over %d PS tasks\n",
              static_cast<long long>(ids), static_cast<long long>(hot_every), static_cast<long long>(batch),
              static_cast<long long>(dim), static_cast<long long>(filter_freq), static_cast<long long>(steps_to_live),
              static_cast<long long>(max_rows), kTasks);
  std::printf("%8s %12s %12s %12s %12s %12s %10s %10s\n", "step", "ids seen", "rows", "candidates", "admitted",
              "evicted", "RSS MiB", "ids/s");
  auto id_of = [](int64_t k) { return static_cast<int64_t>(Mix64(static_cast<uint64_t>(k) * 2 + 1)); };
  const auto t0 = Clock::now();
  int64_t next = 0, step = 0, lookups = 0, max_seen_rows = 0;
  std::vector<int64_t> hot_prev;
  std::vector<std::vector<int64_t>> mine(kTasks);
  const int64_t report = std::max<int64_t>(1, ids / batch / 10);
  while (next < ids) {
    ++step;
    for (auto& m : mine) m.clear();
    std::vector<int64_t> hot_now;
    for (int64_t id : hot_prev) mine[static_cast<size_t>(DynamicRowTask(id, kTasks))].push_back(id);
    for (int64_t i = 0; i < batch && next < ids; ++i, ++next) {
      const int64_t id = id_of(next);
      mine[static_cast<size_t>(DynamicRowTask(id, kTasks))].push_back(id);
      if (next % hot_every == 0) hot_now.push_back(id);
    }
    hot_prev = std::move(hot_now);
    for (int k = 0; k < kTasks; ++k) {
      const int64_t n = static_cast<int64_t>(mine[k].size());
      if (n == 0) continue;
      const Tensor idt = Tensor::FromVector<int64_t>(mine[k], TensorShape({n}));
      const Tensor counts = Tensor::FromVector<int64_t>(std::vector<int64_t>(mine[k].size(), 1), TensorShape({n}));
      auto rows = ps[k]->PullDynamicRows(name, idt, &counts, step);
      CHECK_OK(rows.status());
      Tensor grad(DType::kFloat, TensorShape({n, dim}));
      const auto r = rows->flat<float>();
      auto g = grad.flat<float>();
      for (size_t j = 0; j < g.size(); ++j) g[j] = 0.01f * r[j] + 0.001f;  // a gradient of the rows' values
      CHECK_OK(ps[k]->Push({{.name = name, .grad = grad, .rows = idt}}, step, k == 0).status());
      lookups += n;
    }
    int64_t rows = 0;
    for (const auto& p : ps) rows += p->TableStats().at(name).rows;
    max_seen_rows = std::max(max_seen_rows, rows);
    if (step % report == 0 || next >= ids) {
      DynamicTableStats sum;
      for (const auto& p : ps) sum += p->TableStats().at(name);
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      std::printf("%8lld %12lld %12lld %12lld %12lld %12lld %10lld %10.0f\n", static_cast<long long>(step),
                  static_cast<long long>(next), static_cast<long long>(sum.rows), static_cast<long long>(sum.candidates),
                  static_cast<long long>(sum.admissions), static_cast<long long>(sum.evictions),
                  static_cast<long long>(ProcStatusKb("VmRSS:") >> 10), static_cast<double>(lookups) / secs);
      std::fflush(stdout);
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%lld ids seen in %.0f s (%.0f training lookups and pushes/s); peak RSS %.2f GiB; most rows at once "
              "%lld, %s max_rows %lld\n",
              static_cast<long long>(ids), secs, static_cast<double>(lookups) / secs,
              static_cast<double>(ProcStatusKb("VmHWM:")) / (1 << 20), static_cast<long long>(max_seen_rows),
              max_seen_rows <= max_rows ? "within" : "ABOVE", static_cast<long long>(max_rows));
  return max_seen_rows <= max_rows ? 0 : 1;
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
