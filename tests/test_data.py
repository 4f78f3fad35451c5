"""On-disk format, resumable/sharded simulation, LensDataset, normalisation and splits (tiny sizes, real simulator)."""
import dataclasses, json
import numpy as np
import pandas as pd
import pytest
import torch
from deeplense_nb.core import CLASSES, sha256_file
from deeplense_nb.data import (LensData, LensDataset, normalize_image, open_dataset, simulate_dataset, split_indices,
                               standard_labels, write_dataset)

try:
    from deeplense_nb import simulate
    HAVE_SIM = hasattr(simulate, "simulate_batch")
except ImportError:
    HAVE_SIM = False

N_PER_CLASS, CHUNK = 4, 5  # 12 images in 3 chunks (the last one short)


@dataclasses.dataclass
class ToyConfig:
    name: str = "toy"
    npix: int = 8


def toy_simulate(cfg, labels, seed, device=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(labels), 1, cfg.npix, cfg.npix, generator=g)
    return x, pd.DataFrame(dict(label=labels, label_id=[CLASSES.index(l) for l in labels],
                                axion_mass=[1e-23 if l == "axion" else np.nan for l in labels]))


@pytest.fixture(scope="module")
def sim():
    "(config, simulate_fn): the real renderer on a tiny image size when available, otherwise a stand-in."
    if HAVE_SIM:
        return simulate.get_config("model_ii", npix=16), simulate.simulate_batch
    return ToyConfig(), toy_simulate


def make(sim, out, **kw):
    cfg, fn = sim
    kw = dict(dict(n_per_class=N_PER_CLASS, seed=7, chunk_size=CHUNK, progress=False, device="cpu", simulate_fn=fn), **kw)
    return simulate_dataset(cfg, out=out, **kw)


@pytest.fixture(scope="module")
def full(sim, tmp_path_factory):
    return make(sim, tmp_path_factory.mktemp("full") / "ds")


def test_format_and_meta(full, sim):
    d = open_dataset(full, verify=True)
    assert isinstance(d.images, np.memmap) and d.images.dtype == np.float32
    assert d.images.shape == (3 * N_PER_CLASS, 1, sim[0].npix, sim[0].npix)
    assert np.isfinite(d.images).all()
    assert d.labels.label.value_counts().to_dict() == {c: N_PER_CLASS for c in CLASSES}
    assert (d.labels.label_id == d.labels.label.map(CLASSES.index)).all()
    assert list(d.labels["index"]) == list(range(len(d)))
    assert {"index", "label", "label_id", "axion_mass", "log10_axion_mass", "seed"} <= set(d.labels.columns)
    m = d.meta
    assert m["sha256"] == sha256_file(full / "images.npy") and m["n"] == len(d) and m["classes"] == list(CLASSES)
    assert m["params"] == json.loads(json.dumps(dataclasses.asdict(sim[0]), default=str))
    assert {"format_version", "normalisation", "provenance"} <= set(m)
    assert {"package_version", "git_commit"} <= set(m["provenance"])
    assert not (full / "progress.json").exists() and not (full / "_chunks").exists()
    img, row = d[3]
    assert img.shape == (1, sim[0].npix, sim[0].npix) and row.label == CLASSES[0]


def test_same_seed_same_bytes_and_noop(full, sim, tmp_path):
    again = make(sim, tmp_path / "again")
    assert sha256_file(again / "images.npy") == sha256_file(full / "images.npy")
    pd.testing.assert_frame_equal(pd.read_csv(again / "labels.csv"), pd.read_csv(full / "labels.csv"))
    other = make(sim, tmp_path / "other", seed=8)
    assert sha256_file(other / "images.npy") != sha256_file(full / "images.npy")
    before = (again / "meta.json").stat().st_mtime_ns
    make(sim, tmp_path / "again")  # complete: no-op
    assert (again / "meta.json").stat().st_mtime_ns == before


def test_mismatched_folder_refused(full, sim):
    for kw in (dict(seed=8), dict(n_per_class=5), dict(chunk_size=4)):
        with pytest.raises(ValueError, match="other settings"):
            make(sim, full, **kw)
    assert open_dataset(full, verify=True)  # untouched


def test_shards_equal_unsharded(full, sim, tmp_path):
    for s in ("1/2", "0/2"):
        make(sim, tmp_path / "sh", shard=s)
    assert sorted(p.name for p in (tmp_path / "sh").iterdir()) == ["part-00000", "part-00001"]
    d, ref = open_dataset(tmp_path / "sh", verify=True), open_dataset(full)
    assert len(d) == len(ref) and d.images.shape == ref.images.shape
    np.testing.assert_array_equal(np.asarray(d.images), np.asarray(ref.images))
    pd.testing.assert_frame_equal(d.labels, ref.labels)
    np.testing.assert_array_equal(d[7][0], ref[7][0])


def test_incomplete_shard_set(sim, tmp_path):
    make(sim, tmp_path / "sh", shard="0/3")
    with pytest.raises(ValueError, match="missing"):
        open_dataset(tmp_path / "sh")


