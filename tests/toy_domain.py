"""A science domain written outside the package, for tests/test_domains.py: a file kind (``.toy``: text, one
example per line), a built-in generated set, a catalogue model and a simulator. ``register`` adds them, and
``unregister`` takes them out again."""

from __future__ import annotations

import numpy as np

from latentforge.catalog import MODELS, ModelSpec
from latentforge.data.builtin import DATASETS, BuiltinDataset
from latentforge.data.records import READERS, DataRecord, Reader
from latentforge.hooks import SIMULATORS, Simulator
from latentforge.models import MLPAutoencoder
from latentforge.objectives import ReconstructionObjective

#: what register adds, by registry
ADDED = ((READERS, "toy"), (DATASETS, "toy-blobs"), (MODELS, "toy-ae"), (SIMULATORS, "toy"))


def blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs in 3-D at (0, 0, 0) and (5, 5, 5), unit variance; labels 0 / 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return (rng.normal(size=(n, 3)) + 5.0 * y[:, None]).astype(np.float32), y


def read_toy(path, **options) -> DataRecord:
    """A ``.toy`` file: whitespace-separated numbers, one example per line."""
    return DataRecord(values=np.loadtxt(path, ndmin=2).astype(np.float32), described={"toy_unit": "toy units"})


def add_flags(parser) -> None:
    """The toy simulator's flag."""
    parser.add_argument("--toy-spread", type=float, default=1.0, help="toy: the blobs' standard deviation")


def simulate(a) -> tuple[dict, str]:
    """Write ``a.n`` blob points into ``a.out`` (a .toy file)."""
    x, _ = blobs(a.n, a.seed)
    np.savetxt(a.out, x * a.toy_spread)
    return {"file": a.out, "n": a.n}, f"simulated {a.n} toy points"


def register() -> None:
    """Add the toy file kind, data set, model and simulator."""
    READERS.register("toy", Reader("toy text files", (".toy",), read_toy))
    DATASETS.register("toy-blobs", BuiltinDataset("toy-blobs", 200, (3,), "generated: two blobs", "none", blobs))
    MODELS.register("toy-ae", ModelSpec("toy-ae", MLPAutoencoder, ReconstructionObjective, "toy autoencoder",
                                        model_defaults={"latent_dim": 2}))
    SIMULATORS.register("toy", Simulator("toy blobs", add_flags, simulate, suffixes=(".toy",)))


def unregister() -> None:
    """Take out what ``register`` added."""
    for registry, name in ADDED:
        registry.remove(name)
