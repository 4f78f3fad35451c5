__version__ = "0.1.0"
# Not generated: nbdev only keeps the version line above in step with settings.ini.
# The model zoo (`deeplense_nb.models`, which registers every `lens_*` model with timm) is imported on first use, not
# here, so `deeplense-nb --help` does not pay for torch and timm: `import deeplense_nb.models` (or anything that builds
# a model: train, pretrained, benchmark) before `timm.create_model('lens_vit_tiny')`.


def __getattr__(name):
    if name == "models":
        import importlib
        return importlib.import_module(".models", __name__)
    raise AttributeError(f"module 'deeplense_nb' has no attribute {name!r}")
