#include "common/ops/graph_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/checkpoint/checkpoint_state.h"
#include "common/core/testing.h"
#include "common/ops/gradients.h"
#include "common/ops/ops.h"
#include "common/train/layers.h"
#include "common/train/optimizer.h"
#include "common/train/saver.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

Tensor Batch() {
  Tensor x(DType::kFloat, TensorShape({3, 4}));
  for (int i = 0; i < 12; ++i) x.flat<float>()[static_cast<size_t>(i)] = 0.1f * static_cast<float>(i) - 0.5f;
  return x;
}

// A small trained model: returns the logits for Batch() and the model_dir.
struct Trained {
  std::string dir;
  std::string prefix;
  Tensor logits;
  std::unique_ptr<Graph> graph = std::make_unique<Graph>();
  std::unique_ptr<Session> sess;
};

Trained Train(const std::string& name) {
  Trained t;
  t.dir = testing::FreshTempDir(name);
  Scope root(t.graph.get());
  Output x = ops::Placeholder(root, DType::kFloat, PartialShape({-1, 4}), "x");
  Output y = ops::Placeholder(root, DType::kInt32, PartialShape({-1}), "y");
  Output logits = ops::Identity(root, *layers::Dense(root, *layers::Dense(root, x, 8, "relu"), 3), "logits");
  Output loss = losses::SparseSoftmaxCrossEntropy(root, y, logits);
  Variable* step = *GetOrCreateGlobalStep(root);
  Node* train = *(*Optimizer::Create("adam", {.lr = 0.01f}))->Minimize(root, loss, step);
  root.graph()->AddToCollection("train_op", train);
  root.graph()->AddToCollection("logits", logits);
  Node* init = GlobalVariablesInitializer(root);
  CHECK_OK(root.status());
  t.sess = std::make_unique<Session>(t.graph.get());
  std::vector<Tensor> out;
  CHECK_OK(t.sess->Run({}, {}, {init}, &out));
  for (int i = 0; i < 5; ++i) {
    CHECK_OK(t.sess->Run({{x, Batch()}, {y, Tensor::FromVector<int32_t>({0, 1, 2}, TensorShape({3}))}}, {}, {train}, &out));
  }
  CHECK_OK(t.sess->Run({{x, Batch()}}, {logits}, &out));
  t.logits = out[0];
  auto saver = Saver::Create(t.graph.get());
  t.prefix = *(*saver)->Save(t.sess.get(), t.dir, 5);
  return t;
}

TEST(GraphIoTest, ImportMetaGraphRestoresAndRunsWithNewFeeds) {
  Trained t = Train("meta");
  ASSERT_TRUE(Env::Default()->FileExists(t.prefix + ".meta"));
  Graph g;
  ASSERT_TRUE(ImportMetaGraph(t.prefix + ".meta", &g).ok());
  EXPECT_EQ(g.num_nodes(), t.graph->num_nodes());
  EXPECT_EQ(g.VariablesInCollection(collections::kTrainableVariables).size(), 4u);
  EXPECT_NE(g.FindVariable("dense/kernel/Adam_1"), nullptr);
  ASSERT_EQ(g.GetCollection("train_op").size(), 1u);
  auto x = g.GetTensorByName("x:0");
  auto logits = g.GetTensorByName("logits:0");
  ASSERT_TRUE(x.ok() && logits.ok());
  Session sess(&g);
  auto saver = Saver::Create(&g);
  ASSERT_TRUE((*saver)->Restore(&sess, t.prefix).ok());
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{*x, Batch()}}, {*logits}, &out).ok());
  EXPECT_TRUE(out[0].Equals(t.logits));
  // The imported train op keeps training (global_step advances).
  Node* train = std::get<Node*>(g.GetCollection("train_op")[0]);
  auto y = g.GetTensorByName("y:0");
  ASSERT_TRUE(sess.Run({{*x, Batch()}, {*y, Tensor::FromVector<int32_t>({0, 1, 2}, TensorShape({3}))}}, {}, {train}, &out).ok());
  ASSERT_TRUE(sess.Run({}, {g.FindVariable("global_step")->value}, &out).ok());
  EXPECT_EQ(out[0].flat<int64_t>()[0], 6);
}

TEST(GraphIoTest, FrozenGraphRunsWithoutACheckpoint) {
  Trained t = Train("freeze");
  auto frozen = FreezeGraph(*t.graph, t.sess->variables(), {"logits"});
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  for (const auto& n : frozen->node()) {
    EXPECT_NE(n.op(), "VariableV2") << n.name();
    EXPECT_NE(n.op(), "ApplyAdam") << n.name();
  }
  const std::string pb = t.dir + "/frozen.pb";
  ASSERT_TRUE(WriteBinaryProto(Env::Default(), pb, *frozen).ok());
  tensorflow::GraphDef loaded;
  ASSERT_TRUE(ReadBinaryProto(Env::Default(), pb, &loaded).ok());
  Graph g;
  ASSERT_TRUE(ImportGraphDef(loaded, &g).ok());
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{*g.GetTensorByName("x:0"), Batch()}}, {*g.GetTensorByName("logits:0")}, &out).ok());
  EXPECT_TRUE(out[0].Equals(t.logits));
}

