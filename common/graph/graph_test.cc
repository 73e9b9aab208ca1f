#include "common/graph/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/graph/op_registry.h"
#include "common/graph/scope.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

// A minimal op for graph-level tests: "TestConst" with a float scalar output.
void RegisterTestOps() {
  static bool done = [] {
    OpRegistry::Global()->Register(
        {.type = "TestConst", .num_inputs = 0, .shape_fn = [](InferenceContext& c) {
           c.AddOutput(DType::kFloat, PartialShape({}));
           return OkStatus();
         }});
    OpRegistry::Global()->Register(
        {.type = "TestAdd", .num_inputs = 2, .shape_fn = [](InferenceContext& c) {
           if (c.input_dtype(0) != c.input_dtype(1)) return InvalidArgumentError("dtype mismatch");
           c.AddOutput(c.input_dtype(0), c.input_shape(0));
           c.AddOutput(c.input_dtype(0), c.input_shape(0));
           return OkStatus();
         }});
    return true;
  }();
  (void)done;
}

Node* Const(const Scope& s, const std::string& name = "") {
  auto n = s.AddNode({.type = "TestConst", .name = name.empty() ? "Const" : name});
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? *n : nullptr;
}

class GraphTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterTestOps(); }
  Graph g_;
  Scope root_{&g_};
};

TEST_F(GraphTest, AutomaticNamesFromOpType) {
  EXPECT_EQ(Const(root_)->name(), "Const");
  EXPECT_EQ(Const(root_)->name(), "Const_1");
  EXPECT_EQ(Const(root_)->name(), "Const_2");
  EXPECT_EQ(Const(root_)->output(0).name(), "Const_3:0");
}

TEST_F(GraphTest, UniquificationIgnoresCase) {
  Const(root_);
  Const(root_);
  EXPECT_EQ(Const(root_, "const")->name(), "const_2");
  EXPECT_EQ(Const(root_, "CONST")->name(), "CONST_3");
  // An explicit name that collides with a generated one moves on.
  EXPECT_EQ(Const(root_, "Const_1")->name(), "Const_1_1");
}

TEST_F(GraphTest, NameScopesNestAndAreUniquified) {
  Scope sum = root_.NameScope("sum");
  Scope multi = sum.NameScope("multi");
  EXPECT_EQ(Const(multi, "coef")->output(0).name(), "sum/multi/coef:0");
  Scope sum2 = root_.NameScope("sum");
  EXPECT_EQ(sum2.name_scope(), "sum_1");
  EXPECT_EQ(Const(sum2)->name(), "sum_1/Const");
  // Re-entering an exact scope with a trailing slash.
  EXPECT_EQ(Const(root_.NameScope("sum/multi/"), "coef")->name(), "sum/multi/coef_1");
  // A node name in use makes a scope of that name unique too.
  Const(root_, "layer");
  EXPECT_EQ(root_.NameScope("layer").name_scope(), "layer_1");
  EXPECT_EQ(root_.NameScope("sum").NameScope("").name_scope(), "");
}

TEST_F(GraphTest, VariableScopesKeepTheirNameButUniquifyOpScopes) {
  Scope a = root_.VariableScope("dense");
  Scope b = root_.VariableScope("dense");
  EXPECT_EQ(a.variable_scope(), "dense");
  EXPECT_EQ(b.variable_scope(), "dense");
  EXPECT_EQ(a.name_scope(), "dense");
  EXPECT_EQ(b.name_scope(), "dense_1");
  Scope inner = b.VariableScope("inner");
  EXPECT_EQ(inner.variable_scope(), "dense/inner");
  EXPECT_EQ(inner.name_scope(), "dense_1/inner");
}

TEST_F(GraphTest, ReuseIsInheritedAndCannotBeTurnedOff) {
  EXPECT_EQ(root_.reuse(), Reuse::kFalse);
  Scope r = root_.VariableScope("a", Reuse::kTrue);
  EXPECT_EQ(r.VariableScope("b").reuse(), Reuse::kTrue);
  EXPECT_EQ(r.VariableScope("b", Reuse::kFalse).reuse(), Reuse::kTrue);
  EXPECT_EQ(root_.VariableScope("c", Reuse::kAuto).VariableScope("d").reuse(), Reuse::kAuto);
}

