import numpy as np
import pytest
import torch

import latentforge as lf


@pytest.fixture(autouse=True)
def _own_measurement_cache(tmp_path_factory, monkeypatch):
    """Each test keeps the step timings of --precision auto in a folder of its own (a user's persist in
    ~/.cache/latentforge): one test's measurement never decides another's precision; the processes a test starts
    share its folder, as one user's commands share theirs."""
    monkeypatch.setenv("LATENTFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def digits():
    return lf.load_dataset("digits")


@pytest.fixture(scope="session")
def mnist():
    return lf.load_dataset("mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def shower_file(tmp_path_factory):
    """``make(n, particle="e+", *, seed)``: writes ``n`` showers of ``particle`` from the project's simulator (its
    default calogan geometry, the calochallenge layout in MeV, as ``latentforge simulate showers`` writes) to an HDF5
    file in a folder of its own and returns the file's path."""
    from latentforge.domains.showers.files import write_showers
    from latentforge.domains.showers.simulator import ShowerSimulator

    def make(n: int, particle: str = "e+", *, seed: int):
        path = tmp_path_factory.mktemp("showers") / "e.h5"
        write_showers(path, ShowerSimulator(seed=seed).simulate(n, particle))
        return path

    return make
