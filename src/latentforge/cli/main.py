"""The ``latentforge`` command: each subcommand parses its arguments and calls the Python API."""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from typing import Sequence

from ..errors import LatentforgeError
from ..hooks import DEMOS, SIMULATORS
from ..spelling import command_line
from .commands import (cmd_compare, cmd_datasets, cmd_demo, cmd_denoise, cmd_encode, cmd_evaluate, cmd_explore,
                       cmd_info, cmd_inpaint, cmd_reconstruct, cmd_report, cmd_sample, cmd_score, cmd_simulate,
                       cmd_translate)
from .flags import DEFAULT_MAX_THREADS, apply_threads, data_flags, json_flag, split_flag, threads_flag  # noqa: F401
from .train import cmd_train, train_parser

#: the output formats, by name ending, for the --out help
OUT_FORMATS = (".npz (arrays by key), .npy, .csv (the data's column names and units), .h5 (data in a published "
               "layout: in the layout read), a science domain's formats or a folder/ of PNG images")


def build_parser(train_tree: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="latentforge",
                                description="Autoencoders, VAEs and GANs for scientists. "
                                            "`latentforge COMMAND --help` explains each command.")
    from ..version import __version__

    p.add_argument("--version", action="version", version=f"latentforge {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    tr = sub.add_parser("train", help="train a model: latentforge train MODEL --data DATA --out RUN_DIR",
                        add_help=train_tree)
    if train_tree:  # the real train parser lives in cli.train; `main` hands it argv itself
        train_parser(tr)

    def run_cmd(name: str, help_text: str, out: bool = True, split: str = "all"):
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `latentforge train`")
        data_flags(sp)
        split_flag(sp, split)
        if out:
            sp.add_argument("--out", required=True, help=f"output file: {OUT_FORMATS}")
        return sp

    run_cmd("encode", "encode DATA to latent codes (npz key z, plus labels)").set_defaults(fn=cmd_encode)
    r = run_cmd("reconstruct", "reconstruct DATA (npz keys reconstruction, input); with --samples K a VAE gives "
                               "the predictive mean and std (npz keys mean, std)")
    r.add_argument("--samples", type=int, default=0,
                   help="VAE: draw K latents from q(z|x) and write the predictive mean and std, the std "
                        "including the decoder's own sigma (default: 0, the posterior-mean reconstruction)")
    r.add_argument("--with-data", action="store_true",
                   help="VAE with a Gaussian decoder, data with per-point sigma: the posterior mean and std of the "
                        "noiseless signal given the data (decoder mean and sigma as prior, each measurement with "
                        "its sigma as likelihood; --samples latent draws, default 50)")
    r.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default: 0)")
    r.add_argument("--condition", help="conditional models: a class label or comma-separated parameters "
                                       "(default: the data's own labels / parameters)")
    r.set_defaults(fn=cmd_reconstruct)
    sm = sub.add_parser("sample", help="generate data from a VAE's prior or a GAN's generator (npz key samples, "
                                       "and a PNG grid)",
                        description="Draw z ~ N(0, I), decode, write FILE.npz and, for images, FILE.png.")
    sm.add_argument("run_dir", metavar="RUN_DIR")
    sm.add_argument("-n", type=int, default=64, help="number of samples (default: 64)")
    sm.add_argument("--out", required=True, help=f"output file: {OUT_FORMATS}; the PNG grid goes beside it")
    sm.add_argument("--condition", help="conditional models: a class label (e.g. 3) or comma-separated parameters")
    sm.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    sm.set_defaults(fn=cmd_sample)
    d = run_cmd("denoise", "denoise DATA with a denoising model (npz key denoised)")
    d.add_argument("--add-noise", action="store_true",
                   help="first corrupt DATA the way the model was trained, then denoise; prints PSNRs")
    d.add_argument("--seed", type=int, default=0, help="seed of the added noise (default: 0)")
    json_flag(d)
    d.set_defaults(fn=cmd_denoise)
    sc = run_cmd("score", "GANs: the discriminator's probability that each example of DATA is real (a realism / "
                          "anomaly score; a WGAN critic gives its raw score)", out=False, split="all")
    sc.add_argument("--out", help=f"also write the scores to this file (key score): {OUT_FORMATS}")
    sc.add_argument("--condition", help="conditional models: a class label or comma-separated parameters "
                                        "(default: the data's own labels / parameters)")
    json_flag(sc)
    sc.set_defaults(fn=cmd_score)
    e = run_cmd("evaluate", "print metrics in words (--json: as one JSON object): recon_mse; psnr_* for denoising "
                            "models; elbo, nll_iwae (nats per example in data units; *_scaled: in the scaled space), "
                            "nll_iwae_per_dim, bits_per_dim (8-bit images), K, kl for VAEs; the validations that apply",
                out=False, split="auto")
    e.add_argument("--seed", type=int, default=0, help="seed of evaluation randomness such as corruption")
    e.add_argument("--baselines", action="store_true",
                   help="also fit PCA (reconstruction) and Gaussian / mixture / KDE (samples) to the training "
                        "data and report their metrics beside the model's")
    e.add_argument("--k", type=int, default=1000,
                   help="VAE: importance samples per example for nll_iwae (default: 1000)")
    e.add_argument("--calibrate", choices=("none", "conformal"), default="none",
                   help="models with a predictive distribution (VAEs): conformal adds split-conformal intervals "
                        "(multipliers of the predictive's sigma fitted on the validation rows) and their coverage")
    json_flag(e)
    e.set_defaults(fn=cmd_evaluate)
    ip = run_cmd("inpaint", "fill masked points from the decoder: optimise the latent vector against the observed "
                            "points only (npz keys filled, reconstruction, mask, z); prints how the filled region "
                            "compares with a mean-fill", split="auto")
    ip.add_argument("--mask", required=True,
                    help="a mask file (.npy / .npz, True = missing; one example's shape or the data's) or a "
                         "pattern: bottom, top, left, right, center:K, random:P")
    ip.add_argument("--steps", type=int, default=300, help="optimiser steps on the latent vector (default: 300)")
    ip.add_argument("--lr", type=float, default=0.05, help="its learning rate (default: 0.05)")
    ip.add_argument("--limit", type=int, default=0, help="use only the first N examples (default: all)")
    ip.add_argument("--seed", type=int, default=0, help="seed for random masks (default: 0)")
    json_flag(ip)
    ip.set_defaults(fn=cmd_inpaint)
    tr = run_cmd("translate", "a translator (cyclegan): translate DATA into the other domain (npz keys translated, "
                              "input)", split="all")
    tr.add_argument("--direction", choices=("a_to_b", "b_to_a"), default="a_to_b",
                    help="a_to_b: DATA is like the training --data, translated into the --data-b domain; b_to_a: the "
                         "reverse (default: a_to_b)")
    tr.set_defaults(fn=cmd_translate)
    ex = run_cmd("explore", "latent-space pictures: scatter, traversal, interpolation, arithmetic, probe direction",
                 out=False, split="auto")
    ex.add_argument("--out", required=True, help="output folder for the PNGs, latents (.npz) and summary.json")
    ex.add_argument("--method", choices=("pca", "tsne"), default="pca",
                    help="projection for latent spaces of more than 2 dimensions (default: pca)")
    ex.add_argument("--steps", type=int, default=10, help="interpolation steps (default: 10)")
    ex.add_argument("--interpolate", help="two example indices I,J to interpolate between (default: the first "
                                          "two examples of different classes)")
    ex.add_argument("--arithmetic", help="three class labels A,B,C: decode mean(A) - mean(B) + mean(C) "
                                         "(default: the first three classes)")
    ex.add_argument("--param", help="name of a per-example parameter for the probe: an array in the data file "
                                    "(npz key / HDF5 dataset), or 'labels' (default: the labels)")
    json_flag(ex)
    ex.set_defaults(fn=cmd_explore)
    rp = sub.add_parser("report", help="write report.html: one self-contained page with config, curves, "
                                       "reconstructions, samples, latent plots, metrics and baselines")
    rp.add_argument("run_dir", metavar="RUN_DIR")
    rp.add_argument("--data", help="data to measure on (default: the run's training data; its test split)")
    rp.add_argument("--out", help="output file (default: RUN_DIR/report.html)")
    rp.add_argument("--k", type=int, default=200, help="VAE: importance samples for nll_iwae (default: 200)")
    rp.add_argument("--no-baselines", action="store_true", help="skip the classical baselines table")
    rp.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    rp.set_defaults(fn=cmd_report)
    sim = sub.add_parser("simulate", help="run a built-in simulator: " + "; ".join(
        f"`simulate {name}` {s.summary}" for name, s in SIMULATORS.items()))
    sim.add_argument("what", choices=SIMULATORS.names(), help="the simulator")
    sim.add_argument("-n", type=int, default=10000, help="number of examples (default: 10000)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", required=True, help="output .h5 file")
    for _, simulator in SIMULATORS.items():
        simulator.add_flags(sim)
    json_flag(sim)
    sim.set_defaults(fn=cmd_simulate)
    i = sub.add_parser("info", help="describe a run: model, parameters, config, training result")
    i.add_argument("run_dir", metavar="RUN_DIR")
    json_flag(i)
    i.set_defaults(fn=cmd_info)
    ds = sub.add_parser("datasets", help="list the built-in datasets with size, shape, source and licence")
    ds.add_argument("--json", action="store_true", help="print JSON")
    ds.set_defaults(fn=cmd_datasets)
    dm = sub.add_parser("demo", help="train autoencoders and a VAE on built-in MNIST digits, evaluate them and "
                                     "write their plots")
    dm.add_argument("--out", help="run directory (default: latentforge-demo, with --filters "
                                  "latentforge-demo-filters, with a domain's demo flag its own)")
    dm.add_argument("--data", default="mnist", help="built-in dataset (default: mnist)")
    dm.add_argument("--epochs", type=int, help="epochs per model (default: 30; with --filters 60; a domain's demo: "
                                               "its own)")
    dm.add_argument("--filters", action="store_true",
                    help="the denoising-filters figure instead: train one denoising autoencoder at masking corruption "
                         "0, 25 and 50 %% and draw its first-layer weights side by side with how localised they are "
                         "(filters.png, summary.json)")
    dm.add_argument("--seed", type=int, default=0, help="seed of the split and training (and of a domain demo's "
                                                        "simulation) (default: 0)")
    for name, demo in DEMOS.items():
        dm.add_argument(f"--{name}", action="store_true", help=demo.help)
        demo.add_flags(dm)
    dm.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    dm.set_defaults(fn=cmd_demo)
    cp = sub.add_parser("compare", help="which model for my data? PCA, an autoencoder, a VAE and a GAN sized to DATA, "
                                         "trained within a time budget and compared on held-out rows (compare.html)")
    data_flags(cp)
    cp.add_argument("--out", required=True, help="output folder (the runs, compare.json / .md / .html)")
    cp.add_argument("--budget-minutes", type=float, default=10.0, help="time for all the training (default: 10)")
    cp.add_argument("--seed", type=int, default=0, help="seed of the split and the training (default: 0)")
    cp.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    cp.set_defaults(fn=cmd_compare)
    co = sub.add_parser("completion", help="print a shell completion script (bash, zsh, tcsh or fish): "
                                           "eval \"$(latentforge completion bash)\"; fish: latentforge completion "
                                           "fish > ~/.config/fish/completions/latentforge.fish")
    co.add_argument("shell", choices=("bash", "zsh", "tcsh", "fish"))
    co.set_defaults(fn=cmd_completion)
    for name in NETWORK_COMMANDS:
        threads_flag(sub.choices[name])
        device_flag(sub.choices[name])
    return p


