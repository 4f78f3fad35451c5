"""Shipped pre-trained models: each has a complete card whose numbers come from a recorded run, loads, and predicts
through the CLI on .npy and FITS images with its own preprocessing (counts and normalised copies agree)."""
import json
import os
import subprocess
import sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from deeplense_nb.pretrained import available, load, weights_dir

SHIPPED = list(available().name)
CARD_KEYS = {"name", "summary", "task", "model", "sim_config", "n_per_class", "data_seed", "seed", "epochs", "img_size",
             "normalize", "classes", "params", "run", "metrics", "provenance"}


def test_at_least_one_model_is_shipped():
    assert SHIPPED, f"no shipped weights in {weights_dir()}"


@pytest.mark.parametrize("name", SHIPPED)
def test_card_is_complete_and_recorded(name):
    card = json.loads((weights_dir() / f"{name}.json").read_text())
    assert CARD_KEYS <= set(card), CARD_KEYS - set(card)
    assert (weights_dir() / f"{name}.md").read_text().startswith(f"# {name}")
    fresh = [k for k in card["metrics"] if k.startswith("fresh_")]
    assert fresh and card["metrics"]["fresh_seed"] not in (card["seed"], card["data_seed"])
    rec = ROOT / "results" / "pretrained" / name  # the run's own files, committed as provenance
    metrics = json.loads((rec / "metrics.json").read_text())
    for k, v in card["metrics"].items():
        if k.startswith(("val_", "test_")): assert metrics[k] == v, k


@pytest.mark.parametrize("name", SHIPPED)
def test_predict_cli_on_npy_and_fits(name, tmp_path):
    from astropy.io import fits
    from deeplense_nb.simulate import simulate_batch
    from deeplense_nb.data import normalize_image
    model, card = load(name, device="cpu")
    labels = ["axion", "axion"] if card["task"] == "regress" else ["axion", "cdm"]
    x, _ = simulate_batch(card["config"]["sim_config"], labels, seed=4242)
    np.save(tmp_path / "a_counts.npy", x[0, 0].numpy())
    np.save(tmp_path / "a_norm.npy", normalize_image(x[0], "minmax")[0].numpy())
    fits.PrimaryHDU(x[1, 0].numpy()).writeto(tmp_path / "b.fits")
    exe = Path(sys.executable).parent / "deeplense-nb"
    r = subprocess.run([str(exe), "predict", str(tmp_path), "--model", name, "--out", str(tmp_path / "p.csv"), "-q"],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    p = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(p.path.map(lambda s: Path(s).name)) == ["a_counts.npy", "a_norm.npy", "b.fits"] and (p.error == "").all()
    cols = ["log10_axion_mass"] if card["task"] == "regress" else [f"p_{c}" for c in card["classes"]]
    v = p[cols].to_numpy(float)
    assert np.isfinite(v).all()
    np.testing.assert_allclose(v[0], v[1], atol=1e-4)  # counts vs normalised copy: same answer
    if card["task"] != "regress": np.testing.assert_allclose(v.sum(1), 1, atol=1e-5)
