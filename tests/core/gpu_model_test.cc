#include "core/gpu_model.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace gpool::core {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

GpuModelId IdOf(std::string_view name) {
  Result<GpuModelId> id = FindGpuModel(name);
  EXPECT_TRUE(id.ok()) << name;
  return id.ok() ? *id : GpuModelId{0};
}

TEST(GpuCatalogTest, FitsInAModelSetAndIndexIsId) {
  EXPECT_LE(GpuCatalog().size(), static_cast<std::size_t>(kMaxGpuModels));
  for (std::size_t i = 0; i < GpuCatalog().size(); ++i) {
    EXPECT_EQ(&GetGpuModel(static_cast<GpuModelId>(i)), &GpuCatalog()[i]);
  }
}

TEST(GpuCatalogTest, NamesAndAliasesAreUniqueIgnoringCase) {
  std::set<std::string> seen;
  for (const GpuModel& m : GpuCatalog()) {
    EXPECT_TRUE(seen.insert(Lower(m.name)).second) << m.name;
    for (std::string_view a : m.aliases) {
      if (a.empty()) continue;
      EXPECT_TRUE(seen.insert(Lower(a)).second) << a;
    }
  }
}

TEST(GpuCatalogTest, ModelFacts) {
  struct Case {
    std::string_view name;
    std::int64_t memory_mib;
    int sm_count;
    MigFamily mig;
  };
  const Case cases[] = {
      {"T4", 15360, 40, MigFamily::kNone},
      {"L4", 23034, 58, MigFamily::kNone},
      {"A10", 23028, 72, MigFamily::kNone},
      {"P100", 16276, 56, MigFamily::kNone},
      {"V100-16GB", 16160, 80, MigFamily::kNone},
      {"V100-32GB", 32510, 80, MigFamily::kNone},
      {"A100-40GB", 40960, 108,
       MigFamily::kA100_40GB},  // 40 * 1024: nvidia-smi shows exactly 40960
      {"A100-80GB", 81920, 108, MigFamily::kA100_80GB},     // 80 * 1024
      {"H100-80GB", 81559, 132, MigFamily::kH100_80GB},     // 361 MiB under 80 * 1024
      {"H200-141GB", 143771, 132, MigFamily::kH200_141GB},  // 613 MiB under 141 * 1024 = 144384
      {"G2", 0, 0, MigFamily::kNone},                       // openb: opaque
      {"G3", 0, 0, MigFamily::kNone},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const GpuModel& m = GetGpuModel(IdOf(c.name));
    EXPECT_EQ(m.name, c.name);
    EXPECT_EQ(m.memory_mib, c.memory_mib);
    EXPECT_EQ(m.sm_count, c.sm_count);
    EXPECT_EQ(m.mig, c.mig);
  }
}

TEST(FindGpuModelTest, AliasesAndCase) {
  struct Case {
    std::string_view input;
    std::string_view canonical;
  };
  const Case cases[] = {
      {"V100M16", "V100-16GB"},  // openb trace spelling
      {"v100m32", "V100-32GB"},  // alias, lower case
      {"a100-80gb", "A100-80GB"},
      {"H100", "H100-80GB"},
      {"h200", "H200-141GB"},
      {"Tesla T4", "T4"},  // nvidia-smi spelling
      {"g2", "G2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(GetGpuModel(IdOf(c.input)).name, c.canonical);
  }
}

TEST(FindGpuModelTest, UnknownListsKnownNames) {
  Result<GpuModelId> r = FindGpuModel("A800");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "unknown GPU model \"A800\"; known models: T4, L4, A10, P100, V100-16GB, V100-32GB, "
            "A100-40GB, A100-80GB, H100-80GB, H200-141GB, G2, G3");
  // An empty name matches no model, not an empty alias slot.
  EXPECT_FALSE(FindGpuModel("").ok());
}

TEST(ModelSetTest, ModelAllowed) {
  const GpuModelId t4 = IdOf("T4");
  const GpuModelId v16 = IdOf("V100-16GB");
  struct Case {
    ModelSet set;
    GpuModelId id;
    bool allowed;
  };
  const Case cases[] = {
      {0, t4, true},                              // 0 = any
      {ModelBit(t4), t4, true},                   // exact bit
      {ModelBit(t4), v16, false},                 // other bit only
      {ModelBit(t4) | ModelBit(v16), v16, true},  // one of two
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ModelAllowed(c.set, c.id), c.allowed) << c.set << " " << int{c.id};
  }
}

TEST(ModelSetTest, ParseAndFormat) {
  const ModelSet v16 = ModelBit(IdOf("V100-16GB"));
  const ModelSet v32 = ModelBit(IdOf("V100-32GB"));
  const ModelSet t4 = ModelBit(IdOf("T4"));
  struct Case {
    std::string_view spec;
    ModelSet want;
    std::string_view formatted;
  };
  const Case cases[] = {
      {"", 0, "any"},                                                 // empty = any
      {"|", 0, "any"},                                                // only empty pieces
      {"V100M16|V100M32", v16 | v32, "V100-16GB|V100-32GB"},          // openb aliases
      {"V100M16||V100M32|", v16 | v32, "V100-16GB|V100-32GB"},        // empty pieces ignored
      {"V100M32|V100M16|v100m32", v16 | v32, "V100-16GB|V100-32GB"},  // dupes; id order out
      {" T4 | V100M16", t4 | v16, "T4|V100-16GB"},                    // spaces trimmed; T4 is id 0
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    Result<ModelSet> got = ParseModelSet(c.spec);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, c.want);
    EXPECT_EQ(FormatModelSet(*got), c.formatted);
  }
}

TEST(ModelSetTest, ParseUnknownPieceNamesIt) {
  Result<ModelSet> r = ParseModelSet("V100M16|X1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("GPU model set \"V100M16|X1\": unknown model \"X1\"", 0), 0u)
      << r.status().message();
}

TEST(ModelSetTest, FormatRoundTripsEveryModel) {
  for (std::size_t i = 0; i < GpuCatalog().size(); ++i) {
    const ModelSet set = ModelBit(static_cast<GpuModelId>(i));
    Result<ModelSet> back = ParseModelSet(FormatModelSet(set));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, set);
  }
}

}  // namespace
}  // namespace gpool::core
