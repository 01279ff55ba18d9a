"""Score your own images: the bits/dim a trained model gives PNG/JPEG files.

Each file is converted to what the model takes — gray or colour, centre-cropped and shrunk by
exact block means to the model's size (:func:`~genzoo.apps.conditional.fit_size`), its 256 levels
mapped onto the model's — and the conversion is said in one line, so a number is never given for
an image the user did not expect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genzoo.apps.conditional import ImageInput, fit_size, read_image
from genzoo.data.dataset import requantize
from genzoo.data.tasks import luminance
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel


@dataclass
class ScoredImage:
    """One image's score: ``bits_per_dim`` (``-log2 p(x) / D``), ``nll_nats`` and the note of
    what was done to the file to fit the model."""

    name: str
    bits_per_dim: float
    nll_nats: float
    note: str


def prepare_image(
    source: ImageInput, model: GenerativeModel, name: str = "image"
) -> tuple[Tensor, str]:
    """A file (or array) as the model's input: LongTensor ``[1, C, H, W]`` and the note."""
    array, what = read_image(source)
    channels, height, width = model.shape
    steps = []
    if array.shape[2] == 3 and channels == 1:
        rgb = torch.from_numpy(np.moveaxis(array, -1, 0)[None].copy())
        array = luminance(rgb)[0, 0].numpy().astype(np.uint8)[..., None]
        steps.append("converted to gray (BT.601 luminance)")
    elif array.shape[2] == 1 and channels == 3:
        array = np.repeat(array, 3, axis=2)
        steps.append("gray repeated over R, G, B")
    array, resized = fit_size(array, (height, width))
    if resized:
        steps.append(resized)
    x = torch.from_numpy(np.moveaxis(array, -1, 0)[None].astype(np.int64))
    if model.levels != 256:
        x = requantize(x, 256, model.levels)
        steps.append(f"256 levels mapped to {model.levels}")
    shape = "×".join(map(str, model.shape))
    return x, f"{name}: {what} -> {shape}" + (f" ({'; '.join(steps)})" if steps else "")


@torch.no_grad()
def score_images(
    model: GenerativeModel,
    sources: Sequence[ImageInput],
    *,
    log_prior: Tensor | None = None,
    names: Sequence[str] | None = None,
) -> list[ScoredImage]:
    """``-log p(x)`` of each image under ``model``, in bits/dim and nats.

    A class-conditional model is scored by its marginal ``log sum_y p(y) p(x | y)`` with
    ``log_prior`` (``[num_classes]``, e.g. the training set's class frequencies).

    Raises:
        UnsupportedError: the model has no density, or is image-conditional (its density is of
            a target given a condition: use ``genzoo upscale`` / ``genzoo colorize``).
        ConfigError: a class-conditional model without ``log_prior``; an image too small.
    """
    caps = model.capabilities
    if not caps.has_density:
        raise UnsupportedError(
            f"{model.name} has no density (density='none'): it cannot score images; use a "
            "model with an exact likelihood or a bound (`genzoo models`)"
        )
    if caps.image_conditional:
        raise UnsupportedError(
            f"{model.name} models an image given a condition; score its task with `genzoo eval`, "
            "or apply it with `genzoo upscale` / `genzoo colorize`"
        )
    if caps.class_conditional and log_prior is None:
        raise ConfigError(f"{model.name} is class-conditional: pass log_prior to sum out y")
    model.eval()
    out = []
    for i, source in enumerate(sources):
        name = names[i] if names is not None else f"image{i}"
        x, note = prepare_image(source, model, name)
        if caps.class_conditional:
            from genzoo.evaluation.classify import marginal_log_prob

            log_p = marginal_log_prob(model, x, log_prior)
        else:
            log_p = model.log_prob(x.to(model.device))
        nats = -float(log_p.double().sum())
        out.append(ScoredImage(name, nats / (model.num_dims * math.log(2)), nats, note))
    return out
