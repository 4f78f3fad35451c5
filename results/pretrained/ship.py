"""Ship a recipe run as a pre-trained model: weights + card (with fresh-set metrics) + the run's record in results/pretrained/NAME/.

    python results/pretrained/ship.py RUN_DIR NAME "WHAT IT IS" [--recipe configs/recipes/X.yaml] [--fresh-seed S] [--fresh-n N]

The card's summary is assembled from the run's own files (epochs, training minutes, threads) and the fresh-set
metrics, so no number in it is typed by hand. The fresh set is simulated with a seed the training never used.
"""
import argparse, json
from pathlib import Path
import pandas as pd, torch, yaml
from deeplense_nb.pretrained import ship, fresh_test

ap = argparse.ArgumentParser()
ap.add_argument("run"); ap.add_argument("name"); ap.add_argument("what")
ap.add_argument("--recipe", default=""); ap.add_argument("--fresh-seed", type=int, default=20261201)
ap.add_argument("--fresh-n", type=int, default=500); ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--machine", default="one thread, the other core busy with another job", help="how the CPU was shared while it trained")
a = ap.parse_args(); torch.set_num_threads(a.threads)
run, results = Path(a.run), Path(__file__).resolve().parent / a.name
h, m = pd.read_csv(run / "history.csv"), json.loads((run / "metrics.json").read_text())
ship(run, a.name, a.what)                                       # weights first, so fresh_test can load them by name
fresh = fresh_test(a.name, n_per_class=a.fresh_n, seed=a.fresh_seed, tta=True, progress=False, out_dir=results / "fresh")
key = next(k for k in ("fresh_auc_macro", "fresh_auc", "fresh_mae_dex") if k in fresh)   # 3-class, binary, regression
init = yaml.safe_load((run / "params.yaml").read_text()).get("init") or ""   # a fine-tuned run says from what
start = f"Fine-tuned from {Path(init).name}" if init else "Trained from scratch"
summary = (f"{a.what} {start}{' with ' + a.recipe if a.recipe else ''}: {len(h)} epochs, "
           f"{h.seconds.sum() / 60:.0f} min of training on this 2-core CPU ({a.machine}). "
           f"Fresh set ({a.fresh_n} per class, seed {a.fresh_seed}, TTA): {key.replace('fresh_', '')} {fresh[key]:.4f}"
           + (f", axion-vs-cdm AUC {fresh['fresh_auc_axion_vs_cdm']:.4f}" if "fresh_auc_axion_vs_cdm" in fresh else "")
           + f"; held-out test split: {key.replace('fresh_', 'test_')} {m.get(key.replace('fresh_', 'test_'), float('nan')):.4f}.")
ship(run, a.name, summary, fresh=fresh, results=results.parent)   # -> results/pretrained/NAME/
print(summary)
