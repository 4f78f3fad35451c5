"""Why bn_recal: validation AUC of one checkpoint with its running BatchNorm statistics, with TTA, with batch statistics,
and after recomputing the statistics (precise BN) over 1,024 training images with or without D4.

    python results/recipes/precise_bn.py RUN_DIR      (one thread, ~1 min; prints the table precise_bn.csv holds)

precise_bn.csv: the `last` checkpoint (end of epoch 5) of the vit_model_ii recipe run before bn_recal existed
(runs/recipes/vit_model_ii_nobnrecal, commit 063c96d), measured while it trained.
"""
import sys
import torch, numpy as np, copy; torch.set_num_threads(1)
from deeplense_nb.train import load_model, TrainConfig, make_datasets
from deeplense_nb.evaluate import lens_metrics
from deeplense_nb.augment import tta_d4, random_d4
run = sys.argv[1]
m, cfg = load_model(run, which="last")
cfg = cfg.replace(out_dir=run, data=f"{run}/data")
ds = make_datasets(cfg)
def tens(d, n=None):
    idx = list(range(len(d)))[:n]; xs, ys = zip(*d.__getitems__(idx)); return torch.stack(xs), torch.as_tensor(np.asarray(ys))
xv, yv = tens(ds["val"]); xt, yt = tens(ds["train"], 1024)
def auc(model, x, y, f=lambda mm, xx: mm(xx).softmax(-1)):
    with torch.no_grad(): p = torch.cat([f(model, x[i:i+256]) for i in range(0, len(x), 256)])
    r = lens_metrics(p, y, probs=True); return round(r["auc_macro"], 4), round(r["accuracy"], 4)
m.eval(); print("eval mode          ", auc(m, xv, yv))
print("eval + TTA         ", auc(m, xv, yv, lambda mm, xx: tta_d4(mm, xx, probs=True)))
print("train-mode BN (val batches)", auc(m.train(), xv, yv)); m.eval()
def recal(aug):
    mm = copy.deepcopy(m)
    for b in mm.modules():
        if isinstance(b, torch.nn.modules.batchnorm._BatchNorm): b.reset_running_stats(); b.momentum = None
    mm.train(); g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i in range(0, len(xt), 64): mm(random_d4(xt[i:i+64], g) if aug else xt[i:i+64])
    return mm.eval()
print("recal BN, unaugmented train", auc(recal(False), xv, yv))
print("recal BN, D4 train          ", auc(recal(True), xv, yv))
m2 = recal(False)
print("train acc eval-mode (unaug train imgs)", auc(m, xt[:512], yt[:512]))
