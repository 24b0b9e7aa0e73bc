#include "sim/philly_trace.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace gpool::sim {
namespace {

const std::string kGavelDir = std::string(GPOOL_SHARED_DIR) + "/traces/gavel/";

TEST(ParsePhillyTrace, ReadsFieldsVerbatim) {
  const std::string text =
      "Transformer (batch size 128)\tcd %s/translation && python3 train.py \t-step\t1\t14612\t"
      "0.000000\t1\r\n"
      "\n"
      "ResNet-50 (batch size 128)\tpython3 main.py\t--num_minibatches\t0\t33895\t188006.5\t8\n";
  Result<std::vector<PhillyJob>> jobs = ParsePhillyTrace(text, "vc1", "vc1.trace");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 2u);
  const PhillyJob& a = (*jobs)[0];
  EXPECT_EQ(a.team, "vc1");
  EXPECT_EQ(a.job_type, "Transformer (batch size 128)");
  EXPECT_EQ(a.command, "cd %s/translation && python3 train.py ");  // trailing space kept
  EXPECT_EQ(a.steps_flag, "-step");
  EXPECT_TRUE(a.needs_data);
  EXPECT_EQ(a.total_steps, 14612);
  EXPECT_EQ(a.arrival_s, 0.0);
  EXPECT_EQ(a.gpus, 1);
  const PhillyJob& b = (*jobs)[1];
  EXPECT_EQ(b.job_type, "ResNet-50 (batch size 128)");
  EXPECT_FALSE(b.needs_data);
  EXPECT_EQ(b.arrival_s, 188006.5);
  EXPECT_EQ(b.gpus, 8);
}

TEST(ParsePhillyTrace, RejectsBadLines) {
  struct Case {
    std::string name;
    std::string text;
    std::string error;
  };
  const std::string good = "A3C\tcmd\t--max-steps\t1\t100\t5.0\t1\n";
  const std::vector<Case> cases = {
      {"six fields", good + "A3C\tcmd\t--max-steps\t1\t100\t5.0\n",
       "t.trace:2: expected 7 tab-separated fields, got 6"},
      {"eight fields", "A3C\tcmd\t-n\t1\t100\t5.0\t1\tx\n",
       "t.trace:1: expected 7 tab-separated fields, got 8"},
      {"empty type", "\tcmd\t-n\t1\t100\t5.0\t1\n",
       "t.trace:1: field 1 (job type): must not be empty"},
      {"needs data", "A3C\tcmd\t-n\tyes\t100\t5.0\t1\n",
       "t.trace:1: field 4 (needs-data flag): expected 0 or 1, got \"yes\""},
      {"steps", "A3C\tcmd\t-n\t1\t1e3\t5.0\t1\n",
       "t.trace:1: field 5 (total steps): expected a non-negative integer, got \"1e3\""},
      {"arrival", "A3C\tcmd\t-n\t1\t100\tsoon\t1\n",
       "t.trace:1: field 6 (arrival time): expected a non-negative number of seconds, got "
       "\"soon\""},
      {"negative arrival", "A3C\tcmd\t-n\t1\t100\t-1\t1\n",
       "t.trace:1: field 6 (arrival time): expected a non-negative number of seconds, got "
       "\"-1\""},
      // Line 3: the blank line 2 still counts.
      {"zero gpus", good + "\n" + "A3C\tcmd\t-n\t1\t100\t5.0\t0\n",
       "t.trace:3: field 7 (GPUs): expected an integer >= 1, got \"0\""},
      {"fractional gpus", "A3C\tcmd\t-n\t1\t100\t5.0\t1.5\n",
       "t.trace:1: field 7 (GPUs): expected an integer >= 1, got \"1.5\""},
  };
  for (const Case& c : cases) {
    Result<std::vector<PhillyJob>> jobs = ParsePhillyTrace(c.text, "t", "t.trace");
    ASSERT_FALSE(jobs.ok()) << c.name;
    EXPECT_EQ(jobs.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(jobs.status().message(), c.error) << c.name;
  }
}

TEST(ReadPhillyDir, RealTraces) {
  Result<std::vector<PhillyJob>> jobs = ReadPhillyDir(kGavelDir + "philly_vcs");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  // `cat philly_vcs/*.trace | wc -l` = 15264 over 15 files; every line has 7 fields.
  EXPECT_EQ(jobs->size(), 15264u);
  std::map<std::string, int> per_team;
  int max_gpus = 0;
  for (const PhillyJob& j : *jobs) {
    ++per_team[j.team];
    max_gpus = std::max(max_gpus, j.gpus);
  }
  EXPECT_EQ(per_team.size(), 15u);
  EXPECT_EQ(per_team["23dbec"], 9);  // `wc -l 23dbec.trace`
  EXPECT_EQ(per_team["11cb48"], 2000);
  EXPECT_EQ(max_gpus, 64);  // one job in the shared traces asks for 64 GPUs
  // Files in sorted name order: 0e4a51.trace comes first, ee9e8c.trace last.
  EXPECT_EQ(jobs->front().team, "0e4a51");
  EXPECT_EQ(jobs->back().team, "ee9e8c");
}

TEST(ReadPhillyDir, MissingDirectoryIsNotFound) {
  Result<std::vector<PhillyJob>> jobs = ReadPhillyDir(kGavelDir + "no_such_dir");
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().code(), StatusCode::kNotFound);
  EXPECT_NE(jobs.status().message().find("no_such_dir"), std::string::npos);
}

