// Clock: where the controller reads the time, handed in at construction (STYLE.md rule 2).
//
// NowSeconds() is wall-clock time in seconds since the Unix epoch (fractional). SystemClock is the
// only place in src/controller that reads the real clock; tests use FakeClock and move it by hand.
//
// Thread safety: SystemClock and FakeClock may be called from any thread.
#pragma once

#include <atomic>

namespace gpool::controller {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double NowSeconds() = 0;
};

// The real wall clock (std::chrono::system_clock).
class SystemClock final : public Clock {
 public:
  double NowSeconds() override;
};

// A clock that only moves when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(double now = 1'700'000'000.0) : now_(now) {}
  double NowSeconds() override { return now_.load(); }
  void Set(double now) { now_.store(now); }
  void Advance(double seconds) { now_.store(now_.load() + seconds); }

 private:
  std::atomic<double> now_;
};

}  // namespace gpool::controller
