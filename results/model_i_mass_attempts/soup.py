"""Weight averaging ("model soup") and posterior averaging (ensemble) of successive fine-tuning rounds.

    python results/model_i_mass_attempts/soup.py OUT_DIR EVAL_DATA RUN [RUN ...] [--bn-data DATA] [--n N] [--threads T]

RUNs: run folders of the same network (here the rounds 72k_ft, 96k_ft, 120k_ft: each fine-tuned from the one before,
so their weights lie in one basin). Their best weights are averaged element by element; with --bn-data the BatchNorm
running statistics are then measured afresh on the first --n-bn images of that folder (train mode, cumulative mean)
instead of being averaged. The soup is written as OUT_DIR/soup (a run folder: config.json and checkpoints/best.safetensors,
the last RUN's metadata), so compare.py and `deeplense-nb robustness` take it like any run.

EVAL_DATA: axion images none of the RUNs trained on (here seed 7, 3,000 images). Every RUN, the soup and the ensemble
(the RUNs' TTA posteriors averaged, read as the median) are scored there; each minus the last RUN with a 95 % paired
bootstrap over the images (evaluate.paired_bootstrap, 2,000 resamples, seed 0). Writes OUT_DIR/soup.csv and .json.
"""
import argparse, json, shutil, subprocess
from pathlib import Path
import numpy as np, pandas as pd, torch
from deeplense_nb.checkpoint import load_model, load_checkpoint, save_checkpoint
from deeplense_nb.augment import Resize, tta_d4
from deeplense_nb.data import LensDataset, loader
from deeplense_nb.evaluate import binned_median, paired_bootstrap

ap = argparse.ArgumentParser(); ap.add_argument("out"); ap.add_argument("data"); ap.add_argument("runs", nargs="+")
ap.add_argument("--bn-data"); ap.add_argument("--n-bn", type=int, default=4000)
ap.add_argument("--n", type=int, default=3000); ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args(); torch.set_num_threads(a.threads)
out = Path(a.out); out.mkdir(parents=True, exist_ok=True)

# the soup: every floating tensor averaged; integer ones (BatchNorm's num_batches_tracked) from the last run
ts = [load_checkpoint(Path(r) / "checkpoints/best.safetensors") for r in a.runs]
meta = ts[-1][1] | dict(soup=[str(r) for r in a.runs])
avg = {k: torch.stack([t[k].double() for t, _ in ts]).mean(0).to(v.dtype) if v.is_floating_point() else v for k, v in ts[-1][0].items()}
soup_dir = out / "soup"; (soup_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
shutil.copy(Path(a.runs[-1]) / "config.json", soup_dir / "config.json")
save_checkpoint(soup_dir / "checkpoints/best.safetensors", avg, meta)
model, cfg = load_model(soup_dir)
if a.bn_data:  # BatchNorm statistics measured on images the soup's weights see, not averaged
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns: m.reset_running_stats(); m.momentum = None
    model.train()
    ds = LensDataset(a.bn_data, np.arange(a.n_bn), transform=Resize(cfg.img_size), normalize=cfg.normalize, task="regress")
    with torch.no_grad():
        for x, _ in loader(ds, batch_size=100): model(x)
    model.eval()
    save_checkpoint(soup_dir / "checkpoints/best.safetensors", model.state_dict(), meta | dict(bn_data=a.bn_data, n_bn=a.n_bn))

@torch.no_grad()
def posteriors(m, ds):  # (N, K) posteriors averaged over the 8 D4 symmetries (augment.tta_d4), targets
    m.eval(); ps, ys = [], []
    for x, y in loader(ds, batch_size=200): ps.append(tta_d4(m, x, probs=True)); ys.append(y)
    return torch.cat(ps), torch.cat(ys).float().reshape(-1)

ds = LensDataset(a.data, np.arange(a.n), transform=Resize(cfg.img_size), normalize=cfg.normalize, task="regress")
names, post = [], []
for r in a.runs:
    p, y = posteriors(load_model(r)[0], ds); names.append(Path(r).name); post.append(p)
p, y = posteriors(model, ds); names.append("soup" + ("+bn" if a.bn_data else "")); post.append(p)
names.append("ensemble"); post.append(torch.stack(post[:len(a.runs)]).mean(0))
preds = [binned_median(p).numpy() for p in post]
order = [len(a.runs) - 1] + [i for i in range(len(preds)) if i != len(a.runs) - 1]  # the last run is the reference
res = paired_bootstrap([preds[i] for i in order], y.numpy(), task="regress", n_boot=2000, seed=0)
df = pd.DataFrame([dict(model=names[i], mae=r["value"], diff=r.get("diff", 0.0), diff_lo=r.get("diff_lo", 0.0), diff_hi=r.get("diff_hi", 0.0))
                   for i, r in zip(order, res)])
df["n"] = len(y); df.to_csv(out / "soup.csv", index=False)
git = lambda *c: subprocess.run(["git", *c], capture_output=True, text=True).stdout.strip()
(out / "soup.json").write_text(json.dumps(dict(runs=a.runs, data=a.data, n=a.n, bn_data=a.bn_data, n_bn=a.n_bn, commit=git("rev-parse", "HEAD"),
                                               dirty=bool(git("status", "--porcelain", "--untracked-files=no"))), indent=1) + "\n")
print(df.to_string(index=False))