def test_interrupt_then_resume(full, sim, tmp_path):
    cfg, fn = sim
    calls = []

    def dies_after_two(*a, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        calls.append(1)
        return fn(*a, **kw)

    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        simulate_dataset(cfg, n_per_class=N_PER_CLASS, seed=7, chunk_size=CHUNK, out=out, progress=False,
                         simulate_fn=dies_after_two, device="cpu")
    assert not (out / "meta.json").exists()
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        open_dataset(out)
    assert json.loads((out / "progress.json").read_text())["chunks_done"] == [0, 1]
    done = []
    make(sim, out, simulate_fn=lambda *a, **kw: done.append(1) or fn(*a, **kw))
    assert len(done) == 1  # only the missing chunk
    assert sha256_file(out / "images.npy") == sha256_file(full / "images.npy")
    pd.testing.assert_frame_equal(pd.read_csv(out / "labels.csv"), pd.read_csv(full / "labels.csv"))


def test_lens_dataset_tasks(full):
    d = open_dataset(full)
    ds = LensDataset(d)
    x, y = ds[0]
    assert x.dtype == torch.float32 and x.shape == d.images.shape[1:] and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1 and torch.isfinite(x).all()
    assert ds.info["normalize"] == "minmax"
    b = LensDataset(full, task="binary")
    assert b.targets.tolist() == [int(l != "no_sub") for l in d.labels.label]
    r = LensDataset(d, task="regress")
    assert len(r) == N_PER_CLASS and r.targets.dtype == torch.float32
    assert np.allclose(r.targets.numpy(), d.labels.log10_axion_mass[d.labels.label == "axion"])
    with pytest.raises(ValueError, match="finite axion mass"):
        LensDataset(d, indices=np.flatnonzero(d.labels.label != "axion"), task="regress")
    with pytest.raises(ValueError, match="choose one of"):
        LensDataset(d, task="segment")
    loader = torch.utils.data.DataLoader(LensDataset(d, normalize="standard"), batch_size=4, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    xb, yb = next(iter(loader))
    assert xb.shape == (4, *d.images.shape[1:]) and torch.isfinite(xb).all()


def test_lens_dataset_pickles_without_copying(full):
    import pickle
    ds = LensDataset(full)
    blob = pickle.dumps(ds)
    assert len(blob) < ds.data.images.nbytes + 10_000 or ds.data.images.nbytes < 10_000
    ds2 = pickle.loads(blob)
    assert torch.equal(ds2[5][0], ds[5][0])


@pytest.mark.parametrize("mode", ["minmax", "standard", "asinh", "none"])
def test_normalize_never_nan(mode):
    for x in (torch.zeros(1, 8, 8), torch.full((3, 1, 4, 4), 5.0), torch.tensor([[[1e-45, 0.0]]]),
              torch.tensor([[[-3e38, 3e38]]]), torch.randn(2, 1, 5, 5) * 1e30):
        y = normalize_image(x, mode)
        assert y.shape == x.shape and torch.isfinite(y).all()
    if mode != "none":
        assert torch.equal(normalize_image(torch.full((1, 3, 3), 2.0), mode), torch.zeros(1, 3, 3))


def test_split_indices():
    y = np.repeat(np.array(CLASSES), [17, 40, 23])
    s = split_indices(y, seed=1)
    allidx = np.concatenate(list(s.values()))
    assert sorted(allidx) == list(range(len(y)))
    for c in CLASSES:
        n = (y == c).sum()
        assert abs((y[s["train"]] == c).sum() - 0.8 * n) <= 1
    assert all(np.array_equal(s[k], split_indices(y, seed=1)[k]) for k in s)
    assert not np.array_equal(s["train"], split_indices(y, seed=2)["train"])
    u = split_indices(80, seed=1, stratify=False, fractions=(0.5, 0.25, 0.25))
    assert [len(u[k]) for k in u] == [40, 20, 20]
    with pytest.raises(ValueError, match="summing to 1"):
        split_indices(10, fractions=(0.5, 0.1, 0.1))
    lab = pd.DataFrame(dict(label=["cdm"] * 4, split=["test", "train", "val", "train"]))
    c = split_indices(lab, use_column=True)
    assert c["train"].tolist() == [1, 3] and c["val"].tolist() == [2] and c["test"].tolist() == [0]
    with pytest.raises(ValueError, match="expected train/val/test"):
        split_indices(pd.DataFrame(dict(label=["cdm"] * 2, split=["train", "none"])), use_column=True)
    with pytest.raises(ValueError, match="'split' column"):
        split_indices(pd.DataFrame(dict(label=["cdm"])), use_column=True)


def test_write_dataset_atomic(tmp_path):
    x = np.arange(2 * 16, dtype=np.float32).reshape(2, 1, 4, 4)
    lab = standard_labels(pd.DataFrame(dict(label=["cdm", "axion"])))
    write_dataset(tmp_path / "d", x, lab, dict(classes=CLASSES))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_dataset(tmp_path / "d", x, lab, dict(classes=CLASSES))
    write_dataset(tmp_path / "d", x + 1, lab, dict(classes=CLASSES), overwrite=True)
    np.testing.assert_array_equal(open_dataset(tmp_path / "d", verify=True).images, x + 1)
    (tmp_path / "d" / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match="incomplete|no meta.json"):
        open_dataset(tmp_path / "d")
