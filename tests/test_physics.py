"""Physics of the simulator: agreement with lenstronomy, Einstein radii, substructure recipes, determinism, noise."""
import math

import numpy as np
import pytest
import torch

from deeplense_nb.core import CLASSES
from deeplense_nb.simulate import (CONFIGS, add_noise, einstein_radius, get_config, lens_constants, render_batch,
                                   render_lenstronomy, sample_params, simulate_batch)

PAIRS = [(c, l) for c in CONFIGS for l in ("no_sub", "cdm", "axion")]
TOL_PRE_PSF, TOL_POST_PSF = 3e-6, 3e-6  # max|ours - lenstronomy| / max|lenstronomy|, float32 render (seen: <= 1e-6); README quotes these


def max_rel_err(a, b): return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("config,label", PAIRS, ids=[f"{c}-{l}" for c, l in PAIRS])
def test_matches_lenstronomy(config, label):
    pytest.importorskip("lenstronomy")
    params, table, _ = sample_params(config, [label], seed=11)
    for psf, tol in ((False, TOL_PRE_PSF), (True, TOL_POST_PSF)):
        ours = render_batch(params, config, "cpu", psf=psf)[0, 0].double().numpy()
        ref = render_lenstronomy(table.iloc[0], config, psf=psf)
        err = max_rel_err(ours, ref)
        print(f"{config:9s} {label:6s} psf={psf!s:5s} max rel err {err:.2e}")
        assert ours.shape == ref.shape and err < tol, f"{config}/{label} psf={psf}: {err:.2e} >= {tol}"


def test_band_constants_match_lenstronomy():
    pytest.importorskip("lenstronomy")
    from lenstronomy.SimulationAPI.ObservationConfig.Euclid import Euclid
    from lenstronomy.SimulationAPI.ObservationConfig.HST import HST
    for name, kw in (("model_ii", Euclid(band="VIS", psf_type="GAUSSIAN", coadd_years=6).kwargs_single_band()),
                     ("model_iii", HST(band="WFC3_F160W", psf_type="GAUSSIAN").kwargs_single_band())):
        cfg = CONFIGS[name]
        got = dict(pixel_scale=cfg.pixel_scale, exposure_time=cfg.exposure_time, num_exposures=cfg.num_exposures,
                   sky_brightness=cfg.sky_brightness, magnitude_zero_point=cfg.magnitude_zero_point,
                   read_noise=cfg.read_noise, seeing=cfg.psf_fwhm)
        assert got == {k: kw[k] for k in got}, name


def test_einstein_radii():
    assert einstein_radius(1e12, "model_i") == pytest.approx(1.2815, abs=1e-4)  # upstream: luminosity distances
    assert einstein_radius(1e12, get_config("model_i", einstein_convention="angular")) == pytest.approx(1.63, abs=0.01)
    for name in ("model_ii", "model_iii"):
        k = lens_constants(CONFIGS[name])
        assert k["deflection_scale"] == pytest.approx(0.633, abs=1e-3)
        assert k["theta_e"] == pytest.approx(0.81, abs=0.005)
        assert k["gamma1"] == pytest.approx(0.032, abs=1e-3)
        # point masses: deflection ∝ θ_E², so θ_E scales with √f
        assert k["theta_e_per_sqrt_msun"] == pytest.approx(einstein_radius(1.0, name) * math.sqrt(k["deflection_scale"]))
    assert lens_constants(get_config("model_ii", z_source_convention=None))["theta_e"] == pytest.approx(1.2815, abs=1e-4)


def test_axion_mass_range_and_vortex_length():
    cfg = get_config("model_i")
    params, t, _ = sample_params(cfg, ["axion"] * 400, seed=3)
    assert t.axion_mass.between(1e-24, 1e-22).all() and t.log10_axion_mass.between(-24, -22).all()
    assert t.log10_axion_mass.min() < -23.8 and t.log10_axion_mass.max() > -22.2  # spans the range
    np.testing.assert_allclose(10 ** t.log10_axion_mass, t.axion_mass, rtol=1e-12)
    np.testing.assert_allclose(t.vortex_half_length * t.axion_mass, 0.03e-22, rtol=1e-12)  # ∝ 1/m_a, 0.03" at 1e-22
    half = torch.tensor(t.vortex_half_length.to_numpy())
    np.testing.assert_allclose(params["sub_x"].hypot(params["sub_y"]).max(1).values, half, rtol=1e-9)
    assert (t.n_subhalos == 100).all() and np.allclose(t.subhalo_mass_total, 3e10)
    assert (params["sub_mass"] == 3e8).all()


