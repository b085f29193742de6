"""The CaloChallenge 2022's low-level classifier test (Krause et al., arXiv 2410.21611, section 4; its
evaluate.py): a fully connected network told to separate reference from generated showers given the linear voxel
energies, whose ROC AUC is the challenge's headline metric (0.5: indistinguishable).

Features per shower (the challenge's low-level input): log10(E_inc / GeV) and every voxel divided by E_inc (linear,
not logarithmic, so sparse low-energy voxels weigh little). Network: Linear(F, 512), LeakyReLU, then
``layers`` x (Linear(512, 512), LeakyReLU), Linear(512, 1) with a sigmoid (the challenge's defaults: 2 hidden
layers of 512, no dropout), binary cross-entropy, Adam with learning rate 2e-4, batches of 1000, 50 epochs, the
epoch of lowest validation loss kept. With fewer than 20 000 training rows a batch is 1/20 of them (at least 32),
so that an epoch still takes 20 steps (the challenge's sets have ~10^5 showers; a batch of 1000 out of a few
thousand rows would leave the network untrained and its AUC falsely low).

Errors from k folds: the showers of both sets are split into k folds (stratified); in turn one fold is the test
fold, the next the validation fold and the rest train; the AUC is the mean of the k test-fold AUCs and its error
their standard deviation over sqrt(k). The challenge reports one split; the folds give the spread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .units import to_gev
from ...errors import DataError

#: the challenge's classifier settings (evaluate.py defaults)
HIDDEN, LAYERS, LR, BATCH, EPOCHS = 512, 2, 2e-4, 1000, 50


def low_level_features(showers: np.ndarray, incident_energies: np.ndarray, unit: str = "MeV") -> np.ndarray:
    """(N, 1 + cells) float32: log10(E_inc / GeV), then each voxel / E_inc (showers and energies in ``unit``)."""
    e = np.asarray(incident_energies, np.float64).reshape(-1, 1)
    return np.concatenate([np.log10(to_gev(e, unit)), np.asarray(showers, np.float64) / e], 1).astype(np.float32)


def _network(n_in: int, hidden: int, layers: int) -> nn.Sequential:
    parts: list[nn.Module] = [nn.Linear(n_in, hidden), nn.LeakyReLU()]
    for _ in range(layers):
        parts += [nn.Linear(hidden, hidden), nn.LeakyReLU()]
    parts.append(nn.Linear(hidden, 1))
    return nn.Sequential(*parts)


def _fit_score(x: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, te: np.ndarray, *, epochs: int,
               seed: int) -> np.ndarray:
    """Train on rows ``tr``, keep the epoch of lowest loss on ``va``, return the probabilities of rows ``te``."""
    torch.manual_seed(seed)
    net = _network(x.shape[1], HIDDEN, LAYERS)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    loss_fn = nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    g = torch.Generator().manual_seed(seed)
    best, best_state = math.inf, None
    for _ in range(epochs):
        net.train()
        order = torch.from_numpy(tr)[torch.randperm(len(tr), generator=g)]
        batch = min(BATCH, max(32, len(tr) // 20))
        for i in range(0, len(order), batch):
            rows = order[i:i + batch]
            opt.zero_grad()
            loss_fn(net(xt[rows]).squeeze(1), yt[rows]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            v = float(loss_fn(net(xt[va]).squeeze(1), yt[va]))
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in net.state_dict().items()}
    assert best_state is not None
    net.load_state_dict(best_state)
    with torch.no_grad():
        return torch.sigmoid(net(xt[te]).squeeze(1)).numpy()


def dnn_auc(ref_showers: np.ndarray, gen_showers: np.ndarray, ref_energies: np.ndarray, gen_energies: np.ndarray,
            *, unit: str = "MeV", folds: int = 5, epochs: int = EPOCHS, seed: int = 0) -> dict[str, Any]:
    """The challenge's low-level DNN AUC of reference vs generated showers (N, cells) at incident energies (N, 1),
    all in ``unit``, with k-fold errors: {"auc", "auc_err", "fold_aucs", "folds", "epochs", "rows_per_set"}.
    The same number of showers of each set is used (the smaller count). DataError with fewer than 10 per fold."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    n = min(len(ref_showers), len(gen_showers))
    if folds < 3 or n < 10 * folds:
        raise DataError(f"the DNN classifier needs at least 3 folds and 10 showers per fold and set; got {folds} "
                        f"folds and {n} showers")
    x = np.concatenate([low_level_features(ref_showers[:n], ref_energies[:n], unit),
                        low_level_features(gen_showers[:n], gen_energies[:n], unit)])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    parts = [te for _, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y)]
    aucs = []
    for k in range(folds):
        te, va = parts[k], parts[(k + 1) % folds]
        tr = np.concatenate([parts[j] for j in range(folds) if j not in (k, (k + 1) % folds)])
        aucs.append(float(roc_auc_score(y[te], _fit_score(x, y, tr, va, te, epochs=epochs, seed=seed + k))))
    return {"auc": float(np.mean(aucs)), "auc_err": float(np.std(aucs, ddof=1) / math.sqrt(folds)),
            "fold_aucs": [round(a, 4) for a in aucs], "folds": folds, "epochs": epochs, "rows_per_set": n}
