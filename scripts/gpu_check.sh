#!/usr/bin/env bash
# GPU readiness check, for a machine with NVIDIA GPUs and a pip-style CUDA
# libtorch 2.x (python3 -c 'import torch'), in at most 10 minutes (each step
# has its own time limit, STEP_LIMITS below; the script stops at the first
# step that fails or runs out of time, naming it):
#   1. build against that libtorch (its Torch config defines USE_C10D_NCCL,
#      which compiles the NCCL backend of src/dist/communicator.cpp);
#   2. the model tests on CUDA (and the CPU ones), the trainer test that
#      trains on the GPU;
#   3. data parallelism over the local GPUs with NCCL: test_dist's
#      DataParallelTest.EveryLocalGpuWithNccl runs `replay launch --nproc N
#      -- train <tiny config> --set device="cuda"` (N = 2, 4 or 8 GPUs, one
#      rank each on GPU LOCAL_RANK), checks that rank 0 reports the NCCL
#      all-reduce and compares the losses with one CPU process; skipped, and
#      said so, with fewer than 2 GPUs;
#   4. the 150m4k benchmark at sequence 4096 with bf16 compute (fp32
#      parameters), MFU against H100 dense bf16 peak 989 TFLOP/s (pass
#      another peak as $PEAK_TFLOPS). Its loss is the model's chunked LM-head
#      loss (ops::linear_cross_entropy through Llama::loss, GPU-sized chunks:
#      model/config.h loss_chunk_rows), never the [B, T, V] logits.
#   scripts/gpu_check.sh [BUILD_DIR]
# NOT YET RUN: no GPU was available to its authors, so neither this script
# nor the NCCL code it compiles has run anywhere yet (docs/distributed.md).
# Notes: pip wheels before torch 2.7 use the pre-C++11 ABI; TorchConfig then
# adds -D_GLIBCXX_USE_CXX11_ABI=0 and system GoogleTest/libraries compiled
# with the new ABI will not link. Use a cxx11-ABI libtorch in that case.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
PY=${PYTHON:-python3}
# Seconds per step; their sum is the 10-minute budget.
declare -A STEP_LIMITS=([build]=330 [model]=60 [trainer]=60 [data-parallel]=75 [benchmark]=75)
START=$SECONDS

# step NAME COMMAND...: runs COMMAND under NAME's limit, stops the script when it fails.
step() {
  local name=$1 limit=${STEP_LIMITS[$1]} t0=$SECONDS status=0
  shift
  echo "== $name (limit ${limit} s)"
  # bash -c: a step may be one of the functions below (exported).
  timeout --kill-after=10 "$limit" bash -c '"$@"' step "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "gpu_check: $name ran out of its ${limit} s" >&2
    echo "gpu_check: FAILED at $name (exit $status)" >&2
    exit 1
  fi
  echo "== $name: $((SECONDS - t0)) s"
}

build() {
  local prefix
  prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
  cmake --build "$BUILD" --target replay test_model test_train test_dist bench_model_train -j "$(nproc)"
  # The NCCL backend is compiled in only where the Torch config says the libtorch has it.
  grep -q -- '-DUSE_C10D_NCCL' "$BUILD/build.ninja" || { echo "gpu_check: this libtorch has no NCCL (USE_C10D_NCCL)" >&2; return 1; }
}

model_tests() {
  "$BUILD"/tests/model/test_model --gtest_filter='-Oracle.*:Threads.*'
  "$BUILD"/tests/model/test_model --gtest_filter='Llama.CudaMatchesCpuWhenAvailable'
}

export BUILD PY
export -f build model_tests
nvidia-smi -L
GPUS=$(nvidia-smi -L | wc -l)
step build build
step model model_tests
# The trainer on the GPU (device = "cuda"): 4 steps, losses close to the CPU's.
step trainer "$BUILD"/tests/train/test_train --gtest_filter='TrainerTest.Bf16ComputeAndCudaDevice'
if [ "$GPUS" -ge 2 ]; then
  step data-parallel "$BUILD"/tests/dist/test_dist --gtest_filter='DataParallelTest.EveryLocalGpuWithNccl'
else
  echo "== data-parallel: SKIPPED, $GPUS GPU (NCCL data parallelism needs 2 or more)"
fi
step benchmark "$BUILD"/bench/model/bench_model_train --preset 150m4k --device cuda --dtype bf16 \
  --batch "${BATCH:-8}" --seq 4096 --steps 10 --warmup 3 --peak-tflops "${PEAK_TFLOPS:-989}"
echo "gpu_check: all steps passed in $((SECONDS - START)) s"
