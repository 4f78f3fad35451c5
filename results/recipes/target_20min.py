"""Issue 12's 20-minute target: each Model-II recipe trained for a training-time budget on one thread, scored on a
freshly simulated test set (a seed never used in training); writes target_20min.csv (or --csv; a row per finished recipe).

    python results/recipes/target_20min.py [--budget-min 20] [RECIPE ...]   (one thread; ~budget + 2 min per recipe)
    python results/recipes/target_20min.py --budget-min 60 --target 0.95 --csv target_60min_model_i.csv vit_model_i
    python results/recipes/target_20min.py ... --set img_size=64 --set n_per_class=6000 --plan 0.95 --tag 64px vit_model_i

Epochs come from a short throughput probe (as `bench learn` does), planned at 80 % (--plan) of the probe's speed (a one-thread
run beside other work measured 0.82 of it), and `max_minutes` stops training before an epoch that would end past the
budget; the measured training minutes and the val minutes to 0.97 are recorded. Runs resume where they stopped.
"""
import argparse, json, math, subprocess, sys
from pathlib import Path
import pandas as pd, torch
from deeplense_nb.data import simulate_dataset, open_dataset
from deeplense_nb.learn import list_recipes, load_recipe, _images_per_s
from deeplense_nb.train import TrainConfig, fit
from deeplense_nb.learn import minutes_to

HERE = Path(__file__).resolve().parent
p = argparse.ArgumentParser(); p.add_argument("recipes", nargs="*"); p.add_argument("--budget-min", type=float, default=20.)
p.add_argument("--runs", default="runs/target_20min"); p.add_argument("--target", type=float, default=0.97)
p.add_argument("--csv", default="target_20min.csv")
p.add_argument("--set", action="append", default=[], help="KEY=VALUE over the recipe (YAML value), e.g. img_size=64")
p.add_argument("--plan", type=float, default=0.8, help="epochs planned at this fraction of the probe's speed")
p.add_argument("--tag", default="", help="appended to the recipe name in the csv and the run folder")
a = p.parse_args()
import yaml
sets = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in a.set)}
torch.set_num_threads(1)
runs = Path(a.runs); names = a.recipes or list_recipes("model_ii")
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE).stdout.strip()
out = HERE / a.csv
for name in names:
    rec = dict(load_recipe(name), **sets); label = f"{name}_{a.tag}" if a.tag else name
    train = simulate_dataset(rec["sim_config"], rec["n_per_class"], seed=0, out=runs / f"data_{rec['sim_config']}_{rec['n_per_class']}", progress=False)
    test = simulate_dataset(rec["sim_config"], 500, seed=20261202, out=runs / f"fresh_test_{rec['sim_config']}", progress=False)
    keep = {k: v for k, v in rec.items() if k not in ("data", "sim_config", "n_per_class", "sim_set", "test_data", "eval_data")}
    cfg = TrainConfig.from_dict(dict(keep, data=str(train), test_data=str(test), test_fraction=0.0, out_dir=str(runs / label), resume=True, progress=False))
    n_train = int(len(open_dataset(train)) * (1 - cfg.val_fraction)); side = int(open_dataset(train).images.shape[-1])
    ips = _images_per_s(cfg, cfg.img_size or side); epochs = max(1, int(a.plan * a.budget_min * 60 * ips / n_train))
    cfg = cfg.replace(epochs=epochs, warmup_epochs=min(cfg.warmup_epochs, epochs - 1), max_minutes=a.budget_min)
    print(f"{name}: {ips:.0f} img/s -> {epochs} epochs of {n_train}", flush=True)
    m = fit(cfg); h = pd.read_csv(runs / label / "history.csv")
    row = dict(recipe=label, model=cfg.model, model_args=cfg.model_args, img_size=cfg.img_size, n_per_class=rec["n_per_class"], epochs=epochs, epochs_run=len(h), budget_min=a.budget_min,
               train_minutes=h.seconds.sum() / 60, best_val_auc=float(h.val_auc_macro.max()),
               test_auc_macro=m["test_auc_macro"], test_no_tta_auc_macro=m.get("test_no_tta_auc_macro", m["test_auc_macro"]),
               n_test=1500, test_seed=20261202, threads=1, overrides=";".join(a.set), plan=a.plan, target=a.target, git_commit=commit)
    row[f"val_min_to_{a.target:g}".replace(".", "")] = minutes_to(h, (a.target,))[f"min_to_{a.target:g}"]
    row["meets_target"] = bool(row["test_auc_macro"] >= a.target and row["train_minutes"] <= a.budget_min)
    print(row, flush=True)
    df = pd.DataFrame([row])
    if out.exists(): old = pd.read_csv(out); df = pd.concat([old[old.recipe != label], df])
    df.to_csv(out, index=False)
