"""Fidelity of generated data for any data kind: a classifier two-sample test with its floor, and the
separation power of the features that separate most.

- Classifier two-sample test (Lopez-Paz & Oquab 2017, "Revisiting classifier two-sample tests"; the
  classifier metric of Krause et al. 2024, arXiv:2410.21611): scikit-learn's ``HistGradientBoostingClassifier`` is
  trained to tell real rows from generated ones; the mean ROC AUC of its k out-of-fold predictions
  (``metrics.kfold_auc``, the loop every classifier test of the project shares) is 0.5 when the two sets cannot be
  told apart and 1 when they always can; its error is the standard deviation of the per-fold AUCs over sqrt(k).
  The **floor** is the same classifier on two halves of the real rows: what a perfect generator would score with
  this many rows (near 0.5; its distance from 0.5 is the test's own noise). Real-vs-generated uses one half of the
  real rows against as many generated ones, so that the floor and the test see the same number of rows.
- Separation power (the triangular discrimination of Krause et al. 2024):
  S = 1/2 sum_i (h1_i - h2_i)^2 / (h1_i + h2_i) over normalised histograms: 0 for identical histograms, 1 for
  disjoint ones; measured per feature, with the same on the two real halves as its floor.

Features: the model's scaled data, flattened and standardised with the mean and standard deviation of the rows
compared (float64): a table's columns as they are; an example of more than ``MAX_FEATURES`` values (images,
long vectors) is reduced to its leading ``PCA_COMPONENTS`` principal components. The map is fitted on the real halves
and the generated rows pooled, so that no set is in-sample alone (a PCA fitted on one set tells it apart).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

#: folds of the cross-validated classifier
FOLDS = 5
#: real rows used at most (a seeded subset beyond it)
MAX_ROWS = 6000
#: examples with more values than this are PCA-reduced for the classifier and the histograms
MAX_FEATURES = 128
PCA_COMPONENTS = 50
#: histogram bins for the separation power, and how many of the most separating features are reported
BINS = 30
TOP = 4


#: the fewest generated rows (and half the fewest real rows) the two-sample test is computed on
TWO_SAMPLE_MIN_ROWS = 20

def separation_power(h1: np.ndarray, h2: np.ndarray) -> float:
    """S = 1/2 sum_i (h1_i - h2_i)^2 / (h1_i + h2_i) over the two histograms normalised to unit sum (bins empty
    in both skipped): 0 identical, 1 disjoint (Krause et al. 2024)."""
    h1 = np.asarray(h1, np.float64)
    h2 = np.asarray(h2, np.float64)
    h1, h2 = h1 / h1.sum(), h2 / h2.sum()
    s = h1 + h2
    keep = s > 0
    return float(0.5 * np.sum((h1[keep] - h2[keep]) ** 2 / s[keep]))


def common_histograms(a: np.ndarray, b: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histograms of 1-D ``a`` and ``b`` on common equal-width edges spanning the 0.5-99.5 % quantiles of ``a``
    (values beyond go to the end bins) -> (h_a, h_b, edges)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    lo, hi = np.quantile(a, [0.005, 0.995])
    if hi <= lo:
        lo, hi = lo - 0.5 * max(abs(lo), 1e-6), hi + 0.5 * max(abs(hi), 1e-6)
    edges = np.linspace(lo, hi, bins + 1)
    return np.histogram(np.clip(a, lo, hi), edges)[0], np.histogram(np.clip(b, lo, hi), edges)[0], edges


def classifier_auc(a: np.ndarray, b: np.ndarray, *, folds: int = FOLDS, seed: int = 0) -> tuple[float, float]:
    """(AUC, error) of a gradient-boosted classifier (``metrics.boosted_trees``, 100 trees) telling rows of ``b``
    (N, F) from rows of ``a`` (N, F) by ``metrics.kfold_auc``: the mean of the ``folds`` out-of-fold ROC AUCs and
    their standard deviation over sqrt(k). DataError with fewer than 2 rows a side per fold."""
    from .metrics import boosted_trees, kfold_auc

    n = min(len(a), len(b))
    if n < 2 * folds:
        raise DataError(f"the two-sample test needs at least {2 * folds} rows of each set; got {len(a)} and {len(b)} "
                        "(evaluate on more rows: --split all)")
    x = np.concatenate([a[:n], b[:n]]).astype(np.float64)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    r = kfold_auc(x, y, boosted_trees(max_iter=100, seed=seed), folds=folds, seed=seed)
    return r["auc"], r["auc_err"]


def feature_space(rows: np.ndarray, *, seed: int = 0):
    """A function mapping rows (N, ...) to the test's features, fitted on ``rows``, their names and a description:
    the values standardised by the rows' mean and standard deviation (float64), PCA-reduced beyond MAX_FEATURES."""
    flat = np.asarray(rows, np.float64).reshape(len(rows), -1)
    mean, std = flat.mean(0), flat.std(0)
    std = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)  # constant values: left unscaled
    if flat.shape[1] <= MAX_FEATURES:
        names = [f"value {i}" for i in range(flat.shape[1])]
        return (lambda x: (np.asarray(x, np.float64).reshape(len(x), -1) - mean) / std), names, "standardised values"
    from sklearn.decomposition import PCA

    k = min(PCA_COMPONENTS, len(flat) - 1, flat.shape[1])
    pca = PCA(k, random_state=seed).fit((flat - mean) / std)
    names = [f"principal component {i + 1}" for i in range(k)]
    return ((lambda x: pca.transform((np.asarray(x, np.float64).reshape(len(x), -1) - mean) / std)), names,
            f"the leading {k} principal components of the standardised values")


