#!/bin/sh
# The whole checkpoint benchmark in one command (docs/benchmarks.md §7): trains the small model
# whose weights the compression part reads (once: kept in DIR/weights, ~2 min on 2 cores), then
# runs ckpt_bench on DIR with the torch peer and those weights.
#
# usage: bench/ckpt_bench.sh [ckpt_bench flags...]
#   BUILD (default build) holds ckpt_bench: cmake --build build --target ckpt_bench
#   DIR (default ${TMPDIR:-/tmp}/ckpt-bench) is where every tool writes; its filesystem is measured
#   PYTHON (default /usr/bin/python3) must have torch and numpy (Debian: python3-torch)
# e.g. bench/ckpt_bench.sh --bytes 1GiB --runs 3 > out.md
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DIR=${DIR:-${TMPDIR:-/tmp}/ckpt-bench}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p "$DIR"
if [ ! -f "$DIR/weights/train.json" ]; then
  echo "[ckpt_bench.sh] training the small model into $DIR/weights" >&2
  "$PYTHON" bench/ckpt_torch_bench.py train --out "$DIR/weights"
fi
exec "$BUILD/ckpt_bench" --dir "$DIR" --weights "$DIR/weights" --python "$PYTHON" \
  --torch-script bench/ckpt_torch_bench.py "$@"
