"""Streamed batches are prefetched to the device: on a CUDA GPU the copy of the next batch is queued (pinned
memory, a side stream) while the current one trains; on a CPU the batches pass through unchanged. The staging
order is checked on the CPU with stand-ins for the copy and the wait."""

from __future__ import annotations

import numpy as np
import torch

import latentforge as lf
from latentforge.data.batches import one_ahead, prefetch
from latentforge.training import trainer as trainer_module


def _batches(n=5):
    g = torch.Generator().manual_seed(0)
    return [{"x": torch.rand(4, 3, generator=g), "c": torch.rand(4, 2, generator=g)} for _ in range(n)]


def test_on_a_cpu_prefetch_hands_out_the_same_batches_in_order():
    batches = _batches()
    out = list(prefetch(iter(batches), torch.device("cpu")))
    assert len(out) == len(batches)
    for (host, on_device), b in zip(out, batches):
        assert host is b and on_device is b  # nothing copied on a CPU


def test_the_next_batch_is_loaded_before_the_current_one_is_used():
    events: list[tuple[str, int]] = []
    batches = [{"x": torch.full((2,), float(i))} for i in range(4)]

    def load(host):
        events.append(("load", int(host["x"][0])))
        return {k: v.clone() for k, v in host.items()}

    def ready(loaded):
        events.append(("ready", int(loaded["x"][0])))

    got = []
    for host, loaded in one_ahead(batches, load, ready):
        events.append(("train", int(loaded["x"][0])))
        got.append(int(host["x"][0]))
        torch.testing.assert_close(loaded["x"], host["x"])
    assert got == [0, 1, 2, 3]
    # batch i+1's copy is queued after batch i is made ready and before batch i trains
    assert events == [("load", 0), ("ready", 0), ("load", 1), ("train", 0), ("ready", 1), ("load", 2), ("train", 1),
                      ("ready", 2), ("load", 3), ("train", 2), ("ready", 3), ("train", 3)]
    assert list(one_ahead([], load, ready)) == []


def test_streamed_training_goes_through_prefetch(tmp_path, monkeypatch):
    x = np.random.default_rng(0).uniform(0, 1, (300, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    seen = []

    def recording(batches, device):
        for host, batch in prefetch(batches, device):
            seen.append(host["x"].shape[0])
            yield host, batch

    monkeypatch.setattr(trainer_module, "prefetch", recording)
    run = lf.train("ae", str(tmp_path / "x.npy"), epochs=1, stream=True, chunk_size=64, batch_size=32, hidden=(4,),
                   latent_dim=2, progress=False)
    assert sum(seen) == 240 and run.history[0]["epoch"] == 1  # the 80 % training rows, each once
