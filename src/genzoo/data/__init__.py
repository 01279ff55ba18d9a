"""Datasets as integer intensity levels: :func:`load_dataset` returns a :class:`Dataset`.

``genzoo.load_dataset("digits")`` needs nothing but scikit-learn; ``fashion-mnist`` and
``mnist`` come from IDX files (system package, cache or download, verified by SHA-256);
``folder:PATH`` and ``npz:PATH`` load your own images. :func:`requantize` and
:func:`dynamic_binarize` convert between numbers of levels. A *task*
(:mod:`genzoo.data.tasks`, :func:`apply_task`) pairs every image with a conditioning image, e.g.
its low-resolution version for super-resolution.
"""

from __future__ import annotations

from genzoo.data.dataset import Dataset, Split, dynamic_binarize, requantize
from genzoo.data.registry import available_datasets, load_dataset
from genzoo.data.tasks import TASKS, Task, apply_task, available_tasks, make_task

__all__ = [
    "TASKS",
    "Dataset",
    "Split",
    "Task",
    "apply_task",
    "available_datasets",
    "available_tasks",
    "dynamic_binarize",
    "load_dataset",
    "make_task",
    "requantize",
]
