"""Sample quality without internet: a small classifier trained on the same data supplies the features.

- ``fd_classifier``: the Fréchet distance between Gaussians fitted to real and generated features of the
  classifier's penultimate layer. Same formula as FID, different network: not comparable with FID values.
- ``precision`` / ``recall``: Kynkäänniemi et al. (2019) k-NN manifolds in the same feature space: the
  fraction of generated examples inside the real manifold, and of real examples inside the generated one.
- ``mode_coverage``: the share of classes that the classifier finds in the generated set at no less than
  a quarter of their fair share; ``class_histogram`` gives the fractions themselves, ``min_class_share`` the
  smallest of them;
- ``mean_confidence``: the classifier's mean probability of the class it assigns to each generated example
  (near 1 for clear examples of some class, low for ambiguous or malformed ones).

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
        order = trt[torch.randperm(len(trt), generator=g)]
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


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for feature sets a, b of shape (N, F)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # ReLU features give singular covariances; handled below
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(sa @ sb)
        if not np.isfinite(covmean).all():  # regularise both covariances slightly and try again
            eps = 1e-6 * np.eye(sa.shape[0])
            covmean = linalg.sqrtm((sa + eps) @ (sb + eps))
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean))


def _radii(f: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(f, f)
    return d.kthvalue(k + 1, dim=1).values  # k-th neighbour, skipping the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019: k-NN balls around each set's points approximate its manifold."""
    r, f = torch.from_numpy(real).double(), torch.from_numpy(fake).double()
    r_rad, f_rad = _radii(r, k), _radii(f, k)
    d = torch.cdist(f, r)  # (N_fake, N_real)
    precision = (d <= r_rad[None, :]).any(1).double().mean()
    recall = (d.t() <= f_rad[None, :]).any(1).double().mean()
    return float(precision), float(recall)


def quality_metrics(classifier: FeatureClassifier, info: dict, real: np.ndarray, fake: np.ndarray) -> dict[str, Any]:
    """All sample-quality numbers for real and generated examples in model space."""
    rt, ft = torch.from_numpy(np.ascontiguousarray(real, np.float32)), torch.from_numpy(np.ascontiguousarray(fake, np.float32))
    real_f = _batches(classifier.features, rt).numpy().astype(np.float64)
    fake_f = _batches(classifier.features, ft).numpy().astype(np.float64)
    probs = torch.softmax(_batches(classifier, ft), 1)
    pred = probs.argmax(1).numpy()
    n_classes = len(info["classes"])
    hist = np.bincount(pred, minlength=n_classes) / len(pred)
    precision, recall = precision_recall(real_f, fake_f)
    out = {
        "fd_classifier": frechet_distance(real_f, fake_f), "precision": precision, "recall": recall,
        "mode_coverage": float(np.mean(hist >= 0.25 / n_classes)),
        "min_class_share": float(hist.min()), "mean_confidence": float(probs.max(1).values.mean()),
        "class_histogram": {str(c): round(float(h), 4) for c, h in zip(info["classes"], hist)},
        "n_real": int(len(real)), "n_generated": int(len(fake)),
        "classifier_val_accuracy": info.get("val_accuracy"),
    }
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
    return classifier_for(where, run.scaler.transform(train_part.x), train_part.y,
                          source=full.fingerprint()["sha256"], seed=run.train_config.seed)


def sample_quality(run, data: Any, split: str = "all", *, n: int | None = None, seed: int = 0,
                   **data_kw: Any) -> dict[str, Any]:
    """Sample-quality metrics of ``run``'s generated data against the real ``split`` of ``data`` (``n``
    samples, default as many as real examples; conditions drawn from the real set's)."""
    from ..data import as_dataset

    full = as_dataset(data, **data_kw)
    ds = run.select(full, split)
    real = run.batch(ds)
    n = n or len(ds)
    pick = np.random.default_rng(seed).integers(0, len(ds), size=n)  # conditions follow the real set's
    cond = run.conditioner.values_of(ds)[pick] if run.conditional else None
    fake = run.scaler.transform(run.sample(n, cond, seed=seed, layout="model"))
    clf, info = feature_classifier(run, full)
    return quality_metrics(clf, info, real["x"].numpy(), fake)
