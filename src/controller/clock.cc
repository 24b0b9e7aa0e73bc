#include "controller/clock.h"

#include <chrono>

namespace gpool::controller {

double SystemClock::NowSeconds() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

}  // namespace gpool::controller
