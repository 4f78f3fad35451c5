"""The command line as a new user meets it: instant help with defaults, --version, --list-params, bench learn, predict on a data set folder."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from deeplense_nb import cli

EXE = Path(sys.executable).parent / "deeplense-nb"


def test_help_is_instant_and_imports_nothing_heavy():
    code = "import sys, time; t = time.time(); from deeplense_nb.cli import build_parser; build_parser().format_help(); " \
           "print(time.time() - t, 'torch' in sys.modules, 'timm' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False", "False"], out
    t = time.time(); r = subprocess.run([str(EXE), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "predict" in r.stdout and time.time() - t < 1.5, (time.time() - t, r.stderr)


def test_version_and_defaults_in_every_help(capsys):
    from deeplense_nb import __version__
    with pytest.raises(SystemExit) as e: cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"deeplense-nb {__version__}"
    p = cli.build_parser()
    for name, sub in p._subparsers._group_actions[0].choices.items():
        h = sub.format_help()
        for a in sub._actions:
            if a.option_strings and a.default not in (None, False, "==SUPPRESS==") and a.dest != "help":
                assert f"(default: {a.default})" in " ".join(h.split()), (name, a.dest)


def test_train_list_params(capsys):
    cli.main(["train", "--list-params"])
    lines = {l.split()[0]: l for l in capsys.readouterr().out.splitlines()}
    from deeplense_nb.config import TrainConfig  # the template's defaults are TrainConfig's
    assert "epochs" in lines and "passes over the training split" in lines["epochs"] and f" {TrainConfig().epochs} " in lines["epochs"]
    assert len(lines) > 30 and all(len(l.split()) >= 2 for l in lines.values())


def test_bench_learn_calls_the_learn_module(monkeypatch, tmp_path):
    import deeplense_nb.learn as learn
    got = {}
    monkeypatch.setattr(learn, "bench_learn", lambda **kw: got.update(kw))
    cli.main(["bench", "learn", "--models", "cnn_model_ii, resnet18", "--budget-min", "0.5", "--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")])
    assert got == dict(models=("cnn_model_ii", "resnet18"), budget_min=0.5, out=str(tmp_path / "o"), runs=str(tmp_path / "r"))
    cli.main(["bench", "learn"])
    assert got == dict(models=("vit_model_ii", "hybrid_model_ii", "cnn_model_ii", "resnet18"), budget_min=10.0,
                       out="results/benchmarks", runs="runs/bench_learn")
    with pytest.raises(SystemExit, match="--budget-min 0"): cli.main(["bench", "learn", "--budget-min", "0"])


def test_predict_reads_a_data_set_folder_and_fails_when_nothing_is_predicted(tmp_path):
    from deeplense_nb.data import simulate_dataset
    ds = simulate_dataset("model_ii", n_per_class=2, seed=7, out=tmp_path / "sim" / "model_ii", progress=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(EXE), "predict", str(ds), "--out", str(tmp_path / "p.csv"), "-q"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "6 images predicted" in r.stdout, r.stderr
    p = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(p["index"]) == list(range(6)) and set(p.label) == {"axion", "cdm", "no_sub"} and (p.error == "").all()
    (tmp_path / "empty").mkdir()
    r = subprocess.run([str(EXE), "predict", str(tmp_path / "empty"), str(tmp_path / "nope.npy"), "--out", str(tmp_path / "q.csv"), "-q"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "no image was predicted" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("code", [
    "import deeplense_nb, timm; m = timm.create_model('lens_vit_tiny')",
    "import timm, deeplense_nb; m = timm.create_model('lens_vit_tiny')",
    # timm imported first by a package module the models need (half-imported then): the first lookup registers them
    "from deeplense_nb.layers import pair; import timm; assert timm.is_model('lens_cnn_tiny'); m = timm.create_model('lens_vit_tiny')",
    "from deeplense_nb.layers import pair; import timm; assert len(timm.list_models('lens_*')) > 20; assert not hasattr(timm.create_model, '__wrapped__')",
])
def test_lens_models_are_in_timm_whatever_the_import_order(code):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-1500:]
