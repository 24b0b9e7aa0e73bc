#include "controller/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gpool::controller {
namespace {

using nlohmann::json;

// ---- Builders: records as the API, the reconciler and the agents store them. ----

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name) {
    j_ = {{"name", std::move(name)},
          {"cpu_milli", 64000},
          {"memory_mib", 262144},
          {"state", "ready"},
          {"last_heartbeat", 100}};
  }
  NodeBuilder& Gpus(int n, std::string model) {
    j_["gpus"] = n;
    j_["model"] = std::move(model);
    return *this;
  }
  NodeBuilder& Lost() {
    j_["state"] = "lost";
    return *this;
  }
  NodeBuilder& Simulated() {
    j_["simulated"] = true;
    return *this;
  }
  operator json() const { return j_; }  // NOLINT: builder converts implicitly

 private:
  json j_;
};
NodeBuilder MakeNode(std::string name) { return NodeBuilder(std::move(name)); }

class WorkloadBuilder {
 public:
  WorkloadBuilder(int id, std::string tenant) {
    j_ = {{"id", id},
          {"tenant", std::move(tenant)},
          {"spec", {{"name", "job" + std::to_string(id)}}},
          {"state", "pending"},
          {"submitted_at", 10},
          {"updated_at", 10}};
  }
  WorkloadBuilder& State(std::string s) {
    j_["state"] = std::move(s);
    return *this;
  }
  // One binding on `node` with one whole/share slice per entry of `milli` (1000 = whole GPU).
  WorkloadBuilder& Bind(std::string node, std::vector<int> milli) {
    json slices = json::array();
    int device = 0;
    for (const int m : milli) {
      slices.push_back(
          {{"kind", m == 1000 ? "whole" : "share"}, {"device", device++}, {"milli", m}});
    }
    if (!j_.contains("bindings")) j_["bindings"] = json::array();
    j_["bindings"].push_back(
        {{"node", std::move(node)}, {"cpu_milli", 1000}, {"memory_mib", 1024}, {"slices", slices}});
    return *this;
  }
  operator json() const { return j_; }  // NOLINT: builder converts implicitly

 private:
  json j_;
};
WorkloadBuilder MakeWorkload(int id, std::string tenant) {
  return WorkloadBuilder(id, std::move(tenant));
}

// ---- A checker for the text exposition format 0.0.4. ----

bool IsNameChar(char c, bool first, bool colon) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':') ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Consumes a metric name (colon true) or a label name from the front of `s`; "" when none.
std::string TakeName(std::string_view& s, bool colon) {
  std::size_t n = 0;
  while (n < s.size() && IsNameChar(s[n], n == 0, colon)) ++n;
  std::string name(s.substr(0, n));
  s.remove_prefix(n);
  return name;
}

// Consumes `{a="x",b="y"}` from the front of `s` (values escaped as the format says); false when
// malformed.
bool TakeLabels(std::string_view& s) {
  if (s.empty() || s.front() != '{') return false;
  s.remove_prefix(1);
  while (true) {
    if (TakeName(s, /*colon=*/false).empty() || !s.starts_with("=\"")) return false;
    s.remove_prefix(2);
    while (true) {
      if (s.empty()) return false;
      const char c = s.front();
      s.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (s.empty() || (s.front() != '\\' && s.front() != '"' && s.front() != 'n')) return false;
        s.remove_prefix(1);
      }
    }
    if (s.empty()) return false;
    const char sep = s.front();
    s.remove_prefix(1);
    if (sep == '}') return true;
    if (sep != ',') return false;
  }
}

bool IsValue(const std::string& v) {
  if (v == "NaN" || v == "+Inf" || v == "-Inf") return true;
  char* end = nullptr;
  std::strtod(v.c_str(), &end);
  return !v.empty() && end == v.c_str() + v.size();
}

