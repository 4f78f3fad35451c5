"""Studies: every study file is well-formed, every tiny preset runs end to end (runs, runs.csv, provenance, results
notebook, figures), an interrupted grid resumes without rerunning complete runs, an Optuna study resumes from its
SQLite storage, and the training options the studies rely on (eval_data, prune_sparsities, model_args, img_size
resizing, Optuna reporting and pruning) do what they say."""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deeplense_nb.studies import list_studies, load_study, grid_runs, run_study, summarize, trials_to_study, describe
from deeplense_nb.train import TrainConfig, fit, load_checkpoint
from deeplense_nb.data import simulate_dataset

STUDIES = ["augmentation", "pos_embed", "architectures", "hparams", "pruning", "domain_shift"]


def test_the_six_studies_are_defined():
    assert sorted(list_studies()) == sorted(STUDIES)
    for name in STUDIES:
        st = load_study(name)
        assert {"tiny", "cpu", "full"} <= set(st["presets"]), name
        full = st["presets"]["full"]
        if "grid" in full: assert len(full["grid"]["seed"]) >= 3, f"{name}: the full preset needs >= 3 seeds"
        else: assert full["optuna"]["metric"].startswith("val_"), "the search objective must be a validation metric"


def test_bad_study_files_are_refused(tmp_path):
    p = tmp_path/"bad.yaml"
    p.write_text("template: nbs/experiments/train.ipynb\nresults: x.ipynb\npresets:\n  tiny: {params: {epochs: 1, lrr: 1}, grid: {seed: [0]}}\n")
    with pytest.raises(KeyError, match="lrr"): load_study(p)
    p.write_text("template: nbs/experiments/train.ipynb\nresults: x.ipynb\npresets:\n  tiny: {params: {epochs: 1}}\n")
    with pytest.raises(KeyError, match="exactly one of 'grid' or 'optuna'"): load_study(p)
    opt = "template: nbs/experiments/train.ipynb\nresults: x.ipynb\npresets:\n  tiny: {params: {epochs: 1}, optuna: {n_trials: 1, space: {lr: {float: [0.001, 0.01]}}, %s}}\n"
    p.write_text(opt % "n_trial: 2")
    with pytest.raises(KeyError, match="n_trial"): load_study(p)             # a misspelt Optuna setting is not ignored
    p.write_text(opt % "enqueue: [{lr: 0.1}]")
    with pytest.raises(ValueError, match="outside its search space"): load_study(p)
    p.write_text(opt % "enqueue: [{wd: 0.1}]")
    with pytest.raises(KeyError, match="wd"): load_study(p)
    with pytest.raises(KeyError, match="no preset 'huge'"): run_study("augmentation", "huge", root=tmp_path/"r", results=tmp_path/"res")


