"""The wheel works alone: built from this tree, installed into an empty folder with no checkout around, then
`study list`, a tiny `train`, a tiny `quickstart` and `predict` run from a folder that is not a checkout.
Dependencies come from this venv (PYTHONPATH puts the installed wheel first), so nothing is downloaded."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

PY = sys.executable
SHIP = ["settings.ini", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "constraints.txt", "deeplense_nb", "nbs/experiments",
        "nbs/explore/eda.ipynb", "configs"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for rel in SHIP:  # a copy, so the build leaves no build/ or *.egg-info in the checkout
        (ROOT / rel).is_dir() and shutil.copytree(ROOT / rel, src / rel, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        (ROOT / rel).is_file() and (src / rel).parent.mkdir(parents=True, exist_ok=True) is None and shutil.copy2(ROOT / rel, src / rel)
    pip = [PY, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    whl, = (tmp / "dist").glob("deeplense_nb-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(tmp / "site"), str(whl)], check=True, capture_output=True, timeout=300)
    work = tmp / "work"; work.mkdir()
    return dict(site=tmp / "site", work=work, whl=whl)


def run(inst, *args, code=None):
    env = {**os.environ, "PYTHONPATH": str(inst["site"]), "OMP_NUM_THREADS": "1", "PYTHONNOUSERSITE": "1"}
    cmd = [PY, "-c", code] if code else [str(inst["site"] / "bin" / "deeplense-nb"), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=inst["work"], env=env, timeout=900)


def test_wheel_holds_templates_and_configs(installed):
    import zipfile
    names = set(zipfile.ZipFile(installed["whl"]).namelist())
    for rel in ["nbs/experiments/train.ipynb", "nbs/explore/eda.ipynb", "nbs/experiments/studies/architectures.ipynb",
                "configs/quickstart.yaml", "configs/studies/architectures.yaml", "configs/robust/targets.yaml"]:
        assert f"deeplense_nb/assets/{rel}" in names, rel
    assert any(n.startswith("deeplense_nb/assets/configs/recipes/") for n in names) == any((ROOT / "configs" / "recipes").glob("*.yaml"))
    r = run(installed, code="import deeplense_nb, deeplense_nb.core as c, deeplense_nb.learn as l; print(deeplense_nb.__file__); "
                            "print(c.checkout_root()); print(l.recipes_dir().is_dir()); import deeplense_nb.robustness as r; "
                            "print('model_ii_classifier' in r.load_targets())")
    assert r.returncode == 0, r.stderr[-2000:]
    f, root, recipes, targets = r.stdout.split()
    assert f.startswith(str(installed["site"])) and root == "None" and recipes == "True" and targets == "True"  # cards get their targets


def test_study_list_train_quickstart_predict_from_the_wheel(installed):
    r = run(installed, "study", "list")
    assert r.returncode == 0 and "architectures" in r.stdout and "presets:" in r.stdout, r.stderr[-2000:]
    r = run(installed, "train", "epochs=2", "n_per_class=4", "batch_size=4", "--name", "tiny")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "epoch 1/2" in r.stdout and "epoch 2/2" in r.stdout and "img/s" in r.stdout, r.stdout  # the epoch lines reach the terminal
    assert "without encryption" not in r.stderr and "Warning" not in r.stderr.replace("Executing", ""), r.stderr[-2000:]
    run_dir = installed["work"] / "runs" / "tiny"
    assert (run_dir / "figures" / "learning_curve.png").stat().st_size > 1000
    r = run(installed, "quickstart", "--out", "runs/qs", "--n-per-class", "10", "--epochs", "1", "-q")
    assert r.returncode == 0 and "quickstart done" in r.stdout, r.stderr[-3000:]
    assert (installed["work"] / "runs" / "qs" / "eda" / "figures" / "gallery.png").exists()
    r = run(installed, "predict", "runs/qs/data", "--model", "runs/qs", "--out", "preds.csv", "-q")
    assert r.returncode == 0 and "30 images predicted" in r.stdout, r.stderr[-2000:]
    p = pd.read_csv(installed["work"] / "preds.csv", keep_default_na=False)
    assert len(p) == 30 and (p.error == "").all()
    assert sorted(os.listdir(installed["work"])) == ["preds.csv", "runs"]  # nothing written anywhere else
