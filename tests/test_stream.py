"""--stream: training data read from .npy / HDF5 files in shuffled chunks."""

import h5py
import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.data import Scaler, split_indices
from latentforge.data.stream import TRAIN, ChunkedFile, ChunkStream, fit_scaler
from latentforge.io import load_tensors

COMMON = dict(hidden=(16,), latent_dim=3, batch_size=64, seed=5, progress=False, loss="mse", output="identity",
              scaling="standard")


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 3))
    return (z @ rng.normal(size=(3, 20)) + 0.1 * rng.normal(size=(3000, 20)) + 5).astype(np.float32)


@pytest.fixture
def npy(tmp_path, vectors):
    p = tmp_path / "x.npy"
    np.save(p, vectors)
    return p


def parts(n, seed=0):
    idx = split_indices(n, val_fraction=0.1, test_fraction=0.1, seed=seed)
    part = np.zeros(n, np.int8)
    part[idx["train"]], part[idx["val"]], part[idx["test"]] = 1, 2, 3
    return idx, part


@pytest.mark.parametrize("fmt", ["npy", "h5"])
def test_chunks_read_back_the_file_rows(tmp_path, vectors, fmt):
    p = tmp_path / f"x.{fmt}"
    if fmt == "npy":
        np.save(p, vectors)
    else:
        with h5py.File(p, "w") as f:
            f["data"] = vectors
    f = ChunkedFile(p)
    assert f.n == 3000 and f.example_shape == (20,)
    np.testing.assert_array_equal(f.rows(1000, 1300), vectors[1000:1300])
    np.testing.assert_array_equal(f.rows(2900, 4000), vectors[2900:])
    np.testing.assert_array_equal(f.take(np.array([2999, 5, 700]), 256), vectors[[5, 700, 2999]])
    f.close()


def test_streamed_scaler_matches_the_in_memory_fit(npy, vectors):
    idx, part = parts(len(vectors))
    f = ChunkedFile(npy)
    for kind in ("minmax", "standard"):
        a, b = fit_scaler(f, part, kind, 256), Scaler(kind).fit(vectors[idx["train"]])
        for k in b.params:
            np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-6, atol=1e-6)


def test_an_epoch_visits_each_training_row_once_and_ranks_split_the_chunks(npy, vectors):
    idx, part = parts(len(vectors))
    f = ChunkedFile(npy)
    s = ChunkStream(f, part, TRAIN, Scaler("none"), chunk_size=128, buffer_chunks=3)
    key = {r.tobytes(): i for i, r in enumerate(vectors)}

    def rows(batches):
        return [key[r.numpy().tobytes()] for b in batches for r in b["x"]]

    one = rows(s.batches(torch.Generator().manual_seed(1), 64))
    assert sorted(one) == sorted(idx["train"].tolist())
    assert one != sorted(one)  # shuffled
    again = rows(s.batches(torch.Generator().manual_seed(1), 64))
    assert again == one  # seeded
    g = [torch.Generator().manual_seed(1) for _ in range(2)]
    r0 = list(s.batches(g[0], 64, rank=0, world=2))
    r1 = list(s.batches(g[1], 64, rank=1, world=2))
    assert len(r0) == len(r1)  # equal step counts: DDP needs them
    assert not set(rows(r0)) & set(rows(r1))
    assert len(set(rows(r0)) | set(rows(r1))) > 0.9 * len(idx["train"])
    assert torch.equal(g[0].get_state(), g[1].get_state())  # the shared stream stays in step


def test_stream_training_learns_and_resumes_exactly(tmp_path, npy, vectors):
    full = lf.train("ae", str(npy), out=tmp_path / "full", epochs=4, stream=True, chunk_size=256, **COMMON)
    assert full.history[-1]["train_loss"] < 0.5 * full.history[0]["train_loss"]
    assert full.history[-1]["val_loss"] < 0.5 * full.history[0]["val_loss"]
    lf.train("ae", str(npy), out=tmp_path / "part", epochs=2, stream=True, chunk_size=256, **COMMON)
    lf.train("ae", str(npy), out=tmp_path / "part", epochs=4, stream=True, chunk_size=256, resume=True, **COMMON)
    a = load_tensors(tmp_path / "full" / "model.safetensors")[0]
    b = load_tensors(tmp_path / "part" / "model.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    run = lf.load(tmp_path / "full")  # the saved run works on in-memory data as usual
    assert run.reconstruct(vectors[:5]).shape == (5, 20)
    mem = lf.train("ae", str(npy), epochs=4, **COMMON)  # same split and scaling as the in-memory path
    np.testing.assert_allclose(run.scaler.params["mean"], mem.scaler.params["mean"], rtol=1e-5)
    assert abs(full.history[-1]["val_loss"] - mem.history[-1]["val_loss"]) < 0.3 * mem.history[-1]["val_loss"]


def test_stream_refuses_what_it_cannot_read(tmp_path, vectors):
    np.savez(tmp_path / "x.npz", x=vectors)
    with pytest.raises(lf.DataError, match="streaming reads .npy, .h5"):
        lf.train("ae", str(tmp_path / "x.npz"), epochs=1, stream=True, **COMMON)
    np.save(tmp_path / "f.npy", np.asfortranarray(vectors))
    with pytest.raises(lf.DataError, match="Fortran order"):
        lf.train("ae", str(tmp_path / "f.npy"), epochs=1, stream=True, **COMMON)
    with pytest.raises(lf.ConfigError, match="stream=True reads a file"):
        lf.train("ae", vectors, epochs=1, stream=True, **COMMON)
    np.save(tmp_path / "x.npy", vectors)
    with pytest.raises(lf.ConfigError, match="drop cond_key"):
        lf.train("ae", str(tmp_path / "x.npy"), epochs=1, stream=True, cond_key="c", **COMMON)
    for option in ({"header": "yes"}, {"missing": "-"}):  # table options: accepted means used, so refused here
        with pytest.raises(lf.ConfigError, match=f"drop {next(iter(option))}"):
            lf.train("ae", str(tmp_path / "x.npy"), epochs=1, stream=True, **option, **COMMON)
    bad = vectors.copy()
    bad[2500, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(lf.DataError, match="NaN"):
        lf.train("ae", str(tmp_path / "nan.npy"), epochs=1, stream=True, **COMMON)
