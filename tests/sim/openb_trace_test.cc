#include "sim/openb_trace.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

namespace gpool::sim {
namespace {

const std::string kTraceDir = std::string(GPOOL_SHARED_DIR) + "/traces/openb/";

TEST(ParseOpenbNodes, ReadsColumnsByName) {
  // Columns shuffled and an ignored extra column: the parser must go by header name.
  const std::string csv =
      "model,gpu,extra,sn,memory_mib,cpu_milli\n"
      "V100M16,8,x,node-b,262144,96000\n"
      ",0,y,node-a,131072,32000\n";
  Result<std::vector<OpenbNode>> nodes = ParseOpenbNodes(csv, "nodes.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].sn, "node-b");  // file order is kept
  EXPECT_EQ((*nodes)[0].cpu_milli, 96000);
  EXPECT_EQ((*nodes)[0].memory_mib, 262144);
  EXPECT_EQ((*nodes)[0].gpus, 8);
  EXPECT_EQ((*nodes)[0].model, "V100M16");
  EXPECT_EQ((*nodes)[1].sn, "node-a");
  EXPECT_EQ((*nodes)[1].gpus, 0);
  EXPECT_EQ((*nodes)[1].model, "");
}

TEST(ParseOpenbNodes, AcceptsBomCrlfAndTrailingEmptyLine) {
  const std::string csv =
      "\xEF\xBB\xBFsn,cpu_milli,memory_mib,gpu,model\r\n"
      "n0,64000,262144,2,P100\r\n"
      "n1,96000,786432,8,G2\r\n"
      "\r\n";
  Result<std::vector<OpenbNode>> nodes = ParseOpenbNodes(csv, "nodes.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].sn, "n0");
  EXPECT_EQ((*nodes)[1].model, "G2");  // no '\r' left on the last field
  EXPECT_EQ((*nodes)[1].gpus, 8);
}

struct BadCsvCase {
  std::string name;
  std::string csv;
  std::string error;  // the whole message
};

TEST(ParseOpenbNodes, RejectsBadInput) {
  const std::string header = "sn,cpu_milli,memory_mib,gpu,model\n";
  const std::vector<BadCsvCase> cases = {
      {"empty file", "", "nodes.csv:1: empty file, expected a header"},
      {"only blank lines", "\n\r\n", "nodes.csv:1: empty file, expected a header"},
      {"missing column", "sn,cpu_milli,memory_mib,model\nn0,1,1,P100\n",
       "nodes.csv:1: missing required column \"gpu\" in header \"sn,cpu_milli,memory_mib,model\""},
      {"duplicate column", "sn,gpu,cpu_milli,memory_mib,gpu,model\n",
       "nodes.csv:1:5 (gpu): duplicate column \"gpu\" (also column 2)"},
      // Line 3 (header is line 1), field 3 is memory_mib.
      {"bad integer", header + "n0,1,1,1,P100\nn1,64000,12x,2,P100\n",
       "nodes.csv:3:3 (memory_mib): expected a non-negative integer, got \"12x\""},
      {"negative", header + "n0,-5,1,1,P100\n",
       "nodes.csv:2:2 (cpu_milli): expected a non-negative integer, got \"-5\""},
      {"empty integer", header + "n0,,1,1,P100\n",
       "nodes.csv:2:2 (cpu_milli): expected a non-negative integer, got \"\""},
      {"too many gpus", header + "n0,1,1,65,P100\n",
       "nodes.csv:2:4 (gpu): expected at most 64, got \"65\""},
      {"overflow", header + "n0,99999999999999999999,1,1,P100\n",
       "nodes.csv:2:2 (cpu_milli): expected a non-negative integer, got "
       "\"99999999999999999999\""},
      // The row has 3 fields, so the first missing one is field 4 (gpu).
      {"short row", header + "n0,1,1\n",
       "nodes.csv:2:4 (gpu): missing field (row has 3 fields, header has 5)"},
      {"long row", header + "n0,1,1,1,P100,x\n",
       "nodes.csv:2:6: extra field (row has 6 fields, header has 5)"},
      {"duplicate sn", header + "n0,1,1,1,P100\nn1,1,1,1,P100\nn0,1,1,1,T4\n",
       "nodes.csv:4:1 (sn): duplicate node \"n0\" (first on line 2)"},
      {"empty sn", header + ",1,1,1,P100\n", "nodes.csv:2:1 (sn): must not be empty"},
  };
  for (const BadCsvCase& c : cases) {
    Result<std::vector<OpenbNode>> nodes = ParseOpenbNodes(c.csv, "nodes.csv");
    ASSERT_FALSE(nodes.ok()) << c.name;
    EXPECT_EQ(nodes.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(nodes.status().message(), c.error) << c.name;
  }
}

TEST(ParseOpenbPods, ReadsRowsWithAndWithoutSpec) {
  const std::string with_spec =
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
      "deletion_time,scheduled_time\n"
      "p0,12000,16384,1,1000,,LS,Running,0,12537496,0\n"
      "p1,6000,12288,1,460,V100M16|V100M32,LS,Running,427061,12902960,427061\n"
      "p2,88000,0,0,0,NaN,BE,Failed,1,2,1\n"
      "p3,1,2,8,1500,V100M16||V100M32|,BE,Failed,1,2,1\n";
  Result<std::vector<OpenbPod>> pods = ParseOpenbPods(with_spec, "pods.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 4u);
  EXPECT_EQ((*pods)[0].name, "p0");
  EXPECT_EQ((*pods)[0].cpu_milli, 12000);
  EXPECT_EQ((*pods)[0].memory_mib, 16384);
  EXPECT_EQ((*pods)[0].num_gpu, 1);
  EXPECT_EQ((*pods)[0].gpu_milli, 1000);
  EXPECT_EQ((*pods)[0].gpu_spec, "");
  EXPECT_EQ((*pods)[1].gpu_milli, 460);
  EXPECT_EQ((*pods)[1].gpu_spec, "V100M16|V100M32");
  EXPECT_EQ((*pods)[2].gpu_spec, "");  // NaN = no constraint
  EXPECT_EQ((*pods)[3].num_gpu, 8);
  EXPECT_EQ((*pods)[3].gpu_milli, 1500);  // raw, not clamped
  EXPECT_EQ((*pods)[3].gpu_spec, "V100M16|V100M32");

  // The multigpu files stop after gpu_milli.
  const std::string without_spec =
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
      "p0,12000,16384,4,1000\n";
  pods = ParseOpenbPods(without_spec, "pods.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 1u);
  EXPECT_EQ((*pods)[0].num_gpu, 4);
  EXPECT_EQ((*pods)[0].gpu_spec, "");
}

TEST(ParseOpenbPods, RejectsBadInput) {
  const std::string header = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n";
  const std::vector<BadCsvCase> cases = {
      {"missing gpu_milli", "name,cpu_milli,memory_mib,num_gpu\n",
       "pods.csv:1: missing required column \"gpu_milli\" in header "
       "\"name,cpu_milli,memory_mib,num_gpu\""},
      {"bad memory", header + "p0,1,12x,1,1000,\n",
       "pods.csv:2:3 (memory_mib): expected a non-negative integer, got \"12x\""},
      {"fraction", header + "p0,1,1,1,0.5,\n",
       "pods.csv:2:5 (gpu_milli): expected a non-negative integer, got \"0.5\""},
      {"too many gpus", header + "p0,1,1,100,1000,\n",
       "pods.csv:2:4 (num_gpu): expected at most 64, got \"100\""},
      {"short row", header + "p0,1,1,1\n",
       "pods.csv:2:5 (gpu_milli): missing field (row has 4 fields, header has 6)"},
      {"empty name", header + ",1,1,1,1000,\n", "pods.csv:2:1 (name): must not be empty"},
  };
  for (const BadCsvCase& c : cases) {
    Result<std::vector<OpenbPod>> pods = ParseOpenbPods(c.csv, "pods.csv");
    ASSERT_FALSE(pods.ok()) << c.name;
    EXPECT_EQ(pods.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(pods.status().message(), c.error) << c.name;
  }
}

TEST(NormalizeGpuSpec, DropsEmptyPiecesAndKeepsTheRestVerbatim) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"NaN", ""},
      {"nan", ""},
      {"|", ""},
      {"T4", "T4"},
      {"V100M16||V100M32|", "V100M16|V100M32"},
      {"|A10|T4", "A10|T4"},
      {"V100M16|V100M32|V100M32", "V100M16|V100M32|V100M32"},  // duplicates stay
  };
  for (const auto& [raw, want] : cases) EXPECT_EQ(NormalizeGpuSpec(raw), want) << raw;
}

TEST(ReadOpenb, MissingFileIsNotFoundWithPath) {
  const std::string path = kTraceDir + "no_such_file.csv";
  Result<std::vector<OpenbPod>> pods = ReadOpenbPods(path);
  ASSERT_FALSE(pods.ok());
  EXPECT_EQ(pods.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(pods.status().message(), "cannot open \"" + path + "\": No such file or directory");
}

TEST(ReadOpenb, RealGpuNodeList) {
  Result<std::vector<OpenbNode>> nodes = ReadOpenbNodes(kTraceDir + "openb_node_list_gpu_node.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  // shared/traces/README.md: 1,213 GPU nodes with 6,212 GPUs.
  EXPECT_EQ(nodes->size(), 1213u);
  const int gpus = std::accumulate(nodes->begin(), nodes->end(), 0,
                                   [](int sum, const OpenbNode& n) { return sum + n.gpus; });
  EXPECT_EQ(gpus, 6212);
  // Spec section 1.1 totals.
  std::int64_t cpu = 0;
  std::int64_t memory = 0;
  for (const OpenbNode& n : *nodes) {
    cpu += n.cpu_milli;
    memory += n.memory_mib;
  }
  EXPECT_EQ(cpu, 107018000);
  EXPECT_EQ(memory, 503828480);
  EXPECT_EQ(nodes->front().sn, "openb-node-0000");
  EXPECT_EQ(nodes->front().model, "P100");
}

TEST(ReadOpenb, RealDefaultPodList) {
  Result<std::vector<OpenbPod>> pods = ReadOpenbPods(kTraceDir + "openb_pod_list_default.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  // `wc -l` gives 8153 lines: a header and 8152 pods (openb-pod-0000 .. openb-pod-8151).
  ASSERT_EQ(pods->size(), 8152u);
  EXPECT_EQ(pods->front().name, "openb-pod-0000");
  EXPECT_EQ(pods->back().name, "openb-pod-8151");
  EXPECT_EQ((*pods)[1].gpu_milli, 460);
  // Spec section 2.2: the default trace asks for 6,086,800 GPU milli in total, counting
  // min(gpu_milli, 1000) per GPU for pods with num_gpu >= 1.
  std::int64_t total = 0;
  for (const OpenbPod& p : *pods) {
    if (p.num_gpu > 0) total += p.num_gpu * std::min<std::int64_t>(p.gpu_milli, 1000);
  }
  EXPECT_EQ(total, 6086800);
}

TEST(ReadOpenb, RealMultiGpuPodListHasNoSpecColumn) {
  Result<std::vector<OpenbPod>> pods = ReadOpenbPods(kTraceDir + "openb_pod_list_multigpu20.csv");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  EXPECT_EQ(pods->size(), 8324u);  // `wc -l` 8325 minus the header
  for (const OpenbPod& p : *pods) ASSERT_EQ(p.gpu_spec, "") << p.name;
}

}  // namespace
}  // namespace gpool::sim
