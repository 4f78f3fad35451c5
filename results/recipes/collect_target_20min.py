"""Stack the history.csv of every target_20min.py run into target_20min_curves.csv (a row per epoch, with its recipe).

    python results/recipes/collect_target_20min.py RUNS_DIR      (default runs/target_20min)
"""
import sys
from pathlib import Path
import pandas as pd

HERE = Path(__file__).resolve().parent
runs = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/target_20min")
done = set(pd.read_csv(HERE / "target_20min.csv").recipe)
parts = [pd.read_csv(h).assign(recipe=h.parent.name) for h in sorted(runs.glob("*/history.csv")) if h.parent.name in done]
pd.concat(parts, ignore_index=True).to_csv(HERE / "target_20min_curves.csv", index=False)
print(f"{len(parts)} runs -> {HERE / 'target_20min_curves.csv'}")
