"""Learnability: every family's from-scratch recipe fits a small fixed simulated set (training loss well below ln 3).

A model stuck on the ln 3 plateau (constant prediction, uniform attention) fails this; the plain `lens_vit_tiny` of
before the recipes (linear patches, no head norm, lr 5e-4) is such a model, and `test_plain_vit_is_stuck` keeps the
check honest by showing that it still fails with it.
"""
import math
import pytest
from deeplense_nb.data import simulate_dataset
from deeplense_nb.learn import learn_check, list_recipes, load_recipe
from deeplense_nb.train import TrainConfig

FAMILIES = ("vit", "swin", "fnet", "mixer", "resmlp", "aniso", "polar", "hybrid", "cnn")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    "16 images per class of the Model-II recipe at 32 px (the same 6.5\" field), one fixed seed."
    return simulate_dataset("model_ii", 16, seed=3, out=tmp_path_factory.mktemp("learn") / "small", progress=False,
                            npix=32, pixel_scale=0.202)


def test_every_family_has_a_recipe():
    assert {f"{f}_model_ii" for f in FAMILIES} <= set(list_recipes("model_ii"))
    assert {"vit_model_i", "hybrid_model_i", "cnn_model_i"} <= set(list_recipes("model_i"))


@pytest.mark.parametrize("family", FAMILIES)
def test_recipe_learns(family, small):
    r = learn_check(f"{family}_model_ii", small, steps=200, batch_size=16, target=0.7)
    assert r["passed"], (f"{family}_model_ii: training loss {r['final_loss']:.3f} after {r['steps']} steps "
                         f"(started at {r['first_loss']:.3f}; ln 3 = {math.log(3):.3f})")


def test_plain_vit_is_stuck(small):
    "The check can fail: yesterday's plain ViT recipe (linear patches, no head norm, lr 5e-4) stays near ln 3."
    plain = TrainConfig.from_dict(load_recipe("vit_model_ii"), model_args="", lr=5e-4)
    r = learn_check(plain, small, steps=100, batch_size=16, target=0.7)
    assert not r["passed"] and r["final_loss"] > 0.95, r["final_loss"]