def test_class_substructure():
    params, t, _ = sample_params("model_ii", ["no_sub", "cdm", "axion", "no_sub"], seed=4)
    assert t.n_subhalos.tolist() == [0, 25, 100, 0]
    assert (params["sub_mass"][[0, 3]] == 0).all() and (params["sub_mass"][1, 25:] == 0).all()
    cdm = params["sub_mass"][1, :25]
    assert ((cdm >= 1e6) & (cdm <= 1e10)).all()
    r = params["sub_x"][1, :25].hypot(params["sub_y"][1, :25])
    assert ((r >= 0.25) & (r <= 2.0)).all()
    assert t.axion_mass[[0, 1, 3]].isna().all() and t.log10_axion_mass[[0, 1, 3]].isna().all()
    assert t.label.tolist() == ["no_sub", "cdm", "axion", "no_sub"] and t.label_id.tolist() == [2, 1, 0, 2]
    assert t.cdm_subhalos[0] == "[]"


def test_cdm_mass_function_slope():
    params, _, _ = sample_params("model_i", ["cdm"] * 400, seed=5)
    m = params["sub_mass"].flatten().numpy()
    # dN/dm ∝ m^-0.9  =>  dN/dlog m ∝ m^0.1: the top decade holds 10^0.1 times the previous one's count
    counts = np.histogram(np.log10(m), bins=[6, 7, 8, 9, 10])[0]
    np.testing.assert_allclose(counts[1:] / counts[:-1], 10**0.1, rtol=0.08)


def test_padded_subhalos_change_nothing():
    cfg = get_config("model_ii", noise=False)
    params, _, _ = sample_params(cfg, ["cdm", "no_sub"], seed=6)
    base = render_batch(params, cfg, "cpu")
    g = torch.Generator().manual_seed(0)
    extra = {k: torch.cat([v, torch.rand(2, 40, generator=g, dtype=torch.float64) * 3 - 1.5], 1)
             for k, v in params.items() if k in ("sub_x", "sub_y")}
    padded = dict(params, **extra, sub_mass=torch.cat([params["sub_mass"], torch.zeros(2, 40, dtype=torch.float64)], 1))
    assert torch.equal(render_batch(padded, cfg, "cpu"), base)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_grid_deflection_is_byte_identical_to_loop(name):
    # the fast pixel-grid path must do exactly the float operations of the general loop
    from deeplense_nb.simulate import _is_grid, _points_grid, _points_loop, pixel_grid
    for dtype in (torch.float32, torch.float64):
        x, y = pixel_grid(name, dtype=dtype)
        assert _is_grid(x, y)
        g = torch.Generator().manual_seed(17)
        px, py = (torch.rand(3, 30, generator=g, dtype=dtype) * 4 - 2 for _ in range(2))
        rein = torch.rand(3, 30, generator=g, dtype=dtype) * 0.1
        rein[:, 20:] = 0  # padded slots
        for a, b in zip(_points_grid(x, y, px, py, rein), _points_loop(x, y, px, py, rein)):
            assert a.numpy().tobytes() == b.numpy().tobytes(), (name, dtype)


def test_determinism():
    labels = ["axion", "cdm", "no_sub", 1]
    for name in CONFIGS:
        a, ta = simulate_batch(name, labels, seed=7)
        b, tb = simulate_batch(name, labels, seed=7, device="cpu")
        assert a.numpy().tobytes() == b.numpy().tobytes(), name
        assert ta.equals(tb)
        c, _ = simulate_batch(name, labels, seed=8)
        assert not torch.equal(a, c)


def test_determinism_across_thread_counts():
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1); a, _ = simulate_batch("model_ii", ["axion", "cdm"] * 4, seed=9)
        torch.set_num_threads(2); b, _ = simulate_batch("model_ii", ["axion", "cdm"] * 4, seed=9)
    finally:
        torch.set_num_threads(n)
    assert a.numpy().tobytes() == b.numpy().tobytes()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_finite_output_and_shapes(name):
    cfg = CONFIGS[name]
    x, t = simulate_batch(name, list(CLASSES) * 2, seed=10)
    assert x.shape == (6, 1, cfg.npix, cfg.npix) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert torch.isfinite(x).all() and len(t) == 6


