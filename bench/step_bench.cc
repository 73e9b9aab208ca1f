// step_bench: examples/s and GFLOP/s of a CPU training step through psflow's
// graph engine, beside the compute limit measured in the same run: the same
// GEMMs and convolutions of one step run alone, back to back, through the
// library the kernels use (oneDNN when psflow has it, else Eigen), and the
// machine's peak FLOP rate (an FMA loop at the widest vector width the CPU
// has, on every thread).
//
//   step_bench [--model dnn|cnn|all] [--batch 128] [--steps N] [--threads 0] [--by_op true]
//
// dnn: dnn_classifier 784-256-128-10, ReLU, Adam.  cnn: cnn_classifier,
// conv 5x5x32 SAME relu, max-pool 2, conv 5x5x64 SAME relu, max-pool 2,
// dense 1024 relu, dropout 0.4, dense 10, Adam.  Random inputs, batch 128.
// bench/tf_step_bench.py runs this and TensorFlow's step of the same models.
//
// FLOPs counted: 2 x multiply-adds of each GEMM and convolution, forward and
// both gradients, but the first layer's input gradient (nothing needs it).
// That is what the compute-limit row runs.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "common/core/logging.h"
#include "common/ops/eigen_cpu.h"
#include "common/ops/onednn.h"
#include "common/ops/op_util.h"
#include "common/ops/ops.h"
#include "common/runtime/session.h"
#include "common/train/layers.h"
#include "common/train/optimizer.h"

namespace psflow {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Seconds per call of `f`, after `warm` calls, over `n` calls.
template <typename F>
double PerCall(int64_t warm, int64_t n, F&& f) {
  for (int64_t i = 0; i < warm; ++i) f();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) f();
  return Since(t0) / static_cast<double>(n);
}

// ---- The machine's peak: independent FMA chains at the widest vector width.
// 12 chains of FMAs on registers, enough that both FMA pipes stay busy.
#define PSFLOW_FMA_LOOP(VEC, SET1, FMA)                                                   \
  const VEC a = SET1(0.999999f), b = SET1(1e-7f);                                         \
  VEC v0 = SET1(0.f), v1 = SET1(1.f), v2 = SET1(2.f), v3 = SET1(3.f), v4 = SET1(4.f),     \
      v5 = SET1(5.f), v6 = SET1(6.f), v7 = SET1(7.f), v8 = SET1(8.f), v9 = SET1(9.f),     \
      v10 = SET1(10.f), v11 = SET1(11.f); /* distinct, or the compiler merges chains */   \
  int64_t iters = 0;                                                                      \
  const auto t0 = Clock::now();                                                           \
  double took = 0;                                                                        \
  do {                                                                                    \
    for (int i = 0; i < 4096; ++i) {                                                      \
      v0 = FMA(v0, a, b), v1 = FMA(v1, a, b), v2 = FMA(v2, a, b), v3 = FMA(v3, a, b);     \
      v4 = FMA(v4, a, b), v5 = FMA(v5, a, b), v6 = FMA(v6, a, b), v7 = FMA(v7, a, b);     \
      v8 = FMA(v8, a, b), v9 = FMA(v9, a, b), v10 = FMA(v10, a, b), v11 = FMA(v11, a, b); \
    }                                                                                     \
    iters += 4096;                                                                        \
  } while ((took = Since(t0)) < seconds);                                                 \
  asm volatile("" : : "v"(v0), "v"(v1), "v"(v2), "v"(v3), "v"(v4), "v"(v5), "v"(v6),     \
               "v"(v7), "v"(v8), "v"(v9), "v"(v10), "v"(v11));                           \
  return 2.0 * (sizeof(VEC) / 4) * 12 * static_cast<double>(iters) / took;

[[gnu::target("avx512f")]] double Fma512(double seconds) { PSFLOW_FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps) }
[[gnu::target("avx2,fma")]] double Fma256(double seconds) { PSFLOW_FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps) }
inline __m128 MulAdd(__m128 v, __m128 a, __m128 b) { return _mm_add_ps(_mm_mul_ps(v, a), b); }
double Fma128(double seconds) { PSFLOW_FMA_LOOP(__m128, _mm_set1_ps, MulAdd) }
#undef PSFLOW_FMA_LOOP

