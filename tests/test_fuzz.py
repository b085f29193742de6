"""Property-based tests: whatever bytes, shapes, dtypes or values the readers and the configuration are given,
they either work or raise the project's own error (DataError / ConfigError / ArtifactError), never a raw
library exception, never code execution, never a half-written output."""

import gzip
import json
import os
import pickle
import struct

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import latentforge as lf
from latentforge.catalog import MODELS
from latentforge.cli.main import main
from latentforge.training import TrainConfig
from latentforge.data.stream import ChunkedFile
from latentforge.errors import LatentforgeError
from latentforge.io import load_tensors

FUZZ = settings(max_examples=int(os.environ.get("LATENTFORGE_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])

DTYPES = st.sampled_from(["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "?", "c8", "U3", "S2", "M8[s]"])


def arrays(max_dims=5):
    return DTYPES.flatmap(lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=max_dims,
                                                                                 min_side=0, max_side=4)))


def loads_or_refuses(fn, *args, **kw):
    """Run a reader: it either returns or raises a LatentforgeError (anything else fails the test)."""
    try:
        return fn(*args, **kw)
    except LatentforgeError as e:
        assert str(e) and "Traceback" not in str(e)
        return e


def check_dataset(path, **kw):
    out = loads_or_refuses(lf.load_dataset, str(path), **kw)
    if not isinstance(out, Exception):
        assert out.x.dtype == np.float32 and out.x.ndim in (2, 4) and len(out) > 0
        assert np.isfinite(out.x).all()
    return out


@FUZZ
@given(a=arrays())
def test_npy_any_shape_and_dtype(tmp_path_factory, a):
    p = tmp_path_factory.mktemp("npy") / "a.npy"
    np.save(p, a)
    out = check_dataset(p)
    numeric = a.ndim in (2, 3) and a.size and a.dtype.kind in "fiu?"
    if numeric and np.isfinite(a.astype("f8")).all():
        with np.errstate(over="ignore"):
            fits = np.isfinite(a.astype("f4")).all()
        if fits:
            assert not isinstance(out, Exception), out  # good data is accepted
        else:  # finite float64 beyond float32: named as such, not reported as Inf
            assert isinstance(out, lf.DataError) and "float32 range" in str(out)
    if a.dtype.kind in "cUSM":
        assert isinstance(out, lf.DataError)  # complex, text and dates are refused, not silently cast


@FUZZ
@given(a=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
                    elements=st.floats(width=32)))
def test_nan_and_inf_are_named(tmp_path_factory, a):
    p = tmp_path_factory.mktemp("nan") / "a.npy"
    np.save(p, a)
    out = check_dataset(p)
    if not np.isfinite(a).all():
        assert isinstance(out, lf.DataError) and ("NaN" in str(out) or "Inf" in str(out))
    else:
        assert not isinstance(out, Exception)


names = st.text(alphabet="abcxyXY_0", min_size=1, max_size=4)


@FUZZ
@given(content=st.dictionaries(names, arrays(max_dims=3), min_size=1, max_size=4),
       key=st.one_of(st.none(), names), labels_key=st.one_of(st.none(), names))
def test_npz_and_hdf5_any_content_and_keys(tmp_path_factory, content, key, labels_key):
    d = tmp_path_factory.mktemp("cont")
    np.savez(d / "a.npz", **content)
    with h5py.File(d / "a.h5", "w") as f:
        for k, v in content.items():
            if v.dtype.kind in "UM":
                continue
            f[k] = v
    for p in (d / "a.npz", d / "a.h5"):
        out = check_dataset(p, key=key, labels_key=labels_key)
        if key is not None and key not in content:
            assert isinstance(out, lf.DataError) and "no data named" in str(out)


def valid_files(d):
    rng = np.random.default_rng(0)
    x = rng.random((20, 6), dtype=np.float32)
    np.save(d / "a.npy", x)
    np.savez_compressed(d / "a.npz", x=x, y=np.arange(20))
    with h5py.File(d / "a.h5", "w") as f:
        f["x"] = x
        f["y"] = np.arange(20)
    img = (rng.random((5, 4, 4)) * 255).astype(np.uint8)
    raw = struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">III", 5, 4, 4) + img.tobytes()
    (d / "a-images-idx3-ubyte").write_bytes(raw)
    (d / "b-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    return ["a.npy", "a.npz", "a.h5", "a-images-idx3-ubyte", "b-images-idx3-ubyte.gz"]


@FUZZ
@given(which=st.integers(0, 4), cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)),
                                                                      max_size=6))
def test_truncated_and_corrupted_data_files(tmp_path_factory, which, cut, flips):
    d = tmp_path_factory.mktemp("bad")
    name = valid_files(d)[which]
    raw = bytearray((d / name).read_bytes())
    for where, x in flips:
        raw[int(where * (len(raw) - 1))] ^= x
    raw = raw[:int(cut * len(raw))] if cut < 0.98 else raw
    (d / name).write_bytes(bytes(raw))
    check_dataset(d / name)
    if name.endswith((".npy", ".h5")):
        out = loads_or_refuses(ChunkedFile, d / name)
        if not isinstance(out, Exception):
            loads_or_refuses(out.rows, 0, out.n)
            out.close()


