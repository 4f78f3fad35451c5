"""A retrained model against the shipped one it would replace, on the same fresh sets of the robustness grid.

    python results/robustness/compare.py REF NEW OUT.csv [--n-per-class N] [--threads T]

REF, NEW: shipped model names, run folders or .safetensors files. Writes robustness.compare's table (each point's
headline metric for both, NEW minus REF with a 95 % paired-bootstrap interval over the images) and the commit it ran on.
"""
import argparse, json, subprocess
from pathlib import Path
import torch
from deeplense_nb.robustness import compare

ap = argparse.ArgumentParser()
ap.add_argument("ref"); ap.add_argument("new"); ap.add_argument("out")
ap.add_argument("--n-per-class", type=int, default=200); ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args(); torch.set_num_threads(a.threads)
df = compare([a.ref, a.new], n_per_class=a.n_per_class, n_boot=1000)
out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True); df.to_csv(out, index=False)
git = lambda *c: subprocess.run(["git", *c], capture_output=True, text=True).stdout.strip()
out.with_suffix(".json").write_text(json.dumps(dict(ref=a.ref, new=a.new, n_per_class=a.n_per_class, commit=git("rev-parse", "HEAD"),
                                                   dirty=bool(git("status", "--porcelain", "--untracked-files=no"))), indent=1) + "\n")
print(df[["model", "label", "score", "diff", "diff_lo", "diff_hi", "significant"]].to_string(index=False))
