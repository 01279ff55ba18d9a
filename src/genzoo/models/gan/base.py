"""The implicit-density family: a generator, a discriminator, and the losses of the two players.

A GAN (Goodfellow et al. 2014) maps noise ``z ~ N(0, I)`` through a generator ``G`` to an image;
a discriminator (critic) ``D`` scores images as real or generated. :class:`AdversarialModel` owns
everything the models of this family share; a model file only builds the two networks:

* the objectives of both players, for every supported loss (``d_real = D(x)``,
  ``d_fake = D(G(z))``, ``softplus(t) = log(1 + e^t)``; all are minimised):

  ====================  ===========================================  ========================
  ``loss``              discriminator                                generator
  ====================  ===========================================  ========================
  ``minimax``           ``softplus(-d_real) + softplus(d_fake)``     ``-softplus(d_fake)``
                                                                     (= ``log(1 - D(G(z)))``)
  ``non_saturating``    same                                         ``softplus(-d_fake)``
                                                                     (= ``-log D(G(z))``)
  ``wasserstein``       ``d_fake - d_real`` (+ gradient penalty)     ``-d_fake``
  ``hinge``             ``relu(1 - d_real) + relu(1 + d_fake)``      ``-d_fake``
  ====================  ===========================================  ========================

  The gradient penalty of Gulrajani et al. 2017, ``lambda * E[(||grad D(x_hat)|| - 1)^2]`` at
  random interpolates ``x_hat`` of real and generated images, can be added to any loss.
* class conditioning through ``y``: the generator gets a learned class embedding concatenated to
  ``z`` (as in conditional GANs, Mirza & Osindero 2014); the discriminator is a *projection
  discriminator* (Miyato & Koyama 2018): ``D(x, y) = w . phi(x) + b + embed(y) . phi(x)``.
* an image condition ``c`` (``image_conditional`` models such as pix2pix): the losses, sampling
  and completion hand it on to ``generate`` and ``critic`` as a keyword ``c`` — only when it is
  given, so unconditional models keep ``generate(z, y)`` and ``critic(x, y)``.
* sampling, quantised to the data's ``levels``; completion of partly known images by optimising
  ``z`` (the contextual loss of Yeh et al. 2017 — an approximation, documented on
  :meth:`AdversarialModel.sample`); a latent walk for interpolation figures.

The *alternating* update (``critic_steps`` discriminator steps, then one generator step, each
with its own optimiser) lives once, in :mod:`genzoo.training`; the EMA of the weights the engine
keeps is what sampling and evaluation use (Yazici et al. 2019 showed it improves GAN samples).

Discrete data. Real images are integer levels; a discriminator could separate them from the
generator's continuous outputs by discreteness alone (decisively for binary or 17-level data). So
real images are *dequantised* before the discriminator sees them — level ``k`` becomes a uniform
value in its bin ``[k, k + 1) / levels`` mapped to ``[-1, 1]`` — and samples are quantised by the
same bins. GANs have no likelihood: ``log_prob`` raises and names the estimators that exist
(:mod:`genzoo.evaluation`: FID/KID/precision/recall on features, Parzen windows, AIS through
:meth:`AdversarialModel.decoder_mean`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, OneOf
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel, with_condition

LOSSES = ("minimax", "non_saturating", "wasserstein", "hinge")


class Generator(nn.Module):
    """``G(z, y)``: noise ``[B, L]`` (and labels ``[B]``) -> images ``[B, C, H, W]`` in ``[-1, 1]``.

    Args:
        body: maps ``[B, L + class_dim]`` to pre-activation images ``[B, C, H, W]``.
        num_classes: classes of a conditional model, or ``None``.
        class_dim: size of the class embedding concatenated to ``z``.
    """

    def __init__(self, body: nn.Module, num_classes: int | None, class_dim: int) -> None:
        super().__init__()
        self.body = body
        self.label = None if num_classes is None else nn.Embedding(num_classes, class_dim)

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if self.label is not None:
            z = torch.cat([z, self.label(y).to(z.dtype)], dim=1)
        return torch.tanh(self.body(z))


class Discriminator(nn.Module):
    """``D(x, y)``: images ``[B, C, H, W]`` in ``[-1, 1]`` -> scores ``[B]`` (logits or critic).

    Args:
        body: maps images to features ``phi(x)`` ``[B, feature_dim]``.
        feature_dim: size of ``phi(x)``.
        num_classes: classes of a conditional model (projection term), or ``None``.
        spectral_norm: spectrally normalise the output layer and the projection embedding too.
        bias: give the score a bias (a Wasserstein critic's bias cancels out of every loss).
    """

    def __init__(
        self,
        body: nn.Module,
        feature_dim: int,
        num_classes: int | None,
        spectral_norm: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.body = body
        self.out = nn.Linear(feature_dim, 1, bias=bias)
        self.project = None
        if num_classes is not None:
            # N(0, 1) (the Embedding default) would give projection scores of size sqrt(F)
            self.project = nn.Embedding(num_classes, feature_dim)
            nn.init.normal_(self.project.weight, std=feature_dim**-0.5)
        if spectral_norm:
            self.out = nn.utils.parametrizations.spectral_norm(self.out)
            if self.project is not None:
                self.project = nn.utils.parametrizations.spectral_norm(self.project)

    def features(self, x: Tensor) -> Tensor:
        """``phi(x)`` ``[B, feature_dim]``."""
        return self.body(x)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        phi = self.body(x)
        score = self.out(phi).squeeze(1)
        if self.project is not None:
            score = score + (self.project(y).to(phi.dtype) * phi).sum(1)
        return score


class AdversarialModel(GenerativeModel):
    """Base class of the GAN family (``density == "none"``).

    Subclasses build :attr:`generator` (a :class:`Generator`) and :attr:`discriminator` (a
    :class:`Discriminator`) after calling ``super().__init__``.

    Args:
        shape, levels, num_classes, condition_shape, condition_levels: as
            :class:`~genzoo.models.base.GenerativeModel` (a condition only for a model that
            declares ``image_conditional``).
        latent_dim: size of ``z``.
        loss: one of :data:`LOSSES`.
        gradient_penalty: weight ``lambda`` of the gradient penalty (0 = none).
        critic_steps: discriminator updates per generator update.
        class_dim: size of the generator's class embedding (conditional models).
    """

    density: ClassVar[str] = "none"
    #: the training engine runs the alternating two-player update for these models
    procedure: ClassVar[str] = "adversarial"
    completion: ClassVar[str | None] = "latent-optimisation"
    latent: ClassVar[str | None] = "generator"
    has_features: ClassVar[bool] = True
    gaussian_latent: ClassVar[bool] = True
    #: training settings the CLI uses unless flags say otherwise (the paper's Adam settings)
    train_defaults: ClassVar[dict[str, Any]] = {
        "lr": 2e-4,
        "adam_beta1": 0.5,
        "adam_beta2": 0.999,
        "grad_clip": 0.0,
        "warmup_steps": 0,
    }
    #: latent-optimisation steps used to complete partly known images
    completion_steps: ClassVar[int] = 200
    params: ClassVar[dict[str, Constraint]] = {
        "latent_dim": Int(min=1),
        "loss": OneOf(*LOSSES),
        "gradient_penalty": Float(min=0.0),
        "critic_steps": Int(min=1),
        "class_dim": Int(min=1),
    }

    generator: Generator
    discriminator: Discriminator

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
        latent_dim: int = 64,
        loss: str = "non_saturating",
        gradient_penalty: float = 0.0,
        critic_steps: int = 1,
        class_dim: int = 16,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            condition_shape=condition_shape,
            condition_levels=condition_levels,
        )
        self.latent_dim = int(latent_dim)
        self.class_dim = int(class_dim)
        self.loss_type = loss
        self.gradient_penalty = float(gradient_penalty)
        self.critic_steps = int(critic_steps)

    @property
    def generator_input_dim(self) -> int:
        """Input size of the generator's body: ``latent_dim`` (+ ``class_dim`` if conditional)."""
        return self.latent_dim + (0 if self.num_classes is None else self.class_dim)

    # ------------------------------------------------------------------ training procedure
    def players(self) -> list[nn.Module]:
        """``[discriminator, generator]``: each gets its own optimiser (in this order)."""
        players = [self.discriminator, self.generator]
        owned = {id(p) for part in players for p in part.parameters()}
        stray = [n for n, p in self.named_parameters() if id(p) not in owned]
        if stray:
            raise ConfigError(
                f"{self.name}: parameters {', '.join(stray)} belong to neither the generator "
                "nor the discriminator, so no optimiser would train them; move them into one"
            )
        return players

    @property
    def batches_per_step(self) -> int:
        """``critic_steps`` discriminator batches per (generator) step."""
        return self.critic_steps

    # ------------------------------------------------------------------ the two networks
    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``z ~ N(0, I)``, ``[n, latent_dim]`` on the model's device."""
        return torch.randn(
            n, self.latent_dim, generator=generator, device=self.device, dtype=self.dtype
        )

    def generate(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``G(z, y)``: ``[B, C, H, W]`` floats in ``[-1, 1]``."""
        return self.generator(z, y)

    def decoder_mean(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The generator's image of latents ``z ~ N(0, I)`` in the unit cube: ``(G(z, y) + 1) / 2``.

        The continuous space of the likelihood estimators (:func:`genzoo.evaluation.evaluate_ais`,
        :func:`~genzoo.evaluation.evaluate_parzen`): ``[0, 1]^D`` with data level ``k`` at its bin
        centre ``(k + 1/2) / levels``; :meth:`quantize` maps a value back to the bin holding it.
        The same hook exists on the VAE family, so AIS treats both alike.

        Args:
            z: latents ``[N, latent_dim]``; y: labels ``[N]`` of a conditional model.

        Returns:
            float Tensor ``[N, C, H, W]`` in ``[0, 1]``, differentiable in ``z`` (the current
            train/eval mode is used: call ``eval()`` first).
        """
        return (self.generate(z, y) + 1.0) * 0.5

    @property
    def critic_bias(self) -> bool:
        """Whether the score needs a bias: not for a Wasserstein critic (it cancels)."""
        return self.loss_type != "wasserstein"

    def critic(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``D(x, y)`` ``[B]`` for float images ``x`` ``[B, C, H, W]`` in ``[-1, 1]``."""
        return self.discriminator(x, y)

    def dequantize(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Integer levels ``[B, C, H, W]`` -> uniform values in their bins, in ``[-1, 1]``."""
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=self.dtype)
        return (x.to(self.dtype) + u) * (2.0 / self.levels) - 1.0

    def quantize(self, x: Tensor) -> Tensor:
        """Floats in ``[-1, 1]`` -> the level whose bin holds them, LongTensor (inverse bins)."""
        x = x.to(torch.promote_types(x.dtype, torch.float32))
        level = torch.floor((x + 1.0) * (self.levels / 2.0))
        return level.clamp(0, self.levels - 1).long()

    @torch.no_grad()
    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """Discriminator features ``phi(x)`` ``[B, F]`` of integer images (bin centres).

        ``phi`` never sees the label (a conditional model's projection only enters the score), so
        ``y`` is optional even for a conditional model, and unused.
        """
        self.check_condition(c, x.shape[0])
        self.check_input(x, self.default_labels(x.shape[0]) if y is None else y)
        centre = (x.to(self.device, self.dtype) + 0.5) * (2.0 / self.levels) - 1.0
        return self.discriminator.features(centre)

    # ------------------------------------------------------------------ the two players' losses
    def discriminator_loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The discriminator's objective on real ``x`` and as many fresh generated images.

        Args:
            x: LongTensor ``[B, C, H, W]`` real images; y: labels ``[B]`` (conditional).

        Returns:
            ``{"loss": objective + penalty, "d_loss", "gradient_penalty", "d_real", "d_fake",
            "d_accuracy"}``; generated images are detached, so only the discriminator gets
            gradients. ``d_accuracy`` thresholds at 0 (``wasserstein``: at the midpoint of the
            two mean scores).
        """
        self.check_condition(c, x.shape[0])
        cc = with_condition(c)
        real = self.dequantize(x)
        with torch.no_grad():
            fake = self.generate(self.sample_latent(x.shape[0]), y, **cc)
        d_real, d_fake = self.critic(real, y, **cc), self.critic(fake, y, **cc)
        objective = discriminator_objective(d_real, d_fake, self.loss_type)
        penalty = torch.zeros((), device=x.device)
        if self.gradient_penalty > 0 and torch.is_grad_enabled():
            penalty = self.gradient_penalty * self._penalty(real, fake, y, c)
        out = {"loss": objective + penalty, "d_loss": objective.detach()}
        out["gradient_penalty"] = penalty.detach()
        return {**out, **_scores(d_real.detach(), d_fake.detach(), self.loss_type)}

    def _penalty(
        self, real: Tensor, fake: Tensor, y: Tensor | None, c: Tensor | None = None
    ) -> Tensor:
        """``E[(||grad D(x_hat)|| - 1)^2]`` at ``x_hat = e x + (1 - e) G(z)``, ``e ~ U(0, 1)``."""
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        mixed = (eps * real + (1 - eps) * fake.to(real.dtype)).requires_grad_(True)
        score = self.critic(mixed, y, **with_condition(c)).sum()
        (grad,) = torch.autograd.grad(score, mixed, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def generator_loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The generator's objective on ``x.shape[0]`` fresh samples (labels ``y``).

        Only the batch size and labels of ``x`` are used. The discriminator gets gradients too;
        the training engine clears them before its next discriminator step.
        """
        self.check_condition(c, x.shape[0])
        cc = with_condition(c)
        d_fake = self.critic(self.generate(self.sample_latent(x.shape[0]), y, **cc), y, **cc)
        objective = generator_objective(d_fake, self.loss_type)
        return {"loss": objective, "g_loss": objective.detach()}

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Held-out metrics for periodic evaluation: both players' objectives on ``x``.

        ``"loss"`` is the discriminator's objective without the penalty (GANs are trained by
        the engine's alternating update, which calls :meth:`discriminator_loss` and
        :meth:`generator_loss`; this dict is for monitoring only).
        """
        self.check_input(x, y, c)
        with torch.no_grad():
            g = self.generator_loss(x, y, **with_condition(c))
        d = self.discriminator_loss(x, y, **with_condition(c))
        return {**d, "loss": d["loss"] - d["gradient_penalty"], "g_loss": g["g_loss"]}

    # ------------------------------------------------------------------ the contract
    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        """GANs define no likelihood: always raises :class:`UnsupportedError` (after checking x)."""
        self.check_input(x, y, c)
        raise UnsupportedError(
            f"{self.name} is an implicit model (density='none') and has no log_prob; estimate "
            "a continuous-space likelihood with genzoo.evaluation.evaluate_ais (annealed "
            "importance sampling, Gaussian observation model; `genzoo eval --ais`) or "
            "genzoo.evaluation.evaluate_parzen (`genzoo eval --parzen`), and measure sample "
            "quality with genzoo.evaluation.evaluate_sample_quality (`genzoo eval`: FID, KID, "
            "precision/recall, density/coverage)"
        )

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
        """``n`` images ``G(z, y)`` quantised to ``levels``, LongTensor ``[n, C, H, W]``.

        With ``known``/``mask``, the unknown pixels are filled by the generator at the ``z`` that
        best explains the known ones: the MAP ``z`` under ``N(known; G(z), s^2)`` with ``s`` half a
        bin (``1 / levels`` on ``[-1, 1]``), i.e. ``z`` minimises
        ``||mask * (G(z) - known)||^2 / (2 s^2) + ||z||^2 / 2``,
        over :attr:`completion_steps` Adam steps from a random start (Yeh et al. 2017, without
        their perceptual term). This is *not* sampling from ``p(unknown | known)`` — a GAN has no
        tractable conditional — only the generator's best explanation; known pixels are kept.
        """
        x, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
        cc = with_condition(None if c is None else c.to(self.device))
        was_training = self.training
        self.eval()
        try:
            z = self.sample_latent(n, generator)
            if bool(full_mask.any()):
                z = self._fit_latent(z, x, full_mask, y, **cc)
            images = self.quantize(self.generate(z, y, **cc))
        finally:
            self.train(was_training)
        return torch.where(full_mask, x, images)

    def _fit_latent(
        self, z: Tensor, x: Tensor, mask: Tensor, y: Tensor | None, c: Tensor | None = None
    ) -> Tensor:
        target = (x.to(self.dtype) + 0.5) * (2.0 / self.levels) - 1.0
        # MAP z under a Gaussian observation model whose std is half a bin, 1 / levels
        weight = mask.to(self.dtype) * (self.levels**2 / 2.0)
        z = z.clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.05)
        with torch.enable_grad():
            for _ in range(self.completion_steps):
                fake = self.generate(z, y, **with_condition(c))
                fit = (weight * (fake - target) ** 2).flatten(1).sum(1)
                objective = (fit + 0.5 * (z**2).sum(1)).sum()
                (grad,) = torch.autograd.grad(objective, z)
                z.grad = grad
                opt.step()
        return z.detach()

    @torch.no_grad()
    def latent_walk(
        self,
        rows: int,
        steps: int = 10,
        y: Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Images along great circles between random latents, LongTensor ``[steps, rows, C, H, W]``.

        Spherical interpolation (White 2016) keeps every ``z`` at a typical norm for
        ``N(0, I)``, which a straight line through the origin would not.
        """
        if steps < 2 or rows < 1:
            raise ConfigError(f"need rows >= 1 and steps >= 2, got rows={rows}, steps={steps}")
        if y is None:
            y = self.default_labels(rows)
        self.check_labels(y, rows)
        y = None if y is None else y.to(self.device)
        z1, z2 = self.sample_latent(rows, generator), self.sample_latent(rows, generator)
        t = torch.linspace(0, 1, steps, device=z1.device, dtype=z1.dtype).view(steps, 1, 1)
        path = slerp(z1, z2, t).flatten(0, 1)
        yy = None if y is None else y.repeat(steps)
        was_training = self.training
        self.eval()
        try:
            images = self.quantize(self.generate(path, yy))
        finally:
            self.train(was_training)
        return images.view(steps, rows, *self.shape)


def discriminator_objective(d_real: Tensor, d_fake: Tensor, loss: str) -> Tensor:
    """The discriminator's loss (to minimise) for scores ``[B]`` of real and generated images.

    For ``minimax`` / ``non_saturating`` it is the binary cross-entropy with real = 1, whose
    minimiser over all functions is ``sigmoid(D*) = p_data / (p_data + p_g)`` (Goodfellow et al.
    2014, Proposition 1), where it equals ``log 4 - 2 JSD(p_data || p_g)``.
    """
    if loss in ("minimax", "non_saturating"):
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    if loss == "wasserstein":
        return d_fake.mean() - d_real.mean()
    if loss == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


def generator_objective(d_fake: Tensor, loss: str) -> Tensor:
    """The generator's loss (to minimise) for the scores ``[B]`` of its images.

    ``minimax``: ``E[log(1 - sigmoid(d))] = -E[softplus(d)]``, which saturates (gradient
    ``-sigmoid(d) -> 0``) while the discriminator rejects the samples; ``non_saturating``:
    ``-E[log sigmoid(d)] = E[softplus(-d)]`` (gradient ``-sigmoid(-d) -> -1`` there).
    """
    if loss == "minimax":
        return -F.softplus(d_fake).mean()
    if loss == "non_saturating":
        return F.softplus(-d_fake).mean()
    if loss in ("wasserstein", "hinge"):
        return -d_fake.mean()
    raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` ``[B, L]`` at ``t`` ``[T, 1, 1]``.

    Returns ``[T, B, L]``; falls back to the straight line for (anti)parallel pairs.
    """
    cos = F.cosine_similarity(a, b, dim=1).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos).unsqueeze(1)  # [B, 1]
    sin = torch.sin(omega)
    small = sin.abs() < 1e-6
    wa = torch.where(small, 1 - t, torch.sin((1 - t) * omega) / sin)
    wb = torch.where(small, t, torch.sin(t * omega) / sin)
    return wa * a + wb * b


def _scores(d_real: Tensor, d_fake: Tensor, loss: str) -> dict[str, Tensor]:
    threshold = (d_real.mean() + d_fake.mean()) / 2 if loss == "wasserstein" else 0.0
    accuracy = ((d_real > threshold).float().mean() + (d_fake <= threshold).float().mean()) / 2
    return {"d_real": d_real.mean(), "d_fake": d_fake.mean(), "d_accuracy": accuracy}


def leaky_relu() -> nn.Module:
    """The discriminators' activation (DCGAN's slope 0.2)."""
    return nn.LeakyReLU(0.2)
