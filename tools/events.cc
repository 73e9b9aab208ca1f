// psflow-events DIR_OR_FILE: the scalars of TensorBoard event files, one
// "tag step value" line each (every events.out.tfevents.* file of a
// directory, in TensorBoard's order).  Checks every record's crc; a
// corrupt file is an error naming it and the record.
//
//   psflow-events /tmp/psflow/fashion_mnist        # the chief's loss, global_step/sec, learning_rate
//   psflow-events /tmp/psflow/fashion_mnist/eval   # the evaluator's metrics
#include <cstdio>
#include <iostream>

#include "common/cluster/cli.h"
#include "common/core/env.h"
#include "common/summary/event_writer.h"

int main(int argc, char** argv) {
  CLI::App app("psflow-events: the scalars of TensorBoard event files, one \"tag step value\" line each", "psflow-events");
  std::string path;
  app.add_option("DIR_OR_FILE", path, "a directory (every events.out.tfevents.* file in it) or one event file; required");
  if (auto exit = psflow::ParseCommandLine(app, argc, argv)) return *exit;
  if (path.empty()) return psflow::MissingArgument(app, "DIR_OR_FILE");
  psflow::Env* env = psflow::Env::Default();
  if (path.find("tfevents") != std::string::npos && env->FileExists(path) && !env->GetChildren(path).ok()) {
    auto events = psflow::ReadEventFile(env, path);
    if (!events.ok()) {
      std::cerr << "psflow-events: " << events.status() << "\n";
      return 1;
    }
    for (const auto& e : *events) {
      for (const auto& v : e.summary().value()) {
        if (v.value_case() == tensorflow::Summary::Value::kSimpleValue) {
          std::printf("%s %lld %.9g\n", v.tag().c_str(), static_cast<long long>(e.step()), v.simple_value());
        }
      }
    }
    return 0;
  }
  auto scalars = psflow::ReadScalars(env, path);
  if (!scalars.ok()) {
    std::cerr << "psflow-events: " << scalars.status() << "\n";
    return 1;
  }
  for (const auto& [tag, points] : *scalars) {
    for (const auto& [step, value] : points) std::printf("%s %lld %.9g\n", tag.c_str(), static_cast<long long>(step), value);
  }
  return 0;
}
