// psflow-gen-ctr: writes a Criteo-shaped synthetic click log as TFRecord
// shards of tf.train.Example (tools/ctr_generator.h says what is in it) and
// prints the teacher's AUC, the ceiling a model can reach on the data.
//
//   psflow-gen-ctr --out /data/ctr --examples 1000000 --vocab 1000000
//   psflow-gen-ctr --out /data/ctr --vocab 1000,100000,...   (26 sizes, C1..C26)
#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/cluster/cli.h"
#include "common/core/strcat.h"
#include "tools/ctr_generator.h"

int main(int argc, char** argv) {
  CLI::App app("psflow-gen-ctr: a synthetic click log (13 numeric, 26 categorical features, labels from a hidden "
               "wide & deep teacher) as TFRecord shards",
               "psflow-gen-ctr");
  psflow::CtrOptions o;
  std::string vocab = "100000";
  app.add_option("--out", o.out_dir, "directory for train-*-of-*.tfrecord and eval-*.tfrecord; required");
  app.add_option("--examples", o.train_examples, "training examples")->capture_default_str();
  app.add_option("--eval_examples", o.eval_examples, "evaluation examples (0: none)")->capture_default_str();
  app.add_option("--shards", o.train_shards, "training shards")->capture_default_str();
  app.add_option("--vocab", vocab, "ids per categorical feature: one size, or 26 comma-separated (C1..C26)")
      ->capture_default_str();
  app.add_option("--zipf", o.zipf, "exponent of the ids' power law")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the data and the teacher")->capture_default_str();
  if (auto exit = psflow::ParseCommandLine(app, argc, argv)) return *exit;
  o.vocab.clear();
  std::stringstream ss(vocab);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      o.vocab.push_back(std::stoll(item));
    } catch (const std::exception&) {
      std::cerr << "psflow-gen-ctr: --vocab: '" << item << "' is not an integer\n";
      return psflow::kExitBadInput;
    }
  }
  auto s = psflow::GenerateCtr(o);
  if (!s.ok()) {
    std::cerr << "psflow-gen-ctr: " << s.status() << "\n";
    return s.status().code() == psflow::StatusCode::kInvalidArgument ? psflow::kExitBadInput : 1;
  }
  std::printf("wrote %lld training examples in %zu shards and %lld evaluation examples to %s\n",
              static_cast<long long>(o.train_examples), s->train_files.size(), static_cast<long long>(o.eval_examples),
              o.out_dir.c_str());
  std::printf("click rate: train %.4f, eval %.4f\n", s->train_click_rate, s->eval_click_rate);
  std::printf("teacher AUC (the ceiling a model can reach): train %.4f, eval %.4f\n", s->train_auc_ceiling,
              s->eval_auc_ceiling);
  return 0;
}
