"""ImageNet-style timm checkpoints from a local file (issue 17.2): `models.create(name, pretrained_file=PATH)` and
`init=PATH`. The tests write the checkpoints themselves (a 3-channel, 1,000-class timm model); nothing is downloaded."""
import pytest
import timm
import torch
from safetensors.torch import save_file
from deeplense_nb.checkpoint import is_timm_checkpoint
from deeplense_nb.config import TrainConfig
from deeplense_nb.data import simulate_dataset
from deeplense_nb.models import create
from deeplense_nb.train import _setup, fit


def _write(tmp_path, name, fmt):
    torch.manual_seed(0)
    rgb = timm.create_model(name, num_classes=1000)           # what ImageNet weights look like: 3 channels, 1,000 classes
    f = tmp_path / f"{name}.{fmt}"
    if fmt == "safetensors": save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(f))
    else: torch.save(rgb.state_dict(), f)                      # loaded back with weights_only=True (timm): no code runs
    return rgb, f


@pytest.mark.parametrize("fmt", ("safetensors", "pth"))
@pytest.mark.parametrize("k", (3, 1), ids=("cls3", "regression"))
def test_resnet_stem_adapted_head_reset_rest_equal(tmp_path, fmt, k):
    rgb, f = _write(tmp_path, "resnet18", fmt)
    m = create("resnet18", img_size=64, num_classes=k, pretrained_file=f)
    assert m.conv1.weight.shape == (64, 1, 7, 7)
    torch.testing.assert_close(m.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))    # timm's adapt_input_conv
    assert m.fc.weight.shape == (k, 512)
    src, own = rgb.state_dict(), m.state_dict()
    rest = [n for n in own if not n.startswith(("conv1.", "fc."))]
    assert len(rest) > 100 and all(torch.equal(own[n], src[n]) for n in rest)
    assert m.pretrained_cfg["input_size"] == (1, 64, 64) and m.pretrained_cfg["file"] == str(f)
    assert m(torch.randn(2, 1, 64, 64)).shape == (2, k)


def test_vit_position_embedding_resampled(tmp_path):
    rgb, f = _write(tmp_path, "vit_tiny_patch16_224", "safetensors")
    m = create("vit_tiny_patch16_224", img_size=64, num_classes=3, pretrained_file=f)
    assert m.patch_embed.proj.weight.shape == (192, 1, 16, 16) and m.pos_embed.shape == (1, 1 + 4 * 4, 192)
    assert torch.equal(m.blocks[3].attn.qkv.weight, rgb.blocks[3].attn.qkv.weight)
    assert m.head.weight.shape == (3, 192)


def test_wrong_files_and_calls_are_refused(tmp_path):
    _, f = _write(tmp_path, "resnet18", "safetensors")
    with pytest.raises(ValueError, match="does not fit resnet34"): create("resnet34", pretrained_file=f)   # silently partial otherwise
    with pytest.raises(ValueError, match="does not fit convnext_atto"): create("convnext_atto", pretrained_file=f)
    with pytest.raises(ValueError, match="init="): create("lens_cnn_tiny", pretrained_file=f)
    with pytest.raises(FileNotFoundError, match="no such file"): create("resnet18", pretrained_file=tmp_path / "nope.pth")
    (tmp_path / "w.npz").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.safetensors, \.pth"): create("resnet18", pretrained_file=tmp_path / "w.npz")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception): create("resnet18", pretrained_file=tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="pretrained_file"): create("resnet18", pretrained=True)


def test_init_accepts_a_timm_checkpoint(tmp_path):
    rgb, f = _write(tmp_path, "resnet18", "safetensors")
    assert is_timm_checkpoint(f) and not is_timm_checkpoint(tmp_path / "missing.safetensors")
    data = simulate_dataset("model_ii", n_per_class=12, seed=0, out=tmp_path / "d", progress=False)
    cfg = TrainConfig(data=str(data), model="resnet18", init=str(f), out_dir=str(tmp_path / "run"), epochs=1, batch_size=8, val_fraction=0.25, test_fraction=0.25, progress=False)
    r = _setup(cfg)
    assert torch.equal(r.model.layer2[0].conv1.weight, rgb.layer2[0].conv1.weight) and r.model.conv1.weight.shape[1] == 1
    m = fit(cfg)                                                # and it trains on from there; the run's own checkpoints
    assert m["steps"] >= 1 and not is_timm_checkpoint(tmp_path / "run" / "checkpoints" / "best.safetensors")