// The export writes TensorFlow's ops (psflow's gradient helpers become the
// TensorFlow ops that compute the same) and reads back psflow's graph node
// for node.
TEST(GraphIoTest, ExportUsesTensorFlowOpsAndReadsBackExactly) {
  Trained t = Train("tf_form");
  Scope root(t.graph.get());
  auto x = t.graph->GetTensorByName("x:0");
  ASSERT_TRUE(x.ok());
  // A few more of psflow's own ops: dropout, a mean and its gradient.
  Output d = ops::Dropout(root, *x, 0.25f, 7, "dropout");
  Output m = ops::Mean(root, d, {1}, false, "mean");
  ops::Concat(root, {*x}, 1, "cat1");  // one value: TensorFlow's ConcatV2 needs two, so an Identity
  // x[:, 1::2] and its gradient.
  Output strided = ops::StridedSlice(root, *x, {0, 1}, {0, 0}, {1, 2}, {.begin = 1, .end = 3}, "strided");
  std::vector<Output> g;
  ASSERT_TRUE(AddGradients(root, {m}, {*x}, &g).ok());
  ASSERT_TRUE(AddGradients(root, {ops::Sum(root, strided, {})}, {*x}, &g).ok());
  ASSERT_TRUE(root.status().ok());
  std::set<std::string> own_types;
  for (const auto& n : t.graph->nodes()) own_types.insert(n->type());
  for (const char* helper : {"SumToShapeOf", "ReductionGrad", "DropoutMask", "StridedSliceGrad"}) {
    ASSERT_TRUE(own_types.count(helper)) << helper << " is not in the test graph";
  }
  const tensorflow::GraphDef def = ToGraphDef(*t.graph);
  int helpers = 0;
  for (const auto& n : def.node()) {
    for (const char* psflow_only : {"SumToShapeOf", "ReductionGrad", "DropoutMask", "ReshapeLike", "BroadcastLike"}) {
      EXPECT_NE(n.op(), psflow_only) << n.name();
    }
    if (n.op() == "MatMul" || n.op() == "BiasAdd" || n.op() == "ApplyAdam" || n.op() == "Mean") {
      EXPECT_TRUE(n.attr().contains("T")) << n.name() << " (" << n.op() << ") has no T";
    }
    const auto data_inputs = std::count_if(n.input().begin(), n.input().end(),
                                           [](const std::string& in) { return !in.starts_with("^"); });
    if (n.op() == "Mean") {
      EXPECT_EQ(data_inputs, 2) << "TensorFlow's Mean takes its axes as an input";
    }
    if (n.op() == "ApplyAdam") {
      EXPECT_EQ(data_inputs, 10) << n.name();
    }
    if (n.name() == "cat1") EXPECT_EQ(n.op(), "Identity");
    if (n.op() == "StridedSlice") EXPECT_EQ(data_inputs, 4) << "TensorFlow's StridedSlice takes begin, end, strides";
    if (n.op() == "StridedSliceGrad") EXPECT_EQ(data_inputs, 5) << n.name();
    helpers += n.attr().contains("_psflow_helper");
  }
  EXPECT_GT(helpers, 0);
  Graph back;
  ASSERT_TRUE(ImportGraphDef(def, &back).ok());
  ASSERT_EQ(back.num_nodes(), t.graph->num_nodes());
  for (const auto& n : t.graph->nodes()) {
    Node* b = back.FindNode(n->name());
    ASSERT_NE(b, nullptr) << n->name();
    EXPECT_EQ(b->type(), n->type()) << n->name();
    ASSERT_EQ(b->inputs().size(), n->inputs().size()) << n->name();
    for (size_t i = 0; i < n->inputs().size(); ++i) EXPECT_EQ(b->inputs()[i].name(), n->inputs()[i].name());
    EXPECT_EQ(b->control_inputs().size(), n->control_inputs().size()) << n->name();
    ASSERT_EQ(b->attrs().size(), n->attrs().size()) << n->name();
    for (const auto& [k, v] : n->attrs()) {
      ASSERT_TRUE(b->HasAttr(k)) << n->name() << " lost " << k;
      EXPECT_EQ(AttrValueToProto(b->attrs().at(k)).SerializeAsString(), AttrValueToProto(v).SerializeAsString())
          << n->name() << " " << k;
    }
  }
  // The .meta carries TensorFlow's Saver over the variables.
  const tensorflow::MetaGraphDef meta = ExportMetaGraph(*t.graph);
  EXPECT_EQ(meta.saver_def().filename_tensor_name(), "save/Const:0");
  EXPECT_EQ(meta.saver_def().restore_op_name(), "save/restore_all");
  EXPECT_EQ(meta.saver_def().version(), tensorflow::SaverDef::V2);
  bool has_restore = false;
  for (const auto& n : meta.graph_def().node()) has_restore |= n.name() == "save/RestoreV2" && n.op() == "RestoreV2";
  EXPECT_TRUE(has_restore);
}

