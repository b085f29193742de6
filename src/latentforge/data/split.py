"""Seeded train / validation / test split."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def split_indices(n: int, *, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Shuffle 0..n-1 with ``seed`` and cut it into train / val / test index arrays (sorted within each)."""
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            f"{n} examples leave none for training with val_fraction={val_fraction}, test_fraction={test_fraction}; "
            "use more data or smaller fractions"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return {
        "train": np.sort(perm[:n_train]),
        "val": np.sort(perm[n_train:n_train + n_val]),
        "test": np.sort(perm[n_train + n_val:]),
    }