def _results_ok(out: Path, n_runs: int):
    runs = pd.read_csv(out/"runs.csv", index_col="run")
    assert (runs["status"] == "complete").sum() == n_runs == len(runs)
    prov = json.loads((out/"provenance.json").read_text())
    assert prov["failed"] == [] and prov["complete"] == n_runs and prov["git_commit"]
    nb = json.loads((out/"notebook.ipynb").read_text())
    assert not [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert list((out/"figures").glob("*.png")), "the results notebook should save its figures"
    return runs


@pytest.mark.parametrize("name", STUDIES)
def test_tiny_preset_runs(name, tmp_path):
    root, res = tmp_path/"runs", tmp_path/"results"
    pre = load_study(name)["presets"]["tiny"]
    if "optuna" in pre:  # two trials in an explicit SQLite file, then resume up to the preset's three
        db = f"sqlite:///{tmp_path/'hp.db'}"
        out = run_study(name, "tiny", root=root, results=res, storage=db, n_trials=2, progress=False)
        first = sorted((root/"studies"/name/"tiny").glob("trial-*/metrics.json"))
        assert len(first) == 2; stamp = [p.stat().st_mtime_ns for p in first]
        out = run_study(name, "tiny", root=root, results=res, storage=db, progress=False)
        assert [p.stat().st_mtime_ns for p in first] == stamp, "complete trials must not run again"
        trials = pd.read_csv(out/"trials.csv")
        assert len(trials) == 3 and set(trials["state"]) <= {"COMPLETE", "PRUNED"}
        for k, v in (pre["optuna"].get("enqueue") or [{}])[0].items():  # the enqueued point is trial 0, and only once
            assert trials.loc[0, f"params_{k}"] == v, (k, trials.loc[0, f"params_{k}"], v)
        assert len(trials_to_study(trials, pre["optuna"]["space"]).trials) == 3
        _results_ok(out, 3)
        return
    out = run_study(name, "tiny", root=root, results=res, progress=False)
    assert out == (res/name/"tiny").resolve()
    runs = _results_ok(out, len(grid_runs(pre)))
    if name == "augmentation":  # interrupt one run (no metrics.json) and resume: only that one runs again
        d = root/"studies"/name/"tiny"
        keep, redo = [d/n for n, _ in grid_runs(pre)]
        stamp = (keep/"metrics.json").stat().st_mtime_ns
        (redo/"metrics.json").unlink()
        run_study(name, "tiny", root=root, results=res, progress=False, run_missing=False)  # report what is there
        prov = json.loads((out/"provenance.json").read_text())
        assert (prov["complete"], prov["planned"]) == (1, 2) and not (redo/"metrics.json").exists()
        assert prov["report_only"] and prov["wall_seconds"] is None  # a report alone does not claim its runs' wall time
        assert "no wall time" in describe(name, "tiny", out)
        run_study(name, "tiny", root=root, results=res, progress=False)
        assert (keep/"metrics.json").stat().st_mtime_ns == stamp and (redo/"metrics.json").exists()
        assert {"test_auc_macro", "test_no_tta_auc_macro"} <= set(runs.columns)
        # a run folder deleted after its report: the report keeps the run (not run again) unless keep_reported=False
        import shutil; shutil.rmtree(keep)
        run_study(name, "tiny", root=root, results=res, progress=False)
        again = pd.read_csv(out/"runs.csv", index_col="run")
        assert not keep.exists() and len(again) == 2 and again.loc[keep.name, "reported_earlier"] and not again.loc[redo.name, "reported_earlier"]
        assert json.loads((out/"provenance.json").read_text())["reported_earlier"] == 1
        assert set(pd.read_csv(out/"curves.csv")["run"]) == {keep.name, redo.name}
        run_study(name, "tiny", root=root, results=res, progress=False, keep_reported=False)
        assert (keep/"metrics.json").exists() and "reported_earlier" not in pd.read_csv(out/"runs.csv").columns
    if name == "pruning": assert "test_sparsity0.9_auc_macro" in runs.columns
    if name == "domain_shift": assert {"eval_model_ii_auc_macro", "eval_model_iii_auc_macro"} <= set(runs.columns)


def test_summarize_says_when_a_difference_is_not_significant():
    df = pd.DataFrame(dict(g=["a"] * 3 + ["b"] * 3 + ["c"] * 3,
                           m=[.90, .91, .92, .60, .61, .62, .70, .93, .99]))
    s = summarize(df, "g", "m").set_index("g")
    assert s.loc["b", "vs_best"] == "worse (p < 0.05)" and s.loc["c", "vs_best"] == "not significant"
    assert s.loc["a", "vs_best"] == "best" and s.loc["a", "n"] == 3
    s = summarize(df, "g", "m", higher_is_better=False)
    assert s.iloc[0]["g"] == "b"


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    d = tmp_path_factory.mktemp("sets")
    a = simulate_dataset("model_ii", 12, seed=1, out=d/"ii", progress=False)
    b = simulate_dataset("model_iii", 6, seed=2, out=d/"iii", progress=False)
    return a, b


def test_extra_evaluations(tiny_sets, tmp_path):
    a, b = tiny_sets
    m = fit(TrainConfig(data=str(a), epochs=1, batch_size=8, val_fraction=0.25, test_fraction=0.25, tta=True,
                        eval_data=f"iii={b}", prune_sparsities="0.5,0.9", model_args="stem_width=16",
                        out_dir=str(tmp_path), progress=False))
    assert {"test_auc_macro", "test_no_tta_auc_macro", "eval_iii_auc_macro", "eval_iii_n"} <= set(m)
    assert m["eval_iii_n"] == 18 and m["pruned"] is False
    assert abs(m["test_sparsity0.9_reached"] - 0.9) < 0.01 and "test_sparsity0.5_auc_axion_vs_cdm" in m
    assert m["test_sparsity0.9_emptied"] == 0  # stem and head kept dense (prune_keep): no layer collapse


def test_img_size_resizes_the_data_and_the_shipped_model_does_the_same(tiny_sets, tmp_path):
    from deeplense_nb.pretrained import prepare, BadFile
    a, _ = tiny_sets
    fit(TrainConfig(data=str(a), img_size=32, epochs=1, batch_size=8, val_fraction=0.25, test_fraction=0.25,
                    out_dir=str(tmp_path), progress=False))
    meta = load_checkpoint(tmp_path/"checkpoints"/"best.safetensors")[1]
    assert (meta["img_size"], meta["data_img_size"]) == (32, 64)
    card = dict(img_size=32, data_img_size=64, normalize="minmax")
    x = np.random.default_rng(0).poisson(50, (64, 64)).astype(np.float32)
    assert prepare(x, card).shape == (1, 32, 32)                       # the model's own resizing
    with pytest.raises(BadFile, match="resize=True"): prepare(x[:48, :48], card)  # other sizes still need asking


def test_optuna_reporting_prunes_a_run(tiny_sets, tmp_path):
    import optuna
    a, _ = tiny_sets
    storage = f"sqlite:///{tmp_path/'s.db'}"
    st = optuna.create_study(study_name="t", storage=storage, direction="maximize",
                             pruner=optuna.pruners.ThresholdPruner(lower=1.01))  # an AUC is never above 1: always prune
    st.set_user_attr("pruner", dict(name="ThresholdPruner", kwargs=dict(lower=1.01)))  # what the run process rebuilds
    trial = st.ask()
    m = fit(TrainConfig(data=str(a), epochs=3, batch_size=8, val_fraction=0.25, test_fraction=0.25, out_dir=str(tmp_path/"run"),
                        progress=False, optuna_storage=storage, optuna_study="t", optuna_trial=trial._trial_id))
    assert m["pruned"] is True and m["epochs_run"] == 1
    assert optuna.load_study(study_name="t", storage=storage).trials[0].intermediate_values.keys() == {1}


def test_cli_lists_studies_and_rejects_unknown_ones():
    exe = [str(Path(sys.executable).parent/"deeplense-nb")]
    r = subprocess.run(exe + ["study", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and all(s in r.stdout for s in STUDIES)
    r = subprocess.run(exe + ["study", "nope"], capture_output=True, text=True)
    assert r.returncode != 0 and "shipped studies" in r.stderr


def test_kernel_sockets_stay_out_of_the_run_folder(tmp_path):
    "While the papermill kernel runs, its IPC socket files are not in the run folder (the notebook's cwd)."
    import nbformat
    from deeplense_nb.experiments import execute
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nseen = sorted(os.listdir('.'))\nassert not [f for f in seen if 'ipc' in f or f.startswith('kernel')], seen")])
    t = tmp_path / "t.ipynb"; nbformat.write(nb, t)
    execute(t, tmp_path / "run" / "notebook.ipynb", progress=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notebook.ipynb"]
