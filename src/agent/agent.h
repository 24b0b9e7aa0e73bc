// Agent: what `gpool agent` does on each tick — renew its node's lease (the heartbeat brings the
// node's assignments), start assigned workloads it is not running, stop those no longer assigned
// to it (cancelled, or moved after the node was lost) and confirm each stop order with "stopped"
// once the process is gone, report running/succeeded/failed, and fence
// itself: if no heartbeat has succeeded for `lease_s`, every workload is stopped, because the
// controller will by then have given them to another node.
//
// The controller is behind the ControlPlane interface (HTTP in the binary, a fake in tests); time
// comes in through Tick(now_s). Not thread safe: one thread calls Tick.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/process_runner.h"
#include "core/status.h"

namespace gpool::agent {

// This node as the agent registers it.
struct NodeInfo {
  std::string name;
  std::int64_t cpu_milli = 0;
  std::int64_t memory_mib = 0;
  int gpus = 0;
  std::string model;      // a catalog name, e.g. H100-80GB
  bool simulated = true;  // devices described by configuration, not discovered
};

// One assignment from the heartbeat (see src/controller/api.h): the workload's id, epoch, spec
// (job spec JSON) and its bindings on this node.
struct Assignment {
  std::int64_t id = 0;
  int epoch = 0;
  nlohmann::json spec;
  nlohmann::json bindings;
};

// A finished workload whose process must be gone before its slices are handed on.
struct StopOrder {
  std::int64_t id = 0;
  int epoch = 0;
};

struct HeartbeatReply {
  std::vector<Assignment> assignments;
  std::vector<StopOrder> stop;
};

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;
  virtual Status Register(const NodeInfo& node) = 0;
  // The node's current assignments and stop orders; Unavailable when the controller cannot be
  // reached, NotFound when it does not know the node.
  virtual Result<HeartbeatReply> Heartbeat(const std::string& node) = 0;
  // state: running | succeeded | failed | stopped (a stop order carried out). Conflict: the
  // workload is no longer ours (stop it).
  virtual Status Report(std::int64_t id, int epoch, const std::string& state, int exit_code,
                        const std::string& message) = 0;
  // Appends `data` to the workload's log `stream` ("stdout" | "stderr") of `epoch` at `offset`;
  // returns the controller's size of that log after (if it differs from offset + data.size(),
  // the agent resumes from it). Unavailable when the controller cannot be reached.
  virtual Result<std::int64_t> AppendLog(std::int64_t id, int epoch, const std::string& stream,
                                         std::int64_t offset, const std::string& data) = 0;
};

struct AgentConfig {
  NodeInfo node;
  std::string log_dir;       // <log_dir>/<id>.out and .err, shipped to the controller as they grow
  // The agent's own record of what it ran (empty: none). One JSON object per line, appended and
  // flushed as it happens:
  //   {"event":"start","id":N,"epoch":E,"node":NAME,"t":UNIX_S,"slices":[{kind,device,milli,
  //    memory_mib?,mig_profile?,mig_start?}...]}
  //   {"event":"end","id":N,"epoch":E,"node":NAME,"t":UNIX_S,"why":"exited 0"|"stopped: ..."|
  //    "fenced"|"agent stopped"}
  // "end" is written after the process and its group are gone, so the [start, end] intervals are
  // the times a slice was really in use (what tests check double-booking against).
  std::string journal_path;
  double lease_s = 30;       // fence after this long without a successful heartbeat
  double stop_grace_s = 10;  // SIGTERM, then SIGKILL after this long
  // The wall clock (Unix s), read after a failed heartbeat (which may have blocked for its whole
  // timeout) and for journal times after a stop; unset: the tick's now_s is used throughout
  // (tests with synthetic time).
  std::function<double()> clock;
};

// The environment a workload gets for its slice: GPOOL_WORKLOAD_ID, GPOOL_EPOCH, GPOOL_NODE,
// GPOOL_SLICE ("whole#0,whole#1", "share#0:250m/4096MiB", "mig#2:3g@4"), GPOOL_SIMULATED (1 when
// the devices are simulated), CUDA_VISIBLE_DEVICES (device indices), GPOOL_SHARE_MILLI and
// GPOOL_SHARE_MEMORY_MIB for shares (read by the vgpu library), and the spec's own env.
std::vector<std::pair<std::string, std::string>> WorkloadEnv(const Assignment& a,
                                                             const NodeInfo& node);

class Agent {
 public:
  Agent(AgentConfig config, ControlPlane& control, ProcessRunner& runner);

  // Registers the node. Call before the first Tick (and again after a failed Tick if desired).
  // First, runs the journal shows started and not ended (an earlier agent on this node died)
  // are killed if still there, and reported failed: a run is never watched by nobody, nor
  // started twice.
  Status Start();
  // One round; returns what happened, for logs ("started 3", "fenced", ...), empty if nothing.
  std::vector<std::string> Tick(double now_s);
  // Stops every workload (the agent is shutting down).
  void StopAll(const std::string& why, double now_s);

  std::size_t running() const { return running_.size(); }
  bool fenced() const { return fenced_; }

 private:
  // A local log file and how much of this run's part of it the controller has.
  struct Shipping {
    std::string path;
    std::int64_t base = 0;     // the file's size when this run started (earlier runs' output)
    std::int64_t shipped = 0;  // bytes after base the controller has
  };
  struct Local {
    int epoch = 0;
    RunningProcess process;
    Shipping out;
    Shipping err;
  };
  // Ships what the workload's logs have gained, up to `budget` bytes per stream; false when the
  // controller could not be reached.
  bool ShipLogs(std::int64_t id, Local& local, std::int64_t budget);

  AgentConfig config_;
  ControlPlane& control_;
  ProcessRunner& runner_;
  void RecoverFromJournal();
  void Journal(const char* event, std::int64_t id, int epoch, double now_s,
               const nlohmann::json& extra);

  // A run that has ended and whose final report the controller has not taken yet (it was down
  // or unreachable): reported again every tick, and never started again meanwhile.
  struct Unreported {
    int epoch = 0;
    std::string state;  // succeeded | failed
    int exit_code = 0;
    std::string message;
  };
  double Now(double tick_now_s) const { return config_.clock ? config_.clock() : tick_now_s; }

  std::map<std::int64_t, Local> running_;
  std::map<std::int64_t, Unreported> unreported_;
  // Every (workload, epoch) started here: a run is never started twice, whatever a (possibly
  // stale) heartbeat says. The oldest ids are forgotten past kRememberRuns.
  static constexpr std::size_t kRememberRuns = 100'000;
  std::set<std::pair<std::int64_t, int>> started_;
  std::optional<double> last_heartbeat_s_;
  bool fenced_ = false;
};

}  // namespace gpool::agent
