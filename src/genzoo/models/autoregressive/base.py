"""Shared machinery of the autoregressive family: exact likelihood, sampling, completion.

A subclass only defines the network, ``forward(x, y) -> logits``; this base class owns the chain
rule. Generation order is raster scan over pixels and, within a pixel, channel 0, 1, 2 (R, G, B).

Completion with ``known``/``mask`` fixes the given sub-pixels and samples the others from their
conditionals ``p(x_d | x_<d)``. That is exact sampling from ``p(unknown | known)`` when every given
sub-pixel precedes every unknown one in generation order (e.g. the top half given); otherwise the
later given values are ignored by the earlier conditionals and the result is an approximation.

Two samplers share the loop: ``"naive"`` runs the whole network once per sub-pixel; ``"cached"``
asks the model for an :class:`IncrementalSampler` (per-layer caches, Ramachandran et al. 2017, or a
recurrent state) that computes only what the newly sampled sub-pixel changed. Both consume the same
pre-drawn uniforms through the same inverse CDF, so with the same generator they return the same
images whenever their logits agree to rounding (the tests check they do).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from genzoo.core.progress import progress
from genzoo.distributions import (
    categorical_log_prob,
    inverse_cdf_sample,
    logistic_mixture_log_prob,
    logistic_mixture_logits,
)
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel

SAMPLING_METHODS = ("auto", "cached", "naive")
#: seconds a draw runs before its progress bar appears (short draws never flash one)
SAMPLING_BAR_DELAY = 2.0


class IncrementalSampler(Protocol):
    """Per-sampling-run state of a model that can generate without full forward passes.

    ``logits(x, i, j, c)`` is called exactly once for every sub-pixel, in generation order (rows,
    columns, then channels), known ones included so that caches stay complete. When it is called,
    every sub-pixel of ``x`` before ``(c, i, j)`` holds its final value; later ones are undefined.
    """

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        """Logits ``[n, levels]`` of sub-pixel ``(c, i, j)`` of integer ``x [n, C, H, W]``."""
        ...


#: the training recipe of the convolutional and recurrent pixel models at small CPU budgets
#: (``benchmarks/autoregressive.py`` trains every one with it): a higher peak learning rate than
#: AdamW's usual 1e-3, and an EMA of the weights that evaluation and sampling use
PIXEL_MODEL_RECIPE: dict[str, Any] = {"lr": 3e-3, "ema_decay": 0.995}


class AutoregressiveModel(GenerativeModel):
    """Base class for models with ``p(x) = prod_d p(x_d | x_<d)`` and categorical conditionals.

    An image-conditional subclass (``image_conditional = True``) models ``p(x | c) = prod_d
    p(x_d | x_<d, c)``: its ``forward`` and ``incremental_sampler`` take the condition ``c`` as a
    third argument, and every conditional may see all of ``c``.
    """

    density = "exact"
    completion = "exact-prefix"
    sampling_methods = ("naive",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "incremental_sampler" in cls.__dict__:  # a model that defines a cache declares it
            cls.sampling_methods = ("cached", "naive")

    # -------------------------------------------------------------- network interface
    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Conditional logits.

        Args:
            x: float ``[B, C, H, W]``, the image scaled to ``[-1, 1]`` (see :meth:`scale`).
            y: LongTensor ``[B]`` class labels, or ``None``.
            (image-conditional models: a third argument ``c``, LongTensor
            ``[B, *condition_shape]``, the conditioning images as integer levels.)

        Returns:
            ``[B, levels, C, H, W]``: logits of ``p(x_d | x_<d)``; entry ``d`` may depend only on
            sub-pixels before ``d`` in generation order.
        """
        raise NotImplementedError

    def incremental_sampler(self, n: int, y: Tensor | None) -> IncrementalSampler | None:
        """State for cached generation of ``n`` images with labels ``y``; ``None`` if unsupported.

        Called under ``torch.no_grad()`` with the model in eval mode and on its device.
        """
        return None

    def logits(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        """Logits ``[B, levels, C, H, W]`` of every conditional for integer images ``x``."""
        if self.condition_shape is None:
            return self(self.scale(x), y)
        return self(self.scale(x), y, c.to(self.device))

    def _logits(self, x: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
        """:meth:`logits`, with the condition only for an image-conditional model (whose
        ``logits`` takes it; the others' keep their two-argument form)."""
        return self.logits(x, y) if c is None else self.logits(x, y, c)

    def _cache(self, n: int, y: Tensor | None, c: Tensor | None) -> IncrementalSampler | None:
        if self.condition_shape is None:
            return self.incremental_sampler(n, y)
        return self.incremental_sampler(n, y, c.to(self.device))  # type: ignore[call-arg]

    # -------------------------------------------------------------- contract
    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        self.check_input(x, y, c)
        x = x.to(self.device)
        per_d = categorical_log_prob(self._logits(x, y, c), x)
        return per_d if per_dim else per_d.flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
        known: Tensor | None = None,
        mask: Tensor | None = None,
        method: str = "auto",
    ) -> Tensor:
        """Ancestral sampling in generation order.

        Args:
            n: number of images.
            y: LongTensor ``[n]`` labels for a conditional model (default: classes in turn).
            generator: source of randomness; the same generator state gives the same images.
            known: LongTensor ``[n, C, H, W]`` of given values (with ``mask``).
            mask: BoolTensor ``[n, C, H, W]`` or ``[C, H, W]``, True where ``known`` is given.
                Given values are never changed. Exact when given sub-pixels precede unknown ones.
            method: ``"cached"`` (incremental: only what each new sub-pixel changes is computed;
                raises :class:`~genzoo.errors.UnsupportedError` if the model has no cache),
                ``"naive"`` (a full forward pass per sub-pixel) or ``"auto"`` (cached when the
                model supports it). With the same generator all methods return the same images.

        Returns:
            LongTensor ``[n, C, H, W]`` in ``[0, levels)``.
        """
        if method not in SAMPLING_METHODS:
            raise ConfigError(
                f"unknown sampling method {method!r}; available: {', '.join(SAMPLING_METHODS)}"
            )
        was_training = self.training
        self.eval()  # dropout off: sample the model's distribution, not a random sub-network
        try:
            x, mask, y = self.prepare_sampling(n, y, known, mask, c)
            u = self._uniforms(n, generator)
            cache = None if method == "naive" else self._cache(n, y, c)
            if cache is None and method == "cached":
                raise UnsupportedError(
                    f"{self.name} has no cached sampler; use method='naive' (or 'auto')"
                )
            return self._sample_loop(x, mask, y, u, cache, c)
        finally:
            self.train(was_training)

    def _sample_loop(
        self,
        x: Tensor,
        mask: Tensor,
        y: Tensor | None,
        u: Tensor,
        cache: IncrementalSampler | None,
        cond: Tensor | None = None,
    ) -> Tensor:
        """Fill the sub-pixels of ``x`` not in ``mask`` in generation order, in place (``cond``:
        the conditioning images of an image-conditional model)."""
        c_count, height, width = self.shape
        how = "cached" if cache is not None else "naive"
        desc = f"{self.name}: {how} sampling of {x.shape[0]} images"
        # a bar only for a draw that takes a while (a naive pass per sub-pixel, large images)
        with progress(self.num_dims, desc, unit="sub-pixel", delay=SAMPLING_BAR_DELAY) as bar:
            for i in range(height):
                for j in range(width):
                    for c in range(c_count):
                        bar.update(1)
                        todo = ~mask[:, c, i, j]
                        if cache is not None:
                            logits = cache.logits(x, i, j, c)  # every sub-pixel: caches stay full
                        elif bool(todo.any()):
                            logits = self._logits(x, y, cond)[:, :, c, i, j]
                        else:
                            continue
                        drawn = inverse_cdf_sample(logits, u[:, c, i, j])
                        x[:, c, i, j] = torch.where(todo, drawn, x[:, c, i, j])
        return x

    # -------------------------------------------------------------- helpers
    def _uniforms(self, n: int, generator: torch.Generator | None) -> Tensor:
        """One uniform per sub-pixel, drawn up front so every sampler consumes the same stream."""
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand((n, *self.shape), generator=generator, device=device)
        return u.to(self.device)


class LogisticMixtureModel(AutoregressiveModel):
    """A network over earlier *pixels* with a discretized logistic mixture per pixel (PixelCNN++).

    Subclasses define :meth:`mixture_params`, whose output at pixel ``p`` may depend only on
    pixels strictly before ``p``; the colours of ``p`` are ordered by the mixture itself (its
    linear R -> G -> B mean dependence), see :mod:`genzoo.distributions.logistic`.
    """

    def mixture_params(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Mixture parameters ``[B, P, H, W]`` from the scaled image ``x [B, C, H, W]``."""
        raise NotImplementedError

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Normalised log-probabilities ``[B, levels, C, H, W]`` of every sub-pixel's levels.

        The mixture conditions each colour on the earlier colours' integer values, recovered
        from the scaled ``x`` by rounding.
        """
        x_int = torch.round((x.detach() + 1.0) * ((self.levels - 1) / 2.0)).long()
        x_int = x_int.clamp_(0, self.levels - 1)
        return logistic_mixture_logits(self.mixture_params(x, y), x_int, self.levels)

    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        """As the base class, from the mixture directly (no ``levels``-way table)."""
        self.check_input(x, y, c)
        x = x.to(self.device).long()
        per_d = logistic_mixture_log_prob(self.mixture_params(self.scale(x), y), x, self.levels)
        return per_d if per_dim else per_d.flatten(1).sum(1)
