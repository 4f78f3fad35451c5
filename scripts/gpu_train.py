"""Issue 14's "far more data and epochs" lever, measured on one NVIDIA GPU within a fixed training budget per run:

- mass_model_i_{24k,96k}: the shipped Model-I axion-mass recipe (lens_cnn_tiny, 150 px resized to 64 px, minmax, d4)
  with regress_loss=l1 and batch 128 / lr 0.006 (the GPU batch), on 24,000 and on 96,000 simulated axion images, the
  same epochs for both: does 4x the data move the MAE towards 0.25 dex?
- vit_model_ii_random_48k: configs/robust/vit_model_ii_random.yaml on 16,000 images per class instead of 4,000.

Epochs come from a probe of the real training step (`_setup` + `_train_step` on the run's own loader), so each run
fits its budget with a whole cosine schedule; everything chosen is written to OUT/plan.json. The run folders (without
data and the `last` checkpoint) are tarred into OUT for `deeplense-nb robustness` / `fresh_test` on the CPU.

    python scripts/gpu_train.py OUT [--budget-s 300] [--only NAME,...]
"""
import argparse, json, os, tarfile, time
from pathlib import Path
import torch, yaml
from deeplense_nb.config import TrainConfig, sim_overrides
from deeplense_nb.core import CLASSES, provenance
from deeplense_nb.data import simulate_dataset
from deeplense_nb.train import fit, _setup, _epoch_loader, _train_step

T0 = time.time()
p = argparse.ArgumentParser()
p.add_argument("out"); p.add_argument("--budget-s", type=float, default=300.)  # all training together
p.add_argument("--work", default="/tmp/gpu_train"); p.add_argument("--only", default="")
p.add_argument("--scale", type=float, default=1.0)  # data sizes x scale (a CPU smoke run: --scale 0.002 --cpu)
p.add_argument("--cpu", action="store_true")
a = p.parse_args()
OUT, WORK = Path(a.out), Path(a.work); OUT.mkdir(parents=True, exist_ok=True); WORK.mkdir(parents=True, exist_ok=True)
assert a.cpu or torch.cuda.is_available(), "no CUDA device"
SYNC = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
plan = dict(provenance=provenance(), commit_sent=os.environ.get("GIT_COMMIT", ""), runs={})

def save_plan(): (OUT/"plan.json").write_text(json.dumps(plan, indent=1, default=str))

MASS = dict(sim_config="model_i", task="regress", normalize="minmax", augment="d4", img_size=64, model="lens_cnn_tiny",
            epochs=36, batch_size=128, lr=0.006, weight_decay=0.05, warmup_epochs=1, label_smoothing=0.0, clip_grad=1.0,
            regress_loss="l1", tta=True, seed=1, num_workers=12, progress=False)
VIT = yaml.safe_load(Path("configs/robust/vit_model_ii_random.yaml").read_text())
VIT_SET = VIT.pop("sim_set")  # simulated here (into data_<run>), so the run itself gets data= instead
VIT |= dict(progress=False)
RUNS = {  # name: (config, the data simulated for it, share of the budget)
    "mass_model_i_24k": (MASS, dict(config="model_i", n=24000, seed=2, classes=("axion",)), 0.2),
    "mass_model_i_96k": (MASS, dict(config="model_i", n=96000, seed=4, classes=("axion",)), 0.5),
    "vit_model_ii_random_48k": (VIT, dict(config="model_ii", n=16000, seed=0, set=VIT_SET), 0.3),
}
only = [s for s in a.only.split(",") if s]

def probe_rate(cfg: TrainConfig, steps=40, warmup=10) -> tuple[float, int]:
    "Training images per second of the run's own step and loader (including its data path), and the training split's size."
    r = _setup(cfg)
    def epochs():  # the epoch-0 loader, again whenever it runs out
        while True:
            step, r.step = r.step, 0
            dl = _epoch_loader(r, 0)[1]; r.step = step
            yield from dl
    batches = epochs()
    for i in range(warmup + steps):
        if i == warmup: SYNC(); t = time.perf_counter()
        x, y = next(batches)
        _train_step(r, x, y)
    SYNC()
    rate = cfg.batch_size * steps / (time.perf_counter() - t)
    return rate, len(r.data["train"])

def run_config(name, base, **kw) -> dict:
    "The run's config: its base, its simulated data, its folder under WORK (and the CPU settings of a smoke run)."
    return dict(base, data=str(WORK/f"data_{name}"), out_dir=str(WORK/name), **(dict(device="cpu", num_workers=0) if a.cpu else {}), **kw)

for name, (base, sim, share) in RUNS.items():
    if only and name not in only: continue
    t = time.time()
    simulate_dataset(sim["config"], n_per_class=max(30, int(sim["n"] * a.scale)), seed=sim["seed"], out=WORK/f"data_{name}",
                     classes=sim.get("classes", CLASSES), chunk_size=2048, progress=False, **sim_overrides(sim.get("set", "")))
    sim_s = time.time() - t
    rate, n_train = probe_rate(TrainConfig.from_dict(run_config(name, base, epochs=1, resume=False) | dict(out_dir=str(WORK/f"probe_{name}"))))
    budget = a.budget_s * share
    plan["runs"][name] = dict(n_train=n_train, probe_images_per_s=round(rate, 1), budget_s=budget, sim_seconds=round(sim_s, 1),
                              epochs=max(1 if a.cpu else 4, min(int(0.85 * budget * rate / n_train), 60)))
    save_plan(); print(name, plan["runs"][name], flush=True)

# the same epochs for both mass data sizes: the 96k run's (the 24k run's budget share covers a quarter of its images per epoch)
if {"mass_model_i_24k", "mass_model_i_96k"} <= set(plan["runs"]):
    plan["runs"]["mass_model_i_24k"]["epochs"] = plan["runs"]["mass_model_i_96k"]["epochs"]
for name, (base, sim, share) in RUNS.items():
    if name not in plan["runs"]: continue
    out = WORK/name
    cfg = run_config(name, base, epochs=plan["runs"][name]["epochs"], max_minutes=a.budget_s * share * 1.3 / 60)
    t = time.time()
    m = fit(cfg)
    plan["runs"][name] |= dict(train_seconds=round(time.time() - t, 1), metrics={k: v for k, v in m.items() if isinstance(v, (int, float))})
    save_plan(); print(name, json.dumps(plan["runs"][name]), flush=True)
    with tarfile.open(OUT/f"{name}.tar.gz", "w:gz") as tf:
        for f in sorted(out.rglob("*")):
            if f.is_file() and f.name != "last.safetensors":  # (the data lives in WORK/data_<run>, outside the run folder)
                tf.add(f, arcname=f"{name}/{f.relative_to(out)}")
plan["total_seconds"] = round(time.time() - T0, 1)
save_plan(); print("done", plan["total_seconds"], "s", flush=True)
