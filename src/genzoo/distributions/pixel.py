"""Conditionally independent pixel likelihoods ``p(x | params)`` for decoder-based models.

A decoder (VAE, VQ-VAE, ...) outputs a parameter map ``[B, P, H, W]``; a :class:`PixelLikelihood`
turns it into a normalised distribution over discrete images ``x in {0..levels-1}^(C x H x W)``:

* ``"bernoulli"`` (``levels == 2`` only): one logit per sub-pixel, ``P = C``;
* ``"categorical"``: a softmax over the ``levels`` values of every sub-pixel, ``P = levels * C``;
* ``"logistic"``: the discretized logistic mixture of PixelCNN++ (Salimans et al. 2017), with the
  linear R -> G -> B mean dependence inside a pixel, ``P = K (1 + 2C + C(C-1)/2)``; shared with
  :mod:`genzoo.models.autoregressive.pixelcnn_pp` through :mod:`genzoo.distributions.logistic`.

Sub-pixels are independent given the parameters except for the colours of one pixel under
``"logistic"``. Every ``log_prob`` is a discrete log-probability in nats (the edge bins of the
logistic integrate to infinity), so bits/dim of all three are comparable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.distributions.categorical import inverse_cdf_sample
from genzoo.distributions.logistic import (
    logistic_mixture_channels,
    logistic_mixture_log_prob,
    logistic_mixture_logits,
    logistic_mixture_mean,
    logistic_mixture_sample,
)
from genzoo.errors import ConfigError

LIKELIHOODS = ("bernoulli", "categorical", "logistic")


class PixelLikelihood:
    """A pixel likelihood of kind ``kind`` for images of ``colors`` channels and ``levels`` values.

    Args:
        kind: ``"bernoulli"``, ``"categorical"`` or ``"logistic"``.
        colors: image channels ``C``.
        levels: values per sub-pixel.
        num_mixtures: logistic components per pixel (``"logistic"`` only).
    """

    def __init__(self, kind: str, colors: int, levels: int, num_mixtures: int = 5) -> None:
        if kind not in LIKELIHOODS:
            raise ConfigError(
                f"unknown likelihood {kind!r}; choose one of {', '.join(LIKELIHOODS)}"
            )
        if kind == "bernoulli" and levels != 2:
            raise ConfigError(
                f"the bernoulli likelihood needs levels=2 (binary images), got {levels}; use "
                "'categorical' or 'logistic', or binarize the data (--levels 2)"
            )
        if kind == "logistic" and num_mixtures < 1:
            raise ConfigError(f"num_mixtures must be at least 1, got {num_mixtures}")
        self.kind, self.colors, self.levels = kind, colors, levels
        self.num_mixtures = num_mixtures

    @property
    def param_channels(self) -> int:
        """``P``, the channels of the parameter map a decoder must output."""
        if self.kind == "bernoulli":
            return self.colors
        if self.kind == "categorical":
            return self.levels * self.colors
        return logistic_mixture_channels(self.num_mixtures, self.colors)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """``log p(x | params)`` per image in nats.

        Args:
            params: ``[B, P, H, W]``.
            x: LongTensor ``[B, C, H, W]`` in ``[0, levels)``.

        Returns:
            ``[B]`` (float32 or wider).
        """
        params = wide(params)
        if self.kind == "bernoulli":
            per_d = -F.binary_cross_entropy_with_logits(params, x.float(), reduction="none")
        elif self.kind == "categorical":
            logits = params.unflatten(1, (self.levels, self.colors))
            per_d = F.log_softmax(logits, dim=1).gather(1, x.long().unsqueeze(1)).squeeze(1)
        else:
            per_d = logistic_mixture_log_prob(params, x.long(), self.levels)
        return per_d.flatten(1).sum(1)

    def logits(self, params: Tensor, x: Tensor | None = None) -> Tensor:
        """Normalised ``log p(x_c = l | params, x_<c)`` for every level: ``[B, levels, C, H, W]``.

        Only ``"logistic"`` reads ``x`` (the earlier colours of each pixel), and needs it.
        """
        params = wide(params)
        if self.kind == "bernoulli":
            return torch.stack([F.logsigmoid(-params), F.logsigmoid(params)], dim=1)
        if self.kind == "categorical":
            return F.log_softmax(params.unflatten(1, (self.levels, self.colors)), dim=1)
        if x is None:
            raise ConfigError("the logistic likelihood's conditionals need x (earlier colours)")
        return logistic_mixture_logits(params, x.long(), self.levels)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``x ~ p(x | params)``: LongTensor ``[B, C, H, W]``, colours in order R, G, B."""
        if self.kind == "logistic":  # direct draws, no table of every level
            return logistic_mixture_sample(wide(params), self.colors, self.levels, generator)
        b, _, h, w = params.shape
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand((b, self.colors, h, w), generator=generator, device=device)
        flat = self.logits(params).movedim(1, -1).reshape(-1, self.levels)
        return inverse_cdf_sample(flat, u.to(params.device).reshape(-1)).view(b, self.colors, h, w)

    def mean(self, params: Tensor) -> Tensor:
        """Expected level of every sub-pixel, float ``[B, C, H, W]`` in ``[0, levels - 1]``.

        For ``"logistic"`` colour ``c``'s mean is taken given the earlier colours at their
        rounded means (the exact mean would average over them).
        """
        b, _, h, w = params.shape
        if self.kind != "logistic":
            values = torch.arange(self.levels, device=params.device, dtype=torch.float32)
            probs = self.logits(params).exp()
            return (probs * values.view(1, -1, 1, 1, 1)).sum(1)
        params = wide(params)
        x = torch.zeros((b, self.colors, h, w), dtype=torch.long, device=params.device)
        mean = torch.zeros((b, self.colors, h, w), dtype=params.dtype, device=params.device)
        for c in range(self.colors):
            m = logistic_mixture_mean(params, x, self.levels)
            mean = torch.where(_channel(x, c), m, mean)
            x = mean.round().long().clamp_(0, self.levels - 1)
        return mean


def _channel(x: Tensor, c: int) -> Tensor:
    """Bool mask ``[1, C, 1, 1]`` selecting channel ``c`` of ``x``."""
    mask = torch.zeros((1, x.shape[1], 1, 1), dtype=torch.bool, device=x.device)
    mask[:, c] = True
    return mask


def wide(t: Tensor) -> Tensor:
    """``t`` in at least float32: bf16 outputs under autocast are promoted, float64 is kept."""
    return t.to(torch.promote_types(t.dtype, torch.float32))
