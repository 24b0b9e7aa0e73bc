// Reading the agents' journals (src/agent/agent.h, AgentConfig::journal_path) and the checks the
// integration tests make on them: every run paired with its end, no GPU slice double-booked, no
// workload run twice.
//
// A WorkloadRun is one start line and its end line (same id, epoch and node): the time
// [start, end) in the agent's own clock during which the run held its slices. Intervals are
// half-open: an end and a start stamped with the same tick on the same slice do not overlap (the
// agent writes the end of a process before it starts what is given the freed slice in a later
// heartbeat).
//
// Double-booking (DoubleBookings) is judged per node and device over time, from the slices each
// run recorded at its start:
//   - a whole slice overlaps nothing else on its device;
//   - the compute of overlapping slices (milli) sums to at most 1000;
//   - MIG instances never overlap in memory slices [mig_start, mig_start + memory_slices) (the
//     profile's size from src/core/mig_geometry.h), and a device is never split into MIG
//     instances and shares at once (a device is in one mode at a time).
// Each problem is returned as one line of text naming the runs, so a failing test says exactly
// what collided. Pure functions of their arguments (no clock, no I/O) apart from ReadJournal.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/mig_geometry.h"

namespace gpool::test {

struct JournalEvent {
  std::string event;  // "start" | "end"
  std::int64_t id = 0;
  int epoch = 0;
  std::string node;
  double t = 0;
  nlohmann::json slices = nlohmann::json::array();  // start only
  std::string why;                                  // end only
};

// Parses journal text, one JSON object a line; malformed lines are reported in *problems.
inline std::vector<JournalEvent> ParseJournal(const std::string& text,
                                              std::vector<std::string>* problems) {
  std::vector<JournalEvent> out;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("event") || !j.contains("id") ||
        !j.contains("t")) {
      problems->push_back("journal line " + std::to_string(n) + " is malformed: " + line);
      continue;
    }
    JournalEvent e;
    e.event = j.value("event", std::string());
    e.id = j.value("id", std::int64_t{0});
    e.epoch = j.value("epoch", 0);
    e.node = j.value("node", std::string());
    e.t = j.value("t", 0.0);
    e.slices = j.value("slices", nlohmann::json::array());
    e.why = j.value("why", std::string());
    out.push_back(std::move(e));
  }
  return out;
}

// Reads and parses a journal file (a missing file is an empty journal).
inline std::vector<JournalEvent> ReadJournal(const std::string& path,
                                             std::vector<std::string>* problems) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseJournal(ss.str(), problems);
}

struct WorkloadRun {
  std::int64_t id = 0;
  int epoch = 0;
  std::string node;
  double start = 0;
  double end = std::numeric_limits<double>::infinity();  // no end line yet: still running
  std::string why;                                       // the end's reason
  nlohmann::json slices = nlohmann::json::array();
  bool ended() const { return end != std::numeric_limits<double>::infinity(); }
  std::string Name() const {
    return "workload " + std::to_string(id) + " epoch " + std::to_string(epoch) + " on " + node;
  }
};

inline std::string TimeText(double t) {
  std::ostringstream s;
  s.precision(3);
  s << std::fixed << t;
  return s.str();
}

// Pairs starts with their ends, per (id, epoch, node), in journal order. A second start while the
// first is open, or an end without a start, is a problem; a start without an end stays open.
inline std::vector<WorkloadRun> PairRuns(const std::vector<JournalEvent>& events,
                                         std::vector<std::string>* problems) {
  std::vector<WorkloadRun> runs;
  std::map<std::tuple<std::int64_t, int, std::string>, std::size_t> open;  // -> index in runs
  for (const JournalEvent& e : events) {
    const auto key = std::make_tuple(e.id, e.epoch, e.node);
    if (e.event == "start") {
      if (open.count(key) != 0) {
        problems->push_back("workload " + std::to_string(e.id) + " epoch " +
                            std::to_string(e.epoch) + " started again on " + e.node + " at " +
                            TimeText(e.t) + " while its run from " +
                            TimeText(runs[open[key]].start) + " had not ended");
        continue;
      }
      WorkloadRun r;
      r.id = e.id;
      r.epoch = e.epoch;
      r.node = e.node;
      r.start = e.t;
      r.slices = e.slices;
      open[key] = runs.size();
      runs.push_back(std::move(r));
    } else if (e.event == "end") {
      auto it = open.find(key);
      if (it == open.end()) {
        problems->push_back("workload " + std::to_string(e.id) + " epoch " +
                            std::to_string(e.epoch) + " ended on " + e.node + " at " +
                            TimeText(e.t) + " without a start");
        continue;
      }
      runs[it->second].end = e.t;
      runs[it->second].why = e.why;
      open.erase(it);
    } else {
      problems->push_back("unknown journal event '" + e.event + "'");
    }
  }
  return runs;
}

