#include "tools/ctr_generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/core/env.h"
#include "common/core/strcat.h"
#include "common/data/tfrecord.h"
#include "common/proto/example.pb.h"

namespace psflow {
namespace {

// SplitMix64: the teacher's parameters as pure functions of (seed, feature, id).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
// A standard normal from two hashed uniforms (Box-Muller).
double HashNormal(uint64_t key) {
  const double u1 = (static_cast<double>(Mix(key) >> 11) + 0.5) / 9007199254740992.0;
  const double u2 = static_cast<double>(Mix(key ^ 0x5851f42d4c957f2dULL) >> 11) / 9007199254740992.0;
  return std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

constexpr int kDeep = 4;  // the teacher's embedding width

class Teacher {
 public:
  explicit Teacher(uint64_t seed) : seed_(seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0, 1);
    for (double& w : numeric_) w = 0.15 * n(rng);
    for (auto& row : hidden_) {
      for (double& w : row) w = n(rng) / std::sqrt(static_cast<double>(kDeep));
    }
    for (double& w : out_) w = 0.8 * n(rng);
  }
  double Logit(const float* numeric, const int64_t* ids, double bias) const {
    double z = bias;
    for (int k = 0; k < kCtrNumeric; ++k) z += numeric_[k] * (std::log1p(numeric[k]) - 1.0);
    double e[kDeep] = {};
    for (int f = 0; f < kCtrCategorical; ++f) {
      const uint64_t key = Mix(seed_ ^ Mix(static_cast<uint64_t>(f) * 0x100000001b3ULL ^ static_cast<uint64_t>(ids[f])));
      z += 0.35 * HashNormal(key);  // wide
      for (int d = 0; d < kDeep; ++d) e[d] += 0.25 * HashNormal(key + 1 + static_cast<uint64_t>(d));
    }
    for (int h = 0; h < kDeep; ++h) {
      double a = 0;
      for (int d = 0; d < kDeep; ++d) a += hidden_[h][d] * e[d];
      z += out_[h] * std::tanh(a);
    }
    return z;
  }

 private:
  const uint64_t seed_;
  double numeric_[kCtrNumeric];
  double hidden_[kDeep][kDeep];
  double out_[kDeep];
};

// Ranks 0, 1, ... with P(rank >= r) falling as a power law of exponent
// `zipf` (bounded at vocab), scattered over [0, vocab) by r -> (r * a + b)
// mod vocab with a coprime to vocab.
class IdLaw {
 public:
  IdLaw(int64_t vocab, double zipf, uint64_t salt) : vocab_(vocab), s_(zipf) {
    a_ = static_cast<int64_t>(Mix(salt) % static_cast<uint64_t>(vocab)) | 1;
    while (std::gcd(a_, vocab_) != 1) a_ += 2;
    a_ %= vocab_;
    if (a_ == 0) a_ = 1;
    b_ = static_cast<int64_t>(Mix(salt + 1) % static_cast<uint64_t>(vocab));
  }
  int64_t Draw(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    const double v = static_cast<double>(vocab_);
    double x;  // in [1, vocab + 1): inverse CDF of the density x^-s
    if (std::abs(s_ - 1) < 1e-9) {
      x = std::exp(u * std::log(v + 1));
    } else {
      x = std::pow(1 + u * (std::pow(v + 1, 1 - s_) - 1), 1 / (1 - s_));
    }
    const int64_t rank = std::min<int64_t>(static_cast<int64_t>(x) - 1, vocab_ - 1);
    return static_cast<int64_t>((static_cast<unsigned __int128>(rank) * static_cast<unsigned __int128>(a_) +
                                 static_cast<unsigned __int128>(b_)) % static_cast<unsigned __int128>(vocab_));
  }

