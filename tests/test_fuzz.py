"""Fuzz suite: hundreds of malformed inputs to import-deeplense, predict, simulate, train and study.

For every case: the exit status, no traceback, a message or report row that names the file or the field, no file
outside the output changed (sha256 before and after), and no NaN in anything written. The CLI runs in this process
(`cli.main`), except for the few classes that would take the process down if a check were missing (a FIFO hangs a
reader, a lying pickle segfaults numpy): those run as real subprocesses with a timeout, a few cases per process.
"""
import functools, gzip, hashlib, io, math, os, pickle, socket, struct, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from deeplense_nb import cli, pretrained
from deeplense_nb.importer import make_fake_deeplense
from deeplense_nb.simulate import _RANDOMISE, _RANGES, CONFIGS

S = 8  # side of the good import images


# ---------------------------------------------------------------- harness
def snapshot(root: Path, skip=()) -> dict:
    "sha256 (or the kind, for a FIFO / link / socket) of everything under root, outside the `skip` paths."
    skip = [Path(s) for s in skip if s is not None]; out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(d) / n
            if any(p == s or s in p.parents for s in skip): continue
            if p.is_symlink(): out[str(p)] = "link:" + os.readlink(p)
            elif p.is_file(): out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif not p.is_dir(): out[str(p)] = "special"
    return out


def no_nan_written(out: Path):
    "Every .npy and every number column of every CSV under `out` is finite."
    files = [out] if out.is_file() else list(out.rglob("*")) if out.is_dir() else []
    for f in files:
        if f.suffix == ".npy" and f.is_file():
            assert np.isfinite(np.load(f, mmap_mode="r")).all(), f"NaN written to {f}"
        if f.suffix == ".csv" and f.is_file() and f.name == "preds.csv":
            df = pd.read_csv(f, keep_default_na=False)
            ok = df[df.error == ""] if "error" in df else df
            num = ok.filter(regex="^p_|mass").apply(pd.to_numeric, errors="coerce")
            assert np.isfinite(num.to_numpy(float)).all(), f"NaN written to {f}"


def run(capsys, *args):
    "`deeplense-nb args` in this process: (exit status, stdout + stderr)."
    code, msg = 0, ""
    try: cli.main([str(a) for a in args])
    except SystemExit as e:
        code, msg = (e.code, "") if isinstance(e.code, int) or e.code is None else (1, str(e.code))
    c = capsys.readouterr()
    return code or 0, c.out + c.err + msg


def expect(capsys, tmp, args, out, code, names, **kw):
    "Run one case and check the invariants; `names`: strings of which one must appear in the message or report."
    before = snapshot(tmp, [out])
    got, text = run(capsys, *args)
    assert "Traceback" not in text, text
    assert got == code, f"exit {got}, expected {code}: {text}"
    seen = text + (_report_text(out) if out is not None else "")
    assert any(str(n) in seen for n in names), f"none of {names} named in: {seen[-2000:]}"
    assert snapshot(tmp, [out]) == before, "a file outside the output changed"
    if out is not None: no_nan_written(out)
    return text


def _report_text(out: Path) -> str:
    for f in ([out] if out.is_file() else [out / "report.csv"] if out.is_dir() else []):
        if f.is_file() and f.suffix == ".csv": return f.read_text()
    return ""


# ---------------------------------------------------------------- malformed .npy files
def raw_npy(header, payload: bytes = b"", version=b"\x01\x00") -> bytes:
    h = (header if isinstance(header, str) else repr(header)).encode("latin1")
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(h)) + h + payload


def obj(*items):
    a = np.empty(len(items), dtype=object)
    for i, x in enumerate(items): a[i] = x
    return a


def npy_bytes(arr, pickled=False) -> bytes:
    b = io.BytesIO(); np.lib.format.write_array(b, arr, allow_pickle=pickled); return b.getvalue()


class Evil:
    def __init__(self, how): self.how = how
    def __reduce__(self):
        import builtins, importlib
        return {"system": (os.system, ("touch PWNED",)), "eval": (eval, ("open('PWNED','w')",)), "exec": (exec, ("open('PWNED','w')",)),
                "getattr": (getattr, (0, "real")), "import": (importlib.import_module, ("shutil",)),
                "subprocess": (subprocess.call, (["touch", "PWNED"],)), "open": (builtins.open, ("PWNED", "w"))}[self.how]


GOOD = np.ones((S, S)) * 3.0
_AX = pickle.dumps(obj(GOOD, 1e-23), protocol=3)  # a good axion object array, to lie about


def pickled(p: bytes) -> bytes: return raw_npy({"descr": "|O", "fortran_order": False, "shape": (2,)}, p)


def _lie(old: bytes, new: bytes) -> bytes:
    assert old in _AX, old
    return pickled(_AX.replace(old, new, 1))