def test_noise_flags():
    labels = ["cdm", "axion", "no_sub"]
    for name in ("model_ii", "model_iii"):
        clean, _ = simulate_batch(get_config(name, noise=False), labels, seed=12)
        noisy, _ = simulate_batch(name, labels, seed=12)  # default adds noise
        double, _ = simulate_batch(get_config(name, noise=False, upstream_double=True), labels, seed=12)
        params, _, _ = sample_params(name, labels, seed=12)
        assert torch.equal(clean, render_batch(params, name, "cpu").float())
        assert torch.equal(double, clean + clean)  # upstream II/III: image + image, no noise
        assert not torch.equal(noisy, clean)
        # far corner is empty sky: residual std ≈ background sigma
        cfg = CONFIGS[name]; t = cfg.exposure_time * cfg.num_exposures
        sky = 10 ** (-0.4 * (cfg.sky_brightness - cfg.magnitude_zero_point)) * cfg.pixel_scale**2
        sigma = math.sqrt(cfg.num_exposures * cfg.read_noise**2 + t * sky) / t
        resid = (noisy - clean)[:, :, :12, :12]
        assert resid.std().item() == pytest.approx(sigma, rel=0.15)
    counts, t = simulate_batch("model_i", labels, seed=13)  # Model I: Poisson counts
    assert torch.equal(counts, counts.round()) and counts.min() >= 0 and counts.max() > 50
    assert t.exposure_time.between(1e3, 10**3.5).all()
    clean, _ = simulate_batch(get_config("model_i", noise=False), labels, seed=13)
    assert clean.max() < 1 and not torch.equal(clean, counts)


def test_bad_input_errors():
    with pytest.raises(KeyError, match="model_i"): get_config("model_x")
    with pytest.raises(TypeError, match="pix"): get_config("model_i", pix=3)
    with pytest.raises(ValueError, match="unknown class"): simulate_batch("model_ii", ["sub"], seed=0)
    with pytest.raises(ValueError, match="out of range"): simulate_batch("model_ii", [5], seed=0)


def test_float64_render_matches_lenstronomy_tightly():
    pytest.importorskip("lenstronomy")
    cfg = get_config("model_iii", dtype="float64")
    params, table, _ = sample_params(cfg, ["axion"], seed=14)
    err = max_rel_err(render_batch(params, cfg, "cpu")[0, 0].numpy(), render_lenstronomy(table.iloc[0], cfg))
    print(f"float64 model_iii axion max rel err {err:.1e}")
    assert err < 1e-8


def test_model_i_brightness_matches_public_data():
    # public Model I files: counts up to ~700; peak over background noise ≈ 33-45 (DESIGN.md)
    x, _ = simulate_batch("model_i", ["cdm", "axion", "no_sub"] * 8, seed=15)
    peak = x.amax((1, 2, 3)); bkg = x[:, 0, :20, :20].flatten(1).std(1)
    assert 150 < peak.min() and peak.max() < 800
    assert 33 <= (peak / bkg).median() <= 47


def test_table_survives_csv_round_trip(tmp_path):
    import pandas as pd
    from deeplense_nb.simulate import _subhalos_from_row
    params, table, _ = sample_params("model_ii", ["cdm", "axion", "no_sub"], seed=16)
    table.to_csv(tmp_path / "labels.csv", index=False)
    back = pd.read_csv(tmp_path / "labels.csv", keep_default_na=True)
    for i, n in enumerate([25, 100, 0]):
        x, y, m = _subhalos_from_row(back.iloc[i], CONFIGS["model_ii"])
        assert len(m) == n
        np.testing.assert_array_equal(x, params["sub_x"][i, :n].numpy())  # exact: floats written with repr
        np.testing.assert_array_equal(m, params["sub_mass"][i, :n].numpy())
    assert back.source_x.tolist() == table.source_x.tolist()


# --- domain randomisation (LensConfig *_range fields, lens_offset, noiseless_fraction) ---------------------------------
RANDOM = dict(exposure_scale_range=(0.3, 3.0), background_scale_range=(0.5, 2.0), source_dmag_range=(-1.0, 1.0),
              lens_offset=0.5, noiseless_fraction=0.3)
PSF_RANGE = dict(model_i=(0.05, 0.15), model_ii=(0.08, 0.32), model_iii=(0.05, 0.2))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_randomised_render_matches_lenstronomy(config):
    "Per-image PSF, sub-pixel offset and source magnitude are physical: lenstronomy, given the row, renders the same image."
    pytest.importorskip("lenstronomy")
    cfg = get_config(config, psf_fwhm_range=PSF_RANGE[config], dtype="float64", **RANDOM)
    params, table, _ = sample_params(cfg, ["no_sub", "cdm", "axion"], seed=3)
    ims = render_batch(params, cfg, "cpu").numpy()
    assert table.psf_fwhm.nunique() == 3 and (table.lens_dx != 0).all()
    for i in range(3):
        err = max_rel_err(ims[i, 0], render_lenstronomy(table.iloc[i], cfg))
        assert err < 1e-8, f"{config}/{table.label[i]}: {err:.1e}"