// Returns "" when `text` is valid exposition text, else the first problem. Checks: every line
// ends with '\n'; comments are `# HELP name text` or `# TYPE name type`; each family has one TYPE
// line, before its samples, and its samples are contiguous; each sample is
// `name{label="value",...} value` with a well-formed name, labels with correctly escaped values,
// and a number (or NaN, +Inf, -Inf) as value; no series appears twice; a histogram's samples are
// name_bucket (with `le`), name_sum and name_count.
std::string CheckExposition(const std::string& text) {
  if (!text.empty() && text.back() != '\n') return "no final newline";
  const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
  std::map<std::string, std::string> type_of;  // family -> type
  std::set<std::string> finished;              // families whose samples ended
  std::set<std::string> series;
  std::string current;  // family of the previous sample
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::string_view rest = line;
    if (rest.starts_with("# HELP ")) {
      rest.remove_prefix(7);
      if (TakeName(rest, true).empty() || !(rest.empty() || rest.front() == ' ')) {
        return "bad HELP: " + line;
      }
      continue;
    }
    if (rest.starts_with("# TYPE ")) {
      rest.remove_prefix(7);
      const std::string name = TakeName(rest, true);
      if (name.empty() || !rest.starts_with(" ") || !kTypes.contains(std::string(rest.substr(1)))) {
        return "bad TYPE: " + line;
      }
      if (type_of.contains(name)) return "second TYPE: " + line;
      type_of[name] = rest.substr(1);
      continue;
    }
    const std::string name = TakeName(rest, true);
    if (name.empty()) return "bad sample: " + line;
    const std::string_view before_labels = rest;
    if (!rest.empty() && rest.front() == '{' && !TakeLabels(rest)) return "bad labels: " + line;
    const std::string labels(before_labels.substr(0, before_labels.size() - rest.size()));
    if (!rest.starts_with(" ") || !IsValue(std::string(rest.substr(1)))) {
      return "bad value: " + line;
    }
    std::string family = name;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
      if (!type_of.contains(family) && name.ends_with(suffix) &&
          type_of.contains(name.substr(0, name.size() - suffix.size()))) {
        family = name.substr(0, name.size() - suffix.size());
      }
    }
    if (!type_of.contains(family)) return "sample before its TYPE: " + line;
    if (type_of[family] == "histogram" && family == name) return "bare histogram: " + line;
    if (name.ends_with("_bucket") && family != name && labels.find("le=\"") == std::string::npos) {
      return "bucket without le: " + line;
    }
    if (family != current) {
      if (finished.contains(family)) return "family interleaved: " + line;
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    if (!series.insert(name + labels).second) return "duplicate series: " + line;
  }
  return "";
}

// The sample lines of `text` as a set, to check exact lines.
std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.insert(line);
  return lines;
}

// ---- The pool: two tenants, three nodes (one lost). ----
//
// Nodes:  n1 H100-80GB x4 ready, simulated
//         n2 A100-80GB x8 lost
//         n3 "h100" (alias of H100-80GB) x2 ready
// Workloads (slice milli per binding):
//   1 alice running   n1 [1000, 1000]            -> 2    GPUs on n1
//   2 alice assigned  n1 [500]                   -> 0.5  GPUs on n1
//   3 bob   running   n2 [1000, 1000, 1000]      -> 3    GPUs on n2 (lost, still bound)
//   4 bob   pending
//   5 bob   succeeded n1 [1000] (stale binding: finished workloads hold nothing)
//   6 alice running   gang: n3 [1000], n3 [250]  -> 1.25 GPUs on n3
//   7 alice cancelled
//   8 alice failed
std::vector<json> PoolNodes() {
  return {MakeNode("n1").Gpus(4, "H100-80GB").Simulated(),
          MakeNode("n2").Gpus(8, "A100-80GB").Lost(), MakeNode("n3").Gpus(2, "h100")};
}