TEST(ReadPhillyDir, DirectoryWithoutTracesIsNotFound) {
  // The gavel folder itself holds only simulation_throughputs.json and a subfolder.
  Result<std::vector<PhillyJob>> jobs = ReadPhillyDir(kGavelDir);
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().code(), StatusCode::kNotFound);
}

TEST(ParseJobKey, HandlesNamesWithParenthesesAndCommas) {
  struct Case {
    std::string text;
    std::string job_type;
    int scale;
  };
  const std::vector<Case> good = {
      {"('ResNet-18 (batch size 16)', 1)", "ResNet-18 (batch size 16)", 1},
      {"('A3C', 8)", "A3C", 8},
      {"('Odd, name (x, y)', 4)", "Odd, name (x, y)", 4},
      {"(\"It's\", 2)", "It's", 2},
      {"('It\\'s', 2)", "It's", 2},
      {"  ( 'Spaced' ,  16 )  ", "Spaced", 16},
  };
  for (const Case& c : good) {
    Result<JobKey> key = ParseJobKey(c.text);
    ASSERT_TRUE(key.ok()) << c.text << ": " << key.status().ToString();
    EXPECT_EQ(key->job_type, c.job_type) << c.text;
    EXPECT_EQ(key->scale, c.scale) << c.text;
  }
  const std::vector<std::string> bad = {
      "",           "null",     "'A3C', 1",    "('A3C')", "('A3C', 0)",
      "('A3C', x)", "(A3C, 1)", "('A3C\", 1)", "('', 1)",
  };
  for (const std::string& text : bad) {
    Result<JobKey> key = ParseJobKey(text);
    ASSERT_FALSE(key.ok()) << text;
    EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument) << text;
  }
  EXPECT_EQ(FormatJobKey({"ResNet-18 (batch size 16)", 2}), "('ResNet-18 (batch size 16)', 2)");
}

constexpr char kSmallTable[] = R"json({
  "k80": {
    "('A (x, y)', 1)": {"null": 2.5, "('B', 1)": [1.0, 0.5], "('A (x, y)', 1)": [1.2, 1.2]},
    "('B', 1)": {"null": 4.0},
    "('B', 2)": {"null": 7.5}
  },
  "v100": {}
})json";

