"""mkdocs hook that builds the site from whatever exists in nbs/ and deeplense_nb/ — no edits when notebooks are added.

- every notebook under nbs/ (library, explore/, experiments/, studies) becomes a page under notebooks/, rendered by
  mkdocs-jupyter from its **committed outputs** after an nbdev-style clean-up (`#| hide` cells and the
  `default_exp`/export boiler-plate dropped, `#|` directive lines removed);
- every module in deeplense_nb/ (except _modidx and __init__) gets an API page `api/<module>.md` = `::: deeplense_nb.<module>`;
- the navigation is generated: hand-written pages first (HAND_PAGES), then the notebooks by folder, then the API;
- hand-written pages may use placeholders, filled from the repository at build time, so a page never links to
  something that does not exist yet:
    [[nb: GLOB | text]]          link to the first notebook matching GLOB (relative to nbs/), or "text (not written yet)"
    [[nb-list: GLOB]]            bullet list of links to every notebook matching GLOB, or "None yet."
    [[nb-table: GLOB | MARKER]]  the first HTML/markdown table in the committed outputs of the notebooks matching GLOB
                                 whose text contains MARKER (e.g. the model table of nbs/05_models), or a note
    [[files: GLOB]]              bullet list of repository files matching GLOB (relative to the repo root), or "None yet."
    [[include: GLOB]]            the text of every markdown file matching GLOB (e.g. model cards), or "None yet."
    [[api-list]]                 bullet list of the API pages
    [[pretrained-table]]         the shipped models (deeplense_nb/weights/*.json cards) with their test ROC / scatter
                                 figures from results/pretrained/<name>/figures/
- stale tqdm "IProgress not found" warnings (the package now silences them) are dropped from notebook outputs;
- nothing is loaded from a CDN: MathJax comes from docs/js/mathjax/ (docs/js/mathjax-config.js), and the mermaid
  loader nbconvert puts in every notebook page (an import from cdnjs) is dropped from pages without a mermaid diagram.
"""
from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shutil
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
NBS = ROOT / "nbs"
PKG = ROOT / "deeplense_nb"
NB_PREFIX = "notebooks"   # notebooks live at notebooks/<path relative to nbs>/
API_PREFIX = "api"
ASSET_EXTS = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
HAND_PAGES = [  # (title, file in docs/) — shown first, in this order, when the file exists
    ("Home", "index.md"), ("Getting started", "getting-started.md"), ("Working in JupyterLab", "jupyterlab.md"),
    ("Data", "data.md"), ("Models", "models.md"), ("Experiments and studies", "experiments.md"),
    ("Benchmarks", "benchmarks.md"), ("Scaling out", "scale.md"), ("Pre-trained models", "pretrained.md"), ("How this site is built", "about.md"),
]
FOLDER_TITLES = {"": "Library notebooks", "explore": "Exploration", "experiments": "Experiments",
                 "experiments/studies": "Studies", "experiments/benchmarks": "Benchmarks"}
_state: dict = {}


# ---------------------------------------------------------------- discovery
def notebooks() -> list[Path]:
    "Every notebook under nbs/ (checkpoints and hidden folders excluded), library notebooks first."
    nbs = [p for p in NBS.rglob("*.ipynb")  # nbs/index.ipynb is the README's source; docs/index.md is the home page
           if p != NBS / "index.ipynb" and not any(part.startswith((".", "_")) for part in p.relative_to(NBS).parts)]
    return sorted(nbs, key=lambda p: (len(p.relative_to(NBS).parts) > 1, str(p.relative_to(NBS))))


def modules() -> list[str]:
    "Dotted names (below deeplense_nb) of the exported modules and sub-packages: `core`, `models`, `models.transformer`."
    names = set()
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__": parts = parts[:-1]
        if parts and not any(x.startswith(("_", ".")) for x in parts): names.add(".".join(parts))
    return sorted(names)


def nb_uri(nb: Path) -> str:
    return f"{NB_PREFIX}/{nb.relative_to(NBS).as_posix()}"