std::vector<json> PoolWorkloads() {
  return {MakeWorkload(1, "alice").State("running").Bind("n1", {1000, 1000}),
          MakeWorkload(2, "alice").State("assigned").Bind("n1", {500}),
          MakeWorkload(3, "bob").State("running").Bind("n2", {1000, 1000, 1000}),
          MakeWorkload(4, "bob"),
          MakeWorkload(5, "bob").State("succeeded").Bind("n1", {1000}),
          MakeWorkload(6, "alice").State("running").Bind("n3", {1000}).Bind("n3", {250}),
          MakeWorkload(7, "alice").State("cancelled"),
          MakeWorkload(8, "alice").State("failed")};
}

TEST(RenderMetricsTest, PoolGaugesExactLines) {
  const ControllerMetrics m;
  const std::vector<json> workloads = PoolWorkloads();
  const std::vector<json> nodes = PoolNodes();
  const std::string text = RenderMetrics(workloads, nodes, m);
  ASSERT_EQ(CheckExposition(text), "") << text;
  const std::set<std::string> lines = Lines(text);

  const std::vector<std::string> expected = {
      // Counts: alice has 2 (running), 8 (failed), 7 (cancelled), 1 running, 2 assigned ->
      // pending 0, assigned 1, running 2, succeeded 0, failed 1, cancelled 1.
      R"(gpool_workloads{state="pending",tenant="alice"} 0)",
      R"(gpool_workloads{state="assigned",tenant="alice"} 1)",
      R"(gpool_workloads{state="running",tenant="alice"} 2)",
      R"(gpool_workloads{state="succeeded",tenant="alice"} 0)",
      R"(gpool_workloads{state="failed",tenant="alice"} 1)",
      R"(gpool_workloads{state="cancelled",tenant="alice"} 1)",
      // bob: 4 pending, 3 running, 5 succeeded.
      R"(gpool_workloads{state="pending",tenant="bob"} 1)",
      R"(gpool_workloads{state="assigned",tenant="bob"} 0)",
      R"(gpool_workloads{state="running",tenant="bob"} 1)",
      R"(gpool_workloads{state="succeeded",tenant="bob"} 1)",
      R"(gpool_workloads{state="failed",tenant="bob"} 0)",
      R"(gpool_workloads{state="cancelled",tenant="bob"} 0)",
      // alice running: 2 (wl 1) + 1 + 0.25 (wl 6) = 3.25; assigned: 0.5 (wl 2).
      R"(gpool_workload_gpus{state="running",tenant="alice"} 3.25)",
      R"(gpool_workload_gpus{state="assigned",tenant="alice"} 0.5)",
      // bob running: 3 (wl 3); nothing assigned; wl 5's stale binding counts nowhere.
      R"(gpool_workload_gpus{state="running",tenant="bob"} 3)",
      R"(gpool_workload_gpus{state="assigned",tenant="bob"} 0)",
      // Nodes; n3's alias "h100" is reported under its canonical name.
      R"(gpool_node_up{model="H100-80GB",node="n1",state="ready"} 1)",
      R"(gpool_node_up{model="A100-80GB",node="n2",state="lost"} 0)",
      R"(gpool_node_up{model="H100-80GB",node="n3",state="ready"} 1)",
      R"(gpool_node_gpus{model="H100-80GB",node="n1"} 4)",
      R"(gpool_node_gpus{model="A100-80GB",node="n2"} 8)",
      R"(gpool_node_gpus{model="H100-80GB",node="n3"} 2)",
      // n1: 2 (wl 1) + 0.5 (wl 2) = 2.5; n2: 3 (wl 3); n3: 1 + 0.25 (wl 6) = 1.25.
      R"(gpool_node_gpus_allocated{model="H100-80GB",node="n1"} 2.5)",
      R"(gpool_node_gpus_allocated{model="A100-80GB",node="n2"} 3)",
      R"(gpool_node_gpus_allocated{model="H100-80GB",node="n3"} 1.25)",
      R"(gpool_node_simulated{node="n1"} 1)",
      R"(gpool_node_simulated{node="n2"} 0)",
      R"(gpool_node_simulated{node="n3"} 0)",
      // Ready nodes only: H100-80GB = n1 4 + n3 2 = 6 GPUs, 2.5 + 1.25 = 3.75 allocated;
      // A100-80GB: its only node n2 is lost -> 0 and 0.
      R"(gpool_gpus{model="H100-80GB"} 6)",
      R"(gpool_gpus_allocated{model="H100-80GB"} 3.75)",
      R"(gpool_gpus{model="A100-80GB"} 0)",
      R"(gpool_gpus_allocated{model="A100-80GB"} 0)",
      R"(gpool_malformed_records{kind="node"} 0)",
      R"(gpool_malformed_records{kind="workload"} 0)",
      "# TYPE gpool_workloads gauge",
      "# TYPE gpool_scheduling_pass_seconds histogram",
      "# TYPE gpool_binds_total counter",
      "gpool_binds_total 0",
      R"(gpool_scheduling_pass_seconds_bucket{le="+Inf"} 0)",
  };
  for (const std::string& line : expected)
    EXPECT_TRUE(lines.contains(line)) << line << "\n" << text;
}

