#include "common/ops/onednn.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/core/strcat.h"
#include "common/ops/cpu_simd.h"
#include "common/ops/op_util.h"

#ifdef PSFLOW_HAVE_DNNL
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace psflow::onednn {
namespace {

// -1: not decided yet (the environment decides on first use).
std::atomic<int> g_enabled{-1};

}  // namespace

bool Built() {
#ifdef PSFLOW_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

bool Enabled() {
  int on = g_enabled.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* env = std::getenv("PSFLOW_CPU_BACKEND");
    on = Built() && !(env != nullptr && std::strcmp(env, "eigen") == 0) ? 1 : 0;
    g_enabled.store(on, std::memory_order_relaxed);
  }
  return on == 1;
}

void SetEnabled(bool on) { g_enabled.store(on && Built() ? 1 : 0, std::memory_order_relaxed); }

#ifndef PSFLOW_HAVE_DNNL

std::string Describe() { return "Eigen (psflow was built without oneDNN: install libdnnl-dev and rebuild)"; }

namespace {
Status NotBuilt() { return UnimplementedError("psflow was built without oneDNN (libdnnl-dev)"); }
}  // namespace
Status Gemm(const float*, const float*, float*, int64_t, int64_t, int64_t, bool, bool, const Threads&, Epilogue) {
  return NotBuilt();
}
Status ConvForward(const op_util::ConvGeometry&, const float*, const float*, float*, const Threads&, Epilogue) {
  return NotBuilt();
}
Status ConvBackwardInput(const op_util::ConvGeometry&, const float*, const float*, float*, const Threads&) {
  return NotBuilt();
}
Status ConvBackwardFilter(const op_util::ConvGeometry&, const float*, const float*, float*, const Threads&) {
  return NotBuilt();
}

#else  // PSFLOW_HAVE_DNNL

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

const char* IsaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "baseline";
  }
}

dnnl::engine& Engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

// Each calling thread has its own stream and scratch buffers, so calls from
// several executor threads run side by side.
struct ThreadState {
  dnnl::stream stream{Engine()};
  std::vector<uint8_t> scratch;  // the primitive's scratchpad
  std::vector<float> weights;    // filters in the primitive's layout
  uint8_t* Scratch(size_t bytes) {
    if (scratch.size() < bytes) scratch.resize(bytes);
    return scratch.data();
  }
  float* Weights(size_t bytes) {
    if (weights.size() * sizeof(float) < bytes) weights.resize((bytes + sizeof(float) - 1) / sizeof(float));
    return weights.data();
  }
};
ThreadState& Local() {
  thread_local ThreadState s;
  return s;
}

