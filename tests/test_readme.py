"""README.md: generated from nbs/index.ipynb, the two commands first, and every command in it run by a test."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
COMMANDS = [l.split("#")[0].strip() for b in BLOCKS for l in b.splitlines() if l.split("#")[0].strip()]
# make targets run elsewhere: `make test` is CI itself, `make run` is the quickstart (tests/test_cli.py runs the same
# command on tiny settings), `make lab` is tests/test_docs.py::test_make_lab; `make docs` is run below.
ELSEWHERE = {"make run", "make test", "make lab"}


def test_readme_is_generated_from_index_notebook():
    sys.path.insert(0, str(ROOT / "docs" / "scripts"))
    from readme import render
    assert README == render(), "README.md is out of step with nbs/index.ipynb: run `make readme`"


def test_two_commands_come_first():
    assert COMMANDS[:2] == ["make run", "make test"]


def test_every_readme_command_runs(tmp_path):
    "Run every README command except those covered elsewhere, in order, in a fresh folder (as a reader would)."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    todo = [c for c in COMMANDS if c not in ELSEWHERE]
    assert todo and all(c.startswith(("deeplense-nb ", "make ")) for c in todo), todo
    for cmd in todo:
        args = shlex.split(cmd)
        if args[0] == "make": args = ["make", "-s", "-C", str(ROOT), *args[1:]]
        r = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f"README command failed: {cmd}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    assert (tmp_path / "preds.csv").exists() and (ROOT / "site" / "index.html").exists()
