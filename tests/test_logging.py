"""Opt-in logging end to end: a tiny `fit` with log='tensorboard' writes event files into the run folder that read back
as the history's numbers; log='wandb' in offline mode writes an offline run there (no account, no network)."""
import os
import pandas as pd
import pytest

from deeplense_nb.train import fit

TINY = dict(n_per_class=6, epochs=2, batch_size=6, model="lens_cnn_tiny", progress=False, test_fraction=0.2)


def test_tensorboard_events_read_back(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    fit(dict(TINY, out_dir=str(tmp_path / "run"), log="tensorboard"))
    ev = EventAccumulator(str(tmp_path / "run" / "tensorboard")); ev.Reload()
    h = pd.read_csv(tmp_path / "run" / "history.csv")
    for tag in ("train_loss", "val_loss", "val_auc_macro", "lr"):
        got = [(e.step, e.value) for e in ev.Scalars(tag)]
        assert [s for s, _ in got] == list(h.step), tag
        assert [v for _, v in got] == pytest.approx(list(h[tag]), rel=1e-6), tag


def test_wandb_offline_run(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline"); monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path)); monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "cache"))
    try: fit(dict(TINY, out_dir=str(tmp_path / "run"), log="wandb"))
    finally: wandb.finish()
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb")), os.listdir(tmp_path / "run")
