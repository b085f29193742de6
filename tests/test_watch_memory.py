"""The loss watch's window of recallable batches stays small: a streamed batch is a host copy, so the window is
read once the copies it holds reach LossWatch.RECALL_BYTES, however many steps that is."""

import numpy as np
import torch

import latentforge as lf
from latentforge.training.watch import LossWatch


def test_the_window_is_due_once_its_held_batches_reach_the_budget(monkeypatch):
    monkeypatch.setattr(LossWatch, "RECALL_BYTES", 4 << 20)
    w = LossWatch(torch.device("cpu"), every=1000)
    xs = [torch.full((2,), float(i)) for i in range(4)]
    for i, x in enumerate(xs):
        assert not w.due
        w.batch(1, i, (lambda x=x: x), 1 << 20)
        w.record(torch.tensor(float("nan") if i == 2 else 1.0), lf.training.watch.Step(1, i, "model", i))
    assert w.due  # 4 MiB held after 4 steps, far below every=1000
    bad = w.first_bad()
    assert bad is not None and bad.step.batch == 2 and torch.equal(bad.x, xs[2])
    assert not w.due and w.first_bad() is None  # read and emptied: nothing held any more
    w.batch(1, 4, lambda: xs[0])  # a slice of a permutation holds nothing
    assert not w.due


def test_a_streamed_epoch_holds_at_most_the_budget_of_batches(tmp_path, monkeypatch):
    """Batches of 8 rows x 512 float32 (16 KiB each) against a budget of 3 of them: the window never recalls
    more than 3 batches (it held every batch of the window, 50 by default, before)."""
    x = np.random.default_rng(0).random((600, 512)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    monkeypatch.setattr(LossWatch, "RECALL_BYTES", 3 * 8 * 512 * 4)
    most = []
    original = LossWatch.batch

    def spy(self, epoch, index, recall, held_bytes=0):
        original(self, epoch, index, recall, held_bytes)
        most.append(len(self._recall))

    monkeypatch.setattr(LossWatch, "batch", spy)
    lf.train("ae", str(path), stream=True, chunk_size=128, epochs=1, batch_size=8, latent_dim=2, hidden=(8,),
             progress=False)
    assert len(most) >= 50 and max(most) == 3
