"""Deterministic convolutional autoencoder — Hinton & Salakhutdinov, "Reducing the dimensionality of
data with neural networks", Science 2006 (the idea; here with convolutions and no RBM pre-training).

An encoder maps an image to a code ``z = f(x)`` of ``code_dim`` numbers, a decoder maps the code to
the parameters of a per-sub-pixel distribution ``p(x | z)`` (Bernoulli at 2 levels, categorical up
to 64, discretized logistic above: :mod:`genzoo.distributions.pixel`), and training minimises the
reconstruction loss ``-log p(x | f(x))`` in nats per sub-pixel. There is no prior over codes and
no density of ``x`` (``density == "none"``): the autoencoder is for **dimensionality reduction and
features** — ``features(x)`` and :meth:`Autoencoder.encode` return the code.

Sampling (a user of an autoencoder expects *some* images from ``genzoo sample``): codes are drawn
from a Gaussian ``N(code_mean, code_cov)`` fitted to training codes, decoded, and the pixels drawn
from ``p(x | z)``. During training the buffers ``code_mean`` and ``code_second_moment`` track the
codes of the training batches as running averages (momentum ``code_momentum``, the first batches
weighted ``1/t`` like a plain mean); :meth:`Autoencoder.fit_code_distribution` recomputes them
exactly from data (the scikit-learn estimator does so after fitting). This Gaussian is a crude
density over codes and nothing guarantees that decoded samples look like data — that is what
VAEs fix. Completion is a heuristic: starting from a sample, ``completion_steps`` times
``x <- draw from p(x | f(x))`` with the known sub-pixels clamped.

Deviations: the running code statistics are those of the trained (not EMA-averaged) encoder; the
training engine copies buffers into its averaged model. ``reconstruct`` rounds the decoder's
per-sub-pixel mean.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Float, Int
from genzoo.distributions.gaussian import standard_normal
from genzoo.distributions.pixel import PixelLikelihood, wide
from genzoo.errors import UnsupportedError
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import register_model
from genzoo.models.vae.base import CONV_PARAMS, resolve_likelihood
from genzoo.nn.convnets import ConvDecoder, ConvEncoder


@register_model("autoencoder")
class Autoencoder(GenerativeModel):
    """Convolutional autoencoder with a discrete pixel likelihood as reconstruction loss.

    Args:
        code_dim: size of the code ``z`` (the features).
        channels: features of the first convolution stage (doubled at every stride-2 stage).
        stages: stride-2 stages of encoder and decoder (default: down to a side of 4-7 pixels).
        hidden: width of the fully-connected layers.
        likelihood: ``"bernoulli"`` (levels 2), ``"categorical"``, ``"logistic"`` or ``"auto"``.
        num_mixtures: logistic components per pixel (``likelihood="logistic"``).
        code_momentum: weight of each training batch in the running code statistics.
        completion_steps: encode-decode sweeps of completion.
    """

    density = "none"
    completion = "encode-decode"
    has_features = True
    reconstructs = True
    params: ClassVar[dict[str, Constraint]] = {
        "code_dim": Int(min=1),
        **CONV_PARAMS,
        "code_momentum": Float(0.0, 1.0, min_open=True),
        "completion_steps": Int(min=0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        code_dim: int = 16,
        channels: int = 32,
        stages: int | None = None,
        hidden: int = 256,
        likelihood: str = "auto",
        num_mixtures: int = 5,
        code_momentum: float = 0.01,
        completion_steps: int = 20,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.code_dim, self.code_momentum = int(code_dim), float(code_momentum)
        self.completion_steps = int(completion_steps)
        kind = resolve_likelihood(likelihood, self.levels)
        self.likelihood = PixelLikelihood(kind, self.shape[0], self.levels, num_mixtures)
        nets = {"channels": channels, "stages": stages, "hidden": hidden}
        self.encoder = ConvEncoder(self.shape, self.code_dim, num_classes=self.num_classes, **nets)
        self.decoder = ConvDecoder(
            self.shape,
            self.code_dim,
            self.likelihood.param_channels,
            num_classes=self.num_classes,
            **nets,
        )
        self.register_buffer("code_mean", torch.zeros(self.code_dim))
        self.register_buffer("code_second_moment", torch.eye(self.code_dim))
        self.register_buffer("code_updates", torch.zeros(()))

    # ------------------------------------------------------------------ encoder / decoder
    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The code ``f(x)``: LongTensor ``[B, C, H, W]`` -> float ``[B, code_dim]``."""
        self.check_input(x, y)
        return wide(self.encoder(self.scale(x.to(self.device)), y))

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Pixel-likelihood parameters ``[B, P, H, W]`` of codes ``z [B, code_dim]``."""
        return self.decoder(z.to(self.dtype), y)

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """``-log p(x | f(x))`` per sub-pixel (``loss``) and per image (``reconstruction_nats``)."""
        self.check_condition(c, x.shape[0])
        z = self.encode(x, y)
        nll = -self.likelihood.log_prob(self.decode(z, y), x).mean()
        if self.training:
            self._track_codes(z.detach())
        return {"loss": nll / self.num_dims, "reconstruction_nats": nll.detach()}

    @torch.no_grad()
    def _track_codes(self, z: Tensor) -> None:
        self.code_updates += 1
        weight = max(self.code_momentum, 1.0 / float(self.code_updates))
        z = z.to(self.code_mean.dtype)
        self.code_mean.lerp_(z.mean(0), weight)
        # elementwise, not a matmul: under a bf16 autocast a matmul would return bf16
        self.code_second_moment.lerp_((z[:, :, None] * z[:, None, :]).mean(0), weight)

    @torch.no_grad()
    def fit_code_distribution(
        self, x: Tensor, y: Tensor | None = None, batch_size: int = 256
    ) -> None:
        """Set the sampling Gaussian to the exact mean and second moment of the codes of ``x``."""
        was_training = self.training
        self.eval()
        codes = torch.cat(
            [
                self.encode(x[s : s + batch_size], None if y is None else y[s : s + batch_size])
                for s in range(0, x.shape[0], batch_size)
            ]
        ).double()
        self.train(was_training)
        self.code_mean.copy_(codes.mean(0))
        self.code_second_moment.copy_(codes.T @ codes / codes.shape[0])
        self.code_updates.fill_(float(x.shape[0]))

    def code_covariance(self) -> Tensor:
        """``E[z z^T] - E[z] E[z]^T`` of the tracked codes, float64 ``[code_dim, code_dim]``."""
        mean = self.code_mean.double()
        return self.code_second_moment.double() - torch.outer(mean, mean)

    # ------------------------------------------------------------------ the contract
    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        """No likelihood: always raises :class:`UnsupportedError` (after checking ``x``)."""
        self.check_input(x, y, c)
        raise UnsupportedError(
            f"{self.name} is a deterministic autoencoder (density='none'): it has no log_prob. "
            "For a likelihood with the same networks use vae; loss() gives the reconstruction "
            "error"
        )

    @torch.no_grad()
    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """The code ``f(x)``, ``[B, code_dim]`` (it sees ``y`` in a conditional model)."""
        self.check_condition(c, x.shape[0])
        was_training = self.training
        self.eval()
        try:
            return self.encode(x, y).float()
        finally:
            self.train(was_training)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """The decoder's per-sub-pixel mean of ``p(x | f(x))``, rounded: ``[B, C, H, W]``."""
        self.check_condition(c, x.shape[0])
        params = self.decode(self.encode(x, y), y)
        return self.likelihood.mean(params).round().long().clamp_(0, self.levels - 1)

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
    ) -> Tensor:
        """Decode codes ``z ~ N(code_mean, code_cov)`` and draw ``x ~ p(x | z)``: ``[n, C, H, W]``.

        With ``known``/``mask``: the clamped encode-decode heuristic (module docstring).
        """
        x, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
        was_training = self.training
        self.eval()
        try:
            cov = self.code_covariance()
            eye = torch.eye(self.code_dim, dtype=cov.dtype, device=cov.device)
            scale = torch.linalg.cholesky(0.5 * (cov + cov.T) + 1e-6 * eye)
            eps = standard_normal((n, self.code_dim), generator, self.device).double()
            z = self.code_mean.double() + eps @ scale.T
            drawn = self.likelihood.sample(self.decode(z, y), generator)
            if known is None:
                return drawn
            for _ in range(self.completion_steps):
                drawn = torch.where(full_mask, x, drawn)
                drawn = self.likelihood.sample(self.decode(self.encode(drawn, y), y), generator)
            return torch.where(full_mask, x, drawn)
        finally:
            self.train(was_training)