#: the commands that run a network (``train`` takes ``--threads`` from its configuration, with the same default)
NETWORK_COMMANDS = ("encode", "reconstruct", "sample", "denoise", "score", "evaluate", "inpaint", "translate",
                    "explore", "report", "demo", "compare")
#: where a command runs its network unless told: the CPU, as ``train`` does (the same numbers as the Python API's
#: default, no GPU taken from others on a shared machine, no seconds of GPU start-up for a small job)
DEFAULT_DEVICE = "cpu"


def device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("cpu", "cuda", "mps", "auto"), default=DEFAULT_DEVICE,
                   help="where the network runs: cpu, cuda (an NVIDIA GPU), mps (Apple's GPU) or auto (cuda when "
                        "PyTorch sees one, else mps, else cpu); data go there in batches and results come back to "
                        f"the CPU (default: {DEFAULT_DEVICE})")


def apply_device(name: str) -> None:
    """Check ``--device`` before a command reads anything: ConfigError (one line naming the fix) for a GPU that
    is not there."""
    from ..training.runtime import resolve_device

    resolve_device(name)


def completion_parser() -> argparse.ArgumentParser:
    """The whole command line as one parser tree (``train`` with its model sub-parsers), for shell completion."""
    p = build_parser(train_tree=True)
    return p


