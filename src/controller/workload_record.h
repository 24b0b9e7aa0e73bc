// Helpers on a workload record (the JSON of api.h) shared by the API and the reconciler: which
// nodes a workload is bound to, which of them have finished their part (a gang spread over nodes
// finishes member by member), and which must still confirm their processes are gone.
//
//   members_done:    {node: "succeeded" | "failed"} — the nodes whose part of the workload ended
//   releasing:       true while some node must still stop its part and confirm ("stopped")
//   releasing_nodes: [node...] — those nodes
//
// Pure functions of the record.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace gpool::controller {

// The distinct nodes of the record's bindings.
inline std::set<std::string> BoundNodes(const nlohmann::json& record) {
  std::set<std::string> nodes;
  const nlohmann::json bindings = record.value("bindings", nlohmann::json::array());
  for (const nlohmann::json& b : bindings) {
    if (b.is_object() && b.contains("node") && b["node"].is_string()) nodes.insert(b["node"]);
  }
  return nodes;
}

// Whether `node`'s part of the workload has ended.
inline bool MemberDone(const nlohmann::json& record, const std::string& node) {
  const nlohmann::json done = record.value("members_done", nlohmann::json::object());
  return done.is_object() && done.contains(node);
}

// Finishes the record's run from the controller's side (cancel, time limit, a member failed):
// every bound node whose part has not ended must stop it and confirm. Clears `releasing` when no
// node is left to wait for.
inline void MarkReleasing(nlohmann::json& record) {
  nlohmann::json waiting = nlohmann::json::array();
  for (const std::string& node : BoundNodes(record)) {
    if (!MemberDone(record, node)) waiting.push_back(node);
  }
  if (waiting.empty()) {
    record.erase("releasing");
    record.erase("releasing_nodes");
  } else {
    record["releasing"] = true;
    record["releasing_nodes"] = waiting;
  }
}

// Whether `node` must still stop its part of a releasing workload.
inline bool ReleasingOn(const nlohmann::json& record, const std::string& node) {
  if (!record.value("releasing", false)) return false;
  if (!record.contains("releasing_nodes")) return true;  // older records: every node
  for (const nlohmann::json& n : record["releasing_nodes"]) {
    if (n == node) return true;
  }
  return false;
}

// `node` confirmed its part stopped.
inline void ReleasedOn(nlohmann::json& record, const std::string& node) {
  if (!record.contains("releasing_nodes") || node.empty()) {
    record.erase("releasing");
    record.erase("releasing_nodes");
    return;
  }
  nlohmann::json left = nlohmann::json::array();
  for (const nlohmann::json& n : record["releasing_nodes"]) {
    if (n != node) left.push_back(n);
  }
  if (left.empty()) {
    record.erase("releasing");
    record.erase("releasing_nodes");
  } else {
    record["releasing_nodes"] = left;
  }
}

}  // namespace gpool::controller
