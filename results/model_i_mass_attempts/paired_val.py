"""Two runs on the same data, split and seed, set against each other on their shared validation images.

    python results/model_i_mass_attempts/paired_val.py REF_RUN NEW_RUN [SPLIT]

Each run's predictions_<split>.csv (written by train, TTA) must hold the same images in the same order (same targets).
Prints both MAEs and NEW minus REF with a 95 % paired bootstrap over the images (evaluate.paired_bootstrap, 2,000 resamples, seed 0).
"""
import sys
from pathlib import Path
import numpy as np, pandas as pd
from deeplense_nb.evaluate import paired_bootstrap

ref, new = (pd.read_csv(Path(r) / f"predictions_{sys.argv[3] if len(sys.argv) > 3 else 'val'}.csv") for r in sys.argv[1:3])
if len(ref) != len(new) or not np.allclose(ref.target, new.target): raise SystemExit("the two runs did not predict the same images")
r, n = paired_bootstrap([ref.pred.to_numpy(), new.pred.to_numpy()], ref.target.to_numpy(), task="regress", n_boot=2000, seed=0)
print(f"n={len(ref)}  ref {r['value']:.4f}  new {n['value']:.4f}  new-ref {n['diff']:+.4f}  95% [{n['diff_lo']:+.4f}, {n['diff_hi']:+.4f}]")
