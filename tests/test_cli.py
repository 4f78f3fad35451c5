"""The `deeplense-nb` console script, run as a user runs it (a subprocess), on tiny settings."""
import os
import subprocess
import sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

EXE = str(Path(sys.executable).parent / "deeplense-nb")


def cli(*args, cwd=None, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)
    if check: assert r.returncode == 0, f"deeplense-nb {' '.join(map(str, args))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_simulate_shards_equal_one_run(tmp_path):
    kw = ["--config", "model_iii", "--n-per-class", "3", "--seed", "5", "--set", "npix=16", "-q"]
    cli("simulate", *kw, "--out", tmp_path / "one")
    for s in ("0/2", "1/2"): cli("simulate", *kw, "--out", tmp_path / "parts", "--shard", s)
    from deeplense_nb.data import open_dataset
    a, b = open_dataset(tmp_path / "one"), open_dataset(tmp_path / "parts")
    assert np.array_equal(np.asarray(a.images), np.asarray(b.images)) and len(a) == 9
    r = cli("simulate", *kw, "--out", tmp_path / "one", "--no-noise", check=False)  # other settings, same folder
    assert r.returncode != 0 and "other settings" in r.stderr


def test_simulate_bad_input_says_how_to_fix(tmp_path):
    r = cli("simulate", "--config", "nope", "--out", tmp_path, check=False)
    assert r.returncode != 0 and "choose one of" in r.stderr and "Traceback" not in r.stderr
    r = cli("simulate", "--set", "nonsense=1", "--out", tmp_path, check=False)
    assert r.returncode != 0 and "nonsense" in r.stderr and "Traceback" not in r.stderr


def test_import_reports_bad_files(tmp_path):
    from deeplense_nb.importer import make_fake_deeplense
    src = make_fake_deeplense(tmp_path / "src", n=2, size=8)
    (src / "train" / "cdm" / "broken.npy").write_bytes(b"\x93NUMPY junk")
    r = cli("import-deeplense", src, tmp_path / "dst", "-q")
    rep = pd.read_csv(tmp_path / "dst" / "report.csv")
    assert list(rep.path.map(lambda p: Path(p).name)) == ["broken.npy"]
    from deeplense_nb.data import open_dataset
    assert len(open_dataset(tmp_path / "dst")) == 18 and "18" in r.stdout


def test_quickstart_trains_evaluates_and_explores(tmp_path):
    r = cli("quickstart", "--out", tmp_path / "runs" / "quickstart", "--n-per-class", "20", "--epochs", "1", "-q")
    d = tmp_path / "runs" / "quickstart"
    assert "test_auc_macro" in r.stdout and str(d) in r.stdout
    for f in ["metrics.json", "notebook.ipynb", "params.yaml", "history.csv", "checkpoints/best.safetensors",
              "figures/test_roc.png", "eda/figures/gallery.png", "eda/notebook.ipynb"]:
        assert (d / f).exists(), f


def test_train_then_predict_npy_and_fits(tmp_path):
    run = tmp_path / "mine"  # an explicit out_dir is the run folder: metrics, notebook and the printed path
    r = cli("train", "--root", tmp_path / "runs", "--name", "tiny", "-q", "n_per_class=6", "epochs=1", "batch_size=6",
            "model=lens_cnn_tiny", "val_fraction=0.2", "test_fraction=0.2", "progress=false",   # a parameter named like run()'s own
            f"out_dir={run}")
    assert f"run folder: {run.resolve()}" in r.stdout and (run / "notebook.ipynb").exists() and not (tmp_path / "runs" / "tiny").exists()
    from deeplense_nb.simulate import simulate_batch
    from astropy.io import fits
    x, _ = simulate_batch("model_ii", ["axion", "no_sub"], seed=7)
    imgs = tmp_path / "imgs"; imgs.mkdir()
    np.save(imgs / "a.npy", x[0, 0].numpy()); fits.PrimaryHDU(x[1, 0].numpy()).writeto(imgs / "b.fits")
    cli("predict", imgs, "--model", run, "--out", tmp_path / "preds.csv", "-q")
    p = pd.read_csv(tmp_path / "preds.csv", keep_default_na=False)
    assert list(p.path.map(lambda s: Path(s).name)) == ["a.npy", "b.fits"]
    assert np.allclose(p[["p_axion", "p_cdm", "p_no_sub"]].sum(1), 1, atol=1e-5) and (p.error == "").all()


def test_train_config_reads_relative_data_from_the_callers_folder(tmp_path):
    # the notebook runs inside its run folder; a config's `data: data/sim/x` must still mean the caller's folder
    cli("simulate", "--config", "model_iii", "--n-per-class", "5", "--set", "npix=16", "--out", tmp_path / "data" / "mine", "-q")
    (tmp_path / "cfg.yaml").write_text("data: data/mine\nepochs: 1\nbatch_size: 5\nval_fraction: 0.2\ntest_fraction: 0.2\n")
    r = cli("train", "--config", "cfg.yaml", "-q", "out_dir=run", cwd=tmp_path)
    import yaml
    assert yaml.safe_load((tmp_path / "run" / "params.yaml").read_text())["data"] == str((tmp_path / "data" / "mine").resolve())
    assert "test_auc_macro" in r.stdout and not (tmp_path / "run" / "data").exists()


def test_bench_read_writes_its_rows_and_provenance(tmp_path):
    cli("bench", "read", "--threads", "1", "--out", tmp_path)
    df = pd.read_csv(tmp_path / "read.csv")
    assert df.method[0] == "per-file np.load" and "DataLoader (LensDataset)" in set(df.method) and (df.threads == 1).all()
    assert (df.speedup[1:] > 1).all()  # every memmapped way beats one np.load per image
    import json
    prov = json.loads((tmp_path / "read_provenance.json").read_text())
    assert prov["threads"] == [1] and prov["git_commit"] and prov["cpu"]
    r = cli("bench", "read", "--threads", "0", "--out", tmp_path, check=False)
    assert r.returncode != 0 and "--threads" in r.stderr
