#include "common/cluster/job_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace psflow {
namespace {

// Reads typed values out of the YAML tree, naming file, line and key in
// every error.
class Reader {
 public:
  Reader(std::string source, std::vector<std::string> overridden)
      : source_(std::move(source)), overridden_(std::move(overridden)) {}

  Status Error(const YAML::Node& n, const std::string& key, const std::string& msg) const {
    for (const std::string& o : overridden_) {
      if (key == o || key.rfind(o + ".", 0) == 0) {
        return InvalidArgumentError(source_, " (--set ", o, "): ", key, ": ", msg);
      }
    }
    const int line = n.Mark().line;
    const std::string where = line >= 0 ? StrCat(source_, ":", line + 1) : source_;
    return InvalidArgumentError(where, ": ", key, ": ", msg);
  }

  Status CheckMap(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) const {
    if (!n || n.IsNull()) return OkStatus();
    if (!n.IsMap()) return Error(n, path, "must be a mapping of keys");
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) return Error(kv.first, path, "has a key that is not a name (a list or a mapping)");
      const std::string k = kv.first.as<std::string>();
      if (!allowed.count(k)) {
        std::string known;
        for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
        return Error(kv.first, Join(path, k), StrCat("unknown key; known keys here: ", known));
      }
    }
    return OkStatus();
  }

  template <typename T>
  Status Get(const YAML::Node& map, const std::string& path, const std::string& key, T* out,
             const char* type_name) const {
    if (!map || !map.IsMap()) return OkStatus();
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) return OkStatus();
    try {
      *out = n.as<T>();
    } catch (const YAML::Exception&) {
      return Error(n, Join(path, key), StrCat("expected ", type_name, ", got '", Dump(n), "'"));
    }
    return OkStatus();
  }
  template <typename T>
  Status GetOpt(const YAML::Node& map, const std::string& path, const std::string& key, std::optional<T>* out,
                const char* type_name) const {
    if (!map || !map.IsMap()) return OkStatus();
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) return OkStatus();
    T v;
    RETURN_IF_ERROR(Get(map, path, key, &v, type_name));
    *out = v;
    return OkStatus();
  }

  static std::string Join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }
  static std::string Dump(const YAML::Node& n) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.c_str();
  }

 private:
  const std::string source_;
  const std::vector<std::string> overridden_;  // key paths set with --set
};

Status ApplyOverride(YAML::Node root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgumentError("--set '", assignment, "' must look like key.path=value");
  }
  std::vector<std::string> parts;
  std::stringstream ss(assignment.substr(0, eq));
  std::string part;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("--set '", assignment, "': the value is not valid YAML: ", e.msg);
  }
  // Walk down with fresh handles (yaml-cpp nodes are references).
  std::vector<YAML::Node> chain = {root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next || next.IsNull() || !next.IsMap()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[parts[i]];
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = value;
  return OkStatus();
}

Status ParseCluster(const Reader& r, const YAML::Node& n, ClusterSpec* c) {
  RETURN_IF_ERROR(r.CheckMap(n, "cluster", {"ps", "chief", "worker", "evaluator", "master"}));
  if (n && n.IsMap() && n["master"]) {
    return r.Error(n["master"], "cluster.master", "the legacy 'master' job is not supported; name it 'chief'");
  }
  RETURN_IF_ERROR(r.Get(n, "cluster", "ps", &c->ps, "a list of host:port"));
  RETURN_IF_ERROR(r.Get(n, "cluster", "chief", &c->chief, "a list of host:port"));
  RETURN_IF_ERROR(r.Get(n, "cluster", "worker", &c->worker, "a list of host:port"));
  RETURN_IF_ERROR(r.Get(n, "cluster", "evaluator", &c->evaluator, "a list of host:port"));
  return OkStatus();
}

// Every address host:port with a port in 1..65535, none twice, one chief.
// `allow_unknown`: empty addresses (TF_CONFIG's sparse form) are skipped.
Status CheckAddresses(const ClusterSpec& c, const std::string& source, bool allow_unknown = false) {
  std::map<std::string, std::string> seen;  // address -> task
  for (const char* type : {"ps", "chief", "worker", "evaluator"}) {
    const std::vector<std::string>& job = *c.Job(type);
    for (size_t i = 0; i < job.size(); ++i) {
      if (allow_unknown && job[i].empty()) continue;
      const std::string task = StrCat(type, ":", i);
      auto hp = ParseHostPort(job[i]);
      if (!hp.ok()) {
        return InvalidArgumentError(source, ": cluster.", type, "[", i, "] (task ", task, "): ", hp.status().message());
      }
      auto [it, fresh] = seen.emplace(job[i], task);
      if (!fresh) {
        return InvalidArgumentError(source, ": cluster address ", job[i], " is used by two tasks (", it->second, " and ",
                                    task, "); give each task its own port");
      }
    }
  }
  if (!c.ps.empty() || !c.worker.empty()) {
    if (c.chief.size() != 1) {
      return InvalidArgumentError(source, ": the cluster needs exactly one chief task (it has ", c.chief.size(), ")");
    }
  }
  return OkStatus();
}

Status ParseOptimizer(const Reader& r, const YAML::Node& opt, const std::string& path, OptimizerSpec* o) {
  RETURN_IF_ERROR(r.CheckMap(opt, path, {"type", "learning_rate", "momentum", "use_nesterov", "beta1", "beta2", "epsilon",
                                         "initial_accumulator_value", "decay", "l1", "l2"}));
  RETURN_IF_ERROR(r.Get(opt, path, "type", &o->type, "a string"));
  RETURN_IF_ERROR(r.Get(opt, path, "learning_rate", &o->learning_rate, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "momentum", &o->momentum, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "use_nesterov", &o->use_nesterov, "true or false"));
  RETURN_IF_ERROR(r.Get(opt, path, "beta1", &o->beta1, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "beta2", &o->beta2, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "epsilon", &o->epsilon, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "initial_accumulator_value", &o->initial_accumulator_value, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "decay", &o->decay, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "l1", &o->l1, "a number"));
  RETURN_IF_ERROR(r.Get(opt, path, "l2", &o->l2, "a number"));
  return OkStatus();
}

