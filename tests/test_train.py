"""Training engine: config rules, the three tasks on simulated data, checkpoints that rebuild the model, the
benchmark, the papermill template's parameters (TrainConfig's own), and the template run through experiments.run
into a complete run folder."""
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import ROOT
from deeplense_nb.config import TrainConfig
from deeplense_nb.checkpoint import load_model, load_checkpoint
from deeplense_nb.train import fit, make_datasets
from deeplense_nb.benchmark import bench_train_step
from deeplense_nb.evaluate import evaluate
from deeplense_nb.data import simulate_dataset
from deeplense_nb.amp import MODES

TINY = dict(model="test_resnet", epochs=1, batch_size=8, progress=False)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    "A tiny simulated Model II set shared by the tests of this module."
    return simulate_dataset("model_ii", n_per_class=12, seed=0, out=tmp_path_factory.mktemp("data") / "sim", progress=False)


def test_config_rules(tmp_path):
    with pytest.raises(KeyError, match="did you mean 'batch_size'"): TrainConfig.from_dict(batchsize=3)
    with pytest.raises(TypeError, match="TrainConfig.epochs: cannot read .two. as int"): TrainConfig.from_dict(epochs="two")
    with pytest.raises(TypeError, match="expected bool"): TrainConfig.from_dict(tta=1)
    with pytest.raises(ValueError, match="val_fraction"): TrainConfig(val_fraction=0.0)
    p = tmp_path / "c.yaml"; p.write_text("lr: 1e-3\nepochs: 3\n")     # YAML reads 1e-3 as a string
    c = TrainConfig.from_yaml(p, seed=4)
    assert (c.lr, c.epochs, c.seed) == (1e-3, 3, 4)
    assert TrainConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("cfg", sorted([*(ROOT / "configs").glob("*.yaml"), *(ROOT / "configs" / "robust").glob("*.yaml")]), ids=lambda p: p.name)
def test_shipped_configs_are_valid(cfg):
    if cfg.name == "targets.yaml":  # the shipped models' targets, not a training config
        from deeplense_nb.robustness import load_targets
        assert load_targets(cfg); return
    TrainConfig.from_yaml(cfg)


def test_splits_are_disjoint_and_test_is_held_out(sim, tmp_path):
    ds = make_datasets(TrainConfig(data=str(sim), val_fraction=0.25, test_fraction=0.25, out_dir=str(tmp_path)))
    idx = {k: set(d.indices.tolist()) for k, d in ds.items()}
    assert not (idx["train"] & idx["val"]) and not (idx["train"] & idx["test"]) and not (idx["val"] & idx["test"])
    assert sum(map(len, idx.values())) == 36
    sep = make_datasets(TrainConfig(data=str(sim), test_data=str(sim), out_dir=str(tmp_path)))  # separate test folder
    assert len(sep["test"]) == 36 and len(sep["train"]) + len(sep["val"]) == 36


@pytest.mark.parametrize("task", ["classify", "binary", "regress"])
def test_fit_each_task_on_simulated_data(sim, tmp_path, task):
    m = fit(TrainConfig(data=str(sim), task=task, val_fraction=0.25, test_fraction=0.25, out_dir=str(tmp_path), **TINY))
    key = dict(classify="test_auc_macro", binary="test_auc", regress="test_mae_dex")[task]
    assert key in m and np.isfinite(m[key]) and m["steps"] >= 1
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved[key] == m[key] and saved["git_commit"] == m["git_commit"]
    _, meta = load_checkpoint(tmp_path / "checkpoints" / "best.safetensors")
    assert meta["task"] == task and meta["normalize"] == "minmax" and meta["img_size"] == 64
    assert any(k.startswith("val_") for k in meta)  # selected on validation
    if task == "regress": assert m["test_n"] == len(make_datasets(TrainConfig(data=str(sim), task="regress", val_fraction=0.25, test_fraction=0.25))["test"]) <= 3


