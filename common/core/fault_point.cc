#include "common/core/fault_point.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

#include "common/core/logging.h"
#include "common/core/strcat.h"

namespace psflow {
namespace {

struct Armed {
  int64_t fire_at = 1;  // the Nth hit
  int64_t hits = 0;
};

struct Faults {
  std::mutex mu;
  std::map<std::string, Armed, std::less<>> points;  // "TASK/POINT"
  std::string marks;
};

Faults* Load() {
  const char* spec = std::getenv("PSFLOW_FAULT");
  if (spec == nullptr || *spec == '\0') return nullptr;
  auto* f = new Faults;
  if (const char* m = std::getenv("PSFLOW_FAULT_MARKS")) f->marks = m;
  for (std::string_view rest = spec; !rest.empty();) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    Armed a;
    if (const size_t at = item.rfind('@'); at != std::string_view::npos) {
      a.fire_at = std::atoll(std::string(item.substr(at + 1)).c_str());
      item = item.substr(0, at);
    }
    if (!item.empty() && a.fire_at > 0) f->points.emplace(std::string(item), a);
  }
  return f;
}

}  // namespace

void FaultPoint(std::string_view point) {
  static Faults* const faults = Load();  // PSFLOW_FAULT is read once
  if (faults == nullptr) return;
  const std::string key = StrCat(LogIdentity(), "/", point);
  std::lock_guard<std::mutex> l(faults->mu);
  auto it = faults->points.find(key);
  if (it == faults->points.end() || ++it->second.hits != it->second.fire_at) return;
  if (!faults->marks.empty()) {
    std::string mark = StrCat(faults->marks, "/", key);
    std::replace(mark.begin() + static_cast<std::ptrdiff_t>(faults->marks.size() + 1), mark.end(), '/', '.');
    if (::access(mark.c_str(), F_OK) == 0) return;  // fired in an earlier incarnation
    std::ofstream(mark) << "fired\n";
  }
  LOG(WARNING) << "fault injection (PSFLOW_FAULT): killing this process at " << point;
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace psflow
