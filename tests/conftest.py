import numpy as np
import pytest
import torch

import latentforge as lf


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(2)
    yield


@pytest.fixture(autouse=True)
def _fp32_by_default(monkeypatch):
    """The tests assert fp32 numbers: `--precision auto` resolves to fp32 here even on a CPU with native bf16
    (test_device.py checks what auto picks on either kind of hardware)."""
    from latentforge.train import runtime

    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)


@pytest.fixture(scope="session")
def digits():
    return lf.load_dataset("digits")


@pytest.fixture(scope="session")
def mnist():
    return lf.load_dataset("mnist")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
