// The journal checks of journal.h on hand-made journals: each check is shown able to fail, so a
// pool test that passes them has really been checked.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "journal.h"

namespace gpool::test {
namespace {

// One journal line. Slices as JSON text, e.g. R"([{"kind":"whole","device":0,"milli":1000}])".
std::string Start(int id, int epoch, const std::string& node, double t, const std::string& slices) {
  return R"({"event":"start","id":)" + std::to_string(id) + R"(,"epoch":)" + std::to_string(epoch) +
         R"(,"node":")" + node + R"(","t":)" + std::to_string(t) + R"(,"slices":)" + slices + "}\n";
}
std::string End(int id, int epoch, const std::string& node, double t,
                const std::string& why = "exited 0") {
  return R"({"event":"end","id":)" + std::to_string(id) + R"(,"epoch":)" + std::to_string(epoch) +
         R"(,"node":")" + node + R"(","t":)" + std::to_string(t) + R"(,"why":")" + why + "\"}\n";
}
std::string Whole(int device) {
  return R"({"kind":"whole","device":)" + std::to_string(device) + R"(,"milli":1000})";
}
std::string Share(int device, int milli) {
  return R"({"kind":"share","device":)" + std::to_string(device) + R"(,"milli":)" +
         std::to_string(milli) + "}";
}
// Profiles by MigProfile value: 0 = 1g (1 memory slice), 2 = 2g (2), 3 = 3g (4).
std::string Mig(int device, int profile, int start, int milli) {
  return R"({"kind":"mig","device":)" + std::to_string(device) + R"(,"milli":)" +
         std::to_string(milli) + R"(,"mig_profile":)" + std::to_string(profile) +
         R"(,"mig_start":)" + std::to_string(start) + "}";
}

struct Checked {
  std::vector<std::string> pairing;
  std::vector<std::string> double_bookings;
  std::vector<std::string> concurrent_epochs;
  std::vector<WorkloadRun> runs;
};

Checked Check(const std::string& journal) {
  Checked c;
  c.runs = PairRuns(ParseJournal(journal, &c.pairing), &c.pairing);
  c.double_bookings = DoubleBookings(c.runs);
  c.concurrent_epochs = ConcurrentEpochs(c.runs);
  return c;
}

TEST(JournalCheck, BackToBackUseOfOneSliceIsFine) {
  // WorkloadRun 1 holds device 0 over [10, 11); run 2 takes it at 11 (same tick: half-open
  // intervals). Shares 400m + 600m = 1000m on device 1 exactly fill it. MIG 3g at 0 (slices 0-3)
  // and at 4 (slices 4-7) are disjoint.
  const Checked c = Check(Start(1, 1, "a", 10, "[" + Whole(0) + "]") + End(1, 1, "a", 11) +
                          Start(2, 1, "a", 11, "[" + Whole(0) + "]") + End(2, 1, "a", 12) +
                          Start(3, 1, "a", 10, "[" + Share(1, 400) + "]") +
                          Start(4, 1, "a", 10, "[" + Share(1, 600) + "]") + End(3, 1, "a", 12) +
                          End(4, 1, "a", 12) + Start(5, 1, "a", 10, "[" + Mig(2, 3, 0, 428) + "]") +
                          Start(6, 1, "a", 10, "[" + Mig(2, 3, 4, 428) + "]") + End(5, 1, "a", 12) +
                          End(6, 1, "a", 12));
  EXPECT_TRUE(c.pairing.empty()) << Lines(c.pairing);
  EXPECT_TRUE(c.double_bookings.empty()) << Lines(c.double_bookings);
  EXPECT_EQ(c.runs.size(), 6u);
}

TEST(JournalCheck, SameDeviceOnAnotherNodeIsNotTheSameSlice) {
  const Checked c =
      Check(Start(1, 1, "a", 10, "[" + Whole(0) + "]") +
            Start(2, 1, "b", 10, "[" + Whole(0) + "]") + End(1, 1, "a", 12) + End(2, 1, "b", 12));
  EXPECT_TRUE(c.double_bookings.empty()) << Lines(c.double_bookings);
}

TEST(JournalCheck, FindsAWholeGpuGivenTwice) {
  // WorkloadRun 2 starts on device 0 at 10.5, inside run 1's [10, 11).
  const Checked c =
      Check(Start(1, 1, "a", 10, "[" + Whole(0) + "]") +
            Start(2, 1, "a", 10.5, "[" + Whole(0) + "]") + End(1, 1, "a", 11) + End(2, 1, "a", 12));
  ASSERT_EQ(c.double_bookings.size(), 2u) << Lines(c.double_bookings);  // shared, and 2000m
  EXPECT_NE(c.double_bookings[0].find("a whole GPU shared"), std::string::npos);
  EXPECT_NE(c.double_bookings[1].find("2000m"), std::string::npos);
}

TEST(JournalCheck, FindsAWholeGpuUnderAShare) {
  const Checked c =
      Check(Start(1, 1, "a", 10, "[" + Share(0, 100) + "]") +
            Start(2, 1, "a", 11, "[" + Whole(0) + "]") + End(1, 1, "a", 12) + End(2, 1, "a", 12));
  EXPECT_FALSE(c.double_bookings.empty());
}

TEST(JournalCheck, FindsSharesOverOneGpu) {
  // 600m + 500m = 1100m on device 3 during [11, 12).
  const Checked c = Check(Start(1, 1, "a", 10, "[" + Share(3, 600) + "]") +
                          Start(2, 1, "a", 11, "[" + Share(3, 500) + "]") + End(1, 1, "a", 12) +
                          End(2, 1, "a", 13));
  ASSERT_EQ(c.double_bookings.size(), 1u) << Lines(c.double_bookings);
  EXPECT_NE(c.double_bookings[0].find("1100m"), std::string::npos) << c.double_bookings[0];
}

TEST(JournalCheck, FindsOverlappingMigInstances) {
  // 2g at start 2 (memory slices 2-3) and 3g at start 0 (slices 0-3) overlap in slices 2-3,
  // although their compute (285m + 428m = 713m) fits.
  const Checked c = Check(Start(1, 1, "a", 10, "[" + Mig(0, 2, 2, 285) + "]") +
                          Start(2, 1, "a", 10, "[" + Mig(0, 3, 0, 428) + "]") + End(1, 1, "a", 12) +
                          End(2, 1, "a", 12));
  ASSERT_EQ(c.double_bookings.size(), 1u) << Lines(c.double_bookings);
  EXPECT_NE(c.double_bookings[0].find("overlap in memory slices"), std::string::npos);
}

TEST(JournalCheck, FindsMigAndSharesMixedOnOneDevice) {
  const Checked c = Check(Start(1, 1, "a", 10, "[" + Mig(0, 0, 0, 142) + "]") +
                          Start(2, 1, "a", 10, "[" + Share(0, 100) + "]") + End(1, 1, "a", 12) +
                          End(2, 1, "a", 12));
  ASSERT_EQ(c.double_bookings.size(), 1u) << Lines(c.double_bookings);
  EXPECT_NE(c.double_bookings[0].find("MIG instances and shares"), std::string::npos);
}

TEST(JournalCheck, ARunWithoutAnEndHoldsItsSliceForever) {
  const Checked c = Check(Start(1, 1, "a", 10, "[" + Whole(5) + "]") +
                          Start(2, 1, "a", 100, "[" + Whole(5) + "]") + End(2, 1, "a", 101));
  EXPECT_FALSE(c.runs[0].ended());
  EXPECT_FALSE(c.double_bookings.empty());
}

TEST(JournalCheck, FindsADoubleStartAndAnEndWithoutStart) {
  const Checked c = Check(Start(1, 1, "a", 10, "[]") + Start(1, 1, "a", 11, "[]") +
                          End(1, 1, "a", 12) + End(7, 2, "a", 12));
  ASSERT_EQ(c.pairing.size(), 2u) << Lines(c.pairing);
  EXPECT_NE(c.pairing[0].find("started again"), std::string::npos);
  EXPECT_NE(c.pairing[1].find("without a start"), std::string::npos);
}

TEST(JournalCheck, FindsTwoEpochsRunningAtOnce) {
  // Epoch 1 on a until 15 (fenced late), epoch 2 on b from 14: both ran during [14, 15).
  // Gang members (same epoch) on a and b together are fine (workload 2).
  const Checked c =
      Check(Start(1, 1, "a", 10, "[]") + Start(1, 2, "b", 14, "[]") + End(1, 1, "a", 15, "fenced") +
            End(1, 2, "b", 20) + Start(2, 1, "a", 10, "[]") + Start(2, 1, "b", 10, "[]") +
            End(2, 1, "a", 11) + End(2, 1, "b", 11));
  ASSERT_EQ(c.concurrent_epochs.size(), 1u) << Lines(c.concurrent_epochs);
  EXPECT_NE(c.concurrent_epochs[0].find("workload 1 ran twice"), std::string::npos);
}

TEST(JournalCheck, MalformedLinesAreReported) {
  std::vector<std::string> problems;
  const auto events = ParseJournal("{\"event\":\"start\"\nnot json\n", &problems);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(problems.size(), 2u);
}

}  // namespace
}  // namespace gpool::test
