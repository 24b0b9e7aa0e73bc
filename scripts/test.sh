#!/usr/bin/env bash
# Installs dependencies, builds gpool twice (release; address+undefined sanitizers) and runs
# every test. The long trace reproductions (label "slow") run in the release build only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
ctest --test-dir build -j2 --output-on-failure
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGPOOL_SANITIZE=ON -DGPOOL_BUILD_BENCH=OFF
cmake --build build-asan -j2
ctest --test-dir build-asan -j2 --output-on-failure -LE slow
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz.sh
