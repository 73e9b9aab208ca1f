// gpu_step_bench: training-step times of the canned dnn_classifier
// (784-256-128-10) and cnn_classifier (conv 32 5x5, pool, conv 64 5x5,
// pool, dense 1024, logits) on Fashion-MNIST-shaped batches, measured in
// one run:
//
//   cpu step      the whole step (forward, backward, Adam) on the CPU kernels
//   gpu step      the same step with every kernel on the GPU
//   worker step   forward and backward on the GPU, gradients copied to the
//                 host: what a psflow worker computes between pull and push
//   cuBLAS GEMMs  only the step's matrix products (the same shapes; for
//                 the cnn the im2col products), straight through cuBLAS:
//                 a floor for the GPU step
//
//   gpu_step_bench [--model dnn|cnn|both] [--batch 128] [--steps 200] [--cpu_steps 20] [--json]
//
// Without a GPU it says so and prints the CPU figures.  --json prints one
// JSON object per model (bench/gpu_torch_bench.py reads them to put
// PyTorch's step beside psflow's).  Every Session::Run waits for its
// step to finish (it reads the kernels' error record), as a training loop
// that looks at each step's loss does.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/core/logging.h"
#include "common/gpu/gpu_device.h"
#include "common/ops/gradients.h"
#include "common/ops/variables.h"
#include "common/ops/ops.h"
#include "common/runtime/session.h"
#include "common/train/estimator.h"

#if defined(PSFLOW_HAVE_CUDA)
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;

// C[m,n] = op(A) op(B), row-major shapes as the step runs them.
struct Gemm {
  int64_t m, k, n;
  bool ta, tb;
};

// The matrix products of one training step (forward, weight gradients, and
// input gradients of every layer but the first).
std::vector<Gemm> StepGemms(const std::string& model, int64_t b) {
  std::vector<Gemm> g;
  auto dense = [&](int64_t in, int64_t out, bool first) {
    g.push_back({b, in, out, false, false});
    g.push_back({in, b, out, true, false});
    if (!first) g.push_back({b, out, in, false, true});
  };
  if (model == "dnn") {
    dense(784, 256, true);
    dense(256, 128, false);
    dense(128, 10, false);
    return g;
  }
  // im2col: rows = b * h * w, k = 5 * 5 * in_channels.
  auto conv = [&](int64_t hw, int64_t in, int64_t out, bool first) {
    const int64_t rows = b * hw * hw, k = 25 * in;
    g.push_back({rows, k, out, false, false});
    g.push_back({k, rows, out, true, false});
    if (!first) g.push_back({rows, out, k, false, true});
  };
  conv(28, 1, 32, true);
  conv(14, 32, 64, false);
  dense(7 * 7 * 64, 1024, false);
  dense(1024, 10, false);
  return g;
}

double Flops(const std::vector<Gemm>& gemms) {
  double f = 0;
  for (const Gemm& g : gemms) f += 2.0 * static_cast<double>(g.m) * static_cast<double>(g.k) * static_cast<double>(g.n);
  return f;
}

struct Step {
  std::unique_ptr<ModelGraph> g;
  Node* train = nullptr;
  Node* init = nullptr;
  std::vector<Output> grads;
  FeedList feeds;
};

Step BuildStep(const std::string& model, int64_t batch) {
  ModelParams params;
  params.n_classes = 10;
  params.optimizer = {.type = "adam", .hyper = {.lr = 1e-3f}};
  ModelFn fn = DnnClassifierFn();
  if (model == "cnn") {
    fn = CnnClassifierFn();
    params.hidden_units = {1024};
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  Tensor x(DType::kFloat, TensorShape({batch, 784}));
  for (float& v : x.flat<float>()) v = u(rng);
  Tensor y(DType::kInt32, TensorShape({batch}));
  for (int32_t& v : y.flat<int32_t>()) v = static_cast<int32_t>(rng() % 10);
  const Example ex = {{"x", x}, {"label", y}};
  Step s;
  auto g = BuildModelGraph(fn, params, Mode::kTrain, ex, 1);
  CHECK_OK(g.status());
  s.g = std::make_unique<ModelGraph>(std::move(g).value());
  Scope root(s.g->graph.get());
  s.train = s.g->spec.train_op;
  std::vector<Output> xs;
  for (const Variable* v : s.g->graph->VariablesInCollection(collections::kTrainableVariables)) xs.push_back(v->value);
  CHECK_OK(AddGradients(root, {s.g->spec.loss}, xs, &s.grads));
  s.init = GlobalVariablesInitializer(root);
  CHECK_OK(root.status());
  s.feeds = FeedsFor(*s.g, ex);
  return s;
}

// Seconds per call of f, after `warm` unmeasured calls.
template <typename F>
double Time(int64_t steps, int64_t warm, F f) {
  for (int64_t i = 0; i < warm; ++i) f();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) f();
  return std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(steps);
}