def bad_npys() -> dict:
    "name -> file bytes (or a callable(path) that makes the entry)."
    valid = npy_bytes(np.random.default_rng(0).random((S, S)))
    c = {"empty": b"", "garbage": b"hello, not numpy" * 5, "magic_only": b"\x93NUMPY", "zero_bytes": b"\0" * 200,
         "v9_header": raw_npy({"descr": "<f8", "fortran_order": False, "shape": (S, S)}, valid[128:], b"\x09\x00"),
         "not_dict": raw_npy("[1, 2, 3]"), "bad_descr": raw_npy({"descr": "xx", "fortran_order": False, "shape": (S, S)}),
         "big_descr": raw_npy({"descr": "<f99", "fortran_order": False, "shape": (S, S)}),
         "fortran_str": raw_npy({"descr": "<f8", "fortran_order": "yes", "shape": (S, S)}, valid[128:]),
         "neg_shape": raw_npy({"descr": "<f8", "fortran_order": False, "shape": (-1, S)}, valid[128:]),
         "float_shape": raw_npy({"descr": "<f8", "fortran_order": False, "shape": (8.0, 8.0)}, valid[128:]),
         "huge_header_len": b"\x93NUMPY\x01\x00\xff\xff{'descr'",
         "header_no_newline": b"\x93NUMPY\x01\x00\x10\x00{'descr': 'xx'}",
         "lying_huge": raw_npy({"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}, b"\0" * 64),
         "lying_2e8": raw_npy({"descr": "<f4", "fortran_order": False, "shape": (200_000_000,)}, b"\0" * 64),
         "lying_2_62": raw_npy({"descr": "<f8", "fortran_order": False, "shape": (2**62, 4)}, b"\0" * 64),
         "obj_header_huge": raw_npy({"descr": "|O", "fortran_order": False, "shape": (10**9,)}, _AX),
         "obj_header_lies": raw_npy({"descr": "|O", "fortran_order": False, "shape": (3,)}, _AX)}
    for cut in (20, 60, 127, 129, 300, len(valid) - 1):
        c[f"cut_{cut}"] = valid[:cut]
    arrays = {"nan": np.where(np.eye(S) > 0, np.nan, GOOD), "inf": np.full((S, S), np.inf), "neginf32": np.full((S, S), -np.inf, np.float32),
              "overflow": np.full((S, S), 1e300), "f16_inf": np.full((S, S), np.inf, np.float16), "rgb": np.ones((3, S, S)),
              "flat": np.ones(S * S), "4d": np.ones((1, 1, S, S)), "zero": np.ones((0, 0)), "zero_rows": np.ones((0, S)),
              "scalar": np.array(3.0), "str": np.array([["a"] * S] * S), "bytes": np.array([[b"a"] * S] * S),
              "complex": np.ones((S, S), complex), "bool": np.ones((S, S), bool), "datetime": np.zeros((S, S), "M8[s]"),
              "timedelta": np.zeros((S, S), "m8[s]"), "struct": np.zeros((S, S), dtype=[("a", "f4"), ("b", "f4")]),
              "void": np.zeros((S, S), "V8"), "other_size": np.ones((2 * S, 2 * S))}
    c |= {k: npy_bytes(v) for k, v in arrays.items()}
    masses = {"bool": True, "np_bool": np.bool_(False), "str": "1e-23", "none": None, "complex": 1j, "list": [1e-23],
              "dict": {"m": 1e-23}, "neg": -1e-23, "zero": 0.0, "nan": float("nan"), "inf": float("inf"), "two": np.ones(2),
              "tuple": (1e-23,), "bytes": b"1e-23", "array_str": np.array("1e-23")}
    c |= {f"mass_{k}": pickled(pickle.dumps(obj(GOOD, m), protocol=3)) for k, m in masses.items()}
    images = {"list": [[1.0] * S] * S, "nan": np.full((S, S), np.nan), "str": np.array(["a"] * S), "obj": obj(1.0, 2.0),
              "scalar": 5.0, "none": None, "3d": np.ones((2, S, S)), "bool": np.ones((S, S), bool)}
    c |= {f"image_{k}": pickled(pickle.dumps(obj(m, 1e-23), protocol=3)) for k, m in images.items()}
    c |= {"obj_len1": pickled(pickle.dumps(obj(GOOD), protocol=3)), "obj_len3": pickled(pickle.dumps(obj(GOOD, 1e-23, 5), protocol=3)),
          "obj_2d": pickled(pickle.dumps(np.array([[GOOD, 1e-23], [GOOD, 1e-23]], dtype=object), protocol=3)),
          "top_dict": pickled(pickle.dumps({"a": 1}, protocol=3)), "top_list": pickled(pickle.dumps([GOOD, 1e-23], protocol=3)),
          "top_int": pickled(pickle.dumps(7, protocol=3)), "proto5": pickled(pickle.dumps(obj(GOOD, 1e-23), protocol=5)),
          "trunc_pickle": pickled(_AX[:-20]), "persistent": pickled(b"\x80\x03X\x01\x00\x00\x00aQ."),
          "pickle_garbage": pickled(b"\x80\x03\xff\xfe\xfd"), "pickle_bomb_list": pickled(b"\x80\x03]q\x00" + b"(" + b"K\x01" * 1000 + b"e."),
          # the state of the object array / its image claims more than it holds: numpy would read past the list or buffer
          "lie_obj_shape3": _lie(b"K\x02\x85", b"K\x03\x85"), "lie_obj_shape_2e8": _lie(b"K\x02\x85", b"J\x00\xc2\xeb\x0b\x85"),
          "lie_obj_shape0": _lie(b"K\x02\x85", b"K\x00\x85"), "lie_image_shape": _lie(b"K\x08K\x08\x86", b"K\x08K\x09\x86"),
          "lie_image_huge": _lie(b"K\x08K\x08\x86", b"J\x00\x00\x01\x00J\x00\x00\x01\x00\x86"),
          "lie_dtype_U": _lie(b"X\x02\x00\x00\x00f8", b"X\x02\x00\x00\x00U8"), "lie_dtype_V": _lie(b"X\x02\x00\x00\x00f8", b"X\x02\x00\x00\x00V8"),
          "lie_dtype_long": _lie(b"X\x02\x00\x00\x00f8", b"X\x02\x00\x00\x00f9"),
          "lie_reconstruct": _lie(b"K\x00\x85", b"K\x05\x85"),
          "lie_scalar": pickled(pickle.dumps(obj(GOOD, np.float64(1e-23)), protocol=3).replace(b"C\x08", b"C\x04", 1))}
    c |= {f"evil_{h}": pickled(pickle.dumps(obj(Evil(h), 1e-23), protocol=3)) for h in
          ("system", "eval", "exec", "getattr", "import", "subprocess", "open")}
    c |= {f"evil_mass_{h}": pickled(pickle.dumps(obj(GOOD, Evil(h)), protocol=3)) for h in ("system", "eval")}
    c |= {"evil_raw": pickled(pickle.dumps(Evil("system"))), "evil_posix": pickled(b"cposix\nsystem\n(S'touch PWNED'\ntR.")}
    c |= {"dir_named_npy": lambda p: p.mkdir(), "dangling_link": lambda p: p.symlink_to(p.parent / "nowhere"),
          "link_loop": lambda p: p.symlink_to(p), "dev_zero": lambda p: p.symlink_to("/dev/zero"),
          "dev_null": lambda p: p.symlink_to("/dev/null"), "socket": _make_socket}
    return c


def _make_socket(p):
    s = socket.socket(socket.AF_UNIX); s.bind(str(p)); s.close()


def make_entry(p: Path, how):
    p.parent.mkdir(parents=True, exist_ok=True)
    how(p) if callable(how) else p.write_bytes(how)


NPYS = bad_npys()
# the lying-pickle cases would segfault or allocate gigabytes without the checks: run them in a subprocess below, too
SUBPROCESS_NPYS = ["lie_obj_shape3", "lie_obj_shape_2e8", "lie_image_shape", "lie_image_huge"]


# ---------------------------------------------------------------- import-deeplense
@pytest.fixture
def src(tmp_path):
    return make_fake_deeplense(tmp_path / "src", n=1, size=S)


@pytest.mark.parametrize("name", sorted(NPYS))
def test_import_bad_file(name, src, tmp_path, capsys):
    p = src / "train" / ("axion" if name.startswith(("mass", "image", "obj", "lie", "evil", "top", "pickle", "proto", "trunc_p", "persist")) else "cdm") / f"{name}.npy"
    make_entry(p, NPYS[name])
    out = tmp_path / "dst"
    expect(capsys, tmp_path, ["import-deeplense", src, out, "-q"], out, 0, [str(p)])
    rep = pd.read_csv(out / "report.csv")
    assert rep.path.tolist() == [str(p)] and len(rep.reason[0]) > 5, rep
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists(), "a pickle ran"
    assert pd.read_csv(out / "labels.csv").shape[0] == 9


IMPORT_FLAGS = {  # name -> (args after the command, given src and tmp, expected code, names)
    "src_missing": (lambda s, t: [t / "nope", t / "dst"], 1, ["nope"]),
    "src_is_file": (lambda s, t: [s / "train/cdm/cdm_0.npy", t / "dst"], 1, ["cdm_0.npy"]),
    "dst_inside_src": (lambda s, t: [s, s / "train" / "cdm"], 1, ["inside"]),
    "dst_deep_inside_src": (lambda s, t: [s, s / "new" / "ds"], 1, ["inside"]),
    "src_inside_dst": (lambda s, t: [s, t], 1, ["inside"]),
    "dst_is_src": (lambda s, t: [s, s], 1, ["same folder"]),
    "dst_is_file": (lambda s, t: [s, t / "note.txt"], 1, ["note.txt"]),
    "dst_not_empty": (lambda s, t: [s, t / "full"], 1, ["--overwrite"]),
    "dst_under_file": (lambda s, t: [s, t / "note.txt" / "ds"], 1, ["note.txt"]),
    "nothing_importable": (lambda s, t: [t / "junk", t / "dst"], 1, ["no importable"]),
    "empty_src": (lambda s, t: [t / "emptysrc", t / "dst"], 1, ["no importable"]),
}


@pytest.mark.parametrize("case", sorted(IMPORT_FLAGS))
def test_import_bad_arguments(case, src, tmp_path, capsys):
    (tmp_path / "note.txt").write_text("mine"); (tmp_path / "full").mkdir(); (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "junk" / "train" / "cdm").mkdir(parents=True); (tmp_path / "junk/train/cdm/x.npy").write_bytes(b"junk")
    (tmp_path / "emptysrc").mkdir()
    make_args, code, names = IMPORT_FLAGS[case]
    args = make_args(src, tmp_path)
    out = args[1] if case in ("nothing_importable", "empty_src") else None  # the others must write nothing at all
    expect(capsys, tmp_path, ["import-deeplense", *args, "-q"], out, code, names)


def test_import_overwrite_keeps_other_files(src, tmp_path, capsys):
    full = tmp_path / "full"; full.mkdir(); (full / "keep.txt").write_text("mine")
    before = snapshot(tmp_path, [full / "images.npy", full / "labels.csv", full / "meta.json", full / "report.csv"])
    code, text = run(capsys, "import-deeplense", src, full, "--overwrite", "-q")
    assert code == 0 and "9 imported" in text and "Traceback" not in text
    assert snapshot(tmp_path, [full / "images.npy", full / "labels.csv", full / "meta.json", full / "report.csv"]) == before


# ---------------------------------------------------------------- predict
@pytest.fixture
def cached_load(monkeypatch):
    "Load each model once for the whole suite (the model-file cases below use the real `load`)."
    monkeypatch.setattr(pretrained, "load", _cached_load)


@functools.lru_cache(maxsize=4)
def _cached_load(name, device=None, root=None): return _real_load(name, device=device, root=root)
_real_load = pretrained.load


def good64(p): np.save(p, np.random.default_rng(1).random((64, 64)))


def fits_bytes(data, **hdr) -> bytes:
    from astropy.io import fits
    h = fits.PrimaryHDU(data)
    for k, v in hdr.items(): h.header[k] = v
    b = io.BytesIO(); h.writeto(b); return b.getvalue()


def bad_fits() -> dict:
    from astropy.io import fits
    ok = fits_bytes(np.ones((64, 64), ">f4"))
    bt = io.BytesIO(); fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=np.ones(3))])]).writeto(bt)
    c = {"empty": b"", "garbage": b"SIMPLE  = not really" * 50, "no_end": ok[:2880].replace(b"END" + b" " * 77, b" " * 80),
         "huge_naxis": ok.replace(b"NAXIS1  =                   64", b"NAXIS1  =          10000000000"),
         "big_naxis": ok.replace(b"NAXIS1  =                   64", b"NAXIS1  =             16777216"),
         "naxis0": fits_bytes(None), "naxis1": fits_bytes(np.ones(64, ">f4")), "neg_naxis": ok.replace(b"NAXIS1  =                   64", b"NAXIS1  =                  -64"),
         "str_naxis": ok.replace(b"NAXIS1  =                   64", b"NAXIS1  = 'sixty-four'        "),
         "bad_bitpix": ok.replace(b"BITPIX  =                  -32", b"BITPIX  =                    7"),
         "nan": fits_bytes(np.full((64, 64), np.nan, ">f4")), "cube5": fits_bytes(np.ones((5, 64, 64), ">f4")),
         "table_only": bt.getvalue(), "gz_trunc": gzip.compress(ok)[:100], "gz_garbage": b"\x1f\x8b" + b"\0" * 100,
         "wrong_size": fits_bytes(np.ones((16, 16), ">f4")), "inf": fits_bytes(np.full((64, 64), np.inf, ">f4"))}
    for cut in (10, 2880, 2881, 2880 + 64 * 64 * 4 - 1):
        c[f"cut_{cut}"] = ok[:cut]
    return c


