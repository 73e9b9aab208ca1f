// A small parameter-server job in one process for the trainer tests
// (worker/, chief/): 2 real PS tasks (ps/) on the fake transport, a
// dnn_classifier over the 8-feature blobs of common/train/train_testing.h
// (or another model_fn and its data).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/core/logging.h"
#include "common/distributed/ps_client.h"
#include "common/train/train_testing.h"
#include "ps/ps_service.h"
#include "worker/trainer.h"

namespace psflow::testing {

inline InputFn Input(uint32_t seed, int64_t batch = 32) { return testing::BlobInput(seed, batch); }

struct JobOptions {
  std::vector<int64_t> hidden = {16};
  int64_t replicas_to_aggregate = 0;  // > 0: synchronous
  int num_ps = 2;
  std::string optimizer = "adam";
  float lr = 0.01f;
  ModelFn model_fn = DnnClassifierFn();
  Example sample;  // a batch of the model's input; empty: blobs
  int64_t n_classes = 3;
  // Feature columns and per-scope optimizers (the PS tasks apply them too).
  std::vector<FeatureColumnSpec> feature_columns;
  std::vector<std::string> linear_feature_columns, dnn_feature_columns;
  std::vector<std::pair<std::string, OptimizerConfig>> scoped_optimizers;
};

// PS tasks for a chief and workers, in one process on the fake transport.
struct Job {
  rpc::FakeTransport transport;  // first: it outlives the servers
  std::vector<std::unique_ptr<ParameterServer>> ps;
  std::vector<std::unique_ptr<PsService>> services;
  std::vector<std::unique_ptr<rpc::RpcServer>> servers;
  std::vector<std::string> addresses;
  ModelParams params;
  std::map<std::string, TensorShape> shapes;

  explicit Job(JobOptions o = {}) : num_ps(o.num_ps) {
    params.hidden_units = o.hidden;
    params.n_classes = o.n_classes;
    params.optimizer = {.type = o.optimizer, .hyper = {.lr = o.lr}};
    params.feature_columns = o.feature_columns;
    params.linear_feature_columns = o.linear_feature_columns;
    params.dnn_feature_columns = o.dnn_feature_columns;
    params.scoped_optimizers = o.scoped_optimizers;
    std::vector<ParameterServerOptions::ScopedOptimizer> scoped;
    for (const auto& [scope, c] : o.scoped_optimizers) {
      scoped.push_back({.scope = scope, .optimizer = c.type, .hyper = c.hyper, .initial_accumulator_value = c.initial_accumulator_value});
    }
    for (int k = 0; k < o.num_ps; ++k) {
      ps.push_back(std::move(ParameterServer::Create({.task_index = k, .optimizer = o.optimizer, .hyper = {.lr = o.lr},
                                                      .scoped_optimizers = scoped,
                                                      .replicas_to_aggregate = o.replicas_to_aggregate}))
                       .value());
      services.push_back(std::make_unique<PsService>(ps.back().get()));
      auto s = transport.Listen({.port = 0, .task = StrCat("ps:", k)}, services.back()->Handler());
      CHECK_OK(s.status());
      addresses.push_back(StrCat("127.0.0.1:", (*s)->port()));
      servers.push_back(std::move(s).value());
    }
    Example batched = o.sample;
    if (batched.empty()) {
      auto b = Batch(std::move(FromTensorSlices(Blobs(4, 0)).value()), 4);
      CHECK_OK(b->Next(&batched).status());
    }
    auto vars = JobVariables(o.model_fn, params, batched);
    CHECK_OK(vars.status());
    for (const auto& v : *vars) shapes[v.name] = v.shape;
  }
  std::unique_ptr<PsClient> Client(const std::string& task, PlacementOptions placement = {}) {
    std::vector<std::unique_ptr<rpc::Channel>> chans;
    for (const auto& a : addresses) chans.push_back(transport.Connect({.address = a, .task = task}));
    return std::make_unique<PsClient>(std::move(chans), PlaceVariables(shapes, num_ps, placement));
  }
  const int num_ps;
};

}  // namespace psflow::testing
