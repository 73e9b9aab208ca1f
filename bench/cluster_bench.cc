// cluster_bench: examples/s of dnn_classifier (784-256-128-10, Adam, batch
// 128) trained by a parameter-server job over TCP on 127.0.0.1 (1 PS + 1
// worker, then 2 PS + 2 workers; tasks are threads of this process talking
// through real sockets), beside the single-process training step rate of
// the graph library measured in the same run.
//
//   cluster_bench [--steps 300]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "common/core/logging.h"
#include "ps/ps_service.h"
#include "chief/chief.h"
#include "worker/trainer.h"
#include "common/ops/ops.h"
#include "common/train/estimator.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

Example RandomData(int n) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0, 1);
  Tensor x(DType::kFloat, TensorShape({n, 784}));
  for (float& v : x.flat<float>()) v = u(rng);
  Tensor y(DType::kInt32, TensorShape({n}));
  for (int32_t& v : y.flat<int32_t>()) v = static_cast<int32_t>(rng() % 10);
  return {{"x", x}, {"label", y}};
}

InputFn Input() {
  return []() -> StatusOr<std::unique_ptr<Dataset>> {
    ASSIGN_OR_RETURN(auto ds, FromTensorSlices(RandomData(4096)));
    return Batch(Repeat(std::move(ds)), 128);
  };
}

ModelParams Params() {
  ModelParams p;
  p.hidden_units = {256, 128};
  p.optimizer = {.type = "adam", .hyper = {.lr = 1e-3f}};
  return p;
}

double SingleProcess(int64_t steps) {
  const std::string dir = "/tmp/psflow_cluster_bench_single";
  std::system(("rm -rf " + dir).c_str());
  Estimator est(DnnClassifierFn(), Params(), {.model_dir = dir, .save_checkpoints_steps = 1 << 30, .log_step_count_steps = 1 << 30, .save_summary_steps = 0});
  CHECK_OK(est.Train(Input(), 20));  // warm up (and the start checkpoint)
  const auto t0 = Clock::now();
  CHECK_OK(est.Train(Input(), 20 + steps));
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::system(("rm -rf " + dir).c_str());
  return static_cast<double>(steps) * 128 / s;
}

double Cluster(int num_ps, int num_workers, int64_t steps) {
  const std::string dir = "/tmp/psflow_cluster_bench_job";
  std::system(("rm -rf " + dir).c_str());
  auto transport = rpc::NewTcpTransport();
  std::vector<std::unique_ptr<ParameterServer>> ps;
  std::vector<std::unique_ptr<PsService>> services;
  std::vector<std::unique_ptr<rpc::RpcServer>> servers;
  std::vector<std::string> addrs;
  for (int k = 0; k < num_ps; ++k) {
    ps.push_back(std::move(ParameterServer::Create({k, "adam", {.lr = 1e-3f}})).value());
    services.push_back(std::make_unique<PsService>(ps.back().get()));
    auto s = transport->Listen({.port = 0, .task = StrCat("ps:", k)}, services.back()->Handler());
    CHECK_OK(s.status());
    addrs.push_back(StrCat("127.0.0.1:", (*s)->port()));
    servers.push_back(std::move(s).value());
  }
  Example batch;
  CHECK_OK(Input()().value()->Next(&batch).status());
  auto vars = JobVariables(DnnClassifierFn(), Params(), batch);
  CHECK_OK(vars.status());
  std::map<std::string, TensorShape> shapes;
  for (const auto& v : *vars) shapes[v.name] = v.shape;
  auto client = [&](const std::string& task) {
    std::vector<std::unique_ptr<rpc::Channel>> chans;
    for (const auto& a : addrs) chans.push_back(transport->Connect({.address = a, .task = task}));
    return std::make_unique<PsClient>(std::move(chans), PlaceVariables(shapes, num_ps));
  };
  // The chief trains too: num_workers trainers in all, the first one the chief.
  std::vector<std::thread> threads;
  Clock::time_point t0;
  std::atomic<int64_t> start_step{-1};
  for (int w = 0; w < num_workers; ++w) {
    threads.emplace_back([&, w] {
      TrainerOptions o{.run = {.model_dir = dir, .save_checkpoints_secs = 1e9, .log_step_count_steps = 1 << 30,
                               .save_summary_steps = 0},
                       .task = w == 0 ? "chief:0" : StrCat("worker:", w - 1), .train_steps = steps};
      Chief chief;
      auto r = Trainer(o, DnnClassifierFn(), Params(), client(o.task)).Run(Input(), w == 0 ? &chief : nullptr);
      CHECK_OK(r.status());
    });
  }
  // Time from when the first steps land to the end.
  while (ps[0]->global_step() < 10) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  t0 = Clock::now();
  const int64_t from = ps[0]->global_step();
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const int64_t done = ps[0]->global_step() - from;
  std::system(("rm -rf " + dir).c_str());
  return static_cast<double>(done) * 128 / s;
}

int Main(int argc, char** argv) {
  int64_t steps = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--steps") steps = std::atoll(argv[i + 1]);
  }
  SetMinLogSeverity(LogSeverity::kWarning);
  const double single = SingleProcess(steps);
  const double c11 = Cluster(1, 1, steps);
  const double c22 = Cluster(2, 2, steps);
  std::printf("cluster_bench: dnn_classifier 784-256-128-10, Adam, batch 128, %lld steps, 127.0.0.1, %u cores\n",
              static_cast<long long>(steps), std::thread::hardware_concurrency());
  std::printf("  single process (graph library)   %9.0f examples/s\n", single);
  std::printf("  1 ps + 1 worker (the chief)      %9.0f examples/s   %.2f of single process\n", c11, c11 / single);
  std::printf("  2 ps + 2 workers (chief + 1)     %9.0f examples/s   %.2f of single process\n", c22, c22 / single);
  return 0;
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
