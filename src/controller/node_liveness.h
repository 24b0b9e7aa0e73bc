// NodeLiveness: when each node's agent was last heard from, kept in the controller's memory.
//
// Heartbeats are the most frequent request (every node, every interval); writing each one to the
// durable store would cost a disk sync per node per interval and fill the event log. The store
// keeps what must survive a restart — that a node exists and whether it is ready or lost — and
// this table keeps the beats. After a restart the table is empty: a node not heard from since is
// taken as heard from when the controller first asks about it, so a restarted controller gives
// each node a full timeout before calling it lost (as the Kubernetes node controller does with
// its own clock).
//
// Thread-safe: Beat and LastSeen may be called from any threads.
#pragma once

#include <algorithm>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gpool::controller {

class NodeLiveness {
 public:
  void Beat(const std::string& node, double now_s) {
    std::lock_guard lock(mu_);
    double& last = last_[node];
    last = std::max(last, now_s);
  }

  // The last beat of `node`; for a node not heard from since the controller started, now_s (and
  // that is remembered as its beat).
  double LastSeen(const std::string& node, double now_s) {
    std::lock_guard lock(mu_);
    return last_.try_emplace(node, now_s).first->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, double> last_;
};

}  // namespace gpool::controller
