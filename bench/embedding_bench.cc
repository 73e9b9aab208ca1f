// embedding_bench: the parameter servers' row path, as an embedding-heavy
// step uses it, beside raw TCP moving the same bytes in the same run.
//
//   embedding_bench [--rows 10000000] [--batch_rows 4096] [--seconds 2] [--optimizer adagrad] [--dim D]
//                   [--tables static,dynamic]   (one kind alone, for a profile)
//
// A table of `rows` x dim (16, then 64) float rows is partitioned by rows
// over 2 PS tasks (real ParameterServer and PsService behind TCP servers on
// 127.0.0.1, the optimizer's slots beside it).  Each round pulls
// `batch_rows` distinct random rows (one message per task, in parallel,
// as PsClient::PullRows sends them), or pushes a row-sparse gradient for
// them that the optimizer applies.  Raw TCP: two connections, one per
// task, each a request of the same id bytes answered by the same row
// bytes (pull), or a request of ids and rows answered by one byte (push).
// Also printed: the PS tasks' resident memory per million rows against
// rows x dim x 4 bytes x (1 + slots).
// Then the same for a dynamic embedding table (ids hashed over the 2 tasks,
// rows created on first sight): filled with `rows` scattered int64 ids in
// process, then training pulls (ids with their counts) and pushes of
// `batch_rows` distinct known ids through PsClient, against raw TCP.
#include <malloc.h>

#include <utility>  // before Asio, which uses std::exchange
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>

#include "common/core/hash.h"
#include "common/core/logging.h"
#include "common/distributed/ps_client.h"
#include "ps/ps_service.h"