FITS = bad_fits()
PREDICT_FILES = {**{f"{k}.npy": v for k, v in NPYS.items() if k != "dir_named_npy"},  # a folder is searched, not read
                  **{f"{k}.{'fits.gz' if k.startswith('gz') else 'fits'}": v for k, v in FITS.items()},
                  "blank_zeros.npy": npy_bytes(np.zeros((64, 64))), "blank_const.fits": fits_bytes(np.full((64, 64), 7.0, ">f4"))}  # readable, but no lens: reported, not classified


@pytest.mark.parametrize("name", sorted(PREDICT_FILES))
def test_predict_bad_file(name, tmp_path, capsys, cached_load):
    "A bad file alone: exit 1 (nothing predicted), its row says why; next to a good file: exit 0, one row each."
    p = tmp_path / "in" / name; make_entry(p, PREDICT_FILES[name]); good64(tmp_path / "in" / "good.npy")
    out = tmp_path / "preds.csv"
    expect(capsys, tmp_path, ["predict", p, "--out", out, "-q"], out, 1, [name])
    rows = pd.read_csv(out, keep_default_na=False)
    assert rows.path.tolist() == [str(p)] and len(rows.error[0]) > 5
    expect(capsys, tmp_path, ["predict", p, tmp_path / "in" / "good.npy", "--out", out, "-q"], out, 0, [name])
    rows = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert rows.loc[str(p), "error"] != "" and rows.loc[str(tmp_path / "in" / "good.npy"), "error"] == ""


