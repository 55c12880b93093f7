#!/usr/bin/env bash
# GPU readiness check for the model (issue 3), for a machine with an NVIDIA
# GPU and a pip-style CUDA libtorch 2.x (python3 -c 'import torch'). Builds
# the model library, its tests and the training-step benchmark against that
# libtorch, runs the model tests (CUDA test included) and measures 150m4k at
# sequence 4096 with bf16 compute (fp32 parameters), MFU against H100 dense
# bf16 peak 989 TFLOP/s (pass another peak as $PEAK_TFLOPS). Also runs the
# trainer test that trains on the GPU.
#   scripts/gpu_check.sh [BUILD_DIR]
# Not yet run on a GPU by the model author (no GPU was available).
# Notes: pip wheels before torch 2.7 use the pre-C++11 ABI; TorchConfig then
# adds -D_GLIBCXX_USE_CXX11_ABI=0 and system GoogleTest/libraries compiled
# with the new ABI will not link. Use a cxx11-ABI libtorch in that case.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
PY=${PYTHON:-python3}
PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_CUDA_ARCHITECTURES=90
cmake --build "$BUILD" --target test_model test_train bench_model_train -j "$(nproc)"
"$BUILD"/tests/model/test_model --gtest_filter='-Oracle.*:Threads.*'
"$BUILD"/tests/model/test_model --gtest_filter='Llama.CudaMatchesCpuWhenAvailable'
# The trainer on the GPU (device = "cuda"): 4 steps, losses close to the CPU's.
"$BUILD"/tests/train/test_train --gtest_filter='TrainerTest.Bf16ComputeAndCudaDevice'
"$BUILD"/bench/model/bench_model_train --preset 150m4k --device cuda --dtype bf16 \
  --batch "${BATCH:-8}" --seq 4096 --steps 10 --warmup 3 --peak-tflops "${PEAK_TFLOPS:-989}"