namespace psflow {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t ResidentBytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      int64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// Rounds per second of `round`, run for `seconds` (after one warm-up round).
template <typename F>
double RoundsPerSec(double seconds, F&& round) {
  round();
  int64_t n = 0;
  const auto t0 = Clock::now();
  while (Since(t0) < seconds) {
    round();
    ++n;
  }
  return static_cast<double>(n) / Since(t0);
}

// Raw TCP, one connection per PS task: each round sends `request` bytes on
// every connection and reads `reply` bytes from each (in parallel threads).
double RawRoundsPerSec(int tasks, size_t request, size_t reply, double seconds) {
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::acceptor>> accs;
  std::vector<std::thread> servers;
  for (int k = 0; k < tasks; ++k) {
    accs.push_back(std::make_unique<tcp::acceptor>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    servers.emplace_back([&, k] {
      tcp::socket s = accs[static_cast<size_t>(k)]->accept();
      s.set_option(tcp::no_delay(true));
      std::vector<char> in(request), out(reply, 'r');
      boost::system::error_code ec;
      while (true) {
        asio::read(s, asio::buffer(in), ec);
        if (ec) return;
        asio::write(s, asio::buffer(out), ec);
        if (ec) return;
      }
    });
  }
  std::vector<tcp::socket> conns;
  for (int k = 0; k < tasks; ++k) {
    conns.emplace_back(io);
    conns.back().connect(accs[static_cast<size_t>(k)]->local_endpoint());
    conns.back().set_option(tcp::no_delay(true));
  }
  std::vector<char> req(request, 'q');
  std::vector<std::vector<char>> replies(static_cast<size_t>(tasks), std::vector<char>(reply));
  const double rate = RoundsPerSec(seconds, [&] {
    std::vector<std::thread> ts;
    for (int k = 0; k < tasks; ++k) {
      ts.emplace_back([&, k] {
        asio::write(conns[static_cast<size_t>(k)], asio::buffer(req));
        asio::read(conns[static_cast<size_t>(k)], asio::buffer(replies[static_cast<size_t>(k)]));
      });
    }
    for (auto& t : ts) t.join();
  });
  for (auto& c : conns) c.close();
  for (auto& t : servers) t.join();
  return rate;
}

// PS tasks (ParameterServer and PsService) behind TCP servers on 127.0.0.1.
struct PsTasks {
  PsTasks(int n, const std::string& optimizer) : transport(rpc::NewTcpTransport()) {
    for (int k = 0; k < n; ++k) {
      auto p = ParameterServer::Create({.task_index = k, .optimizer = optimizer, .hyper = {.lr = 0.01f}});
      CHECK_OK(p.status());
      ps.push_back(std::move(p).value());
      services.push_back(std::make_unique<PsService>(ps.back().get()));
      auto s = transport->Listen({.port = 0, .task = StrCat("ps:", k)}, services.back()->Handler());
      CHECK_OK(s.status());
      servers.push_back(std::move(s).value());
    }
  }
  // One channel per task, for a client.
  std::vector<std::unique_ptr<rpc::Channel>> Channels() {
    std::vector<std::unique_ptr<rpc::Channel>> chans;
    for (const auto& s : servers) {
      chans.push_back(transport->Connect({.address = StrCat("127.0.0.1:", s->port()), .task = "worker:0"}));
    }
    return chans;
  }
  void Stop() {
    servers.clear();
    services.clear();
    ps.clear();
  }
  std::unique_ptr<rpc::Transport> transport;
  std::vector<std::unique_ptr<ParameterServer>> ps;
  std::vector<std::unique_ptr<PsService>> services;
  std::vector<std::unique_ptr<rpc::RpcServer>> servers;
};

// The dynamic table of `dim`: filled with `rows` ids in process, then
// pulled and pushed by 2 PS tasks behind TCP (raw_*: the same bytes' raw
// TCP rates measured for the static table).
void DynamicRun(int64_t dim, int64_t rows, int64_t batch_rows, double seconds, const std::string& optimizer,
                size_t num_slots, double raw_pull, double raw_push) {
  constexpr int kTasks = 2;
  const int64_t rss0 = ResidentBytes();
  PsTasks tasks(kTasks, optimizer);
  auto& ps = tasks.ps;
  const std::string name = "dyn-values";
  PsClient client(tasks.Channels(), PlaceVariables({{name, TensorShape({-1, dim})}}, kTasks), 600000);
  CHECK_OK(client.Initialize({{name, Tensor(DType::kFloat, TensorShape({0, dim}))}},
                             {{name, {.dim = dim, .stddev = 0.05f, .seed = 1}}}));
  // Scattered int64 ids, each to the task its hash names, in batches.
  auto id_of = [](int64_t k) { return static_cast<int64_t>(Mix64(static_cast<uint64_t>(k) + 1)); };
  {
    constexpr int64_t kFill = 65536;
    std::vector<std::vector<int64_t>> mine(kTasks);
    for (int64_t k0 = 0; k0 < rows; k0 += kFill) {
      for (auto& m : mine) m.clear();
      for (int64_t k = k0; k < std::min(rows, k0 + kFill); ++k) mine[DynamicRowTask(id_of(k), kTasks)].push_back(id_of(k));
      for (int t = 0; t < kTasks; ++t) {
        const int64_t n = static_cast<int64_t>(mine[t].size());
        const Tensor ids = Tensor::FromVector<int64_t>(mine[t], TensorShape({n}));
        const Tensor counts = Tensor::FromVector<int64_t>(std::vector<int64_t>(mine[t].size(), 1), TensorShape({n}));
        CHECK_OK(ps[t]->PullDynamicRows(name, ids, &counts, 0).status());
      }
    }
  }
  ::malloc_trim(0);
  const int64_t table_bytes = ResidentBytes() - rss0;
  int64_t held = 0;
  for (const auto& p : ps) held += p->TableStats().at(name).bytes;
  const double per_row = static_cast<double>(table_bytes) / static_cast<double>(rows);
  const double ideal = static_cast<double>(dim * 4 * static_cast<int64_t>(1 + num_slots));
  std::mt19937_64 rng(2);
  auto draw = [&] {
    std::unordered_set<int64_t> seen;
    std::uniform_int_distribution<int64_t> pick(0, rows - 1);
    while (static_cast<int64_t>(seen.size()) < batch_rows) seen.insert(id_of(pick(rng)));
    std::vector<int64_t> ids(seen.begin(), seen.end());
    return Tensor::FromVector<int64_t>(ids, TensorShape({batch_rows}));
  };
  std::vector<Tensor> id_sets;
  for (int i = 0; i < 16; ++i) id_sets.push_back(draw());
  const Tensor counts = Tensor::FromVector<int64_t>(std::vector<int64_t>(static_cast<size_t>(batch_rows), 1),
                                                    TensorShape({batch_rows}));
  Tensor grad(DType::kFloat, TensorShape({batch_rows, dim}));
  for (float& v : grad.flat<float>()) v = 0.001f;
  size_t next = 0;
  int64_t step = 1;
  // One task's share of a training lookup, in process.
  std::vector<Tensor> local_ids, local_counts;
  for (const Tensor& ids : id_sets) {
    std::vector<int64_t> m;
    for (int64_t id : ids.flat<int64_t>()) {
      if (DynamicRowTask(id, kTasks) == 0) m.push_back(id);
    }
    local_ids.push_back(Tensor::FromVector<int64_t>(m, TensorShape({static_cast<int64_t>(m.size())})));
    local_counts.push_back(Tensor::FromVector<int64_t>(std::vector<int64_t>(m.size(), 1), TensorShape({static_cast<int64_t>(m.size())})));
  }
  double local_rows = 0, calls = 0;
  const double gathers = RoundsPerSec(seconds, [&] {
    const size_t i = next++ % local_ids.size();
    CHECK_OK(ps[0]->PullDynamicRows(name, local_ids[i], &local_counts[i], step).status());
    local_rows += static_cast<double>(local_ids[i].num_elements());
    ++calls;
  });
  const double pull = RoundsPerSec(seconds, [&] {
    CHECK_OK(client.PullAll({}, {{.name = name, .rows = id_sets[next++ % id_sets.size()], .counts = counts}}, ++step).status());
  });
  const double push = RoundsPerSec(seconds, [&] {
    CHECK_OK(client.PushItems({{.name = name, .grad = grad, .rows = id_sets[next++ % id_sets.size()]}}, step).status());
  });
  const double b = static_cast<double>(batch_rows);
  std::printf("%8s %5lld %14.0f %14.0f %10.2f %14.0f %14.0f %10.2f %16.0f %11.0f/%-4.0f=%.2f\n", "dynamic",
              static_cast<long long>(dim), pull * b, raw_pull * b, pull / raw_pull, push * b, raw_push * b,
              push / raw_push, gathers * local_rows / calls, per_row, ideal, per_row / ideal);
  std::printf("%8s %5s   the tables' own count: %.1f bytes/row (%.2f of the floats) over %lld rows\n", "", "",
              static_cast<double>(held) / static_cast<double>(rows),
              static_cast<double>(held) / static_cast<double>(rows) / ideal, static_cast<long long>(rows));
}

void StaticRun(int64_t dim, int64_t rows, int64_t batch_rows, double seconds, const std::string& optimizer,
               size_t num_slots, double raw_pull, double raw_push, std::mt19937_64& rng);

int Main(int argc, char** argv) {
  int64_t rows = 10'000'000, batch_rows = 4096;
  double seconds = 2;
  std::string optimizer = "adagrad";
  std::vector<int64_t> dims = {16, 64};
  std::string tables = "static,dynamic";  // which tables to measure (for profiles of one)
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rows") rows = std::atoll(argv[i + 1]);
    if (a == "--batch_rows") batch_rows = std::atoll(argv[i + 1]);
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    if (a == "--optimizer") optimizer = argv[i + 1];
    if (a == "--dim") dims = {std::atoll(argv[i + 1])};
    if (a == "--tables") tables = argv[i + 1];
  }
  SetMinLogSeverity(LogSeverity::kWarning);
  constexpr int kTasks = 2;
  auto slots = OptimizerSlots(optimizer);
  CHECK_OK(slots.status());
  const size_t num_slots = slots->first.size();
  std::printf("embedding_bench: a %lld-row table over %d PS tasks (%s, %zu slot%s), %lld distinct rows per round, "
              "127.0.0.1\n",
              static_cast<long long>(rows), kTasks, optimizer.c_str(), num_slots, num_slots == 1 ? "" : "s",
              static_cast<long long>(batch_rows));
  std::printf("%8s %5s %14s %14s %10s %14s %14s %10s %14s %20s\n", "table", "dim", "pull rows/s", "raw rows/s",
              "pull/raw", "push rows/s", "raw rows/s", "push/raw", "PS gather rows/s", "PS B/row/(4d(1+s))");
  std::mt19937_64 rng(1);
  const bool want_static = tables.find("static") != std::string::npos;
  const bool want_dynamic = tables.find("dynamic") != std::string::npos;
  for (int64_t dim : dims) {
    // The same bytes over raw TCP: each task gets half of the ids (8 bytes
    // each) and answers half of the rows, or gets half of ids and rows.
    const size_t ids_bytes = static_cast<size_t>(batch_rows / kTasks) * 8;
    const size_t rows_bytes = static_cast<size_t>(batch_rows / kTasks * dim) * 4;
    const double raw_pull = RawRoundsPerSec(kTasks, ids_bytes, rows_bytes, seconds);
    const double raw_push = RawRoundsPerSec(kTasks, ids_bytes + rows_bytes, 1, seconds);
    if (want_static) StaticRun(dim, rows, batch_rows, seconds, optimizer, num_slots, raw_pull, raw_push, rng);
    if (want_dynamic) DynamicRun(dim, rows, batch_rows, seconds, optimizer, num_slots, raw_pull, raw_push);
  }
  return 0;
}

// The static table of `dim` (rows split over 2 PS tasks), pulled and pushed
// behind TCP beside the same bytes' raw TCP rates.
void StaticRun(int64_t dim, int64_t rows, int64_t batch_rows, double seconds, const std::string& optimizer,
               size_t num_slots, double raw_pull, double raw_push, std::mt19937_64& rng) {
  constexpr int kTasks = 2;
  {
    const int64_t rss0 = ResidentBytes();
    PsTasks tasks(kTasks, optimizer);
    auto& ps = tasks.ps;
    const std::string name = "emb";
    PsClient client(tasks.Channels(), PlaceVariables({{name, TensorShape({rows, dim})}}, kTasks, {.partitions = kTasks}),
                    600000);
    {
      Tensor init(DType::kFloat, TensorShape({rows, dim}));
      std::normal_distribution<float> normal(0, 0.05f);
      for (float& v : init.flat<float>()) v = normal(rng);
      CHECK_OK(client.Initialize({{name, init}}));
    }
    ::malloc_trim(0);  // the client's copy and the messages' buffers are gone
    const int64_t table_bytes = ResidentBytes() - rss0;  // both PS tasks' values and slots
    const double per_row = static_cast<double>(table_bytes) / static_cast<double>(rows);
    const double ideal = static_cast<double>(dim * 4 * static_cast<int64_t>(1 + num_slots));

    auto draw = [&] {
      std::unordered_set<int64_t> seen;
      std::uniform_int_distribution<int64_t> pick(0, rows - 1);
      while (static_cast<int64_t>(seen.size()) < batch_rows) seen.insert(pick(rng));
      std::vector<int64_t> ids(seen.begin(), seen.end());
      return Tensor::FromVector<int64_t>(ids, TensorShape({batch_rows}));
    };
    std::vector<Tensor> id_sets;
    for (int i = 0; i < 16; ++i) id_sets.push_back(draw());
    Tensor grad(DType::kFloat, TensorShape({batch_rows, dim}));
    for (float& v : grad.flat<float>()) v = 0.001f;
    size_t next = 0;
    // The PS tasks' own share of a pull, without RPC: gathering the rows
    // (task 0's part holds rows [0, rows / 2); its ids renumbered locally).
    std::vector<Tensor> local_ids;
    for (const Tensor& ids : id_sets) {
      std::vector<int64_t> mine;
      for (int64_t r : ids.flat<int64_t>()) {
        if (r < rows / kTasks) mine.push_back(r);
      }
      local_ids.push_back(Tensor::FromVector<int64_t>(mine, TensorShape({static_cast<int64_t>(mine.size())})));
    }
    double local_rows = 0, calls = 0;
    const double gathers = RoundsPerSec(seconds, [&] {
      const Tensor& ids = local_ids[next++ % local_ids.size()];
      CHECK_OK(ps[0]->PullRows(name + "/part_0", ids).status());
      local_rows += static_cast<double>(ids.num_elements());
      ++calls;
    });
    const double gather_rows_per_sec = gathers * local_rows / calls;  // rounds/s x rows per round
    const double pull = RoundsPerSec(seconds, [&] {
      CHECK_OK(client.PullRows(name, id_sets[next++ % id_sets.size()]).status());
    });
    const double push = RoundsPerSec(seconds, [&] {
      CHECK_OK(client.PushItems({{.name = name, .grad = grad, .rows = id_sets[next++ % id_sets.size()]}}, 0).status());
    });
    const double b = static_cast<double>(batch_rows);
    std::printf("%8s %5lld %14.0f %14.0f %10.2f %14.0f %14.0f %10.2f %16.0f %11.0f/%-4.0f=%.2f\n", "static",
                static_cast<long long>(dim), pull * b, raw_pull * b, pull / raw_pull, push * b, raw_push * b,
                push / raw_push, gather_rows_per_sec, per_row, ideal, per_row / ideal);
    tasks.Stop();
    ::malloc_trim(0);
  }
}

}  // namespace
}  // namespace psflow

int main(int argc, char** argv) { return psflow::Main(argc, argv); }