def two_sample_test(real: np.ndarray, generated: np.ndarray, *, folds: int = FOLDS, seed: int = 0,
                    names: list[str] | None = None, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """The classifier two-sample test and per-feature separation power of ``generated`` (M, ...) against ``real``
    (N, ...) rows (same units): ``auc`` +- ``auc_error`` on one half of the real rows against as many generated
    rows, ``auc_floor`` +- ``auc_floor_error`` on the two real halves, ``n_per_side``, ``features`` (what the
    classifier saw) and ``top_features``: the TOP features by S with S on the two real halves (``S_floor``) and
    their histograms. ``names``: one per value, for tables' columns. DataError for too few rows."""
    rng = np.random.default_rng(seed)
    real = np.asarray(real)
    if len(real) < 2 * TWO_SAMPLE_MIN_ROWS or len(generated) < TWO_SAMPLE_MIN_ROWS:
        raise DataError(f"the two-sample test needs at least {2 * TWO_SAMPLE_MIN_ROWS} real and "
                        f"{TWO_SAMPLE_MIN_ROWS} generated rows (a classifier on fewer tells nothing), got "
                        f"{len(real)} and {len(generated)}; evaluate on more rows (--split all, or more data)")
    if len(real) > max_rows:
        real = real[np.sort(rng.choice(len(real), max_rows, replace=False))]
    perm = rng.permutation(len(real))
    half_a, half_b = real[perm[: len(real) // 2]], real[perm[len(real) // 2:]]
    n = min(len(half_a), len(generated))
    gen = np.asarray(generated)[rng.permutation(len(generated))[:n]]
    # the feature map is fitted on the three sets pooled: each is equally in-sample (a map fitted on one of them
    # alone, a PCA above all, tells that set apart from any other)
    to_features, default_names, what = feature_space(np.concatenate([half_a[:n], half_b, gen]), seed=seed)
    fa, fb, fg = to_features(half_a[:n]), to_features(half_b), to_features(gen)
    auc, err = classifier_auc(fa, fg, folds=folds, seed=seed)
    floor, floor_err = classifier_auc(fa, fb, folds=folds, seed=seed)
    if names is not None and len(names) == fa.shape[1] and what == "standardised values":
        default_names = list(names)
    per = []
    for j in range(fa.shape[1]):
        h_r, h_g, edges = common_histograms(fa[:, j], fg[:, j])
        h_r2, _, _ = common_histograms(fa[:, j], fb[:, j])
        h_b = np.histogram(np.clip(fb[:, j], edges[0], edges[-1]), edges)[0]
        per.append((separation_power(h_r, h_g), separation_power(h_r2, h_b), j, h_r, h_g, edges))
    per.sort(key=lambda t: -t[0])
    top = [{"feature": default_names[j], "S": s, "S_floor": s0, "edges": e.tolist(),
            "real": (h_r / h_r.sum()).tolist(), "generated": (h_g / h_g.sum()).tolist()}
           for s, s0, j, h_r, h_g, e in per[:TOP]]
    return {"auc": auc, "auc_error": err, "auc_floor": floor, "auc_floor_error": floor_err, "n_per_side": int(n),
            "folds": folds, "classifier": "scikit-learn HistGradientBoostingClassifier", "features": what,
            "S_mean": float(np.mean([p[0] for p in per])), "S_floor_mean": float(np.mean([p[1] for p in per])),
            "top_features": top}


def generated_like(run, ds, n: int, *, seed: int = 0, decoder_noise: bool = False,
                   sampler: str | None = None) -> np.ndarray:
    """``n`` examples from ``run`` in its scaled space (N, ...), their conditions drawn from the real rows
    ``ds``. A VAE: codes from its prior sampler (``sampler="normal"``: from N(0, I) whatever the run's), through
    the decoder's mean as ``run.sample`` gives, or with ``decoder_noise`` a draw x ~ p(x|z) (the model's own
    distribution of the data). Other generators: ``run.sample``, scaled."""
    import torch

    pick = np.random.default_rng(seed).integers(0, len(ds), size=n)
    cond = run.conditioner.values_of(ds)[pick] if run.conditional else None
    if not run.can("posterior"):
        return run.preprocess.scale(run.sample(n, cond, seed=seed, layout="model"), cond)
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(n, run.model.latent_dim, generator=g) if sampler == "normal"
         else run.model.draw_codes(n, g).cpu())
    b = {"x": z}
    if run.conditional:
        b["c"] = run.preprocess.condition_vectors(n, cond, name=run.name)

    def draw(s):
        p = run.model.decode_dist(s["x"], s.get("c"))
        return p.sample(g) if decoder_noise else p.generate(g)

    return run.infer(draw, b).numpy()


def fidelity(run, full, split: str, *, seed: int = 0) -> dict[str, Any]:
    """The two-sample validation of ``evaluate`` for a model that generates: real rows of the ``split`` of
    ``full`` (scaled as the model sees them) against as many generated rows; for a conditional model also per
    condition bin (a class, or a quartile of the first condition parameter) with at least 40 real rows."""
    ds = run.select(full, split)
    real = run.batch(ds)["x"].numpy()
    gen = generated_like(run, ds, len(ds), seed=seed)
    names = ds.info.get("columns") if isinstance(ds.info.get("columns"), list) else None
    out = two_sample_test(real, gen, seed=seed, names=names)
    out["n_real"] = len(ds)
    lik = getattr(run.model, "likelihood", None)
    gaussian = run.can("posterior") and lik is not None and lik.gaussian  # samples are means; data are draws
    keys = ("auc", "auc_error", "auc_floor", "auc_floor_error", "S_mean")
    if gaussian:
        noisy = two_sample_test(real, generated_like(run, ds, len(ds), seed=seed, decoder_noise=True), seed=seed,
                                names=names)
        out["with_decoder_noise"] = {k: noisy[k] for k in keys}
    own = getattr(getattr(run.model, "prior_sampler", None), "learned", False)
    if own and run.model.prior_sampler.is_fitted():  # the two-stage sampler beside the prior it replaces
        by = {run.model.config.prior_sampler: {"auc": out["auc"], "auc_error": out["auc_error"]}}
        plain = two_sample_test(real, generated_like(run, ds, len(ds), seed=seed, sampler="normal"), seed=seed)
        by["normal"] = {"auc": plain["auc"], "auc_error": plain["auc_error"]}
        if gaussian:
            by[run.model.config.prior_sampler].update(auc_with_decoder_noise=noisy["auc"],
                                                      auc_with_decoder_noise_error=noisy["auc_error"])
            pn = two_sample_test(real, generated_like(run, ds, len(ds), seed=seed, sampler="normal",
                                                      decoder_noise=True), seed=seed)
            by["normal"].update(auc_with_decoder_noise=pn["auc"], auc_with_decoder_noise_error=pn["auc_error"])
        out["by_prior_sampler"] = by
    if run.conditional:
        out["per_condition"] = _per_condition(run, ds, real, seed=seed)
    out["in_words"] = fidelity_words(out)
    return out


def _per_condition(run, ds, real: np.ndarray, *, seed: int) -> dict[str, Any]:
    cond = np.asarray(run.conditioner.values_of(ds))
    from ..data.arrays import is_categorical

    if cond.ndim == 1 or (cond.ndim == 2 and cond.shape[1] == 1 and is_categorical(cond.ravel())):
        keys = cond.reshape(len(cond), -1)[:, 0]
        groups = {f"label {v}": keys == v for v in np.unique(keys)}
    else:
        first = cond.reshape(len(cond), -1)[:, 0].astype(np.float64)
        edges = np.quantile(first, [0, 0.25, 0.5, 0.75, 1.0])
        idx = np.clip(np.searchsorted(edges, first, side="right") - 1, 0, 3)
        groups = {f"condition[0] in [{edges[i]:.4g}, {edges[i + 1]:.4g}]": idx == i for i in range(4)}
    out = {}
    for name, sel in groups.items():
        if sel.sum() < 40:
            continue
        sub = ds.subset(np.flatnonzero(sel))
        c = run.conditioner.values_of(sub)
        gen = run.preprocess.scale(run.sample(len(sub), c, seed=seed, layout="model"), c)
        r = two_sample_test(real[sel], gen, folds=3, seed=seed)
        out[name] = {k: r[k] for k in ("auc", "auc_error", "auc_floor", "auc_floor_error", "n_per_side")}
    return out


def fidelity_words(r: dict[str, Any]) -> list[str]:
    """Lines in words for ``evaluate``'s summary."""
    lines = [f"classifier two-sample test, generated vs real rows: AUC {r['auc']:.3f} +- {r['auc_error']:.3f}; floor "
             f"(real vs real) {r['auc_floor']:.3f} +- {r['auc_floor_error']:.3f} (0.5: indistinguishable, 1: always "
             f"told apart; {r['n_per_side']} rows a side, {r['folds']} folds, features: {r['features']})",
             "separation power S (0 same, 1 disjoint) of the features that separate most: " + ", ".join(
                 f"{t['feature']} {t['S']:.3f} (floor {t['S_floor']:.3f})" for t in r["top_features"])]
    if "with_decoder_noise" in r:
        v = r["with_decoder_noise"]
        lines.append(f"the same with draws x ~ p(x|z) instead of the decoder's mean (the model's distribution of the "
                     f"data): AUC {v['auc']:.3f} +- {v['auc_error']:.3f}")
    if "by_prior_sampler" in r:
        lines.append("by prior sampler: " + ", ".join(
            f"{k} AUC {v['auc']:.3f} +- {v['auc_error']:.3f}" + (
                f" (with decoder noise {v['auc_with_decoder_noise']:.3f} +- {v['auc_with_decoder_noise_error']:.3f})"
                if "auc_with_decoder_noise" in v else "") for k, v in r["by_prior_sampler"].items()))
    worst = [(k, v) for k, v in r.get("per_condition", {}).items()]
    if worst:
        k, v = max(worst, key=lambda kv: kv[1]["auc"])
        lines.append(f"per condition bin ({len(worst)} bins): highest AUC {v['auc']:.3f} +- {v['auc_error']:.3f} "
                     f"in {k} (floor {v['auc_floor']:.3f})")
    return lines


def fidelity_figure(r: dict[str, Any]):
    """Histograms (real vs generated, share of rows) of the features that separate most."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = r["top_features"]
    fig, axes = plt.subplots(1, len(top), figsize=(3.2 * len(top), 2.8), squeeze=False)
    for ax, t in zip(axes[0], top):
        e = np.asarray(t["edges"])
        ax.stairs(t["real"], e, label="real", color="k")
        ax.stairs(t["generated"], e, label="generated", color="#d0582b")
        ax.set_title(f"{t['feature']}\nS = {t['S']:.3f} (floor {t['S_floor']:.3f})", fontsize=8)
        ax.set_xlabel("standardised value" if "component" not in t["feature"] else "component score")
        ax.set_ylabel("share of rows")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
