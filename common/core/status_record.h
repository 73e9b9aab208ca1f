// The structured progress a task reports to psflow-launch: one line of its
// standard error per record, typed fields, no log text to scrape.
//
//   EmitStatusRecord({"step", {{"step", "120"}, {"loss", "0.53"}, {"steps_per_sec", "41.2"}}});
//   // prints: @psflow-record step loss=0.53 step=120 steps_per_sec=41.2
//   if (auto r = ParseStatusRecord(line)) { r->kind, r->Number("step") ... }
//
// Kinds: "step" (step, loss, steps_per_sec: each trainer's progress line;
// psflow-launch shows the chief's), "checkpoint" (step, path: the chief's),
// "eval" (step, then every metric by name: the evaluator's).
// Values are percent-escaped (space, '%', '=', control bytes), so a path
// with spaces survives.  Thread-safe: each record is one write.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace psflow {

inline constexpr std::string_view kStatusRecordPrefix = "@psflow-record ";

struct StatusRecord {
  std::string kind;
  std::map<std::string, std::string> fields;

  // The field as a number; nullopt when absent or not a number.
  std::optional<double> Number(const std::string& key) const;
  std::string Field(const std::string& key) const;  // "" when absent
};

// "@psflow-record <kind> key=value ..." (no newline).
std::string FormatStatusRecord(const StatusRecord& r);
// The record a line holds; nullopt for any other line (or a malformed record).
std::optional<StatusRecord> ParseStatusRecord(std::string_view line);
// Writes the record and a newline to standard error in one write.
void EmitStatusRecord(const StatusRecord& r);

}  // namespace psflow