// oneDNN runs on the calling thread only: OpenMP makes no team (and so
// no spinning threads).  A per-thread setting.
void SingleThreaded() {
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

// The most parts a call may split into: threads.count, one without a
// parallel runner.
int MaxParts(const Threads& threads) { return threads.parallel ? std::max(threads.count, 1) : 1; }

// Runs fn over `parts` parts (at most MaxParts) and returns the first error.
Status RunParts(const Threads& threads, int parts, const std::function<Status(int)>& fn) {
  parts = std::max(1, std::min(parts, MaxParts(threads)));
  if (parts == 1) return fn(0);
  std::vector<Status> status(static_cast<size_t>(parts));
  threads.parallel(parts, [&](int p) { status[static_cast<size_t>(p)] = fn(p); });
  for (Status& st : status) RETURN_IF_ERROR(st);
  return OkStatus();
}

// At least this many multiply-adds per part (about 50 us on one AVX-512
// core): waking a parked pool thread costs tens of microseconds, more than
// a smaller part saves.
constexpr int64_t kMinMacsPerPart = int64_t{1} << 22;

// kForwardBias / kForwardBiasRelu: the forward pass with a bias and a ReLU post-op.
enum class Kind { kForward, kForwardBias, kForwardBiasRelu, kBackwardInput, kBackwardFilter };

struct ConvKey {
  int64_t v[13];
  Kind kind;
  bool operator==(const ConvKey& o) const { return kind == o.kind && std::memcmp(v, o.v, sizeof(v)) == 0; }
};
struct ConvKeyHash {
  size_t operator()(const ConvKey& k) const {
    uint64_t h = static_cast<uint64_t>(k.kind) + 0x9e3779b97f4a7c15ull;
    for (int64_t x : k.v) h = (h ^ static_cast<uint64_t>(x)) * 0x100000001b3ull;
    return static_cast<size_t>(h);
  }
};

// One convolution primitive of one geometry, with the reorder between
// TensorFlow's filter layout (hwio) and the layout it prefers, if another.
struct ConvPrim {
  dnnl::primitive prim;
  memory::desc x, y, w_user, w_prim, scratch;
  memory::desc bias;
  bool reorder_w = false;
  dnnl::reorder w_reorder;  // user -> primitive (forward, input grad); primitive -> user (filter grad)
};

// The primitive of `pd`, its weights layout and its scratchpad.
template <typename Primitive, typename Desc>
void Take(ConvPrim* p, const Desc& pd, const memory::desc& weights) {
  p->prim = Primitive(pd);
  p->w_prim = weights;
  p->scratch = pd.scratchpad_desc();
}

class ConvCache {
 public:
  StatusOr<std::shared_ptr<const ConvPrim>> Get(const op_util::ConvGeometry& g, Kind kind) {
    const ConvKey key{{g.n, g.h, g.w, g.c, g.kh, g.kw, g.o, g.sh, g.sw, g.oh, g.ow, g.pad_top, g.pad_left}, kind};
    std::lock_guard<std::mutex> l(mu_);
    auto it = prims_.find(key);
    if (it != prims_.end()) return it->second;
    try {
      auto p = Create(g, kind);
      prims_.emplace(key, p);
      return std::shared_ptr<const ConvPrim>(p);
    } catch (const dnnl::error& e) {
      return InternalError("oneDNN cannot make a convolution for input [", g.n, ",", g.h, ",", g.w, ",", g.c,
                           "] and filter [", g.kh, ",", g.kw, ",", g.c, ",", g.o, "]: ", e.what());
    }
  }

 private:
  static std::shared_ptr<ConvPrim> Create(const op_util::ConvGeometry& g, Kind kind) {
    const memory::dims x_dims = {g.n, g.c, g.h, g.w}, y_dims = {g.n, g.o, g.oh, g.ow};
    const memory::dims w_dims = {g.o, g.c, g.kh, g.kw};
    const memory::dims strides = {g.sh, g.sw}, pad_l = {g.pad_top, g.pad_left};
    const memory::dims pad_r = {std::max<int64_t>(0, (g.oh - 1) * g.sh + g.kh - g.h - g.pad_top),
                                std::max<int64_t>(0, (g.ow - 1) * g.sw + g.kw - g.w - g.pad_left)};
    const auto f32 = memory::data_type::f32;
    auto p = std::make_shared<ConvPrim>();
    p->x = memory::desc(x_dims, f32, Tag::nhwc);
    p->y = memory::desc(y_dims, f32, Tag::nhwc);
    p->w_user = memory::desc(w_dims, f32, Tag::hwio);
    const memory::desc w_any(w_dims, f32, Tag::any);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto algo = dnnl::algorithm::convolution_direct;
    dnnl::convolution_forward::primitive_desc fwd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, p->x, w_any, p->y, strides, pad_l, pad_r),
        attr, Engine());
    switch (kind) {
      case Kind::kForward:
        Take<dnnl::convolution_forward>(p.get(), fwd, fwd.weights_desc());
        break;
      case Kind::kForwardBias:
      case Kind::kForwardBiasRelu: {
        p->bias = memory::desc({g.o}, f32, Tag::a);
        dnnl::primitive_attr fused = attr;
        if (kind == Kind::kForwardBiasRelu) {
          dnnl::post_ops ops;
          ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
          fused.set_post_ops(ops);
        }
        dnnl::convolution_forward::primitive_desc pd(
            dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, algo, p->x, w_any, p->bias, p->y, strides,
                                            pad_l, pad_r),
            fused, Engine());
        Take<dnnl::convolution_forward>(p.get(), pd, pd.weights_desc());
        break;
      }
      case Kind::kBackwardInput: {
        dnnl::convolution_backward_data::primitive_desc bd(
            dnnl::convolution_backward_data::desc(algo, p->x, w_any, p->y, strides, pad_l, pad_r), attr, Engine(), fwd);
        Take<dnnl::convolution_backward_data>(p.get(), bd, bd.weights_desc());
        break;
      }
      case Kind::kBackwardFilter: {
        dnnl::convolution_backward_weights::primitive_desc bw(
            dnnl::convolution_backward_weights::desc(algo, p->x, w_any, p->y, strides, pad_l, pad_r), attr, Engine(),
            fwd);
        Take<dnnl::convolution_backward_weights>(p.get(), bw, bw.diff_weights_desc());
        break;
      }
    }
    p->reorder_w = p->w_prim != p->w_user;
    if (p->reorder_w) {
      if (kind == Kind::kBackwardFilter) {
        p->w_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), p->w_prim, Engine(), p->w_user));
      } else {
        p->w_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), p->w_user, Engine(), p->w_prim));
      }
    }
    return p;
  }

  std::mutex mu_;
  std::unordered_map<ConvKey, std::shared_ptr<const ConvPrim>, ConvKeyHash> prims_;  // GUARDED_BY(mu_)
};

