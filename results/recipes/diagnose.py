"""Why do the patch-token families sit at ln 3?  Short controlled trainings of one model under several recipes.

Each variant trains for `--steps` AdamW steps (batch 64, D4 augmentation, warm-up then cosine) on the same simulated
Model-II-like images, on one thread, and records every 10 steps the training loss and the gradient norm of the stem,
of each block and of the head; at the end the validation macro AUC and the mean attention entropy per block.
Writes diagnosis_curves.csv (one row per logged step) and diagnosis_summary.csv (one row per variant) next to itself.

    python results/recipes/diagnose.py --data runs/diag/model_ii_train --variants base,standard,conv --steps 300
"""
from __future__ import annotations
import argparse, json, math, subprocess, time
from pathlib import Path
import numpy as np, pandas as pd, torch, torch.nn.functional as F
from deeplense_nb.data import open_dataset, split_indices, normalize_image
from deeplense_nb.augment import random_d4
from deeplense_nb.evaluate import lens_metrics
from deeplense_nb.models import create
from deeplense_nb.layers import Attention

HERE = Path(__file__).resolve().parent
# name: (model, model kwargs, normalize, lr, warmup steps, weight decay)
VARIANTS = {
    "base":          ("lens_vit_tiny", {}, "minmax", 5e-4, 30, 0.05),
    "lr1e-3":        ("lens_vit_tiny", {}, "minmax", 1e-3, 30, 0.05),
    "lr2e-4":        ("lens_vit_tiny", {}, "minmax", 2e-4, 30, 0.05),
    "standard":      ("lens_vit_tiny", {}, "standard", 5e-4, 30, 0.05),
    "standard_lr1e-3": ("lens_vit_tiny", {}, "standard", 1e-3, 30, 0.05),
    "patch4":        ("lens_vit_tiny", dict(patch_size=4), "minmax", 5e-4, 30, 0.05),
    "depth2":        ("lens_vit_tiny", dict(depth=2), "minmax", 5e-4, 30, 0.05),
    "conv":          ("lens_vit_tiny", dict(stem="conv"), "minmax", 1e-3, 30, 0.05),
    "conv_standard": ("lens_vit_tiny", dict(stem="conv"), "standard", 1e-3, 30, 0.05),
    "bnhead":        ("lens_vit_tiny", dict(head_norm="bn"), "minmax", 5e-4, 30, 0.05),
    "bnhead_lr1e-3": ("lens_vit_tiny", dict(head_norm="bn"), "minmax", 1e-3, 30, 0.05),
    "conv_bnhead":   ("lens_vit_tiny", dict(stem="conv", head_norm="bn"), "minmax", 1e-3, 30, 0.05),
    "hybrid":        ("lens_hybrid_tiny", {}, "minmax", 1e-3, 30, 0.05),
    "cnn":           ("lens_cnn_tiny", {}, "minmax", 2e-3, 30, 0.05),
}


def load(path, normalize, seed=0):
    d = open_dataset(path); idx = split_indices(d, seed=seed, fractions=(0.9, 0.1, 0.0))
    x = normalize_image(torch.from_numpy(np.asarray(d.images, dtype=np.float32)), normalize)
    y = torch.as_tensor(d.labels["label_id"].to_numpy())
    return (x[idx["train"]], y[idx["train"]]), (x[idx["val"]], y[idx["val"]])


def groups(model):
    "Named parameter groups: stem, each block, head (whatever the family calls them)."
    out = {}
    for n, p in model.named_parameters():
        parts = n.split(".")
        key = f"{parts[0]}.{parts[1]}" if parts[0] in ("blocks", "layers", "layer1", "layer2", "layer3", "layer4") and parts[1].isdigit() else parts[0]
        out.setdefault(key, []).append(p)
    return out


@torch.no_grad()
def attention_entropy(model, x) -> list:
    "Mean entropy (nats) of each full-attention layer's attention rows on a batch; ln(N) = uniform."
    ents, hooks = [], []
    def hook(m, inp, out):
        from einops import rearrange
        q, k, _ = rearrange(m.qkv(inp[0]), 'b n (t h d) -> t b h n d', t=3, h=m.heads)
        a = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)
        ents.append(float(-(a * a.clamp_min(1e-12).log()).sum(-1).mean()))
    for m in model.modules():
        if isinstance(m, Attention): hooks.append(m.register_forward_hook(hook))
    model.eval()(x)
    for h in hooks: h.remove()
    return ents


def run(name, data, steps, bs=64, seed=0):
    model_name, kw, norm, lr, warm, wd = VARIANTS[name]
    (xt, yt), (xv, yv) = load(data, norm)
    torch.manual_seed(seed)
    model = create(model_name, img_size=xt.shape[-1], num_classes=3, **kw)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    sched = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm)))
    g, gen, rows, t0 = groups(model), torch.Generator().manual_seed(seed), [], time.time()
    losses = []
    for s in range(steps):
        for pg in opt.param_groups: pg["lr"] = lr * sched(s)
        i = torch.randint(0, len(xt), (bs,), generator=gen)
        model.train(); loss = F.cross_entropy(model(random_d4(xt[i], gen)), yt[i])
        opt.zero_grad(); loss.backward()
        norms = {k: float(torch.sqrt(sum((p.grad ** 2).sum() for p in ps if p.grad is not None))) for k, ps in g.items()}
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step(); losses.append(float(loss))
        if (s + 1) % 10 == 0:
            rows.append(dict(variant=name, step=s + 1, train_loss=float(np.mean(losses[-10:])), lr=lr * sched(s),
                             seconds=time.time() - t0, **{f"grad_{k}": v for k, v in norms.items()}))
            print(f"{name:16s} step {s + 1:4d} loss {rows[-1]['train_loss']:.4f} {rows[-1]['seconds']:.0f}s", flush=True)
    model.eval()
    with torch.no_grad(): p = torch.cat([model(xv[j:j + 256]).softmax(-1) for j in range(0, len(xv), 256)])
    m = lens_metrics(p, yv, probs=True)
    ent = attention_entropy(model, xv[:64])
    n_tok = getattr(model, "grid", None)
    summary = dict(variant=name, model=model_name, kwargs=json.dumps(kw), normalize=norm, lr=lr, warmup_steps=warm, steps=steps,
                   batch_size=bs, final_train_loss=float(np.mean(losses[-30:])), val_auc_macro=m["auc_macro"], val_accuracy=m["accuracy"],
                   attn_entropy=json.dumps([round(e, 3) for e in ent]),
                   uniform_entropy=math.log(n_tok[0] * n_tok[1]) if n_tok else float("nan"), seconds=time.time() - t0)
    return rows, summary


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True); ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=300); ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(); torch.set_num_threads(a.threads)
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    for name in a.variants.split(","):
        rows, summary = run(name, a.data, a.steps)
        summary |= dict(git_commit=commit, threads=a.threads, data=a.data)
        for f, df in (("diagnosis_curves.csv", pd.DataFrame(rows)), ("diagnosis_summary.csv", pd.DataFrame([summary]))):
            p = HERE / f; old = pd.read_csv(p) if p.exists() else None
            if old is not None: old = old[old.variant != name]
            pd.concat([old, df] if old is not None else [df]).to_csv(p, index=False)
        print(json.dumps(summary), flush=True)