def test_npy_header_with_unbalanced_brackets(tmp_path):
    # found by the fuzzer in CI: numpy's header parser raised tokenize.TokenError, which escaped both readers
    np.save(tmp_path / "x.npy", np.zeros((3, 4), np.float32))
    raw = (tmp_path / "x.npy").read_bytes()
    (tmp_path / "x.npy").write_bytes(raw.replace(b"'shape': (3, 4), }", b"'shape': ((3, 4, }"))
    err = check_dataset(tmp_path / "x.npy")
    assert isinstance(err, lf.DataError) and "x.npy" in str(err)
    err = loads_or_refuses(ChunkedFile, tmp_path / "x.npy")
    assert isinstance(err, lf.DataError) and "not a readable .npy file" in str(err)


@pytest.mark.parametrize("name", ["e.npy", "e.npz", "e.h5", "e-images-idx3-ubyte", "e-idx1-ubyte.gz", "e.hdf5"])
def test_empty_files(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    assert isinstance(check_dataset(tmp_path / name), lf.DataError)


class Trap:
    """Unpickling this would create a file: proof of code execution."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickles_never_run(tmp_path, digits):
    marker = str(tmp_path / "EXECUTED")
    np.save(tmp_path / "obj.npy", np.array([Trap(marker)], dtype=object), allow_pickle=True)
    assert isinstance(check_dataset(tmp_path / "obj.npy"), lf.DataError)
    np.savez(tmp_path / "obj.npz", x=np.array([Trap(marker)], dtype=object))
    assert isinstance(check_dataset(tmp_path / "obj.npz"), lf.DataError)
    run = tmp_path / "run"
    lf.train("ae", digits, out=run, epochs=1, hidden=(8,), progress=False)
    for name in ("model.safetensors", "checkpoint.safetensors"):
        (run / name).write_bytes(pickle.dumps({"weight": Trap(marker)}))
    with pytest.raises(lf.ArtifactError, match="not a readable safetensors.*never reads pickled"):
        lf.load(run)
    with pytest.raises(lf.ArtifactError):
        lf.train("ae", digits, out=run, epochs=2, hidden=(8,), progress=False, resume=True)
    assert not os.path.exists(marker)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run") / "r"
    lf.train("ae", lf.load_dataset("digits"), out=d, epochs=1, hidden=(8,), latent_dim=2, progress=False)
    return d


@FUZZ
@given(which=st.sampled_from(["model.safetensors", "checkpoint.safetensors", "config.json", "transform.json"]),
       cut=st.floats(0, 1), flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=4))
def test_damaged_run_files(run_dir, tmp_path_factory, which, cut, flips):
    import shutil

    d = tmp_path_factory.mktemp("dmg") / "r"
    shutil.copytree(run_dir, d)
    raw = bytearray((d / which).read_bytes())
    for where, x in flips:
        raw[int(where * (len(raw) - 1))] ^= x
    raw = raw[:int(cut * len(raw))] if cut < 0.98 else raw
    (d / which).write_bytes(bytes(raw))
    run = loads_or_refuses(lf.load, d)
    if not isinstance(run, Exception):
        loads_or_refuses(run.reconstruct, np.zeros((2, 1, 8, 8), np.float32))
    if which == "checkpoint.safetensors":
        loads_or_refuses(load_tensors, d / which, "checkpoint")


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                           max_leaves=6)


@FUZZ
@given(section=st.sampled_from(["model", "model_config", "objective_config", "train_config", "data", "format",
                                "version", None]), value=json_values)
def test_tampered_config_json(run_dir, tmp_path_factory, section, value):
    import shutil

    d = tmp_path_factory.mktemp("cfg") / "r"
    shutil.copytree(run_dir, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg = value if section is None else {**cfg, section: value}
    (d / "config.json").write_text(json.dumps(cfg))
    loads_or_refuses(lf.load, d)


@FUZZ
@given(data=st.data())
def test_config_from_dict_accepts_or_raises_config_error(data):
    spec = MODELS.get(data.draw(st.sampled_from(MODELS.names())))
    cls = data.draw(st.sampled_from([TrainConfig, spec.model_config_class, spec.objective_config_class]))
    fields = list(cls.__dataclass_fields__)
    d = data.draw(st.dictionaries(st.sampled_from(fields + ["bogus"]), json_values, max_size=4))
    out = loads_or_refuses(cls.from_dict, d)
    if isinstance(out, Exception):
        assert isinstance(out, lf.ConfigError)
    else:
        json.dumps(out.to_dict())  # what was accepted can be saved


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--epochs", "--lr", "--batch-size", "--hidden", "--scaling", "--val-fraction",
                             "--precision", "--device", "--chunk-size", "--latent-dim", "--seed"]),
       value=st.text(alphabet="0123456789-.,eainfxX ", min_size=1, max_size=6))
def test_cli_flag_values(tmp_path_factory, capsys, flag, value):
    out = tmp_path_factory.mktemp("cli") / "r"
    try:
        code = main(["train", "ae", "--data", str(out.parent / "missing.npy"), "--out", str(out), flag, value,
                     "--no-progress"])
    except SystemExit as e:  # argparse refuses an unparsable value with its usage line
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "error" in err
    assert not out.exists()  # nothing was written for a refused command