def nb_title(nb: Path) -> str:
    "The notebook's first `# Title`, else its file name."
    try:
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return nb.stem
    for c in cells:
        if c["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(c["source"]), re.M)
            if m: return m.group(1).strip()
    return nb.stem.replace("_", " ")


def match(pattern: str) -> list[Path]:
    return [nb for nb in notebooks() if fnmatch.fnmatch(nb.relative_to(NBS).as_posix(), pattern.strip())]


# ---------------------------------------------------------------- nbdev-style clean-up of a notebook for display
_DIRECTIVE = re.compile(r"^\s*#\s?\|\s*(.*)$")
_DROP = {"hide", "default_exp", "exporti", "hide_input", "include: false"}


def directives(src: str) -> list[str]:
    out = []
    for line in src.splitlines():
        m = _DIRECTIVE.match(line)
        if not m: break
        out.append(m.group(1).strip())
    return out


def _nb_links(md: str, rel: str) -> str:
    "Links `other.ipynb` in a markdown cell of the notebook at `rel` (relative to nbs/) -> the other notebook's page."
    here = posixpath.dirname(rel)
    def fix(m):
        target = posixpath.normpath(posixpath.join(here, m.group(1)))
        if not (NBS / target).exists(): return m.group(0)
        link = posixpath.relpath(target[: -len(".ipynb")], rel[: -len(".ipynb")]) + "/"
        return f"]({link}{m.group(2) or ''})"
    return re.sub(r"\]\(([^()\s#]+?\.ipynb)(#[^()\s]*)?\)", fix, md)


def display_nb(nb: dict, rel: str = "") -> dict:
    "Copy of notebook `nb` (at `rel` in nbs/) as a reader should see it (nbdev's rules: hide, default_exp, export)."
    cells = []
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "markdown": src = _nb_links(src, rel)
        if c["cell_type"] == "code":
            ds = directives(src)
            if any(d.split()[0] in _DROP or d in _DROP for d in ds if d): continue
            if "nbdev_export" in src and len(src.splitlines()) <= 3: continue
            if "hide_output" in ds: c = {**c, "outputs": []}
            c = {**c, "outputs": [o for o in map(_no_tqdm_warning, c.get("outputs", [])) if o is not None]}
            src = "\n".join(l for l in src.splitlines() if not _DIRECTIVE.match(l)).strip("\n")
            if not src and not c.get("outputs"): continue
        cells.append({**c, "source": src})
    return {**nb, "cells": cells}


_TQDM_WARNING = re.compile(r"[^\n]*TqdmWarning: IProgress not found[^\n]*\n[^\n]*from \.autonotebook import[^\n]*\n?")


def _no_tqdm_warning(o: dict) -> dict | None:
    "An output without tqdm's stale 'IProgress not found' warning (None if nothing else is left)."
    if o.get("name") != "stderr": return o
    text = _TQDM_WARNING.sub("", "".join(o["text"]) if isinstance(o["text"], list) else o["text"])
    return {**o, "text": text} if text.strip() else None


def _pretrained_table(up: str) -> str:
    "The shipped models: one row per card, with the test figures of the run that trained it."
    rows = []
    for card in sorted((PKG / "weights").glob("*.json")):
        c = json.loads(card.read_text(encoding="utf-8")); m = c.get("metrics", {})
        score = (f"test macro AUC {m['test_auc_macro']:.3f}, fresh {m.get('fresh_auc_macro', float('nan')):.3f}" if "test_auc_macro" in m
                 else f"test MAE {m.get('test_mae_dex', float('nan')):.3f} dex, fresh {m.get('fresh_mae_dex', float('nan')):.3f} dex")
        figs = [f for f in ("test_roc.png", "test_regression.png") if (ROOT / "results" / "pretrained" / c["name"] / "figures" / f).exists()]
        img = " ".join(f"![{c['name']} {f[:-4]}]({up}assets/pretrained/{c['name']}/{f}){{ width=300 }}" for f in figs)
        rows.append(f"| `{c['name']}` | {c['task']} | `{c['model']}` | `{c['sim_config']}` {c['img_size']} px | {score} | {img} |")
    if not rows: return "*No model shipped yet.*"
    return "| model | task | architecture | data | metrics | test figure |\n|---|---|---|---|---|---|\n" + "\n".join(rows)


# ---------------------------------------------------------------- mkdocs events
def on_config(config):
    "Generate the navigation from docs/, nbs/ and deeplense_nb/."
    docs = Path(config.docs_dir)
    nav = [{t: f} for t, f in HAND_PAGES if (docs / f).exists()]
    groups: dict[str, list] = {}
    for nb in notebooks():
        folder = nb.relative_to(NBS).parent.as_posix()
        folder = "" if folder == "." else folder
        groups.setdefault(folder, []).append({nb_title(nb): nb_uri(nb)})
    nb_nav = []
    for folder, items in groups.items():
        title = FOLDER_TITLES.get(folder, folder.split("/")[-1].replace("_", " ").capitalize())
        nb_nav.append({title: items})
    if nb_nav: nav.append({"Notebooks": nb_nav})
    nav.append({"API reference": [{f"deeplense_nb.{m}": f"{API_PREFIX}/{m}.md"} for m in modules()]})
    config.nav = nav
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, so the notebooks added here get rendered
def on_files(files: Files, config) -> Files:
    tmp = Path(tempfile.mkdtemp(prefix="deeplense_docs_"))
    _state.setdefault("tmp", []).append(tmp)
    for nb in notebooks():
        out = tmp / nb_uri(nb)  # a real file under a temporary src_dir: mkdocs-jupyter's wrapper needs src_dir
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(display_nb(json.loads(nb.read_text(encoding="utf-8")), nb.relative_to(NBS).as_posix())), encoding="utf-8")
        files.append(File(nb_uri(nb), src_dir=str(tmp), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    for asset in NBS.rglob("*"):  # images a notebook's markdown refers to (e.g. nbs/images/x.png)
        rel = asset.relative_to(NBS)
        if asset.suffix.lower() in ASSET_EXTS and not any(p.startswith((".", "_")) for p in rel.parts):
            files.append(File.generated(config, f"{NB_PREFIX}/{rel.as_posix()}", abs_src_path=str(asset)))
    for fig in (ROOT / "results" / "pretrained").glob("*/figures/*.png"):  # the shipped models' figures (Pre-trained page)
        files.append(File.generated(config, f"assets/pretrained/{fig.parts[-3]}/{fig.name}", abs_src_path=str(fig)))
    for m in modules():
        files.append(File.generated(config, f"{API_PREFIX}/{m}.md",
                                    content=f"# deeplense_nb.{m}\n\n::: deeplense_nb.{m}\n"))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    "Fill the [[...]] placeholders of hand-written pages."
    if page.file.src_dir is None or Path(page.file.src_dir) != Path(config.docs_dir): return markdown
    up = "../" * page.file.src_uri.count("/")
    return re.sub(r"\[\[\s*(nb-list|nb-table|nb|files|include|api-list|pretrained-table)\s*(?::\s*(.*?))?\]\]",
                  lambda m: _fill(m.group(1), m.group(2) or "", up), markdown)


def _fill(kind: str, arg: str, up: str) -> str:
    parts = [a.strip() for a in arg.split("|")]
    if kind == "nb":
        hits = match(parts[0])
        text = parts[1] if len(parts) > 1 else (nb_title(hits[0]) if hits else parts[0])
        return f"[{text}]({up}{nb_uri(hits[0])})" if hits else f"{text} (*not written yet*)"
    if kind == "nb-list":
        hits = match(parts[0])
        return "\n".join(f"- [{nb_title(nb)}]({up}{nb_uri(nb)})" for nb in hits) if hits else "*None yet.*"
    if kind == "nb-table":
        marker = parts[1] if len(parts) > 1 else ""
        for nb in match(parts[0]):
            table = _first_table(nb, marker)
            if table: return f"{table}\n\n*Table from the committed outputs of [{nb_title(nb)}]({up}{nb_uri(nb)}).*"
        return f"*No table yet: it appears here once a notebook matching `nbs/{parts[0]}` shows one in its outputs.*"
    if kind == "files":
        hits = sorted(p for p in ROOT.glob(parts[0]) if p.is_file())
        return "\n".join(f"- `{p.relative_to(ROOT).as_posix()}`" for p in hits) if hits else "*None yet.*"
    if kind == "include":
        hits = sorted(p for p in ROOT.glob(parts[0]) if p.is_file())
        return "\n\n---\n\n".join(_demote(p.read_text(encoding="utf-8")) for p in hits) if hits else "*None yet.*"
    if kind == "pretrained-table": return _pretrained_table(up)
    if kind == "api-list":
        return "\n".join(f"- [`deeplense_nb.{m}`]({up}{API_PREFIX}/{m}.md)" for m in modules())
    raise ValueError(f"docs: unknown placeholder [[{kind}: {arg}]] — known: nb, nb-list, nb-table, files, include, api-list")


def _demote(md: str) -> str:
    "Headings of an included file one level down, so it nests under the page's own sections."
    return re.sub(r"^(#{1,5})\s", r"#\1 ", md, flags=re.M)


def _first_table(nb: Path, marker: str) -> str | None:
    "First table (HTML or markdown output) in the committed outputs of `nb` whose text contains `marker`."
    for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            for mime in ("text/html", "text/markdown"):
                text = "".join(data.get(mime, ""))
                if marker in text and ("<table" in text or re.search(r"^\|.*\|\s*$", text, re.M)):
                    if mime == "text/html":  # strip pandas' <style> block; keep the table
                        text = re.sub(r"<style.*?</style>", "", text, flags=re.S)
                        return f'<div class="nb-table" markdown="0">\n{text.strip()}\n</div>'
                    return text.strip()
    return None


_MERMAID_LOADER = re.compile(r'<script type="module">(?:(?!</script>).)*?jp-Mermaid.*?</script>', re.S)


def on_post_page(output: str, page, config) -> str:
    "A notebook page without a mermaid diagram does not need nbconvert's mermaid loader (an import from a CDN)."
    if page.file.src_uri.endswith(".ipynb") and 'class="jp-Mermaid' not in output:
        output = _MERMAID_LOADER.sub("", output, count=1)
    return output


def on_post_build(config):
    "The download link of a notebook page gives the original notebook (mkdocs-jupyter copied the tidied one)."
    for nb in notebooks():
        target = Path(config.site_dir) / nb_uri(nb)[: -len(".ipynb")] / nb.name
        if target.exists(): shutil.copyfile(nb, target)
    for tmp in _state.pop("tmp", []): shutil.rmtree(tmp, ignore_errors=True)
