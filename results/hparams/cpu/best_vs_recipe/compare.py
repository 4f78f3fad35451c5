"""The best hparams cpu trial (trial-0003) against the recipe's own setting (trial-0000, the enqueued point) on the
same 1,200 test images: test macro AUC of each, and a paired bootstrap of the difference over test images (2,000
resamples). This measures test-set sampling only: each trial is one training seed.

Run from the repository root: .venv/bin/python results/hparams/cpu/best_vs_recipe/compare.py"""
from pathlib import Path
import numpy as np, pandas as pd
from sklearn.metrics import roc_auc_score

here = Path(__file__).parent
a, b = (pd.read_csv(here/f"predictions_test_trial-{n}.csv") for n in ("0003", "0000"))
assert (a["target"].values == b["target"].values).all(), "the two trials were not tested on the same images"
y, pa, pb = a["target"].values, a.filter(like="p_").values, b.filter(like="p_").values
macro = lambda p, i: roc_auc_score(y[i], p[i], multi_class="ovr", average="macro")
idx = np.arange(len(y))
rng = np.random.default_rng(0)
diffs = []
for _ in range(2000):
    i = rng.integers(0, len(y), len(y))
    diffs.append(macro(pa, i) - macro(pb, i))
diffs = np.array(diffs)
row = dict(best="trial-0003", reference="trial-0000 (recipe setting)", n_test=len(y), auc_macro_best=macro(pa, idx),
           auc_macro_reference=macro(pb, idx), difference=macro(pa, idx) - macro(pb, idx),
           ci95_low=np.quantile(diffs, 0.025), ci95_high=np.quantile(diffs, 0.975), p_one_sided=float((diffs <= 0).mean()))
pd.DataFrame([row]).to_csv(here/"summary.csv", index=False)
print(pd.DataFrame([row]).T)
