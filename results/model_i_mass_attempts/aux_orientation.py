"""How well the auxiliary head of an aux_target='vortex_angle' run reads the vortex's orientation on its held-out test split.

    python results/model_i_mass_attempts/aux_orientation.py RUN OUT.csv [--threads T]

For every test image (and each of its 8 D4 turns, the orientation turned with it) the cosine between the head's
(cos 2θ, sin 2θ), normalised, and the label's: 1 is exact, 0 is chance. Writes the mean cosine per 0.25-dex mass bin
and overall, with the commit it ran on.
"""
import argparse, json, subprocess
from pathlib import Path
import numpy as np, pandas as pd, torch
import torch.nn.functional as F
from deeplense_nb.checkpoint import load_model
from deeplense_nb.config import make_datasets, AuxForward
from deeplense_nb.augment import d4, d4_orientation
from deeplense_nb.data import loader

ap = argparse.ArgumentParser(); ap.add_argument("run"); ap.add_argument("out"); ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args(); torch.set_num_threads(a.threads)
model, cfg = load_model(a.run)
if not cfg.aux_target: raise SystemExit(f"{a.run} was trained without aux_target: it has no auxiliary head")
test = make_datasets(cfg)["test"]
ang = torch.tensor(test.data.labels.vortex_angle.to_numpy()[test.indices], dtype=torch.float32)
o = torch.stack([torch.cos(2 * ang), torch.sin(2 * ang)], -1)
model.eval(); cos, ys, i = [], [], 0
with torch.no_grad():
    for x, y in loader(test, batch_size=256):
        oi = o[i:i + len(x)]; i += len(x)
        cos.append(torch.stack([(F.normalize(AuxForward(model)(d4(x, k))[1], dim=-1) * d4_orientation(oi, k)).sum(-1) for k in range(8)], 1))
        ys.append(y)
cos, ys = torch.cat(cos).numpy(), torch.cat(ys).numpy()
df = pd.DataFrame(dict(log10_axion_mass=ys, cosine=cos.mean(1)))
df["bin"] = pd.cut(df.log10_axion_mass, np.arange(-24, -21.99, 0.25))
out = df.groupby("bin", observed=True).cosine.agg(["mean", "count"]).reset_index().astype(dict(bin=str))
out = pd.concat([out, pd.DataFrame(dict(bin=["all"], mean=[df.cosine.mean()], count=[len(df)]))])
out.to_csv(a.out, index=False)
git = lambda *c: subprocess.run(["git", *c], capture_output=True, text=True).stdout.strip()
Path(a.out).with_suffix(".json").write_text(json.dumps(dict(run=a.run, commit=git("rev-parse", "HEAD"),
                                                           dirty=bool(git("status", "--porcelain", "--untracked-files=no"))), indent=1) + "\n")
print(out.to_string(index=False))
