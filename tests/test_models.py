"""Model zoo: every registered lens_* model builds at 64 and 150 px, trains a step, and meets the issue's contracts."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import timm

from deeplense_nb.layers import POS_EMBEDS, sincos_2d
from deeplense_nb.models import create, list_lens_models
from deeplense_nb.models.measure import prune_global, count_params
from deeplense_nb.models.transformer import LensTransformer

NAMES = list_lens_models()
SIZES = (64, 150)
TINY_WIDTH = {  # per family: kwargs that shrink a model to a few thousand parameters
    **{f: dict(embed_dim=32, depth=1, num_heads=2, stem_width=8) for f in ("vit", "fnet", "aniso", "hybrid", "polar")},
    "swin": dict(embed_dim=16, depths=(1, 1), num_heads=(1, 2)),
    "mixer": dict(embed_dim=32, num_blocks=1), "resmlp": dict(embed_dim=32, num_blocks=1),
    "cnn": dict(layers=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem_width=8),
    "equiv": dict(widths=(1, 2, 2, 2), depths=(1, 1, 1))}
family = lambda name: name.split("_")[1]


def _train_step(m, size, k, batch=2):
    x = torch.randn(batch, 1, size, size)
    y = m.train()(x)
    assert y.shape == (batch, k), f"output {tuple(y.shape)} != {(batch, k)}"
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), "missing or non-finite gradients"


def test_registry_complete():
    fams = {"vit", "swin", "fnet", "mixer", "resmlp", "aniso", "hybrid", "polar", "cnn", "equiv_c8", "equiv_d8"}
    assert set(NAMES) == {f"lens_{f}_{s}" for f in fams for s in ("tiny", "small")}


# Group convolutions share one filter over the 8 (C8) or 16 (D8) copies: far fewer parameters at the same compute.
PARAMS = dict(tiny=(0.5e6, 2.5e6), small=(4e6, 20e6))
EQUIV_PARAMS = dict(tiny=(2e4, 2.5e6), small=(2e5, 20e6))
param_range = lambda name: (EQUIV_PARAMS if family(name) == "equiv" else PARAMS)[name.rsplit("_", 1)[1]]


@pytest.mark.parametrize("k", (3, 1), ids=("cls3", "regression"))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("_tiny")])
def test_tiny_models_train_step_real_config(name, size, k):
    torch.manual_seed(0)
    m = timm.create_model(name, in_chans=1, img_size=size, num_classes=k)
    lo, hi = param_range(name)
    assert lo < count_params(m) < hi
    _train_step(m, size, k)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("_small")])
def test_small_models_real_config_forward(name, size):
    m = create(name, img_size=size, num_classes=3).eval()
    lo, hi = param_range(name)
    assert lo < count_params(m) < hi
    with torch.no_grad(): y = m(torch.randn(1, 1, size, size))
    assert y.shape == (1, 3) and torch.isfinite(y).all()


@pytest.mark.parametrize("k", (3, 1), ids=("cls3", "regression"))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", NAMES)
def test_every_model_train_step_tiny_width(name, size, k):
    torch.manual_seed(0)
    m = create(name, img_size=size, num_classes=k, **TINY_WIDTH[family(name)])
    _train_step(m, size, k)
    feats = m.forward_head(m.forward_features(torch.randn(2, 1, size, size)), pre_logits=True)
    assert feats.shape == (2, m.num_features)
    m.reset_classifier(0)
    assert m(torch.randn(2, 1, size, size)).shape == (2, m.num_features)
    assert m.pretrained_cfg["input_size"] == (1, size, size)


VIT_LIKE = ("vit", "aniso", "hybrid", "polar", "fnet")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("pe", POS_EMBEDS)
@pytest.mark.parametrize("fam", VIT_LIKE)
def test_position_embeddings(fam, pe, size):
    kw = dict(TINY_WIDTH[fam], pos_embed=pe)
    if fam == "fnet" and pe == "rope":
        with pytest.raises(ValueError, match="needs attention"): create(f"lens_{fam}_tiny", img_size=size, **kw)
        return
    m = create(f"lens_{fam}_tiny", img_size=size, **kw)
    gh, gw = m.grid
    pos_params = [n for n, _ in m.named_parameters() if n.startswith("pos_embed")]
    assert pos_params == (["pos_embed.pos"] if pe == "learned" else [])   # fixed ones are buffers
    if pe.startswith("sincos"):
        assert m.pos_embed.pos.shape == (1, gh * gw, 32) and not m.pos_embed.pos.requires_grad
        assert "pos_embed.pos" not in m.state_dict()                          # non-persistent: size-free checkpoints
    if pe == "rope": assert m.rope.cos.shape == m.rope.sin.shape == (gh * gw, 32 // 2)
    else: assert m.rope is None
    _train_step(m, size, 3)
    if pe == "learned": assert m.pos_embed.pos.grad is not None


def test_sincos2d_matches_grid():
    m = create("lens_vit_tiny", img_size=150, pos_embed="sincos2d", **TINY_WIDTH["vit"])
    assert m.grid == (15, 15)
    torch.testing.assert_close(m.pos_embed.pos[0], sincos_2d(15, 15, 32))


def test_rope_with_class_token_grid():
    m = create("lens_vit_tiny", img_size=64, pos_embed="rope", global_pool="token", **TINY_WIDTH["vit"])
    assert m.rope.cos.shape == (1 + 8 * 8, 16)
    _train_step(m, 64, 3)


@pytest.mark.parametrize("pe", ("sincos2d", "rope", "learned"))
def test_polar_rot_pool_is_rotation_invariant(pe):
    m = create("lens_polar_tiny", img_size=64, rot_pool=True, pos_embed=pe, **TINY_WIDTH["polar"]).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad(): torch.testing.assert_close(m(torch.rot90(x, 1, (2, 3))), m(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("size", (64, 150, 75))
@pytest.mark.parametrize("name", ("lens_equiv_c8_tiny", "lens_equiv_d8_tiny"))
def test_equivariant_head_is_rotation_invariant(name, size):
    "A 90-degree rotation (and for D8 a mirror image) of the input leaves the logits unchanged, to float tolerance."
    torch.manual_seed(0)
    m = create(name, img_size=size, head_norm="bn").eval()
    x = torch.randn(3, 1, size, size)
    with torch.no_grad():
        y = m(x)
        for k in (1, 2, 3): torch.testing.assert_close(m(torch.rot90(x, k, (2, 3))), y, atol=1e-5, rtol=1e-4)
        flipped = m(torch.flip(x, (3,)))
    if "d8" in name: torch.testing.assert_close(flipped, y, atol=1e-5, rtol=1e-4)
    else: assert (flipped - y).abs().max() > 1e-3, "C8 is not built to be mirror invariant: the test would not see a broken one"


def test_rotation_check_can_fail():
    "The invariance test can fail: an ordinary CNN's logits change under the same rotation."
    torch.manual_seed(0)
    m = create("lens_cnn_tiny", img_size=64).eval(); x = torch.randn(3, 1, 64, 64)
    with torch.no_grad(): assert (m(torch.rot90(x, 1, (2, 3))) - m(x)).abs().max() > 1e-3


def test_equivariant_rejects_bad_args():
    with pytest.raises(ValueError, match="odd size"): create("lens_equiv_c8_tiny", kernel_size=4)
    with pytest.raises(ValueError, match="one entry more"): create("lens_equiv_c8_tiny", widths=(4, 8), depths=(1, 1))
    with pytest.raises(ValueError, match="head_norm"): create("lens_equiv_c8_tiny", head_norm="ln")


@pytest.mark.parametrize("sparsity", (0.3, 0.5, 0.9))
@pytest.mark.parametrize("name", ("lens_mixer_tiny", "lens_resmlp_tiny", "lens_vit_tiny"))
def test_pruning_reaches_sparsity(name, sparsity):
    m = create(name, **TINY_WIDTH[family(name)])
    n = count_params(m)
    rep = prune_global(m, sparsity)
    assert abs(rep["sparsity"] - sparsity) <= 0.01, rep
    assert rep["params"] == n and rep["nonzero_params"] == count_params(m, nonzero=True) < n
    assert not any(hasattr(mod, "weight_mask") for mod in m.modules()), "pruning must be made permanent"
    assert torch.isfinite(m(torch.randn(2, 1, 64, 64))).all()


def test_pruning_rejects_bad_sparsity():
    with pytest.raises(ValueError, match="must be in"): prune_global(create("lens_mixer_tiny"), 1.0)


@pytest.mark.filterwarnings("ignore:.*does not divide")
@pytest.mark.parametrize("k", (3, 1))
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", ("resnet18", "vit_tiny_patch16_224", "convnext_atto"))
def test_create_plain_timm(name, size, k):
    m = create(name, img_size=size, num_classes=k)
    _train_step(m, size, k)
    assert m.pretrained_cfg["input_size"] == (1, size, size)


def test_create_errors():
    with pytest.raises(ValueError, match="unknown model"): create("lens_nope_tiny")
    with pytest.raises(ValueError, match="not divisible"): create("lens_vit_tiny", img_size=150, patch_size=8)
    with pytest.raises(ValueError, match="patch_size="): create("lens_vit_tiny", img_size=67)
    with pytest.raises(ValueError, match="never downloads"): create("lens_vit_tiny", pretrained=True)


def test_model_code_uses_einops_not_view_permute():
    pkg = Path(__import__("deeplense_nb").__file__).parent
    for f in [pkg / "layers.py", *sorted((pkg / "models").glob("*.py"))]:
        assert not re.search(r"\.(view|permute)\(", f.read_text()), f"{f.name}: use einops.rearrange"


def test_timm_create_after_plain_import():
    code = "import deeplense_nb, timm; print(timm.create_model('lens_vit_tiny', in_chans=1, img_size=64, num_classes=3).num_classes)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "3", out.stderr[-2000:]


@pytest.mark.parametrize("first", ["deeplense_nb.layers", "deeplense_nb.core"])
def test_a_module_the_models_need_can_be_imported_first(first):
    "Importing a module that deeplense_nb.models itself imports (and that imports timm) must not break on the models' registration hook."
    code = (f"import {first}; import deeplense_nb.augment; import timm; "
            "print(timm.create_model('lens_vit_tiny', in_chans=1, img_size=64, num_classes=3).num_classes)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "3", out.stderr[-2000:]