def _safetensors(tmp, meta=None) -> bytes:
    from safetensors.torch import save_file
    import torch
    save_file({"w": torch.ones(2)}, str(tmp / "_t.safetensors"), metadata=meta)
    b = (tmp / "_t.safetensors").read_bytes(); (tmp / "_t.safetensors").unlink(); return b


PREDICT_FLAGS = {  # name -> (extra args given tmp, expected code, names)
    "model_missing_name": (lambda t: ["--model", "no_such_model"], 1, ["no_such_model"]),
    "model_missing_file": (lambda t: ["--model", t / "m" / "x.safetensors"], 1, ["x.safetensors"]),
    "model_truncated": (lambda t: ["--model", t / "m" / "trunc.safetensors"], 1, ["trunc.safetensors"]),
    "model_empty": (lambda t: ["--model", t / "m" / "empty.safetensors"], 1, ["empty.safetensors"]),
    "model_garbage": (lambda t: ["--model", t / "m" / "garbage.safetensors"], 1, ["garbage.safetensors"]),
    "model_huge_header": (lambda t: ["--model", t / "m" / "huge.safetensors"], 1, ["huge.safetensors"]),
    "model_no_meta": (lambda t: ["--model", t / "m" / "nometa.safetensors"], 1, ["nometa.safetensors"]),
    "model_bad_meta": (lambda t: ["--model", t / "m" / "badmeta.safetensors"], 1, ["badmeta.safetensors"]),
    "model_dir": (lambda t: ["--model", t / "m"], 1, ["best.safetensors"]),
    "model_is_dir_named": (lambda t: ["--model", t / "m" / "d.safetensors"], 1, ["d.safetensors"]),
    "model_dev_null": (lambda t: ["--model", t / "m" / "null.safetensors"], 1, ["null.safetensors"]),
    "device_bogus": (lambda t: ["--device", "bogus"], 1, ["--device"]),
    "device_cuda9": (lambda t: ["--device", "cuda:9"], 1, ["--device"]),
    "device_number": (lambda t: ["--device", "-1"], 1, ["--device"]),
    "batch_zero": (lambda t: ["--batch-size", "0"], 1, ["--batch-size"]),
    "batch_negative": (lambda t: ["--batch-size", "-4"], 1, ["--batch-size"]),
    "batch_text": (lambda t: ["--batch-size", "many"], 2, ["--batch-size"]),
    "out_is_dir": (lambda t: ["--out", t / "m"], 1, ["--out"]),
    "out_is_input": (lambda t: ["--out", t / "in" / "good.npy"], 1, ["--out"]),
    "out_under_file": (lambda t: ["--out", t / "in" / "good.npy" / "p.csv"], 1, ["good.npy"]),
    "path_missing": (lambda t: ["--out", t / "preds.csv", t / "nope.npy"], 1, ["nope.npy"]),
    "wrong_size": (lambda t: ["--out", t / "preds.csv", t / "small.npy"], 1, ["--resize"]),
}


