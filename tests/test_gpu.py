"""CUDA-only paths (skipped without an NVIDIA GPU): the simulator on the GPU agrees with the CPU, and every recipe takes a
bf16-autocast training step there. `scripts/gpu_check.sh` runs these and the timings a maintainer needs."""
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CUDA)")]


def test_simulator_on_cuda_matches_cpu():
    from deeplense_nb.simulate import get_config, render_batch, sample_params
    for name in ("model_i", "model_ii", "model_iii"):
        cfg = get_config(name, dtype="float64", psf_fwhm_range=(0.06, 0.2), lens_offset=0.5)
        p, _, _ = sample_params(cfg, ["no_sub", "cdm", "axion"], seed=3)
        a, b = render_batch(p, cfg, "cpu"), render_batch(p, cfg, "cuda").cpu()
        assert float((a - b).abs().max() / a.abs().max()) < 1e-9, name


@pytest.mark.parametrize("recipe", ["cnn_model_ii", "vit_model_ii", "swin_model_ii", "fnet_model_ii", "mixer_model_ii",
                                    "resmlp_model_ii", "aniso_model_ii", "polar_model_ii", "hybrid_model_ii"])
def test_bf16_training_step_on_cuda(recipe):
    from deeplense_nb.learn import load_recipe
    from deeplense_nb.models import create
    from deeplense_nb.config import model_kwargs
    r = load_recipe(recipe)
    m = create(r["model"], num_classes=3, **model_kwargs(r["model_args"])).cuda()
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x, y = torch.randn(64, 1, 64, 64, device="cuda"), torch.randint(0, 3, (64,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = torch.nn.functional.cross_entropy(m(x), y)
    loss.backward(); opt.step()
    assert torch.isfinite(loss) and all(torch.isfinite(p).all() for p in m.parameters())
