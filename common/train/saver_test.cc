#include "common/train/saver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/core/testing.h"
#include "common/ops/ops.h"
#include "common/train/layers.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

// A graph with w [2,2] and b [2] (and global_step), values set by `scale`.
struct Model {
  Graph g;
  Scope root{&g};
  Variable* w = nullptr;
  Variable* b = nullptr;
  Variable* step = nullptr;
  std::unique_ptr<Session> sess;

  explicit Model(float scale, const std::string& w_name = "w", TensorShape w_shape = TensorShape({2, 2})) {
    std::vector<float> wv(static_cast<size_t>(w_shape.num_elements()));
    for (size_t i = 0; i < wv.size(); ++i) wv[i] = scale * static_cast<float>(i + 1);
    w = *NewVariable(root, ops::Const(root, Tensor::FromVector<float>(wv, w_shape)), w_name);
    b = *NewVariable(root, ops::Const(root, Tensor::FromVector<float>({scale, -scale}, TensorShape({2}))), "b");
    step = *GetOrCreateGlobalStep(root);
    Node* init = GlobalVariablesInitializer(root);
    CHECK_OK(root.status());
    sess = std::make_unique<Session>(&g);
    std::vector<Tensor> out;
    CHECK_OK(sess->Run({}, {}, {init}, &out));
  }
  Tensor Value(const Variable* v) {
    std::vector<Tensor> out;
    CHECK_OK(sess->Run({}, {v->value}, &out));
    return out[0];
  }
};

TEST(SaverTest, SaveRestoreRoundTripWithShardsAndStateFile) {
  const std::string dir = testing::FreshTempDir("rt");
  Model a(1.f);
  auto saver = Saver::Create(&a.g, {.num_shards = 2});
  ASSERT_TRUE(saver.ok());
  auto prefix = (*saver)->Save(a.sess.get(), dir, 7);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(*prefix, dir + "/model.ckpt-7");
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt-7.data-00001-of-00002"));
  Model b(5.f);
  auto saver_b = Saver::Create(&b.g);
  ASSERT_TRUE((*saver_b)->Restore(b.sess.get(), *prefix).ok());
  EXPECT_TRUE(b.Value(b.w).Equals(a.Value(a.w)));
  EXPECT_TRUE(b.Value(b.b).Equals(a.Value(a.b)));
}

TEST(SaverTest, VariableListIsFixedAtCreation) {
  const std::string dir = testing::FreshTempDir("fixed");
  Model a(1.f);
  auto saver = Saver::Create(&a.g);
  ASSERT_TRUE(NewVariable(a.root, ops::Const(a.root, 3.f), "late").ok());
  auto prefix = (*saver)->Save(a.sess.get(), dir, 1);
  ASSERT_TRUE(prefix.ok()) << prefix.status();  // "late" is not initialized and not saved
  auto r = BundleReader::Open(Env::Default(), *prefix);
  EXPECT_FALSE((*r)->Contains("late"));
  EXPECT_TRUE((*r)->Contains("w"));
}

TEST(SaverTest, Restore_MissingKeyAndShapeMismatch_AreListedAndNothingIsAssigned) {
  const std::string dir = testing::FreshTempDir("mismatch");
  Model a(1.f);
  auto prefix = (*Saver::Create(&a.g))->Save(a.sess.get(), dir, 1);
  Model b(5.f, "w2", TensorShape({2, 3}));  // w renamed and reshaped
  Tensor before = b.Value(b.b);
  Status s = (*Saver::Create(&b.g, {.strict = true}))->Restore(b.sess.get(), *prefix);
  ASSERT_TRUE(IsFailedPreconditionError(s));
  EXPECT_THAT(s.message(), HasSubstr("Key w2 not found in checkpoint"));
  EXPECT_THAT(s.message(), HasSubstr("checkpoint key w (float [2,2]) is not a variable of the model"));
  EXPECT_TRUE(b.Value(b.b).Equals(before));  // b matched but was not assigned: all or nothing
  // A shape mismatch under the same name.
  Model c(5.f, "w", TensorShape({2, 3}));
  Status s2 = (*Saver::Create(&c.g, {.strict = true}))->Restore(c.sess.get(), *prefix);
  EXPECT_THAT(s2.message(), HasSubstr("tensor_name = w; shape in model [2,3] does not match the shape stored in checkpoint: [2,2]"));
}