def test_load_model_reproduces_the_metrics(sim, tmp_path):
    cfg = TrainConfig(data=str(sim), val_fraction=0.25, test_fraction=0.25, out_dir=str(tmp_path), **TINY)
    m = fit(cfg)
    model, cfg2 = load_model(tmp_path)
    assert cfg2.model == cfg.model and cfg2.img_size == 64
    again = evaluate(model, make_datasets(cfg)["test"], "classify", device="cpu")
    assert again["test_accuracy"] == m["test_accuracy"] and again["test_auc_macro"] == pytest.approx(m["test_auc_macro"])
    with pytest.raises(FileNotFoundError, match="no checkpoint"): load_model(tmp_path / "nothing")


def test_simulates_when_no_data_given(tmp_path):
    m = fit(TrainConfig(n_per_class=6, val_fraction=0.34, test_fraction=0.33, out_dir=str(tmp_path), **TINY))
    assert (tmp_path / "data" / "meta.json").exists() and m["test_n"] == 6


def test_bench_train_step_reports_a_ratio():
    b = bench_train_step(TrainConfig(model="test_resnet", img_size=32, batch_size=8, progress=False), steps=2, warmup=1)
    assert list(b.kind)[:3] == ["pipeline", "bare", "bare fp32"] and b.ratio[0] > 0
    assert b.kind[3].removeprefix("bare ") in MODES and b.amp_reason[3].startswith("probed")  # fp32 beside the probed mode


def test_bench_train_step_times_a_binned_regressor(tmp_path):
    "The bare steps feed log masses from the prior, which a binned head's loss needs (class indices would be outside its range)."
    d = simulate_dataset("model_ii", n_per_class=16, seed=0, out=tmp_path / "ax", classes=("axion",), progress=False)
    b = bench_train_step(TrainConfig(model="test_resnet", task="regress", regress_loss="bins", regress_bins=8, batch_size=8, progress=False),
                         steps=1, warmup=1, data=d, amp=False)
    assert list(b.kind) == ["pipeline", "bare"] and (b.images_per_s > 0).all()


