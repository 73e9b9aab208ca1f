#include "common/train/saved_model.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/checkpoint/tensor_bundle.h"
#include "common/ops/graph_io.h"
#include "common/train/saver.h"

namespace psflow {
namespace {

tensorflow::TensorInfo InfoOf(const Output& o) {
  tensorflow::TensorInfo info;
  info.set_name(o.name());
  info.set_dtype(static_cast<tensorflow::DataType>(o.dtype()));
  *info.mutable_tensor_shape() = ShapeToProto(o.shape());
  return info;
}

}  // namespace

Status WriteSavedModel(Env* env, const Graph& graph, VariableStore* variables, const SignatureSpec& signature,
                       const std::string& dir) {
  if (env->FileExists(dir)) {
    return AlreadyExistsError("SavedModel directory ", dir, " already exists; export to a new directory");
  }
  if (signature.inputs.empty() || signature.outputs.empty()) {
    return InvalidArgumentError("a SavedModel signature needs inputs and outputs (exporting to ", dir, ")");
  }
  for (const Variable* v : graph.VariablesInCollection(collections::kGlobalVariables)) {
    if (!v->shape.IsFullyDefined()) {
      return UnimplementedError("the model's variable ", v->name, " has no fixed shape (a dynamic embedding table), ",
                                "which a SavedModel cannot hold yet; export its frozen graph instead (", dir, ")");
    }
  }
  // Written beside dir, then renamed into place.
  const std::string tmp = StrCat(dir, ".tmp-", getpid());
  RETURN_IF_ERROR(env->CreateDirs(JoinPath(tmp, "variables")));
  BundleWriter w(env, JoinPath(tmp, "variables/variables"));
  std::set<std::string> written;  // a collection may list a variable twice
  for (const Variable* v : graph.VariablesInCollection(collections::kGlobalVariables)) {
    if (!written.insert(v->name).second) continue;
    ASSIGN_OR_RETURN(Tensor value, variables->Read(v->name));
    ASSIGN_OR_RETURN(value, value.ToHost());
    RETURN_IF_ERROR(w.Add(v->name, value));
  }
  RETURN_IF_ERROR(w.Finish());

  tensorflow::SavedModel model;
  model.set_saved_model_schema_version(1);
  tensorflow::MetaGraphDef* meta = model.add_meta_graphs();
  *meta = ExportMetaGraph(graph);
  meta->mutable_meta_info_def()->add_tags(kServingTag);
  tensorflow::SignatureDef sig;
  for (const auto& [key, o] : signature.inputs) (*sig.mutable_inputs())[key] = InfoOf(o);
  for (const auto& [key, o] : signature.outputs) (*sig.mutable_outputs())[key] = InfoOf(o);
  sig.set_method_name(kPredictMethod);
  (*meta->mutable_signature_def())[kDefaultSignature] = sig;
  RETURN_IF_ERROR(WriteBinaryProto(env, JoinPath(tmp, "saved_model.pb"), model));
  RETURN_IF_ERROR(env->SyncDir(tmp));
  return env->RenameFile(tmp, dir);
}

Status PruneExports(const std::string& export_dir_base, int keep) {
  std::vector<std::pair<int64_t, std::filesystem::path>> exports;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(export_dir_base, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.empty() || name.size() > 18 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    exports.emplace_back(std::stoll(name), entry.path());
  }
  if (ec) return InternalError("cannot list ", export_dir_base, ": ", ec.message());
  std::sort(exports.begin(), exports.end());
  for (size_t i = 0; i + static_cast<size_t>(std::max(keep, 0)) < exports.size(); ++i) {
    std::filesystem::remove_all(exports[i].second, ec);
    if (ec) return InternalError("cannot remove the old export ", exports[i].second.string(), ": ", ec.message());
  }
  return OkStatus();
}

StatusOr<LoadedSavedModel> LoadSavedModel(Env* env, const std::string& dir, const std::string& signature) {
  const std::string pb = JoinPath(dir, "saved_model.pb");
  tensorflow::SavedModel model;
  RETURN_IF_ERROR(ReadBinaryProto(env, pb, &model));
  const tensorflow::MetaGraphDef* meta = nullptr;
  std::string tags;
  for (const auto& m : model.meta_graphs()) {
    for (const std::string& t : m.meta_info_def().tags()) {
      if (t == kServingTag && meta == nullptr) meta = &m;
      tags += StrCat(tags.empty() ? "" : ", ", t);
    }
  }
  if (meta == nullptr) {
    return NotFoundError(pb, " has no meta graph tagged \"", kServingTag, "\" (tags: ", tags.empty() ? "none" : tags,
                         ")");
  }
  auto sig = meta->signature_def().find(signature);
  if (sig == meta->signature_def().end()) {
    std::string have;
    for (const auto& [k, v] : meta->signature_def()) have += StrCat(have.empty() ? "" : ", ", k);
    return NotFoundError(pb, " has no signature \"", signature, "\" (it has: ", have.empty() ? "none" : have, ")");
  }
  LoadedSavedModel m;
  m.graph = std::make_unique<Graph>();
  RETURN_IF_ERROR(ImportMetaGraph(*meta, m.graph.get()).WithContext("loading ", pb));
  m.session = std::make_unique<Session>(m.graph.get());
  ASSIGN_OR_RETURN(auto saver, Saver::Create(m.graph.get()));
  RETURN_IF_ERROR(saver->Restore(m.session.get(), JoinPath(dir, "variables/variables")).WithContext("loading ", dir));
  auto resolve = [&](const auto& infos, std::map<std::string, Output>* out) -> Status {
    for (const auto& [key, info] : infos) {
      auto o = m.graph->GetTensorByName(info.name());
      if (!o.ok()) return o.status().WithContext("signature ", signature, " of ", pb, ", key ", key);
      (*out)[key] = *o;
    }
    return OkStatus();
  };
  RETURN_IF_ERROR(resolve(sig->second.inputs(), &m.inputs));
  RETURN_IF_ERROR(resolve(sig->second.outputs(), &m.outputs));
  m.method_name = sig->second.method_name();
  return m;
}

}  // namespace psflow
