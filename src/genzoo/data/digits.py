"""scikit-learn's ``load_digits``: 1,797 real 8×8 handwritten digits, 17 levels, 10 classes.

The embedded default dataset: it ships with scikit-learn, so it needs no file and no network.
Each pixel counts the "on" cells of a 4×4 block of the original 32×32 bitmap, hence values 0..16.
"""

from __future__ import annotations

import numpy as np

from genzoo.data.dataset import RawSplits, split_permutation

DIGITS_TRAIN = 1500
DIGITS_LEVELS = 17


def load_digits_splits() -> RawSplits:
    """The 1,797 digits as ``uint8 [N, 1, 8, 8]`` in ``[0, 17)``.

    Split by ``numpy.random.default_rng(0).permutation(1797)``: the first 1,500 indices are
    train, the last 297 test.
    """
    from sklearn.datasets import load_digits  # scikit-learn takes ~1 s to import: only when used

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.uint8)[:, None]
    labels = np.asarray(bunch.target, dtype=np.int64)
    train, test = split_permutation(len(images), DIGITS_TRAIN)
    return RawSplits(
        train=images[train],
        test=images[test],
        train_labels=labels[train],
        test_labels=labels[test],
        raw_levels=DIGITS_LEVELS,
        source="scikit-learn load_digits (1,797 real 8×8 images)",
        num_classes=10,
        class_names=[str(d) for d in range(10)],
    )
