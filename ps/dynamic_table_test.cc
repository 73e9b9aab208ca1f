#include "ps/dynamic_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <unordered_map>

#include "common/ops/apply.h"

namespace psflow {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<DynamicTable> Make(DynamicTableInit o, std::vector<float> slot_init = {}) {
  auto t = DynamicTable::Create(o, std::move(slot_init));
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(t).value();
}

std::vector<float> LookupOne(DynamicTable& t, int64_t id, int64_t step, int64_t count = 1) {
  std::vector<float> out(static_cast<size_t>(t.dim()));
  EXPECT_TRUE(t.Lookup(&id, &count, 1, step, out.data()).ok());
  return out;
}

bool AllZero(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return x == 0.f; });
}

TEST(DynamicTableTest, RowsAreCreatedOnFirstSightFromASeededTruncatedNormal) {
  auto a = Make({.dim = 64, .stddev = 0.5f, .seed = 7});
  auto b = Make({.dim = 64, .stddev = 0.5f, .seed = 7});
  const std::vector<float> first = LookupOne(*a, -12345, 1);
  // Another table that meets other ids first gives id -12345 the same row.
  LookupOne(*b, 1, 1);
  LookupOne(*b, 99, 1);
  EXPECT_EQ(LookupOne(*b, -12345, 2), first);
  EXPECT_EQ(LookupOne(*a, -12345, 3), first);  // a hit returns the stored row
  EXPECT_EQ(a->size(), 1);
  EXPECT_EQ(a->stats().admissions, 1);
  EXPECT_EQ(a->stats().hits, 1);
  // Truncated at two standard deviations, and not a constant.
  double sum = 0, sq = 0;
  std::vector<float> all;
  for (int64_t id = 0; id < 2000; ++id) {
    for (float x : LookupOne(*a, id * 7919, 1)) {
      EXPECT_LE(std::abs(x), 1.0f);
      sum += x;
      sq += double{x} * x;
      all.push_back(x);
    }
  }
  const double n = static_cast<double>(all.size());
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  // A normal truncated at 2 sigma has stddev 0.88 sigma.
  EXPECT_NEAR(std::sqrt(sq / n), 0.88 * 0.5, 0.01);
  // Another seed, other rows; zeros when asked.
  auto c = Make({.dim = 64, .stddev = 0.5f, .seed = 8});
  EXPECT_NE(LookupOne(*c, -12345, 1), first);
  auto z = Make({.dim = 4, .zeros_init = true});
  EXPECT_TRUE(AllZero(LookupOne(*z, 5, 1)));
}

