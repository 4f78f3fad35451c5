"""Multi-process training: `torchrun --nproc_per_node 2` (gloo on CPU) gives the run folder of a single-process run
and both ranks end with identical weights."""
import hashlib, json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
import torch

DATA = """
g = torch.Generator().manual_seed(0)
y = torch.arange(72) % 3
x = torch.rand(72, 1, 16, 16, generator=g) + y[:, None, None, None] * 0.3
ds = torch.utils.data.TensorDataset(x, y)
data = dict(train=torch.utils.data.Subset(ds, range(48)), val=torch.utils.data.Subset(ds, range(48, 60)),
            test=torch.utils.data.Subset(ds, range(60, 72)))
"""

SCRIPT = r'''
import hashlib, json, sys
from pathlib import Path
import torch
from deeplense_nb.train import TrainConfig, build_model, fit
from deeplense_nb.distributed import dist_info
cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))
''' + DATA + r'''
torch.manual_seed(cfg.seed)
model = build_model(cfg, 3)
fit(cfg, data, model=model)  # trains `model` in place
rank, world, _ = dist_info()
h = hashlib.sha256(b"".join(v.detach().contiguous().numpy().tobytes() for v in model.state_dict().values())).hexdigest()
(Path(cfg.out_dir) / f"weights-rank{rank}-of-{world}.sha256").write_text(h)
'''

CFG = dict(model="test_resnet", img_size=16, epochs=1, batch_size=12, augment="d4", ema_decay=0.9, progress=False)


def run(cmd, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"): env.pop(k, None)
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=170)
    assert p.returncode == 0, f"{' '.join(cmd)} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"


def layout(d):
    return sorted(str(p.relative_to(d)) for p in Path(d).rglob("*") if p.is_file() and not p.name.endswith(".sha256"))


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    script = tmp_path / "ddp_fit.py"; script.write_text(SCRIPT)
    one, two = tmp_path / "one", tmp_path / "two"
    from deeplense_nb.train import TrainConfig, fit   # the single-process reference runs in this process
    ns = dict(torch=torch); exec(DATA, ns)
    fit(TrainConfig.from_dict(dict(CFG, out_dir=str(one))), ns["data"])
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    run([torchrun, "--standalone", "--nproc_per_node", "2", str(script), json.dumps(dict(CFG, out_dir=str(two)))], tmp_path)
    assert layout(one) == layout(two)
    h0, h1 = ((two / f"weights-rank{r}-of-2.sha256").read_text() for r in (0, 1))
    assert h0 == h1, "the two ranks ended with different weights"
    m = json.loads((two / "metrics.json").read_text())
    assert m["steps"] == (24 // 6) and 0 <= m["test_accuracy"] <= 1   # 48 images over 2 ranks, 6 per rank per step


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_nodes_meet_at_a_c10d_rendezvous(tmp_path):
    "Multi-node on one machine: two `torchrun --nnodes 2` launchers (one process each) meet at a c10d rendezvous on 127.0.0.1."
    script = tmp_path / "ddp_fit.py"; script.write_text(SCRIPT)
    out = tmp_path / "nodes"
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"): env.pop(k, None)
    port = _free_port()
    node = lambda r: subprocess.Popen([torchrun, "--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(r),
                                       "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}", "--rdzv_id", "lens-test",
                                       str(script), json.dumps(dict(CFG, out_dir=str(out)))],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs = [node(0), node(1)]
    logs = [p.communicate(timeout=170)[0] for p in procs]
    for p, log in zip(procs, logs): assert p.returncode == 0, f"a node failed:\n{log[-3000:]}"
    hashes = sorted(out.glob("weights-rank*-of-2.sha256"))
    assert len(hashes) == 2 and len({h.read_text() for h in hashes}) == 1, "the two nodes ended with different weights"
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 24 // 6  # 48 images over 2 ranks, 6 per rank per step: the same run as two processes on one node
