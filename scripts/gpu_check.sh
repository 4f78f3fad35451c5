#!/bin/bash
# GPU readiness on one NVIDIA GPU, in under 10 minutes: the gpu-marked tests, a bf16 training step of every family,
# simulator throughput at a large batch, and timings to plan the full study presets (results/gpu/gpu_check.json).
# Usage (from the repository root, after `make install`):  bash scripts/gpu_check.sh
# On a machine with its own PyTorch and no .venv:  PY=python3 PYTHONPATH=$PWD bash scripts/gpu_check.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}  # tests/conftest.py hides the GPU from the CPU suite unless it is set
mkdir -p results/gpu
nvidia-smi | tee results/gpu/nvidia-smi.txt
"$PY" -m pytest -p no:xdist -o addopts="" -q -m gpu tests/test_gpu.py 2>&1 | tee results/gpu/pytest_gpu.txt || echo "gpu tests FAILED (see results/gpu/pytest_gpu.txt); timings follow"
"$PY" scripts/gpu_check.py 2>&1 | tee results/gpu/gpu_check.txt
echo "done: commit results/gpu/"