TEST(RenderMetricsTest, DeterministicAndOrderIndependent) {
  const ControllerMetrics m;
  std::vector<json> workloads = PoolWorkloads();
  std::vector<json> nodes = PoolNodes();
  const std::string first = RenderMetrics(workloads, nodes, m);
  std::reverse(workloads.begin(), workloads.end());
  std::reverse(nodes.begin(), nodes.end());
  EXPECT_EQ(RenderMetrics(workloads, nodes, m), first);
  // Within a family the series are sorted: n1 before n2 before n3.
  EXPECT_LT(first.find(R"(gpool_node_gpus{model="H100-80GB",node="n1"})"),
            first.find(R"(gpool_node_gpus{model="H100-80GB",node="n3"})"));
  // Families in the documented order.
  EXPECT_LT(first.find("# TYPE gpool_workloads "), first.find("# TYPE gpool_node_up "));
  EXPECT_LT(first.find("# TYPE gpool_gpus_allocated "),
            first.find("# TYPE gpool_scheduling_pass_seconds "));
}

TEST(RenderMetricsTest, EmptyPoolHasEveryFamilyAndParses) {
  const ControllerMetrics m;
  const std::string text = RenderMetrics({}, {}, m);
  EXPECT_EQ(CheckExposition(text), "") << text;
  for (const char* family :
       {"gpool_workloads", "gpool_workload_gpus", "gpool_node_up", "gpool_node_gpus",
        "gpool_node_gpus_allocated", "gpool_node_simulated", "gpool_gpus", "gpool_gpus_allocated",
        "gpool_malformed_records", "gpool_scheduling_pass_seconds", "gpool_queue_wait_seconds",
        "gpool_reconcile_passes_total", "gpool_reconcile_errors_total", "gpool_binds_total",
        "gpool_bind_conflicts_total", "gpool_nodes_lost_total", "gpool_requeued_total",
        "gpool_timed_out_total", "gpool_preempted_total"}) {
    EXPECT_NE(text.find("# HELP " + std::string(family) + " "), std::string::npos) << family;
    EXPECT_NE(text.find("# TYPE " + std::string(family) + " "), std::string::npos) << family;
  }
  EXPECT_EQ(text.find("gpool_workloads{"), std::string::npos);
}

// Each malformed record is skipped whole: the output equals the good pool's but for the count
// in gpool_malformed_records.
struct MalformedCase {
  const char* what;
  json record;
  bool is_node;
};

