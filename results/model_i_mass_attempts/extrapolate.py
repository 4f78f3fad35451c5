"""How far do more rounds on new images go? The nominal-point MAE of each round against the training images it has
seen, on one fixed fresh set, fitted with MAE(N) = a + b (N / 1e5)^-c; the asymptote a with a 95 % bootstrap interval
over the images, and the training images each fit needs to reach 0.25 dex (the power law; and a straight line in
log N, the optimistic reading, as the points bend away from it).

    python results/model_i_mass_attempts/extrapolate.py OUT_DIR [--threads T]

The set: the robustness grid's nominal point (seed 777003, 1,000 axion images, no TTA: the images and the numbers of
the compare_*_1000.csv tables). The models: v3 and v4 from git history (the shipped file at the commit that shipped
them), the later rounds from their run folders in runs/robust (train them from their configs first; a missing one is
named and left out). N counts distinct training images (80 % of each set; the rest were val/test). Writes
OUT_DIR/predictions.csv (every model's prediction per image), OUT_DIR/extrapolate.csv, .json (quantiles over the
bootstrap: 2.5 %, 50 %, 97.5 %; null: never reaches 0.25) and .png.
"""
import argparse, json, subprocess, tempfile, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
from scipy.optimize import curve_fit
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
from deeplense_nb.data import simulate_dataset, open_dataset
from deeplense_nb.pretrained import load, evaluate_card
from deeplense_nb.robustness import robustness_grid

W = "deeplense_nb/weights/model_i_axion_mass.safetensors"
MODELS = [  # label, source (git:REV = the shipped file at REV, else a run folder), distinct training images seen
    ("v3", "git:15408be", 19_200), ("v4", "git:373ceb3", 38_400),
    ("72k_ft", "runs/robust/cnn_model_i_mass_bins_72k_ft", 57_600), ("96k_ft", "runs/robust/cnn_model_i_mass_bins_96k_ft", 76_800),
    ("120k_ft (v5)", "runs/robust/cnn_model_i_mass_bins_120k_ft", 96_000), ("v5_s8", "runs/robust/cnn_model_i_mass_bins_v5_s8", 153_600)]
f = lambda n, a, b, c: a + b * (n / 1e5) ** -c
reach = lambda p, t=0.25: 1e5 * ((t - p[0]) / p[1]) ** (-1 / p[2]) if p[0] < t else np.inf  # N where the power law reaches t

def loglin(n, mae):  # MAE = alpha - beta log10 N: the straight line on the figure (optimistic: the points bend away from it)
    beta, alpha = np.polyfit(np.log10(n), mae, 1); return alpha, -beta

def fit(n, mae):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _ = curve_fit(f, n, mae, p0=(mae.min() - 0.005, 0.005, 1.0), bounds=((0, 0, 0.05), (1, 1, 5)), maxfev=20000)
    return p

ap = argparse.ArgumentParser(); ap.add_argument("out"); ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--n-boot", type=int, default=1000)
a = ap.parse_args(); torch.set_num_threads(a.threads)
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
git = lambda *c: subprocess.run(["git", *c], capture_output=True, text=True).stdout.strip()
nominal = next(p for p in robustness_grid("model_i") if p["label"] == "nominal")
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    data = open_dataset(simulate_dataset("model_i", n_per_class=1000, seed=777_003, out=tmp / "nominal", classes=("axion",),
                                         progress=False, **nominal["overrides"]))
    preds, rows = {}, []
    for label, source, n in MODELS:
        src = source
        if src.startswith("git:"):
            p = tmp / f"{label}.safetensors"
            p.write_bytes(subprocess.run(["git", "show", f"{src[4:]}:{W}"], capture_output=True, check=True).stdout); src = str(p)
        elif not Path(src, "checkpoints/best.safetensors").exists(): print(f"{label}: no run folder at {src}, left out"); continue
        net, card = load(src)
        evaluate_card(net, card, data, "r", out_dir=tmp / label)
        pr = pd.read_csv(tmp / label / "predictions_r.csv"); preds[label] = pr.pred.to_numpy(); y = pr.target.to_numpy()
        rows.append(dict(model=label, source=source, n_train=n, mae=float(np.abs(preds[label] - y).mean())))
