"""Learnability: every family's from-scratch recipe gets off the ln 3 plateau on a small fixed simulated set.

`learn_check` trains a recipe's model (its normalisation, D4 augmentation, optimiser, learning rate and label
smoothing) on 600 Model-II-like images at 32 px and passes once the mean training loss of the last 20 steps is below
0.9 (ln 3 = 1.099; the plateau's noise band is about +-0.03). A model stuck on the plateau (constant prediction,
uniform attention) fails: `test_plain_vit_is_stuck` shows that the plain `lens_vit_tiny` of before the recipes
(linear patches, no head norm, lr 5e-4) still does. Measurements behind the numbers: nbs/05c_recipes.ipynb.
"""
import math
import pytest
from deeplense_nb.data import simulate_dataset
from deeplense_nb.learn import learn_check, list_recipes, load_recipe
from deeplense_nb.train import TrainConfig

FAMILIES = ("vit", "swin", "fnet", "mixer", "resmlp", "aniso", "polar", "hybrid", "cnn", "equiv")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    "200 images per class of the Model-II recipe at 32 px (the same 6.5\" field), one fixed seed."
    return simulate_dataset("model_ii", 200, seed=3, out=tmp_path_factory.mktemp("learn") / "small", progress=False,
                            npix=32, pixel_scale=0.202)


def test_every_family_has_a_recipe():
    assert {f"{f}_model_ii" for f in FAMILIES} <= set(list_recipes("model_ii"))
    assert {"vit_model_i", "hybrid_model_i", "cnn_model_i"} <= set(list_recipes("model_i"))


@pytest.mark.parametrize("family", FAMILIES)
def test_recipe_learns(family, small):
    r = learn_check(f"{family}_model_ii", small)
    assert r["passed"], (f"{family}_model_ii: training loss {r['final_loss']:.3f} after {r['steps']} steps "
                         f"(started at {r['first_loss']:.3f}; ln 3 = {math.log(3):.3f})")


def test_plain_vit_is_stuck(small):
    "The check can fail: the plain ViT recipe (linear patches, no head norm, lr 5e-4) stays on the plateau."
    plain = TrainConfig.from_dict(load_recipe("vit_model_ii"), model_args="", lr=5e-4)
    r = learn_check(plain, small, steps=120)
    assert not r["passed"] and r["final_loss"] > 1.0, r["final_loss"]