#if defined(PSFLOW_HAVE_CUDA)
// The step's GEMMs through cuBLAS (float, default math mode, as psflow's
// MatMul and Conv2D call it), timed with CUDA events.
double CublasSeconds(const std::vector<Gemm>& gemms, int64_t steps, int device) {
  cudaSetDevice(device);
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return -1;
  std::vector<float*> bufs;
  auto alloc = [&](int64_t n) {
    float* p = nullptr;
    cudaMalloc(&p, static_cast<size_t>(n) * sizeof(float));
    cudaMemset(p, 0, static_cast<size_t>(n) * sizeof(float));
    bufs.push_back(p);
    return p;
  };
  struct Args {
    float *a, *b, *c;
  };
  std::vector<Args> args;
  for (const Gemm& g : gemms) args.push_back({alloc(g.m * g.k), alloc(g.k * g.n), alloc(g.m * g.n)});
  const float one = 1, zero = 0;
  auto run = [&] {
    for (size_t i = 0; i < gemms.size(); ++i) {
      const Gemm& g = gemms[i];
      // Row-major C = op(A) op(B) as column-major C^T = op(B)^T op(A)^T.
      cublasSgemm(h, g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(g.n),
                  static_cast<int>(g.m), static_cast<int>(g.k), &one, args[i].b, static_cast<int>(g.tb ? g.k : g.n), args[i].a,
                  static_cast<int>(g.ta ? g.m : g.k), &zero, args[i].c, static_cast<int>(g.n));
    }
  };
  for (int i = 0; i < 10; ++i) run();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  cudaEventRecord(start);
  for (int64_t i = 0; i < steps; ++i) run();
  cudaEventRecord(stop);
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  for (float* p : bufs) cudaFree(p);
  cublasDestroy(h);
  return ms / 1e3 / static_cast<double>(steps);
}
#endif

int Main(int argc, char** argv) {
  std::string which = "both";
  int64_t batch = 128, steps = 200, cpu_steps = 20;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (k == "--json") json = true;
    else if (k == "--model") which = v, ++i;
    else if (k == "--batch") batch = std::atoll(v), ++i;
    else if (k == "--steps") steps = std::atoll(v), ++i;
    else if (k == "--cpu_steps") cpu_steps = std::atoll(v), ++i;
    else {
      std::fprintf(stderr, "usage: gpu_step_bench [--model dnn|cnn|both] [--batch N] [--steps N] [--cpu_steps N] [--json]\n");
      return 2;
    }
  }
  GpuDevice* gpu = nullptr;
  if (GpuDeviceCount() > 0) {
    auto g = GpuDevice::Get(0);
    CHECK_OK(g.status());
    gpu = *g;
  }
  if (!json) {
    std::printf("gpu_step_bench: batch %lld, %lld GPU steps, %lld CPU steps per figure; %s\n", static_cast<long long>(batch),
                static_cast<long long>(steps), static_cast<long long>(cpu_steps),
                gpu ? gpu->Description().c_str() : ("no GPU (" + GpuDescription() + "): CPU figures only").c_str());
  }
  for (const std::string model : {"dnn", "cnn"}) {
    if (which != "both" && which != model) continue;
    const std::vector<Gemm> gemms = StepGemms(model, batch);
    const double flops = Flops(gemms);
    Step s = BuildStep(model, batch);
    std::vector<Tensor> out;
    Session cpu(s.g->graph.get());
    CHECK_OK(cpu.Run({}, {}, {s.init}, &out));
    const double cpu_s = Time(cpu_steps, 2, [&] { CHECK_OK(cpu.Run(s.feeds, {}, {s.train}, &out)); });
    double gpu_s = -1, worker_s = -1, gemm_s = -1;
    if (gpu != nullptr) {
      Session dev(s.g->graph.get(), {.gpu = gpu});
      CHECK_OK(dev.Run({}, {}, {s.init}, &out));
      gpu_s = Time(steps, 10, [&] { CHECK_OK(dev.Run(s.feeds, {}, {s.train}, &out)); });
      worker_s = Time(steps, 10, [&] { CHECK_OK(dev.Run(s.feeds, s.grads, &out)); });
#if defined(PSFLOW_HAVE_CUDA)
      gemm_s = CublasSeconds(gemms, steps, gpu->device().index);
#endif
    }
    const char* name = model == "dnn" ? "dnn_classifier 784-256-128-10" : "cnn_classifier conv32-conv64-dense1024";
    if (json) {
      std::printf("{\"model\": \"%s\", \"batch\": %lld, \"gflop_per_step\": %.4f, \"cpu_step_ms\": %.4f, \"gpu_step_ms\": %.4f, "
                  "\"worker_step_ms\": %.4f, \"cublas_gemm_ms\": %.4f, \"device\": \"%s\"}\n",
                  model.c_str(), static_cast<long long>(batch), flops / 1e9, cpu_s * 1e3, gpu_s * 1e3, worker_s * 1e3,
                  gemm_s * 1e3, gpu ? gpu->Description().c_str() : "none");
      continue;
    }
    std::printf("%s (%.3f GFLOP of GEMMs per step)\n", name, flops / 1e9);
    auto row = [&](const char* what, double sec) {
      if (sec <= 0) return;
      std::printf("  %-22s %9.3f ms  %10.0f examples/s  %8.1f GFLOP/s\n", what, sec * 1e3, static_cast<double>(batch) / sec,
                  flops / sec / 1e9);
    };
    row("cpu step (Adam)", cpu_s);
    row("gpu step (Adam)", gpu_s);
    row("gpu worker step", worker_s);
    row("cuBLAS GEMMs only", gemm_s);
    if (gpu_s > 0) std::printf("  gpu step vs cpu step  %.1fx faster\n", cpu_s / gpu_s);
    if (gpu_s > 0 && gemm_s > 0) std::printf("  ratio GEMMs / gpu step  %.2f (the GEMMs' share of the step)\n", gemm_s / gpu_s);
  }
  return 0;
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
