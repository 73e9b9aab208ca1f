#include "common/data/example_batches.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/core/testing.h"
#include "common/data/tfrecord.h"
#include "common/proto/example.pb.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

tensorflow::Example Ex(int i) {
  tensorflow::Example ex;
  auto& f = *ex.mutable_features()->mutable_feature();
  f["x"].mutable_float_list()->add_value(0.5f * static_cast<float>(i));
  f["x"].mutable_float_list()->add_value(-1.f * static_cast<float>(i));
  f["id"].mutable_int64_list()->add_value(i * 1000003 - 7);
  f["site"].mutable_bytes_list()->add_value(i % 2 ? "news" : "shop");
  for (int k = 0; k < i % 3; ++k) f["tags"].mutable_int64_list()->add_value(-(i * 10 + k));  // none for i % 3 == 0
  if (i % 4 != 1) {
    for (int k = 0; k <= i % 2; ++k) f["words"].mutable_bytes_list()->add_value(std::string(static_cast<size_t>(k + i), 'w'));
  }
  f["ignored"].mutable_float_list()->add_value(1);
  return ex;
}

std::map<std::string, FixedLenFeature> Spec() {
  return {{"x", {.dtype = DType::kFloat, .shape = TensorShape({2})}},
          {"id", {.dtype = DType::kInt64}},
          {"site", {.dtype = DType::kString, .shape = TensorShape({1})}},
          {"tags", {.dtype = DType::kInt64, .var_len = true}},
          {"words", {.dtype = DType::kString, .var_len = true}}};
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::vector<std::string>& records) {
  const std::string path = dir + "/" + name;
  auto w = TFRecordWriter::Open(Env::Default(), path);
  EXPECT_TRUE(w.ok());
  for (const auto& r : records) EXPECT_TRUE((*w)->Write(r).ok());
  EXPECT_TRUE((*w)->Close().ok());
  return path;
}

std::vector<Example> All(Dataset& ds, int max = 1000) {
  std::vector<Example> out;
  Example e;
  for (int i = 0; i < max; ++i) {
    auto more = ds.Next(&e);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(e);
  }
  return out;
}

