"""Execute notebooks in place so their committed outputs (shown on the docs site) match their code.

    .venv/bin/python docs/scripts/execute_nbs.py nbs/01_simulate.ipynb nbs/explore/eda.ipynb   # some
    .venv/bin/python docs/scripts/execute_nbs.py                                             # every notebook
    .venv/bin/python docs/scripts/execute_nbs.py --slow nbs/05e_models_measure.ipynb                 # also `#| slow` cells

Cells marked `#| eval: false` are not run (their old outputs, if any, are kept); `#| slow` / `#| gpu` cells keep their
previously committed outputs unless --slow / --gpu is given. Library notebooks run with cwd = nbs/ (as in the tests);
notebooks in sub-folders (explore/, experiments/) run in a temporary folder, so their default `out_dir` lands there.
The kernel runs on local IPC sockets, as `deeplense_nb.experiments.execute` starts it (nothing listens on TCP, and the
kernel prints no "running over TCP without encryption" warning).
Afterwards `nbdev_clean` tidies the notebook (it keeps outputs: settings.ini has clear_all = False).
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NBS = ROOT / "nbs"
_spec = importlib.util.spec_from_file_location("docs_site_hook", ROOT / "docs" / "hooks" / "site.py")
_hook = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(_hook)
directives, notebooks = _hook.directives, _hook.notebooks  # the same rules and list as the docs site
sys.path.insert(0, str(ROOT))
from deeplense_nb.experiments import _ipc_kernel_manager  # the same kernel set-up as papermill runs and the tests


def kernel_manager_class(sockets: Path):
    "`experiments.execute`'s IPC kernel manager, its socket files under the absolute folder `sockets`."
    return _ipc_kernel_manager(sockets.resolve())


def execute(path: Path, flags: set[str], timeout: int = 1800) -> float:
    "Run notebook `path` top to bottom in place; cells whose flags are not in `flags` keep their old outputs."
    nb = nbformat.read(path, as_version=4)
    kept = {}
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code": continue
        ds = [d.replace(" ", "") for d in directives(c.source)]
        if "eval:false" in ds or any(d in {"slow", "gpu"} and d not in flags for d in ds):
            kept[i] = (c.source, c.get("outputs", []))
            c.source = ""
    t0 = time.time()
    cwd = NBS if path.parent == NBS else Path(tempfile.mkdtemp(prefix="nbrun_"))
    old = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline, even if Agg was set
    sockets = Path(tempfile.mkdtemp(prefix="nbkernel_"))
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=kernel_manager_class(sockets),
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
        if old is None: os.environ.pop("MPLBACKEND")
        else: os.environ["MPLBACKEND"] = old
    for i, (src, outs) in kept.items():
        nb.cells[i].source, nb.cells[i].outputs, nb.cells[i].execution_count = src, outs, None
    nbformat.write(nb, path)
    subprocess.run([str(Path(sys.executable).parent / "nbdev_clean"), "--fname", str(path)], cwd=ROOT, check=True)
    return time.time() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook the docs site shows")
    p.add_argument("--slow", action="store_true", help="also run `#| slow` cells")
    p.add_argument("--gpu", action="store_true", help="also run `#| gpu` cells")
    a = p.parse_args(argv)
    flags = {f for f in ("slow", "gpu") if getattr(a, f)}
    for nb in [n.resolve() for n in a.notebooks] or notebooks():
        print(f"{nb} ...", end=" ", flush=True)
        print(f"{execute(nb, flags):.1f} s")


if __name__ == "__main__":
    main()