Status CheckOptimizer(const Reader& r, const YAML::Node& where, const std::string& path, const OptimizerSpec& o) {
  auto at = [&](const char* key) { return where && where.IsMap() && where[key] ? where[key] : where; };
  if (!(o.learning_rate > 0)) return r.Error(at("learning_rate"), path + ".learning_rate", "must be > 0");
  static const std::set<std::string> kOptimizers = {"sgd", "gradient_descent", "momentum", "adagrad", "adam", "lazy_adam", "rmsprop", "ftrl"};
  if (!kOptimizers.count(o.type)) {
    return r.Error(at("type"), path + ".type", StrCat("unknown optimizer '", o.type,
                                                      "'; choose sgd, momentum, adagrad, adam, lazy_adam, rmsprop or ftrl"));
  }
  return OkStatus();
}

// model.feature_columns: a list of {type, ...} with tf.feature_column's
// argument names; a list-valued key / source_column / categorical_column
// declares one column per entry.  Then the columns are resolved (default
// names, references) and the linear / dnn lists checked against them.
Status ParseFeatureColumns(const Reader& r, const YAML::Node& m, ModelSpec* model) {
  if (!m || !m.IsMap()) return OkStatus();
  RETURN_IF_ERROR(r.Get(m, "model", "linear_feature_columns", &model->linear_feature_columns, "a list of column names"));
  RETURN_IF_ERROR(r.Get(m, "model", "dnn_feature_columns", &model->dnn_feature_columns, "a list of column names"));
  const YAML::Node cols = m["feature_columns"];
  if (!cols || cols.IsNull()) {
    if (!model->linear_feature_columns.empty() || !model->dnn_feature_columns.empty()) {
      return r.Error(m, "model.feature_columns", "is required when linear_feature_columns or dnn_feature_columns name columns");
    }
    return OkStatus();
  }
  if (!cols.IsSequence()) return r.Error(cols, "model.feature_columns", "must be a list of {type: ..., ...}");
  std::vector<FeatureColumnSpec> specs;
  std::vector<YAML::Node> nodes;  // where each expanded column was declared
  for (size_t i = 0; i < cols.size(); ++i) {
    const YAML::Node c = cols[i];
    const std::string path = StrCat("model.feature_columns[", i, "]");
    RETURN_IF_ERROR(r.CheckMap(c, path, {"type", "name", "key", "source_column", "categorical_column", "keys", "shape",
                                         "boundaries", "num_buckets", "hash_bucket_size", "dtype", "vocabulary_list",
                                         "num_oov_buckets", "default_value", "dimension", "combiner", "hash_key",
                                         "filter_freq", "steps_to_live", "max_rows", "on_full"}));
    if (!c.IsMap() || !c["type"]) return r.Error(c, path + ".type", "is required (numeric_column, embedding_column, ...)");
    FeatureColumnSpec base;
    RETURN_IF_ERROR(r.Get(c, path, "type", &base.type, "a string"));
    RETURN_IF_ERROR(r.Get(c, path, "name", &base.name, "a string"));
    RETURN_IF_ERROR(r.Get(c, path, "keys", &base.keys, "a list of feature or column names"));
    RETURN_IF_ERROR(r.Get(c, path, "shape", &base.shape, "a list of integers"));
    RETURN_IF_ERROR(r.Get(c, path, "boundaries", &base.boundaries, "a list of numbers"));
    RETURN_IF_ERROR(r.Get(c, path, "num_buckets", &base.num_buckets, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "hash_bucket_size", &base.hash_bucket_size, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "dtype", &base.dtype, "string or int64"));
    RETURN_IF_ERROR(r.Get(c, path, "vocabulary_list", &base.vocabulary_list, "a list of strings or integers"));
    RETURN_IF_ERROR(r.Get(c, path, "num_oov_buckets", &base.num_oov_buckets, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "default_value", &base.default_value, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "dimension", &base.dimension, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "combiner", &base.combiner, "sum, mean or sqrtn"));
    RETURN_IF_ERROR(r.Get(c, path, "hash_key", &base.hash_key, "an unsigned integer"));
    RETURN_IF_ERROR(r.Get(c, path, "filter_freq", &base.filter_freq, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "steps_to_live", &base.steps_to_live, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "max_rows", &base.max_rows, "an integer"));
    RETURN_IF_ERROR(r.Get(c, path, "on_full", &base.on_full, "evict or error"));
    // The one field that may be a list: the input feature or the wrapped column.
    const char* field = c["key"] ? "key" : (c["source_column"] ? "source_column" : (c["categorical_column"] ? "categorical_column" : nullptr));
    std::vector<std::string> values;
    if (field != nullptr) {
      const YAML::Node v = c[field];
      if (v.IsSequence()) {
        RETURN_IF_ERROR(r.Get(c, path, field, &values, "a name or a list of names"));
        if (values.empty()) return r.Error(v, StrCat(path, ".", field), "is an empty list");
        if (!base.name.empty() && values.size() > 1) {
          return r.Error(c["name"], path + ".name", StrCat("cannot name ", values.size(), " columns at once; drop name"));
        }
      } else {
        values.emplace_back();
        RETURN_IF_ERROR(r.Get(c, path, field, &values[0], "a name"));
      }
    } else {
      values.emplace_back();
    }
    for (const std::string& v : values) {
      FeatureColumnSpec spec = base;
      if (field != nullptr && std::string(field) == "key") spec.key = v;
      else if (field != nullptr) spec.source = v;
      specs.push_back(std::move(spec));
      nodes.push_back(c);
    }
  }
  auto resolved = ResolveFeatureColumns(specs);
  if (!resolved.ok()) {
    // "feature column N (...)": report it at the line that declared column N.
    const std::string msg(resolved.status().message());
    size_t n = 0;
    if (msg.rfind("feature column ", 0) == 0) n = static_cast<size_t>(std::atoll(msg.c_str() + 15));
    return r.Error(n < nodes.size() ? nodes[n] : cols, "model.feature_columns", msg);
  }
  model->feature_columns = std::move(*resolved);
  std::set<std::string> names;
  for (const FeatureColumnSpec& c : model->feature_columns) names.insert(c.name);
  for (const char* which : {"linear_feature_columns", "dnn_feature_columns"}) {
    const auto& list = std::string(which) == "linear_feature_columns" ? model->linear_feature_columns : model->dnn_feature_columns;
    for (const std::string& n : list) {
      if (!names.count(n)) {
        std::string known;
        for (const std::string& k : names) known += (known.empty() ? "" : ", ") + k;
        return r.Error(m[which], StrCat("model.", which), StrCat("'", n, "' is not a feature column; the columns are ", known));
      }
    }
  }
  return OkStatus();
}

}  // namespace