@pytest.mark.parametrize("case", sorted(PREDICT_FLAGS))
def test_predict_bad_arguments(case, tmp_path, capsys):
    (tmp_path / "in").mkdir(); good64(tmp_path / "in" / "good.npy"); np.save(tmp_path / "small.npy", np.random.default_rng(2).random((16, 16)))
    m = tmp_path / "m"; m.mkdir(); st = _safetensors(tmp_path, {"deeplense_nb": "{}"})
    for n, b in {"trunc": st[:-3], "empty": b"", "garbage": b"\0garbage" * 10, "huge": struct.pack("<Q", 2**60) + b"{}",
                 "nometa": _safetensors(tmp_path), "badmeta": _safetensors(tmp_path, {"deeplense_nb": "{not json"})}.items():
        (m / f"{n}.safetensors").write_bytes(b)
    (m / "d.safetensors").mkdir(); (m / "null.safetensors").symlink_to("/dev/null")
    args = PREDICT_FLAGS[case][0](tmp_path)
    paths = [] if case in ("path_missing", "wrong_size") else [tmp_path / "in"]
    if "--out" not in args: args += ["--out", tmp_path / "preds.csv"]
    out = tmp_path / "preds.csv" if case in ("path_missing", "wrong_size") else None
    expect(capsys, tmp_path, ["predict", *paths, *args, "-q"], out, PREDICT_FLAGS[case][1], PREDICT_FLAGS[case][2])


# ---------------------------------------------------------------- simulate
def _bad_values(field: str) -> list:
    lo, hi, lo_ok = _RANGES[field]
    below = lo - 1 if lo_ok else lo
    if isinstance(getattr(CONFIGS["model_ii"], field), tuple) or field in _RANDOMISE:  # range fields (None: off)
        return [f"({hi}, {lo})" if hi != lo else "(2, 1)", f"({below}, {hi})", "(.nan, 1)", "(1, .inf)", "(1, 2, 3)", "abc", "(1,)"]
    vals = [".nan", ".inf", "-.inf", str(below), str(hi * 10 + 1), "abc", "true", "[1, 2]"]
    return vals + (["2.5"] if field in ("n_cdm", "n_vortex", "npix", "num_exposures") else [])


