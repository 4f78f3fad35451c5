"""Every notebook in nbs/ runs on tiny settings: one test per notebook.

Library notebooks (nbs/NN_*.ipynb, index) run through nbdev's own test runner (cells flagged `slow`/`gpu` or
`eval: false` are skipped, as with `nbdev_test`). Parameterised notebooks (nbs/explore, nbs/experiments) run
through papermill, like a user's run, with their outputs sent to a temporary folder.
"""
import pytest
from conftest import NBS
from nbdev.test import test_nb as run_library_nb  # renamed so pytest does not collect it

LIBRARY = sorted(NBS.glob("[0-9]*.ipynb")) + sorted(NBS.glob("index.ipynb"))
TINY = {"train.ipynb": dict(n_per_class=8, epochs=1, batch_size=8, warmup_epochs=0, val_fraction=0.25, test_fraction=0.25)}  # seconds, not a minute
PARAMETERISED = sorted(p for d in ("explore", "experiments") for p in (NBS / d).rglob("*.ipynb")
                       if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("nb", LIBRARY, ids=lambda p: p.name)
def test_library_notebook(nb):
    ok, _ = run_library_nb(nb, skip_flags=["slow", "gpu"])
    assert ok, f"{nb.name} failed (traceback above)"


@pytest.mark.parametrize("nb", PARAMETERISED, ids=lambda p: str(p.relative_to(NBS)))
def test_parameterised_notebook(nb, tmp_path):
    import papermill as pm
    pm.execute_notebook(str(nb), str(tmp_path / nb.name), parameters=dict(out_dir=str(tmp_path / "out"), **TINY.get(nb.name, {})),
                        cwd=str(tmp_path), kernel_name="python3", progress_bar=False)


def test_train_template_stopped_inside_the_first_epoch(tmp_path):
    "max_steps that ends a run before its first epoch does: no history rows, but the notebook and its metrics still finish."
    import json, papermill as pm
    nb = NBS / "experiments" / "train.ipynb"
    pm.execute_notebook(str(nb), str(tmp_path / nb.name), parameters=dict(out_dir=str(tmp_path / "out"), **dict(TINY["train.ipynb"], batch_size=4), max_steps=1),
                        cwd=str(tmp_path), kernel_name="python3", progress_bar=False)
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["steps"] == 1 and "test_auc_macro" in m and not (tmp_path / "out" / "history.csv").exists()
