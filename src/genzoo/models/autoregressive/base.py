"""Shared machinery of the autoregressive family: exact likelihood, sampling, completion.

A subclass only defines the network, ``forward(x, y) -> logits``; this base class owns the chain
rule. Generation order is raster scan over pixels and, within a pixel, channel 0, 1, 2 (R, G, B).

Completion with ``known``/``mask`` fixes the given sub-pixels and samples the others from their
conditionals ``p(x_d | x_<d)``. That is exact sampling from ``p(unknown | known)`` when every given
sub-pixel precedes every unknown one in generation order (e.g. the top half given); otherwise the
later given values are ignored by the earlier conditionals and the result is an approximation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.distributions import categorical_log_prob, inverse_cdf_sample
from genzoo.errors import ConfigError, ModelError
from genzoo.models.base import GenerativeModel


class AutoregressiveModel(GenerativeModel):
    """Base class for models with ``p(x) = prod_d p(x_d | x_<d)`` and categorical conditionals."""

    density = "exact"

    # -------------------------------------------------------------- network interface
    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Conditional logits.

        Args:
            x: float ``[B, C, H, W]``, the image scaled to ``[-1, 1]`` (see :meth:`scale`).
            y: LongTensor ``[B]`` class labels, or ``None``.

        Returns:
            ``[B, levels, C, H, W]``: logits of ``p(x_d | x_<d)``; entry ``d`` may depend only on
            sub-pixels before ``d`` in generation order.
        """
        raise NotImplementedError

    def scale(self, x: Tensor) -> Tensor:
        """Map integer levels ``[0, levels)`` to floats in ``[-1, 1]``."""
        return x.to(self.dtype) * (2.0 / (self.levels - 1)) - 1.0

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits ``[B, levels, C, H, W]`` of every conditional for integer images ``x``."""
        return self(self.scale(x), y)

    # -------------------------------------------------------------- contract
    def log_prob(self, x: Tensor, y: Tensor | None = None, *, per_dim: bool = False) -> Tensor:
        self.check_input(x, y)
        x = x.to(self.device)
        per_d = categorical_log_prob(self.logits(x, y), x)
        return per_d if per_dim else per_d.flatten(1).sum(1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        y: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
        known: Tensor | None = None,
        mask: Tensor | None = None,
        method: str = "naive",
    ) -> Tensor:
        """Ancestral sampling in generation order (one network pass per unknown sub-pixel).

        Args:
            n: number of images.
            y: LongTensor ``[n]`` labels for a conditional model (default: classes in turn).
            generator: source of randomness; the same generator state gives the same images.
            known: LongTensor ``[n, C, H, W]`` of given values (with ``mask``).
            mask: BoolTensor ``[n, C, H, W]`` or ``[C, H, W]``, True where ``known`` is given.
                Given values are never changed. Exact when given sub-pixels precede unknown ones.
            method: ``"naive"`` (a full forward pass per sub-pixel).

        Returns:
            LongTensor ``[n, C, H, W]`` in ``[0, levels)``.
        """
        if method != "naive":
            raise ConfigError(f"unknown sampling method {method!r}; available: naive")
        was_training = self.training
        self.eval()  # dropout off: sample the model's distribution, not a random sub-network
        try:
            return self._sample_naive(n, y, generator, known, mask)
        finally:
            self.train(was_training)

    def _sample_naive(
        self,
        n: int,
        y: Tensor | None,
        generator: torch.Generator | None,
        known: Tensor | None,
        mask: Tensor | None,
    ) -> Tensor:
        x, mask, y = self._prepare_sampling(n, y, known, mask)
        u = self._uniforms(n, generator)
        c_count, height, width = self.shape
        for i in range(height):
            for j in range(width):
                for c in range(c_count):
                    todo = ~mask[:, c, i, j]
                    if not bool(todo.any()):
                        continue
                    logits = self.logits(x, y)[:, :, c, i, j]
                    drawn = inverse_cdf_sample(logits, u[:, c, i, j])
                    x[:, c, i, j] = torch.where(todo, drawn, x[:, c, i, j])
        return x

    # -------------------------------------------------------------- helpers
    def _uniforms(self, n: int, generator: torch.Generator | None) -> Tensor:
        """One uniform per sub-pixel, drawn up front so every sampler consumes the same stream."""
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand((n, *self.shape), generator=generator, device=device)
        return u.to(self.device)

    def _prepare_sampling(
        self, n: int, y: Tensor | None, known: Tensor | None, mask: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        if int(n) < 1:
            raise ConfigError(f"number of samples must be positive, got {n}")
        device = self.device
        if y is None:
            y = self.default_labels(n)
        self.check_labels(y, n)
        y = None if y is None else y.to(device)
        if (known is None) != (mask is None):
            raise ModelError("pass both `known` and `mask` to complete images, or neither")
        x = torch.zeros((n, *self.shape), dtype=torch.long, device=device)
        full_mask = torch.zeros((n, *self.shape), dtype=torch.bool, device=device)
        if known is not None and mask is not None:
            if mask.dtype != torch.bool:
                raise ModelError(f"mask must be a bool tensor, got {mask.dtype}")
            try:
                full_mask = mask.to(device).expand(n, *self.shape).clone()
            except RuntimeError:
                raise ModelError(
                    f"mask of shape {list(mask.shape)} does not broadcast to [{n}, "
                    f"{', '.join(map(str, self.shape))}]"
                ) from None
            self.check_input(known, y)
            if known.shape[0] != n:
                raise ModelError(f"known has {known.shape[0]} images but n={n}")
            x = torch.where(full_mask, known.to(device).long(), x)
        return x, full_mask, y