SIM_SET = [(f, v) for f in sorted(_RANGES) if f not in ("source_amp",) for v in _bad_values(f)]
SIM_SET += [("upstream_cosmology", v) for v in ("(70, 0.3)", "(-70, 0.3, 0.05)", "(70, 0.3, 0.5)", "(.nan, 0.3, 0.05)")]
SIM_SET += [("cosmology", "(67.5, 2, 0.05)"), ("cdm_slope", "-1"), ("cdm_slope", "-1.0"), ("z_source", "0.4"), ("z_source_convention", "0.2"),
            ("lens_e1", "0.99"), ("source_e2", "0.99"), ("noise_model", "poisson"), ("dtype", "float16"), ("einstein_convention", "x"),
            ("name", "''"), ("compile", "1"), ("upstream_double", "yes please"), ("source_amp", "20")]


@pytest.mark.parametrize("field,value", SIM_SET, ids=[f"{f}={v}" for f, v in SIM_SET])
def test_simulate_bad_setting(field, value, tmp_path, capsys):
    out = tmp_path / "sim"
    expect(capsys, tmp_path, ["simulate", "--n-per-class", "1", "--out", out, "--set", "npix=8", "--set", f"{field}={value}", "-q"],
           out, 1, [f"--set {field}=", field, f"--{field.replace('_', '-')}"])
    assert not out.exists(), "a refused config created its output folder"


SIM_FLAGS = {
    "n_per_class_0": (["--n-per-class", "0"], 1, ["--n-per-class"]), "n_per_class_neg": (["--n-per-class", "-3"], 1, ["--n-per-class"]),
    "n_per_class_text": (["--n-per-class", "x"], 2, ["--n-per-class"]), "config_nope": (["--config", "nope"], 1, ["nope"]),
    "config_path": (["--config", "../../etc/passwd"], 1, ["passwd"]), "shard_big": (["--shard", "3/2"], 1, ["3/2"]),
    "shard_text": (["--shard", "a"], 1, ["i/n"]), "shard_zero": (["--shard", "0/0"], 1, ["0/0"]),
    "classes_empty": (["--classes", ""], 1, ["--classes"]), "classes_dog": (["--classes", "dog"], 1, ["dog"]),
    "classes_blank_item": (["--classes", "axion,,cdm"], 1, ["--classes"]), "device_bogus": (["--device", "bogus"], 1, ["--device"]),
    "device_cuda": (["--device", "cuda:5"], 1, ["--device"]), "device_mps": (["--device", "mps"], 1, ["--device"]),
    "set_no_equals": (["--set", "n_cdm"], 1, ["n_cdm"]), "set_unknown": (["--set", "bogus_field=1"], 1, ["bogus_field"]),
    "set_python_tag": (["--set", "n_cdm=!!python/object/apply:os.system ['touch PWNED']"], 1, ["--set"]),
    "set_broken_yaml": (["--set", "n_cdm=[1, 2"], 1, ["--set"]), "set_dict": (["--set", "n_cdm={a: 1}"], 1, ["n_cdm"]),
    "set_empty": (["--set", "n_cdm="], 1, ["n_cdm"]), "convention": (["--einstein-convention", "bogus"], 2, ["--einstein-convention"]),
    "out_is_file": (["--out", "FILE"], 1, ["note.txt"]), "out_not_empty": (["--out", "FULL"], 1, ["keep.txt"]),
    "out_under_file": (["--out", "UNDER"], 1, ["note.txt"]),
}


@pytest.mark.parametrize("case", sorted(SIM_FLAGS))
def test_simulate_bad_flag(case, tmp_path, capsys):
    (tmp_path / "note.txt").write_text("mine"); (tmp_path / "full").mkdir(); (tmp_path / "full" / "keep.txt").write_text("mine")
    args, code, names = SIM_FLAGS[case]
    swap = {"FILE": tmp_path / "note.txt", "FULL": tmp_path / "full", "UNDER": tmp_path / "note.txt" / "sim"}
    args = [swap.get(a, a) for a in args]
    base = [] if "--out" in args else ["--out", tmp_path / "sim"]
    expect(capsys, tmp_path, ["simulate", "--n-per-class", "1", "--set", "npix=8", *base, *args, "-q"], None, code, names)
    assert not (tmp_path / "sim").exists() and not (tmp_path / "PWNED").exists()


def test_simulate_never_writes_nan(tmp_path):
    "A renderer that returns NaN: the data set is refused, not reported written, and no NaN reaches images.npy."
    import torch
    from deeplense_nb.data import simulate_dataset
    def nan_sim(cfg, labels, seed, device=None):
        return torch.full((len(labels), 1, 4, 4), float("nan")), pd.DataFrame(dict(label=labels))
    with pytest.raises(ValueError, match="NaN or inf"):
        simulate_dataset(CONFIGS["model_ii"], 2, out=tmp_path / "s", simulate_fn=nan_sim, progress=False, npix=4)
    assert not (tmp_path / "s" / "meta.json").exists()
    no_nan_written(tmp_path / "s")