TEST_F(GraphTest, LookupsByName) {
  Node* c = Const(root_.NameScope("scope"), "op");
  auto add = root_.AddNode({.type = "TestAdd", .inputs = {c->output(0), c->output(0)}});
  ASSERT_TRUE(add.ok());
  EXPECT_EQ(*g_.GetOperationByName("scope/op"), c);
  EXPECT_EQ(g_.GetTensorByName("TestAdd:1")->index, 1);
  EXPECT_THAT(g_.GetTensorByName("TestAdd:2").status().message(), HasSubstr("only has 2 outputs"));
  EXPECT_THAT(g_.GetTensorByName("scope/op").status().message(), HasSubstr("<op_name>:<output_index>"));
  EXPECT_TRUE(IsNotFoundError(g_.GetTensorByName("nope:0").status()));
  EXPECT_TRUE(IsNotFoundError(g_.GetOperationByName("nope").status()));
}

TEST_F(GraphTest, ShapeFunctionErrorsNameTheNodeAndStickToTheScope) {
  Node* c = Const(root_);
  Graph other;
  Scope other_root(&other);
  auto bad = other_root.AddNode({.type = "TestAdd", .inputs = {c->output(0), c->output(0)}});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("not a tensor of this graph"));
  EXPECT_FALSE(other_root.ok());
  auto unknown = root_.AddNode({.type = "NoSuchOp"});
  EXPECT_THAT(unknown.status().message(), HasSubstr("op type NoSuchOp"));
  auto arity = Scope(&g_).AddNode({.type = "TestAdd", .inputs = {c->output(0)}});
  EXPECT_THAT(arity.status().message(), HasSubstr("takes 2 inputs, got 1"));
}

TEST_F(GraphTest, ControlDependenciesAndDevicesComeFromTheScope) {
  Node* a = Const(root_);
  Node* b = Const(root_.WithControlDependencies({a}).WithDevice("/job:ps/task:0"));
  EXPECT_EQ(b->control_inputs(), std::vector<Node*>{a});
  EXPECT_EQ(b->device(), "/job:ps/task:0");
}

TEST_F(GraphTest, CollectionsHoldVariablesAndTensors) {
  Node* c = Const(root_);
  Variable* v = g_.AddVariable(Variable{.name = "w", .ref = c->output(0)});
  g_.AddToCollection(collections::kGlobalVariables, v);
  g_.AddToCollection(collections::kGlobalVariables, v);  // a list, as TensorFlow's: kept twice
  g_.AddToCollection(collections::kLosses, c->output(0));
  EXPECT_EQ(g_.VariablesInCollection(collections::kGlobalVariables).size(), 2u);
  EXPECT_EQ(g_.GetCollection(collections::kLosses).size(), 1u);
  EXPECT_TRUE(g_.GetCollection("nothing").empty());
  EXPECT_EQ(g_.FindVariable("w"), v);
}

// Dimensions whose product overflows (an imported GraphDef can hold any
// numbers; found by fuzz/graph_import_fuzz) count as unknown, not as UB.
TEST(PartialShapeTest, ElementCountsThatOverflowAreUnknown) {
  EXPECT_EQ(PartialShape({3, 4}).NumElementsOrUnknown(), 12);
  EXPECT_EQ(PartialShape({756689622488376290, 6745}).NumElementsOrUnknown(), kUnknownDim);
  EXPECT_EQ(PartialShape({int64_t{1} << 40, int64_t{1} << 40}).NumElementsOrUnknown(), kUnknownDim);
}

TEST(PartialShapeTest, CompatibilityAndMerge) {
  PartialShape p({-1, 784});
  EXPECT_EQ(p.DebugString(), "[?,784]");
  EXPECT_TRUE(p.IsCompatibleWith(TensorShape({128, 784})));
  EXPECT_FALSE(p.IsCompatibleWith(TensorShape({128, 785})));
  EXPECT_FALSE(p.IsCompatibleWith(TensorShape({784})));
  EXPECT_TRUE(PartialShape::Unknown().IsCompatibleWith(p));
  EXPECT_EQ(p.Merge(PartialShape({32, -1}))->DebugString(), "[32,784]");
  EXPECT_FALSE(p.Merge(PartialShape({1, 2})).ok());
}

}  // namespace
}  // namespace psflow