df = pd.DataFrame(rows); pd.DataFrame(dict(target=y, **preds)).to_csv(out / "predictions.csv", index=False)
n, err = df.n_train.to_numpy(float), np.abs(np.stack([preds[m] for m in df.model]) - y)   # (models, images)
best = fit(n, df.mae.to_numpy())
rng, boot, lines = np.random.default_rng(0), [], []
for _ in range(a.n_boot):
    m = err[:, rng.integers(0, len(y), len(y))].mean(1); boot.append(fit(n, m)); lines.append(loglin(n, m))
boot, lines = np.array(boot), np.array(lines); lo, hi = np.quantile(boot[:, 0], [0.025, 0.975])
al, be = loglin(n, df.mae.to_numpy()); n_line = lambda al, be: 10 ** ((al - 0.25) / be) if be > 0 else np.inf
n_boot_pl, n_boot_line = np.array([reach(b) for b in boot]), np.array([n_line(*l) for l in lines])
qs = lambda v: [None if not np.isfinite(x) else float(x) for x in np.quantile(v, (0.025, 0.5, 0.975), method="nearest")]  # None: never
df["fit"] = f(n, *best); df.to_csv(out / "extrapolate.csv", index=False)
summary = dict(asymptote_dex=float(best[0]), asymptote_lo=float(lo), asymptote_hi=float(hi), b=float(best[1]), c=float(best[2]),
               boot_share_asymptote_below_0_25=float((boot[:, 0] <= 0.25).mean()), n_images=len(y), seed=777_003, tta=False,
               n_to_0_25=qs([reach(best)])[0], n_to_0_25_q=qs(n_boot_pl), share_never_0_25=float(np.isinf(n_boot_pl).mean()),
               line_dex_per_decade=float(be), line_dex_per_decade_q=[float(np.quantile(lines[:, 1], q)) for q in (0.025, 0.975)],
               line_n_to_0_25=qs([n_line(al, be)])[0], line_n_to_0_25_q=qs(n_boot_line),
               mae_at_1M=float(f(1e6, *best)), mae_at_10M=float(f(1e7, *best)), n_boot=a.n_boot,
               commit=git("rev-parse", "HEAD"), dirty=bool(git("status", "--porcelain", "--untracked-files=no")))
(out / "extrapolate.json").write_text(json.dumps(summary, indent=1) + "\n")
fig, ax = plt.subplots(figsize=(6, 4)); grid = np.geomspace(1.5e4, 1e7, 200)
ax.plot(df.n_train, df.mae, "o", label="nominal point, 1,000 fresh images")
for b in boot[:: max(1, len(boot) // 100)]: ax.plot(grid, f(grid, *b), color="C0", alpha=0.04)
ax.plot(grid, f(grid, *best), "C0-", label=f"a + b N^-c: a = {best[0]:.4f} [{lo:.4f}, {hi:.4f}]")
ax.plot(grid, al - be * np.log10(grid), "C1--", lw=1, label=f"straight line: {be:.4f} dex per decade")
ax.axhline(0.25, color="k", ls=":", label="target 0.25 dex"); ax.set(xscale="log", xlabel="distinct training images seen (N)", ylabel="MAE [dex]",
                                                                   title="model_i_axion_mass: rounds on new images")
for _, r in df.iterrows(): ax.annotate(r.model, (r.n_train, r.mae), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.legend(fontsize=7); fig.tight_layout(); fig.savefig(out / "extrapolate.png", dpi=110)
print(df.to_string(index=False)); print(json.dumps(summary, indent=1))