def test_randomisation_ranges_are_respected_and_recorded():
    cfg = get_config("model_ii", psf_fwhm_range=(0.08, 0.32), **RANDOM)
    imgs, t = simulate_batch(cfg, ["no_sub", "cdm", "axion"] * 100, seed=4)
    lo_hi = dict(exposure_scale=(0.3, 3.0), background_scale=(0.5, 2.0), source_dmag=(-1, 1), psf_fwhm=(0.08, 0.32),
                 lens_dx=(-0.5 * 0.101, 0.5 * 0.101), lens_dy=(-0.5 * 0.101, 0.5 * 0.101))
    for k, (lo, hi) in lo_hi.items():
        assert t[k].between(lo, hi).all() and t[k].max() - t[k].min() > 0.5 * (hi - lo), k  # inside, and spread over the range
    assert np.allclose(t.exposure_time, 566.0 * 4 * t.exposure_scale)
    assert 0.2 < t.noiseless.mean() < 0.4
    p, _, _ = sample_params(cfg, ["no_sub", "cdm", "axion"] * 100, seed=4)
    clean = render_batch(p, cfg, "cpu")
    nl = torch.tensor(t.noiseless.to_numpy())
    assert torch.equal(imgs[nl], clean[nl]) and not torch.allclose(imgs[~nl], clean[~nl])  # noiseless rows: the clean model
    again, t2 = simulate_batch(cfg, ["no_sub", "cdm", "axion"] * 100, seed=4)
    assert torch.equal(again, imgs) and t2.equals(t)  # same seed, same bytes


def test_exposure_and_background_scale_the_noise_as_the_ccd_model_says():
    "Another exposure changes shot and background noise together; the background scale multiplies the background sigma."
    from deeplense_nb.simulate import _ccd_background_sigma
    base = get_config("model_ii")
    def corner_std(**kw):
        imgs, _ = simulate_batch(get_config(base, **kw), ["no_sub"] * 64, seed=6)
        return float(imgs[:, 0, :12, :12].std())  # far from the arcs: background only
    t = torch.tensor(566.0 * 4)
    s1, s4 = corner_std(exposure_scale_range=(1.0, 1.0)), corner_std(exposure_scale_range=(4.0, 4.0))
    expect = float(_ccd_background_sigma(base, 4 * t) / _ccd_background_sigma(base, t))
    assert s4 / s1 == pytest.approx(expect, rel=0.05)
    assert corner_std(background_scale_range=(2.0, 2.0)) / corner_std() == pytest.approx(2.0, rel=0.05)


def test_randomisation_off_reproduces_the_committed_sample(tmp_path):
    "With every range off the simulator makes what it made before (data/samples/model_ii was written before they existed)."
    import json
    from pathlib import Path
    from deeplense_nb.data import open_dataset, simulate_dataset
    ref = Path(__file__).resolve().parents[1]/"data"/"samples"/"model_ii"
    spec = json.loads((ref/"meta.json").read_text())["spec"]
    simulate_dataset(spec["config"], spec["n_per_class"], seed=spec["seed"], out=tmp_path/"s", device="cpu", progress=False)
    a, b = open_dataset(tmp_path/"s").images, open_dataset(ref).images
    assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(b).max()  # bytes here; a float ulp on another CPU
    assert "psf_fwhm" not in open_dataset(tmp_path/"s").labels  # no randomisation columns when off


def test_simulate_cli_accepts_ranges(tmp_path):
    from deeplense_nb.cli import main
    from deeplense_nb.data import open_dataset
    main(["simulate", "--config", "model_ii", "--n-per-class", "2", "--out", str(tmp_path/"r"), "--device", "cpu", "-q",
          "--set", "psf_fwhm_range=(0.1, 0.2)", "--set", "noiseless_fraction=0.5"])
    lab = open_dataset(tmp_path/"r").labels
    assert lab.psf_fwhm.between(0.1, 0.2).all() and "noiseless" in lab
    with pytest.raises(SystemExit):  # a range the wrong way round is refused before anything is written
        main(["simulate", "--out", str(tmp_path/"bad"), "-q", "--set", "psf_fwhm_range=(0.2, 0.1)"])