const std::vector<std::string>* ClusterSpec::Job(const std::string& type) const {
  if (type == "ps") return &ps;
  if (type == "chief") return &chief;
  if (type == "worker") return &worker;
  if (type == "evaluator") return &evaluator;
  return nullptr;
}

namespace {
StatusOr<JobConfig> ParseJobConfigUnguarded(const std::string& yaml, const std::string& source,
                                            const std::vector<std::string>& overrides);
}  // namespace

// yaml-cpp throws where a node is not what the reader asks of it; whatever
// slips past the checks above is still an error naming the line, not a crash.
StatusOr<JobConfig> ParseJobConfig(const std::string& yaml, const std::string& source,
                                   const std::vector<std::string>& overrides) {
  try {
    return ParseJobConfigUnguarded(yaml, source, overrides);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(source, ":", e.mark.line + 1, ": ", e.msg,
                                " (a key or value of the wrong kind; see configs/reference.yaml)");
  }
}

namespace {
StatusOr<JobConfig> ParseJobConfigUnguarded(const std::string& yaml, const std::string& source,
                                            const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(source, ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) return InvalidArgumentError(source, ": the job file must be a mapping (cluster, model, ...)");
  std::vector<std::string> overridden;
  for (const std::string& o : overrides) {
    RETURN_IF_ERROR(ApplyOverride(root, o));
    overridden.push_back(o.substr(0, o.find('=')));
  }
  Reader r(source, overridden);
  JobConfig job;
  job.source = source;
  {
    YAML::Node record = YAML::Clone(root);
    if (record["run"] && record["run"].IsMap()) record["run"].remove("token");  // a secret stays out of model_dir
    YAML::Emitter out;
    out << record;
    job.resolved_yaml = std::string(out.c_str()) + "\n";
  }
  RETURN_IF_ERROR(r.CheckMap(root, "", {"cluster", "model", "data", "run", "eval", "launch"}));
  RETURN_IF_ERROR(ParseCluster(r, root["cluster"], &job.cluster));

  const YAML::Node m = root["model"];
  ModelSpec& model = job.model;
  RETURN_IF_ERROR(r.CheckMap(m, "model", {"type", "hidden_units", "n_classes", "activation", "dropout",
                                          "optimizer", "plugin", "params", "feature_columns", "linear_feature_columns",
                                          "dnn_feature_columns", "linear_optimizer", "dnn_optimizer"}));
  RETURN_IF_ERROR(r.Get(m, "model", "type", &model.type, "a string"));
  RETURN_IF_ERROR(r.Get(m, "model", "hidden_units", &model.hidden_units, "a list of integers"));
  RETURN_IF_ERROR(r.Get(m, "model", "n_classes", &model.n_classes, "an integer"));
  RETURN_IF_ERROR(r.Get(m, "model", "activation", &model.activation, "a string"));
  RETURN_IF_ERROR(r.Get(m, "model", "dropout", &model.dropout, "a number"));
  RETURN_IF_ERROR(r.Get(m, "model", "params", &model.params, "a mapping of strings"));
  const YAML::Node opt = m ? m["optimizer"] : YAML::Node();
  OptimizerSpec& o = model.optimizer;
  RETURN_IF_ERROR(ParseOptimizer(r, opt, "model.optimizer", &o));
  for (const char* which : {"linear_optimizer", "dnn_optimizer"}) {
    const YAML::Node n = m && m.IsMap() ? m[which] : YAML::Node();
    if (!n || n.IsNull()) continue;
    OptimizerSpec spec;
    spec.type = "";  // required here
    RETURN_IF_ERROR(ParseOptimizer(r, n, StrCat("model.", which), &spec));
    if (spec.type.empty()) return r.Error(n, StrCat("model.", which, ".type"), "is required");
    RETURN_IF_ERROR(CheckOptimizer(r, n, StrCat("model.", which), spec));
    (std::string(which) == "linear_optimizer" ? model.linear_optimizer : model.dnn_optimizer) = spec;
  }
  RETURN_IF_ERROR(ParseFeatureColumns(r, m, &model));
  const YAML::Node plugin = m ? m["plugin"] : YAML::Node();
  RETURN_IF_ERROR(r.CheckMap(plugin, "model.plugin", {"library", "symbol"}));
  RETURN_IF_ERROR(r.Get(plugin, "model.plugin", "library", &model.plugin_library, "a path"));
  RETURN_IF_ERROR(r.Get(plugin, "model.plugin", "symbol", &model.plugin_symbol, "a string"));

  const YAML::Node d = root["data"];
  RETURN_IF_ERROR(r.CheckMap(d, "data", {"train", "eval", "batch_size", "shuffle_buffer"}));
  RETURN_IF_ERROR(r.Get(d, "data", "batch_size", &job.data.batch_size, "an integer"));
  RETURN_IF_ERROR(r.Get(d, "data", "shuffle_buffer", &job.data.shuffle_buffer, "an integer"));
  for (const char* which : {"train", "eval"}) {
    const YAML::Node in = d ? d[which] : YAML::Node();
    const std::string path = StrCat("data.", which);
    InputSpec& spec = std::string(which) == "train" ? job.data.train : job.data.eval;
    RETURN_IF_ERROR(r.CheckMap(in, path, {"format", "images", "labels", "files", "label", "columns", "header", "features"}));
    RETURN_IF_ERROR(r.Get(in, path, "label", &spec.label, "a column or feature name"));
    RETURN_IF_ERROR(r.Get(in, path, "columns", &spec.columns, "a list of column names"));
    RETURN_IF_ERROR(r.Get(in, path, "header", &spec.header, "true or false"));
    const YAML::Node feats = in && in.IsMap() ? in["features"] : YAML::Node();
    if (feats && !feats.IsNull()) {
      if (!feats.IsMap()) return r.Error(feats, path + ".features", "must map feature names to {dtype, shape}");
      for (const auto& kv : feats) {
        const std::string name = kv.first.as<std::string>();
        const std::string fpath = StrCat(path, ".features.", name);
        RETURN_IF_ERROR(r.CheckMap(kv.second, fpath, {"dtype", "shape", "var_len"}));
        FeatureSpec f;
        RETURN_IF_ERROR(r.Get(kv.second, fpath, "dtype", &f.dtype, "float, int64 or string"));
        RETURN_IF_ERROR(r.Get(kv.second, fpath, "shape", &f.shape, "a list of integers"));
        RETURN_IF_ERROR(r.Get(kv.second, fpath, "var_len", &f.var_len, "true or false"));
        if (f.var_len && !f.shape.empty()) {
          return r.Error(kv.second["shape"], fpath + ".shape", "a var_len feature has no fixed shape; remove shape");
        }
        if (f.dtype != "float" && f.dtype != "int64" && f.dtype != "string") {
          return r.Error(kv.second, fpath + ".dtype", "must be float, int64 or string");
        }
        spec.features[name] = f;
      }
    }
    RETURN_IF_ERROR(r.Get(in, path, "format", &spec.format, "a string"));
    RETURN_IF_ERROR(r.Get(in, path, "images", &spec.images, "a path"));
    RETURN_IF_ERROR(r.Get(in, path, "labels", &spec.labels, "a path"));
    RETURN_IF_ERROR(r.Get(in, path, "files", &spec.files, "a list of paths"));
    if (in && !in.IsNull()) {
      if (spec.format != "idx" && spec.format != "csv" && spec.format != "tfrecord") {
        return r.Error(in["format"] ? in["format"] : in, path + ".format",
                       StrCat("must be idx, csv or tfrecord, not '", spec.format, "'"));
      }
      if (spec.format == "idx" && (spec.images.empty() || spec.labels.empty())) {
        return r.Error(in, path, "an idx input needs both images and labels");
      }
      if (spec.format != "idx" && spec.files.empty()) return r.Error(in, path, "needs files");
      if (spec.format == "tfrecord" && !spec.features.count(spec.label)) {
        return r.Error(in, path + ".features", StrCat("a tfrecord input needs a features map that includes the label '",
                                                      spec.label, "', e.g. {x: {dtype: float, shape: [784]}, ",
                                                      spec.label, ": {dtype: int64}}"));
      }
      if (spec.format == "tfrecord" && spec.features.at(spec.label).var_len) {
        return r.Error(in, path + ".features." + spec.label + ".var_len",
                       "the label has one value per example; it cannot be var_len");
      }
      if (spec.format == "csv") {
        for (const auto& [name, f] : spec.features) {
          if (f.var_len || !(f.shape.empty() || f.shape == std::vector<int64_t>{1})) {
            return r.Error(in["features"][name], StrCat(path, ".features.", name),
                           "a csv column holds one value per row: no var_len, shape [] or [1]");
          }
        }
      }
      if (spec.format == "csv" && spec.columns.empty() && !spec.header) {
        return r.Error(in, path + ".columns", "a csv input without a header line needs its column names");
      }
    }
  }

  const YAML::Node run = root["run"];
  RunSpec& rs = job.run;
  RETURN_IF_ERROR(r.CheckMap(run, "run", {"model_dir", "train_steps", "save_checkpoints_steps", "save_checkpoints_secs",
                                          "keep_checkpoint_max", "keep_checkpoint_every_n_hours",
                                          "log_step_count_steps", "save_summary_steps", "sync", "tf_random_seed",
                                          "token", "placement", "warm_start", "profile_steps", "device", "gpus",
                                          "task_devices", "intra_op_threads", "insecure", "tls"}));
  RETURN_IF_ERROR(r.Get(run, "run", "model_dir", &rs.model_dir, "a path"));
  RETURN_IF_ERROR(r.Get(run, "run", "train_steps", &rs.train_steps, "an integer"));
  RETURN_IF_ERROR(r.GetOpt(run, "run", "save_checkpoints_steps", &rs.save_checkpoints_steps, "an integer"));
  RETURN_IF_ERROR(r.GetOpt(run, "run", "save_checkpoints_secs", &rs.save_checkpoints_secs, "a number"));
  RETURN_IF_ERROR(r.Get(run, "run", "keep_checkpoint_max", &rs.keep_checkpoint_max, "an integer"));
  RETURN_IF_ERROR(r.Get(run, "run", "keep_checkpoint_every_n_hours", &rs.keep_checkpoint_every_n_hours, "a number"));
  RETURN_IF_ERROR(r.Get(run, "run", "log_step_count_steps", &rs.log_step_count_steps, "an integer"));
  RETURN_IF_ERROR(r.Get(run, "run", "save_summary_steps", &rs.save_summary_steps, "an integer"));
  RETURN_IF_ERROR(r.Get(run, "run", "profile_steps", &rs.profile_steps, "an integer"));
  RETURN_IF_ERROR(r.Get(run, "run", "intra_op_threads", &rs.intra_op_threads, "an integer"));
  RETURN_IF_ERROR(r.GetOpt(run, "run", "tf_random_seed", &rs.tf_random_seed, "an integer"));
  RETURN_IF_ERROR(r.Get(run, "run", "token", &rs.token, "a string"));
  RETURN_IF_ERROR(r.Get(run, "run", "insecure", &rs.insecure, "true or false"));
  RETURN_IF_ERROR(r.Get(run, "run", "device", &rs.device, "auto, cpu or gpu:N"));
  if (!ParseDeviceSpec(rs.device).ok() || rs.device.find(',') != std::string::npos) {
    return r.Error(run["device"], "run.device", StrCat("'", rs.device, "' is not auto, cpu or gpu:N"));
  }
  RETURN_IF_ERROR(r.Get(run, "run", "gpus", &rs.gpus, "a list of GPU indices"));
  {
    std::set<int64_t> seen;
    for (int64_t g : rs.gpus) {
      if (g < 0 || !seen.insert(g).second) {
        return r.Error(run["gpus"], "run.gpus", "needs distinct GPU indices >= 0, e.g. [0, 1]");
      }
    }
  }
  RETURN_IF_ERROR(r.Get(run, "run", "task_devices", &rs.task_devices, "a mapping like {\"worker:1\": gpu:1}"));
  for (const auto& [task, dev] : rs.task_devices) {
    const std::string type = task.substr(0, task.find(':'));
    if (type != "chief" && type != "worker" && type != "evaluator") {
      return r.Error(run["task_devices"], "run.task_devices",
                     StrCat("'", task, "' is not chief, worker, evaluator or one of them with :N"));
    }
    auto spec = ParseDeviceSpec(dev);
    if (!spec.ok()) {
      return r.Error(run["task_devices"], "run.task_devices",
                     StrCat("'", dev, "' (for ", task, ") is not auto, cpu, gpu:N or gpu:N,M,..."));
    }
    if (type == "evaluator" && spec->gpus.size() > 1) {
      return r.Error(run["task_devices"], "run.task_devices",
                     StrCat("'", dev, "' (for ", task, ") names several GPUs; the evaluator runs on one (cpu or gpu:N)"));
    }
  }
  const YAML::Node pl = run && run.IsMap() ? run["placement"] : YAML::Node();
  RETURN_IF_ERROR(r.CheckMap(pl, "run.placement", {"strategy", "partitions", "min_slice_bytes", "max_partitions"}));
  RETURN_IF_ERROR(r.Get(pl, "run.placement", "strategy", &rs.placement.strategy, "greedy or round_robin"));
  RETURN_IF_ERROR(r.Get(pl, "run.placement", "partitions", &rs.placement.partitions, "an integer"));
  RETURN_IF_ERROR(r.Get(pl, "run.placement", "min_slice_bytes", &rs.placement.min_slice_bytes, "an integer"));
  RETURN_IF_ERROR(r.Get(pl, "run.placement", "max_partitions", &rs.placement.max_partitions, "an integer"));
  if (rs.placement.strategy != "greedy" && rs.placement.strategy != "round_robin") {
    return r.Error(pl["strategy"], "run.placement.strategy", "must be greedy or round_robin");
  }
  if (rs.placement.partitions < 0 || rs.placement.min_slice_bytes < 0 || rs.placement.max_partitions < 0) {
    return r.Error(pl, "run.placement", "partitions, min_slice_bytes and max_partitions must be >= 0");
  }
  if (rs.placement.partitions > 0 && rs.placement.min_slice_bytes > 0) {
    return r.Error(pl, "run.placement", "set partitions or min_slice_bytes, not both");
  }
  const YAML::Node tls = run && run.IsMap() ? run["tls"] : YAML::Node();
  if (tls && !tls.IsNull()) {
    RETURN_IF_ERROR(r.CheckMap(tls, "run.tls", {"ca", "cert", "key"}));
    RETURN_IF_ERROR(r.Get(tls, "run.tls", "ca", &rs.tls.ca, "a PEM file"));
    RETURN_IF_ERROR(r.Get(tls, "run.tls", "cert", &rs.tls.cert, "a PEM file"));
    RETURN_IF_ERROR(r.Get(tls, "run.tls", "key", &rs.tls.key, "a PEM file"));
    for (const auto& [field, value] : {std::pair<const char*, const std::string&>{"ca", rs.tls.ca},
                                       {"cert", rs.tls.cert}, {"key", rs.tls.key}}) {
      if (value.empty()) {
        return r.Error(tls, StrCat("run.tls.", field), "is required with run.tls: the CA's certificate (ca), this "
                       "task's certificate (cert) and its private key (key), as PEM files; scripts/make_certs.sh "
                       "writes a set");
      }
    }
  }
  const YAML::Node ws = run && run.IsMap() ? run["warm_start"] : YAML::Node();
  if (ws && !ws.IsNull()) {
    RETURN_IF_ERROR(r.CheckMap(ws, "run.warm_start", {"from", "vars", "prev_names"}));
    WarmStartSpec w;
    RETURN_IF_ERROR(r.Get(ws, "run.warm_start", "from", &w.from, "a checkpoint prefix or directory"));
    RETURN_IF_ERROR(r.Get(ws, "run.warm_start", "vars", &w.vars, "a regular expression"));
    RETURN_IF_ERROR(r.Get(ws, "run.warm_start", "prev_names", &w.prev_names, "a mapping of variable names"));
    if (w.from.empty()) return r.Error(ws, "run.warm_start.from", "is required (a checkpoint prefix or directory)");
    rs.warm_start = w;
  }
  if (run && run.IsMap() && run["sync"] && !run["sync"].IsNull()) {
    const YAML::Node s = run["sync"];
    if (s.IsScalar()) {
      bool on = false;
      RETURN_IF_ERROR(r.Get(run, "run", "sync", &on, "false, true or {replicas_to_aggregate, total_num_replicas}"));
      if (on) {
        const int64_t n = static_cast<int64_t>(job.cluster.worker.size() + job.cluster.chief.size());
        rs.sync = SyncSpec{n, n};
      }
    } else {
      RETURN_IF_ERROR(r.CheckMap(s, "run.sync", {"replicas_to_aggregate", "total_num_replicas"}));
      SyncSpec sync;
      RETURN_IF_ERROR(r.Get(s, "run.sync", "replicas_to_aggregate", &sync.replicas_to_aggregate, "an integer"));
      RETURN_IF_ERROR(r.Get(s, "run.sync", "total_num_replicas", &sync.total_num_replicas, "an integer"));
      if (sync.replicas_to_aggregate <= 0 || sync.total_num_replicas < sync.replicas_to_aggregate) {
        return r.Error(s, "run.sync", "needs 0 < replicas_to_aggregate <= total_num_replicas");
      }
      rs.sync = sync;
    }
  }

  const YAML::Node ev = root["eval"];
  RETURN_IF_ERROR(r.CheckMap(ev, "eval", {"start_delay_secs", "throttle_secs", "steps", "every_checkpoint",
                                          "early_stopping", "best_metric", "timeout_secs"}));
  RETURN_IF_ERROR(r.Get(ev, "eval", "every_checkpoint", &job.eval.every_checkpoint, "true or false"));
  // "loss" (lower is better) or {metric: accuracy, higher_is_better: true}
  auto metric_spec = [&](const char* key, std::string* metric, bool* higher, int64_t* patience) -> Status {
    const YAML::Node n = ev && ev.IsMap() ? ev[key] : YAML::Node();
    if (!n || n.IsNull()) return OkStatus();
    const std::string path = StrCat("eval.", key);
    if (n.IsScalar()) {
      *metric = n.as<std::string>();
      *higher = *metric == "accuracy" || *metric == "auc";
      return OkStatus();
    }
    std::set<std::string> keys = {"metric", "higher_is_better"};
    if (patience != nullptr) keys.insert("patience");
    RETURN_IF_ERROR(r.CheckMap(n, path, keys));
    RETURN_IF_ERROR(r.Get(n, path, "metric", metric, "a metric name"));
    *higher = *metric == "accuracy" || *metric == "auc";
    RETURN_IF_ERROR(r.Get(n, path, "higher_is_better", higher, "true or false"));
    if (patience != nullptr) RETURN_IF_ERROR(r.Get(n, path, "patience", patience, "an integer"));
    if (metric->empty()) return r.Error(n, path + ".metric", "is required");
    if (patience != nullptr && *patience <= 0) return r.Error(n, path + ".patience", "must be > 0");
    return OkStatus();
  };
  RETURN_IF_ERROR(metric_spec("early_stopping", &job.eval.early_stopping_metric, &job.eval.early_stopping_higher_is_better,
                              &job.eval.early_stopping_patience));
  RETURN_IF_ERROR(metric_spec("best_metric", &job.eval.best_metric, &job.eval.best_higher_is_better, nullptr));
  if (!job.eval.early_stopping_metric.empty() && job.eval.early_stopping_patience <= 0) {
    return r.Error(ev["early_stopping"], "eval.early_stopping", "needs {metric: ..., patience: N}");
  }

  const YAML::Node la = root["launch"];
  LaunchSpec& ls = job.launch;
  RETURN_IF_ERROR(r.CheckMap(la, "launch", {"bin_dir", "ssh", "worker_restarts", "restart_backoff_secs", "job_restarts",
                                            "status_secs", "finish_timeout_secs", "image", "gpus_per_trainer",
                                            "ps_recovery"}));
  RETURN_IF_ERROR(r.Get(la, "launch", "ps_recovery", &ls.ps_recovery, "job or task"));
  if (ls.ps_recovery != "job" && ls.ps_recovery != "task") {
    return r.Error(la["ps_recovery"], "launch.ps_recovery", StrCat("must be job or task, not '", ls.ps_recovery, "'"));
  }
  RETURN_IF_ERROR(r.Get(la, "launch", "bin_dir", &ls.bin_dir, "a directory"));
  RETURN_IF_ERROR(r.Get(la, "launch", "ssh", &ls.ssh, "a command"));
  RETURN_IF_ERROR(r.Get(la, "launch", "worker_restarts", &ls.worker_restarts, "an integer"));
  RETURN_IF_ERROR(r.Get(la, "launch", "restart_backoff_secs", &ls.restart_backoff_secs, "a number"));
  RETURN_IF_ERROR(r.Get(la, "launch", "job_restarts", &ls.job_restarts, "an integer"));
  RETURN_IF_ERROR(r.Get(la, "launch", "status_secs", &ls.status_secs, "a number"));
  RETURN_IF_ERROR(r.Get(la, "launch", "finish_timeout_secs", &ls.finish_timeout_secs, "a number"));
  RETURN_IF_ERROR(r.Get(la, "launch", "image", &ls.image, "a container image"));
  RETURN_IF_ERROR(r.Get(la, "launch", "gpus_per_trainer", &ls.gpus_per_trainer, "an integer"));
  if (ls.gpus_per_trainer < -1) return r.Error(la["gpus_per_trainer"], "launch.gpus_per_trainer", "must be >= 0 (or -1: from run)");
  if (ls.worker_restarts < 0 || ls.job_restarts < 0) {
    return r.Error(la, "launch", "worker_restarts and job_restarts must be >= 0");
  }
  RETURN_IF_ERROR(r.Get(ev, "eval", "start_delay_secs", &job.eval.start_delay_secs, "a number"));
  RETURN_IF_ERROR(r.Get(ev, "eval", "throttle_secs", &job.eval.throttle_secs, "a number"));
  RETURN_IF_ERROR(r.GetOpt(ev, "eval", "timeout_secs", &job.eval.timeout_secs, "a number"));
  if (job.eval.timeout_secs && *job.eval.timeout_secs < 0) {
    return r.Error(ev["timeout_secs"], "eval.timeout_secs", "must be >= 0 (0: wait forever)");
  }
  RETURN_IF_ERROR(r.GetOpt(ev, "eval", "steps", &job.eval.steps, "an integer or null"));

  // Values that must be present or sane.
  auto at = [&](const YAML::Node& parent, const char* key) { return parent && parent.IsMap() && parent[key] ? parent[key] : root; };
  if (rs.model_dir.empty()) return r.Error(run ? run : root, "run.model_dir", "is required");
  if (rs.train_steps <= 0) return r.Error(at(run, "train_steps"), "run.train_steps", "is required and must be > 0");
  // RunConfig's own rules (one rule set), reported with the key's line.
  if (auto p = rs.FindProblem()) return r.Error(at(run, p->key.c_str()), "run." + p->key, p->what);
  if (job.data.batch_size <= 0) return r.Error(at(d, "batch_size"), "data.batch_size", "must be > 0");
  RETURN_IF_ERROR(CheckOptimizer(r, opt ? opt : root, "model.optimizer", o));
  static const std::set<std::string> kModels = {"dnn_classifier", "linear_classifier", "dnn_linear_combined_classifier",
                                                "cnn_classifier", "plugin"};
  if (!kModels.count(model.type)) {
    return r.Error(at(m, "type"), "model.type",
                   StrCat("unknown model type '", model.type,
                          "'; choose dnn_classifier, linear_classifier, dnn_linear_combined_classifier, cnn_classifier "
                          "or plugin"));
  }
  if (model.type == "dnn_linear_combined_classifier") {
    if (model.feature_columns.empty()) {
      return r.Error(at(m, "type"), "model.feature_columns", "is required for dnn_linear_combined_classifier");
    }
    for (const char* which : {"linear_feature_columns", "dnn_feature_columns"}) {
      const auto& names = std::string(which) == "linear_feature_columns" ? model.linear_feature_columns
                                                                         : model.dnn_feature_columns;
      if (names.empty()) {
        return r.Error(at(m, "type"), StrCat("model.", which),
                       "is required for dnn_linear_combined_classifier (names of model.feature_columns)");
      }
    }
  }
  if (model.type == "plugin" && model.plugin_library.empty()) {
    return r.Error(at(m, "plugin"), "model.plugin.library", "is required when model.type is plugin");
  }
  if (model.n_classes < 2) return r.Error(at(m, "n_classes"), "model.n_classes", "must be >= 2");
  if (!(model.dropout >= 0 && model.dropout < 1)) return r.Error(at(m, "dropout"), "model.dropout", "must be in [0, 1)");
  for (int64_t u : model.hidden_units) {
    if (u <= 0) return r.Error(at(m, "hidden_units"), "model.hidden_units", "every entry must be > 0");
  }
  RETURN_IF_ERROR(CheckAddresses(job.cluster, source));
  return job;
}
}  // namespace