TEST(RenderMetricsTest, MalformedRecordsSkipped) {
  json unsigned_huge = MakeWorkload(20, "alice").State("running").Bind("n1", {1000});
  unsigned_huge["bindings"][0]["slices"][0]["milli"] = std::uint64_t{1} << 63;
  const std::vector<MalformedCase> cases = {
      {"workload not an object", json::array({1, 2}), false},
      {"workload is a string", "pending", false},
      {"workload without tenant", json{{"id", 9}, {"state", "pending"}}, false},
      {"workload tenant a number", json{{"id", 9}, {"tenant", 5}, {"state", "pending"}}, false},
      {"workload empty tenant", MakeWorkload(9, ""), false},
      {"workload unknown state", MakeWorkload(9, "carol").State("sleeping"), false},
      {"workload state a number", json{{"tenant", "carol"}, {"state", 3}}, false},
      {"running without bindings", MakeWorkload(9, "carol").State("running"), false},
      {"bindings not an array",
       json{{"tenant", "carol"}, {"state", "assigned"}, {"bindings", "n1"}}, false},
      {"binding without node",
       json{{"tenant", "carol"},
            {"state", "assigned"},
            {"bindings", {{{"slices", {{{"milli", 1000}}}}}}}},
       false},
      {"slices not an array",
       json{{"tenant", "carol"},
            {"state", "assigned"},
            {"bindings", {{{"node", "n1"}, {"slices", 7}}}}},
       false},
      {"slice milli a string",
       json{{"tenant", "carol"},
            {"state", "running"},
            {"bindings", {{{"node", "n1"}, {"slices", {{{"milli", "1000"}}}}}}}},
       false},
      {"slice milli negative",
       json{{"tenant", "carol"},
            {"state", "running"},
            {"bindings", {{{"node", "n1"}, {"slices", {{{"milli", -1000}}}}}}}},
       false},
      {"slice milli fractional",
       json{{"tenant", "carol"},
            {"state", "running"},
            {"bindings", {{{"node", "n1"}, {"slices", {{{"milli", 12.5}}}}}}}},
       false},
      {"slice milli beyond 2^63", unsigned_huge, false},
      {"node not an object", json(42), true},
      {"node without name", json{{"gpus", 4}, {"model", "H100"}}, true},
      {"node empty name", MakeNode("").Gpus(1, "H100"), true},
      {"node gpus negative", MakeNode("n9").Gpus(-1, "H100"), true},
      {"node gpus a string", json{{"name", "n9"}, {"gpus", "4"}}, true},
      {"node model a number", json{{"name", "n9"}, {"gpus", 1}, {"model", 100}}, true},
      {"node state a bool", json{{"name", "n9"}, {"state", true}}, true},
      {"node name seen before", MakeNode("n1").Gpus(64, "A100-80GB"), true},
  };
  const ControllerMetrics m;
  const std::string good = RenderMetrics(PoolWorkloads(), PoolNodes(), m);
  for (const MalformedCase& c : cases) {
    std::vector<json> workloads = PoolWorkloads();
    std::vector<json> nodes = PoolNodes();
    (c.is_node ? nodes : workloads).push_back(c.record);
    std::string text = RenderMetrics(workloads, nodes, m);
    EXPECT_EQ(CheckExposition(text), "") << c.what;
    const std::string counted = c.is_node ? R"(gpool_malformed_records{kind="node"} 1)"
                                          : R"(gpool_malformed_records{kind="workload"} 1)";
    const std::string zero = c.is_node ? R"(gpool_malformed_records{kind="node"} 0)"
                                       : R"(gpool_malformed_records{kind="workload"} 0)";
    const auto at = text.find(counted);
    ASSERT_NE(at, std::string::npos) << c.what << "\n" << text;
    text.replace(at, counted.size(), zero);
    EXPECT_EQ(text, good) << c.what;
  }
}