# ---------------------------------------------------------------- train
TRAIN_YAML = {
    "python_apply": "epochs: !!python/object/apply:os.system ['touch PWNED']\n", "python_name": "epochs: !!python/name:os.system\n",
    "python_module": "m: !!python/module:os\n", "python_new": "x: !!python/object/new:subprocess.Popen [['touch', 'PWNED']]\n",
    "bad_syntax": "epochs: [1, 2\n", "tabs": "epochs:\t3\n\tlr: 1\n", "list": "- 1\n- 2\n", "scalar": "42\n", "string": "hello\n",
    "int_keys": "1: 2\n", "unknown_key": "epochs: 1\nbogus_param: 3\n", "epochs_text": "epochs: many\n", "epochs_float": "epochs: 1.5\n",
    "epochs_list": "epochs: [1]\n", "lr_text": "lr: fast\n", "model_int": "model: 3\n", "epochs_null": "epochs: null\n",
    "dup_anchor": "a: &x [*x]\n", "binary": b"\xff\xfe\x00garbage\x80",
    "huge": "# " + "x" * (1 << 20) + "\n", "nested": "epochs: {a: {b: 1}}\n",
}


@pytest.mark.parametrize("case", sorted(TRAIN_YAML))
def test_train_bad_config(case, tmp_path, capsys):
    p = tmp_path / f"{case}.yaml"; v = TRAIN_YAML[case]
    p.write_bytes(v if isinstance(v, bytes) else v.encode())
    expect(capsys, tmp_path, ["train", "--config", p, "--root", tmp_path / "runs", "-q"], tmp_path / "runs", 1, [p.name])
    assert not (tmp_path / "runs").exists() and not (tmp_path / "PWNED").exists()


TRAIN_ARGS = {
    "config_missing": (["--config", "T/nope.yaml"], ["nope.yaml"]), "config_dir": (["--config", "T"], ["is a folder"]),
    "config_dev_null": (["--config", "/dev/null"], ["/dev/null"]), "no_equals": (["epochs"], ["epochs"]),
    "unknown": (["bogus=1"], ["bogus"]), "epochs_text": (["epochs=abc"], ["epochs"]), "epochs_broken": (["epochs=[1"], ["epochs"]),
    "epochs_tag": (["epochs=!!python/object/apply:os.system [x]"], ["epochs"]), "lr_list": (["lr=[1, 2]"], ["lr"]),
    "name_escapes": (["--name", "../../escape", "epochs=1"], ["escape"]), "name_absolute": (["--name", "/tmp/abs_run", "epochs=1"], ["abs_run"]),
    "template_missing": (["--template", "T/none.ipynb"], ["none.ipynb"]), "template_garbage": (["--template", "T/bad.ipynb"], ["bad.ipynb"]),
}


@pytest.mark.parametrize("case", sorted(TRAIN_ARGS))
def test_train_bad_arguments(case, tmp_path, capsys):
    (tmp_path / "bad.ipynb").write_text("{not a notebook")
    args = [str(a).replace("T/", f"{tmp_path}/") if a != "T" else tmp_path for a in TRAIN_ARGS[case][0]]
    expect(capsys, tmp_path, ["train", *args, "--root", tmp_path / "runs", "-q"], None, 1, TRAIN_ARGS[case][1])
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- study
STUDY_YAML = {
    "python_tag": "title: !!python/object/apply:os.system ['touch PWNED']\n", "bad_syntax": "presets: {tiny: [\n", "list": "- a\n",
    "unknown_key": "bogus: 1\ntemplate: nbs/experiments/train.ipynb\nresults: x\npresets: {}\n", "missing": "title: x\n",
    "presets_list": "template: nbs/experiments/train.ipynb\nresults: x\npresets: [tiny]\n",
    "preset_scalar": "template: nbs/experiments/train.ipynb\nresults: x\npresets: {tiny: 3}\n",
    "params_list": "template: nbs/experiments/train.ipynb\nresults: x\npresets: {tiny: {params: [1], grid: {}}}\n",
    "both_grid_optuna": "template: nbs/experiments/train.ipynb\nresults: x\npresets: {tiny: {grid: {}, optuna: {}}}\n",
    "unknown_param": "template: nbs/experiments/train.ipynb\nresults: x\npresets: {tiny: {grid: {bogus_p: [1]}}}\n",
    "template_missing": "template: nope.ipynb\nresults: x\npresets: {tiny: {grid: {}}}\n", "binary": b"\x00\xff\xfe",
}


@pytest.mark.parametrize("case", sorted(STUDY_YAML))
def test_study_bad_file(case, tmp_path, capsys):
    p = tmp_path / f"{case}.yaml"; v = STUDY_YAML[case]
    p.write_bytes(v if isinstance(v, bytes) else v.encode())
    names = [p.name, "nope.ipynb"] if case == "template_missing" else [p.name]
    expect(capsys, tmp_path, ["study", p, "--root", tmp_path / "runs", "--results", tmp_path / "res", "-q"], None, 1, names)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "res").exists() and not (tmp_path / "PWNED").exists()


