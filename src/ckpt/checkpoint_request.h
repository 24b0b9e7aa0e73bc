// Checkpoint on request: the protocol between whoever wants a job to move (the gpool agent, an
// operator with `kill -USR1`) and the job's training loop. docs/checkpoint.md has the whole of it:
//
//   1. The job calls InstallCheckpointRequestHandler() once (SIGUSR1 by default).
//   2. Someone sends that signal. The handler only sets a flag (async-signal-safe).
//   3. At its next safe point (between steps) the training loop calls MaybeCheckpoint (see
//      checkpoint_writer.h), which sees the flag, saves synchronously, clears the flag and, if
//      the job asked for it, the job exits with kCheckpointedExitCode.
//   4. An agent that sees kCheckpointedExitCode knows the latest checkpoint is durable and
//      complete: the job can be restarted anywhere from it.
//
// Thread safety: the flag is a lock-free atomic; any thread may read or clear it.
#pragma once

#include <csignal>

#include "core/status.h"

namespace gpool::ckpt {

// "Checkpointed, ready to move": EX_TEMPFAIL of sysexits.h (a temporary failure: run me again
// later), which no shell, signal (128+n) or CUDA runtime failure produces.
inline constexpr int kCheckpointedExitCode = 75;

// Installs a handler for `signo` that records a checkpoint request. Replaces an earlier handler
// for that signal; calling it again is harmless. InvalidArgument for a signal that cannot be
// caught (SIGKILL, SIGSTOP) or is out of range; Unavailable if sigaction fails.
Status InstallCheckpointRequestHandler(int signo = SIGUSR1);

// True when a request arrived since the last ClearCheckpointRequest (or since the start).
bool CheckpointRequested();
void ClearCheckpointRequest();
// Records a request without a signal (tests, and code that decides to checkpoint by itself).
void RequestCheckpoint();

}  // namespace gpool::ckpt
