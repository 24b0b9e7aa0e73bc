#include "core/mig_geometry.h"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace gpool::core {
namespace {

constexpr MigProfile k1g = MigProfile::k1g;
constexpr MigProfile k1gD = MigProfile::k1gDoubleMemory;
constexpr MigProfile k2g = MigProfile::k2g;
constexpr MigProfile k3g = MigProfile::k3g;
constexpr MigProfile k4g = MigProfile::k4g;
constexpr MigProfile k7g = MigProfile::k7g;

using Layout = std::vector<MigPlacement>;

std::string Describe(const Layout& layout) {
  std::string out;
  for (const MigPlacement& pl : layout) {
    if (!out.empty()) out += " + ";
    out += FormatMigPlacement(pl, MigFamily::kNone);
  }
  return out.empty() ? "(empty)" : out;
}

MigOccupancy Occupy(const Layout& layout) {
  MigOccupancy occ;
  for (const MigPlacement& pl : layout) occ.Place(pl.profile, pl.start);
  return occ;
}

TEST(MigOccupancyTest, IsCompactAndTriviallyCopyable) {
  EXPECT_EQ(sizeof(MigOccupancy), 3u);
  EXPECT_TRUE(std::is_trivially_copyable_v<MigOccupancy>);
  EXPECT_TRUE(MigOccupancy{}.Empty());
}

TEST(MigShapeTest, MaxPerGpuIsWhatRepeatedFirstFitReaches) {
  // Placing one profile repeatedly at its first fit until none fits:
  //   1g: starts 0..6 -> 7; 1g-double: 0,2,4,6 -> 4; 2g: 0,2,4 -> 3; 3g: 0,4 -> 2 (compute 6);
  //   4g: 0 -> 1; 7g: 0 -> 1.
  struct Case {
    MigProfile p;
    int want;
  };
  const Case cases[] = {{k1g, 7}, {k1gD, 4}, {k2g, 3}, {k3g, 2}, {k4g, 1}, {k7g, 1}};
  for (const Case& c : cases) {
    MigOccupancy occ;
    int placed = 0;
    for (int s = occ.FirstFit(c.p); s >= 0; s = occ.FirstFit(c.p)) {
      occ.Place(c.p, s);
      ++placed;
    }
    EXPECT_EQ(placed, c.want) << MigProfileName(c.p, MigFamily::kNone);
    EXPECT_EQ(GetMigShape(c.p).max_per_gpu, c.want);
  }
}

TEST(ValidateMigLayoutTest, LegalLayouts) {
  const Layout cases[] = {
      {},                                            // no instances
      {{k7g, 0}},                                    // memory 0-7, compute 7
      {{k4g, 0}, {k3g, 4}},                          // memory 0-3 | 4-7, compute 4+3 = 7
      {{k3g, 0}, {k2g, 4}, {k1g, 6}},                // memory 0-3 | 4-5 | 6, compute 3+2+1 = 6
      {{k3g, 0}, {k3g, 4}},                          // compute 3+3 = 6
      {{k2g, 0}, {k2g, 2}, {k3g, 4}},                // memory 0-1 | 2-3 | 4-7, compute 2+2+3 = 7
      {{k1gD, 0}, {k1gD, 2}, {k1gD, 4}, {k1g, 6}},   // memory 0-6, compute 4
      {{k1gD, 0}, {k1gD, 2}, {k1gD, 4}, {k1gD, 6}},  // memory 0-7, compute 4, 4 instances
      {{k1g, 0}, {k1g, 1}, {k1g, 2}, {k1g, 3}, {k1g, 4}, {k1g, 5}, {k1g, 6}},  // 7 instances
      {{k1g, 6}, {k4g, 0}},  // order does not matter; compute 5
  };
  for (const Layout& layout : cases) {
    EXPECT_TRUE(ValidateMigLayout(layout).ok())
        << Describe(layout) << ": " << ValidateMigLayout(layout).ToString();
  }
}

TEST(ValidateMigLayoutTest, IllegalLayoutsNameTheInstance) {
  struct Case {
    Layout layout;
    std::string message;
  };
  const Case cases[] = {
      // 3g@0 holds memory 0-3; 2g@2 wants 2-3.
      {{{k3g, 0}, {k2g, 2}}, "2g@2: memory slices overlap 3g@0"},
      // 4g may only start at slice 0.
      {{{k4g, 0}, {k4g, 4}}, "4g@4: start must be one of 0"},
      {{{k2g, 1}}, "2g@1: start must be one of 0,2,4"},
      // 1g covers one slice but slice 7 is never a legal 1g start.
      {{{k1g, 7}}, "1g@7: start must be one of 0,1,2,3,4,5,6"},
      {{{k3g, -1}}, "3g@-1: start must be one of 0,4"},
      // 4 + 3 + 1 = 8 compute slices; the compute check runs before the overlap check.
      {{{k4g, 0}, {k3g, 4}, {k1g, 6}}, "1g@6: compute slices would total 8, more than 7"},
      {{{k7g, 0}, {k1g, 0}}, "1g@0: compute slices would total 8, more than 7"},
      // An eighth instance: the count check runs before compute and overlap.
      {{{k1g, 0}, {k1g, 1}, {k1g, 2}, {k1g, 3}, {k1g, 4}, {k1g, 5}, {k1g, 6}, {k1g, 0}},
       "1g@0: more than 7 instances"},
      {{{k1gD, 2}, {k2g, 2}}, "2g@2: memory slices overlap 1g-double@2"},
  };
  for (const Case& c : cases) {
    const Status s = ValidateMigLayout(c.layout);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << Describe(c.layout);
    EXPECT_EQ(s.message(), c.message) << Describe(c.layout);
  }
}

TEST(MigOccupancyTest, FirstFitAndLegalPlacementCount) {
  struct Case {
    Layout placed;
    MigProfile p;
    int first_fit;
    int count;
  };
  const Case cases[] = {
      {{}, k1g, 0, 7},   // starts 0..6
      {{}, k1gD, 0, 4},  // 0,2,4,6
      {{}, k3g, 0, 2},   // 0,4
      {{}, k7g, 0, 1},
      // 3g@0 holds memory 0-3 and 3 compute.
      {{{k3g, 0}}, k1g, 4, 3},   // 4,5,6
      {{{k3g, 0}}, k1gD, 4, 2},  // 4,6
      {{{k3g, 0}}, k2g, 4, 1},   // 4 (0 and 2 taken)
      {{{k3g, 0}}, k3g, 4, 1},   // 4; compute 3+3 = 6
      {{{k3g, 0}}, k4g, -1, 0},  // only start 0, taken
      {{{k3g, 0}}, k7g, -1, 0},
      // 4g@0 + 2g@4 hold memory 0-5 and 6 compute.
      {{{k4g, 0}, {k2g, 4}}, k1g, 6, 1},   // 6; compute 6+1 = 7
      {{{k4g, 0}, {k2g, 4}}, k1gD, 6, 1},  // 6-7
      {{{k4g, 0}, {k2g, 4}}, k3g, -1, 0},  // needs 4-7
      // 1g@1 blocks every profile that starts at 0 or spans slice 1.
      {{{k1g, 1}}, k1g, 0, 6},   // 0,2,3,4,5,6
      {{{k1g, 1}}, k1gD, 2, 3},  // 2,4,6
      {{{k1g, 1}}, k2g, 2, 2},   // 2,4
      {{{k1g, 1}}, k3g, 4, 1},   // 4
      {{{k1g, 1}}, k4g, -1, 0},
      // 1g-double@6 holds 6-7: 3g@4 no longer fits, 3g@0 and 4g@0 do.
      {{{k1gD, 6}}, k3g, 0, 1},
      {{{k1gD, 6}}, k4g, 0, 1},  // compute 1+4 = 5
      {{{k1gD, 6}}, k1g, 0, 6},  // 0..5
      // Seven 1g: the instance limit (and compute 7) blocks everything; slice 7 is free.
      {{{k1g, 0}, {k1g, 1}, {k1g, 2}, {k1g, 3}, {k1g, 4}, {k1g, 5}, {k1g, 6}}, k1g, -1, 0},
      {{{k1g, 0}, {k1g, 1}, {k1g, 2}, {k1g, 3}, {k1g, 4}, {k1g, 5}, {k1g, 6}}, k1gD, -1, 0},
  };
  for (const Case& c : cases) {
    const MigOccupancy occ = Occupy(c.placed);
    const std::string what = Describe(c.placed) + " + " + std::string(MigProfileName(c.p, {}));
    EXPECT_EQ(occ.FirstFit(c.p), c.first_fit) << what;
    EXPECT_EQ(occ.LegalPlacementCount(c.p), c.count) << what;
    EXPECT_EQ(static_cast<int>(EnumerateLegalPlacements(c.placed, c.p).size()), c.count) << what;
  }
}

TEST(MigOccupancyTest, PlaceThenRemoveRestoresState) {
  MigOccupancy occ;
  occ.Place(k3g, 0);
  const MigOccupancy before = occ;
  occ.Place(k2g, 4);
  // 3g@0 + 2g@4: memory bits 0-5 = 0b0011'1111, compute 3+2 = 5, 2 instances.
  EXPECT_EQ(occ.memory_mask, 0x3F);
  EXPECT_EQ(occ.compute_used, 5);
  EXPECT_EQ(occ.instances, 2);
  occ.Remove(k2g, 4);
  EXPECT_EQ(occ, before);
  occ.Remove(k3g, 0);
  EXPECT_EQ(occ, MigOccupancy{});
  EXPECT_TRUE(occ.Empty());
}

TEST(MigOccupancyTest, CanPlaceRejectsOutOfRangeStarts) {
  const MigOccupancy occ;
  for (MigProfile p : kAllMigProfiles) {
    EXPECT_FALSE(occ.CanPlace(p, -1));
    EXPECT_FALSE(occ.CanPlace(p, kMigMemorySlices));
    EXPECT_FALSE(occ.CanPlace(p, 7));  // no profile starts at slice 7
  }
}

TEST(EnumerateLegalPlacementsTest, ListsStartsInOrder) {
  EXPECT_EQ(EnumerateLegalPlacements(Layout{{k3g, 0}}, k1g),
            (Layout{{k1g, 4}, {k1g, 5}, {k1g, 6}}));
  EXPECT_EQ(EnumerateLegalPlacements(Layout{{k4g, 0}, {k2g, 4}}, k1gD), (Layout{{k1gD, 6}}));
  EXPECT_TRUE(EnumerateLegalPlacements(Layout{{k7g, 0}}, k1g).empty());
}

TEST(MigNamesTest, NamesPerFamily) {
  struct Case {
    MigFamily family;
    std::array<std::string_view, kMigProfileCount> names;  // in MigProfile order
  };
  const Case cases[] = {
      {MigFamily::kNone, {"1g", "1g-double", "2g", "3g", "4g", "7g"}},
      {MigFamily::kA100_40GB, {"1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"}},
      {MigFamily::kA100_80GB, {"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}},
      {MigFamily::kH100_80GB, {"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"}},
      {MigFamily::kH200_141GB, {"1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"}},
  };
  for (const Case& c : cases) {
    for (int i = 0; i < kMigProfileCount; ++i) {
      const MigProfile p = kAllMigProfiles[i];
      EXPECT_EQ(MigProfileName(p, c.family), c.names[i]);
      // Round trip, and upper case is accepted.
      Result<MigProfile> back = ParseMigProfile(c.names[i], c.family);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, p);
      std::string upper(c.names[i]);
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      Result<MigProfile> upper_back = ParseMigProfile(upper, c.family);
      ASSERT_TRUE(upper_back.ok()) << upper;
      EXPECT_EQ(*upper_back, p);
      // Generic names are accepted in every family.
      Result<MigProfile> generic = ParseMigProfile(MigProfileName(p, MigFamily::kNone), c.family);
      ASSERT_TRUE(generic.ok());
      EXPECT_EQ(*generic, p);
    }
  }
}

TEST(MigNamesTest, FormatPlacement) {
  EXPECT_EQ(FormatMigPlacement({k3g, 4}, MigFamily::kA100_80GB), "3g.40gb@4");
  EXPECT_EQ(FormatMigPlacement({k1gD, 6}, MigFamily::kH200_141GB), "1g.35gb@6");
  EXPECT_EQ(FormatMigPlacement({k1gD, 6}, MigFamily::kNone), "1g-double@6");
}

TEST(MigNamesTest, ParseUnknownListsFamilyNames) {
  // 1g.5gb exists on A100-40GB only.
  Result<MigProfile> r = ParseMigProfile("1g.5gb", MigFamily::kA100_80GB);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "unknown MIG profile \"1g.5gb\" for A100-80GB; valid: 1g.10gb, 1g.20gb, 2g.20gb, "
            "3g.40gb, 4g.40gb, 7g.80gb");
}

TEST(MigNamesTest, ParseAnyFamily) {
  struct Case {
    std::string_view name;
    bool ok;
    MigProfile want;  // when ok
  };
  const Case cases[] = {
      {"3g.40gb", true, k3g},     // A100-80GB / H100-80GB
      {"7G.141GB", true, k7g},    // H200, any case
      {"1g.5gb", true, k1g},      // A100-40GB only
      {"1g.20gb", true, k1gD},    // A100-80GB / H100-80GB only
      {"2g.10gb", true, k2g},     // A100-40GB only
      {"1g-double", true, k1gD},  // generic
      {"4g", true, k4g},          // generic
      {"1g.10gb", false, k1g},    // 1g-double on A100-40GB, 1g on A100-80GB: ambiguous
      {"5g.50gb", false, k1g},    // no such profile
      {"", false, k1g},
  };
  for (const Case& c : cases) {
    Result<MigProfile> r = ParseMigProfileAnyFamily(c.name);
    ASSERT_EQ(r.ok(), c.ok) << c.name;
    if (c.ok) {
      EXPECT_EQ(*r, c.want) << c.name;
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_EQ(ParseMigProfileAnyFamily("1g.10gb").status().message().rfind(
                "MIG profile \"1g.10gb\" is ambiguous: 1g-double or 1g", 0),
            0u);
}

// Every candidate placement: a profile at one of its legal starts. 7 + 4 + 3 + 2 + 1 + 1 = 18.
std::vector<MigPlacement> AllCandidates() {
  std::vector<MigPlacement> out;
  for (MigProfile p : kAllMigProfiles) {
    for (int s = 0; s < kMigMemorySlices; ++s) {
      if ((GetMigShape(p).legal_start_mask >> s) & 1u) out.push_back({p, s});
    }
  }
  return out;
}

// Count of legal layouts, by slice from the left: f(i) = ways to fill slices i..7, each slice
// either left free or the start of an instance (compute and instance limits are implied, see the
// header). Starts available: slice 0: 1g,1g-double,2g,3g,4g,7g; 2: 1g,1g-double,2g;
// 4: 1g,1g-double,2g,3g; 6: 1g,1g-double; 1,3,5: 1g; 7: none.
//   f(8) = 1, f(7) = 1 (free)
//   f(6) = free f(7) + 1g f(7) + 1g-double f(8) = 3
//   f(5) = free f(6) + 1g f(6) = 6
//   f(4) = 6 + 6 + 1g-double f(6) 3 + 2g f(6) 3 + 3g f(8) 1 = 19
//   f(3) = 2 * 19 = 38
//   f(2) = 38 + 38 + 1g-double f(4) 19 + 2g f(4) 19 = 114
//   f(1) = 2 * 114 = 228
//   f(0) = 228 + 228 + 1g-double 114 + 2g 114 + 3g 19 + 4g 19 + 7g 1 = 723 (empty included)
constexpr std::size_t kLegalLayouts = 723;

// Maximal layouts (no instance can be added) are those covering slices 0..6: a free slice in 0..6
// always takes a 1g. Same recurrence without the "free" option except at slice 7:
//   g(8) = 1, g(7) = 1, g(6) = 1g g(7) + 1g-double g(8) = 2, g(5) = 2,
//   g(4) = 2 + 1g-double 2 + 2g 2 + 3g 1 = 7, g(3) = 7, g(2) = 7 + 7 + 7 = 21, g(1) = 21,
//   g(0) = 21 + 21 + 21 + 3g 7 + 4g 7 + 7g 1 = 78
constexpr std::size_t kMaximalLayouts = 78;

TEST(EnumerateAllLegalLayoutsTest, CountMatchesDerivationAndBruteForce) {
  const auto& layouts = EnumerateAllLegalLayouts();
  EXPECT_EQ(layouts.size(), kLegalLayouts);
  EXPECT_TRUE(layouts.front().empty());

  // Brute force, independent of the enumerator: every subset of the 18 candidates (2^18) that
  // ValidateMigLayout accepts.
  const std::vector<MigPlacement> cand = AllCandidates();
  ASSERT_EQ(cand.size(), 18u);
  std::size_t legal = 0;
  Layout subset;
  for (std::uint32_t bits = 0; bits < (1u << cand.size()); ++bits) {
    subset.clear();
    for (std::size_t i = 0; i < cand.size(); ++i) {
      if ((bits >> i) & 1u) subset.push_back(cand[i]);
    }
    legal += ValidateMigLayout(subset).ok() ? 1 : 0;
  }
  EXPECT_EQ(legal, kLegalLayouts);
}

TEST(EnumerateAllLegalLayoutsTest, EachValidatesIsSortedAndDistinct) {
  std::set<std::vector<std::pair<int, int>>> seen;
  for (const Layout& layout : EnumerateAllLegalLayouts()) {
    EXPECT_TRUE(ValidateMigLayout(layout).ok()) << Describe(layout);
    std::vector<std::pair<int, int>> key;
    for (std::size_t i = 0; i < layout.size(); ++i) {
      if (i > 0) {
        EXPECT_LT(layout[i - 1].start, layout[i].start) << Describe(layout);
      }
      key.emplace_back(static_cast<int>(layout[i].profile), layout[i].start);
    }
    EXPECT_TRUE(seen.insert(key).second) << Describe(layout);
  }
  // Cached: the same object every call.
  EXPECT_EQ(&EnumerateAllLegalLayouts(), &EnumerateAllLegalLayouts());
}

TEST(EnumerateAllLegalLayoutsTest, NothingCanBeAddedToAMaximalLayout) {
  const std::vector<MigPlacement> cand = AllCandidates();
  std::size_t maximal = 0;
  for (const Layout& layout : EnumerateAllLegalLayouts()) {
    bool can_grow = false;
    for (MigProfile p : kAllMigProfiles) can_grow |= !EnumerateLegalPlacements(layout, p).empty();
    if (can_grow) continue;
    ++maximal;
    // Cross-check with the validator: every candidate added to it is rejected.
    for (const MigPlacement& extra : cand) {
      Layout grown = layout;
      grown.push_back(extra);
      EXPECT_FALSE(ValidateMigLayout(grown).ok()) << Describe(grown);
    }
  }
  EXPECT_EQ(maximal, kMaximalLayouts);
}

}  // namespace
}  // namespace gpool::core
