"""The L2 regression baseline of image-to-image tasks: one deterministic answer ``mu(c)``.

Dahl, Norouzi & Shlens 2017 (*Pixel Recursive Super Resolution*, section 5) compare their model
with a ResNet trained by the pixel-wise L2 loss; Zhang et al. 2016 (*Colorful Image
Colorization*) show the same effect for colour. A network trained by mean squared error predicts
the *conditional mean* ``E[x | c]``: where several answers are plausible (the stroke of an
upscaled digit, the colour of a shirt) it averages them — the best PSNR, and a blurred, greyish
image no real image looks like. This is that network: the conditioning ResNet of
:mod:`~genzoo.models.autoregressive.pixel_recursive_sr` (the very same module, one output per
sub-pixel instead of ``levels`` logits) giving ``mu(c)`` on the ``[-1, 1]`` scale of the levels.

So that it is scored like every other model, it is also written as the density that L2
regression assumes: given ``c`` the sub-pixels are independent, each a Gaussian with mean
``mu_d(c)`` and a learned standard deviation ``sigma`` per colour channel, restricted to the
``levels`` values and normalised over them (``p(x_d = k | c) ∝ exp(-(v_k - mu_d)^2 / (2
sigma^2))`` with ``v_k = 2k / (K - 1) - 1``). Its log-likelihood is exact; :meth:`regress` is
the regression's answer (the level nearest ``mu``, which is also the most likely level), and
``sample`` draws from the Gaussian (the mean plus noise: no more structure than the mean).

Training: ``loss = MSE(mu(c), x) + NLL(x | mu(c).detach(), sigma) / D``. The gradient reaching
the network is exactly the L2 regression's; ``sigma`` alone is fitted by likelihood, to the
residuals. The loss is deterministic (no sampling, no dropout).

Deviations: the paper's L2 baseline is a deeper ResNet at 32×32; here the network's sizes are
constructor arguments (same defaults as ``pixel_recursive_sr``'s conditioning network) and a
class label ``y`` of a class-conditional dataset adds a learned bias per class and channel.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Constraint, Int, depth
from genzoo.distributions import categorical_log_prob, inverse_cdf_sample
from genzoo.models.autoregressive.pixel_recursive_sr import ConditioningNetwork
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import register_model


@register_model("l2_regression")
class L2Regression(GenerativeModel):
    """Conditioning ResNet ``mu(c)`` trained by mean squared error, with a Gaussian likelihood.

    Args:
        condition_shape: ``(C_c, H_c, W_c)`` with ``H_c`` dividing ``H`` and ``W_c`` dividing ``W``.
        condition_levels: levels of the conditioning image.
        cond_channels: features of the conditioning ResNet.
        cond_blocks: its residual blocks at each of the two resolutions.
    """

    paper = "Dahl, Norouzi & Shlens 2017 (the L2 regression baseline)"
    density = "exact"
    completion = "exact-conditional"  # sub-pixels are independent given c: any mask is exact
    image_conditional = True
    params: ClassVar[dict[str, Constraint]] = {
        "cond_channels": Int(min=1),
        "cond_blocks": depth(0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
        cond_channels: int = 32,
        cond_blocks: int = 2,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            condition_shape=condition_shape,
            condition_levels=condition_levels,
        )
        colors = self.shape[0]
        cond_colors = self.condition_shape[0]  # type: ignore[index]
        factor = self.condition_factor()
        self.network = ConditioningNetwork(
            cond_colors, cond_channels, cond_blocks, factor, levels=1, colors=colors
        )
        self.log_sigma = nn.Parameter(torch.full((colors,), math.log(0.5)))
        self.class_bias = (
            None if self.num_classes is None else nn.Embedding(self.num_classes, colors)
        )
        if self.class_bias is not None:
            nn.init.zeros_(self.class_bias.weight)
        self.register_buffer("values", torch.linspace(-1.0, 1.0, self.levels), persistent=False)

    # ------------------------------------------------------------------ the network
    def mean(self, c: Tensor, y: Tensor | None = None) -> Tensor:
        """``mu(c)``: float ``[B, C, H, W]`` on the ``[-1, 1]`` scale, for integer
        ``c [B, *condition_shape]`` (and labels ``y [B]`` of a class-conditional model)."""
        mu = self.network(self.scale_condition(c.to(self.device)))[:, 0]
        if self.class_bias is not None and y is not None:
            mu = mu + self.class_bias(y.to(self.device))[:, :, None, None]
        return mu

    def logits(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        """Logits ``[B, levels, C, H, W]`` of every sub-pixel (they do not depend on ``x``)."""
        self.check_condition(c, x.shape[0])
        return self._logits(self.mean(c, y))  # type: ignore[arg-type]

    def _logits(self, mu: Tensor) -> Tensor:
        sigma = self.log_sigma.exp().to(mu.dtype)[None, None, :, None, None]
        values = self.values.to(mu.dtype)[None, :, None, None, None]
        return -0.5 * ((values - mu[:, None]) / sigma) ** 2

    # ------------------------------------------------------------------ the contract
    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        self.check_input(x, y, c)
        per_d = categorical_log_prob(self._logits(self.mean(c, y)), x.to(self.device))  # type: ignore[arg-type]
        return per_d if per_dim else per_d.flatten(1).sum(1)

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """``MSE(mu(c), x)`` on the ``[-1, 1]`` scale plus ``sigma``'s NLL per sub-pixel (with
        ``mu`` held fixed); ``bits_per_dim`` and ``nll_nats`` are those of ``p(x | c)``."""
        self.check_input(x, y, c)
        x = x.to(self.device)
        mu = self.mean(c, y)  # type: ignore[arg-type]
        mse = ((mu - self.scale(x)) ** 2).mean()
        with torch.no_grad():
            nll = -categorical_log_prob(self._logits(mu), x).flatten(1).sum(1).mean()
        sigma_nll = -categorical_log_prob(self._logits(mu.detach()), x).mean()
        per_dim = nll / self.num_dims
        return {
            "loss": mse + sigma_nll,
            "mse": mse.detach(),
            "nll_nats": nll,
            "bits_per_dim": per_dim / math.log(2),
        }

    @torch.no_grad()
    def regress(self, c: Tensor, y: Tensor | None = None) -> Tensor:
        """The regression's answer: the level nearest ``mu(c)``, LongTensor ``[B, C, H, W]``."""
        self.check_condition(c, c.shape[0] if isinstance(c, Tensor) else 0)
        mu = self.mean(c, y if self.num_classes is not None else None)
        levels = torch.round((mu + 1.0) * (self.levels - 1) / 2.0)
        return levels.clamp(0, self.levels - 1).long()

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
        """``mu(c)`` plus Gaussian noise on the levels, every sub-pixel independently; given
        values (``known`` where ``mask``) are kept, which is exact conditioning here."""
        was_training = self.training
        self.eval()
        try:
            x, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
            device = generator.device if generator is not None else torch.device("cpu")
            u = torch.rand((n, *self.shape), generator=generator, device=device).to(self.device)
            logits = self._logits(self.mean(c, y)).movedim(1, -1)  # type: ignore[arg-type]
            drawn = inverse_cdf_sample(logits.reshape(-1, self.levels), u.reshape(-1))
            return torch.where(full_mask, x, drawn.view(n, *self.shape))
        finally:
            self.train(was_training)
