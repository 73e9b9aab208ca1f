// A Criteo-shaped synthetic click log for the sparse workload (psflow-gen-ctr):
// 13 numeric features I1..I13 (float, log-normal counts) and 26 categorical
// features C1..C26 (one int64 id each), ids drawn from a Zipf-like law (a
// bounded power law of exponent `zipf` over ranks, the ranks scattered over
// [0, vocab) by a bijection, so popular ids are not all small), and a label
// drawn from a hidden wide & deep "teacher": a weight per (feature, id) and
// a 4-wide embedding per (feature, id), both derived from hashes of the
// seed (no tables: vocabularies up to 10^8 cost nothing), the embeddings
// summed through a fixed tanh layer, plus the numeric features' linear
// part.  The teacher's AUC on the written examples, the best any model can
// reach on them, is computed and returned.  Deterministic in the options.
//
//   CtrOptions o{.out_dir = "/data/ctr", .train_examples = 1000000};
//   ASSIGN_OR_RETURN(CtrSummary s, GenerateCtr(o));   // s.train_auc_ceiling
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/core/status.h"

namespace psflow {

inline constexpr int kCtrNumeric = 13;
inline constexpr int kCtrCategorical = 26;

struct CtrOptions {
  std::string out_dir;
  int64_t train_examples = 100000;
  int64_t eval_examples = 10000;
  int train_shards = 4;
  // One size for every categorical feature, or 26 sizes (C1..C26).
  std::vector<int64_t> vocab = {100000};
  double zipf = 1.1;     // exponent of the id law; > 0
  uint64_t seed = 1;
  double bias = -1.2;    // the teacher's bias: about 25% clicks
};

struct CtrSummary {
  std::vector<std::string> train_files, eval_files;
  double train_click_rate = 0, eval_click_rate = 0;
  double train_auc_ceiling = 0, eval_auc_ceiling = 0;  // the teacher's AUC
};

// InvalidArgument naming the option for bad options; errors of the file
// system name the file.
StatusOr<CtrSummary> GenerateCtr(const CtrOptions& options);

// ROC AUC of scores against 0/1 labels, ties counted half (exact, by sorting).
double ExactAuc(const std::vector<float>& scores, const std::vector<uint8_t>& labels);

}  // namespace psflow
