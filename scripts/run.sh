#!/usr/bin/env bash
# Installs dependencies, builds gpool and runs its main job on the embedded defaults: `gpool up`,
# a pool on this machine (the server with its state in ~/.gpool/data, and one local agent whose
# GPUs are the NVIDIA GPUs NVML finds, or 8 SIMULATED H100s when there are none). Ctrl-C stops it.
# Arguments go to `gpool up` (see build/gpool up --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target gpool
cat <<'HINT'
gpool: starting the pool. In another terminal, from this folder:
  build/gpool submit examples/hello.yaml    # a real process on the pool
  build/gpool ps                            # its state
  build/gpool logs 1                        # its output (-f follows a running job)
  build/gpool top                           # the pool at a glance
HINT
exec build/gpool up "$@"