std::vector<std::pair<std::string, OptimizerSpec>> ScopedOptimizers(const ModelSpec& model) {
  if (model.type != "dnn_linear_combined_classifier") return {};
  OptimizerSpec linear{.type = "ftrl", .learning_rate = 0.2f}, dnn{.type = "adagrad", .learning_rate = 0.05f};
  if (!model.linear_feature_columns.empty()) {
    linear.learning_rate =
        std::min(0.2f, 1.f / std::sqrt(static_cast<float>(model.linear_feature_columns.size())));
  }
  return {{"linear/", model.linear_optimizer.value_or(linear)}, {"dnn/", model.dnn_optimizer.value_or(dnn)}};
}

StatusOr<JobConfig> LoadJobConfig(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot read job file ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  ASSIGN_OR_RETURN(JobConfig job, ParseJobConfig(ss.str(), path, overrides));
  // A relative plugin or TLS path is relative to the job file.
  const size_t slash = path.rfind('/');
  for (std::string* file : {&job.model.plugin_library, &job.run.tls.ca, &job.run.tls.cert, &job.run.tls.key}) {
    if (!file->empty() && (*file)[0] != '/' && slash != std::string::npos) *file = path.substr(0, slash + 1) + *file;
  }
  return job;
}

StatusOr<DeviceSpec> ParseDeviceSpec(const std::string& spec) {
  DeviceSpec d;
  if (spec == "auto") {
    d.kind = DeviceSpec::kAuto;
    return d;
  }
  if (spec == "cpu") {
    d.kind = DeviceSpec::kCpu;
    return d;
  }
  d.kind = DeviceSpec::kGpus;
  if (spec == "gpu") {
    d.gpus = {0};
    return d;
  }
  if (spec.rfind("gpu:", 0) != 0) return InvalidArgumentError("'", spec, "' is not auto, cpu or gpu:N");
  std::string rest = spec.substr(4);
  size_t start = 0;
  while (start <= rest.size()) {
    const size_t comma = rest.find(',', start);
    const std::string part = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos || part.size() > 4) {
      return InvalidArgumentError("'", spec, "' is not auto, cpu or gpu:N (N a GPU index)");
    }
    const int64_t g = std::stoll(part);
    if (std::find(d.gpus.begin(), d.gpus.end(), g) != d.gpus.end()) {
      return InvalidArgumentError("'", spec, "' names gpu ", g, " twice");
    }
    d.gpus.push_back(g);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return d;
}

