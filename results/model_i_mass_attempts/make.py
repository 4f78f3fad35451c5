"""Table and figure of the Model-I axion-mass runs tried for issue 5, read from their run folders (runs/ is not in git).

Run from the repository root: `.venv/bin/python results/model_i_mass_attempts/make.py`.
"""
from pathlib import Path
import numpy as np
import pandas as pd
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deeplense_nb.experiments import collect_runs
from deeplense_nb.information import mae_by_mass

OUT = Path("results/model_i_mass_attempts")
RUNS = {  # run folder: what it tried
    "pretrained/model_i_axion_mass_24k": "shipped: lens_cnn_tiny, 150 px resized to 64, minmax, 36 epochs",
    "probe/mi_r64_e14": "same recipe, 14 epochs (the reference for the 12-14 epoch variants)",
    "probe/mi_asinh_e12": "asinh stretch instead of minmax, 12 epochs",
    "probe/mi_crop80_init": "native 0.05 arcsec pixels: central 80 px crop, from the shipped weights, 12 epochs",
    "pretrained/model_i_axion_mass_ft": "noiseless pre-training (8 epochs) then 24 noisy epochs",
}
rows, bins = [], {}
table = collect_runs("runs")
for run, what in RUNS.items():
    if run not in table.index or table.status[run] != "complete": print(f"skip {run}: no metrics.json"); continue
    r, p = table.loc[run], pd.read_csv(Path("runs") / run / "predictions_test.csv")  # r: the run's params and metrics
    rows.append(dict(run=run, what=what, model=r["model"], img_size=r["img_size"], normalize=r["normalize"], epochs=r["epochs"],
                     init=r.get("init", ""), data=Path(str(r["data"])).name, val_mae_dex=r["val_mae_dex"], test_mae_dex=r["test_mae_dex"],
                     test_n=int(r["test_n"]), commit=r.get("git_commit", "")))
    bins[run] = mae_by_mass(p.target, p.pred)
floor = pd.read_csv("results/information/model_i/mae_by_mass.csv")
df = pd.DataFrame(rows); df.to_csv(OUT / "attempts.csv", index=False)
per_bin = pd.DataFrame({"mass": floor.mass, "best_estimator": floor.best_estimator, "best_nuisances_unknown": floor.best_nuisances_unknown,
                        **{run: b.mae.to_numpy() for run, b in bins.items()}})
per_bin.to_csv(OUT / "mae_by_mass.csv", index=False)
fig, ax = plt.subplots(figsize=(7, 4))
for run in bins: ax.plot(per_bin.mass, per_bin[run], "o-", ms=3, lw=1, label=f"{run.split('/')[-1]} (test {df.set_index('run').test_mae_dex[run]:.3f})")
ax.plot(per_bin.mass, per_bin.best_nuisances_unknown, "k--", label="best estimator, nuisances unknown")
ax.axhline(0.2, color="k", ls=":", lw=1, label="target 0.2 dex")
ax.set(xlabel="true log10 m_a [eV]", ylabel="test MAE [dex]", title="Model I axion mass: every recipe tried lands on the same curve")
ax.legend(fontsize=7); fig.tight_layout(); fig.savefig(OUT / "mae_by_mass.png", dpi=110)
print(df[["run", "val_mae_dex", "test_mae_dex"]].to_string(index=False))
