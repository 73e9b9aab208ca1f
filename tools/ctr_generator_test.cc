#include "tools/ctr_generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "common/core/env.h"
#include "common/core/testing.h"
#include "common/data/dataset.h"

namespace psflow {
namespace {

std::map<std::string, FixedLenFeature> CtrSpec() {
  std::map<std::string, FixedLenFeature> spec;
  for (int k = 1; k <= kCtrNumeric; ++k) spec[StrCat("I", k)] = {.dtype = DType::kFloat};
  for (int f = 1; f <= kCtrCategorical; ++f) spec[StrCat("C", f)] = {.dtype = DType::kInt64};
  spec["label"] = {.dtype = DType::kInt64};
  return spec;
}

TEST(CtrGeneratorTest, WritesCriteoShapedShardsWithAKnownCeiling) {
  const std::string dir = testing::FreshTempDir("ctr");
  CtrOptions o{.out_dir = dir, .train_examples = 20000, .eval_examples = 5000, .train_shards = 3, .vocab = {1000}};
  auto s = GenerateCtr(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->train_files.size(), 3u);
  EXPECT_EQ(s->train_files[1], dir + "/train-00001-of-00003.tfrecord");
  ASSERT_EQ(s->eval_files.size(), 1u);
  // The teacher makes the task learnable but not trivial, on both splits.
  EXPECT_GT(s->train_auc_ceiling, 0.7);
  EXPECT_LT(s->train_auc_ceiling, 0.99);
  EXPECT_NEAR(s->eval_auc_ceiling, s->train_auc_ceiling, 0.03);
  EXPECT_GT(s->train_click_rate, 0.1);
  EXPECT_LT(s->train_click_rate, 0.5);
  // Every record parses with the Criteo spec; ids within the vocabulary and
  // Zipf-like: the most frequent id of C1 far above the mean.
  auto ds = TFRecordExampleDataset(s->train_files, CtrSpec());
  ASSERT_TRUE(ds.ok()) << ds.status();
  auto batched = Batch(std::move(ds).value(), 1000);
  Example e;
  int64_t n = 0, clicks = 0;
  std::map<int64_t, int64_t> c1;
  while (true) {
    auto more = batched->Next(&e);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    const int64_t b = e.at("label").num_elements();
    n += b;
    for (int64_t i = 0; i < b; ++i) {
      clicks += e.at("label").flat<int64_t>()[static_cast<size_t>(i)];
      for (int f = 1; f <= kCtrCategorical; ++f) {
        const int64_t id = e.at(StrCat("C", f)).flat<int64_t>()[static_cast<size_t>(i)];
        ASSERT_GE(id, 0);
        ASSERT_LT(id, 1000);
      }
      ++c1[e.at("C1").flat<int64_t>()[static_cast<size_t>(i)]];
      EXPECT_GE(e.at("I1").flat<float>()[static_cast<size_t>(i)], 0.f);
    }
  }
  EXPECT_EQ(n, 20000);
  EXPECT_NEAR(static_cast<double>(clicks) / static_cast<double>(n), s->train_click_rate, 1e-9);
  int64_t top = 0;
  for (const auto& [id, count] : c1) top = std::max(top, count);
  EXPECT_GT(top, 20 * n / static_cast<int64_t>(c1.size()));
  // Deterministic: the same options write the same bytes.
  const std::string again = testing::FreshTempDir("ctr_again");
  CtrOptions o2 = o;
  o2.out_dir = again;
  ASSERT_TRUE(GenerateCtr(o2).ok());
  auto a = ReadFileToString(Env::Default(), s->train_files[0]);
  auto b = ReadFileToString(Env::Default(), again + "/train-00000-of-00003.tfrecord");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*a == *b);
}

TEST(CtrGeneratorTest, HugeVocabulariesCostNoMemoryAndBadOptionsAreNamed) {
  const std::string dir = testing::FreshTempDir("ctr_big");
  CtrOptions o{.out_dir = dir, .train_examples = 2000, .eval_examples = 0, .train_shards = 1,
               .vocab = {int64_t{100000000}}};
  auto s = GenerateCtr(o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->eval_files.empty());
  o.vocab = {10, 20};
  EXPECT_THAT(GenerateCtr(o).status().message(), ::testing::HasSubstr("--vocab takes one size or 26"));
  o.vocab = {10};
  o.zipf = 0;
  EXPECT_THAT(GenerateCtr(o).status().message(), ::testing::HasSubstr("--zipf must be > 0"));
  o.zipf = 1.1;
  o.out_dir = "";
  EXPECT_THAT(GenerateCtr(o).status().message(), ::testing::HasSubstr("--out is required"));
}

TEST(CtrGeneratorTest, ExactAucCountsTiesHalf) {
  EXPECT_DOUBLE_EQ(ExactAuc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(ExactAuc({0.5f, 0.5f}, {0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(ExactAuc({0.2f, 0.9f}, {0, 1}), 1.0);
}

}  // namespace
}  // namespace psflow