ConvCache& Cache() {
  static ConvCache* c = new ConvCache;
  return *c;
}

// The filter w (hwio) as the primitive reads it: w itself, or reordered
// into the thread's buffer.
memory Filter(const ConvPrim& p, ThreadState& t, const float* w) {
  memory user(p.w_user, Engine(), const_cast<float*>(w));
  if (!p.reorder_w) return user;
  memory prim(p.w_prim, Engine(), t.Weights(p.w_prim.get_size()));
  p.w_reorder.execute(t.stream, user, prim);
  return prim;
}

// One convolution pass over all of g's images, on the calling thread.
Status RunConv(const op_util::ConvGeometry& g, Kind kind, const float* x, const float* w, const float* y_in,
               float* out, const float* bias = nullptr) {
  SingleThreaded();
  ASSIGN_OR_RETURN(std::shared_ptr<const ConvPrim> p, Cache().Get(g, kind));
  ThreadState& t = Local();
  try {
    dnnl::engine& e = Engine();
    memory scratch(p->scratch, e, t.Scratch(p->scratch.get_size()));
    switch (kind) {
      case Kind::kForward:
      case Kind::kForwardBias:
      case Kind::kForwardBiasRelu: {
        memory w_mem = Filter(*p, t, w);
        std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(p->x, e, const_cast<float*>(x))},
                                                {DNNL_ARG_WEIGHTS, w_mem},
                                                {DNNL_ARG_DST, memory(p->y, e, out)},
                                                {DNNL_ARG_SCRATCHPAD, scratch}};
        if (kind != Kind::kForward) args.emplace(DNNL_ARG_BIAS, memory(p->bias, e, const_cast<float*>(bias)));
        p->prim.execute(t.stream, args);
        break;
      }
      case Kind::kBackwardInput: {
        memory w_mem = Filter(*p, t, w);
        p->prim.execute(t.stream, {{DNNL_ARG_DIFF_DST, memory(p->y, e, const_cast<float*>(y_in))},
                                   {DNNL_ARG_WEIGHTS, w_mem},
                                   {DNNL_ARG_DIFF_SRC, memory(p->x, e, out)},
                                   {DNNL_ARG_SCRATCHPAD, scratch}});
        break;
      }
      case Kind::kBackwardFilter: {
        memory dw_user(p->w_user, e, out);
        memory dw = p->reorder_w ? memory(p->w_prim, e, t.Weights(p->w_prim.get_size())) : dw_user;
        p->prim.execute(t.stream, {{DNNL_ARG_SRC, memory(p->x, e, const_cast<float*>(x))},
                                   {DNNL_ARG_DIFF_DST, memory(p->y, e, const_cast<float*>(y_in))},
                                   {DNNL_ARG_DIFF_WEIGHTS, dw},
                                   {DNNL_ARG_SCRATCHPAD, scratch}});
        if (p->reorder_w) p->w_reorder.execute(t.stream, dw, dw_user);
        break;
      }
    }
    t.stream.wait();
  } catch (const dnnl::error& err) {
    return InternalError("oneDNN convolution failed: ", err.what());
  }
  return OkStatus();
}

}  // namespace

std::string Describe() {
  SingleThreaded();
  const dnnl_version_t* v = dnnl_version();
  return StrCat("oneDNN ", v->major, ".", v->minor, ".", v->patch, " (", IsaName(dnnl_get_effective_cpu_isa()), ")");
}

