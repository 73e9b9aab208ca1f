#include "common/summary/event_writer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/core/strcat.h"
#include "common/data/tfrecord.h"

namespace psflow {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Hostname() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace

std::string EventFileName(int64_t unix_seconds, const std::string& host, const std::string& suffix) {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%010lld", static_cast<long long>(unix_seconds));
  return StrCat("events.out.tfevents.", secs, ".", host, suffix);
}

EventWriter::EventWriter(std::string path, std::unique_ptr<TFRecordWriter> out)
    : path_(std::move(path)), out_(std::move(out)) {}

EventWriter::~EventWriter() { Close().IgnoreError(); }

StatusOr<std::unique_ptr<EventWriter>> EventWriter::Create(Env* env, const std::string& dir, const std::string& suffix) {
  RETURN_IF_ERROR(env->CreateDirs(dir));
  const double now = Now();
  std::string path = JoinPath(dir, EventFileName(static_cast<int64_t>(now), Hostname(), suffix));
  // Two writers in one second (a restarted task): the second gets another name.
  for (int n = 1; env->FileExists(path); ++n) {
    path = JoinPath(dir, EventFileName(static_cast<int64_t>(now), Hostname(), StrCat(suffix, ".", ::getpid(), ".", n)));
  }
  ASSIGN_OR_RETURN(auto out, TFRecordWriter::Open(env, path));
  std::unique_ptr<EventWriter> w(new EventWriter(path, std::move(out)));
  tensorflow::Event first;
  first.set_wall_time(std::floor(now));  // whole seconds, as TensorFlow's EventsWriter
  first.set_file_version("brain.Event:2");
  first.mutable_source_metadata()->set_writer("psflow");
  RETURN_IF_ERROR(w->WriteEvent(std::move(first)));
  return w;
}

Status EventWriter::WriteEvent(tensorflow::Event event) {
  if (!(event.wall_time() > 0) || !std::isfinite(event.wall_time())) event.set_wall_time(Now());
  std::lock_guard<std::mutex> l(mu_);
  if (!out_) return FailedPreconditionError("events file ", path_, " is closed");
  RETURN_IF_ERROR(out_->Write(event.SerializeAsString()));
  return out_->Flush();
}

Status EventWriter::WriteScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  tensorflow::Event e;
  e.set_step(step);
  for (const auto& [tag, v] : values) {
    auto* value = e.mutable_summary()->add_value();
    value->set_tag(tag);
    value->set_simple_value(static_cast<float>(v));
  }
  return WriteEvent(std::move(e));
}

Status EventWriter::WriteSessionLog(tensorflow::SessionLog::SessionStatus status, int64_t step,
                                    const std::string& checkpoint_path) {
  tensorflow::Event e;
  e.set_step(step);
  e.mutable_session_log()->set_status(status);
  if (!checkpoint_path.empty()) e.mutable_session_log()->set_checkpoint_path(checkpoint_path);
  return WriteEvent(std::move(e));
}

Status EventWriter::Flush() {
  std::lock_guard<std::mutex> l(mu_);
  if (!out_) return FailedPreconditionError("events file ", path_, " is closed");
  return out_->Flush();
}

Status EventWriter::Close() {
  std::lock_guard<std::mutex> l(mu_);
  if (!out_) return OkStatus();
  Status s = out_->Close();
  out_.reset();
  return s;
}

StatusOr<std::vector<tensorflow::Event>> ReadEventFile(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(auto reader, TFRecordReader::Open(env, path));
  std::vector<tensorflow::Event> events;
  std::string record;
  uint64_t offset = 0;  // of the next record
  while (true) {
    StatusOr<bool> more = reader->Next(&record);
    if (!more.ok()) {
      // A writer still appending leaves a short last record: not an error.
      if (reader->truncated()) break;
      return more.status();
    }
    if (!*more) break;
    tensorflow::Event e;
    if (!e.ParseFromString(record)) {
      return DataLossError("events file ", path, ": record ", events.size(), " at byte ", offset,
                           " is not an Event proto");
    }
    offset += 12 + record.size() + 4;
    events.push_back(std::move(e));
  }
  return events;
}

StatusOr<std::map<std::string, std::vector<std::pair<int64_t, double>>>> ReadScalars(Env* env, const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> children, env->GetChildren(dir));
  std::sort(children.begin(), children.end());
  std::map<std::string, std::vector<std::pair<int64_t, double>>> out;
  for (const std::string& name : children) {
    if (name.find("tfevents") == std::string::npos) continue;
    ASSIGN_OR_RETURN(std::vector<tensorflow::Event> events, ReadEventFile(env, JoinPath(dir, name)));
    for (const auto& e : events) {
      for (const auto& v : e.summary().value()) {
        if (v.value_case() == tensorflow::Summary::Value::kSimpleValue) out[v.tag()].emplace_back(e.step(), v.simple_value());
      }
    }
  }
  return out;
}

}  // namespace psflow
