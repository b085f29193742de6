"""The CaloChallenge 2022's classifier tests (Krause et al., arXiv 2410.21611, section 4; its code/evaluate.py and
code/HighLevelFeatures.py): a fully connected network told to separate reference from generated showers, whose ROC
AUC is the challenge's headline metric (0.5: indistinguishable), on two kinds of input per shower:

- low level (``low_level_features``): log10(E_inc / MeV) and every voxel divided by E_inc (linear, not
  logarithmic, so sparse low-energy voxels weigh little);
- high level (``high_level_features``), in the challenge's order and scalings: log10(E_inc / MeV);
  log10(E_i / MeV + 1e-8) of every layer i; for the layers binned in angle (more than one angular bin; every grid
  layer) the centre of energy in x and in y and their widths, each in mm / 100 (the challenge's "eta" and "phi":
  x = r cos alpha, y = r sin alpha); log10(E_total / MeV + 1e-8); the sparsity of every layer (the fraction of
  voxels at or below the readout threshold); the centre of energy in r and its width of every layer (mm / 100; r
  of a voxel: its ring's middle radius, or for a grid cell the distance of its centre from the axis). A centre of
  an empty layer is 0 and a width is sqrt(max(E[x^2] - E[x]^2, 0)), as in the challenge.

Energies are converted to MeV (the challenge's unit) whatever the data's unit, so that the 1e-8 floors mean what
they mean there. Voxels below ``threshold`` (the challenge's ``min_energy``: 1 MeV for dataset 1, 15.15 keV for
datasets 2 and 3; 0 unless given) are read as zero first.

Network: Linear(F, 512), LeakyReLU, then ``layers`` x (Linear(512, 512), LeakyReLU), Linear(512, 1) with a sigmoid
(the challenge's defaults: 2 hidden layers of 512, no dropout), binary cross-entropy, Adam with learning rate 2e-4,
batches of 1000, at most 50 epochs, the epoch of lowest validation loss kept. Training stops early, as the
challenge's does, once every validation shower is classified right, and also after ``PATIENCE`` (10) epochs
without a lower validation loss (the challenge trains on; the epoch kept differs only where the loss falls
below its minimum again after 10 epochs of not doing so). With fewer than 20 000 training rows a batch
is 1/20 of them (at least 32), so that an epoch still takes 20 steps (the challenge's sets have ~10^5 showers; a
batch of 1000 out of a few thousand rows would leave the network untrained and its AUC falsely low).

Errors from k folds (``metrics.kfold_auc``, the loop every classifier test of the project shares): the showers of
both sets are split into k stratified folds; in turn one fold is the test fold, the next the validation fold and
the rest train; the AUC is the mean of the k test-fold AUCs and its error their standard deviation over sqrt(k).
The challenge reports one split; the folds give the spread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .geometry import GridLayer, ShowerGeometry
from .units import to_gev
from ...errors import DataError
from ...analysis.metrics import FOLDS, kfold_auc

#: the challenge's classifier settings (evaluate.py defaults)
HIDDEN, LAYERS, LR, BATCH, EPOCHS = 512, 2, 2e-4, 1000, 50
#: epochs without a lower validation loss after which training stops
PATIENCE = 10
#: the fewest showers of each set per fold
MIN_PER_FOLD = 10
FEATURES = {"low": "log10 E_inc / MeV and every voxel / E_inc (linear)",
            "high": "log10 E_inc; per layer log10 E_i, centres of energy in x, y, r and their widths, sparsity; "
                    "log10 E_total (the challenge's high-level features)"}


def _mev(values: np.ndarray, unit: str) -> np.ndarray:
    return np.asarray(to_gev(np.asarray(values, np.float64), unit), np.float64) * 1000.0


def _read_out(showers: np.ndarray, unit: str, threshold: float) -> np.ndarray:
    s = _mev(showers, unit)
    return np.where(s < _mev(np.asarray(threshold), unit), 0.0, s) if threshold > 0 else s


def low_level_features(showers: np.ndarray, incident_energies: np.ndarray, unit: str = "MeV",
                       threshold: float = 0.0) -> np.ndarray:
    """(N, 1 + cells) float32: log10(E_inc / MeV), then each voxel / E_inc. ``showers`` (N, cells) and
    ``incident_energies`` (N, 1) or (N,) in ``unit``; voxels below ``threshold`` (same unit) read as 0."""
    e = _mev(incident_energies, unit).reshape(-1, 1)
    return np.concatenate([np.log10(e), _read_out(showers, unit, threshold) / e], 1).astype(np.float32)


def high_level_features(showers: np.ndarray, incident_energies: np.ndarray, geometry: ShowerGeometry,
                        unit: str = "MeV", threshold: float = 0.0) -> np.ndarray:
    """(N, F) float32: the challenge's high-level features of each shower (module docstring, in its order):
    F = 2 + 4 L + 4 A for L non-empty layers of which A are binned in angle. ``showers`` (N, geometry.n_cells),
    ``incident_energies`` (N, 1) or (N,), both in ``unit``; DataError when the showers do not fit the geometry."""
    parts = geometry.split(_read_out(showers, unit, threshold))
    e_inc = _mev(incident_energies, unit).reshape(-1, 1)
    e_layer: list[np.ndarray] = []
    cx: list[np.ndarray] = []
    cy: list[np.ndarray] = []
    wx: list[np.ndarray] = []
    wy: list[np.ndarray] = []
    sparsity: list[np.ndarray] = []
    cr: list[np.ndarray] = []
    wr: list[np.ndarray] = []

    def centre_width(cells: np.ndarray, coord: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = cells @ coord / total
        return c, np.sqrt(np.maximum(cells @ coord ** 2 / total - c ** 2, 0.0))

    for layer, cells in zip(geometry.layers, parts):
        total = cells.sum(1)
        e_layer.append(total)
        sparsity.append(1.0 - (cells > 0).mean(1))  # readout threshold already applied
        safe = total + 1e-16  # the challenge's guard: an empty layer's centre and width are 0
        x, y = layer.centres()
        c, w = centre_width(cells, np.hypot(x, y), safe)
        cr.append(c)
        wr.append(w)
        if isinstance(layer, GridLayer) or layer.n_alpha > 1:
            for coord, cs, ws in ((x, cx, wx), (y, cy, wy)):
                c, w = centre_width(cells, coord, safe)
                cs.append(c)
                ws.append(w)
    e_tot = sum(e_layer)

    def cols(values: list) -> np.ndarray:
        return np.stack(values, 1) if values else np.zeros((len(e_inc), 0))

    out = [np.log10(e_inc), np.log10(cols(e_layer) + 1e-8), cols(cx) / 100, cols(cy) / 100, cols(wx) / 100,
           cols(wy) / 100, np.log10(np.asarray(e_tot).reshape(-1, 1) + 1e-8), cols(sparsity), cols(cr) / 100,
           cols(wr) / 100]
    return np.concatenate(out, 1).astype(np.float32)


def _network(n_in: int, hidden: int, layers: int) -> nn.Sequential:
    parts: list[nn.Module] = [nn.Linear(n_in, hidden), nn.LeakyReLU()]
    for _ in range(layers):
        parts += [nn.Linear(hidden, hidden), nn.LeakyReLU()]
    parts.append(nn.Linear(hidden, 1))
    return nn.Sequential(*parts)


def dnn_scores(*, epochs: int = EPOCHS, seed: int = 0):
    """A ``fit_score`` for ``metrics.kfold_auc`` (with ``validation=True``): the challenge's network trained on
    the training rows for ``epochs`` epochs, the epoch of lowest validation loss kept, giving the probability of
    label 1 for the test rows."""

    def fit_score(x: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, te: np.ndarray,
                  fold: int) -> np.ndarray:
        torch.manual_seed(seed + fold)
        net = _network(x.shape[1], HIDDEN, LAYERS)
        opt = torch.optim.Adam(net.parameters(), lr=LR, fused=True)  # one kernel: 8x faster steps on a CPU
        loss_fn = nn.BCEWithLogitsLoss()
        xt, yt = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(y, np.float32))
        g = torch.Generator().manual_seed(seed + fold)
        best, best_state, since = math.inf, None, 0
        batch = min(BATCH, max(32, len(tr) // 20))
        for _ in range(epochs):
            net.train()
            order = torch.from_numpy(tr)[torch.randperm(len(tr), generator=g)]
            for i in range(0, len(order), batch):
                rows = order[i:i + batch]
                opt.zero_grad()
                loss_fn(net(xt[rows]).squeeze(1), yt[rows]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                logits = net(xt[va]).squeeze(1)
                v = float(loss_fn(logits, yt[va]))
                perfect = bool(((logits > 0).float() == yt[va]).all())
            since += 1
            if v < best:
                best, best_state, since = v, {k: t.clone() for k, t in net.state_dict().items()}, 0
            if perfect or since >= PATIENCE:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        with torch.no_grad():
            return torch.sigmoid(net(xt[te]).squeeze(1)).numpy()

    return fit_score


def dnn_auc(ref_showers: np.ndarray, gen_showers: np.ndarray, ref_energies: np.ndarray, gen_energies: np.ndarray,
            *, unit: str = "MeV", features: str = "low", geometry: ShowerGeometry | None = None,
            threshold: float = 0.0, folds: int = FOLDS, epochs: int = EPOCHS, seed: int = 0) -> dict[str, Any]:
    """The challenge's DNN AUC of reference vs generated showers (N, cells) at incident energies (N, 1), all in
    ``unit``, on its ``features="low"`` (voxels) or ``"high"`` (high-level features; needs ``geometry``) input,
    with k-fold errors: {"auc", "auc_err", "auc_std", "fold_aucs", "folds", "epochs", "rows_per_set",
    "features"} and, as arrays for checks, "scores" (2N,) out-of-fold probabilities, "labels" (0: reference, 1:
    generated) and "fold" (the fold that scored each row). The same number of showers of each set is used (the
    smaller count). DataError with fewer than 3 folds or 10 showers per fold, an unknown ``features`` or
    high-level features without a geometry."""
    if features not in FEATURES:
        raise DataError(f"features={features!r}: the challenge's classifier takes 'low' (voxels) or 'high' "
                        "(high-level features)")
    if features == "high" and geometry is None:
        raise DataError("the high-level classifier needs the showers' geometry (geometry=...; a shower file read "
                        "with latentforge.domains.showers.files.read_showers gives it)")
    n = min(len(ref_showers), len(gen_showers))
    if folds < 3 or n < MIN_PER_FOLD * folds:
        raise DataError(f"the DNN classifier needs at least 3 folds and {MIN_PER_FOLD} showers per fold and set; got "
                        f"{folds} folds and {n} showers (give at least {MIN_PER_FOLD * folds} of each)")

    def feats(s: np.ndarray, e: np.ndarray) -> np.ndarray:
        if features == "low":
            return low_level_features(s[:n], e[:n], unit, threshold)
        assert geometry is not None
        return high_level_features(s[:n], e[:n], geometry, unit, threshold)

    x = np.concatenate([feats(ref_showers, ref_energies), feats(gen_showers, gen_energies)])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    r = kfold_auc(x, y, dnn_scores(epochs=epochs, seed=seed), folds=folds, seed=seed, validation=True)
    return {"auc": r["auc"], "auc_err": r["auc_err"], "auc_std": r["auc_std"],
            "fold_aucs": [round(a, 4) for a in r["fold_aucs"]], "folds": folds, "epochs": epochs,
            "rows_per_set": n, "features": FEATURES[features],
            "scores": r["scores"], "labels": y, "fold": r["fold"]}