def cmd_completion(a) -> int:
    """``latentforge completion SHELL``: the shell's completion script, made by shtab from the parsers (fish:
    by ``cli.fish``, as shtab has no fish output)."""
    if a.shell == "fish":
        from .fish import fish_script

        print(fish_script(completion_parser()), end="")
        return 0
    try:
        import shtab
    except ImportError:
        raise LatentforgeError("shell completion needs shtab: pip install 'latentforge[completion]' (or pip install "
                               "shtab)") from None
    print(shtab.complete(completion_parser(), shell=a.shell))
    return 0


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"latentforge: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    with command_line():  # advice names flags (--beta), not keyword arguments (beta=)
        return _main(list(sys.argv[1:] if argv is None else argv))


#: a comma list of numbers that starts with a minus sign (-2,0,0,1), which argparse would read as a flag
_NEGATIVE_LIST = re.compile(r"^-[0-9.][0-9.eE+-]*(,[-+0-9.eE]+)+$")


def glue_negative_lists(argv: list[str]) -> list[str]:
    """``--condition -2,0,0,1`` as ``--condition=-2,0,0,1``: argparse takes a value that starts with a minus sign
    for a flag unless it is a single number, so a comma list of numbers after a ``--flag`` is glued to it."""
    out: list[str] = []
    for tok in argv:
        if out and _NEGATIVE_LIST.match(tok) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _main(argv: list[str]) -> int:
    warnings.formatwarning = _one_line_warning
    argv = glue_negative_lists(argv)
    try:
        if argv and argv[0] == "train":
            return cmd_train(argv[1:])
        parser = build_parser()
        a = parser.parse_args(argv)
        if not getattr(a, "fn", None):
            parser.print_help()
            return 0 if not argv else 2
        if a.command in NETWORK_COMMANDS:
            apply_threads(a.threads)
            apply_device(a.device)
        return a.fn(a)
    except LatentforgeError as e:
        print(f"latentforge: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentforge: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (head, less) closed the pipe: nothing more to say
        sys.stderr.close()
        return 0


def entry() -> None:
    """The ``latentforge`` program: ``main`` on the command line's arguments, then exit with its status.

    Before exiting, every object still alive is frozen out of the cyclic garbage collector (``gc.freeze``):
    the interpreter's shutdown otherwise walks the whole object graph of torch, its compiler and sympy once more,
    0.3 s of a short run. Files are closed and exit handlers still run; only cycles left at exit stay uncollected,
    as the operating system frees the process anyway. Not in ``main``, which tests and scripts call in-process."""
    import gc

    flush_subnormals()
    code = main()
    gc.freeze()
    sys.exit(code)


def flush_subnormals() -> bool:
    """Make this thread, and every thread it starts from now on, flush subnormal floats (below 1.2e-38) to zero.

    Adam's moment estimates and small gradients decay into subnormal floats, which x86 CPUs handle in microcode:
    an epoch of the MNIST VAE slowed by a quarter over three epochs. The setting is per thread and inherited by
    the threads a thread starts, so it is made once, first thing in the program, before torch starts its worker
    threads: set later, the main thread would flush and the workers would not, and results would depend on which
    thread computed what. Library calls leave it to the caller (``torch.set_flush_denormal(True)`` at the start
    of a script). Returns False where the CPU cannot flush."""
    import torch

    return bool(torch.set_flush_denormal(True))


if __name__ == "__main__":  # pragma: no cover
    entry()