TEST(ThroughputTable, LooksUpAloneAndColocatedSpeeds) {
  Result<ThroughputTable> table = ThroughputTable::Parse(kSmallTable, "t.json");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const JobKey a{"A (x, y)", 1};
  const JobKey b1{"B", 1};
  const JobKey b2{"B", 2};
  EXPECT_EQ(table->GpuTypes(), (std::vector<std::string>{"k80", "v100"}));
  EXPECT_EQ(table->Jobs("k80"), (std::vector<JobKey>{a, b1, b2}));
  EXPECT_TRUE(table->Jobs("v100").empty());
  EXPECT_TRUE(table->Jobs("h100").empty());

  EXPECT_EQ(*table->Alone("k80", a), 2.5);
  EXPECT_EQ(*table->Alone("k80", b2), 7.5);

  Result<ColocatedSpeed> ab = table->Colocated("k80", a, b1);
  ASSERT_TRUE(ab.ok());
  EXPECT_EQ(ab->own, 1.0);
  EXPECT_EQ(ab->other, 0.5);
  // Only A's entry lists B: asking the other way round swaps the speeds.
  Result<ColocatedSpeed> ba = table->Colocated("k80", b1, a);
  ASSERT_TRUE(ba.ok());
  EXPECT_EQ(ba->own, 0.5);
  EXPECT_EQ(ba->other, 1.0);

  struct Missing {
    std::string name;
    Status status;
    std::string message;
  };
  const std::vector<Missing> missing = {
      {"unknown job", table->Alone("k80", {"C", 1}).status(),
       "no throughput for ('C', 1) alone on k80"},
      {"job not on gpu", table->Alone("v100", a).status(),
       "no throughput for ('A (x, y)', 1) alone on v100"},
      {"unknown gpu", table->Alone("h100", a).status(),
       "unknown GPU type \"h100\" (known: k80 v100)"},
      {"no pair", table->Colocated("k80", b1, b2).status(),
       "no co-located throughput for ('B', 1) with ('B', 2) on k80"},
  };
  for (const Missing& m : missing) {
    EXPECT_EQ(m.status.code(), StatusCode::kNotFound) << m.name;
    EXPECT_EQ(m.status.message(), m.message) << m.name;
  }
}

