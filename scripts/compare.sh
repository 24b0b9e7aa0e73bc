#!/usr/bin/env bash
# Installs dependencies, builds gpool and runs the scheduler comparison on a real trace:
# the openb fill experiment (real Alibaba trace) for the six published policies and gpool,
# printing the comparison table and writing out/fill.svg and out/fill.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPOOL_BUILD_TESTS=OFF >/dev/null
cmake --build build -j2
exec build/gpool sim compare --out out "$@"
