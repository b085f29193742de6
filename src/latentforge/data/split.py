"""The seeded train / validation / test split: the one place rows are assigned to a part."""

from __future__ import annotations

import numpy as np

from ..errors import DataError

#: the parts a dataset can be reduced to (``all``: every row; ``unseen``: the rows a run did not train or validate
#: on, recognised by their values, in any data set)
SPLITS = ("all", "train", "val", "test", "unseen")


def split_indices(n: int, *, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Shuffle 0..n-1 with ``seed`` and cut it into train / val / test index arrays (sorted within each).

    Sizes: round(n * test_fraction) test rows, round(n * val_fraction) validation rows, the rest training.
    Raises DataError when no row is left for training.
    """
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


def split_for(n: int, settings) -> dict[str, np.ndarray]:
    """``split_indices`` with the fractions and seed of ``settings`` (a TrainConfig, a run's preprocessing)."""
    return split_indices(n, val_fraction=settings.val_fraction, test_fraction=settings.test_fraction,
                         seed=settings.seed)
