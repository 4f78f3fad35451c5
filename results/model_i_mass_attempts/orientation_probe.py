"""Is the vortex's orientation in a regressor's features at all? A ridge probe, before and after the global pooling.

    python results/model_i_mass_attempts/orientation_probe.py MODEL DATA OUT.csv [--n N] [--threads T]

DATA here: 3,000 randomised axion images, seed 7 (the ranges of configs/robust/cnn_model_i_mass_bins_120k_ft.yaml,
--n-per-class 3000 --seed 7), which no shipped model trained on.

MODEL: a run folder or .safetensors file (a timm-style network, e.g. deeplense_nb/weights/model_i_axion_mass.safetensors); DATA: a dataset folder of axion images it was not trained
on. The network's feature map (C, h, w) of every image, flattened, and its pooled features (C) each fit
(cos 2θ, sin 2θ) of the vortex angle by ridge regression on 2/3 of the images (the penalty picked on a slice of them);
the mean cosine between prediction and truth on the other 1/3 is written (1 exact, 0 chance), with the commit.
"""
import argparse, json, subprocess
from pathlib import Path
import numpy as np, pandas as pd, torch
from deeplense_nb.checkpoint import load_model
from deeplense_nb.augment import Resize
from deeplense_nb.data import LensDataset, loader

ap = argparse.ArgumentParser(); ap.add_argument("model"); ap.add_argument("data"); ap.add_argument("out")
ap.add_argument("--n", type=int, default=3000); ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args(); torch.set_num_threads(a.threads)
model, cfg = load_model(a.model); model.eval()
ds = LensDataset(a.data, np.arange(a.n), transform=Resize(cfg.img_size), normalize=cfg.normalize, task="regress", aux="vortex_angle")
fmap, pooled, t = [], [], []
with torch.no_grad():
    for x, y in loader(ds, batch_size=200):
        f = model.forward_features(x)
        fmap.append(f.flatten(1)); pooled.append(model.forward_head(f, pre_logits=True)); t.append(y[:, 1:])
t = torch.cat(t).double().numpy()
n = len(t); tr, te = np.arange(n) < 2 * n // 3, np.arange(n) >= 2 * n // 3

def probe(X):
    X = (X - X[tr].mean(0)) / (X[tr].std(0) + 1e-6)
    fit, val = np.where(tr)[0][: len(np.where(tr)[0]) * 3 // 4], np.where(tr)[0][len(np.where(tr)[0]) * 3 // 4:]
    def solve(idx, lam): A = X[idx]; return np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ t[idx])
    cos = lambda W, idx: float((((X[idx] @ W) / np.linalg.norm(X[idx] @ W, axis=1, keepdims=True)) * t[idx]).sum(1).mean())
    lam = max((10.0 ** k for k in range(-1, 6)), key=lambda l: cos(solve(fit, l), val))
    return cos(solve(np.where(tr)[0], lam), np.where(te)[0]), lam

rows = []
for name, X in (("feature map (before pooling)", torch.cat(fmap)), ("pooled features", torch.cat(pooled))):
    c, lam = probe(X.double().numpy())
    rows.append(dict(features=name, dims=X.shape[1], ridge=lam, test_cosine=c, n_fit=int(tr.sum()), n_test=int(te.sum())))
df = pd.DataFrame(rows); df.to_csv(a.out, index=False)
git = lambda *c: subprocess.run(["git", *c], capture_output=True, text=True).stdout.strip()
Path(a.out).with_suffix(".json").write_text(json.dumps(dict(model=a.model, data=a.data, commit=git("rev-parse", "HEAD"),
                                                           dirty=bool(git("status", "--porcelain", "--untracked-files=no"))), indent=1) + "\n")
print(df.to_string(index=False))