STUDY_ARGS = {
    "unknown_study": (["no_such_study"], ["no_such_study"]), "missing_yaml": (["T/none.yaml"], ["none.yaml"]),
    "dir_yaml": (["T/d.yaml"], ["d.yaml"]), "bad_preset": (["augmentation", "--preset", "bogus"], ["bogus"]),
    "n_trials_zero": (["hparams", "--n-trials", "0"], ["--n-trials"]), "n_trials_neg": (["hparams", "--n-trials", "-2"], ["--n-trials"]),
    "storage_bogus": (["hparams", "--storage", "not a url"], ["--storage"]), "device_bogus": (["augmentation", "--device", "bogus"], ["--device"]),
    "device_cuda": (["augmentation", "--device", "cuda:3"], ["--device"]), "traversal": (["../../../etc/passwd"], ["passwd"]),
}


@pytest.mark.parametrize("case", sorted(STUDY_ARGS))
def test_study_bad_arguments(case, tmp_path, capsys):
    (tmp_path / "d.yaml").mkdir()
    args = [str(a).replace("T/", f"{tmp_path}/") for a in STUDY_ARGS[case][0]]
    expect(capsys, tmp_path, ["study", *args, "--root", tmp_path / "runs", "--results", tmp_path / "res", "-q"], None, 1, STUDY_ARGS[case][1])
    assert not (tmp_path / "runs").exists() and not (tmp_path / "res").exists()


# ---------------------------------------------------------------- the classes that kill a process: one real subprocess
_DRIVER = """
import json, sys
from deeplense_nb.cli import main
for argv in json.loads(sys.argv[1]):
    try: main(argv); code = 0
    except SystemExit as e: code, msg = (e.code, "") if isinstance(e.code, int) or e.code is None else (1, str(e.code))
    else: msg = ""
    print(json.dumps(dict(code=code or 0, msg=msg)), flush=True)
"""


def subprocess_cli(commands, timeout=180) -> list:
    "Run several `deeplense-nb` command lines in one fresh process: a hang fails, a segfault is seen as a signal."
    import json
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    argv = json.dumps([[str(a) for a in c] for c in commands])
    try: r = subprocess.run([sys.executable, "-c", _DRIVER, argv], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired: pytest.fail(f"deeplense-nb hung (over {timeout} s) on one of {commands}")
    assert r.returncode == 0, f"exit {r.returncode} (a negative one is a signal: a segfault?): {r.stderr[-2000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert len(out) == len(commands), r.stdout + r.stderr
    return out


def test_fifo_and_lying_pickles_in_subprocess(tmp_path):
    "FIFOs (import, predict, train --config, study) and the pickles that segfault numpy: no hang, no crash, a row each."
    src = make_fake_deeplense(tmp_path / "src", n=1, size=S)
    os.mkfifo(src / "train" / "cdm" / "x.npy"); os.mkfifo(tmp_path / "p.npy"); os.mkfifo(tmp_path / "c.yaml"); os.mkfifo(tmp_path / "s.yaml")
    lies = [src / "train" / "axion" / f"{n}.npy" for n in SUBPROCESS_NPYS]
    for p in lies: make_entry(p, NPYS[p.stem])
    before = snapshot(tmp_path, [tmp_path / "dst", tmp_path / "preds.csv"])
    imp, pre, tr, st = subprocess_cli([["import-deeplense", src, tmp_path / "dst", "-q"],
                                       ["predict", tmp_path / "p.npy", *lies, "--out", tmp_path / "preds.csv", "-q"],
                                       ["train", "--config", tmp_path / "c.yaml", "--root", tmp_path / "runs", "-q"],
                                       ["study", tmp_path / "s.yaml", "--root", tmp_path / "runs", "-q"]])
    assert imp["code"] == 0, imp
    rep = pd.read_csv(tmp_path / "dst" / "report.csv")
    assert set(rep.path) == {str(src / "train/cdm/x.npy"), *map(str, lies)} and rep.reason.str.len().min() > 5
    assert pre["code"] == 1 and "no image was predicted" in pre["msg"]
    rows = pd.read_csv(tmp_path / "preds.csv", keep_default_na=False)
    assert set(rows.path) == {str(tmp_path / "p.npy"), *map(str, lies)} and (rows.error != "").all()
    assert "FIFO" in rows.set_index("path").loc[str(tmp_path / "p.npy"), "error"]
    for r, f in ((tr, "c.yaml"), (st, "s.yaml")): assert r["code"] == 1 and "FIFO" in r["msg"] and f in r["msg"], r
    assert snapshot(tmp_path, [tmp_path / "dst", tmp_path / "preds.csv"]) == before and not (tmp_path / "runs").exists()


def test_case_count():
    n = (len(NPYS) + len(IMPORT_FLAGS) + 1 + 2 * len(PREDICT_FILES) + len(PREDICT_FLAGS) + len(SIM_SET) + len(SIM_FLAGS) + 1
         + len(TRAIN_YAML) + len(TRAIN_ARGS) + len(STUDY_YAML) + len(STUDY_ARGS) + 4 + len(SUBPROCESS_NPYS))
    assert n >= 300, n
