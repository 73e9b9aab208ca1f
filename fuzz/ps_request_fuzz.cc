// Every request a PS task handles (Initialize, Pull, Pull by rows, Push dense
// and row-sparse, Save, Restore, Status, SetReady, RequestStop) as a whole
// frame from arbitrary bytes, against a PS holding a dense variable and an
// embedding table: wrong dtypes, shapes, row ids, names and huge counts must
// be errors to the caller, never a crash.  Save and Restore go to a scratch
// directory whatever prefix the frame names.
#include <unistd.h>

#include <cstdint>
#include <filesystem>

#include "common/distributed/ps_protocol.h"
#include "common/proto/ps.pb.h"
#include "ps/parameter_server.h"
#include "ps/ps_service.h"

namespace {

psflow::rpc::Message InitRequest() {
  psflow::rpc::Message m;
  m.header.set_method(psflow::ps::kInitialize);
  psflow::ps::InitializeRequest r;
  r.add_names("dense/kernel");
  r.add_names("emb");
  m.header.set_body(r.SerializeAsString());
  m.tensors.push_back(psflow::Tensor::FromVector<float>(std::vector<float>(12, 0.5f), psflow::TensorShape({4, 3})));
  m.tensors.push_back(psflow::Tensor::FromVector<float>(std::vector<float>(20, 0.25f), psflow::TensorShape({10, 2})));
  return m;
}

std::string& ScratchDir() {
  static std::string dir;
  return dir;
}
std::string ScratchPrefix() {
  if (ScratchDir().empty()) {
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    ScratchDir() = std::string(base) + "/psflow_fuzz_ps_" + std::to_string(getpid());
    std::filesystem::create_directories(ScratchDir());
    std::atexit([] { std::filesystem::remove_all(ScratchDir()); });
  }
  return ScratchDir() + "/model.ckpt";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace psflow;
  auto m = rpc::DecodeFlatFrame(std::string_view(reinterpret_cast<const char*>(data), size),
                                {.max_header_bytes = 1 << 20, .max_payload_bytes = 16 << 20}, "fuzz");
  if (!m.ok()) return 0;
  const std::string method = m->header.method();
  if (method == ps::kWaitForStep || method == ps::kShutdown) return 0;  // answered later / ends the task
  if (method == ps::kSave) {
    ps::SaveRequest r;
    if (!r.ParseFromString(m->header.body())) return 0;
    r.set_prefix(ScratchPrefix());
    m->header.set_body(r.SerializeAsString());
  } else if (method == ps::kInitialize) {  // a task restored alone reads restore_prefix: only the scratch one
    ps::InitializeRequest r;
    if (!r.ParseFromString(m->header.body())) return 0;
    if (!r.restore_prefix().empty()) r.set_restore_prefix(ScratchPrefix());
    m->header.set_body(r.SerializeAsString());
  } else if (method == ps::kRestore) {
    ps::RestoreRequest r;
    if (!r.ParseFromString(m->header.body())) return 0;
    r.set_prefix(ScratchPrefix());
    m->header.set_body(r.SerializeAsString());
  }
  auto created = ParameterServer::Create({.task_index = 0, .optimizer = "adam", .hyper = {.lr = 0.1f}});
  if (!created.ok()) abort();
  PsService service(created->get());
  auto handler = service.Handler();
  bool answered = false;
  handler(InitRequest(), [&](StatusOr<rpc::Message> r) {
    if (!r.ok()) abort();  // the harness's own request must work
    answered = true;
  });
  if (!answered) abort();
  handler(std::move(*m), [](StatusOr<rpc::Message> r) { (void)r; });
  return 0;
}
