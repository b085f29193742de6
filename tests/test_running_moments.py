"""RunningMoments (the streamed mean and variance of the standard and shower-layers scalings) and the shared
chunk helpers of the streamed readers, against numpy on the whole array."""

import numpy as np
import pytest

import latentforge.data.scaling_base as scaling_base
from latentforge.data.chunks import gather_rows, release_freed_memory
from latentforge.data.scaling import Scaler
from latentforge.data.scaling_base import RunningMoments
from latentforge.errors import DataError


def chunked(x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    edges = np.cumsum([0] + sizes)
    assert edges[-1] == len(x)
    return [x[a:b] for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("scale", [1e-17, 1e5])
@pytest.mark.parametrize("block_values", [13, 1 << 20])
def test_moments_of_chunks_equal_numpy_on_the_whole_array(scale, block_values, monkeypatch):
    """float32 data of scale 1e-17 and 1e+5 (there with an offset 1000x its spread, where a sum of squares
    around 0 cancels), uneven chunks and chunks of 0 rows, row blocks smaller than a chunk (13 values) or not:
    mean and variance (ddof 0) equal numpy's in float64 on the concatenated rows."""
    monkeypatch.setattr(scaling_base, "BLOCK_VALUES", block_values)
    rng = np.random.default_rng(0)
    x = ((1000.0 + rng.normal(size=(103, 4)) * [1.0, 2.0, 0.5, 3.0]) * scale).astype(np.float32)
    m = RunningMoments()
    for c in chunked(x, [0, 1, 40, 0, 17, 45, 0]):
        m.update(c)
    ref = x.astype(np.float64)
    assert m.count == 103
    np.testing.assert_allclose(m.mean, ref.mean(0), rtol=1e-13)
    np.testing.assert_allclose(m.var, ref.var(0), rtol=1e-9)
    np.testing.assert_allclose(m.std, ref.std(0), rtol=1e-9)
    assert (m.var > 0).all()


def test_moments_of_image_rows_are_per_pixel():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, size=(30, 2, 3, 3)).astype(np.float32)
    m = RunningMoments().update(x[:11]).update(x[11:11]).update(x[11:])
    np.testing.assert_allclose(m.mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.var, x.astype(np.float64).var(0), rtol=1e-10)


def test_moments_of_no_rows_raise_a_data_error():
    m = RunningMoments().update(np.zeros((0, 3), np.float32))
    with pytest.raises(DataError, match="no rows"):
        m.mean  # noqa: B018


@pytest.mark.parametrize("scale", [1e-17, 1e5])
def test_standard_scaling_streamed_equals_numpy(scale):
    rng = np.random.default_rng(2)
    x = ((50.0 + rng.normal(size=(64, 5))) * scale).astype(np.float32)
    s = Scaler("standard").fit_chunks(iter(chunked(x, [20, 0, 30, 14])), n_chunks=4)
    ref = x.astype(np.float64)
    np.testing.assert_allclose(s.params["mean"], ref.mean(0), rtol=1e-13)
    np.testing.assert_allclose(s.params["std"], ref.std(0), rtol=1e-9)


def test_gather_rows_reads_chunk_by_chunk_in_sorted_order():
    x = np.arange(50, dtype=np.float32).reshape(25, 2)
    reads = []

    def read(a, b):
        reads.append((a, b))
        return x[a:b]

    idx = np.array([24, 3, 7, 0, 12])
    np.testing.assert_array_equal(gather_rows(idx, 8, read, (2,)), x[np.sort(idx)])
    assert reads == [(0, 8), (8, 16), (24, 32)]  # chunks 0, 1 and 3; chunk 2 holds none of them
    assert gather_rows(np.array([], np.int64), 8, read, (2,)).shape == (0, 2)


def test_release_freed_memory_finds_malloc_trim_under_glibc():
    import platform

    found = release_freed_memory()
    assert found == (platform.libc_ver()[0] == "glibc")