DeviceSpec TaskDeviceSpec(const RunSpec& run, const TaskId& task) {
  auto it = run.task_devices.find(StrCat(task.type, ":", task.index));
  if (it == run.task_devices.end()) it = run.task_devices.find(task.type);
  if (it != run.task_devices.end()) return *ParseDeviceSpec(it->second);
  DeviceSpec d = run.gpus.empty() ? *ParseDeviceSpec(run.device) : DeviceSpec{.kind = DeviceSpec::kGpus, .gpus = run.gpus};
  if (task.type == "evaluator" && d.gpus.size() > 1) d.gpus.resize(1);  // evaluation runs on one GPU
  return d;
}

std::string TaskDeviceSource(const RunSpec& run, const TaskId& task) {
  for (const std::string& key : {StrCat(task.type, ":", task.index), task.type}) {
    if (run.task_devices.count(key) > 0) return StrCat("run.task_devices[\"", key, "\"]");
  }
  return run.gpus.empty() ? "run.device" : "run.gpus";
}

int64_t GpusPerTrainer(const JobConfig& job) {
  if (job.launch.gpus_per_trainer >= 0) return job.launch.gpus_per_trainer;
  if (!job.run.gpus.empty()) return static_cast<int64_t>(job.run.gpus.size());
  return job.run.device.rfind("gpu", 0) == 0 ? 1 : 0;
}

