#!/usr/bin/env bash
# Read-only checks on a lent NVIDIA GPU machine, results under $OUT (default out/gpu-check):
#   - what the driver reports (name, memory in MiB, compute capability, MIG mode), to check the
#     GPU catalog of src/core/gpu_model.cc;
#   - the MIG GPU-instance profiles and their possible placements (`nvidia-smi mig -lgip/-lgipp`,
#     listing only), to check src/core/mig_geometry.cc;
#   - SM count and memory through the CUDA runtime, when nvcc is there.
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
cat "$OUT/driver.txt" "$OUT/cuda.txt" | head -c 11000
