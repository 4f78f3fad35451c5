"""Importer fuzz test: a public-style tree with good files and >= 50 malformed ones (incl. malicious pickles)."""
import io, os, pickle, struct
import numpy as np
import pandas as pd
import pytest
from deeplense_nb.core import CLASSES
from deeplense_nb.data import LensDataset, open_dataset, split_indices
from deeplense_nb.importer import SafeUnpickler, import_deeplense, make_fake_deeplense, read_npy_safe

S = 8  # image side of the good files


def obj_array(*items):
    a = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        a[i] = x
    return a


def save_obj(path, arr):
    with open(path, "wb") as f:  # writes a pickled .npy the way np.save(allow_pickle=True) does
        np.lib.format.write_array(f, arr, allow_pickle=True)


class Shell:
    "Creates the marker file if ever unpickled."
    def __init__(self, marker, via="system"):
        self.marker, self.via = str(marker), via

    def __reduce__(self):
        if self.via == "system":
            return (os.system, (f"touch {self.marker}",))
        if self.via == "eval":
            return (eval, (f"open({self.marker!r}, 'w').close()",))
        if self.via == "exec":
            return (exec, (f"open({self.marker!r}, 'w').close()",))
        import subprocess
        return (subprocess.call, (["touch", self.marker],))


def raw_npy(header: dict, payload: bytes) -> bytes:
    "A .npy file with a hand-written header (to lie about dtype/shape)."
    h = repr(header).encode("latin1")
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    root, marker = tmp_path / "src", tmp_path / "PWNED"
    good, bad = {}, set()
    for split in ("train", "val", "test"):
        for c in CLASSES:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(6):
                kind = i % 6
                img = rng.random((S, S)) * 700
                if kind == 1: img = np.round(img)  # Model I style counts
                if kind == 2: img = img.astype(np.float32)
                if kind == 3: img = np.asfortranarray(img)
                if kind == 4: img = img.astype(np.int64)
                arr = img[None] if kind == 5 else img
                p = d / f"{c}_{i}.npy"
                if c == "axion":
                    mass = float(10 ** rng.uniform(-24, -22))
                    save_obj(p, obj_array(arr, np.float64(mass) if i % 2 else mass))
                else:
                    mass = np.nan
                    np.save(p, arr)
                good[p.relative_to(root).as_posix()] = (np.asarray(img).astype(np.float32), mass, split, c)

    def add(rel, data=None, arr=None, obj=None):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if data is not None: p.write_bytes(data)
        elif obj is not None: save_obj(p, obj)
        else: np.save(p, arr)
        bad.add(str(p))

    ok = np.ones((S, S))
    valid = (root / "train/cdm/cdm_0.npy").read_bytes()
    n = 0
    for split in ("train", "test"):
        for c in ("cdm", "axion"):
            b = f"{split}/{c}/bad_"
            add(b + "nan.npy", arr=np.where(np.eye(S) > 0, np.nan, ok))
            add(b + "inf.npy", arr=np.full((S, S), np.inf))
            add(b + "neginf32.npy", arr=np.full((S, S), -np.inf, np.float32))
            add(b + "overflow.npy", arr=np.full((S, S), 1e300))
            add(b + "empty.npy", data=b"")
            add(b + "garbage.npy", data=b"hello, not numpy at all" * 3)
            add(b + "trunc_header.npy", data=valid[:40])
            add(b + "trunc_data.npy", data=valid[:-17])
            add(b + "lying_shape.npy", data=raw_npy({"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}, b"\0" * 64))
            add(b + "bad_header.npy", data=b"\x93NUMPY\x01\x00\x10\x00{'descr': 'xx'}\n")
            add(b + "rgb.npy", arr=np.ones((3, S, S)))
            add(b + "1d.npy", arr=np.ones(S * S))
            add(b + "4d.npy", arr=np.ones((1, 1, S, S)))
            add(b + "zero.npy", arr=np.ones((0, 0)))
            add(b + "size.npy", arr=np.ones((2 * S, 2 * S)))  # valid, but not the majority size
            add(b + "str.npy", arr=np.array([["a"] * S] * S))
            add(b + "complex.npy", arr=np.ones((S, S), complex))
            add(b + "bool.npy", arr=np.ones((S, S), bool))
            add(b + "struct.npy", arr=np.zeros((S, S), dtype=[("a", "f4"), ("b", "f4")]))
            n += 19
    # object arrays: malicious, wrong structure, bad masses
    evil = ["system", "eval", "exec", "subprocess"]
    for i, via in enumerate(evil):
        add(f"train/axion/evil_{via}.npy", obj=obj_array(Shell(marker, via), 1e-23))
        add(f"val/axion/evil_mass_{via}.npy", obj=obj_array(ok, Shell(marker, via)))
    raw = pickle.dumps(Shell(marker))  # a bare pickle behind an object-dtype header
    add("val/cdm/evil_raw.npy", data=raw_npy({"descr": "|O", "fortran_order": False, "shape": (2,)}, raw))
    add("val/cdm/evil_dict.npy", obj=obj_array({"a": 1}, 1.0))
    add("val/axion/obj_len3.npy", obj=obj_array(ok, 1e-23, 5))
    add("val/axion/obj_neg_mass.npy", obj=obj_array(ok, -1e-23))
    add("val/axion/obj_nan_mass.npy", obj=obj_array(ok, np.nan))
    add("val/axion/obj_str_mass.npy", obj=obj_array(ok, "heavy"))
    add("val/axion/obj_nan_image.npy", obj=obj_array(np.full((S, S), np.nan), 1e-23))
    add("val/axion/obj_list_image.npy", obj=obj_array([[1.0] * S] * S, 1e-23))
    add("val/axion/obj_trunc.npy", data=(root / "train/axion/axion_0.npy").read_bytes()[:-30])
    n += 17
    # empty and unknown folders
    (root / "test" / "weird").mkdir()
    np.save(root / "test/weird/x.npy", ok)
    (root / "empty_split" / "cdm").mkdir(parents=True)
    bad |= {str(root / "test/weird"), str(root / "empty_split/cdm")}
    assert n >= 50 and len(bad) >= 52
    return root, marker, good, bad


def test_import_corpus(corpus, tmp_path):
    root, marker, good, bad = corpus
    rep = import_deeplense(root, tmp_path / "ds", progress=False)
    assert not marker.exists(), "a pickle was executed"
    # every bad file (and bad folder) is reported once, with a reason; no good file is
    skipped = dict(zip(rep.skipped.path, rep.skipped.reason))
    assert set(skipped) == bad and all(isinstance(r, str) and len(r) > 5 for r in skipped.values())
    assert pd.read_csv(tmp_path / "ds/report.csv").path.tolist() == rep.skipped.path.tolist()
    assert rep.n_imported == len(good) and rep.classes == CLASSES
    # every good file arrives bit-exact with its mass, split and label
    d = open_dataset(tmp_path / "ds", verify=True)
    assert len(d) == len(good) and d.images.shape == (len(good), 1, S, S)
    assert sorted(d.labels.source) == sorted(good)
    for i, row in d.labels.iterrows():
        img, mass, split, c = good[row.source]
        assert np.array_equal(d.images[i, 0], img), row.source
        assert (row.split, row.label, row.original_label) == (split, c, c)
        assert (np.isnan(mass) and np.isnan(row.axion_mass)) or row.axion_mass == mass
    assert set(d.labels.source_dtype) == {"float64", "float32", "int64"}
    assert d.meta["import_report"]["n_skipped"] == len(bad) and d.meta["import_report"]["source_dtypes"]["float64"] > 0
    # the public split is honoured and the regression task sees only the axion rows
    s = split_indices(d, use_column=True)
    assert (d.labels.split[s["val"]] == "val").all() and sum(map(len, s.values())) == len(d)
    assert len(LensDataset(d, task="regress")) == (d.labels.label == "axion").sum()


def test_old_and_binary_layouts(tmp_path):
    old = make_fake_deeplense(tmp_path / "old", n=2, classes=("no", "sphere", "vort"), splits=("train",))
    rep = import_deeplense(old, tmp_path / "a", progress=False)
    d = open_dataset(tmp_path / "a")
    assert rep.classes == CLASSES and rep.n_skipped == 0
    assert dict(zip(d.labels.original_label, d.labels.label)) == {"no": "no_sub", "sphere": "cdm", "vort": "axion"}
    assert np.isfinite(d.labels.axion_mass[d.labels.label == "axion"]).all()
    binary = make_fake_deeplense(tmp_path / "bin", n=3, classes=("no_sub", "sub"), splits=("train", "test"))
    rep = import_deeplense(binary, tmp_path / "b", progress=False)
    d = open_dataset(tmp_path / "b")
    assert rep.classes == ("no_sub", "sub") and d.meta["classes"] == ["no_sub", "sub"]
    assert d.labels.groupby("label").label_id.first().to_dict() == {"no_sub": 0, "sub": 1}
    assert LensDataset(d, task="binary").targets.tolist() == (d.labels.label == "sub").astype(int).tolist()
    flat = make_fake_deeplense(tmp_path / "flat", n=1, splits=("",))  # class folders directly under the root
    assert import_deeplense(flat, tmp_path / "c", progress=False).n_imported == 3


def test_nothing_importable(tmp_path):
    (tmp_path / "src/train/cdm").mkdir(parents=True)
    (tmp_path / "src/train/cdm/x.npy").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no importable"):
        import_deeplense(tmp_path / "src", tmp_path / "ds", progress=False)
    assert pd.read_csv(tmp_path / "ds/report.csv").reason.str.contains("not a valid").all()
    with pytest.raises(FileExistsError):
        make_fake_deeplense(tmp_path / "ok", n=1)
        import_deeplense(tmp_path / "ok", tmp_path / "ok_ds", progress=False)
        import_deeplense(tmp_path / "ok", tmp_path / "ok_ds", progress=False)


def test_safe_unpickler_refuses_globals(tmp_path):
    for payload in (pickle.dumps(Shell(tmp_path / "m")), pickle.dumps(Shell(tmp_path / "m", "eval")),
                    pickle.dumps(pd.DataFrame()), b"cnumpy\nndarray\n(K\x05tR.", b"cos\nsystem\n(S'true'\ntR."):
        with pytest.raises((pickle.UnpicklingError, TypeError)):
            SafeUnpickler(io.BytesIO(payload)).load()
    assert not (tmp_path / "m").exists()
    pickle.loads(pickle.dumps(Shell(tmp_path / "control")))  # control: the payload is live with a plain unpickler
    assert (tmp_path / "control").exists()
    a = obj_array(np.arange(4.0).reshape(2, 2), 2e-23)
    p = tmp_path / "a.npy"
    save_obj(p, a)
    b = read_npy_safe(p)
    assert np.array_equal(b[0], a[0]) and b[1] == 2e-23
