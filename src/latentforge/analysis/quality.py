"""Sample quality without internet: a small classifier trained on the same data supplies the features.

- ``fd_classifier``: the Fréchet distance between Gaussians fitted to real and generated features of the
  classifier's penultimate layer. Same formula as FID, different network: not comparable with FID values.
- ``precision`` / ``recall``: Kynkäänniemi et al. (2019) k-NN manifolds in the same feature space: the
  fraction of generated examples inside the real manifold, and of real examples inside the generated one.
- ``mode_coverage``: the share of classes that the classifier finds in the generated set at no less than
  a quarter of their fair share; ``class_histogram`` gives the fractions themselves, ``min_class_share`` the
  smallest of them;
- ``mean_confidence``: the classifier's mean probability of the class it assigns to each generated example
  (near 1 for clear examples of some class, low for ambiguous or malformed ones);
- ``mode_collapse``: a sentence naming the classes generated at less than a quarter of their share of the real
  data (``class_histogram_real``, the real examples as read by the same classifier); absent when none is.

Every one of them is measured on samples: each comes with its standard error ``<name>_err`` (a bootstrap over the
rows of both sets, Efron 1979: the features and predictions are resampled, nothing is generated again), with
``n_real`` and ``n_generated``; the Fréchet distance also with the bootstrap estimate of its finite-N bias
(``fd_classifier_bias``, upward). Fewer than ``MIN_ROWS`` rows in either set are refused (``TooFewRows``).

The classifier is trained with a fixed seed, so the same data gives the same classifier and the numbers
of different runs on the same dataset are comparable. It is saved as safetensors + JSON.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import linalg
from torch import nn
from torch.nn import functional as F

from ..errors import ArtifactError, DataError
from ..io import load_tensors, read_json, save_tensors, write_json
from .metrics import BOOTSTRAP, bootstrap_error, mean_with_error
from .collapse import mode_collapse_note

FEATURES = 128
#: the classifier's architecture; a kept classifier of another version is trained anew
CLASSIFIER_VERSION = 2


class FeatureClassifier(nn.Module):
    """Small CNN for images (two strided conv levels) or MLP for vectors; ``features`` is its penultimate layer."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int):
        super().__init__()
        self.input_shape = tuple(input_shape)
        if len(self.input_shape) == 3:
            c, h, w = self.input_shape
            # two strided convolutions: a tenth of the cost of full-resolution ones with pooling, and still a
            # classifier good enough to give features that tell data sets apart
            self.body = nn.Sequential(
                nn.Conv2d(c, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                nn.Linear(32 * math.ceil(math.ceil(h / 2) / 2) * math.ceil(math.ceil(w / 2) / 2), FEATURES), nn.ReLU())
        else:
            d = math.prod(self.input_shape)
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _batches(fn, x: torch.Tensor, size: int = 1024) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([fn(x[i:i + size]) for i in range(0, len(x), size)])


def train_classifier(x: np.ndarray, labels: np.ndarray, *, seed: int = 0, epochs: int = 5,
                     val_fraction: float = 0.1, max_rows: int = 5000) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Fit the feature classifier on examples in model space ([0, 1] for images) with class labels, on at most
    ``max_rows`` of them (chosen with ``seed``)."""
    classes = sorted(np.unique(labels).tolist())
    y = np.searchsorted(classes, labels)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))[:max_rows]
    n_val = int(round(len(perm) * val_fraction))
    tr, va = perm[n_val:], perm[:n_val]
    xt, yt = torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(y.astype(np.int64))
    torch.manual_seed(seed)
    model = FeatureClassifier(x.shape[1:], len(classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(seed)
    trt = torch.from_numpy(tr)
    for _ in range(epochs):
        model.train()
        order = trt[torch.randperm(len(trt), generator=g, device="cpu")]
        for i in range(0, len(order), 128):
            idx = order[i:i + 128]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    acc = float((_batches(model, xt[va]).argmax(1) == yt[va]).float().mean()) if n_val else float("nan")
    return model, {"classes": classes, "input_shape": list(x.shape[1:]), "val_accuracy": acc, "seed": seed,
                   "version": CLASSIFIER_VERSION,
                   "epochs": epochs, "n_train": int(len(tr))}


def save_classifier(path: str | os.PathLike, model: FeatureClassifier, info: dict[str, Any]) -> None:
    """Keep the feature classifier at ``path``: weights as safetensors, its description as JSON."""
    path = Path(path)
    save_tensors(path / "classifier.safetensors", model.state_dict())
    write_json(path / "classifier.json", {"format": "latentforge-feature-classifier", **info})


def load_classifier(path: str | os.PathLike) -> tuple[FeatureClassifier, dict[str, Any]]:
    """The feature classifier kept at ``path`` (safetensors + JSON); ArtifactError for a foreign or damaged one."""
    path = Path(path)
    info = read_json(path / "classifier.json", "feature classifier description")
    if info.get("format") != "latentforge-feature-classifier":
        raise ArtifactError(f"{path / 'classifier.json'}: not a latentforge feature classifier")
    model = FeatureClassifier(tuple(info["input_shape"]), len(info["classes"]))
    tensors, _ = load_tensors(path / "classifier.safetensors", "feature classifier")
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise ArtifactError(f"{path}: classifier weights do not match its description ({e})") from None
    return model.eval(), info


def classifier_for(path: str | os.PathLike, x: np.ndarray, labels: np.ndarray | None, *, source: str,
                   seed: int = 0) -> tuple[FeatureClassifier, dict[str, Any]]:
    """Load the classifier kept at ``path`` if it was made for this data, else train and keep it there."""
    if labels is None:
        raise DataError("the sample-quality metrics need a labelled dataset to train their feature classifier "
                        "(labels via the file's y / --labels-key, or --labels FILE)")
    if (Path(path) / "classifier.json").exists():
        try:
            model, info = load_classifier(path)
        except ArtifactError:  # kept by another version: trained anew below
            info = {}
        if (info.get("source") == source and info.get("input_shape") == list(x.shape[1:])
                and info.get("seed") == seed and info.get("version") == CLASSIFIER_VERSION):
            return model, info
    model, info = train_classifier(x, labels, seed=seed)
    info["source"] = source
    save_classifier(path, model, info)
    return model, info


#: fewest real (and generated) examples the sample-quality metrics accept: k-NN manifolds need k + 1 points, a
#: 128-feature covariance far more; below this the numbers are mostly their own finite-N bias
MIN_ROWS = 20


class TooFewRows(DataError):
    """Too few examples for a sample-based metric: ``evaluate`` refuses instead of skipping the metric."""


def check_rows(n_real: int, n_generated: int, what: str = "the sample-quality metrics",
               sets: tuple[str, str] = ("real", "generated")) -> None:
    """TooFewRows (a DataError; one line, with the minimum and a fix) when either set has fewer than ``MIN_ROWS``
    examples (``sets``: the two sets' names in the message)."""
    if min(n_real, n_generated) < MIN_ROWS:
        raise TooFewRows(f"{what} need at least {MIN_ROWS} examples in each set, got {n_real} {sets[0]} and "
                         f"{n_generated} {sets[1]} (too few to be more than their small-sample bias); give data with "
                         f"at least {MIN_ROWS} rows (CLI: --data; a held-out split that small: --split all)")


def _trace_sqrt_product(sa: np.ndarray, sb: np.ndarray) -> float:
    """Tr((S_a S_b)^(1/2)) for covariance matrices: the eigenvalues of S_a S_b are those of the symmetric
    S_a^(1/2) S_b S_a^(1/2), whose square roots are summed (no complex sqrtm, no failure on singular S)."""
    w, v = linalg.eigh(sa)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = linalg.eigvalsh(root @ sb @ root)
    return float(np.sqrt(np.clip(lam, 0, None)).sum())


def _frechet_from_stats(mu_a, sa, mu_b, sb) -> float:
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * _trace_sqrt_product(sa, sb))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for feature sets a (N, F), b (M, F) (the formula of
    FID, Heusel et al. 2017); squared feature units. Biased upward at finite N (Chong & Forsyth 2020)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return _frechet_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def frechet_bootstrap(a: np.ndarray, b: np.ndarray, *, n_boot: int = BOOTSTRAP, seed: int = 0) -> dict[str, float]:
    """The Fréchet distance of ``a`` (N, F) and ``b`` (M, F) with its bootstrap standard error (rows of each set
    drawn with replacement ``n_boot`` times, Efron 1979) and the bootstrap estimate of its finite-N bias
    (mean of the resampled values less the value): ``{"value", "err", "bias"}``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    value = frechet_distance(a, b)
    rng = np.random.default_rng(seed)
    draws = np.array([frechet_distance(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
                      for _ in range(n_boot)])
    return {"value": value, "err": float(draws.std(ddof=1)), "bias": float(draws.mean() - value)}


#: nearest neighbours kept per point for the resampled k-NN radii (a radius needs k of them present in a resample;
#: missing all but fewer than k of 48 has probability below 1e-15 for k = 3)
NEIGHBOURS = 48


class _Manifold:
    """The k-NN radii of one point set (Kynkäänniemi et al. 2019) under resampling: each point's nearest
    neighbours (itself left out) are sorted once; with multiplicities ``counts`` (a bootstrap resample) a point's
    radius is the distance at which its present neighbours, counted with their copies, reach k."""

    def __init__(self, d_self: torch.Tensor, k: int):
        n = len(d_self)
        self.k = k
        width = min(NEIGHBOURS, n - 1)
        off = d_self + torch.diag(torch.full((n,), float("inf"), dtype=d_self.dtype))  # not its own neighbour
        self.dist, self.index = torch.topk(off, width, dim=1, largest=False)  # ascending

    def radii(self, counts: torch.Tensor) -> torch.Tensor:
        """(N,) radius of every point (-inf for a point absent from the resample, which then covers nothing)."""
        reached = torch.cumsum(counts[self.index], dim=1) >= self.k
        first = torch.where(reached.any(1), reached.double().argmax(1), torch.full_like(reached[:, 0], -1,
                                                                                       dtype=torch.long))
        rad = self.dist.gather(1, first.clamp(min=0)[:, None])[:, 0]
        rad = torch.where(first < 0, self.dist[:, -1], rad)  # fewer than k neighbours in reach: the farthest kept
        return torch.where(counts > 0, rad, torch.tensor(float("-inf"), dtype=rad.dtype))


def _pr(real_m: _Manifold, fake_m: _Manifold, d_fr: torch.Tensor, c_r: torch.Tensor,
        c_f: torch.Tensor) -> tuple[float, float]:
    """Precision and recall with every real row counted ``c_r`` times and every generated row ``c_f`` times."""
    inside_real = (d_fr <= real_m.radii(c_r)[None, :]).any(1).double()  # per generated point
    inside_fake = (d_fr.t() <= fake_m.radii(c_f)[None, :]).any(1).double()  # per real point
    return float((inside_real * c_f).sum() / c_f.sum()), float((inside_fake * c_r).sum() / c_r.sum())


def _distances(real: np.ndarray, fake: np.ndarray, k: int):
    if min(len(real), len(fake)) <= k:
        raise TooFewRows(f"precision / recall with k = {k} neighbours need at least {k + 1} real and {k + 1} "
                         f"generated examples, got {len(real)} and {len(fake)}; evaluate on more rows")
    r, f = torch.from_numpy(np.asarray(real, np.float64)), torch.from_numpy(np.asarray(fake, np.float64))
    return _Manifold(torch.cdist(r, r), k), _Manifold(torch.cdist(f, f), k), torch.cdist(f, r)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019: k-NN balls around each set's points approximate its manifold; precision is the
    share of generated points inside the real manifold, recall the share of real points inside the generated one.
    ``real`` (N, F) and ``fake`` (M, F) need more than ``k`` rows each (DataError otherwise)."""
    real_m, fake_m, d_fr = _distances(real, fake, k)
    return _pr(real_m, fake_m, d_fr, torch.ones(len(real), dtype=torch.float64),
               torch.ones(len(fake), dtype=torch.float64))


def precision_recall_bootstrap(real: np.ndarray, fake: np.ndarray, k: int = 3, *, n_boot: int = BOOTSTRAP,
                               seed: int = 0) -> dict[str, float]:
    """``precision_recall`` with bootstrap standard errors: ``precision``, ``precision_err``, ``recall``,
    ``recall_err``. Both sets' rows are drawn with replacement ``n_boot`` times, as multiplicities over the
    distances computed once; a point's k-NN radius skips its own copies."""
    real_m, fake_m, d_fr = _distances(real, fake, k)
    n_r, n_f = len(real), len(fake)
    one_r, one_f = torch.ones(n_r, dtype=torch.float64), torch.ones(n_f, dtype=torch.float64)
    precision, recall = _pr(real_m, fake_m, d_fr, one_r, one_f)
    rng = np.random.default_rng(seed)

    def counts(n):
        return torch.from_numpy(np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64))

    draws = np.array([_pr(real_m, fake_m, d_fr, counts(n_r), counts(n_f)) for _ in range(n_boot)])
    err = draws.std(0, ddof=1)
    return {"precision": precision, "precision_err": float(err[0]), "recall": recall, "recall_err": float(err[1])}


