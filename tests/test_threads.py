"""Every command that runs a network takes --threads, and its default suits a shared machine."""

import os

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.cli.main import DEFAULT_MAX_THREADS, NETWORK_COMMANDS, build_parser, main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("threads")
    np.save(d / "x.npy", np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32))
    lf.train("ae", str(d / "x.npy"), latent_dim=2, epochs=1, out=d / "run", progress=False)
    return d


def test_every_network_command_has_the_threads_flag():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in NETWORK_COMMANDS:
        assert "--threads" in sub.choices[name].format_help(), name


def test_threads_flag_sets_torch_threads_and_the_default_is_capped(tiny_run, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["encode", str(tiny_run / "run"), "--data", str(tiny_run / "x.npy"), "--out",
                     str(tiny_run / "z.npz"), "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        assert main(["encode", str(tiny_run / "run"), "--data", str(tiny_run / "x.npy"), "--out",
                     str(tiny_run / "z.npz")]) == 0
        assert torch.get_num_threads() == max(1, min(DEFAULT_MAX_THREADS, len(os.sched_getaffinity(0))))
        capsys.readouterr()
        assert main(["encode", str(tiny_run / "run"), "--data", str(tiny_run / "x.npy"), "--out",
                     str(tiny_run / "z2.npz"), "--threads", "-1"]) == 2
        err = capsys.readouterr().err
        assert "--threads -1" in err and len(err.strip().splitlines()) == 1
        assert not (tiny_run / "z2.npz").exists()
    finally:
        torch.set_num_threads(before)
