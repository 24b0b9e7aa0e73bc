#include "ckpt/checkpoint_request.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace gpool::ckpt {
namespace {

std::atomic<bool> g_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

extern "C" void OnCheckpointSignal(int) { g_requested.store(true, std::memory_order_relaxed); }

}  // namespace

Status InstallCheckpointRequestHandler(int signo) {
  if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) {
    return Status::InvalidArgument("signal " + std::to_string(signo) + " cannot be caught");
  }
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = OnCheckpointSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read or write in the training loop is not interrupted
  if (::sigaction(signo, &action, nullptr) != 0) {
    return Status::Unavailable(std::string("sigaction: ") + std::strerror(errno));
  }
  return Status::Ok();
}

bool CheckpointRequested() { return g_requested.load(std::memory_order_relaxed); }
void ClearCheckpointRequest() { g_requested.store(false, std::memory_order_relaxed); }
void RequestCheckpoint() { g_requested.store(true, std::memory_order_relaxed); }

}  // namespace gpool::ckpt
