"""Shared pytest setup: CPU-only, one thread per xdist worker, headless matplotlib."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: keep each to one thread (also inherited by notebook kernels)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests are CPU-only by design

import torch  # noqa: E402
if os.environ.get("PYTEST_XDIST_WORKER"): torch.set_num_threads(1)