def test_template_parameters_are_trainconfig():
    "The template's parameters cell is TrainConfig's fields with their defaults and comments: one source of run defaults."
    from deeplense_nb.config import parameters_cell
    from deeplense_nb.experiments import template_parameters
    t = ROOT / "nbs" / "experiments" / "train.ipynb"
    cell = next(c for c in json.loads(t.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
    assert template_parameters(t) == TrainConfig().to_dict(), "the template's defaults differ from TrainConfig's"
    assert "".join(cell["source"]) == parameters_cell(), \
        "nbs/experiments/train.ipynb's parameters cell is behind TrainConfig: run deeplense_nb.experiments.write_parameters()"


def test_train_keeps_its_old_names():
    "Names that moved out of train (config, checkpoint, augment) still import from there."
    from deeplense_nb import train, config, checkpoint, augment
    assert train.TrainConfig is config.TrainConfig and train.build_model is config.build_model and train.TASKS is config.TASKS
    assert train.load_model is checkpoint.load_model and train.save_checkpoint is checkpoint.save_checkpoint
    assert train.Resize is augment.Resize and train.task_classes is config.task_classes


@pytest.mark.slow
def test_template_runs_into_a_run_folder(tmp_path, sim):
    from deeplense_nb.experiments import run, collect_runs
    d = run("nbs/experiments/train.ipynb", "tiny", root=tmp_path, data=str(sim), model="test_resnet", epochs=1, batch_size=8, progress=False)
    files = {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}
    assert {"params.yaml", "notebook.ipynb", "metrics.json", "history.csv", "config.json", "checkpoints/best.safetensors",
            "checkpoints/last.safetensors", "figures/test_roc.png", "figures/test_confusion.png"} <= files
    params = yaml.safe_load((d / "params.yaml").read_text())
    assert params["model"] == "test_resnet" and params["out_dir"] == str(d) and "lr" in params
    with pytest.raises(FileExistsError): run("nbs/experiments/train.ipynb", "tiny", root=tmp_path)
    df = collect_runs(tmp_path)
    assert list(df.index) == ["tiny"] and df.loc["tiny", "status"] == "complete" and 0 <= df.loc["tiny", "test_accuracy"] <= 1


def test_init_starts_from_trained_weights(sim, tmp_path):
    "A run with `init` starts from another run's best weights (fine-tuning); a head of another shape starts fresh, another body is refused."
    from deeplense_nb.train import _setup, make_datasets
    a = TrainConfig(data=str(sim), out_dir=str(tmp_path / "a"), seed=1, **TINY); fit(a)
    best = load_checkpoint(tmp_path / "a" / "checkpoints" / "best.safetensors")[0]
    b = TrainConfig(data=str(sim), out_dir=str(tmp_path / "b"), seed=2, init=str(tmp_path / "a"), **TINY)
    r = _setup(b)
    assert all(torch.equal(best[k], v) for k, v in r.model.state_dict().items())
    fresh = _setup(b.replace(init="", out_dir=str(tmp_path / "c")))
    assert not all(torch.equal(best[k], v) for k, v in fresh.model.state_dict().items())
    fit(b)  # and it trains on from there
    assert json.loads((tmp_path / "b" / "config.json").read_text())["init"] == str(tmp_path / "a")
    with pytest.warns(UserWarning, match="starts fresh"):  # another task: the body transfers, the head starts fresh
        r = _setup(b.replace(task="binary", out_dir=str(tmp_path / "d")))
    head = {k for k in best if k.startswith("fc.")}
    assert head and all(torch.equal(best[k], v) for k, v in r.model.state_dict().items() if k not in head)
    with pytest.raises(ValueError, match="does not fit"):
        _setup(b.replace(model="lens_cnn_tiny", out_dir=str(tmp_path / "e")))


def test_sim_set_randomises_the_data_a_run_simulates(sim, tmp_path):
    "`sim_set` passes LensConfig overrides (domain randomisation) to the data a run simulates itself; bad ones stop early."
    cfg = TrainConfig(sim_set="exposure_scale_range=(0.5, 2); psf_fwhm_range=(0.9, 1.1)", n_per_class=8,
                      val_fraction=0.25, test_fraction=0.25, out_dir=str(tmp_path / "r"))
    make_datasets(cfg)
    labels = pd.read_csv(tmp_path / "r" / "data" / "labels.csv")
    assert labels.exposure_scale.between(0.5, 2).all() and labels.exposure_scale.nunique() == len(labels)
    assert "exposure_scale" not in pd.read_csv(sim / "labels.csv").columns      # off by default
    with pytest.raises(ValueError, match="did you mean 'exposure_scale_range'"): TrainConfig(sim_set="exposure_scale=(1, 2)")
    with pytest.raises(ValueError, match="with data="): TrainConfig(sim_set="noise=false", data=str(tmp_path))
    with pytest.raises(ValueError, match="field=value"): TrainConfig(sim_set="noise")


def test_amp_probe_is_recorded_and_a_resumed_run_keeps_its_mode(sim, tmp_path, monkeypatch):
    "amp='probe' measures the modes and metrics.json says which it chose; a channels_last run trains, and resumes in that mode."
    monkeypatch.setenv("DEEPLENSE_NB_CACHE", str(tmp_path/"cache"))
    kw = dict(data=str(sim), val_fraction=0.25, test_fraction=0.25, **TINY)
    m = fit(TrainConfig(out_dir=str(tmp_path/"probe"), amp="probe", **kw))
    saved = json.loads((tmp_path/"probe"/"metrics.json").read_text())
    assert saved["amp_mode"] == m["amp_mode"] in MODES and saved["amp_reason"].startswith("probed")
    assert set(saved["amp_probe"]) == set(MODES) and saved["amp_probe"]["fp32"]["speedup"] == 1.0
    assert json.loads((tmp_path/"cache"/"amp_probe.json").read_text()), "the probe is cached"
    assert fit(TrainConfig(out_dir=str(tmp_path/"short"), **kw))["amp_mode"] == "fp32"  # 'auto': a short run is not probed

    import deeplense_nb.amp as amp  # run_amp (what fit calls) asks amp.choose_amp
    monkeypatch.setattr(amp, "choose_amp", lambda *a, **k: dict(mode="fp32+cl", reason="forced by the test"))
    two = dict(kw, epochs=2)
    m = fit(TrainConfig(out_dir=str(tmp_path/"cl"), max_steps=2, **two))  # stops after 2 steps, then resumes
    assert m["amp_mode"] == "fp32+cl"
    monkeypatch.setattr(amp, "choose_amp", lambda *a, **k: dict(mode="fp32", reason="a new probe"))
    m2 = fit(TrainConfig(out_dir=str(tmp_path/"cl"), resume=True, **two))
    assert m2["amp_mode"] == "fp32+cl" and m2["amp_reason"].startswith("resumed") and m2["steps"] > m["steps"]


def test_binned_regressor_learns_reloads_and_predicts(tmp_path):
    "regress_loss='bins': a mass written into the image (the bright fraction of its columns) is learnt far below the prior's MAE (0.5 dex), the run reloads with its 20 logits, and predict reads the posterior median."
    from deeplense_nb.evaluate import regress_out
    from deeplense_nb.pretrained import predict
    g = torch.Generator().manual_seed(0); n, s = 480, 16
    y = -24 + 2 * torch.rand(n, generator=g)
    x = torch.rand(n, 1, s, s, generator=g) * 0.2
    x += (torch.arange(s) < ((y + 24) / 2 * s).round()[:, None]).float()[:, None, None, :]  # the first k columns bright
    ds = torch.utils.data.TensorDataset(x, y)
    data = dict(train=torch.utils.data.Subset(ds, range(384)), val=torch.utils.data.Subset(ds, range(384, 432)),
                test=torch.utils.data.Subset(ds, range(432, n)))
    cfg = TrainConfig(task="regress", regress_loss="bins", regress_bins=20, lr=3e-3, augment="none", weight_decay=0.0,
                      out_dir=str(tmp_path), **dict(TINY, batch_size=32, epochs=6))
    m = fit(cfg, data)
    assert m["test_mae_dex"] < 0.25, m["test_mae_dex"]                  # the prior's median guess: 0.5
    model, cfg2 = load_model(tmp_path)
    assert cfg2.regress_loss == "bins" and model(x[:2]).shape == (2, 20)
    with torch.no_grad(): lm = regress_out(model.eval(), x[432:])
    assert ((lm >= -24) & (lm <= -22)).all() and float((lm - y[432:]).abs().mean()) == pytest.approx(m["test_mae_dex"], abs=1e-4)
    np.save(tmp_path / "img.npy", x[440, 0].numpy())
    row = predict(tmp_path / "img.npy", model=tmp_path, progress=False).iloc[0]
    assert -24 <= row.log10_axion_mass <= -22 and row.axion_mass == pytest.approx(10 ** row.log10_axion_mass)


def _line_images(n, s, g):
    "Images of a bright segment through the centre at a random angle θ, its length rising with a log mass in U(-24, -22)."
    y, th = -24 + 2 * torch.rand(n, generator=g), torch.pi * torch.rand(n, generator=g)
    c = torch.arange(s) - (s - 1) / 2
    yy, xx = torch.meshgrid(c, c, indexing="ij")   # x along columns, y along rows, as simulate.pixel_grid
    along = xx * th.cos()[:, None, None] + yy * th.sin()[:, None, None]
    across = -xx * th.sin()[:, None, None] + yy * th.cos()[:, None, None]
    half = s / 8 + (y + 24)[:, None, None] * s / 8
    x = ((-across ** 2).exp() * (along.abs() < half)).float()[:, None] + 0.05 * torch.rand(n, 1, s, s, generator=g)
    return x, y, torch.stack([torch.cos(2 * th), torch.sin(2 * th)], -1)


def test_vortex_angle_label_is_the_image_frame_angle():
    "The simulator draws the vortex's points at angle vortex_angle in the frame of pixel_grid (x along columns, y along rows), so the label's (cos 2θ, sin 2θ) is the orientation the pixels show, which d4_orientation turns as d4 turns the pixels (nbs/03_augment)."
    from deeplense_nb.simulate import get_config, sample_params, pixel_grid
    cfg = get_config("model_i")
    params, table, _ = sample_params(cfg, ["axion"] * 8, 0)
    px, py = pixel_grid(cfg)
    col = (params["sub_x"] - px[0, 0]) / (px[0, 1] - px[0, 0])  # each vortex point in (fractional) pixels, by the grid's own steps
    row = (params["sub_y"] - py[0, 0]) / (py[1, 0] - py[0, 0])
    a = torch.tensor(table.vortex_angle.to_numpy())
    for i in range(8):
        c, r = (col[i] - (cfg.npix - 1) / 2).double(), (row[i] - (cfg.npix - 1) / 2).double()
        v = torch.stack([(c ** 2 - r ** 2).sum(), (2 * c * r).sum()])
        assert torch.allclose(v / v.norm(), torch.stack([torch.cos(2 * a[i]), torch.sin(2 * a[i])]), atol=1e-3), i


def test_aux_target_learns_the_orientation_through_d4(tmp_path):
    "aux_target: an auxiliary head learns a line's orientation from D4-augmented images, which it can only do if the augmentation turns the target with the pixels; the model reloads with its aux_head and predicts as any regressor."
    from deeplense_nb.augment import d4, d4_orientation
    from deeplense_nb.config import AuxForward
    g = torch.Generator().manual_seed(0); n, s = 640, 24
    x, y, o = _line_images(n, s, g)
    train = torch.utils.data.TensorDataset(x[:512], torch.cat([y[:512, None], o[:512]], 1))   # (mass, cos 2θ, sin 2θ)
    val, test = (torch.utils.data.TensorDataset(x[a:b], y[a:b]) for a, b in ((512, 576), (576, n)))
    cfg = TrainConfig(task="regress", regress_loss="bins", regress_bins=10, aux_target="vortex_angle", aux_weight=1.0, lr=3e-3,
                      augment="d4", weight_decay=0.0, out_dir=str(tmp_path), **dict(TINY, batch_size=32, epochs=8))
    m = fit(cfg, dict(train=train, val=val, test=test))
    model, cfg2 = load_model(tmp_path)
    assert cfg2.aux_target == "vortex_angle" and model(x[:2]).shape == (2, 10) and hasattr(model, "aux_head")
    model.eval()
    with torch.no_grad():
        for k in range(8):   # every D4 element: the head reads the turned orientation
            pred = F.normalize(AuxForward(model)(d4(x[576:], k))[1], dim=-1)
            assert float((pred * d4_orientation(o[576:], k)).sum(-1).mean()) > 0.8, k
    assert m["test_mae_dex"] < 0.45, m["test_mae_dex"]                    # the mass is learnt beside it (the prior: 0.5)
    with pytest.raises(ValueError, match=r"targets \(B, 3\)"):              # mass-only targets for an aux run: said plainly
        fit(cfg.replace(out_dir=str(tmp_path / "b")), dict(train=val, val=val))


def test_aux_target_trains_on_simulated_data_and_benchmarks(tmp_path):
    "aux_target through make_datasets: the train split carries the labels' vortex angle, val and test only the mass; the benchmark times the same step."
    d = simulate_dataset("model_i", n_per_class=24, seed=0, out=tmp_path / "ax", classes=("axion",), progress=False)
    cfg = TrainConfig(data=str(d), task="regress", regress_loss="bins", regress_bins=8, aux_target="vortex_angle", img_size=32,
                      out_dir=str(tmp_path / "run"), **TINY)
    ds = make_datasets(cfg)
    assert ds["train"][0][1].shape == (3,) and ds["val"][0][1].shape == () and ds["test"][0][1].shape == ()
    m = fit(cfg)
    assert np.isfinite(m["test_mae_dex"]) and json.loads((tmp_path / "run" / "config.json").read_text())["aux_target"] == "vortex_angle"
    b = bench_train_step(cfg.replace(out_dir=str(tmp_path / "bench")), steps=1, warmup=1, data=d, amp=False)
    assert list(b.kind) == ["pipeline", "bare"] and (b.images_per_s > 0).all()
