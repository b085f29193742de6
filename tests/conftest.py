import numpy as np
import pytest
import torch

import latentforge as lf


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