TEST(RenderMetricsTest, LenientWhereTheReconcilerIs) {
  // Absent node fields default (gpus 0, state ready, no model -> "none"); a non-bool
  // `simulated` is not simulated; a binding to a node without a record counts for the tenant.
  const ControllerMetrics m;
  const std::vector<json> nodes = {json{{"name", "bare"}, {"simulated", "yes"}},
                                   MakeNode("odd").Gpus(1, "TPUv9")};
  const std::vector<json> workloads = {
      MakeWorkload(1, "alice").State("running").Bind("ghost", {1000, 125})};
  const std::string text = RenderMetrics(workloads, nodes, m);
  ASSERT_EQ(CheckExposition(text), "") << text;
  const std::set<std::string> lines = Lines(text);
  for (const char* line : {
           R"(gpool_node_up{model="none",node="bare",state="ready"} 1)",
           R"(gpool_node_gpus{model="none",node="bare"} 0)",
           R"(gpool_node_simulated{node="bare"} 0)",
           R"(gpool_node_gpus{model="TPUv9",node="odd"} 1)",  // unknown model kept as written
           R"(gpool_gpus{model="TPUv9"} 1)",
           R"(gpool_gpus_allocated{model="TPUv9"} 0)",
           // 1000 + 125 milli on "ghost", which has no record: 1.125 GPUs for alice, none on nodes.
           R"(gpool_workload_gpus{state="running",tenant="alice"} 1.125)",
           R"(gpool_malformed_records{kind="node"} 0)",
           R"(gpool_malformed_records{kind="workload"} 0)",
       }) {
    EXPECT_TRUE(lines.contains(line)) << line << "\n" << text;
  }
  EXPECT_EQ(text.find("ghost"), std::string::npos);
}

TEST(RenderMetricsTest, ReleasingWorkloadsBookTheNodeNotTheTenant) {
  // A cancelled or timed-out workload keeps its slices booked (`releasing`) until its agent
  // reports the process stopped: the node counts them, the tenant's usage (the quota's view)
  // does not. Once released (no `releasing`), a stale binding counts nowhere.
  const ControllerMetrics m;
  json cancelled = MakeWorkload(1, "alice").State("cancelled").Bind("n1", {1000});
  cancelled["releasing"] = true;
  json timed_out = MakeWorkload(2, "alice").State("failed").Bind("n1", {250});
  timed_out["releasing"] = true;
  json released = MakeWorkload(3, "alice").State("failed").Bind("n1", {1000});
  released["releasing"] = false;
  json broken = MakeWorkload(4, "alice").State("cancelled");  // releasing without bindings
  broken["releasing"] = true;
  const std::vector<json> workloads = {cancelled, timed_out, released, broken,
                                       MakeWorkload(5, "alice").State("running").Bind("n1", {500})};
  const std::vector<json> nodes = {MakeNode("n1").Gpus(4, "H100-80GB")};
  const std::string text = RenderMetrics(workloads, nodes, m);
  ASSERT_EQ(CheckExposition(text), "") << text;
  const std::set<std::string> lines = Lines(text);
  for (const char* line : {
           // n1: 1 (wl 1) + 0.25 (wl 2) + 0.5 (wl 5) = 1.75; wl 3 released, wl 4 malformed.
           R"(gpool_node_gpus_allocated{model="H100-80GB",node="n1"} 1.75)",
           R"(gpool_gpus_allocated{model="H100-80GB"} 1.75)",
           // alice: only wl 5 is running.
           R"(gpool_workload_gpus{state="running",tenant="alice"} 0.5)",
           R"(gpool_workload_gpus{state="assigned",tenant="alice"} 0)",
           R"(gpool_workloads{state="cancelled",tenant="alice"} 1)",
           R"(gpool_workloads{state="failed",tenant="alice"} 2)",
           R"(gpool_malformed_records{kind="workload"} 1)",
       }) {
    EXPECT_TRUE(lines.contains(line)) << line << "\n" << text;
  }
}

TEST(RenderMetricsTest, LabelValuesEscaped) {
  const ControllerMetrics m;
  const std::string tenant = "a\"b\\c\nd";
  const std::vector<json> workloads = {MakeWorkload(1, tenant).State("running").Bind("n\"1", {1})};
  const std::vector<json> nodes = {MakeNode("n\"1").Gpus(1, "GPU\\X")};
  const std::string text = RenderMetrics(workloads, nodes, m);
  ASSERT_EQ(CheckExposition(text), "") << text;
  const std::set<std::string> lines = Lines(text);
  // 1 milli = 0.001 GPUs.
  for (const char* line : {
           R"(gpool_workloads{state="running",tenant="a\"b\\c\nd"} 1)",
           R"(gpool_workload_gpus{state="running",tenant="a\"b\\c\nd"} 0.001)",
           R"(gpool_node_gpus_allocated{model="GPU\\X",node="n\"1"} 0.001)",
           R"(gpool_node_simulated{node="n\"1"} 0)",
       }) {
    EXPECT_TRUE(lines.contains(line)) << line << "\n" << text;
  }
}

