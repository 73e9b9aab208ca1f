// What the chief tells the PS tasks about a dynamic embedding table, and
// the counters a PS task keeps of its share of one: plain types of the
// parameter-server contract (ps_protocol.h), in a header of their own so
// that the table itself (ps/dynamic_table.h) needs nothing else.
// Thread-safe (definitions only).
#pragma once

#include <cstdint>

namespace psflow {

// A dynamic embedding table as the chief creates it on every PS task
// (graph.h's EmbeddingVariableSpec; ps/dynamic_table.h holds the rows).
struct DynamicTableInit {
  int64_t dim = 0;
  bool zeros_init = false;       // rows start at zero (linear weights), else truncated normal
  float stddev = 1.f;            // truncated normal: values beyond 2 stddev are drawn again
  uint64_t seed = 0;             // a row's initial value depends on (seed, id) only
  int64_t filter_freq = 0;       // admission after this many sightings (<= 1: at once)
  int64_t steps_to_live = 0;     // eviction of rows unseen this many global steps (0: never)
  // The cap on rows (0: none): over all PS tasks where the chief gives it
  // (PsClient::Initialize), a task's own share on that task
  // (ParameterServer::Initialize, DynamicTable).
  int64_t max_rows = 0;
  bool evict_when_full = true;   // at the cap: evict the least recently seen, or refuse
};

// A PS task's counters of its share of a dynamic table (Status).
struct DynamicTableStats {
  int64_t rows = 0;             // live rows
  int64_t bytes = 0;            // memory held: row chunks, index, admission counts
  int64_t candidates = 0;       // ids seen but not admitted yet
  int64_t hits = 0;             // training lookups that found a row
  int64_t filtered = 0;         // lookups of ids not admitted (answered with zeros)
  int64_t admissions = 0;       // rows created (restores not counted)
  int64_t evictions = 0;        // rows removed, stale or over the cap
  int64_t dropped_updates = 0;  // gradient rows of ids without a row

  // Sums (several tasks' shares, several tables).
  DynamicTableStats& operator+=(const DynamicTableStats& o) {
    rows += o.rows;
    bytes += o.bytes;
    candidates += o.candidates;
    hits += o.hits;
    filtered += o.filtered;
    admissions += o.admissions;
    evictions += o.evictions;
    dropped_updates += o.dropped_updates;
    return *this;
  }
};

}  // namespace psflow
