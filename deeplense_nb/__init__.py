__version__ = "0.1.0"
# Not generated: nbdev only keeps the version line above in step with settings.ini.
# The model zoo (`deeplense_nb.models`, whose import registers every `lens_*` model with timm) is imported together
# with timm, not here: `import deeplense_nb, timm; timm.create_model('lens_vit_tiny')` still works, and
# `deeplense-nb --help` does not pay 5-9 s for torch and timm.
import functools as _functools, importlib as _importlib, importlib.abc as _abc, importlib.util as _util, sys as _sys, warnings as _warnings

# tqdm.auto in a kernel without ipywidgets falls back to plain bars, but warns with the path of this machine's tqdm:
# the text bars are what we want (the notebooks stay free of widget state), so the warning is noise on every page.
_warnings.filterwarnings("ignore", message="IProgress not found")


class _RegisterWithTimm(_abc.MetaPathFinder):
    "Import `deeplense_nb.models` as soon as timm has been imported (once)."
    def find_spec(self, name, path=None, target=None):
        if name != "timm": return None
        _sys.meta_path.remove(self)
        spec = _util.find_spec("timm")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"): return spec
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            try: _importlib.import_module(".models", __name__)
            except ImportError:  # timm imported from a module the models need, mid-way (`from deeplense_nb.layers import pair` first)
                if not _initializing(): raise
                _sys.meta_path.insert(0, _RegisterLater())
                _register_at_first_lookup(module)  # `import timm` again is a cache hit and asks no finder
        spec.loader.exec_module = exec_module
        return spec


def _initializing() -> bool:
    "Whether a module of this package is being imported right now."
    return any(getattr(getattr(m, "__spec__", None), "_initializing", False) for n, m in list(_sys.modules.items()) if n.startswith(__name__ + "."))


_WRAPPED = []  # (owner, name, original) of the timm lookups wrapped by `_register_at_first_lookup`

def _register_now():
    "Import `deeplense_nb.models` (registering every `lens_*` model) and put timm's own lookups back."
    _importlib.import_module(".models", __name__)
    while _WRAPPED:
        owner, name, f = _WRAPPED.pop()
        setattr(owner, name, f)


def _register_at_first_lookup(timm):
    "Make timm's model lookups (`create_model`, `list_models`, `is_model`) import the models first, once the package is imported."
    for owner in (timm, getattr(timm, "models", None)):
        for name in ("create_model", "list_models", "is_model"):
            if (f := getattr(owner, name, None)) is None: continue
            def first(*a, _f=f, **k):
                if not _initializing(): _register_now()
                return _f(*a, **k)
            _WRAPPED.append((owner, name, f))
            setattr(owner, name, _functools.wraps(f)(first))


class _RegisterLater(_abc.MetaPathFinder):
    "Import `deeplense_nb.models` at the first import after the package's half-imported modules are done."
    def find_spec(self, name, path=None, target=None):
        if not _initializing():
            _sys.meta_path.remove(self)
            _register_now()
        return None


if "timm" in _sys.modules: from . import models  # noqa: E402,F401  (timm is paid for already)
elif not any(isinstance(f, _RegisterWithTimm) for f in _sys.meta_path): _sys.meta_path.insert(0, _RegisterWithTimm())


def __getattr__(name):
    if name == "models": return _importlib.import_module(".models", __name__)
    raise AttributeError(f"module 'deeplense_nb' has no attribute {name!r}")