std::string Varint(uint64_t v) {
  std::string out;
  do {
    out.push_back(static_cast<char>((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
    v >>= 7;
  } while (v != 0);
  return out;
}
std::string Len(char tag, const std::string& body) { return std::string(1, tag) + Varint(body.size()) + body; }

// An Example whose map entry for `key` repeats its value field: protobuf
// merges the two Features (lists of one kind add up).
std::string MergedEntry(const std::string& key, const tensorflow::Feature& a, const tensorflow::Feature& b) {
  const std::string entry = Len('\x0a', key) + Len('\x12', a.SerializeAsString()) + Len('\x12', b.SerializeAsString());
  return Len('\x0a', Len('\x0a', entry));
}

// The batches of TFRecordExampleDataset + Batch, tensor for tensor: fixed
// and VarLen features, strings, an empty last batch row count, a record
// whose map repeats keys (two Examples concatenated: the last value wins).
TEST(ExampleBatchesTest, EqualToParsingEachExampleThenBatching) {
  const std::string dir = testing::FreshTempDir("example_batches");
  std::vector<std::string> records;
  for (int i = 0; i < 10; ++i) records.push_back(Ex(i).SerializeAsString());
  records[6] = Ex(60).SerializeAsString() + Ex(6).SerializeAsString();
  // Merged within an entry: tags [8, 9] + [10] (one list kind), and words
  // whose int64 list is replaced by a bytes list (another kind).
  tensorflow::Feature t1, t2, w1, w2;
  t1.mutable_int64_list()->add_value(8);
  t1.mutable_int64_list()->add_value(9);
  t2.mutable_int64_list()->add_value(10);
  w1.mutable_int64_list()->add_value(1);
  w2.mutable_bytes_list()->add_value("kept");
  records[7] = Ex(7).SerializeAsString() + MergedEntry("tags", t1, t2) + MergedEntry("words", w1, w2);
  const std::string path = WriteFile(dir, "a.tfrecord", records);
  auto fast = TFRecordExampleBatches({path}, Spec(), {.batch_size = 4});
  ASSERT_TRUE(fast.ok()) << fast.status();
  auto slow = TFRecordExampleDataset({path}, Spec());
  ASSERT_TRUE(slow.ok());
  auto slow_batches = Batch(std::move(slow).value(), 4);
  const std::vector<Example> got = All(**fast), want = All(*slow_batches);
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(want.size(), 3u);
  for (size_t b = 0; b < want.size(); ++b) {
    ASSERT_EQ(got[b].size(), want[b].size()) << b;
    for (const auto& [key, t] : want[b]) {
      ASSERT_TRUE(got[b].count(key)) << key;
      EXPECT_TRUE(got[b].at(key).Equals(t)) << "batch " << b << " " << key << ": " << got[b].at(key).DebugString()
                                            << " vs " << t.DebugString();
    }
  }
  EXPECT_EQ(got[1].at("id").flat<int64_t>()[2], 6 * 1000003 - 7);  // the repeated key's last value
  EXPECT_THAT(got[1].at("tags/values").DebugString(), HasSubstr("8, 9, 10"));  // one entry's two values, merged
}

// Shards are disjoint and together the whole input; each pass gives every
// record of the shard once, shuffled; the label is renamed.
TEST(ExampleBatchesTest, ShardsShuffleAndRepeatByPasses) {
  const std::string dir = testing::FreshTempDir("example_shards");
  std::vector<std::string> a, b;
  for (int i = 0; i < 13; ++i) a.push_back(Ex(i).SerializeAsString());
  for (int i = 13; i < 20; ++i) b.push_back(Ex(i).SerializeAsString());
  const std::vector<std::string> files = {WriteFile(dir, "a", a), WriteFile(dir, "b", b)};
  std::vector<int64_t> all;
  for (int64_t shard = 0; shard < 3; ++shard) {
    auto ds = TFRecordExampleBatches(files, Spec(), {.batch_size = 5, .num_shards = 3, .shard_index = shard,
                                                     .shuffle_buffer = 4, .seed = 9, .repeat = true,
                                                     .rename_from = "id", .rename_to = "label"});
    ASSERT_TRUE(ds.ok());
    std::vector<int64_t> ids;
    for (const Example& e : All(**ds, 12)) {
      ASSERT_FALSE(e.count("id"));
      for (int64_t v : e.at("label").flat<int64_t>()) ids.push_back((v + 7) / 1000003);
    }
    // Passes of ceil(20 / 3) or floor records: the first pass, in shuffled order.
    const size_t per_pass = static_cast<size_t>((20 - shard + 2) / 3);
    std::vector<int64_t> first(ids.begin(), ids.begin() + static_cast<long>(per_pass));
    std::vector<int64_t> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    for (size_t k = 0; k < sorted.size(); ++k) EXPECT_EQ(sorted[k], shard + 3 * static_cast<int64_t>(k));
    EXPECT_NE(first, sorted) << "shard " << shard << " came in file order";
    std::vector<int64_t> second(ids.begin() + static_cast<long>(per_pass), ids.begin() + static_cast<long>(2 * per_pass));
    std::sort(second.begin(), second.end());
    EXPECT_EQ(second, sorted);
    all.insert(all.end(), sorted.begin(), sorted.end());
  }
  std::sort(all.begin(), all.end());
  for (int64_t k = 0; k < 20; ++k) EXPECT_EQ(all[static_cast<size_t>(k)], k);
}

TEST(ExampleBatchesTest, BadRecordsAreNamedByFileAndRecord) {
  const std::string dir = testing::FreshTempDir("example_bad");
  tensorflow::Example two_ids = Ex(1);
  (*two_ids.mutable_features()->mutable_feature())["id"].mutable_int64_list()->add_value(5);
  tensorflow::Example no_x = Ex(2);
  no_x.mutable_features()->mutable_feature()->erase("x");
  tensorflow::Example x_ints = Ex(3);
  (*x_ints.mutable_features()->mutable_feature())["x"].mutable_int64_list()->add_value(1);
  const std::string good = Ex(0).SerializeAsString();
  struct Case {
    std::string record;
    std::string message;
  } cases[] = {
      {two_ids.SerializeAsString(), "record 1: feature 'id' has 2 values, expected 1 for shape []"},
      {no_x.SerializeAsString(), "record 1: feature 'x' is missing"},
      {x_ints.SerializeAsString(), "record 1: feature 'x' is not a float_list"},
      {good.substr(0, good.size() - 3), "record 1 is not a tf.train.Example"},
      {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "record 1 is not a tf.train.Example"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteFile(dir, "bad.tfrecord", {good, c.record});
    auto ds = TFRecordExampleBatches({path}, Spec(), {.batch_size = 8});
    ASSERT_TRUE(ds.ok());
    Example e;
    auto r = (*ds)->Next(&e);
    ASSERT_FALSE(r.ok()) << c.message;
    EXPECT_THAT(r.status().message(), HasSubstr(path + " " + c.message));
  }
  EXPECT_THAT(std::string(TFRecordExampleBatches({dir + "/none"}, Spec(), {}).status().message()), HasSubstr("does not exist"));
  const std::string ok_path = WriteFile(dir, "ok.tfrecord", {good});
  EXPECT_THAT(std::string(TFRecordExampleBatches({ok_path}, {{"id", {.dtype = DType::kInt32}}}, {}).status().message()),
              HasSubstr("feature 'id' is int32; a tf.train.Example holds float, int64 or string"));
}

// Corrupted records (bytes flipped, cut, stretched) give a batch or a
// clear error, never a crash or a hang: data files are untrusted input.
TEST(ExampleBatchesTest, CorruptedRecordsNeverCrash) {
  const std::string dir = testing::FreshTempDir("example_fuzz");
  std::mt19937 rng(5);
  const std::string good = Ex(7).SerializeAsString() + MergedEntry("tags", Ex(1).features().feature().at("x"),
                                                                  Ex(2).features().feature().at("tags"));
  int errors = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bad = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % bad.size();
      switch (rng() % 3) {
        case 0: bad[at] = static_cast<char>(rng()); break;
        case 1: bad.resize(at); break;
        default: bad.insert(at, std::string(1 + rng() % 12, static_cast<char>(rng()))); break;
      }
      if (bad.empty()) bad = "x";
    }
    const std::string path = WriteFile(dir, "fuzz.tfrecord", {bad});
    auto ds = TFRecordExampleBatches({path}, Spec(), {.batch_size = 2});
    ASSERT_TRUE(ds.ok());
    Example e;
    auto r = (*ds)->Next(&e);
    if (!r.ok()) {
      ++errors;
      EXPECT_THAT(r.status().message(), HasSubstr(path + " record 0")) << round;
    }
  }
  EXPECT_GT(errors, 1000);
}

}  // namespace
}  // namespace psflow
