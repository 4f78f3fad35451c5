"""deeplense_nb.benchmark: quick-mode table, files, sane numbers, and failures recorded as rows (not crashes)."""
import json
import math

import pandas as pd
import pytest
import torch
import torch.nn as nn

import deeplense_nb.benchmark as bm

NUMERIC = ["params", "gflops", *(f"{m}_{k}" for m in ("train", "infer") for k in ("img_s", "ms", "steps", "peak_MB", "mfu"))]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    df = bm.bench_models(["lens_cnn_tiny", "lens_mixer_tiny"], sizes=(64,), batch_sizes=(2, 8), device="cpu",
                         out=out, quick=True, progress=False)
    return df, out


def test_columns_and_rows(table):
    df, _ = table
    assert list(df.columns) == bm.COLUMNS
    assert len(df) == 4 and set(df.model) == {"lens_cnn_tiny", "lens_mixer_tiny"}
    assert sorted(df.batch_size.unique()) == [2, 8] and (df.img_size == 64).all()
    assert (df.error == "").all(), df.error.tolist()


def test_numbers_positive_finite(table):
    df, _ = table
    for c in NUMERIC:
        v = df[c].astype(float)
        assert (v > 0).all() and v.map(math.isfinite).all(), (c, v.tolist())
    assert ((df.train_mfu > 0) & (df.train_mfu < 1.5)).all(), df.train_mfu.tolist()
    assert ((df.infer_mfu > 0) & (df.infer_mfu < 1.5)).all(), df.infer_mfu.tolist()
    # the params/FLOPs come from the model zoo's own counters
    from deeplense_nb.models import create
    from deeplense_nb.models.measure import count_params
    assert df[df.model == "lens_cnn_tiny"].params.iloc[0] == count_params(create("lens_cnn_tiny"))
    # training needs at least the gradients + AdamW state on top of inference
    assert (df.train_peak_MB > df.infer_peak_MB).all()


def test_files_written(table):
    df, out = table
    names = sorted(p.name for p in out.iterdir())
    assert names == ["mfu.png", "models.csv", "peak_memory.png", "provenance.json", "throughput_vs_params.png"]
    back = pd.read_csv(out / "models.csv")
    assert list(back.columns) == bm.COLUMNS and len(back) == len(df)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["matmul_peak_flops"] > 0 and prov["device"] == "cpu" and prov["settings"]["quick"] is True
    assert {"git_commit", "torch_version", "load_avg_start", "load_avg_end", "threads"} <= set(prov)


class _OOM(nn.Module):
    "Runs at batch 1, fails like a full GPU above."
    def __init__(self):
        super().__init__(); self.fc = nn.Linear(64 * 64, 3)

    def forward(self, x):
        if x.shape[0] > 1: raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.fc(x.flatten(1))


def test_oom_recorded_as_error_row():
    rows = bm.bench_model(_OOM(), 64, batch_sizes=(1, 4), device="cpu", steps=2, peak=1e10)
    assert rows[0]["error"] == "" and rows[0]["train_img_s"] > 0
    assert "train: RuntimeError: CUDA out of memory" in rows[1]["error"] and "infer: RuntimeError" in rows[1]["error"]
    assert "train_img_s" not in rows[1] and rows[1]["params"] == 64 * 64 * 3 + 3


def test_bench_models_skips_failures(monkeypatch, tmp_path):
    real = bm.create

    def fake_create(name, **kw):
        if name == "broken": raise RuntimeError("out of memory")
        return _OOM() if name == "oom" else real(name, **kw)

    monkeypatch.setattr(bm, "create", fake_create)
    df = bm.bench_models(["broken", "oom", "lens_cnn_tiny"], sizes=(64,), batch_sizes=(1, 2), device="cpu",
                         out=tmp_path, quick=True, progress=False)
    assert len(df) == 6 and list(df.columns) == bm.COLUMNS
    err = dict(zip(zip(df.model, df.batch_size), df.error))
    assert err["broken", 1].startswith("create: RuntimeError: out of memory") and err["broken", 2].startswith("create:")
    assert err["oom", 1] == "" and "out of memory" in err["oom", 2]
    assert err["lens_cnn_tiny", 1] == err["lens_cnn_tiny", 2] == ""
    assert (tmp_path / "models.csv").exists() and (tmp_path / "mfu.png").exists()


def test_peak_memory_sees_allocation():
    with bm.PeakMemory("cpu") as pm:
        x = torch.ones(32, 2**20); import time; time.sleep(0.02); del x  # 128 MiB
    assert 110 < pm.peak / 2**20 < 150, pm.peak / 2**20


def test_time_steps_budget():
    assert len(bm.time_steps(lambda: None, steps=7, device="cpu")) == 7
    assert len(bm.time_steps(lambda: None, steps=7, max_time=0.0, device="cpu")) == 2


def test_all_failed_still_writes_csv(monkeypatch, tmp_path):
    monkeypatch.setattr(bm, "create", lambda name, **kw: (_ for _ in ()).throw(RuntimeError("out of memory")))
    df = bm.bench_models(["a", "b"], sizes=(64,), batch_sizes=(2,), device="cpu", out=tmp_path, quick=True, progress=False)
    assert len(df) == 2 and df.error.str.startswith("create: RuntimeError").all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models.csv", "provenance.json"]


def test_benchmarks_see_a_busy_machine():
    "A process spinning on a core is seen (busy cores, a warning before timing); the benchmark tables record the load."
    import subprocess, sys, time, warnings
    from deeplense_nb.core import machine_load, warn_if_busy
    from deeplense_nb.data import bench_read
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert machine_load(0.5)["busy_cores"] >= 0.7
        with pytest.warns(RuntimeWarning, match="cores busy"): warn_if_busy("bench x", limit=0.5)
        with pytest.warns(RuntimeWarning, match="bench read"): df = bench_read(n=64, size=8, batch_size=16, repeat=2, progress=False)
    finally: spin.kill(); spin.wait()
    assert {"load1", "busy_cores_before", "threads", "repeats"} <= set(df.columns) and (df.busy_cores_before >= 0.7).all()
    with warnings.catch_warnings(): warnings.simplefilter("error"); warn_if_busy("bench y", limit=machine_load(0.1)["cores"] + 1, sample_s=0.1)
