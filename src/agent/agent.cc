#include "agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <utility>

namespace gpool::agent {
namespace {

using nlohmann::json;

constexpr std::int64_t kLogChunk = 256 * 1024;
constexpr std::int64_t kLogBudgetPerTick = 4 * 1024 * 1024;

std::int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
}

std::string SliceText(const json& s) {
  const std::string kind = s.value("kind", std::string("?"));
  std::string out = kind + "#" + std::to_string(s.value("device", 0));
  if (kind == "share") {
    out += ":" + std::to_string(s.value("milli", 0)) + "m";
    if (s.value("memory_mib", 0) > 0) out += "/" + std::to_string(s.value("memory_mib", 0)) + "MiB";
  } else if (kind == "mig") {
    out += ":p" + std::to_string(s.value("mig_profile", 0)) + "@" +
           std::to_string(s.value("mig_start", 0));
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> WorkloadEnv(const Assignment& a,
                                                             const NodeInfo& node) {
  std::vector<std::pair<std::string, std::string>> env;
  const json spec_env = a.spec.value("env", json::object());  // range-for would not extend it
  for (const auto& [k, v] : spec_env.items()) {
    env.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  }
  std::string slices, devices;
  std::int64_t share_milli = 0, share_memory = 0;
  std::set<int> seen;
  for (const json& b : a.bindings) {
    for (const json& s : b.value("slices", json::array())) {
      slices += (slices.empty() ? "" : ",") + SliceText(s);
      const int d = s.value("device", 0);
      if (seen.insert(d).second) devices += (devices.empty() ? "" : ",") + std::to_string(d);
      if (s.value("kind", std::string()) == "share") {
        share_milli = s.value("milli", 0);
        share_memory = s.value("memory_mib", 0);
      }
    }
  }
  env.emplace_back("GPOOL_WORKLOAD_ID", std::to_string(a.id));
  env.emplace_back("GPOOL_EPOCH", std::to_string(a.epoch));
  env.emplace_back("GPOOL_NODE", node.name);
  env.emplace_back("GPOOL_SLICE", slices.empty() ? "none" : slices);
  env.emplace_back("GPOOL_SIMULATED", node.simulated ? "1" : "0");
  // No GPU: an empty CUDA_VISIBLE_DEVICES hides every device from CUDA. Indices are NVML's,
  // which number GPUs in PCI bus order; CUDA must count the same way.
  env.emplace_back("CUDA_DEVICE_ORDER", "PCI_BUS_ID");
  env.emplace_back("CUDA_VISIBLE_DEVICES", devices);
  if (share_milli > 0) {
    env.emplace_back("GPOOL_SHARE_MILLI", std::to_string(share_milli));
    env.emplace_back("GPOOL_SHARE_MEMORY_MIB", std::to_string(share_memory));
  }
  return env;
}

Agent::Agent(AgentConfig config, ControlPlane& control, ProcessRunner& runner)
    : config_(std::move(config)), control_(control), runner_(runner) {}

void Agent::Journal(const char* event, std::int64_t id, int epoch, double now_s,
                    const json& extra) {
  if (config_.journal_path.empty()) return;
  json line = {{"event", event}, {"id", id}, {"epoch", epoch}, {"node", config_.node.name},
               {"t", now_s}};
  line.update(extra);
  const std::string text = line.dump() + "\n";
  // O_APPEND, one write per line: lines stay whole even if the agent dies mid-way.
  const int fd = ::open(config_.journal_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                        0640);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

namespace {

// Whether process `pid` is workload `id`'s run of `epoch` (its environment says so), so that a pid
// reused by something else is never touched.
bool IsRunOf(pid_t pid, std::int64_t id, int epoch) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  if (!in) return false;
  std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  env.insert(env.begin(), '\0');
  return env.find(std::string(1, '\0') + "GPOOL_WORKLOAD_ID=" + std::to_string(id) + '\0') !=
             std::string::npos &&
         env.find(std::string(1, '\0') + "GPOOL_EPOCH=" + std::to_string(epoch) + '\0') !=
             std::string::npos;
}

}  // namespace

Status Agent::Start() {
  RecoverFromJournal();
  return control_.Register(config_.node);
}

void Agent::RecoverFromJournal() {
  if (config_.journal_path.empty()) return;
  std::ifstream in(config_.journal_path);
  std::map<std::pair<std::int64_t, int>, pid_t> open;  // runs started and not ended
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;  // a torn last line
    const std::pair<std::int64_t, int> run{j.value("id", std::int64_t{0}), j.value("epoch", 0)};
    if (j.value("event", "") == "start") {
      open[run] = j.value("pid", 0);
    } else {
      open.erase(run);
    }
  }
  const double now = Now(0);
  for (const auto& [run, pid] : open) {
    // An earlier agent on this node died while this ran: the process may still be there (it has
    // its own session). Nobody watches it any more, so it is stopped and its run failed; it is
    // never started again under the same epoch.
    if (pid > 0 && IsRunOf(pid, run.first, run.second)) ::kill(-pid, SIGKILL);
    started_.insert(run);
    unreported_[run.first] = {run.second, "failed", -1,
                              "the agent on " + config_.node.name + " restarted while it ran"};
    Journal("end", run.first, run.second, now, {{"why", "agent restarted"}});
  }
}

bool Agent::ShipLogs(std::int64_t id, Local& local, std::int64_t budget) {
  for (auto [stream, ship] : {std::pair<const char*, Shipping*>{"stdout", &local.out},
                              std::pair<const char*, Shipping*>{"stderr", &local.err}}) {
    std::int64_t sent = 0;
    while (sent < budget) {
      const std::int64_t size = FileSize(ship->path);
      const std::int64_t from = ship->base + ship->shipped;
      if (size <= from) break;
      std::ifstream in(ship->path, std::ios::binary);
      in.seekg(from);
      std::string data(static_cast<std::size_t>(std::min(kLogChunk, size - from)), '\0');
      in.read(data.data(), static_cast<std::streamsize>(data.size()));
      data.resize(static_cast<std::size_t>(in.gcount()));
      if (data.empty()) break;
      auto now = control_.AppendLog(id, local.epoch, stream, ship->shipped, data);
      if (!now.ok()) return false;
      // Resume where the controller is (after a retry or a controller that lost a tail).
      ship->shipped = std::clamp<std::int64_t>(*now, 0, size - ship->base);
      sent += static_cast<std::int64_t>(data.size());
    }
  }
  return true;
}

void Agent::StopAll(const std::string& why, double now_s) {
  const auto grace = std::chrono::milliseconds(static_cast<long>(config_.stop_grace_s * 1000));
  for (auto& [id, local] : running_) {
    (void)local.process.Stop(grace);
    Journal("end", id, local.epoch, now_s, {{"why", "agent stopped: " + why}});
    (void)control_.Report(id, local.epoch, "failed", -1, why);
  }
  running_.clear();
}

std::vector<std::string> Agent::Tick(double now_s) {
  std::vector<std::string> log;
  const auto grace = std::chrono::milliseconds(static_cast<long>(config_.stop_grace_s * 1000));
  auto beat = control_.Heartbeat(config_.node.name);
  if (!beat.ok()) {
    if (beat.status().code() == StatusCode::kNotFound) (void)control_.Register(config_.node);
    // Fencing: the controller gives our work away once our lease has run out. The heartbeat may
    // have blocked for its whole timeout: judge the lease by the time now, not the tick's start.
    const double after = Now(now_s);
    if (last_heartbeat_s_ && after - *last_heartbeat_s_ > config_.lease_s && !running_.empty()) {
      for (auto& [id, local] : running_) (void)local.process.Stop(grace);
      const double stopped = Now(now_s);
      for (auto& [id, local] : running_) {
        Journal("end", id, local.epoch, stopped, {{"why", "fenced"}});
      }
      log.push_back("fenced: no heartbeat for " + std::to_string(after - *last_heartbeat_s_) +
                    " s, stopped " + std::to_string(running_.size()) + " workload(s)");
      running_.clear();
      fenced_ = true;
    }
    // Finished processes are still reaped (their reports wait for the controller).
    return log;
  }
  // The lease counts from when the heartbeat was sent (the controller renewed it no earlier).
  last_heartbeat_s_ = now_s;
  fenced_ = false;
  // Final reports the controller did not take before: again, first.
  for (auto it = unreported_.begin(); it != unreported_.end();) {
    const Status st = control_.Report(it->first, it->second.epoch, it->second.state,
                                      it->second.exit_code, it->second.message);
    if (st.code() == StatusCode::kUnavailable) {
      ++it;
    } else {
      it = unreported_.erase(it);  // taken, or refused (stale): either way no longer ours
    }
  }
  std::map<std::int64_t, const Assignment*> assigned;
  for (const Assignment& a : beat->assignments) assigned[a.id] = &a;

  // Stop what is no longer ours (cancelled, moved, or re-assigned with a new epoch).
  for (auto it = running_.begin(); it != running_.end();) {
    const auto a = assigned.find(it->first);
    if (a == assigned.end() || a->second->epoch != it->second.epoch) {
      (void)it->second.process.Stop(grace);
      Journal("end", it->first, it->second.epoch, Now(now_s),
              {{"why", "stopped: no longer assigned here"}});
      log.push_back("stopped " + std::to_string(it->first) + " (no longer assigned here)");
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  // Stop orders: the processes above are gone (stopped, or never started here): confirm.
  for (const StopOrder& o : beat->stop) {
    if (running_.count(o.id) != 0) continue;  // same id, newer epoch: runs on, not ours to stop
    (void)control_.Report(o.id, o.epoch, "stopped", 0, "");
  }
  // Start what is assigned and not running.
  for (const Assignment& a : beat->assignments) {
    if (running_.count(a.id) != 0) continue;
    // Already run here (its end perhaps not yet known to the controller): never again.
    if (started_.count({a.id, a.epoch}) != 0) continue;
    LaunchSpec spec;
    spec.workload_id = std::to_string(a.id);
    for (const json& arg : a.spec.value("command", json::array())) {
      spec.argv.push_back(arg.is_string() ? arg.get<std::string>() : arg.dump());
    }
    spec.env = WorkloadEnv(a, config_.node);
    spec.log_dir = config_.log_dir;
    for (const json& b : a.bindings) {
      spec.cpu_milli += b.value("cpu_milli", std::int64_t{0});
      spec.memory_mib += b.value("memory_mib", std::int64_t{0});
    }
    Shipping out{config_.log_dir + "/" + spec.workload_id + ".out", 0, 0};
    Shipping err{config_.log_dir + "/" + spec.workload_id + ".err", 0, 0};
    out.base = FileSize(out.path);
    err.base = FileSize(err.path);
    started_.insert({a.id, a.epoch});
    while (started_.size() > kRememberRuns) started_.erase(started_.begin());
    auto started = runner_.Start(spec);
    if (!started.ok()) {
      (void)control_.Report(a.id, a.epoch, "failed", -1, started.status().message());
      log.push_back("could not start " + spec.workload_id + ": " + started.status().message());
      continue;
    }
    json slices = json::array();
    for (const json& b : a.bindings) {
      for (const json& sl : b.value("slices", json::array())) slices.push_back(sl);
    }
    Journal("start", a.id, a.epoch, now_s, {{"slices", slices}, {"pid", started->pid()}});
    const Status s = control_.Report(a.id, a.epoch, "running", 0, "");
    if (s.code() == StatusCode::kConflict) {  // cancelled between heartbeat and start
      (void)started->Stop(grace);
      Journal("end", a.id, a.epoch, now_s, {{"why", "stopped: cancelled before it ran"}});
      continue;
    }
    running_.emplace(a.id, Local{a.epoch, std::move(*started), out, err});
    log.push_back("started " + spec.workload_id);
  }
  // Ship new output; report what has finished (its whole output first, so a finished workload's
  // logs are complete when its state says so).
  for (auto it = running_.begin(); it != running_.end();) {
    auto done = it->second.process.Poll();
    if (!done.ok() || !done->has_value()) {
      (void)ShipLogs(it->first, it->second, kLogBudgetPerTick);
      ++it;
      continue;
    }
    (void)ShipLogs(it->first, it->second, std::numeric_limits<std::int64_t>::max());
    const ExitReport& r = **done;
    const bool ok = r.exited && r.exit_code == 0;
    std::string message;
    if (r.oom_killed)
      message = "killed: out of memory (the cgroup's limit)";
    else if (!r.exited)
      message = "killed by signal " + std::to_string(r.signal);
    Journal("end", it->first, it->second.epoch, Now(now_s),
            {{"why", r.exited ? "exited " + std::to_string(r.exit_code)
                              : "signal " + std::to_string(r.signal)}});
    const Unreported final_report{it->second.epoch, ok ? "succeeded" : "failed",
                                  r.exited ? r.exit_code : 128 + r.signal, message};
    const Status st = control_.Report(it->first, final_report.epoch, final_report.state,
                                      final_report.exit_code, final_report.message);
    if (st.code() == StatusCode::kUnavailable) unreported_[it->first] = final_report;
    log.push_back("finished " + std::to_string(it->first) + (ok ? " ok" : " failed"));
    it = running_.erase(it);
  }
  return log;
}

}  // namespace gpool::agent