// import_meta_graph under a scope, into a graph that holds nodes already,
// returns a Saver that restores the original checkpoint.
TEST(GraphIoTest, ImportUnderAScopeIntoAGraphWithNodes) {
  Trained t = Train("scoped");
  Graph g;
  Scope root(&g);
  ops::Const(root, 1.f, "x");  // the same name as the model's input: a clash without a scope
  Graph clash;
  ops::Const(Scope(&clash), 1.f, "x");
  Status s = ImportMetaGraph(t.prefix + ".meta", &clash);
  EXPECT_TRUE(IsAlreadyExistsError(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("already has a node named x"));

  auto saver = ImportMetaGraphWithSaver(t.prefix + ".meta", &g, {.import_scope = "imported"});
  ASSERT_TRUE(saver.ok()) << saver.status();
  auto x = g.GetTensorByName("imported/x:0");
  auto logits = g.GetTensorByName("imported/logits:0");
  ASSERT_TRUE(x.ok() && logits.ok());
  EXPECT_NE(g.FindVariable("imported/dense/kernel"), nullptr);
  Session sess(&g);
  ASSERT_TRUE((*saver)->Restore(&sess, t.prefix).ok());
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({{*x, Batch()}}, {*logits}, &out).ok());
  EXPECT_TRUE(out[0].Equals(t.logits));
  // Saved again, the .meta's TensorFlow Saver uses the checkpoint keys, not the scoped names.
  const std::string dir2 = testing::FreshTempDir("scoped_again");
  auto again = (*saver)->Save(&sess, dir2, 9);
  ASSERT_TRUE(again.ok()) << again.status();
  tensorflow::MetaGraphDef meta;
  ASSERT_TRUE(ReadBinaryProto(Env::Default(), *again + ".meta", &meta).ok());
  bool found = false;
  for (const auto& n : meta.graph_def().node()) {
    if (n.name() != "save/RestoreV2/tensor_names") continue;
    auto names = TensorFromProto(n.attr().at("value").tensor());
    ASSERT_TRUE(names.ok());
    for (const std::string& k : names->flat<std::string>()) EXPECT_FALSE(k.starts_with("imported/")) << k;
    found = true;
  }
  EXPECT_TRUE(found);
  // The imported graph defines ops too: a frozen import under TensorFlow's default name.
  auto frozen = FreezeGraph(*t.graph, t.sess->variables(), {"logits"});
  ASSERT_TRUE(frozen.ok());
  // A def that fails part way leaves the graph as it was.
  tensorflow::GraphDef bad = *frozen;
  auto* unknown = bad.add_node();
  unknown->set_name("zzz_last");
  unknown->set_op("NoSuchOpAnywhere");
  const int before = g.num_nodes();
  Status failed = ImportGraphDef(bad, &g, {.import_scope = "bad"});
  EXPECT_THAT(failed.message(), HasSubstr("NoSuchOpAnywhere"));
  EXPECT_EQ(g.num_nodes(), before);
  EXPECT_EQ(g.FindNode("bad/logits"), nullptr);
  ASSERT_TRUE(ImportGraphDef(*frozen, &g, {.import_scope = "import"}).ok());
  ASSERT_TRUE(sess.Run({{*g.GetTensorByName("import/x:0"), Batch()}}, {*g.GetTensorByName("import/logits:0")}, &out).ok());
  EXPECT_TRUE(out[0].Equals(t.logits));
}

// TensorFlow's typed value lists: one value fills the shape, strings too.
TEST(GraphIoTest, TensorProtoValueListsFillTheShape) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_STRING);
  p.mutable_tensor_shape()->add_dim()->set_size(3);
  p.add_string_val("a");
  auto t = TensorFromProto(p);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->flat<std::string>()[2], "a");
  tensorflow::TensorProto f;
  f.set_dtype(tensorflow::DT_FLOAT);
  f.mutable_tensor_shape()->add_dim()->set_size(4);
  f.add_float_val(1.5f);
  f.add_float_val(2.5f);
  auto ft = TensorFromProto(f);
  ASSERT_TRUE(ft.ok()) << ft.status();
  EXPECT_EQ(ft->flat<float>()[0], 1.5f);
  EXPECT_EQ(ft->flat<float>()[3], 2.5f);
  f.add_float_val(1);
  f.add_float_val(1);
  f.add_float_val(1);  // five values for four elements
  EXPECT_TRUE(IsDataLossError(TensorFromProto(f).status()));
}

TEST(GraphIoTest, BadFilesAreNamed) {
  const std::string dir = testing::FreshTempDir("bad");
  ASSERT_TRUE(WriteStringToFileAtomic(Env::Default(), dir + "/x.meta", "\xff\xff\xff garbage").ok());
  Graph g;
  Status s = ImportMetaGraph(dir + "/x.meta", &g);
  EXPECT_TRUE(IsDataLossError(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr(dir + "/x.meta"));
  tensorflow::GraphDef def;
  auto* n = def.add_node();
  n->set_name("a");
  n->set_op("Relu");
  n->add_input("missing:0");
  EXPECT_THAT(ImportGraphDef(def, &g).message(), HasSubstr("node a has an input"));
}

}  // namespace
}  // namespace psflow