TEST(DynamicTableTest, AnIdIsAdmittedAfterFilterFreqSightings) {
  auto t = Make({.dim = 4, .seed = 1, .filter_freq = 3}, {0.1f});
  EXPECT_TRUE(AllZero(LookupOne(*t, 42, 1)));  // seen once
  EXPECT_TRUE(AllZero(LookupOne(*t, 42, 2)));  // twice
  EXPECT_EQ(t->size(), 0);
  EXPECT_EQ(t->stats().candidates, 1);
  EXPECT_EQ(t->stats().filtered, 2);
  EXPECT_FALSE(AllZero(LookupOne(*t, 42, 3)));  // the third sighting creates it
  EXPECT_EQ(t->size(), 1);
  EXPECT_EQ(t->stats().candidates, 0);
  // Occurrences within one batch count too.
  EXPECT_FALSE(AllZero(LookupOne(*t, 43, 3, /*count=*/3)));
  const DynamicTable::Snapshot s = t->Export();
  ASSERT_EQ(s.keys.num_elements(), 2);
  EXPECT_EQ(s.freqs.flat<int64_t>()[0], 3);
  EXPECT_EQ(s.freqs.flat<int64_t>()[1], 3);
  // Gradients of ids not admitted are dropped.
  LookupOne(*t, 44, 4);
  const int64_t ids[2] = {42, 44};
  const float grads[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  int64_t applied_rows = 0;
  ASSERT_TRUE(t->Apply(ids, grads, 2, [&](Tensor* v, std::vector<Tensor>&, const Tensor& g) {
                 applied_rows = v->shape().dim(0);
                 return apply::GradientDescent(v, {.lr = 1.f}, g);
               }).ok());
  EXPECT_EQ(applied_rows, 1);
  EXPECT_EQ(t->stats().dropped_updates, 1);
}

// Apply hands the rows and their slots to an optimizer as dense tensors:
// Adagrad on two rows equals Adagrad on the same values held densely.
TEST(DynamicTableTest, ApplyUpdatesRowsAndSlotsInPlace) {
  auto t = Make({.dim = 3, .seed = 3}, {0.1f});
  const int64_t ids[2] = {10, 20};
  std::vector<float> rows(6);
  ASSERT_TRUE(t->Lookup(ids, nullptr, 2, 1, rows.data()).ok());
  Tensor var = Tensor::FromVector<float>(rows, TensorShape({2, 3}));
  Tensor accum = Tensor::FromVector<float>(std::vector<float>(6, 0.1f), TensorShape({2, 3}));
  const std::vector<float> g = {0.5f, -1.f, 2.f, 0.25f, 0.f, -3.f};
  const apply::Hyper h{.lr = 0.3f};
  ASSERT_TRUE(apply::Adagrad(&var, &accum, h, Tensor::FromVector<float>(g, TensorShape({2, 3}))).ok());
  ASSERT_TRUE(t->Apply(ids, g.data(), 2, [&](Tensor* v, std::vector<Tensor>& s, const Tensor& grad) {
                 return apply::Adagrad(v, &s[0], h, grad);
               }).ok());
  std::vector<float> after(6);
  t->Find(ids, 2, after.data());
  for (size_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(after[i], var.flat<float>()[i]);
  const DynamicTable::Snapshot s = t->Export();
  ASSERT_EQ(s.slots.size(), 1u);
  for (size_t i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(s.slots[0].flat<float>()[i], accum.flat<float>()[i]);
}

TEST(DynamicTableTest, RowsUnseenForStepsToLiveAreEvicted) {
  auto t = Make({.dim = 2, .seed = 1, .filter_freq = 2, .steps_to_live = 100});
  LookupOne(*t, 1, 10, 2);    // admitted at step 10
  LookupOne(*t, 2, 10, 2);
  LookupOne(*t, 3, 10, 1);    // a candidate only
  LookupOne(*t, 2, 90, 1);    // seen again at 90
  EXPECT_EQ(t->size(), 2);
  EXPECT_EQ(t->EvictStale(111), 1);  // 1 was last seen at 10 < 111 - 100
  EXPECT_EQ(t->size(), 1);
  EXPECT_EQ(t->stats().candidates, 0);  // 3's count went too
  EXPECT_EQ(t->stats().evictions, 1);
  // Lookups sweep on their own every steps_to_live / 4 steps.
  LookupOne(*t, 4, 200, 2);
  EXPECT_EQ(t->size(), 1);  // 2 (seen at 90) went, 4 came
  std::vector<float> row(2);
  int64_t id = 2;
  t->Find(&id, 1, row.data());
  EXPECT_TRUE(AllZero(row));
}

TEST(DynamicTableTest, AFullTableEvictsTheLeastRecentlySeenOrRefuses) {
  auto t = Make({.dim = 2, .seed = 1, .max_rows = 100});
  for (int64_t id = 0; id < 1000; ++id) {
    LookupOne(*t, id, id);  // id k last seen at step k
    ASSERT_LE(t->size(), 100);
  }
  // The newest rows are there, the oldest went.
  const DynamicTable::Snapshot s = t->Export();
  int64_t newest = 0;
  for (int64_t k : s.keys.flat<int64_t>()) newest += k >= 990 ? 1 : 0;
  EXPECT_EQ(newest, 10);
  for (int64_t k : s.keys.flat<int64_t>()) EXPECT_GE(k, 800);
  EXPECT_GE(t->stats().evictions, 900);

  auto strict = Make({.dim = 2, .seed = 1, .max_rows = 3, .evict_when_full = false});
  for (int64_t id = 0; id < 3; ++id) LookupOne(*strict, id, 1);
  std::vector<float> out(2);
  const int64_t id = 99;
  const Status st = strict->Lookup(&id, nullptr, 1, 2, out.data());
  EXPECT_TRUE(IsResourceExhaustedError(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("max_rows = 3"));
  EXPECT_THAT(st.message(), HasSubstr("on_full: evict"));
  EXPECT_EQ(strict->size(), 3);
}

TEST(DynamicTableTest, ExportAndInsertRoundTrip) {
  auto t = Make({.dim = 3, .seed = 5}, {0.1f, 0.f});
  for (int64_t id = -50; id < 50; ++id) LookupOne(*t, id * 1000003, 7 + id % 3, 2);
  const DynamicTable::Snapshot s = t->Export();
  auto u = Make({.dim = 3, .seed = 99}, {0.1f, 0.f});
  for (int64_t i = 0; i < s.keys.num_elements(); ++i) {
    const size_t o = static_cast<size_t>(i) * 3;
    ASSERT_TRUE(u->Insert(s.keys.flat<int64_t>()[i], s.values.flat<float>().data() + o,
                          {s.slots[0].flat<float>().data() + o, s.slots[1].flat<float>().data() + o},
                          s.freqs.flat<int64_t>()[i], s.versions.flat<int64_t>()[i])
                    .ok());
  }
  const DynamicTable::Snapshot r = u->Export();
  ASSERT_EQ(r.keys.num_elements(), 100);
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(r.keys.flat<int64_t>()[i], s.keys.flat<int64_t>()[i]);
    EXPECT_EQ(r.freqs.flat<int64_t>()[i], 2);
    EXPECT_EQ(r.versions.flat<int64_t>()[i], s.versions.flat<int64_t>()[i]);
  }
  for (size_t k = 0; k < 300; ++k) EXPECT_EQ(r.values.flat<float>()[k], s.values.flat<float>()[k]);
  u->Clear();
  EXPECT_EQ(u->size(), 0);
  EXPECT_EQ(u->Export().keys.num_elements(), 0);
}

// Random creations and evictions against a plain map: the open-addressing
// index with backward-shift deletion finds exactly the live rows.
TEST(DynamicTableTest, IndexStaysExactUnderRandomCreationAndEviction) {
  auto t = Make({.dim = 1, .zeros_init = true, .steps_to_live = 40});
  std::unordered_map<int64_t, int64_t> last_seen;
  std::mt19937_64 rng(3);
  for (int64_t step = 1; step <= 400; ++step) {
    std::vector<int64_t> ids;
    for (int i = 0; i < 300; ++i) ids.push_back(static_cast<int64_t>(rng() % 20000) - 10000);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<float> out(ids.size());
    ASSERT_TRUE(t->Lookup(ids.data(), nullptr, ids.size(), step, out.data()).ok());
    for (int64_t id : ids) last_seen[id] = step;
    if (step % 10 == 0) {  // what the sweeps removed
      for (auto it = last_seen.begin(); it != last_seen.end();) {
        it = it->second < step - 40 ? last_seen.erase(it) : std::next(it);
      }
    }
  }
  t->EvictStale(400);
  for (auto it = last_seen.begin(); it != last_seen.end();) it = it->second < 360 ? last_seen.erase(it) : std::next(it);
  EXPECT_EQ(t->size(), static_cast<int64_t>(last_seen.size()));
  const DynamicTable::Snapshot s = t->Export();
  for (int64_t i = 0; i < s.keys.num_elements(); ++i) {
    const int64_t k = s.keys.flat<int64_t>()[i];
    ASSERT_TRUE(last_seen.count(k)) << k;
    EXPECT_EQ(s.versions.flat<int64_t>()[i], last_seen[k]);
  }
}

// Rows of over 1 MiB (chunks of two rows) stay apart.
TEST(DynamicTableTest, HugeRowsAreAddressedApart) {
  auto t = Make({.dim = 200000, .zeros_init = true}, {0.f});
  const int64_t ids[5] = {1, 2, 3, 4, 5};
  std::vector<float> out(5 * 200000);
  ASSERT_TRUE(t->Lookup(ids, nullptr, 5, 1, out.data()).ok());
  std::vector<float> grad(5 * 200000);
  for (size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<float>(i / 200000 + 1);
  ASSERT_TRUE(t->Apply(ids, grad.data(), 5, [](Tensor* v, std::vector<Tensor>&, const Tensor& g) {
                 return apply::GradientDescent(v, {.lr = 1.f}, g);
               }).ok());
  t->Find(ids, 5, out.data());
  for (int r = 0; r < 5; ++r) {
    EXPECT_EQ(out[static_cast<size_t>(r) * 200000], -(r + 1.f)) << r;
    EXPECT_EQ(out[static_cast<size_t>(r) * 200000 + 199999], -(r + 1.f)) << r;
  }
}

// A refused admission (full, on_full: error) keeps the id's count, so the
// id is admitted once there is room; ids awaiting admission are capped.
TEST(DynamicTableTest, ARefusedAdmissionKeepsItsCount) {
  auto t = Make({.dim = 2, .seed = 1, .filter_freq = 2, .max_rows = 1, .evict_when_full = false});
  LookupOne(*t, 1, 1, 2);  // admitted: the table is full
  LookupOne(*t, 2, 1);     // counted once
  std::vector<float> out(2);
  const int64_t id = 2;
  EXPECT_TRUE(IsResourceExhaustedError(t->Lookup(&id, nullptr, 1, 2, out.data())));  // would be admitted now
  EXPECT_EQ(t->stats().candidates, 1);  // still counted
  auto capped = Make({.dim = 1, .zeros_init = true, .filter_freq = 3, .max_rows = 10});
  for (int64_t k = 0; k < 3'000'000; k += 1000) {
    std::vector<int64_t> ids(1000);
    for (int64_t i = 0; i < 1000; ++i) ids[static_cast<size_t>(i)] = k + i;
    std::vector<float> o(1000);
    ASSERT_TRUE(capped->Lookup(ids.data(), nullptr, ids.size(), k / 1000, o.data()).ok());
  }
  EXPECT_LE(capped->stats().candidates, int64_t{1} << 20);
  EXPECT_GT(capped->stats().candidates, int64_t{1} << 18);
}

// A row costs its floats plus a small overhead (the target: at most
// 1.3 x the floats of the value and its slots).
TEST(DynamicTableTest, MemoryPerRowIsTheFloatsPlusASmallOverhead) {
  auto t = Make({.dim = 16, .seed = 1}, {0.1f});
  const int64_t n = 300000;
  std::vector<int64_t> ids(1000);
  std::vector<float> out(ids.size() * 16);
  for (int64_t base = 0; base < n; base += 1000) {
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = (base + static_cast<int64_t>(i)) * 2654435761;
    ASSERT_TRUE(t->Lookup(ids.data(), nullptr, ids.size(), 1, out.data()).ok());
  }
  const double floats = static_cast<double>(n) * 16 * 4 * 2;
  EXPECT_LT(static_cast<double>(t->stats().bytes), 1.3 * floats);
}

}  // namespace
}  // namespace psflow
