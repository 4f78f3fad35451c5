"""The docs site: notebook outputs kept in step, `mkdocs build --strict`, and the built site opened in headless Chromium.

The site shows the outputs committed with the notebooks (nothing is executed during the build, see docs/about.md),
so `test_notebook_outputs_in_step` fails when a notebook shown on the site has an error output or a figure cell
without its figure. The browser tests build the site once (shared by the xdist workers through a lock) into a
temporary folder, serve it on 127.0.0.1, open a few pages in Debian's chromium through Playwright, check that every
internal link on them answers 200 and every image has loaded, and save screenshots to test-results/screenshots/.
"""
import ast
import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import NBS, ROOT

SHOTS = ROOT / "test-results" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _load_hook():
    spec = importlib.util.spec_from_file_location("docs_site_hook", ROOT / "docs" / "hooks" / "site.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


hook = _load_hook()
SHOWN = hook.notebooks()  # exactly the notebooks the site shows
STUDIES = sorted(p for p in SHOWN if p.relative_to(NBS).parts[:2] == ("experiments", "studies"))
MODELS_NBS = sorted(NBS.glob("05_*.ipynb"))
EDA_NB = NBS / "explore" / "eda.ipynb"


# ------------------------------------------------------------------ committed outputs are in step with the code
_FIGURE = re.compile(r"\bplt\.(show|subplots|figure|imshow|hist|plot)\(|\.imshow\(|\bsns\.\w+\(|\.plot\(")
_NO_FIGURE = re.compile(r"\bplt\.close\(|\bmatplotlib\.use\(")


def draws_figure(src: str) -> bool:
    "Does code cell `src` (outside function/class definitions) draw a figure that should appear in its outputs?"
    ds = hook.directives(src)
    if any(d.split()[0] in {"export", "exports", "exporti", "hide", "eval:", "slow", "gpu"} for d in ds if d): return False
    code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
        tree.body = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        code = ast.unparse(tree)
    except SyntaxError:
        pass
    return bool(_FIGURE.search(code)) and not _NO_FIGURE.search(code)


def test_draws_figure():
    assert draws_figure("fig, ax = plt.subplots()\nax.imshow(x)")
    assert not draws_figure("def show(x):\n    plt.imshow(x)")
    assert not draws_figure("#| export\ndef f(): pass\nplt.show()")
    assert not draws_figure("fig, ax = plt.subplots(); fig.savefig(p); plt.close(fig)")
    assert not draws_figure("#| eval: false\nplt.imshow(x)")


@pytest.mark.parametrize("nb", SHOWN, ids=lambda p: str(p.relative_to(NBS)))
def test_notebook_outputs_in_step(nb):
    "The site shows committed outputs: no errors among them, and every cell that draws a figure shows it."
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    problems = []
    for i, c in enumerate(cells):
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        outs = c.get("outputs", [])
        if any(o.get("output_type") == "error" for o in outs):
            problems.append(f"cell {i}: its committed output is an error")
        if draws_figure(src) and not any(k.startswith("image/") for o in outs for k in o.get("data", {})):
            problems.append(f"cell {i} draws a figure but has no image output: {src.strip().splitlines()[0][:70]!r}")
    assert not problems, (f"{nb.relative_to(ROOT)}: its committed outputs are not in step with its code (the docs "
                          f"site shows them). Re-run the notebook top to bottom and commit it with its outputs:\n  "
                          + "\n  ".join(problems))


# ------------------------------------------------------------------ build once, serve per worker
@pytest.fixture(scope="session")
def site(tmp_path_factory, worker_id):
    "The site built with `mkdocs build --strict` into a temporary folder, once for all xdist workers."
    from filelock import FileLock
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    out, log = shared / "docs_site", shared / "docs_site.log"
    with FileLock(str(shared / "docs_site.lock")):
        if not (out / "index.html").exists() and not log.exists():
            env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
            r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                               env=env, capture_output=True, text=True, timeout=300)
            log.write_text(f"exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        text = log.read_text()
    assert text.startswith("exit 0"), f"`mkdocs build --strict` failed:\n{text[-4000:]}"
    return out


@pytest.fixture(scope="session")
def server(site):
    "Base URL of `site` served by http.server on 127.0.0.1, on a free port, in a thread."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # the browser may drop a connection: not an error here
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)
    httpd = Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown(); httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("chromium is not installed: run `make browser` (installs Debian's chromium; needs root or sudo)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_strict_build_has_every_page(site):
    "Every module has an API page and every notebook a page (the navigation is generated, see docs/hooks/site.py)."
    missing = [f"api/{m}/" for m in hook.modules() if not (site / "api" / m / "index.html").exists()]
    missing += [str(nb.relative_to(NBS)) for nb in SHOWN
                if not (site / "notebooks" / nb.relative_to(NBS).with_suffix("") / "index.html").exists()]
    assert not missing, f"pages missing from the built site: {missing}"
    broken = []
    for html in site.rglob("*.html"):  # every local <img src> and <a href> of every page points at something
        text = html.read_text(encoding="utf-8")
        for kind, ref in re.findall(r'<(img|a)\s[^>]*?(?:src|href)="([^"]+)"', text):
            ref = ref.split("#")[0].split("?")[0]
            if not ref or re.match(r"^[a-z]+:", ref) or ref.startswith("/"): continue
            target = (html.parent / urllib.parse.unquote(ref)).resolve()
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(f"{html.relative_to(site)}: <{kind}> {ref}")
    assert not broken, "internal links or images that point nowhere:\n  " + "\n  ".join(broken[:30])


# ------------------------------------------------------------------ pages in the browser
def _open(browser, base: str, path: str, name: str):
    "Open `path`, check its internal links and images, save a screenshot; returns the open page."
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith((base, "data:")) else r.abort())
    resp = page.goto(base + path, wait_until="load")
    assert resp and resp.status == 200, f"{path}: HTTP {resp and resp.status}"
    page.evaluate("""() => Promise.all(Array.from(document.images, i => { i.loading = 'eager';
        return i.complete ? 1 : new Promise(r => { i.onload = i.onerror = r; }); }))""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    broken_imgs = page.evaluate("""() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
                                           .map(i => i.getAttribute('src').slice(0, 80))""")
    assert not broken_imgs, f"{path}: images that did not load: {broken_imgs}"
    urls = page.evaluate("""() => [...Array.from(document.querySelectorAll('a[href]'), a => a.href),
        ...Array.from(document.querySelectorAll('link[href]'), l => l.href),
        ...Array.from(document.querySelectorAll('script[src]'), s => s.src)]""")
    internal = sorted({u.split("#")[0] for u in urls if u.startswith(base)})
    broken = []
    for u in internal:
        try:
            with urllib.request.urlopen(u, timeout=10) as r:
                if r.status != 200: broken.append(f"{u} ({r.status})")
        except urllib.error.HTTPError as e:
            broken.append(f"{u} ({e.code})")
    assert not broken, f"{path}: broken internal links: {broken}"
    assert internal, f"{path}: no internal links found — the navigation is missing"
    return page


def test_home_page(browser, server):
    page = _open(browser, server, "", "home")
    assert "deeplense_nb" in page.title()
    nav = page.eval_on_selector_all("nav.md-nav a.md-nav__link", "els => els.map(e => e.textContent.trim())")
    for title in ("Getting started", "Models", "API reference"):
        assert any(title in t for t in nav), f"home page: '{title}' missing from the navigation {nav}"
    n = page.evaluate("() => Array.from(document.querySelectorAll('article img')).filter(i => i.naturalWidth > 0).length")
    assert n > 0, "home page shows no picture (the gallery)"


def test_pretrained_page(browser, server):
    page = _open(browser, server, "pretrained/", "pretrained")
    shipped = sorted(p.stem for p in (ROOT / "deeplense_nb" / "weights").glob("*.json"))
    text = page.inner_text("article")
    assert all(name in text for name in shipped), "pre-trained page: the summary table misses a shipped model"
    n = page.evaluate("() => Array.from(document.querySelectorAll('article table img')).filter(i => i.naturalWidth > 0).length")
    assert n >= len(shipped), f"pre-trained page: {n} figures in the table for {len(shipped)} shipped models"


# Pages whose committed outputs still show a warning, with who fixes it (the owner of the notebook).
KNOWN_STDERR = {"05a_models_transformer", "05b_models_timm"}  # timm 'Overwriting lens_* in registry' warnings (nbs/05*)


def test_no_page_shows_a_stderr_box(site):
    "No notebook page shows a red stderr box (warnings, tracebacks, machine paths) unless listed in KNOWN_STDERR."
    bad = {}
    for html in (site / "notebooks").rglob("index.html"):
        n = len(re.findall(r'<div[^>]*data-mime-type="application/vnd\.jupyter\.stderr"', html.read_text(encoding="utf-8")))  # not the CSS
        name = html.parent.name
        if n and name not in KNOWN_STDERR: bad[str(html.parent.relative_to(site))] = n
    assert not bad, f"pages with stderr boxes: {bad}"


def test_models_page(browser, server):
    page = _open(browser, server, "models/", "models")
    if not MODELS_NBS:
        pytest.skip("nbs/05_models*.ipynb does not exist yet: the models page says so instead of showing the table")
    rows = page.locator(".nb-table table tr").count()
    assert rows > 1, "models page: no model table (taken from the committed outputs of nbs/05_models*.ipynb)"


def test_eda_page(browser, server):
    if not EDA_NB.exists(): pytest.skip("nbs/explore/eda.ipynb does not exist yet")
    page = _open(browser, server, "notebooks/explore/eda/", "eda")
    n = page.evaluate("() => Array.from(document.querySelectorAll('.jupyter-wrapper img')).filter(i => i.naturalWidth > 0).length")
    assert n > 0, "EDA page shows no figure: run nbs/explore/eda.ipynb and commit it with its outputs"


def test_experiments_page(browser, server):
    _open(browser, server, "experiments/", "experiments")


@pytest.mark.skipif(not STUDIES, reason="no study results notebook under nbs/experiments/studies/ yet "
                                        "(test_experiments_page opens the experiments page instead)")
def test_study_page(browser, server):
    nb = STUDIES[0]
    page = _open(browser, server, f"notebooks/{nb.relative_to(NBS).with_suffix('').as_posix()}/", "study")
    n = page.evaluate("() => Array.from(document.querySelectorAll('.jupyter-wrapper img')).filter(i => i.naturalWidth > 0).length")
    assert n > 0, f"study page {nb.relative_to(NBS)} shows no plot: commit the results notebook with its outputs"


# ------------------------------------------------------------------ make lab
def test_make_lab(tmp_path):
    "`make lab` serves JupyterLab on 127.0.0.1 with nbs/ in its file browser and a kernel that imports the package."
    import signal, socket, time
    from jupyter_client import BlockingKernelClient
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    token, base = "docs-test", f"http://127.0.0.1:{port}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    args = f"--port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    log = open(tmp_path / "lab.log", "w+")
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=log, stderr=subprocess.STDOUT, text=True)

    def api(path, method="GET"):
        req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as r: return json.loads(r.read() or b"null")

    try:
        for _ in range(120):  # the server is up within a few seconds
            try: api("/api/status"); break
            except (urllib.error.URLError, ConnectionError): time.sleep(0.5)
            assert proc.poll() is None, f"make lab exited early:\n{(tmp_path / 'lab.log').read_text()[-3000:]}"
        else:
            pytest.fail("make lab: JupyterLab did not answer on 127.0.0.1 within 60 s")
        names = {c["name"] for c in api("/api/contents")["content"]}
        assert "00_core.ipynb" in names, f"make lab: the file browser does not start in nbs/ ({sorted(names)})"
        kid = api("/api/kernels", method="POST")["id"]
        kc = BlockingKernelClient(connection_file=str(tmp_path / "runtime" / f"kernel-{kid}.json"))
        kc.load_connection_file(); kc.start_channels(); kc.wait_for_ready(timeout=60)
        out = []
        kc.execute_interactive("import deeplense_nb; print(deeplense_nb.__file__)", timeout=60,
                               output_hook=lambda m: out.append(m["content"].get("text", "")))
        kc.stop_channels()
        assert str(ROOT / "deeplense_nb") in "".join(out), f"make lab: the kernel imports another deeplense_nb: {out}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try: proc.wait(timeout=20)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
        log.close()


def test_execute_nbs_runs_a_notebook(tmp_path):
    "docs/scripts/execute_nbs.py (how committed outputs are made) runs a notebook in place on its IPC kernel and keeps `#| slow` outputs."
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)"),
                nbformat.v4.new_code_cell("#| slow\nprint('not run')", outputs=[nbformat.v4.new_output("stream", text="kept\n")])]
    path = tmp_path / "tiny.ipynb"; nbformat.write(nb, path)
    subprocess.run([sys.executable, str(ROOT / "docs/scripts/execute_nbs.py"), str(path)], cwd=ROOT, check=True, timeout=300)
    out = nbformat.read(path, as_version=4)
    assert out.cells[0].outputs[0]["text"] == "42\n" and out.cells[1].outputs[0]["text"] == "kept\n"
    assert not list(tmp_path.glob("kernel-ipc*")), "the kernel's socket files stay out of the notebook's folder"
