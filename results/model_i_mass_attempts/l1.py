"""Issue 14's MAE-optimal lever for the Model-I axion mass: the shipped recipe trained with `regress_loss=l1` (the
posterior median instead of the mean), set against the shipped `model_i_axion_mass` (MSE) on one fresh set.

    python results/model_i_mass_attempts/l1.py RUN   (RUN: the L1 run folder; one thread)

The L1 run is results/pretrained/model_i_axion_mass/params.yaml with `regress_loss: l1` (same data, split, seed and
epochs). Both models predict the same fresh set (1,000 axion images, seed 20261123, the shipped card's fresh seed,
TTA); the MAE difference gets a paired bootstrap interval over images. Writes l1.csv beside this file.
"""
import json, subprocess, sys, tempfile
from pathlib import Path
import numpy as np, pandas as pd, torch
from deeplense_nb.pretrained import fresh_test

torch.set_num_threads(1)
HERE, run = Path(__file__).resolve().parent, Path(sys.argv[1])
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE).stdout.strip()
err = {}
with tempfile.TemporaryDirectory() as t:
    for name, model in (("mse_shipped", "model_i_axion_mass"), ("l1", str(run))):
        fresh_test(model, n_per_class=1000, seed=20261123, tta=True, progress=False, out_dir=Path(t) / name)
        p = pd.read_csv(Path(t) / name / "predictions_fresh.csv")
        err[name] = (p.pred - p.target).abs().to_numpy()
d = err["l1"] - err["mse_shipped"]
rng = np.random.default_rng(0)
boot = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(5000)])
m, h = json.loads((run / "metrics.json").read_text()), pd.read_csv(run / "history.csv")
row = dict(run=run.name, regress_loss="l1", epochs=len(h), train_minutes=round(h.seconds.sum() / 60, 1),
           val_mae_dex=m["val_mae_dex"], test_mae_dex=m["test_mae_dex"], fresh_mae_dex=err["l1"].mean(),
           shipped_fresh_mae_dex=err["mse_shipped"].mean(), fresh_diff_dex=d.mean(), fresh_diff_lo95=np.quantile(boot, 0.025),
           fresh_diff_hi95=np.quantile(boot, 0.975), fresh_n=len(d), git_commit=commit)
pd.DataFrame([row]).to_csv(HERE / "l1.csv", index=False)
print(json.dumps(row, default=float))