// ---- Histogram ----

TEST(HistogramTest, CumulativeBucketsSumAndCount) {
  Histogram h({0.25, 1, 10});
  // Values exact in binary so the sum is exact.
  for (const double v : {0.125, 0.25, 0.5, 4.0, 64.0, -3.0, std::nan("")}) h.Observe(v);
  const HistogramSnapshot s = h.Snapshot();
  // le 0.25: 0.125, 0.25 (a bound is inclusive), -3 recorded as 0          -> 3
  // le 1:    + 0.5                                                         -> 4
  // le 10:   + 4                                                           -> 5
  // +Inf:    + 64                                                          -> 6; NaN ignored.
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{0.25, 1, 10}));
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{3, 4, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.sum, 68.875);  // 0.125 + 0.25 + 0.5 + 4 + 64 + 0

  const std::string text = RenderHistogram("x_seconds", "Some \\ help\nline.", s);
  EXPECT_EQ(text,
            "# HELP x_seconds Some \\\\ help\\nline.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"0.25\"} 3\n"
            "x_seconds_bucket{le=\"1\"} 4\n"
            "x_seconds_bucket{le=\"10\"} 5\n"
            "x_seconds_bucket{le=\"+Inf\"} 6\n"
            "x_seconds_sum 68.875\n"
            "x_seconds_count 6\n");
  EXPECT_EQ(CheckExposition(text), "");
}

TEST(HistogramTest, NumberFormatting) {
  struct Case {
    double sum;
    const char* text;
  };
  // Integral below 1e15: no fraction; otherwise the shortest round-trip text.
  for (const Case& c : std::vector<Case>{{0, "0"},
                                         {86400, "86400"},
                                         {0.005, "0.005"},
                                         {0.1 + 0.2, "0.30000000000000004"},
                                         {1e20, "1e+20"},
                                         {1234.5678, "1234.5678"}}) {
    const HistogramSnapshot s{{0.005}, {0, 0}, c.sum, 0};
    const std::string text = RenderHistogram("x", "h", s);
    EXPECT_NE(text.find(std::string("x_sum ") + c.text + "\n"), std::string::npos) << c.text << "\n"
                                                                                   << text;
    EXPECT_NE(text.find("x_bucket{le=\"0.005\"} 0\n"), std::string::npos);
  }
}

TEST(HistogramTest, ConcurrentObserveAndSnapshot) {
  Histogram h({1, 2});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&h, t] {
      for (int i = 0; i < kPerThread; ++i) h.Observe(t % 2 == 0 ? 0.5 : 1.5);
    });
  }
  for (int i = 0; i < 100; ++i) {  // every snapshot is consistent, whatever the interleaving
    const HistogramSnapshot s = h.Snapshot();
    EXPECT_LE(s.cumulative[0], s.cumulative[1]);
    EXPECT_EQ(s.cumulative[2], s.count);
  }
  for (std::thread& w : writers) w.join();
  const HistogramSnapshot s = h.Snapshot();
  // Threads 0 and 2 observe 0.5 (le 1), threads 1 and 3 observe 1.5 (le 2).
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{20000, 40000, 40000}));
  EXPECT_EQ(s.sum, 20000 * 0.5 + 20000 * 1.5);
}

// ---- ControllerMetrics ----

