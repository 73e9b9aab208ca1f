// The fiber scheduler behind emulator.h.
#include "common/gpu/emulator.h"

#include <ucontext.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace psflow::gpu_emu {

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace {

// Kernels keep little on their stacks; 64 KiB leaves room for the
// sanitizers' redzones and for std::function frames.
constexpr size_t kStackBytes = 64 << 10;
constexpr unsigned kMaxThreadsPerBlock = 1024;

enum class State { kRunnable, kAtBlockBarrier, kAtWarpBarrier, kDone };

struct Fiber {
  ucontext_t ctx;
  State state = State::kRunnable;
  uint3 idx;
  int linear = 0;  // thread index within the block
};

// One per OS thread that runs grids.
struct Scheduler {
  ucontext_t main_ctx;
  std::vector<Fiber> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;
  std::vector<uint64_t> exchange;  // one slot per thread of the block, for shuffles
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
};

thread_local Scheduler* tls_scheduler = nullptr;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "psflow GPU emulator: %s (block %u,%u,%u of a %ux%ux%u grid, %ux%ux%u threads)\n", what.c_str(),
               blockIdx.x, blockIdx.y, blockIdx.z, gridDim.x, gridDim.y, gridDim.z, blockDim.x, blockDim.y, blockDim.z);
  std::abort();
}

Scheduler& Current() {
  if (tls_scheduler == nullptr || tls_scheduler->current == nullptr) {
    Fail("a CUDA built-in (__syncthreads, a shuffle) was called outside a kernel");
  }
  return *tls_scheduler;
}

void Yield(State s) {
  Scheduler& sch = Current();
  Fiber* f = sch.current;
  f->state = s;
  swapcontext(&f->ctx, &sch.main_ctx);
  // Resumed by the scheduler: the built-ins are this fiber's again.
}

void FiberMain() {
  Scheduler& sch = *tls_scheduler;
  (*sch.body)();
  sch.current->state = State::kDone;
  // uc_link returns to the scheduler.
}

// Runs the threads of one block until all are done.
void RunBlock(Scheduler& sch, unsigned nthreads) {
  for (unsigned t = 0; t < nthreads; ++t) {
    Fiber& f = sch.fibers[t];
    f.state = State::kRunnable;
    f.linear = static_cast<int>(t);
    f.idx = uint3{t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = sch.stacks[t].get();
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &sch.main_ctx;
    makecontext(&f.ctx, FiberMain, 0);
  }
  const unsigned nwarps = (nthreads + 31) / 32;
  while (true) {
    bool ran = false;
    for (unsigned t = 0; t < nthreads; ++t) {
      Fiber& f = sch.fibers[t];
      if (f.state != State::kRunnable) continue;
      sch.current = &f;
      threadIdx = f.idx;
      swapcontext(&sch.main_ctx, &f.ctx);
      ran = true;
    }
    sch.current = nullptr;
    (void)ran;
    // Release barriers whose every thread has arrived.
    unsigned done = 0, at_block = 0;
    for (unsigned t = 0; t < nthreads; ++t) {
      done += sch.fibers[t].state == State::kDone;
      at_block += sch.fibers[t].state == State::kAtBlockBarrier;
    }
    if (done == nthreads) return;
    bool released = false;
    if (at_block == nthreads) {
      for (unsigned t = 0; t < nthreads; ++t) sch.fibers[t].state = State::kRunnable;
      released = true;
    } else if (at_block > 0 && at_block + done == nthreads) {
      Fail("__syncthreads() divergence: " + std::to_string(done) + " threads finished while " +
           std::to_string(at_block) + " wait at a barrier");
    }
    for (unsigned w = 0; w < nwarps && !released; ++w) {
      const unsigned begin = w * 32, end = std::min(nthreads, begin + 32);
      unsigned at_warp = 0;
      for (unsigned t = begin; t < end; ++t) at_warp += sch.fibers[t].state == State::kAtWarpBarrier;
      if (at_warp == 0) continue;
      if (at_warp == end - begin) {
        for (unsigned t = begin; t < end; ++t) sch.fibers[t].state = State::kRunnable;
        released = true;
      }
    }
    if (!released) {
      unsigned at_warp = 0;
      for (unsigned t = 0; t < nthreads; ++t) at_warp += sch.fibers[t].state == State::kAtWarpBarrier;
      Fail("threads diverged at a barrier: " + std::to_string(at_warp) + " wait in a warp shuffle, " +
           std::to_string(at_block) + " at __syncthreads(), " + std::to_string(done) +
           " finished (every lane of a warp must reach the same shuffle, every thread the same __syncthreads)");
    }
  }
}

std::atomic<DevicePointerCheck> pointer_check{nullptr};

}  // namespace

void SetDevicePointerCheck(DevicePointerCheck check) { pointer_check = check; }

namespace {
thread_local int current_device = 0;
}  // namespace
void SetCurrentDevice(int device) { current_device = device; }
int CurrentDevice() { return current_device; }
void CheckLaunchStream(cudaStream_t stream) {
  if (stream == nullptr || stream->device == current_device) return;
  std::fprintf(stderr,
               "psflow GPU emulator: a launch into a stream of gpu:%d from a thread whose current device is gpu:%d "
               "(CUDA fails it: call MakeCurrent first)\n",
               stream->device, current_device);
  std::abort();
}

void CheckKernelPointer(const void* p, int argument) {
  const DevicePointerCheck check = pointer_check;
  if (p == nullptr || check == nullptr || check(p)) return;
  std::fprintf(stderr, "psflow GPU emulator: kernel argument %d (%p) is not device memory: a host pointer passed to a kernel\n",
               argument, p);
  std::abort();
}

void SyncThreads() { Yield(State::kAtBlockBarrier); }

uint64_t WarpExchange(uint64_t mine, int src) {
  Scheduler& sch = Current();
  const int me = sch.current->linear;
  const int base = me - me % 32;
  sch.exchange[static_cast<size_t>(me)] = mine;
  Yield(State::kAtWarpBarrier);
  const int from = base + (src % 32);
  const uint64_t got = static_cast<size_t>(from) < sch.exchange.size() ? sch.exchange[static_cast<size_t>(from)] : mine;
  Yield(State::kAtWarpBarrier);  // nobody overwrites a slot before every lane has read
  return got;
}

void RunGrid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const unsigned nthreads = block.x * block.y * block.z;
  if (nthreads == 0 || nthreads > kMaxThreadsPerBlock) {
    Fail("a block of " + std::to_string(nthreads) + " threads (CUDA allows 1 to 1024)");
  }
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
    Fail("an invalid grid");
  }
  if (tls_scheduler != nullptr && tls_scheduler->current != nullptr) Fail("a kernel launched from inside a kernel");
  // One scheduler per OS thread, its stacks kept for the next launch.
  static thread_local std::unique_ptr<Scheduler> cached;
  if (cached == nullptr) cached = std::make_unique<Scheduler>();
  Scheduler& sch = *cached;
  if (sch.fibers.size() < nthreads) sch.fibers.resize(nthreads);
  sch.exchange.assign(nthreads, 0);
  while (sch.stacks.size() < nthreads) sch.stacks.emplace_back(new char[kStackBytes]);
  sch.body = &body;
  tls_scheduler = &sch;
  gridDim = grid;
  blockDim = block;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = uint3{x, y, z};
        RunBlock(sch, nthreads);
      }
  sch.body = nullptr;
}

}  // namespace psflow::gpu_emu
