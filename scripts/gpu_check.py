"""Timings on one NVIDIA GPU for planning the full study presets: a training step of every recipe in fp32 and bf16,
and the simulator at a large batch. Writes results/gpu/gpu_check.json (and prints it). Run through scripts/gpu_check.sh."""
import json, time
from pathlib import Path
import torch
from deeplense_nb.core import provenance
from deeplense_nb.learn import load_recipe
from deeplense_nb.models import create
from deeplense_nb.config import model_kwargs
from deeplense_nb.simulate import simulate_batch

assert torch.cuda.is_available(), "no CUDA device"
out = dict(device=torch.cuda.get_device_name(0), **provenance(), train={}, simulate={})
FAMILIES = ["cnn", "vit", "swin", "fnet", "mixer", "resmlp", "aniso", "polar", "hybrid"]

def step_rate(m, bs, dtype, steps=20, warmup=5):
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x, y = torch.randn(bs, 1, 64, 64, device="cuda"), torch.randint(0, 3, (bs,), device="cuda")
    for i in range(warmup + steps):
        if i == warmup: torch.cuda.synchronize(); t = time.perf_counter()
        with torch.autocast("cuda", dtype=dtype, enabled=dtype != torch.float32):
            loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    torch.cuda.synchronize()
    return bs * steps / (time.perf_counter() - t)

for fam in FAMILIES:
    r = load_recipe(f"{fam}_model_ii")
    m = create(r["model"], num_classes=3, **model_kwargs(r["model_args"])).cuda()
    out["train"][fam] = {k: round(step_rate(m, 256, d), 1) for k, d in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(fam, out["train"][fam], flush=True)

for cfg in ("model_ii", "model_i"):
    for bs in (256, 2048):
        simulate_batch(cfg, ["cdm"] * 8, seed=0, device="cuda"); torch.cuda.synchronize(); t = time.perf_counter()
        simulate_batch(cfg, ["cdm", "axion", "no_sub"] * (bs // 3), seed=1, device="cuda"); torch.cuda.synchronize()
        out["simulate"][f"{cfg}_batch{bs}"] = round(3 * (bs // 3) / (time.perf_counter() - t), 1)
        print(cfg, bs, out["simulate"][f"{cfg}_batch{bs}"], "images/s", flush=True)

# the full presets on this GPU, on paper: images x epochs / images per second of the slowest family
full_images = dict(architectures=30000 * 0.7 * 40 * 3 * 2, pos_embed=30000 * 0.7 * 40 * 5)  # train split x epochs x seeds (x tasks)
slowest = min(v["bf16"] for v in out["train"].values())
out["full_preset_hours_at_slowest_family"] = {k: round(v / slowest / 3600, 2) for k, v in full_images.items()}
Path("results/gpu").mkdir(parents=True, exist_ok=True)
Path("results/gpu/gpu_check.json").write_text(json.dumps(out, indent=1))
print(json.dumps(out["full_preset_hours_at_slowest_family"]))