TEST(ControllerMetricsTest, RecordPassesAndRender) {
  ControllerMetrics m;
  const std::vector<double> waits = {0.2, 7};
  m.RecordPass(0.003, /*binds_now=*/2, /*conflicts_now=*/1, /*nodes_lost_now=*/1,
               /*requeued_now=*/3, /*timed_out_now=*/1, waits);
  m.RecordPass(0.0005, 0, 0, 0, -4);  // a negative count adds nothing
  m.RecordFailedPass(0.5);
  m.preempted += 2;
  const std::string text = RenderMetrics({}, {}, m);
  ASSERT_EQ(CheckExposition(text), "") << text;
  const std::set<std::string> lines = Lines(text);
  for (const char* line : {
           "gpool_reconcile_passes_total 3",
           "gpool_reconcile_errors_total 1",
           "gpool_binds_total 2",
           "gpool_bind_conflicts_total 1",
           "gpool_nodes_lost_total 1",
           "gpool_requeued_total 3",
           "gpool_timed_out_total 1",
           "gpool_preempted_total 2",
           // Pass durations 0.0005, 0.003, 0.5 against 0.001 .. 5: 1 at le 0.001, +1 at le 0.005,
           // +1 at le 0.5.
           R"(gpool_scheduling_pass_seconds_bucket{le="0.001"} 1)",
           R"(gpool_scheduling_pass_seconds_bucket{le="0.0025"} 1)",
           R"(gpool_scheduling_pass_seconds_bucket{le="0.005"} 2)",
           R"(gpool_scheduling_pass_seconds_bucket{le="0.25"} 2)",
           R"(gpool_scheduling_pass_seconds_bucket{le="0.5"} 3)",
           R"(gpool_scheduling_pass_seconds_bucket{le="5"} 3)",
           R"(gpool_scheduling_pass_seconds_bucket{le="+Inf"} 3)",
           "gpool_scheduling_pass_seconds_count 3",
           // Waits 0.2 (le 0.5) and 7 (le 10).
           R"(gpool_queue_wait_seconds_bucket{le="0.1"} 0)",
           R"(gpool_queue_wait_seconds_bucket{le="0.5"} 1)",
           R"(gpool_queue_wait_seconds_bucket{le="5"} 1)",
           R"(gpool_queue_wait_seconds_bucket{le="10"} 2)",
           R"(gpool_queue_wait_seconds_bucket{le="86400"} 2)",
           R"(gpool_queue_wait_seconds_bucket{le="+Inf"} 2)",
           "gpool_queue_wait_seconds_sum 7.2",
           "gpool_queue_wait_seconds_count 2",
       }) {
    EXPECT_TRUE(lines.contains(line)) << line << "\n" << text;
  }
}

TEST(ControllerMetricsTest, DefaultBuckets) {
  EXPECT_EQ(DefaultSchedulingPassBuckets(), (std::vector<double>{0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}));
  EXPECT_EQ(DefaultQueueWaitBuckets(), (std::vector<double>{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60,
                                                            300, 900, 3600, 14400, 86400}));
}

// The checker itself rejects what it should, so the tests above mean something.
TEST(ExpositionCheckerTest, RejectsBadText) {
  EXPECT_EQ(CheckExposition("# TYPE a gauge\na{x=\"1\"} 2\n"), "");
  for (const char* bad : {
           "a 1\n",                                                     // no TYPE
           "# TYPE a gauge\na{x=\"1\"} one\n",                          // value not a number
           "# TYPE a gauge\na{x=\"\"\"} 1\n",                           // unescaped quote
           "# TYPE a gauge\na{x=\"\\q\"} 1\n",                          // bad escape
           "# TYPE a gauge\na 1\na 2\n",                                // duplicate series
           "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{y=\"1\"} 1\n",  // interleaved
           "# TYPE h histogram\nh 1\n",                                 // bare histogram sample
           "# TYPE a gauge\na 1",                                       // no final newline
           "# nonsense\n",
           "# TYPE a gauge\na{x=1} 1\n",        // unquoted label value
           "# TYPE a gauge\na{} 1\n",           // empty label set
           "# TYPE a gauge\na{x=\"1\"}1\n",     // no space before the value
           "# TYPE a gauge\na{x=\"1\",} 1\n",   // trailing comma
           "# TYPE h histogram\nh_bucket 1\n",  // bucket without le
       }) {
    EXPECT_NE(CheckExposition(bad), "") << bad;
  }
}

}  // namespace
}  // namespace gpool::controller
