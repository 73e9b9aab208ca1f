// TensorBoard event files, as TensorFlow's EventsWriter writes them:
// TFRecord-framed Event protos in <dir>/events.out.tfevents.<secs>.<host>,
// the first one naming the format ("brain.Event:2").
//
//   ASSIGN_OR_RETURN(auto w, EventWriter::Create(Env::Default(), model_dir));
//   RETURN_IF_ERROR(w->WriteScalars(step, {{"loss", 0.3}, {"global_step/sec", 41.5}}));
//   RETURN_IF_ERROR(w->WriteSessionLog(tensorflow::SessionLog::CHECKPOINT, step, prefix));
//   RETURN_IF_ERROR(w->Close());
//
//   ASSIGN_OR_RETURN(auto events, ReadEventFile(Env::Default(), w->path()));
//   ASSIGN_OR_RETURN(auto scalars, ReadScalars(Env::Default(), model_dir));  // tag -> [(step, value)]
//
// Scalars are written as `simple_value`s (what Estimator writes, and what
// every TensorBoard loader renders); keep each tag's steps increasing, as
// TensorBoard drops stored points at or after a step it sees again.  Every
// write is flushed: readers see it at once.  Errors name the file.
// EventWriter is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/core/env.h"
#include "common/proto/event.pb.h"

namespace psflow {

class TFRecordWriter;

class EventWriter {
 public:
  // Creates `dir` if needed and a new events file in it, named
  // EventFileName(now, hostname, suffix), and writes its first event
  // (file_version "brain.Event:2", whole-second wall_time).
  static StatusOr<std::unique_ptr<EventWriter>> Create(Env* env, const std::string& dir, const std::string& suffix = "");
  ~EventWriter();

  // One event at `step` with a simple_value (a float) per tag.
  Status WriteScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  Status WriteScalar(const std::string& tag, int64_t step, double value) { return WriteScalars(step, {{tag, value}}); }
  // START, STOP or CHECKPOINT (with the checkpoint's prefix; "" for none).
  Status WriteSessionLog(tensorflow::SessionLog::SessionStatus status, int64_t step, const std::string& checkpoint_path);
  // Any event.  A wall_time that is not a positive finite number (0 when
  // unset, NaN) is set to now, with sub-second precision.
  Status WriteEvent(tensorflow::Event event);
  // Every write is already flushed; this is for callers that want to say so.
  Status Flush();
  // Flushes and closes the file; later writes fail.  Idempotent.
  Status Close();
  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, std::unique_ptr<TFRecordWriter> out);
  const std::string path_;
  std::mutex mu_;
  std::unique_ptr<TFRecordWriter> out_;  // GUARDED_BY(mu_); null once closed
};

// "events.out.tfevents.0001700000.host": the name TensorFlow gives an events
// file created at `unix_seconds` on `host`.
std::string EventFileName(int64_t unix_seconds, const std::string& host, const std::string& suffix = "");

// Every event of one file, crcs checked.  A truncated last record (a writer
// still at work) ends the file quietly, as TensorBoard treats it; any other
// damage is a DataLoss error naming the file and the record.
StatusOr<std::vector<tensorflow::Event>> ReadEventFile(Env* env, const std::string& path);
// The simple_value scalars of every events file in `dir` (files whose name
// contains "tfevents", in name order): tag -> (step, value) in file order.
StatusOr<std::map<std::string, std::vector<std::pair<int64_t, double>>>> ReadScalars(Env* env, const std::string& dir);

}  // namespace psflow