// Without `strict`, a Saver restores as TensorFlow's does: a graph holding
// a subset of the checkpoint's variables restores; a variable the checkpoint
// lacks is NOT_FOUND, and nothing is assigned.
TEST(SaverTest, RestoreAsTensorFlowDoes) {
  const std::string dir = testing::FreshTempDir("tf_restore");
  Model a(1.f);
  auto prefix = (*Saver::Create(&a.g))->Save(a.sess.get(), dir, 1);
  ASSERT_TRUE(prefix.ok());
  Graph g;
  Scope root(&g);
  Variable* w = *NewVariable(root, ops::Const(root, Tensor::FromVector<float>({0, 0, 0, 0}, TensorShape({2, 2}))), "w");
  Node* init = GlobalVariablesInitializer(root);
  ASSERT_TRUE(root.status().ok());
  Session sess(&g);
  std::vector<Tensor> out;
  ASSERT_TRUE(sess.Run({}, {}, {init}, &out).ok());
  Status subset = (*Saver::Create(&g))->Restore(&sess, *prefix);
  ASSERT_TRUE(subset.ok()) << subset;  // b and global_step in the checkpoint are not this graph's: fine
  ASSERT_TRUE(sess.Run({}, {w->value}, &out).ok());
  EXPECT_TRUE(out[0].Equals(a.Value(a.w)));

  Model b(5.f, "w2");
  Tensor before = b.Value(b.b);
  Status missing = (*Saver::Create(&b.g))->Restore(b.sess.get(), *prefix);
  EXPECT_TRUE(IsNotFoundError(missing)) << missing;
  EXPECT_THAT(missing.message(), HasSubstr("Key w2 not found in checkpoint " + *prefix));
  EXPECT_TRUE(b.Value(b.b).Equals(before));
}

// Saver.save(sess, path) without a global step writes the bare prefix.
TEST(SaverTest, SaveWithoutAGlobalStepWritesTheBarePrefix) {
  const std::string dir = testing::FreshTempDir("bare");
  Model a(1.f);
  auto saver = Saver::Create(&a.g);
  auto prefix = (*saver)->Save(a.sess.get(), dir);
  ASSERT_TRUE(prefix.ok()) << prefix.status();
  EXPECT_EQ(*prefix, dir + "/model.ckpt");
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt.index"));
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt.meta"));
  auto state = ReadFileToString(Env::Default(), dir + "/checkpoint");
  ASSERT_TRUE(state.ok());
  EXPECT_THAT(*state, HasSubstr("model_checkpoint_path: \"model.ckpt\"\n"));  // relative, as TensorFlow writes it
  Model b(5.f);
  ASSERT_TRUE((*Saver::Create(&b.g))->Restore(b.sess.get(), *prefix).ok());
  EXPECT_TRUE(b.Value(b.w).Equals(a.Value(a.w)));
}

TEST(SaverTest, VarListSubsetAndRename) {
  const std::string dir = testing::FreshTempDir("varlist");
  Model a(1.f);
  auto prefix = (*Saver::Create(&a.g))->Save(a.sess.get(), dir, 1);
  Model b(5.f, "renamed_w");
  // {"w": renamed_w} restores renamed_w from key "w"; b is left alone.
  auto saver = Saver::Create(&b.g, {.var_list = std::map<std::string, const Variable*>{{"w", b.w}}});
  Tensor b_before = b.Value(b.b);
  ASSERT_TRUE((*saver)->Restore(b.sess.get(), *prefix).ok());
  EXPECT_TRUE(b.Value(b.w).Equals(a.Value(a.w)));
  EXPECT_TRUE(b.Value(b.b).Equals(b_before));
  // Saving with the same var_list writes the checkpoint key, not the variable name.
  auto p2 = (*saver)->Save(b.sess.get(), dir + "/again", 2);
  auto r = BundleReader::Open(Env::Default(), *p2);
  EXPECT_TRUE((*r)->Contains("w"));
  EXPECT_FALSE((*r)->Contains("renamed_w"));
}

TEST(SaverTest, RetentionKeepsMaxToKeep) {
  const std::string dir = testing::FreshTempDir("keep");
  Model a(1.f);
  auto saver = Saver::Create(&a.g, {.max_to_keep = 2});
  for (int step = 1; step <= 4; ++step) ASSERT_TRUE((*saver)->Save(a.sess.get(), dir, step).ok());
  EXPECT_FALSE(Env::Default()->FileExists(dir + "/model.ckpt-2.index"));
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt-3.index"));
  EXPECT_TRUE(Env::Default()->FileExists(dir + "/model.ckpt-4.index"));
}

TEST(LayersTest, DenseNamesShapesAndErrors) {
  Graph g;
  Scope root(&g);
  Output x = ops::Placeholder(root, DType::kFloat, PartialShape({-1, 5}), "x");
  auto h = layers::Dense(root, x, 3, "relu");
  auto o = layers::Dense(root, *h, 2);
  ASSERT_TRUE(h.ok() && o.ok());
  EXPECT_EQ(h->node->name(), "dense/Relu");
  EXPECT_EQ(o->node->name(), "dense_1/BiasAdd");
  EXPECT_EQ(o->shape().DebugString(), "[?,2]");
  EXPECT_NE(g.FindVariable("dense_1/kernel"), nullptr);
  Output bad = ops::Placeholder(root, DType::kFloat, PartialShape({-1, -1}), "bad");
  EXPECT_THAT(layers::Dense(root, bad, 2).status().message(), HasSubstr("known features"));
  layers::Activate(root, x, "swish");
  EXPECT_THAT(root.status().message(), HasSubstr("unknown activation 'swish'"));
}

}  // namespace
}  // namespace psflow
