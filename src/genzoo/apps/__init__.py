"""Applications of generative models: sample grids, completion, super-resolution and
colorization of image files (:mod:`genzoo.apps.conditional`)."""

from genzoo.apps.completion import (
    COMPLETION_MASKS,
    complete,
    completion_captions,
    completion_mask,
    completion_rows,
)
from genzoo.apps.grid import image_grid, save_grid

__all__ = [
    "COMPLETION_MASKS",
    "complete",
    "completion_captions",
    "completion_mask",
    "completion_rows",
    "image_grid",
    "save_grid",
]