 private:
  int64_t vocab_;
  double s_;
  int64_t a_ = 1, b_ = 0;
};

struct Split {
  std::vector<std::string> files;
  double click_rate = 0, auc = 0;
};

StatusOr<Split> WriteSplit(const CtrOptions& o, const std::string& name, int64_t examples, int shards, uint64_t stream,
                           const Teacher& teacher, const std::vector<IdLaw>& laws) {
  Split out;
  std::mt19937_64 rng(Mix(o.seed ^ stream));
  std::normal_distribution<double> normal(0, 1);
  std::vector<float> p;
  std::vector<uint8_t> y;
  p.reserve(static_cast<size_t>(examples));
  y.reserve(static_cast<size_t>(examples));
  int64_t clicks = 0;
  for (int s = 0; s < shards; ++s) {
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d.tfrecord", s, shards);
    const std::string path = JoinPath(o.out_dir, name + suffix);
    ASSIGN_OR_RETURN(auto w, TFRecordWriter::Open(Env::Default(), path));
    const int64_t lo = examples * s / shards, hi = examples * (s + 1) / shards;
    for (int64_t i = lo; i < hi; ++i) {
      float numeric[kCtrNumeric];
      int64_t ids[kCtrCategorical];
      for (int k = 0; k < kCtrNumeric; ++k) numeric[k] = std::floor(static_cast<float>(std::exp(0.5 * k / 13.0 + normal(rng))));
      for (int f = 0; f < kCtrCategorical; ++f) ids[f] = laws[static_cast<size_t>(f)].Draw(rng);
      const double prob = 1 / (1 + std::exp(-teacher.Logit(numeric, ids, o.bias)));
      const uint8_t label = std::uniform_real_distribution<double>(0, 1)(rng) < prob ? 1 : 0;
      clicks += label;
      p.push_back(static_cast<float>(prob));
      y.push_back(label);
      tensorflow::Example ex;
      auto& feat = *ex.mutable_features()->mutable_feature();
      for (int k = 0; k < kCtrNumeric; ++k) feat[StrCat("I", k + 1)].mutable_float_list()->add_value(numeric[k]);
      for (int f = 0; f < kCtrCategorical; ++f) feat[StrCat("C", f + 1)].mutable_int64_list()->add_value(ids[f]);
      feat["label"].mutable_int64_list()->add_value(label);
      // Map fields in a fixed order: the same options write the same bytes.
      std::string record;
      {
        google::protobuf::io::StringOutputStream raw(&record);
        google::protobuf::io::CodedOutputStream coded(&raw);
        coded.SetSerializationDeterministic(true);
        ex.SerializeToCodedStream(&coded);
      }
      RETURN_IF_ERROR(w->Write(record));
    }
    RETURN_IF_ERROR(w->Close());
    out.files.push_back(path);
  }
  out.click_rate = examples == 0 ? 0 : static_cast<double>(clicks) / static_cast<double>(examples);
  out.auc = ExactAuc(p, y);
  return out;
}

}  // namespace

double ExactAuc(const std::vector<float>& scores, const std::vector<uint8_t>& labels) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Mann-Whitney U: the positives' mean rank among all, ties given the mean rank.
  double rank_sum = 0, pos = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (static_cast<double>(i) + static_cast<double>(j - 1)) / 2 + 1;
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]]) {
        rank_sum += mean_rank;
        ++pos;
      }
    }
    i = j;
  }
  const double neg = static_cast<double>(scores.size()) - pos;
  if (pos == 0 || neg == 0) return 0.5;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

StatusOr<CtrSummary> GenerateCtr(const CtrOptions& o) {
  if (o.out_dir.empty()) return InvalidArgumentError("--out is required: the directory for the TFRecord shards");
  if (o.train_examples < 1 || o.eval_examples < 0) {
    return InvalidArgumentError("--examples must be >= 1 and --eval_examples >= 0");
  }
  if (o.train_shards < 1 || o.train_shards > 10000) return InvalidArgumentError("--shards must be in [1, 10000], got ", o.train_shards);
  if (o.vocab.size() != 1 && o.vocab.size() != static_cast<size_t>(kCtrCategorical)) {
    return InvalidArgumentError("--vocab takes one size or ", kCtrCategorical, " (C1..C26), got ", o.vocab.size());
  }
  for (int64_t v : o.vocab) {
    if (v < 1 || v > (int64_t{1} << 40)) return InvalidArgumentError("--vocab sizes must be in [1, 2^40], got ", v);
  }
  if (!(o.zipf > 0)) return InvalidArgumentError("--zipf must be > 0, got ", o.zipf);
  RETURN_IF_ERROR(Env::Default()->CreateDirs(o.out_dir));
  const Teacher teacher(o.seed);
  std::vector<IdLaw> laws;
  for (int f = 0; f < kCtrCategorical; ++f) {
    laws.emplace_back(o.vocab.size() == 1 ? o.vocab[0] : o.vocab[static_cast<size_t>(f)], o.zipf,
                      Mix(o.seed * 131 + static_cast<uint64_t>(f)));
  }
  CtrSummary s;
  ASSIGN_OR_RETURN(Split train, WriteSplit(o, "train", o.train_examples, o.train_shards, 1, teacher, laws));
  s.train_files = std::move(train.files);
  s.train_click_rate = train.click_rate;
  s.train_auc_ceiling = train.auc;
  if (o.eval_examples > 0) {
    ASSIGN_OR_RETURN(Split eval, WriteSplit(o, "eval", o.eval_examples, 1, 2, teacher, laws));
    s.eval_files = std::move(eval.files);
    s.eval_click_rate = eval.click_rate;
    s.eval_auc_ceiling = eval.auc;
  }
  return s;
}

}  // namespace psflow
