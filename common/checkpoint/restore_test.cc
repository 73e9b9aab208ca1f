#include "common/checkpoint/restore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/core/testing.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = JoinPath(testing::FreshTempDir("ckpt"), "model.ckpt-10");
    BundleWriter w(Env::Default(), prefix_);
    CHECK_OK(w.Add("a", Tensor::FromVector<float>({1, 2, 3}, TensorShape({3}))));
    CHECK_OK(w.Add("b", Tensor::FromVector<float>({1, 2, 3, 4}, TensorShape({2, 2}))));
    CHECK_OK(w.Add("c", Tensor::Scalar<int32_t>(5)));
    CHECK_OK(w.Add("global_step", Tensor::Scalar<int64_t>(10)));
    CHECK_OK(w.Add("old", Tensor::Scalar<float>(7)));
    CHECK_OK(w.Finish());
    reader_ = std::move(BundleReader::Open(Env::Default(), prefix_)).value();
  }
  std::string prefix_;
  std::unique_ptr<BundleReader> reader_;
};

TEST_F(RestoreTest, MatchingModelRestoresEveryVariable) {
  std::vector<VariableSpec> model = {{"a", DType::kFloat, TensorShape({3})},
                                     {"b", DType::kFloat, TensorShape({2, 2})},
                                     {"c", DType::kInt32, TensorShape({})},
                                     {"global_step", DType::kInt64, TensorShape({})},
                                     {"old", DType::kFloat, TensorShape({})}};
  auto v = RestoreVariables(*reader_, model);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 5u);
  EXPECT_EQ(v->at("global_step").flat<int64_t>()[0], 10);
  EXPECT_EQ(v->at("b").flat<float>()[3], 4.f);
}

TEST_F(RestoreTest, Restore_Mismatch_ListsEveryProblemInOneMessage) {
  std::vector<VariableSpec> model = {{"a", DType::kFloat, TensorShape({4})},      // shape
                                     {"b", DType::kFloat, TensorShape({2, 2})},   // fine
                                     {"c", DType::kInt64, TensorShape({})},       // dtype
                                     {"d", DType::kFloat, TensorShape({1})},      // missing
                                     {"e", DType::kFloat, TensorShape({1})},      // missing
                                     {"global_step", DType::kInt64, TensorShape({})}};
  Status s = CheckCompatibility(*reader_, model);
  ASSERT_TRUE(IsFailedPreconditionError(s));
  // Typed, not a phrase to search for: the payload names the checkpoint.
  EXPECT_TRUE(IsCheckpointMismatch(s.WithContext("chief:0")));
  EXPECT_EQ(s.GetPayload(kCheckpointMismatch), prefix_);
  EXPECT_FALSE(IsCheckpointMismatch(FailedPreconditionError(s.message())));
  const std::string& m = s.message();
  EXPECT_THAT(m, HasSubstr(prefix_));
  EXPECT_THAT(m, HasSubstr("(5 problems)"));
  EXPECT_THAT(m, HasSubstr("Key d not found in checkpoint"));
  EXPECT_THAT(m, HasSubstr("Key e not found in checkpoint"));
  EXPECT_THAT(m, HasSubstr("tensor_name = a; shape in model [4] does not match the shape stored "
                           "in checkpoint: [3]"));
  EXPECT_THAT(m, HasSubstr("tensor_name = c; expected dtype int64 does not equal original dtype int32"));
  EXPECT_THAT(m, HasSubstr("checkpoint key old (float []) is not a variable of the model"));
  EXPECT_THAT(m, Not(HasSubstr("tensor_name = b")));
  EXPECT_THAT(m, HasSubstr("var_list"));  // says the way out
  auto v = RestoreVariables(*reader_, model);
  EXPECT_EQ(v.status(), s);  // refused, same message
}

TEST_F(RestoreTest, VarListRestoresASubset) {
  std::vector<VariableSpec> model = {{"a", DType::kFloat, TensorShape({3})},
                                     {"new_var", DType::kFloat, TensorShape({9})}};
  // Without a var_list the new variable and the extra keys are problems.
  EXPECT_FALSE(CheckCompatibility(*reader_, model).ok());
  RestoreOptions opts;
  opts.var_list = VarListFromNames({"a"});
  auto v = RestoreVariables(*reader_, model, opts);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->size(), 1u);
  EXPECT_EQ(v->count("a"), 1u);
}

TEST_F(RestoreTest, VarListRenamesCheckpointKeys) {
  std::vector<VariableSpec> model = {{"renamed/w", DType::kFloat, TensorShape({})}};
  RestoreOptions opts;
  opts.var_list = std::map<std::string, std::string>{{"old", "renamed/w"}};
  auto v = RestoreVariables(*reader_, model, opts);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->at("renamed/w").flat<float>()[0], 7.f);
  // A rename to a key that is not there, or onto a shape that differs, still fails.
  opts.var_list = std::map<std::string, std::string>{{"missing", "renamed/w"}, {"a", "renamed/w"}};
  Status s = CheckCompatibility(*reader_, model, opts);
  EXPECT_THAT(s.message(), HasSubstr("Key missing not found in checkpoint (for variable renamed/w)"));
  EXPECT_THAT(s.message(), HasSubstr("shape in model [] does not match"));
  opts.var_list = std::map<std::string, std::string>{{"a", "nope"}};
  EXPECT_THAT(CheckCompatibility(*reader_, model, opts).message(),
              HasSubstr("variable nope, which the model does not have"));
}

}  // namespace
}  // namespace psflow