namespace journal_internal {

struct SliceUse {
  const WorkloadRun* run = nullptr;
  std::string kind;  // whole | share | mig
  int milli = 0;
  int mig_first = 0, mig_end = 0;  // memory slices [first, end), mig only
};

inline std::string Describe(const SliceUse& u) {
  std::string s = u.run->Name() + " (" + u.kind + " " + std::to_string(u.milli) + "m";
  if (u.kind == "mig") {
    s += " memory slices [" + std::to_string(u.mig_first) + "," + std::to_string(u.mig_end) + ")";
  }
  return s + ", " + TimeText(u.run->start) + ".." + TimeText(u.run->end) + ")";
}

}  // namespace journal_internal

// Every double-booking among `runs` (any nodes), one line each; empty when there is none.
inline std::vector<std::string> DoubleBookings(const std::vector<WorkloadRun>& runs) {
  using journal_internal::SliceUse;
  std::vector<std::string> problems;
  // (node, device) -> uses
  std::map<std::pair<std::string, int>, std::vector<SliceUse>> by_device;
  for (const WorkloadRun& r : runs) {
    for (const nlohmann::json& s : r.slices) {
      SliceUse u;
      u.run = &r;
      u.kind = s.value("kind", std::string());
      u.milli = s.value("milli", 0);
      if (u.kind == "mig") {
        const int profile = s.value("mig_profile", -1);
        if (profile < 0 || profile >= core::kMigProfileCount) {
          problems.push_back(r.Name() + ": unknown mig_profile " + std::to_string(profile));
          continue;
        }
        u.mig_first = s.value("mig_start", 0);
        u.mig_end =
            u.mig_first + core::GetMigShape(static_cast<core::MigProfile>(profile)).memory_slices;
      } else if (u.kind != "whole" && u.kind != "share") {
        problems.push_back(r.Name() + ": unknown slice kind '" + u.kind + "'");
        continue;
      }
      by_device[{r.node, s.value("device", -1)}].push_back(u);
    }
  }
  for (auto& [where, uses] : by_device) {
    const std::string device = where.first + " device " + std::to_string(where.second);
    // Sweep in time order; at equal times ends come before starts (half-open intervals).
    struct Edge {
      double t;
      bool start;
      std::size_t use;
    };
    std::vector<Edge> edges;
    for (std::size_t i = 0; i < uses.size(); ++i) {
      edges.push_back({uses[i].run->start, true, i});
      edges.push_back({uses[i].run->end, false, i});
    }
    std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
      if (a.t != b.t) return a.t < b.t;
      return a.start < b.start;  // false (end) first
    });
    std::set<std::size_t> active;
    for (const Edge& e : edges) {
      if (!e.start) {
        active.erase(e.use);
        continue;
      }
      const SliceUse& u = uses[e.use];
      if (u.run->end <= u.run->start) continue;  // empty interval holds nothing
      int milli = u.milli;
      for (std::size_t other : active) {
        const SliceUse& o = uses[other];
        milli += o.milli;
        std::string clash;
        if (u.kind == "whole" || o.kind == "whole") {
          clash = "a whole GPU shared";
        } else if (u.kind != o.kind) {
          clash = "MIG instances and shares at once";
        } else if (u.kind == "mig" && u.mig_first < o.mig_end && o.mig_first < u.mig_end) {
          clash = "MIG instances overlap in memory slices";
        }
        if (!clash.empty()) {
          problems.push_back(device + ": " + clash + ": " + Describe(o) + " and " + Describe(u));
        }
      }
      if (milli > 1000) {
        std::string who;
        for (std::size_t other : active) who += Describe(uses[other]) + ", ";
        problems.push_back(device + ": " + std::to_string(milli) + "m in use at " +
                           TimeText(u.run->start) + " (over 1000m): " + who + Describe(u));
      }
      active.insert(e.use);
    }
  }
  return problems;
}

// Runs of the same workload with different epochs that overlap in time (the workload ran twice
// at once, e.g. on a lost node and on its new node). Members of one gang share an epoch and may
// run together on several nodes.
inline std::vector<std::string> ConcurrentEpochs(const std::vector<WorkloadRun>& runs) {
  std::map<std::int64_t, std::vector<const WorkloadRun*>> by_id;
  for (const WorkloadRun& r : runs) by_id[r.id].push_back(&r);
  std::vector<std::string> problems;
  for (const auto& [id, list] : by_id) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      for (std::size_t j = i + 1; j < list.size(); ++j) {
        const WorkloadRun& a = *list[i];
        const WorkloadRun& b = *list[j];
        if (a.epoch != b.epoch && a.start < b.end && b.start < a.end) {
          problems.push_back("workload " + std::to_string(id) + " ran twice at once: epoch " +
                             std::to_string(a.epoch) + " on " + a.node + " " + TimeText(a.start) +
                             ".." + TimeText(a.end) + " and epoch " + std::to_string(b.epoch) +
                             " on " + b.node + " " + TimeText(b.start) + ".." + TimeText(b.end));
        }
      }
    }
  }
  return problems;
}

// Joins problem lines for a gtest message (at most `limit` of them).
inline std::string Lines(const std::vector<std::string>& lines, std::size_t limit = 20) {
  std::string out;
  for (std::size_t i = 0; i < lines.size() && i < limit; ++i) out += "  " + lines[i] + "\n";
  if (lines.size() > limit) out += "  ... and " + std::to_string(lines.size() - limit) + " more\n";
  return out;
}

}  // namespace gpool::test
