__version__ = "0.1.0"
# Not generated: nbdev only keeps the version line above in step with settings.ini.
# Importing the model zoo registers every `lens_*` model with timm (`timm.create_model('lens_vit_tiny')`).
from . import models  # noqa: E402,F401