int64_t GpusForTask(const JobConfig& job, const TaskId& task) {
  const bool trainer = task.type == "chief" || task.type == "worker";
  if (!trainer && task.type != "evaluator") return 0;
  if (trainer && job.launch.gpus_per_trainer >= 0) return job.launch.gpus_per_trainer;
  const DeviceSpec d = TaskDeviceSpec(job.run, task);
  if (d.kind != DeviceSpec::kAuto) return static_cast<int64_t>(d.gpus.size());
  // auto: a GPU when the trainers' request holds one (launch.gpus_per_trainer).
  const int64_t trainers = GpusPerTrainer(job);
  return trainer ? trainers : std::min<int64_t>(trainers, 1);
}

StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgumentError("address '", address, "' must be host:port");
  }
  const std::string digits = address.substr(colon + 1);
  if (digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgumentError("address '", address, "' must be host:port with a port number in 1..65535");
  }
  const int port = std::stoi(digits);  // at most 5 digits: cannot throw
  if (port < 1 || port > 65535) {
    return InvalidArgumentError("port ", port, " of address '", address, "' is outside 1..65535");
  }
  return std::make_pair(address.substr(0, colon), port);
}

namespace {

// Bounds a sparse TF_CONFIG job's indices (the list is sized by the largest).
constexpr int64_t kMaxTfConfigTasks = 1 << 16;

// TensorFlow's operator may name the chief "master" (TF1's name for it);
// psflow runs it as the chief, as TensorFlow's Estimator does.
std::string TfConfigJobName(const std::string& name) { return name == "master" ? "chief" : name; }

StatusOr<std::string> TfConfigString(const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) return InvalidArgumentError("TF_CONFIG: ", what, " must be a string, got ", Reader::Dump(n));
  return n.Scalar();
}