def quality_metrics(classifier: FeatureClassifier, info: dict, real: np.ndarray, fake: np.ndarray, *,
                    n_boot: int = BOOTSTRAP, seed: int = 0, collapse_advice: str = "") -> dict[str, Any]:
    """All sample-quality numbers for real (N, ...) and generated (M, ...) examples in model space, each with its
    bootstrap standard error ``<name>_err`` (``n_boot`` resamples of the rows' features and predictions; the
    classifier and the samples are kept), ``n_real`` and ``n_generated``, and ``fd_classifier_bias``: the
    bootstrap estimate of the Fréchet distance's finite-N bias; ``mode_collapse`` (ending in
    ``collapse_advice``) when classes are dropped. DataError below ``MIN_ROWS`` rows."""
    check_rows(len(real), len(fake))
    rt, ft = torch.from_numpy(np.ascontiguousarray(real, np.float32)), torch.from_numpy(np.ascontiguousarray(fake, np.float32))
    real_f = _batches(classifier.features, rt).numpy().astype(np.float64)
    fake_f = _batches(classifier.features, ft).numpy().astype(np.float64)
    probs = torch.softmax(_batches(classifier, ft), 1)
    pred = probs.argmax(1).numpy()
    confidence = probs.max(1).values.numpy().astype(np.float64)
    n_classes = len(info["classes"])
    hist = np.bincount(pred, minlength=n_classes) / len(pred)
    real_pred = classifier.head(torch.from_numpy(real_f).float()).argmax(1).numpy()
    real_hist = np.bincount(real_pred, minlength=n_classes) / len(real_pred)

    def shares(rows):
        return np.bincount(pred[rows], minlength=n_classes) / len(rows)

    def coverage(rows):
        return float(np.mean(shares(rows) >= 0.25 / n_classes))

    def smallest(rows):
        return float(shares(rows).min())

    fd = frechet_bootstrap(real_f, fake_f, n_boot=n_boot, seed=seed)
    pr = precision_recall_bootstrap(real_f, fake_f, n_boot=n_boot, seed=seed)
    boot = dict(n_boot=n_boot, seed=seed)
    everyone = np.arange(len(pred))
    confidence_mean, confidence_err = mean_with_error(confidence)
    out = {
        "fd_classifier": fd["value"], "fd_classifier_err": fd["err"], "fd_classifier_bias": fd["bias"], **pr,
        "mode_coverage": coverage(everyone), "mode_coverage_err": bootstrap_error(coverage, len(pred), **boot),
        "min_class_share": smallest(everyone), "min_class_share_err": bootstrap_error(smallest, len(pred), **boot),
        "mean_confidence": confidence_mean, "mean_confidence_err": confidence_err,
        "class_histogram": {str(c): round(float(h), 4) for c, h in zip(info["classes"], hist)},
        "class_histogram_real": {str(c): round(float(h), 4) for c, h in zip(info["classes"], real_hist)},
        "n_real": int(len(real)), "n_generated": int(len(fake)),
        "uncertainty": f"_err: bootstrap standard error over rows ({n_boot} resamples; mean_confidence: std / sqrt(n))",
        "sample_size_note": (f"measured on {len(real)} real and {len(fake)} generated examples: fd_classifier, "
                             "precision and recall depend on these sizes (the Fréchet distance is biased upward, "
                             f"by about {fd['bias']:.3g} here by the bootstrap); compare runs only at equal sizes"),
        "classifier_val_accuracy": info.get("val_accuracy"),
    }
    collapse = mode_collapse_note(out["class_histogram"], out["class_histogram_real"], advice=collapse_advice)
    if collapse:
        out["mode_collapse"] = collapse
    warning = classifier_warning(info.get("val_accuracy"), n_classes)
    if warning:
        out["classifier_warning"] = warning
        warnings.warn(warning, stacklevel=2)
    return out


