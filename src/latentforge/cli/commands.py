"""The commands that use a trained run (and the data listing and demos): each parses, calls the library,
and prints or writes the result."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import LatentforgeError
from .flags import data_kw, emit, ints, label_list, parse_condition, print_json, save_out


def _load_and_select(a, full=False):
    from ..data import as_dataset
    from ..run import load

    run = load(a.run_dir, device=a.device)
    data = as_dataset(a.data, **data_kw(a))
    ds = run.select(data, run.resolve_split(data, a.split))
    return (run, ds, data) if full else (run, ds)


def as_given(ds, **arrays):
    """Arrays about the examples of ``ds`` (the model's layout) in the layout of the file they were read from
    ((N, H, W), channels last ...), for the output file; None entries are kept as None."""
    from ..data.axes import to_axes

    return {k: None if v is None else to_axes(np.asarray(v), ds.info.get("axes")) for k, v in arrays.items()}


def cmd_encode(a) -> int:
    """``latentforge encode``."""
    run, ds = _load_and_select(a)
    save_out(a.out, [ds, run], ds.cond, z=run.encode(ds), labels=ds.y)
    return 0


def cmd_reconstruct(a) -> int:
    """``latentforge reconstruct``."""
    run, ds = _load_and_select(a)
    cond = parse_condition(a.condition)
    if a.with_data:
        mean, std = run.denoise(ds, samples=a.samples or 50, seed=a.seed, condition=cond)
        save_out(a.out, [ds, run], ds.cond, **as_given(ds, mean=mean, std=std, input=ds.x), labels=ds.y)
    elif a.samples:
        mean, std = run.predict(ds, samples=a.samples, seed=a.seed, condition=cond)
        save_out(a.out, [ds, run], ds.cond, **as_given(ds, mean=mean, std=std, input=ds.x), labels=ds.y)
    else:
        save_out(a.out, [ds, run], ds.cond, **as_given(ds, reconstruction=run.reconstruct(ds, cond), input=ds.x),
                 labels=ds.y)
    return 0


def cmd_sample(a) -> int:
    """``latentforge sample``: an .npz is streamed in chunks; other formats (``run.outputs.save_arrays``) are
    written from memory; the picture shows at most 64."""
    import shutil
    from pathlib import Path

    from ..analysis import image_grid, save_figure
    from ..analysis.kind_figures import samples_picture
    from ..io import write_npz_streamed
    from ..io.writers import output_format
    from ..run import load
    from ..run.capabilities import available_memory, human_bytes
    from ..run.outputs import save_arrays

    if a.n < 1:
        raise LatentforgeError("-n must be at least 1")
    kind = output_format(a.out)
    run = load(a.run_dir, device=a.device)
    if not hasattr(run, "sample"):
        run.sample  # noqa: B018 - raises the CapabilityError that says what sampling needs
    shape = tuple(run.input_shape)
    need = a.n * int(np.prod(shape)) * 4
    folder = Path(a.out).resolve().parent
    free = shutil.disk_usage(folder if folder.exists() else Path.cwd()).free
    if need > free:
        raise LatentforgeError(f"-n {a.n} samples of shape {shape} need {human_bytes(need)} of disk and "
                               f"{human_bytes(free)} are free in {folder}; ask for fewer")
    memory = available_memory()
    if kind != "npz" and memory is not None and 2 * need > memory:
        raise LatentforgeError(f"-n {a.n} samples of shape {shape} need {human_bytes(need)} in memory for --out "
                               f"{a.out} and {human_bytes(memory)} are free; ask for fewer, or write .npz (streamed)")
    cond = parse_condition(a.condition)
    shown = []
    given = run.in_layout(np.zeros((1, *shape), np.float32)).shape[1:]  # the training data's layout

    def chunks():
        for part in run.sample_chunks(a.n, cond, seed=a.seed, layout="model"):
            if len(shown) < 64:
                shown.extend(part[:64 - len(shown)])
            yield run.in_layout(part)  # the file: in the layout of the data the run was trained on

    if kind == "npz":
        write_npz_streamed(a.out, "samples", (a.n, *given), chunks())
    else:
        conditions = run.conditioner.broadcast(cond, a.n) if run.conditional and cond is not None else None
        save_arrays(a.out, {"samples": np.concatenate(list(chunks()))}, like=run, cond=conditions)
    print(f"wrote {a.out} (samples: {a.n} x {given}, {human_bytes(need)})", file=sys.stderr)
    out = Path(a.out.rstrip("/"))
    png = str(out.with_suffix(".png") if kind != "png" else out.parent / f"{out.name}.png")
    x = np.stack(shown)
    at = f" given condition {a.condition}" if a.condition else ""
    if x.ndim == 4:  # the picture says how many of the samples it shows
        title = f"{run.name}: {'the first ' + str(len(x)) + ' of ' if a.n > len(x) else ''}{a.n} samples{at}"
        save_figure(image_grid(x, title=title), png)
    else:
        save_figure(samples_picture(run, x, f"{run.name}{at} ({a.n} drawn, the first shown)"), png)
    print(f"wrote {png}", file=sys.stderr)
    return 0


def cmd_denoise(a) -> int:
    """``latentforge denoise``."""
    from ..analysis import psnr

    run, ds = _load_and_select(a)
    if a.add_noise:
        noisy = run.add_noise(ds.x, seed=a.seed)
        den = run.reconstruct(noisy)
        peak = float(ds.x.max() - ds.x.min())
        emit(a, {"psnr_noisy": psnr(ds.x, noisy, peak), "psnr_denoised": psnr(ds.x, den, peak)},
             f"{run.name}: denoised {len(ds)} examples corrupted as in training (PSNR in dB)")
        save_out(a.out, [ds, run], ds.cond, **as_given(ds, denoised=den, noisy=noisy, clean=ds.x), labels=ds.y)
    else:
        save_out(a.out, [ds, run], ds.cond, **as_given(ds, denoised=run.reconstruct(ds), input=ds.x), labels=ds.y)
    return 0


def cmd_score(a) -> int:
    """``latentforge score``."""
    run, ds = _load_and_select(a)
    score = run.score(ds, parse_condition(a.condition))
    kind = "critic_score" if run.objective.game.critic else "p_real"
    summary = {"model": run.name, "n": len(score), "score": kind, "mean": float(score.mean()),
               "quantiles": {q: float(np.quantile(score, float(q))) for q in ("0.01", "0.1", "0.5", "0.9", "0.99")}}
    emit(a, summary, f"{run.name}: {kind} of {len(score)} examples")
    if a.out:
        save_out(a.out, [ds, run], ds.cond, score=score, labels=ds.y)
    return 0


def cmd_translate(a) -> int:
    """``latentforge translate``."""
    run, ds = _load_and_select(a)
    save_out(a.out, [ds, run], ds.cond, **as_given(ds, translated=run.translate(ds, a.direction), input=ds.x),
             labels=ds.y)
    return 0


def cmd_inpaint(a) -> int:
    """``latentforge inpaint``."""
    from ..analysis.inversion import inpaint, inpaint_summary, masks_for

    run, ds, data = _load_and_select(a, full=True)
    if a.limit:
        ds = ds.subset(np.arange(min(a.limit, len(ds))))
    res = inpaint(run, ds, masks_for(a.mask, ds, seed=a.seed), steps=a.steps, lr=a.lr, seed=a.seed)
    # the data given are complete, so the filled region can be scored against them; the baseline fills in the
    # mean example of the run's training rows (never of the evaluated images, whose hidden points it would see)
    try:
        ref = run.training_rows(data)
    except LatentforgeError as e:
        ref = None
        print(f"latentforge: no mean-fill baseline: {e}", file=sys.stderr)
    emit(a, {"model": run.name, "mask": a.mask, **inpaint_summary(ds, res, ref)},
         f"{run.name}: inpainted {len(ds)} examples under the mask {a.mask}")
    save_out(a.out, [ds, run], ds.cond, **as_given(ds, filled=res["filled"], reconstruction=res["reconstruction"],
                                                    mask=res["mask"], input=ds.x), z=res["z"], labels=ds.y)
    return 0


def cmd_explore(a) -> int:
    """``latentforge explore``."""
    from ..analysis import explore

    run, ds = _load_and_select(a)
    summary = explore.explore(run, ds, a.out, method=a.method, steps=a.steps,
                              pair=ints(a.interpolate), sets=label_list(a.arithmetic), param_key=a.param)
    emit(a, summary, f"{run.name}: latent-space pictures in {a.out} (summary.json holds everything)")
    return 0


def cmd_report(a) -> int:
    """``latentforge report``."""
    from ..analysis.report import write_report
    from ..run import load

    run = load(a.run_dir, device=a.device)
    print(write_report(run, a.data, a.out, k=a.k, baselines=not a.no_baselines, progress=not a.no_progress))
    return 0


def cmd_evaluate(a) -> int:
    """``latentforge evaluate``."""
    from ..run import load

    from ..data import as_dataset

    run = load(a.run_dir, device=a.device)
    full = as_dataset(a.data, **data_kw(a))
    split = run.resolve_split(full, a.split)
    out = run.evaluate(full, split, seed=a.seed, k=a.k, calibrate=a.calibrate)
    print(f"latentforge: evaluated {out['split_reason']}", file=sys.stderr)
    if a.baselines:
        from ..analysis.baselines import baseline_table
        from ..analysis.quality import feature_classifier

        train = run.training_rows(full)  # never the evaluated rows
        clf = feature_classifier(run, full) if run.can("sampling") and full.y is not None else None
        out["baselines"] = baseline_table(run, train, run.select(full, split), seed=a.seed, classifier=clf)
    from ..analysis.readable import summary_lines

    emit(a, out, "", summary_lines(out))
    for name, reason in out.get("skipped", {}).items():
        print(f"latentforge: skipped {name}: {reason}", file=sys.stderr)
    if a.json and out.get("mode_collapse"):  # the samples' own warning, on stderr beside the --json output
        print(f"latentforge: warning: {out['mode_collapse']}", file=sys.stderr)
    for name, v in out.items():  # a validation's warning, one line on stderr beside the --json output
        if a.json and isinstance(v, dict) and v.get("warning"):
            print(f"latentforge: warning: {name}: {v['warning']}", file=sys.stderr)
    return 0


def cmd_info(a) -> int:
    """``latentforge info``."""
    from ..run import load

    run = load(a.run_dir)
    emit(a, run.info(), f"{run.name} in {a.run_dir}")
    return 0


def cmd_datasets(a) -> int:
    """``latentforge datasets``."""
    from ..data import dataset_table

    rows = dataset_table()
    if a.json:
        print_json(rows)
        return 0
    print(f"{'name':<15}{'examples':>9}  {'shape':<11}{'installed':<10} source / licence")
    for r in rows:
        print(f"{r['name']:<15}{r['examples']:>9}  {'x'.join(map(str, r['shape'])):<11}"
              f"{'yes' if r['available'] else 'no':<10} {r['source']}")
        print(f"{'':<45} licence: {r['licence']}" + (f"; install: {r['install']}" if "install" in r else ""))
    from ..data import supported

    print(f"\nYour own data works too: --data PATH with {supported()}.")
    return 0


def cmd_demo(a) -> int:
    """``latentforge demo``."""
    if a.filters:
        from ..demo import run_filters_demo

        run_filters_demo(out=a.out or "latentforge-demo-filters", data=a.data, epochs=a.epochs or 60, seed=a.seed,
                         progress=not a.no_progress, device=a.device)
        return 0
    from ..hooks import DEMOS

    for name, demo in DEMOS.items():  # a science domain's demo (latentforge.domains)
        if getattr(a, name.replace("-", "_")):
            demo.run(a)
            return 0
    from ..demo import run_demo

    run_demo(out=a.out or "latentforge-demo", data=a.data, epochs=a.epochs or 30, progress=not a.no_progress,
             overwrite=True, device=a.device)
    return 0


def cmd_simulate(a) -> int:
    """``latentforge simulate``: the simulator a science domain registered (``hooks.SIMULATORS``)."""
    from ..hooks import SIMULATORS

    if a.n < 1:
        raise LatentforgeError("-n must be at least 1")
    sim = SIMULATORS.get(a.what)
    if not a.out.lower().endswith(sim.suffixes):
        raise LatentforgeError(f"--out {a.out}: give a file name ending in {sim.suffixes[0]}")
    record, summary = sim.run(a)
    emit(a, record, summary)
    return 0


def cmd_compare(a) -> int:
    """``latentforge compare``."""
    from ..compare import compare, markdown

    table = compare(a.data, a.out, budget_minutes=a.budget_minutes, seed=a.seed, progress=not a.no_progress,
                    device=a.device, **data_kw(a))
    print(markdown(table))
    print(f"wrote {a.out}/compare.html, compare.json, compare.md")
    return 0
