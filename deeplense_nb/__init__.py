__version__ = "0.1.0"
# Not generated: nbdev only keeps the version line above in step with settings.ini.
# The model zoo (`deeplense_nb.models`, whose import registers every `lens_*` model with timm) is imported together
# with timm, not here: `import deeplense_nb, timm; timm.create_model('lens_vit_tiny')` still works, and
# `deeplense-nb --help` does not pay 5-9 s for torch and timm.
import importlib as _importlib, importlib.abc as _abc, importlib.util as _util, sys as _sys, warnings as _warnings

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
        spec.loader.exec_module = exec_module
        return spec


def _initializing() -> bool:
    "Whether a module of this package is being imported right now."
    return any(getattr(getattr(m, "__spec__", None), "_initializing", False) for n, m in list(_sys.modules.items()) if n.startswith(__name__ + "."))


class _RegisterLater(_abc.MetaPathFinder):
    "Import `deeplense_nb.models` at the first import after the package's half-imported modules are done."
    def find_spec(self, name, path=None, target=None):
        if not _initializing():
            _sys.meta_path.remove(self)
            _importlib.import_module(".models", __name__)
        return None


if "timm" in _sys.modules: from . import models  # noqa: E402,F401  (timm is paid for already)
elif not any(isinstance(f, _RegisterWithTimm) for f in _sys.meta_path): _sys.meta_path.insert(0, _RegisterWithTimm())


def __getattr__(name):
    if name == "models": return _importlib.import_module(".models", __name__)
    raise AttributeError(f"module 'deeplense_nb' has no attribute {name!r}")