// FLOP/s of all `threads` running the FMA loop at once, and the ISA used.
std::pair<double, const char*> PeakFlops(int threads) {
  __builtin_cpu_init();
  double (*loop)(double) = Fma128;
  const char* isa = "sse (no FMA)";
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
    loop = Fma512;
    isa = "avx512 fma";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loop = Fma256;
    isa = "avx2 fma";
  }
  std::vector<double> rate(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back([&, t] { rate[static_cast<size_t>(t)] = loop(0.3); });
  for (auto& t : ts) t.join();
  double sum = 0;
  for (double r : rate) sum += r;
  return {sum, isa};
}

// ---- The compute limit: one step's heavy ops alone.
struct Gemm {
  int64_t m, k, n;
  bool ta, tb;
};
enum class ConvPass { kForward, kInput, kFilter };
struct Conv {
  op_util::ConvGeometry g;
  ConvPass pass;
};

class HeavyOps {
 public:
  HeavyOps(std::vector<Gemm> gemms, std::vector<Conv> convs, int threads)
      : gemms_(std::move(gemms)), convs_(std::move(convs)), eigen_(threads) {
    threads_ = {.count = eigen_.num_threads(), .parallel = [this](int parts, const std::function<void(int)>& fn) {
                  ParallelFor(eigen_.device(), parts, fn);
                }};
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1, 1);
    auto fill = [&](size_t n) {
      std::vector<float> v(n);
      for (float& x : v) x = u(rng);
      return v;
    };
    for (const Gemm& g : gemms_) {
      bufs_.push_back({fill(static_cast<size_t>(g.m * g.k)), fill(static_cast<size_t>(g.k * g.n)),
                       std::vector<float>(static_cast<size_t>(g.m * g.n))});
    }
    for (const Conv& c : convs_) {
      const auto& g = c.g;
      bufs_.push_back({fill(static_cast<size_t>(g.n * g.h * g.w * g.c)), fill(static_cast<size_t>(g.kh * g.kw * g.c * g.o)),
                       fill(static_cast<size_t>(g.n * g.oh * g.ow * g.o))});
    }
  }
  double Flops() const {
    double f = 0;
    for (const Gemm& g : gemms_) f += 2.0 * static_cast<double>(g.m * g.k * g.n);
    for (const Conv& c : convs_) {
      const auto& g = c.g;
      f += 2.0 * static_cast<double>(g.n * g.oh * g.ow * g.o * g.kh * g.kw * g.c);
    }
    return f;
  }
  void Run() {
    size_t i = 0;
    for (const Gemm& g : gemms_) {
      auto& [a, b, c] = bufs_[i++];
      if (onednn::Enabled()) {
        CHECK_OK(onednn::Gemm(a.data(), b.data(), c.data(), g.m, g.k, g.n, g.ta, g.tb, threads_));
      } else {
        GemmRowMajor<float>(eigen_.device(), a.data(), b.data(), c.data(), g.m, g.k, g.n, g.ta, g.tb);
      }
    }
    for (const Conv& c : convs_) {
      auto& [x, f, y] = bufs_[i++];
      if (!onednn::Enabled()) continue;  // Eigen's convolutions are the kernels' own im2col + GEMM
      switch (c.pass) {
        case ConvPass::kForward: CHECK_OK(onednn::ConvForward(c.g, x.data(), f.data(), y.data(), threads_)); break;
        case ConvPass::kInput: CHECK_OK(onednn::ConvBackwardInput(c.g, f.data(), y.data(), x.data(), threads_)); break;
        case ConvPass::kFilter: CHECK_OK(onednn::ConvBackwardFilter(c.g, x.data(), y.data(), f.data(), threads_)); break;
      }
    }
  }
  bool has_convs() const { return !convs_.empty(); }

 private:
  std::vector<Gemm> gemms_;
  std::vector<Conv> convs_;
  EigenCpu eigen_;
  onednn::Threads threads_;
  std::vector<std::tuple<std::vector<float>, std::vector<float>, std::vector<float>>> bufs_;
};