Status Gemm(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n, bool ta, bool tb,
            const Threads& threads, Epilogue epilogue) {
  if (m == 0 || n == 0) return OkStatus();  // an empty result (oneDNN refuses leading dimensions of 0)
  // Parts of the larger side of c: rows (with op(a)'s rows), or columns
  // (with op(b)'s columns) in multiples of 16 (a vector of floats).
  const bool by_rows = m >= n;
  const int64_t side = by_rows ? m : n;
  const int64_t want = std::min<int64_t>({MaxParts(threads), std::max<int64_t>(1, m * n * k / kMinMacsPerPart),
                                          by_rows ? side : (side + 15) / 16});
  int64_t chunk = (side + want - 1) / std::max<int64_t>(want, 1);
  if (!by_rows) chunk = (chunk + 15) / 16 * 16;
  const int parts = static_cast<int>((side + chunk - 1) / std::max<int64_t>(chunk, 1));
  return RunParts(threads, std::max(parts, 1), [&](int part) -> Status {
    SingleThreaded();
    const int64_t begin = part * chunk, len = std::min(chunk, side - begin);
    if (len <= 0) return OkStatus();
    const float* ap = a;
    const float* bp = b;
    float* cp = c;
    int64_t mm = m, nn = n;
    if (by_rows) {
      ap = ta ? a + begin : a + begin * k;
      cp = c + begin * n;
      mm = len;
    } else {
      bp = tb ? b + begin * k : b + begin;
      cp = c + begin;
      nn = len;
    }
    const dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', mm, nn, k, 1.0f, ap, ta ? m : k, bp,
                                        tb ? k : n, 0.0f, cp, n);
    if (st != dnnl_success) {
      return InternalError("oneDNN sgemm of [", m, ",", k, "] x [", k, ",", n, "] failed with status ",
                           static_cast<int>(st));
    }
    if (epilogue.bias != nullptr) {
      simd::Get().bias_relu(cp, epilogue.bias + (by_rows ? 0 : begin), mm, nn, n, epilogue.relu);
    }
    return OkStatus();
  });
}

namespace {

// Splits g's images into parts; fn(part geometry, first image) for each.
Status ByImages(const op_util::ConvGeometry& g, const Threads& threads,
                const std::function<Status(int part, const op_util::ConvGeometry&, int64_t first)>& fn) {
  if (g.n <= 0) return OkStatus();
  const int64_t macs = g.n * g.oh * g.ow * g.o * g.kh * g.kw * g.c;
  const int64_t want = std::min<int64_t>({MaxParts(threads), g.n, std::max<int64_t>(1, macs / kMinMacsPerPart)});
  const int64_t chunk = (g.n + want - 1) / std::max<int64_t>(want, 1);
  const int parts = static_cast<int>((g.n + chunk - 1) / std::max<int64_t>(chunk, 1));
  return RunParts(threads, std::max(parts, 1), [&](int part) -> Status {
    const int64_t first = part * chunk, len = std::min(chunk, g.n - first);
    if (len <= 0) return OkStatus();
    op_util::ConvGeometry images = g;
    images.n = len;
    return fn(part, images, first);
  });
}

}  // namespace

Status ConvForward(const op_util::ConvGeometry& g, const float* x, const float* f, float* y, const Threads& threads,
                   Epilogue epilogue) {
  const Kind kind = epilogue.bias == nullptr ? Kind::kForward
                    : epilogue.relu         ? Kind::kForwardBiasRelu
                                            : Kind::kForwardBias;
  return ByImages(g, threads, [&](int, const op_util::ConvGeometry& part, int64_t first) {
    return RunConv(part, kind, x + first * g.h * g.w * g.c, f, nullptr, y + first * g.oh * g.ow * g.o, epilogue.bias);
  });
}

Status ConvBackwardInput(const op_util::ConvGeometry& g, const float* f, const float* dy, float* dx,
                         const Threads& threads) {
  return ByImages(g, threads, [&](int, const op_util::ConvGeometry& part, int64_t first) {
    return RunConv(part, Kind::kBackwardInput, nullptr, f, dy + first * g.oh * g.ow * g.o,
                   dx + first * g.h * g.w * g.c);
  });
}

Status ConvBackwardFilter(const op_util::ConvGeometry& g, const float* x, const float* dy, float* df,
                          const Threads& threads) {
  // Each part's images give a partial filter gradient (the first part's
  // straight into df); their sum is the gradient.
  const size_t filter = static_cast<size_t>(g.kh * g.kw * g.c * g.o);
  if (g.n <= 0) {  // no images: a zero gradient
    std::fill(df, df + filter, 0.f);
    return OkStatus();
  }
  std::vector<std::vector<float>> partial(static_cast<size_t>(MaxParts(threads)));
  RETURN_IF_ERROR(ByImages(g, threads, [&](int part, const op_util::ConvGeometry& pg, int64_t first) {
    float* out = df;
    if (part > 0) {
      partial[static_cast<size_t>(part)].resize(filter);
      out = partial[static_cast<size_t>(part)].data();
    }
    return RunConv(pg, Kind::kBackwardFilter, x + first * g.h * g.w * g.c, nullptr, dy + first * g.oh * g.ow * g.o,
                   out);
  }));
  for (const auto& p : partial) {
    if (p.empty()) continue;
    for (size_t i = 0; i < filter; ++i) df[i] += p[i];
  }
  return OkStatus();
}

#endif  // PSFLOW_HAVE_DNNL

}  // namespace psflow::onednn
