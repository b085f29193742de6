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


def _argv_for(parser, name: str) -> list[str]:
    """The shortest command line ``parser`` accepts: a value for each positional and each required flag."""
    argv = [name]
    for action in parser._actions:
        value = str(next(iter(action.choices))) if action.choices else "x"
        if not action.option_strings and action.dest != "help":
            argv.append(value)
        elif action.required:
            argv += [action.option_strings[0], value]
    return argv


@pytest.mark.parametrize("name", NETWORK_COMMANDS)
def test_each_command_sets_torch_threads_from_the_flag_and_by_default(name, monkeypatch):
    import latentforge.cli.main as cli

    asked: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    ran: list[str] = []
    monkeypatch.setattr(cli, f"cmd_{name}", lambda a: ran.append(a.command) or 0)  # parse and set up, do not run
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    argv = _argv_for(sub.choices[name], name)
    assert main([*argv, "--threads", "3"]) == 0 and ran == [name]
    assert main(argv) == 0
    assert asked == [3, max(1, min(DEFAULT_MAX_THREADS, len(os.sched_getaffinity(0))))]


def test_train_command_sets_torch_threads_from_the_flag_and_by_default(tiny_run, monkeypatch, capsys):
    asked: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", asked.append)
    base = ["train", "ae", "--data", str(tiny_run / "x.npy"), "--epochs", "1", "--latent-dim", "2", "--no-progress"]
    assert main([*base, "--out", str(tiny_run / "t1"), "--threads", "1"]) == 0
    assert asked == [1]  # set by the trainer, from the flag
    assert main([*base, "--out", str(tiny_run / "t2")]) == 0
    assert asked == [1, max(1, min(DEFAULT_MAX_THREADS, len(os.sched_getaffinity(0))))]
    with pytest.raises(SystemExit):
        main(["train", "ae", "--help"])
    assert f"(default: the usable cores, at most {DEFAULT_MAX_THREADS})" in " ".join(capsys.readouterr().out.split())