def classifier_warning(val_accuracy: float | None, n_classes: int) -> str | None:
    """A sentence when the feature classifier barely beats chance on held-out real data (accuracy below chance
    plus a tenth of the way to 1): its features then say little about the samples, so fd_classifier, the class
    histogram and mode coverage must not be read as sample quality."""
    if val_accuracy is None or n_classes < 2:
        return None
    chance = 1.0 / n_classes
    if val_accuracy >= chance + 0.1 * (1.0 - chance):
        return None
    return (f"the feature classifier tells the {n_classes} classes apart on only {val_accuracy:.0%} of held-out real "
            f"examples (chance {chance:.0%}): its fd_classifier, class histogram and mode coverage say little about "
            "these samples; use labels that the data separates, or judge the samples by precision / recall and "
            "copying")


def feature_classifier(run, data: Any, **data_kw: Any) -> tuple[FeatureClassifier, dict[str, Any]]:
    """The small classifier whose features score sample quality: trained (seeded) on the training split of
    ``data`` in the run's model space and kept in the run's ``classifier/`` folder (a temporary folder for a
    run without a directory)."""
    import tempfile

    from ..data import as_dataset
    from ..io import RunLayout

    full = as_dataset(data, **data_kw)
    train_part = run.select(full, "train")
    where = RunLayout(run.run_dir).classifier if run.run_dir else Path(tempfile.mkdtemp(prefix="lf-classifier-"))
    # the kept classifier is recognised by the data's values, not by how their path was spelled
    return classifier_for(where, run.to_model_space(train_part).numpy(), train_part.y,
                          source=full.fingerprint()["sha256"], seed=run.train_config.seed)