// The GEMMs of dense layers dims[0] -> dims[1] -> ...: forward, weight
// gradient, and the input gradient of all but the first when `first_dx` is false.
void DenseGemms(const std::vector<int64_t>& dims, int64_t batch, bool first_dx, std::vector<Gemm>* out) {
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    const int64_t in = dims[l], o = dims[l + 1];
    out->push_back({batch, in, o, false, false});  // x W
    out->push_back({in, batch, o, true, false});   // dW = x^T g
    if (l > 0 || first_dx) out->push_back({batch, o, in, false, true});  // dx = g W^T
  }
}

op_util::ConvGeometry SameConv(int64_t n, int64_t hw, int64_t c, int64_t k, int64_t o) {
  return {n, hw, hw, c, k, k, o, 1, 1, hw, hw, (k - 1) / 2, (k - 1) / 2};
}

struct Model {
  std::string title;
  Output x, y;
  Node* train = nullptr;
  std::vector<Gemm> gemms;
  std::vector<Conv> convs;
  Tensor xb;
};

StatusOr<Model> BuildModel(const std::string& which, int64_t batch, Scope& root) {
  Model m;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0, 1);
  Output logits;
  if (which == "dnn") {
    m.title = "dnn_classifier 784-256-128-10";
    m.x = ops::Placeholder(root, DType::kFloat, PartialShape({-1, 784}), "x");
    ASSIGN_OR_RETURN(Output h, layers::Dense(root, m.x, 256, "relu"));
    ASSIGN_OR_RETURN(h, layers::Dense(root, h, 128, "relu"));
    ASSIGN_OR_RETURN(logits, layers::Dense(root, h, 10));
    DenseGemms({784, 256, 128, 10}, batch, false, &m.gemms);
    m.xb = Tensor(DType::kFloat, TensorShape({batch, 784}));
  } else if (which == "cnn") {
    m.title = "cnn_classifier conv5x5x32-pool-conv5x5x64-pool-dense1024-10";
    m.x = ops::Placeholder(root, DType::kFloat, PartialShape({-1, 28, 28, 1}), "x");
    ASSIGN_OR_RETURN(Output c1, layers::Conv2D(root, m.x, 32, 5, 5, {.padding = "same", .activation = "relu"}));
    Output p1 = layers::MaxPooling2D(root, c1, 2, 2);
    ASSIGN_OR_RETURN(Output c2, layers::Conv2D(root, p1, 64, 5, 5, {.padding = "same", .activation = "relu"}));
    Output p2 = layers::MaxPooling2D(root, c2, 2, 2);
    ASSIGN_OR_RETURN(Output d, layers::Dense(root, layers::Flatten(root, p2), 1024, "relu"));
    d = layers::Dropout(root, d, 0.4f, true);
    ASSIGN_OR_RETURN(logits, layers::Dense(root, d, 10));
    const auto g1 = SameConv(batch, 28, 1, 5, 32), g2 = SameConv(batch, 14, 32, 5, 64);
    m.convs = {{g1, ConvPass::kForward}, {g1, ConvPass::kFilter},
               {g2, ConvPass::kForward}, {g2, ConvPass::kInput}, {g2, ConvPass::kFilter}};
    DenseGemms({7 * 7 * 64, 1024, 10}, batch, true, &m.gemms);
    m.xb = Tensor(DType::kFloat, TensorShape({batch, 28, 28, 1}));
  } else {
    return InvalidArgumentError("--model must be dnn, cnn or all, got '", which, "'");
  }
  for (float& v : m.xb.flat<float>()) v = u(rng);
  m.y = ops::Placeholder(root, DType::kInt32, PartialShape({-1}), "y");
  Output loss = losses::SparseSoftmaxCrossEntropy(root, m.y, logits);
  ASSIGN_OR_RETURN(Variable * step, GetOrCreateGlobalStep(root));
  ASSIGN_OR_RETURN(auto opt, Optimizer::Create("adam", {.lr = 1e-3f}));
  ASSIGN_OR_RETURN(m.train, opt->Minimize(root, loss, step));
  RETURN_IF_ERROR(root.status());
  return m;
}

