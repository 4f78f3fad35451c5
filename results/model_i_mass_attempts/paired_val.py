"""Two runs on the same data, split and seed, set against each other on their shared validation images.

    python results/model_i_mass_attempts/paired_val.py REF_RUN NEW_RUN [SPLIT]

Each run's predictions_<split>.csv (written by train, TTA) must hold the same images in the same order (same targets).
Prints both MAEs and NEW minus REF with a 95 % paired bootstrap over the images (2,000 resamples, seed 0).
"""
import sys
from pathlib import Path
import numpy as np, pandas as pd

ref, new = (pd.read_csv(Path(r) / f"predictions_{sys.argv[3] if len(sys.argv) > 3 else 'val'}.csv") for r in sys.argv[1:3])
if len(ref) != len(new) or not np.allclose(ref.target, new.target): raise SystemExit("the two runs did not predict the same images")
a, b = (ref.pred - ref.target).abs().to_numpy(), (new.pred - new.target).abs().to_numpy()
idx = np.random.default_rng(0).integers(0, len(a), (2000, len(a)))
d = (b[idx] - a[idx]).mean(1)
print(f"n={len(a)}  ref {a.mean():.4f}  new {b.mean():.4f}  new-ref {b.mean() - a.mean():+.4f}  95% [{np.quantile(d, 0.025):+.4f}, {np.quantile(d, 0.975):+.4f}]")
