"""Datasets as integer intensity levels: :func:`load_dataset` returns a :class:`Dataset`.

``genzoo.load_dataset("digits")`` needs nothing but scikit-learn; ``fashion-mnist`` and
``mnist`` come from IDX files (system package, cache or download, verified by SHA-256);
``folder:PATH`` and ``npz:PATH`` load your own images. :func:`requantize` and
:func:`dynamic_binarize` convert between numbers of levels.
"""

from __future__ import annotations

from genzoo.data.dataset import Dataset, dynamic_binarize, requantize
from genzoo.data.registry import available_datasets, load_dataset

__all__ = ["Dataset", "available_datasets", "dynamic_binarize", "load_dataset", "requantize"]
