"""`import_fits` / `deeplense-nb import-fits` and `predict --pixel-scale` on FITS files these tests write themselves."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from deeplense_nb.data import LensDataset, open_dataset
from deeplense_nb.import_fits import PixelMatch, import_fits, make_fake_fits, read_fits_header, tan_header, wcs_pixel_scale
from deeplense_nb.importer import BadFile

EXE = str(Path(sys.executable).parent / "deeplense-nb")


def blob(shape, scale, dx=0.0, dy=0.0, sigma=0.3):
    "A Gaussian of `sigma` arcsec, (dx, dy) arcsec from the centre of an image of `shape` with pixels of `scale` = (x, y) arcsec."
    sx, sy = (scale, scale) if np.isscalar(scale) else scale
    y, x = np.indices(shape, dtype=float)
    return np.exp(-(((x - (shape[1] - 1) / 2) * sx - dx) ** 2 + ((y - (shape[0] - 1) / 2) * sy - dy) ** 2) / (2 * sigma ** 2))


def centroid(a):
    y, x = np.indices(a.shape)
    return (a * x).sum() / a.sum() - (a.shape[1] - 1) / 2, (a * y).sum() / a.sum() - (a.shape[0] - 1) / 2


def write(path, img, scale=None, header=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(img, header=header if header is not None else tan_header(scale, img.shape[-2:]) if scale else None).writeto(path)
    return path


def cli(*args, check=True):
    r = subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    if check: assert r.returncode == 0, f"deeplense-nb {' '.join(map(str, args))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


def test_wcs_and_odd_sizes_keep_the_geometry(tmp_path):
    "A source 0.6 arcsec right and 0.4 up of the centre lands 0.6/0.101 and 0.4/0.101 pixels from it, whatever the input grid."
    cases = [((101, 87), 0.04), ((33, 41), 0.2), ((150, 150), 0.05), ((64, 64), 0.101)]
    for i, (shape, s) in enumerate(cases):
        write(tmp_path / "src" / "cdm" / f"{i}.fits", blob(shape, s, 0.6, 0.4).astype(np.float32), s)
    rep = import_fits(tmp_path / "src", tmp_path / "ds", progress=False)
    assert (rep.n_imported, rep.n_skipped) == (4, 0)
    ds = open_dataset(tmp_path / "ds", verify=True)
    assert ds.images.shape == (4, 1, 64, 64) and ds.meta["params"]["pixel_scale"] == 0.101 and ds.meta["source"] == "import_fits"
    for img in np.asarray(ds.images)[:, 0]:
        np.testing.assert_allclose(centroid(img), (0.6 / 0.101, 0.4 / 0.101), atol=0.05)
    lab = ds.labels.set_index("source")
    assert list(lab.loc[[f"cdm/{i}.fits" for i in range(4)], "source_shape"]) == ["101x87", "33x41", "150x150", "64x64"]
    np.testing.assert_allclose(lab.source_pixel_scale_x.loc[[f"cdm/{i}.fits" for i in range(4)]], [s for _, s in cases], rtol=1e-9)
    assert (lab.pixel_scale_from == "wcs").all()
    np.testing.assert_allclose(np.asarray(ds.images)[3, 0], blob((64, 64), 0.101, 0.6, 0.4), atol=1e-6)  # same grid: same pixels


def test_non_square_pixels_from_cdelt():
    h = fits.Header(dict(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CDELT1=-0.05 / 3600, CDELT2=0.1 / 3600, CRPIX1=40.5, CRPIX2=20.5))
    np.testing.assert_allclose(wcs_pixel_scale(h), (0.05, 0.1), rtol=1e-9)
    out, info = PixelMatch(0.08, 48)(blob((40, 80), (0.05, 0.1), sigma=0.5), wcs_pixel_scale(h))
    w = lambda a, ax: np.sqrt((a.sum(ax) * (np.arange(a.shape[1 - ax]) - (a.shape[1 - ax] - 1) / 2) ** 2).sum() / a.sum())
    assert abs(w(out, 0) - w(out, 1)) < 0.02 * w(out, 0)  # a round source is round again


def test_without_wcs_needs_src_pixel_scale(tmp_path):
    write(tmp_path / "src" / "no_sub" / "plain.fits", blob((50, 50), 0.05))
    with pytest.raises(ValueError, match="pass src_pixel_scale=ARCSEC"):  # nothing importable: the reason is in the message
        import_fits(tmp_path / "src", tmp_path / "ds", progress=False)
    assert "pass src_pixel_scale=ARCSEC" in pd.read_csv(tmp_path / "ds" / "report.csv").reason[0]
    rep = import_fits(tmp_path / "src", tmp_path / "ds", src_pixel_scale=0.05, size=32, pixel_scale=0.1, progress=False, overwrite=True)
    lab = open_dataset(tmp_path / "ds").labels
    assert rep.n_imported == 1 and lab.pixel_scale_from[0] == "src_pixel_scale" and lab.source_pixel_scale_x[0] == 0.05
    write(tmp_path / "src2" / "cdm" / "wcs.fits", blob((50, 50), 0.08), 0.08)  # a WCS always wins over src_pixel_scale
    import_fits(tmp_path / "src2", tmp_path / "ds2", src_pixel_scale=0.5, progress=False)
    assert open_dataset(tmp_path / "ds2").labels.source_pixel_scale_x[0] == pytest.approx(0.08)


def test_nan_and_blank_pixels_are_filled_and_counted(tmp_path):
    a = blob((60, 60), 0.101) + 5.0; a[:4, :5] = np.nan; a[30, 30] = np.inf
    write(tmp_path / "src" / "cdm" / "nan.fits", a.astype(np.float32), 0.101)
    b = np.full((64, 64), 100, np.int16); b[10:12, :] = -32768
    h = tan_header(0.101, b.shape); h["BLANK"] = -32768
    write(tmp_path / "src" / "cdm" / "blank.fits", b, header=h)
    c = np.full((64, 64), np.nan, np.float32); c[:10] = 1  # 84 % masked
    write(tmp_path / "src" / "cdm" / "mostly_nan.fits", c, 0.101)
    rep = import_fits(tmp_path / "src", tmp_path / "ds", progress=False)
    assert (rep.n_imported, rep.n_skipped, rep.n_masked, rep.n_files_masked) == (2, 1, 21 + 128, 2)
    assert "over max_masked=0.5" in rep.skipped.reason[0] and "mostly_nan.fits" in rep.skipped.path[0]
    ds = open_dataset(tmp_path / "ds"); x = np.asarray(ds.images)
    assert np.isfinite(x).all() and (x[ds.labels.source == "cdm/blank.fits"] == 100).all()  # the median of the good pixels
    assert dict(zip(ds.labels.source, ds.labels.n_masked)) == {"cdm/blank.fits": 128, "cdm/nan.fits": 21}
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())["import_report"]
    assert (meta["n_masked_pixels"], meta["n_files_masked"], meta["n_skipped"]) == (149, 2, 1)
    for fill in ("zero", "nearest"):
        out, info = PixelMatch(0.101, 60, fill=fill)(a, 0.101)
        assert np.isfinite(out).all() and info["n_masked"] == 21 and (out[:4, :5] == 0).all() == (fill == "zero")


def test_corrupt_truncated_and_cube_files_are_reported(tmp_path):
    src = make_fake_fits(tmp_path / "src", n=2, classes=("cdm", "no_sub"))
    (src / "cdm" / "corrupt.fits").write_bytes(b"this is not a FITS file at all" * 100)
    (src / "cdm" / "truncated.fits").write_bytes((src / "cdm" / "cdm_0.fits").read_bytes()[:4000])
    cube = np.stack([blob((40, 40), 0.101, dx=k * 0.5) for k in range(3)]).astype(np.float32)
    write(src / "no_sub" / "cube.fits", cube, 0.101)
    os.mkfifo(src / "no_sub" / "pipe.fits")  # never blocks the import
    rep = import_fits(src, tmp_path / "ds", progress=False)
    why = dict(zip(rep.skipped.path.map(lambda p: Path(p).name), rep.skipped.reason))
    assert rep.n_imported == 4 and set(why) == {"corrupt.fits", "truncated.fits", "cube.fits", "pipe.fits"}
    assert why["corrupt.fits"].startswith("not a readable FITS file") and why["truncated.fits"].startswith("truncated")
    assert "3-D cube of 3 planes" in why["cube.fits"] and "pass plane=0" in why["cube.fits"] and "FIFO" in why["pipe.fits"]
    assert pd.read_csv(tmp_path / "ds" / "report.csv").shape == (4, 2)
    os.remove(src / "no_sub" / "pipe.fits")
    rep = import_fits(src, tmp_path / "ds1", plane=1, progress=False)
    ds = open_dataset(tmp_path / "ds1"); k = int(np.flatnonzero(ds.labels.source == "no_sub/cube.fits")[0])
    assert rep.n_imported == 5 and centroid(np.asarray(ds.images[k, 0]))[0] == pytest.approx(0.5 / 0.101, abs=0.05)  # plane 1


def test_label_csv_with_missing_file_masses_and_splits(tmp_path):
    src = tmp_path / "src"
    for i in range(4): write(src / "any" / "where" / f"c{i}.fits", blob((48, 48), 0.05, dx=0.1 * i), 0.05)
    pd.DataFrame(dict(file=["any/where/c0.fits", "any/where/c1.fits", "any/where/c2.fits", "any/where/gone.fits"],
                      label=["cdm", "vort", "no", "cdm"], log10_axion_mass=["", "-22.5", "", ""],
                      split=["train", "val", "test", "train"])).to_csv(tmp_path / "labels.csv", index=False)
    rep = import_fits(src, tmp_path / "ds", labels=tmp_path / "labels.csv", progress=False)
    why = dict(zip(rep.skipped.path.map(lambda p: Path(p).name), rep.skipped.reason))
    assert why == {"gone.fits": "listed in the labels CSV but not found", "c3.fits": f"not in the labels CSV {tmp_path / 'labels.csv'}"}
    ds = open_dataset(tmp_path / "ds"); lab = ds.labels.set_index("source")
    assert list(lab.label) == ["cdm", "axion", "no_sub"] and list(lab.split) == ["train", "val", "test"] and ds.classes == ("axion", "cdm", "no_sub")
    assert lab.log10_axion_mass["any/where/c1.fits"] == pytest.approx(-22.5) and np.isnan(lab.log10_axion_mass["any/where/c0.fits"])
    assert len(LensDataset(ds, task="regress")) == 1 and len(LensDataset(ds)) == 3  # the format's tasks read it
    pd.DataFrame(dict(path=["any/where/c0.fits"], mass=[1])).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="needs a file column .* and a class"):
        import_fits(src, tmp_path / "ds2", labels=tmp_path / "bad.csv", progress=False)


def test_unlabelled_folder(tmp_path):
    for i, shape in enumerate([(30, 31), (80, 64)]): write(tmp_path / "src" / "field" / f"{i}.fits.gz", blob(shape, 0.08), 0.08)
    rep = import_fits(tmp_path / "src", tmp_path / "ds", like="model_iii", progress=False)
    ds = open_dataset(tmp_path / "ds")
    assert rep.n_imported == 2 and ds.classes == ("unlabelled",) and set(ds.labels.label) == {"unlabelled"}
    assert ds.images.shape[1:] == (1, 64, 64) and ds.meta["params"]["pixel_scale"] == 0.08  # Model III's grid


def test_bad_settings_say_what_to_pass(tmp_path):
    make_fake_fits(tmp_path / "src", n=1, classes=("cdm",))
    for kw, msg in [(dict(pixel_scale=0), "pixel_scale=0"), (dict(size=0), "size=0"), (dict(fill="mean"), "fill='mean'"),
                    (dict(max_masked=2), "max_masked=2"), (dict(like="nope"), "nope")]:
        with pytest.raises((ValueError, KeyError), match=msg): import_fits(tmp_path / "src", tmp_path / "ds", progress=False, **kw)
    with pytest.raises(FileNotFoundError, match="not a folder"): import_fits(tmp_path / "nope", tmp_path / "ds")
    with pytest.raises(BadFile, match="does not exist"): read_fits_header(tmp_path / "nope.fits")


def test_cli_import_fits(tmp_path):
    src = make_fake_fits(tmp_path / "src", n=2, classes=("axion", "no_sub"))
    write(src / "no_sub" / "nowcs.fits", blob((40, 40), 0.05))
    r = cli("import-fits", src, tmp_path / "ds", "--pixel-scale", "0.08", "--size", "32", "-q")
    assert "4 imported, 1 skipped" in r.stdout and "masked pixels filled in 2 files" in r.stdout
    rep = pd.read_csv(tmp_path / "ds" / "report.csv")
    assert "nowcs.fits" in rep.path[0] and "--src-pixel-scale ARCSEC" in rep.reason[0]  # the flag, in the CLI's words
    ds = open_dataset(tmp_path / "ds")
    assert ds.images.shape == (4, 1, 32, 32) and ds.meta["params"]["pixel_scale"] == 0.08
    cli("import-fits", src, tmp_path / "ds", "--src-pixel-scale", "0.05", "--overwrite", "-q")
    assert open_dataset(tmp_path / "ds").images.shape == (5, 1, 64, 64)
    (tmp_path / "junk").mkdir(); (tmp_path / "junk" / "x.fits").write_bytes(b"junk")
    r = cli("import-fits", tmp_path / "junk", tmp_path / "ds3", check=False)
    assert r.returncode == 1 and "no importable FITS files" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = cli("import-fits", src, tmp_path / "ds4", "--size", "0", check=False)
    assert r.returncode == 1 and "--size 0" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_predict_pixel_scale_matches_before_the_model(tmp_path):
    "A Model I lens (150 px of 0.05 arcsec, NaN corner) given to the Model II classifier: refused as it is, classified once matched."
    from deeplense_nb.import_fits import dataset_pixel_scale
    from deeplense_nb.pretrained import load, predict
    from deeplense_nb.simulate import simulate_batch
    x = simulate_batch("model_i", ["cdm"], seed=4)[0][0, 0].numpy(); x[:5, :5] = np.nan
    write(tmp_path / "in" / "lens.fits", x, 0.05)
    np.save(tmp_path / "in" / "lens.npy", np.nan_to_num(x))
    net, card = load("model_ii_classifier", device="cpu")
    plain = predict(tmp_path / "in", model=(net, card), progress=False)
    assert (plain.error != "").all()
    m = predict(tmp_path / "in", model=(net, card), pixel_scale="model", progress=False).set_index(plain.path.map(lambda p: Path(p).name))
    assert m.error["lens.fits"] == "" and "pass src_pixel_scale=ARCSEC" in m.error["lens.npy"]
    m2 = predict(tmp_path / "in", model=(net, card), pixel_scale="model", src_pixel_scale=0.05, progress=False)
    assert (m2.error == "").all()
    p = lambda df, i: df[["p_axion", "p_cdm", "p_no_sub"]].to_numpy(float)[i]
    np.testing.assert_allclose(p(m2, 0), p(m2, 1), atol=0.02)  # the .npy at 0.05" and the FITS with its WCS: the same input but the NaN corner
    # predict on a simulated data set: its meta.json gives the scale, so matching to the model's own grid changes nothing
    from deeplense_nb.data import simulate_dataset
    ds = simulate_dataset("model_ii", n_per_class=1, seed=3, out=tmp_path / "sim", progress=False)
    assert dataset_pixel_scale(ds) == 0.101
    a, b = predict(ds, model=(net, card), progress=False), predict(ds, model=(net, card), pixel_scale="model", progress=False)
    np.testing.assert_allclose(a[["p_axion", "p_cdm", "p_no_sub"]].to_numpy(float), b[["p_axion", "p_cdm", "p_no_sub"]].to_numpy(float), atol=1e-6)
    r = cli("predict", tmp_path / "in" / "lens.fits", "--pixel-scale", "--out", tmp_path / "p.csv", "-q")
    assert "1 images predicted" in r.stdout
    r = cli("predict", tmp_path / "in" / "lens.npy", "--pixel-scale", "--out", tmp_path / "q.csv", "-q", check=False)
    assert r.returncode == 1 and "--src-pixel-scale ARCSEC" in pd.read_csv(tmp_path / "q.csv").error[0]