TEST(ThroughputTable, RejectsBadJson) {
  struct Case {
    std::string name;
    std::string json;
    std::string error_prefix;  // messages from the JSON parser are only checked up to here
  };
  const std::vector<Case> cases = {
      {"malformed", "{\"k80\": {", "t.json: malformed JSON at byte 10: "},
      {"empty", "", "t.json: malformed JSON at byte 1: "},
      {"top level", "[1]", "t.json: top level: expected an object of GPU types, got array"},
      {"gpu value", R"json({"k80": 3})json",
       "t.json: k80: expected an object of job keys, got number"},
      {"job key", R"json({"k80": {"A3C": {}}})json",
       "t.json: k80: bad job key \"A3C\": not in parentheses (expected \"('Job type', scale)\")"},
      {"job value", R"json({"k80": {"('A3C', 1)": []}})json",
       "t.json: k80 / ('A3C', 1): expected an object of speeds, got array"},
      {"alone", R"json({"k80": {"('A3C', 1)": {"null": "fast"}}})json",
       "t.json: k80 / ('A3C', 1) / null: expected a number, got string"},
      {"negative alone", R"json({"k80": {"('A3C', 1)": {"null": -1}}})json",
       "t.json: k80 / ('A3C', 1) / null: expected a non-negative speed, got -1"},
      {"negative pair speed", R"json({"k80": {"('A3C', 1)": {"('B', 1)": [1.0, -0.5]}}})json",
       "t.json: k80 / ('A3C', 1) / ('B', 1): expected a non-negative speed, got -0.5"},
      {"pair shape", R"json({"k80": {"('A3C', 1)": {"('B', 1)": [1.0]}}})json",
       "t.json: k80 / ('A3C', 1) / ('B', 1): expected an array of 2 numbers, got array"},
      {"pair key", R"json({"k80": {"('A3C', 1)": {"B": [1.0, 2.0]}}})json",
       "t.json: k80 / ('A3C', 1): bad job key \"B\": not in parentheses (expected \"('Job type', "
       "scale)\")"},
  };
  for (const Case& c : cases) {
    Result<ThroughputTable> table = ThroughputTable::Parse(c.json, "t.json");
    ASSERT_FALSE(table.ok()) << c.name;
    EXPECT_EQ(table.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(table.status().message().substr(0, c.error_prefix.size()), c.error_prefix)
        << c.name << ": " << table.status().message();
    if (!c.error_prefix.ends_with(": ")) {  // not a parser message: the whole text is known
      EXPECT_EQ(table.status().message(), c.error_prefix) << c.name;
    }
  }
}

TEST(ThroughputTable, RealGavelFile) {
  Result<ThroughputTable> table = ThroughputTable::Read(kGavelDir + "simulation_throughputs.json");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ(table->GpuTypes(),
            (std::vector<std::string>{"k80", "k80_unconsolidated", "p100", "p100_unconsolidated",
                                      "v100", "v100_unconsolidated"}));
  // 26 job types at scale 1 plus 19 at each of the scales 2, 4, 8: 26 + 3 * 19 = 83.
  EXPECT_EQ(table->Jobs("v100").size(), 83u);

  const JobKey r18_16{"ResNet-18 (batch size 16)", 1};
  const JobKey r50_16{"ResNet-50 (batch size 16)", 1};
  const JobKey r50_128{"ResNet-50 (batch size 128)", 1};
  // Values read from the file.
  EXPECT_EQ(*table->Alone("k80", r18_16), 4.795294551566172);
  EXPECT_EQ(*table->Alone("v100", {"ResNet-50 (batch size 64)", 1}), 4.394774823323071);
  EXPECT_EQ(*table->Alone("v100", {"Transformer (batch size 64)", 2}), 15.876496488983058);
  Result<ColocatedSpeed> pair = table->Colocated("k80", r18_16, r50_16);
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->own, 2.4539953436775868);
  EXPECT_EQ(pair->other, 0.9827032498016068);
  // A pair that does not fit on one K80 is listed as [0.0, 0.0].
  pair = table->Colocated("k80", r18_16, r50_128);
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->own, 0.0);
  EXPECT_EQ(pair->other, 0.0);
  // A3C exists at scale 1 only.
  EXPECT_TRUE(table->Alone("v100", {"A3C", 1}).ok());
  EXPECT_EQ(table->Alone("v100", {"A3C", 2}).status().code(), StatusCode::kNotFound);
}

TEST(ThroughputTable, EveryRealTraceJobTypeHasAScaleOneSpeed) {
  Result<ThroughputTable> table = ThroughputTable::Read(kGavelDir + "simulation_throughputs.json");
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  Result<std::vector<PhillyJob>> jobs = ReadPhillyDir(kGavelDir + "philly_vcs");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  int keyed_at_own_scale = 0;
  for (const PhillyJob& j : *jobs) {
    for (const char* gpu : {"k80", "p100", "v100"}) {
      ASSERT_TRUE(table->Alone(gpu, {j.job_type, 1}).ok()) << j.job_type << " on " << gpu;
    }
    if (table->Alone("v100", {j.job_type, j.gpus}).ok()) ++keyed_at_own_scale;
  }
  // The header's count: 15264 jobs - 361 with a GPU count outside {1, 2, 4, 8} - 1187 jobs of 2, 4
  // or 8 GPUs of a scale-1-only type (A3C, CycleGAN, Recommendation) = 13716.
  EXPECT_EQ(keyed_at_own_scale, 13716);
}

TEST(ThroughputTable, MissingFileIsNotFound) {
  Result<ThroughputTable> table = ThroughputTable::Read(kGavelDir + "nope.json");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace gpool::sim
