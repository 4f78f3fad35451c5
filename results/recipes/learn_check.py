"""The learnability check of tests/test_learn.py for every recipe, plus the plain ViT it replaced; writes learn_check.csv.

    python results/recipes/learn_check.py [CASE ...]     (one thread, ~6 min for all; named cases replace their rows)
"""
import math, subprocess, sys, tempfile
from pathlib import Path
import pandas as pd, torch
from deeplense_nb.data import simulate_dataset
from deeplense_nb.learn import learn_check, list_recipes, load_recipe
from deeplense_nb.train import TrainConfig

HERE = Path(__file__).resolve().parent
torch.set_num_threads(1)
small = simulate_dataset("model_ii", 200, seed=3, out=Path(tempfile.mkdtemp()) / "small", progress=False, npix=32, pixel_scale=0.202)
cases = {n: load_recipe(n) for n in list_recipes("model_ii")}
cases["vit_model_ii (plain: linear patches, no head norm, lr 5e-4)"] = dict(load_recipe("vit_model_ii"), model_args="", lr=5e-4)
cases["vit_model_ii (BN head only, linear patches)"] = dict(load_recipe("vit_model_ii"), model_args="head_norm=bn")
only = sys.argv[1:]
rows = []
for name, rec in cases.items():
    if only and name not in only: continue
    r = learn_check(TrainConfig.from_dict(rec), small)
    rows.append(dict(case=name, model=r["model"], model_args=r["model_args"], lr=rec["lr"], steps=r["steps"], first_loss=r["first_loss"],
                     final_loss=r["final_loss"], passed=r["passed"], seconds=r["seconds"]))
    print(rows[-1], flush=True)
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE).stdout.strip()
new = pd.DataFrame(rows).assign(git_commit=commit, ln3=math.log(3)); out = HERE / "learn_check.csv"
if only and out.exists(): old = pd.read_csv(out); new = pd.concat([old[~old.case.isin(only)], new]).set_index("case").loc[[c for c in cases if c in set(old.case) | set(only)]].reset_index()
new.to_csv(out, index=False)
