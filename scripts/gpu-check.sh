#!/usr/bin/env bash
# Read-only checks on a lent NVIDIA GPU machine, results under $OUT (default out/gpu-check):
#   - what the driver reports (name, memory in MiB, compute capability, MIG mode), to check the
#     GPU catalog of src/core/gpu_model.cc;
#   - the MIG GPU-instance profiles and their possible placements (`nvidia-smi mig -lgip/-lgipp`,
#     listing only), to check src/core/mig_geometry.cc;
#   - SM count and memory through the CUDA runtime, when nvcc is there;
#   - the pool on the real GPU, when build/gpool is there (carried with the libraries it needs in
#     build/gpu-libs, see scripts/gpu-libs.sh): `gpool up` must find the GPU through NVML (not
#     simulated), and a job asking for one whole GPU must see exactly that GPU through CUDA.
# Never changes clocks, power, MIG mode or layout; creates no MIG instance.
set -u
OUT=${OUT:-out/gpu-check}
mkdir -p "$OUT"
run() { echo "\$ $*"; timeout 60 "$@" 2>&1; echo "(exit $?)"; }
{
  run nvidia-smi
  run nvidia-smi --query-gpu=index,name,memory.total,compute_cap,mig.mode.current,driver_version --format=csv
  run nvidia-smi mig -lgip
  run nvidia-smi mig -lgipp
  run nvidia-smi -q -d MEMORY
} > "$OUT/driver.txt"
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null | head -n 1)
if [ -n "$NVCC" ]; then
  cat > "$OUT/props.cu" <<'CU'
#include <cstdio>
#include <cuda_runtime.h>
int main() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) { std::printf("no CUDA device\n"); return 1; }
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, i);
    std::printf("device %d: %s, %d SMs, %zu MiB, cc %d.%d\n", i, p.name, p.multiProcessorCount,
                p.totalGlobalMem >> 20, p.major, p.minor);
  }
  return 0;
}
CU
  { "$NVCC" -o "$OUT/props" "$OUT/props.cu" && "$OUT/props"; } > "$OUT/cuda.txt" 2>&1
else
  echo "nvcc not found" > "$OUT/cuda.txt"
fi
if [ -x build/gpool ]; then
  export LD_LIBRARY_PATH="$PWD/build/gpu-libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  H=$(mktemp -d)
  PROPS=$(readlink -f "$OUT/props" || echo "$OUT/props")
  {
    HOME=$H build/gpool up --listen 127.0.0.1:18471 > "$OUT/pool-up.txt" 2>&1 &
    UP=$!
    for _ in $(seq 100); do grep -q "ready at" "$OUT/pool-up.txt" && break; sleep 0.2; done
    cat > "$H/gpu-job.yaml" <<YAML
name: cuda-props
command: ["sh", "-c", "echo CUDA_VISIBLE_DEVICES=\$CUDA_VISIBLE_DEVICES GPOOL_SLICE=\$GPOOL_SLICE GPOOL_SIMULATED=\$GPOOL_SIMULATED; $PROPS"]
resources: {cpu: 1, memory: 8Gi, gpus: 1}
YAML
    run env HOME="$H" build/gpool submit "$H/gpu-job.yaml"
    for _ in $(seq 100); do
      HOME=$H build/gpool ps | grep -qE "succeeded|failed" && break; sleep 0.2
    done
    run env HOME="$H" build/gpool ps
    run env HOME="$H" build/gpool logs 1
    run env HOME="$H" build/gpool logs 1 --stderr
    run env HOME="$H" build/gpool nodes
    run env HOME="$H" build/gpool top
    kill -INT $UP; wait $UP
    cat "$OUT/pool-up.txt"
  } > "$OUT/pool.txt" 2>&1
else
  echo "build/gpool not carried: no pool check" > "$OUT/pool.txt"
fi
cat "$OUT/driver.txt" "$OUT/cuda.txt" | head -c 6000
cat "$OUT/pool.txt" | head -c 5000