void Bench(const std::string& which, int64_t batch, int64_t steps, int threads, double peak, const char* peak_isa,
           bool by_op) {
  Graph graph;
  graph.set_seed(1);
  Scope root(&graph);
  auto model = BuildModel(which, batch, root);
  CHECK_OK(model.status());
  Model& m = *model;
  Node* init = GlobalVariablesInitializer(root);
  Session sess(&graph, {.intra_op_threads = threads});
  std::vector<Tensor> out;
  CHECK_OK(sess.Run({}, {}, {init}, &out));
  Tensor yb(DType::kInt32, TensorShape({batch}));
  std::mt19937 rng(4);
  for (int32_t& v : yb.flat<int32_t>()) v = static_cast<int32_t>(rng() % 10);
  const double step_s = PerCall(std::max<int64_t>(3, steps / 10), steps, [&] {
    CHECK_OK(sess.Run({{m.x, m.xb}, {m.y, yb}}, {}, {m.train}, &out));
  });
  if (by_op) {  // one traced step: where the time goes, by op type
    std::vector<TraceEvent> trace;
    sess.TraceNextRun(&trace);
    CHECK_OK(sess.Run({{m.x, m.xb}, {m.y, yb}}, {}, {m.train}, &out));
    std::map<std::string, std::pair<int64_t, int>> by_type;
    int64_t total = 0;
    for (const TraceEvent& e : trace) {
      by_type[e.category].first += e.duration_us;
      ++by_type[e.category].second;
      total += e.duration_us;
    }
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [type, t] : by_type) order.emplace_back(t.first, type);
    std::sort(order.rbegin(), order.rend());
    std::printf("  one step by op type (%lld us in ops):\n", static_cast<long long>(total));
    for (const auto& [us, type] : order) {
      if (us * 100 < total) break;
      std::printf("    %-28s %8lld us %5.1f%%  (%d ops)\n", type.c_str(), static_cast<long long>(us),
                  100.0 * static_cast<double>(us) / static_cast<double>(total), by_type[type].second);
    }
  }
  HeavyOps heavy(m.gemms, m.convs, threads);
  const double heavy_s = PerCall(std::max<int64_t>(3, steps / 10), steps, [&] { heavy.Run(); });
  const double flops = heavy.Flops();
  const int nthreads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("step_bench: %s, Adam, batch %lld, %d threads, %lld steps; kernels: %s\n", m.title.c_str(),
              static_cast<long long>(batch), nthreads, static_cast<long long>(steps), onednn::Describe().c_str());
  std::printf("  psflow training step  %9.3f ms  %9.0f examples/s  %7.1f GFLOP/s\n", step_s * 1e3,
              static_cast<double>(batch) / step_s, flops / step_s / 1e9);
  const bool eigen_convs = heavy.has_convs() && !onednn::Enabled();
  std::printf("  %-20s  %9.3f ms  %9.0f examples/s  %7.1f GFLOP/s%s\n",
              onednn::Enabled() ? "oneDNN ops alone" : "Eigen GEMMs alone", heavy_s * 1e3,
              static_cast<double>(batch) / heavy_s, flops / heavy_s / 1e9,
              eigen_convs ? "  (GEMMs only: no convolution library)" : "");
  std::printf("  machine peak (%s, %d threads)            %7.1f GFLOP/s\n", peak_isa, nthreads, peak / 1e9);
  std::printf("  ratio step / ops alone %.2f (target >= 0.8), step / peak %.2f\n", heavy_s / step_s,
              flops / step_s / peak);
}

int Main(int argc, char** argv) {
  int64_t batch = 128, steps = 0;
  int threads = 0;
  std::string model = "all";
  bool by_op = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--batch") batch = std::atoll(argv[i + 1]);
    else if (k == "--steps") steps = std::atoll(argv[i + 1]);
    else if (k == "--threads") threads = std::atoi(argv[i + 1]);
    else if (k == "--model") model = argv[i + 1];
    else if (k == "--by_op") by_op = std::string(argv[i + 1]) == "true";
  }
  const int nthreads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto [peak, isa] = PeakFlops(nthreads);
  for (const std::string which : {"dnn", "cnn"}) {
    if (model != "all" && model != which) continue;
    Bench(which, batch, steps > 0 ? steps : (which == "dnn" ? 300 : 20), threads, peak, isa, by_op);
  }
  if (model != "all" && model != "dnn" && model != "cnn") {
    std::fprintf(stderr, "--model must be dnn, cnn or all\n");
    return 2;
  }
  return 0;
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
