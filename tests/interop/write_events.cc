// Writes a known set of TensorBoard events into the directory given on the
// command line, for tests/interop/tensorboard_interop.py: a SessionLog
// START, "loss" = 1 / (step + 1) at steps 0..9, "accuracy" = 0.875 at step
// 10, and a CHECKPOINT SessionLog at step 10.
#include <iostream>

#include "common/summary/event_writer.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: psflow_event_writer_demo DIR\n";
    return 2;
  }
  auto w = psflow::EventWriter::Create(psflow::Env::Default(), argv[1]);
  psflow::Status s = w.status();
  if (s.ok()) s = (*w)->WriteSessionLog(tensorflow::SessionLog::START, 0, "");
  for (int step = 0; s.ok() && step < 10; ++step) s = (*w)->WriteScalar("loss", step, 1.0 / (step + 1));
  if (s.ok()) s = (*w)->WriteScalar("accuracy", 10, 0.875);
  if (s.ok()) s = (*w)->WriteSessionLog(tensorflow::SessionLog::CHECKPOINT, 10, std::string(argv[1]) + "/model.ckpt-10");
  if (s.ok()) s = (*w)->Close();
  if (!s.ok()) {
    std::cerr << "psflow_event_writer_demo: " << s << "\n";
    return 1;
  }
  std::cout << (*w)->path() << "\n";
  return 0;
}
