#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (address + undefined sanitizers) and runs each for
# FUZZ_SECONDS (default 30) from seeds: the job specs in examples/ for job_spec_fuzz, and
# fuzz/seeds/ckpt_manifest.json for ckpt_manifest_fuzz (the checkpoint manifest reader),
# fuzz/seeds/small.safetensors for safetensors_fuzz (safetensors import). A crash leaves its input in build-fuzz/
# and fails the script. Used by scripts/test.sh; run it longer by hand: FUZZ_SECONDS=600 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGPOOL_FUZZ=ON \
  -DGPOOL_BUILD_TESTS=OFF -DGPOOL_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j2 --target job_spec_fuzz ckpt_manifest_fuzz safetensors_fuzz
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
mkdir "$corpus/spec" "$corpus/manifest" "$corpus/safetensors"
cp examples/*.yaml "$corpus/spec"/
cp fuzz/seeds/ckpt_manifest.json "$corpus/manifest"/
cp fuzz/seeds/small.safetensors "$corpus/safetensors"/
(cd build-fuzz && ./job_spec_fuzz -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
  -print_final_stats=1 "$corpus/spec")
(cd build-fuzz && ./ckpt_manifest_fuzz -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
  -print_final_stats=1 "$corpus/manifest")
(cd build-fuzz && ./safetensors_fuzz -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
  -print_final_stats=1 "$corpus/safetensors")
