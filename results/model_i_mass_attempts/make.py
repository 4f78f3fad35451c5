"""Table and figure of the Model-I axion-mass runs tried for issues 5 and 14.

Run from the repository root: `.venv/bin/python results/model_i_mass_attempts/make.py`.

Each run is read from its committed record here (<folder>/metrics.json, config.json, predictions_test.csv) or, for the
issue-5 runs, from runs/ (not in git); a run found in neither keeps its row of attempts.csv and its column of
mae_by_mass.csv as they were, so nothing is lost on a fresh clone. Two panels: the issue-5 runs were tested on images
of the nominal instrument, the issue-14 runs on domain-randomised ones (exposure x0.15 to x6, PSF, source brightness,
10 % noiseless), so their curves are not on the same footing and are not drawn together.
"""
from pathlib import Path
import pandas as pd
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deeplense_nb.experiments import collect_runs
from deeplense_nb.information import mae_by_mass

OUT = Path("results/model_i_mass_attempts")
NOMINAL = {  # issue 5, in runs/: what it tried (test images of the nominal instrument)
    "pretrained/model_i_axion_mass_24k": "shipped: lens_cnn_tiny, 150 px resized to 64, minmax, 36 epochs",
    "probe/mi_r64_e14": "same recipe, 14 epochs (the reference for the 12-14 epoch variants)",
    "probe/mi_asinh_e12": "asinh stretch instead of minmax, 12 epochs",
    "probe/mi_crop80_init": "native 0.05 arcsec pixels: central 80 px crop, from the shipped weights, 12 epochs",
    "pretrained/model_i_axion_mass_ft": "noiseless pre-training (8 epochs) then 24 noisy epochs",
}
RANDOMISED = {  # issue 14, records here: what it tried (test images domain-randomised, each run's own split)
    "72k_ft": "v4 + 12 epochs on seed-4 images",
    "aux_72k_ft": "72k_ft with the auxiliary vortex-angle head",
    "96k_ft": "72k_ft + 12 epochs on seed-5 images",
    "96k_ft_96px": "96k_ft at 96 px instead of 64",
    "120k_ft": "shipped v5: 96k_ft + 12 epochs on seed-6 images",
    "scratch16": "16 epochs from random weights on seed-4 images",
    "scratch_aux16": "scratch16 with the auxiliary head",
    "v5_s8": "v5 + 6 epochs on 72,000 seed-8 images at 5e-4, EMA",
    "96px_s8": "96k_ft_96px + 6 epochs on 72,000 seed-8 images at 5e-4, EMA",
}
old = pd.read_csv(OUT / "attempts.csv").set_index("run") if (OUT / "attempts.csv").exists() else pd.DataFrame()
old_bins = pd.read_csv(OUT / "mae_by_mass.csv") if (OUT / "mae_by_mass.csv").exists() else pd.DataFrame()

tables = {root: collect_runs(root) for root in (OUT, Path("runs")) if root.exists()}  # each run's params and metrics

def record(run: str):  # (params and metrics, test predictions) of a complete run, from its record here or from runs/
    for root, t in tables.items():
        if run in t.index and t.status[run] == "complete" and (root / run / "predictions_test.csv").exists():
            return t.loc[run], pd.read_csv(root / run / "predictions_test.csv")
    return None

rows, bins = [], {}
for group, runs in (("nominal", NOMINAL), ("randomised", RANDOMISED)):
    for run, what in runs.items():
        rec = record(run)
        if rec is None:
            if run in old.index and run in old_bins:
                print(f"{run}: no record on this machine, its row and curve kept from attempts.csv")
                rows.append(old.loc[run].to_dict() | dict(run=run, test_images=group)); bins[run] = old_bins[run].to_numpy()
            else: print(f"skip {run}: no record")
            continue
        r, p = rec
        rows.append(dict(run=run, what=what, test_images=group, model=r["model"], img_size=r["img_size"], normalize=r["normalize"],
                         epochs=r["epochs"], init=r.get("init", ""), data=Path(str(r["data"])).name, val_mae_dex=r["val_mae_dex"],
                         test_mae_dex=r["test_mae_dex"], test_n=int(r["test_n"]), commit=r.get("git_commit", "")))
        bins[run] = mae_by_mass(p.target, p.pred).mae.to_numpy()
floor = pd.read_csv("results/information/model_i/mae_by_mass.csv")
df = pd.DataFrame(rows); df.to_csv(OUT / "attempts.csv", index=False)
per_bin = pd.DataFrame({"mass": floor.mass, "best_estimator": floor.best_estimator, "best_nuisances_unknown": floor.best_nuisances_unknown,
                        **bins})
per_bin.to_csv(OUT / "mae_by_mass.csv", index=False)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
test = df.set_index("run").test_mae_dex
for ax, (group, runs, title) in zip(axes, (("nominal", NOMINAL, "issue 5: nominal-instrument test images"),
                                          ("randomised", RANDOMISED, "issue 14: randomised test images"))):
    for run in runs:
        if run in bins: ax.plot(per_bin.mass, per_bin[run], "o-", ms=3, lw=2.2 if run == "120k_ft" else 1, label=f"{run.split('/')[-1]} (test {test[run]:.3f})")
    ax.plot(per_bin.mass, per_bin.best_nuisances_unknown, "k--", label="Fisher estimate, nuisances unknown")
    ax.axhline(0.25, color="k", ls=":", lw=1, label="issue-14 target 0.25 dex (overall)")
    ax.set(xlabel="true log10 m_a [eV]", title=title); ax.legend(fontsize=6.5)
axes[0].set_ylabel("test MAE per mass bin [dex]")
fig.suptitle("Model I axion mass: every recipe tried lands on the same curve", fontsize=11)
fig.tight_layout(); fig.savefig(OUT / "mae_by_mass.png", dpi=110)
print(df[["run", "test_images", "val_mae_dex", "test_mae_dex"]].to_string(index=False))
