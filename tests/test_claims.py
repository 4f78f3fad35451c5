"""Claims in README, the docs and the model cards are backed: every quoted metric is a number of a committed results
file, and the simulator's agreement with lenstronomy is quoted as tests/test_physics.py asserts it."""
import json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT/"README.md", ROOT/"data"/"README.md", *sorted((ROOT/"docs").glob("*.md")), *sorted((ROOT/"deeplense_nb"/"weights").glob("*.md")),
         *sorted((ROOT/"results").rglob("README.md"))]
# a metric word, then (within the same clause) a number with 2+ decimals; or a number followed by "dex"
_METRIC = re.compile(r"(?i)(?<![a-z])(auc|mae|accuracy|r2|r²)\w*[^.;\n|]{0,40}?[\s(=|:]+(\d\.\d{2,})\b|(\d\.\d{2,}) dex\b")
_NUM = re.compile(r"-?\d+\.\d+(?:[eE]-?\d+)?")
_ILLUSTRATIONS = ("ETA ",)  # sample terminal lines that show the format of a progress line, not a result


def quoted_metrics(text: str) -> list[str]:
    "The metric values a page quotes (as written, e.g. '0.9953')."
    return [m.group(2) or m.group(3) for m in _METRIC.finditer(text)]


def test_quoted_metrics_finds_numbers():
    txt = "Fresh set: auc_macro 0.9953, axion-vs-cdm AUC 0.9932; MAE 0.30 dex.\n| val_auc_macro | 0.9947 |\nat 0.101″ pixels"
    assert quoted_metrics(txt) == ["0.9953", "0.9932", "0.30", "0.9947"]


_PER_ITEM = ("predictions", "fisher", "curves", "history")  # per-image / per-epoch / per-grid-point files: numbers of every kind


def _numbers(files) -> set:
    "Every number in `files`, as text at 1-5 decimals."
    out = set()
    for f in files:
        for s in _NUM.findall(f.read_text(errors="replace")):
            v = float(s)
            out.update(f"{v:.{d}f}" for d in range(1, 6))
    return out


def _summaries(folder: Path) -> list:
    "The summary files under `folder` (json, and csv that are not per-image, per-epoch or per-grid-point tables)."
    return [f for f in [*folder.rglob("*.json"), *folder.rglob("*.csv")] if not any(k in f.name for k in _PER_ITEM)]


@pytest.fixture(scope="module")
def committed_numbers() -> dict:
    "Where a page's numbers may come from: a model card from its own model's files, any other page from results/."
    weights = ROOT/"deeplense_nb"/"weights"
    out = {"": _numbers([*_summaries(ROOT/"results"), *weights.glob("*.json")])}
    for card in weights.glob("*.md"):
        out[card.stem] = _numbers([weights/f"{card.stem}.json", *_summaries(ROOT/"results"/"pretrained"/card.stem),
                                   *(ROOT/"results"/"robustness").glob(f"{card.stem}_v*.csv")])  # and its earlier versions' tables
    return out


def _claims():
    for page in PAGES:
        for i, line in enumerate(page.read_text().splitlines(), 1):
            if any(k in line for k in _ILLUSTRATIONS): continue
            for q in quoted_metrics(line):
                yield pytest.param(page, i, q, id=f"{page.relative_to(ROOT)}:{i}:{q}")


@pytest.mark.parametrize("page,line,value", list(_claims()))
def test_quoted_metric_is_in_a_results_file(page, line, value, committed_numbers):
    card = page.parent.name == "weights"
    assert value in committed_numbers[page.stem if card else ""], (
        f"{page.relative_to(ROOT)}:{line} quotes {value}, which " + (f"none of the model's own files ({page.stem}.json, "
        f"results/pretrained/{page.stem}/) holds" if card else "no committed summary file (results/**/*.csv|json) holds"))


def test_simulator_agreement_is_quoted_as_tested():
    readme = (ROOT/"README.md").read_text()
    m = re.search(r"agrees with lenstronomy to better than (\S+) of the image peak in float32 and (\S+) in float64", readme)
    assert m, "README no longer quotes the simulator's agreement with lenstronomy in the tested form"
    physics = (ROOT/"tests"/"test_physics.py").read_text()
    tol32 = re.search(r"TOL_PRE_PSF, TOL_POST_PSF = (\S+), (\S+)\s", physics)
    tol64 = re.search(r"def test_float64_render_matches_lenstronomy_tightly\(\):.*?assert err < (\S+)", physics, re.S)
    assert float(m.group(1)) == max(map(float, tol32.groups())), "README's float32 agreement is not what test_physics.py asserts"
    assert float(m.group(2)) == float(tol64.group(1)), "README's float64 agreement is not what test_physics.py asserts"


def test_committed_sample_is_there_and_intact():
    "data/README.md promises a committed sample: it opens, has the classes it says, and its bytes match its meta.json."
    from deeplense_nb.core import CLASSES
    from deeplense_nb.data import open_dataset
    ds = open_dataset(ROOT/"data"/"samples"/"model_ii", verify=True)  # verify: images.npy's sha256 against meta.json
    assert ds.images.shape == (12, 1, 64, 64)
    assert sorted(ds.labels["label"].value_counts().to_dict().items()) == [(c, 4) for c in CLASSES]