def sample_quality(run, data: Any, split: str = "all", *, n: int | None = None, seed: int = 0,
                   **data_kw: Any) -> dict[str, Any]:
    """Sample-quality metrics of ``run``'s generated data against the real ``split`` of ``data`` (``n``
    samples, default as many as real examples; conditions drawn from the real set's)."""
    from ..data import as_dataset

    full = as_dataset(data, **data_kw)
    ds = run.select(full, split)
    n = n or len(ds)
    check_rows(len(ds), n)  # before the classifier is trained or anything is generated
    real = run.batch(ds)
    pick = np.random.default_rng(seed).integers(0, len(ds), size=n)  # conditions follow the real set's
    cond = run.conditioner.values_of(ds)[pick] if run.conditional else None
    fake = run.preprocess.scale(run.sample(n, cond, seed=seed, layout="model"), cond)
    clf, info = feature_classifier(run, full)
    return quality_metrics(clf, info, real["x"].numpy(), fake, seed=seed, collapse_advice=GAN_COLLAPSE_ADVICE)


#: what the mode-collapse sentence of a generator's samples suggests
GAN_COLLAPSE_ADVICE = ("train longer, or turn on the stabilisers the MLP GAN has by default: an EMA of the generator "
                       "(ema_decay 0.999), minibatch_std, spectral_norm and a discriminator learning rate twice the "
                       "generator's")