StatusOr<int64_t> TfConfigIndex(const YAML::Node& n, const std::string& what) {
  const std::string s = n.IsScalar() ? n.Scalar() : "";
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgumentError("TF_CONFIG: ", what, " must be a task index (0, 1, ...), got ", Reader::Dump(n));
  }
  return std::stoll(s);
}

}  // namespace

StatusOr<TaskId> ParseTfConfig(const std::string& json, ClusterSpec* cluster) {
  YAML::Node root;
  try {
    root = YAML::Load(json);  // JSON is YAML
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError("TF_CONFIG is not valid JSON: ", e.msg);
  }
  if (!root.IsMap()) return InvalidArgumentError("TF_CONFIG must be a JSON object with \"cluster\" and \"task\"");
  const YAML::Node c = root["cluster"];
  if (c && !c.IsNull()) {
    if (!c.IsMap()) return InvalidArgumentError("TF_CONFIG: \"cluster\" must be an object");
    ClusterSpec spec;
    std::set<std::string> jobs;
    for (const auto& kv : c) {
      ASSIGN_OR_RETURN(const std::string given, TfConfigString(kv.first, "a cluster job name"));
      const std::string job = TfConfigJobName(given);
      std::vector<std::string>* list = const_cast<std::vector<std::string>*>(spec.Job(job));
      if (list == nullptr) {
        return InvalidArgumentError("TF_CONFIG: cluster job '", given,
                                    "' is not one of ps, chief (or master), worker, evaluator");
      }
      if (!jobs.insert(job).second) {
        return InvalidArgumentError("TF_CONFIG: the cluster names the ", job, " job twice",
                                    job == "chief" ? " (as \"chief\" and \"master\"?)" : "", "; keep one");
      }
      const std::string where = StrCat("cluster.", given);
      if (kv.second.IsSequence()) {
        for (size_t i = 0; i < kv.second.size(); ++i) {
          ASSIGN_OR_RETURN(std::string a, TfConfigString(kv.second[i], StrCat(where, "[", i, "]")));
          list->push_back(std::move(a));
        }
      } else if (kv.second.IsMap()) {  // Kubeflow's dynamic-worker form {"<index>": "host:port"}
        std::map<int64_t, std::string> by_index;
        for (const auto& e : kv.second) {
          ASSIGN_OR_RETURN(int64_t i, TfConfigIndex(e.first, StrCat("a key of ", where)));
          ASSIGN_OR_RETURN(by_index[i], TfConfigString(e.second, StrCat(where, "[\"", i, "\"]")));
        }
        // Sparse, as TensorFlow allows: a task may know only its own
        // address; the others stay empty (not for ps and chief, below).
        for (auto& [i, a] : by_index) {
          if (i >= kMaxTfConfigTasks) {
            return InvalidArgumentError("TF_CONFIG: ", where, " names task ", i, "; task indices go up to ",
                                        kMaxTfConfigTasks - 1);
          }
          if (static_cast<int64_t>(list->size()) <= i) list->resize(static_cast<size_t>(i + 1));
          (*list)[static_cast<size_t>(i)] = std::move(a);
        }
      } else {
        return InvalidArgumentError("TF_CONFIG: ", where, " must be a list of host:port");
      }
    }
    if (spec.chief.size() != 1) {
      return InvalidArgumentError("TF_CONFIG: if \"cluster\" is set, it must have one \"chief\" node (it has ",
                                  spec.chief.size(), ")");
    }
    for (const char* job : {"ps", "chief"}) {
      const std::vector<std::string>& tasks = *spec.Job(job);
      for (size_t i = 0; i < tasks.size(); ++i) {
        if (tasks[i].empty()) {
          return InvalidArgumentError("TF_CONFIG: cluster.", job, " has no address for task ", i,
                                      "; every task needs the address of each ", job, " task");
        }
      }
    }
    RETURN_IF_ERROR(CheckAddresses(spec, "TF_CONFIG", /*allow_unknown=*/true));
    *cluster = std::move(spec);
  }
  const YAML::Node t = root["task"];
  if (!t || !t.IsMap() || !t["type"] || !t["index"]) {
    return InvalidArgumentError("TF_CONFIG needs \"task\": {\"type\": ..., \"index\": ...}");
  }
  TaskId id;
  ASSIGN_OR_RETURN(const std::string type, TfConfigString(t["type"], "task.type"));
  id.type = TfConfigJobName(type);
  ASSIGN_OR_RETURN(id.index, TfConfigIndex(t["index"], "task.index"));
  RETURN_IF_ERROR(ValidateTask(*cluster, id).WithContext("TF_CONFIG"));
  return id;
}

Status ValidateTask(const ClusterSpec& cluster, const TaskId& task) {
  const std::vector<std::string>* job = cluster.Job(task.type);
  if (job == nullptr) {
    return InvalidArgumentError("task type '", task.type, "' is not one of ps, chief, worker, evaluator");
  }
  if (task.index < 0) return InvalidArgumentError("task index must be >= 0, got ", task.index);
  if (task.type == "evaluator") return OkStatus();  // the evaluator need not be in the cluster
  if (task.index >= static_cast<int64_t>(job->size())) {
    return InvalidArgumentError("task ", task.type, ":", task.index, " is not in the cluster (", task.type, " has ",
                                job->size(), " tasks)");
  }
  return OkStatus();
}

}  // namespace psflow
