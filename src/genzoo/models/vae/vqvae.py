"""VQ-VAE — van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning",
NeurIPS 2017.

A convolutional encoder maps an image to a grid of vectors ``z_e [B, D, h, w]``; each is replaced
by its nearest entry of a codebook of ``K = codebook_size`` vectors, giving the code grid
``z [B, h, w]`` and the quantised grid ``z_q``, which a convolutional decoder turns into a discrete
pixel likelihood ``p(x | z_q)``. Gradients skip the quantisation (straight-through: the decoder's
gradient with respect to ``z_q`` is passed to ``z_e`` unchanged), a commitment term
``beta ||z_e - sg(z_q)||^2`` keeps the encoder close to its codes, and the codebook follows the
encodings by exponential moving averages (the paper's appendix A.1): with ``n_i`` encodings
assigned to code ``i`` in a batch and ``s_i`` their sum,

    N_i <- decay N_i + (1 - decay) n_i,     m_i <- decay m_i + (1 - decay) s_i,
    e_i  = m_i / Ñ_i,   Ñ_i = (N_i + eps) / (n + K eps) * n,   n = sum_i N_i

(``Ñ`` is the Laplace-smoothed count of Sonnet's implementation). The prior ``p(z)`` over code
grids is a :class:`~genzoo.models.autoregressive.gated_pixelcnn.GatedPixelCNN` of shape
``(1, h, w)`` with ``K`` levels that reads the code indices through a learned embedding; it is
class-conditional when the model is (only the prior sees the label, as in the paper's
class-conditional ImageNet samples). Sampling is ancestral: codes from the prior (its cached
sampler), then ``x ~ p(x | z_q)``.

The bound. The encoder is deterministic, ``q(z | x) = 1[z = z(x)]``, so its entropy is 0 and the
ELBO is ``log p(x) >= log p(x | z_q(x)) + log p(z(x))`` — it is also simply one term of
``p(x) = sum_z p(x | z) p(z)``. ``log_prob`` returns it (``density == "bound"``); it holds for any
normalised prior, trained or not. Through the hooks of
:class:`~genzoo.models.vae.base.LatentVariableModel`, ``elbo_terms`` reports ``reconstruction =
log p(x | z_q)`` and ``kl = -log p(z(x))`` (the KL from a point mass to the prior), and
``iwae_bound`` equals the ELBO for every ``k`` (all ``k`` importance weights are the same), so it is
computed once, not ``k`` times.

Training. One run trains everything jointly: per sub-pixel, the loss is
``(-log p(x | z_q) + beta ||z_e - sg(z_q)||^2 - prior_weight * log p(sg(z))) / D``, and in
training mode each call of :meth:`VQVAE.loss` updates the codebook (float32 statistics even under
bf16 autocast). The paper fits the prior in a second stage, on the codes of the trained VQ-VAE;
joint training is a practical deviation (one command, one saved model), not a correctness issue:
the prior sees detached codes, so it never shapes the encoder, and the bound above holds for
whatever prior the run ends with. Early in training the codes drift and the prior chases them.

Other deviations: the encoder and decoder follow :mod:`genzoo.nn.convnets` (stride-2 ``3 x 3``
stages down to a side of 4-7, nearest-neighbour upsampling to the exact sizes back) with
``res_blocks`` residual blocks (ReLU, ``3 x 3``, ReLU, ``1 x 1``) at the bottom, instead of
``4 x 4`` strided and transposed convolutions; the likelihood is over discrete pixels (Bernoulli,
categorical or discretized logistic mixture, see :mod:`genzoo.distributions.pixel`) rather than a
Gaussian / MSE, so the bound is comparable with the other models' bits/dim; the codebook starts
from small random vectors with a pseudo-count of one (``N_i = 1``, ``m_i = e_i``), so a code no
encoding picks keeps its vector instead of being divided by a near-zero count.

Data-parallel training: the batch's code counts and sums are summed over the processes
(:meth:`~genzoo.models.base.GenerativeModel.reduce_statistics`, lent by the training engine)
before the EMA step, so every rank holds the same codebook, the one a single process trained on
the same global batches holds; the training ``perplexity`` is that of the global batch too.
(Without the sum each rank would follow its own share of the batch and DDP's buffer broadcast
would keep rank 0's codebook: half of the data.)
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Constraint, Float, Int, Optional, depth
from genzoo.distributions.pixel import PixelLikelihood, wide
from genzoo.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genzoo.models.registry import register_model
from genzoo.models.vae.base import CONV_PARAMS, DEFAULT_K, LatentVariableModel, resolve_likelihood
from genzoo.nn.convnets import check_stages, default_stages, stage_sizes


def perplexity(codes: Tensor, codebook_size: int) -> Tensor:
    """``exp`` of the entropy of the code histogram of ``codes`` (any shape): 1 when one code is
    used, ``codebook_size`` when all are used equally. A 0-d float tensor."""
    return count_perplexity(torch.bincount(codes.flatten(), minlength=codebook_size))


def count_perplexity(counts: Tensor) -> Tensor:
    """:func:`perplexity` of a code histogram ``counts [K]`` (integer or float)."""
    counts = counts.double()
    return torch.special.entr(counts / counts.sum()).sum().exp().float()


class _Residual(nn.Module):
    """``x + conv1x1(relu(conv3x3(relu(x))))``, the paper's residual block."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


@register_model("vqvae")
class VQVAE(LatentVariableModel):
    """VQ-VAE with an EMA codebook and a Gated PixelCNN prior over the code grid.

    Args:
        codebook_size: number of codes ``K`` (the prior's levels).
        code_dim: size ``D`` of each code vector.
        channels: features of the first convolution stage (doubled at every stride-2 stage).
        stages: stride-2 stages (default: down to a side of 4-7, e.g. 8x8 -> 4x4, 28x28 -> 7x7).
        res_blocks: residual blocks at the bottom of the encoder and of the decoder.
        commitment: weight ``beta`` of the commitment term.
        decay: decay of the codebook's moving averages, in ``[0, 1)``.
        epsilon: Laplace smoothing of the code counts.
        likelihood: ``"bernoulli"`` (levels 2), ``"categorical"``, ``"logistic"`` or ``"auto"``.
        num_mixtures: logistic components per pixel (``likelihood="logistic"``).
        prior_channels: features of the prior's gated layers (its output head has twice as many).
        prior_layers: gated layers of the prior.
        prior_embedding_dim: size of the prior's code embedding (``None``: the scaled index).
        prior_weight: weight of the prior's negative log-likelihood in the joint loss.
    """

    stochastic_encoder = False
    params: ClassVar[dict[str, Constraint]] = {
        "codebook_size": Int(min=2),
        "code_dim": Int(min=1),
        **{k: v for k, v in CONV_PARAMS.items() if k != "hidden"},
        "res_blocks": depth(0),
        "commitment": Float(min=0.0),
        "decay": Float(0.0, 1.0, max_open=True),
        "epsilon": Float(min=0.0),
        "prior_channels": Int(min=1),
        "prior_layers": depth(),
        "prior_embedding_dim": Optional(Int(min=1)),
        "prior_weight": Float(min=0.0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        codebook_size: int = 64,
        code_dim: int = 32,
        channels: int = 32,
        stages: int | None = None,
        res_blocks: int = 1,
        commitment: float = 0.25,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        likelihood: str = "auto",
        num_mixtures: int = 5,
        prior_channels: int = 64,
        prior_layers: int = 6,
        prior_embedding_dim: int | None = 32,
        prior_weight: float = 1.0,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.codebook_size, self.code_dim = int(codebook_size), int(code_dim)
        self.commitment, self.decay, self.epsilon = float(commitment), float(decay), float(epsilon)
        self.prior_weight = float(prior_weight)
        kind = resolve_likelihood(likelihood, self.levels)
        self.likelihood = PixelLikelihood(kind, self.shape[0], self.levels, num_mixtures)

        colors, height, width = self.shape
        stages = default_stages(height, width) if stages is None else int(stages)
        check_stages(stages, height, width)
        sizes = stage_sizes(height, width, stages)
        self.grid: tuple[int, int] = sizes[-1]
        top = channels * 2**stages
        down: list[nn.Module] = [nn.Conv2d(colors, channels, 3, padding=1)]
        for i in range(stages):
            w = channels * 2**i
            down += [nn.SiLU(), nn.Conv2d(w, w, 3, padding=1), nn.SiLU()]
            down += [nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)]
        down += [_Residual(top) for _ in range(res_blocks)]
        self.encoder = nn.Sequential(*down, nn.ReLU(), nn.Conv2d(top, self.code_dim, 1))
        self.decoder_in = nn.Sequential(
            nn.Conv2d(self.code_dim, top, 3, padding=1),
            *[_Residual(top) for _ in range(res_blocks)],
            nn.ReLU(),
        )
        self.up_sizes = list(reversed(sizes[:-1]))
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(w, w // 2, 3, padding=1),
                nn.SiLU(),
                nn.Conv2d(w // 2, w // 2, 3, padding=1),
                nn.SiLU(),
            )
            for w in (top // 2**i for i in range(stages))
        )
        self.decoder_out = nn.Conv2d(channels, self.likelihood.param_channels, 3, padding=1)

        # EMA codebook: buffers (saved, never touched by the optimiser), pseudo-count of one
        codebook = torch.empty(self.codebook_size, self.code_dim).uniform_(-1.0, 1.0)
        codebook /= math.sqrt(self.code_dim)
        self.register_buffer("codebook", codebook)
        self.register_buffer("ema_count", torch.ones(self.codebook_size))
        self.register_buffer("ema_sum", codebook.clone())

        self.prior = GatedPixelCNN(
            shape=(1, *self.grid),
            levels=self.codebook_size,
            num_classes=self.num_classes,
            channels=prior_channels,
            num_layers=prior_layers,
            head_channels=2 * prior_channels,
            embedding_dim=prior_embedding_dim,
        )

    # -------------------------------------------------------------- public interface
    def embed(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The continuous encoder output ``z_e [B, code_dim, h, w]`` before quantisation."""
        self.check_input(x, y)
        return self._encode(x.to(self.device))

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The code grid of ``x``: LongTensor ``[B, h, w]`` in ``[0, codebook_size)``."""
        return self.nearest(self.embed(x, y))

    def nearest(self, z_e: Tensor) -> Tensor:
        """Index of the nearest code of every vector of ``z_e [N, D, h, w]``: ``[N, h, w]``."""
        n, d, h, w = z_e.shape
        flat = wide(z_e.detach()).movedim(1, -1).reshape(-1, d)
        book = wide(self.codebook)
        with torch.autocast(flat.device.type, enabled=False):  # distances in float32 at least
            flat = flat.to(book.dtype)
            dist = (flat * flat).sum(1, keepdim=True) - 2.0 * flat @ book.T + (book * book).sum(1)
        return dist.argmin(1).view(n, h, w)

    def lookup(self, codes: Tensor) -> Tensor:
        """The quantised grid ``z_q [N, D, h, w]`` of codes ``[N, h, w]``."""
        return self.codebook[codes].movedim(-1, 1)

    def quantise(self, z_e: Tensor) -> tuple[Tensor, Tensor]:
        """Codes ``[N, h, w]`` of ``z_e [N, D, h, w]`` and the straight-through grid: exactly
        ``z_q`` in value, with the gradient it receives passed to ``z_e`` unchanged."""
        codes = self.nearest(z_e)
        z_q = self.lookup(codes).to(z_e.dtype)
        return codes, z_q + (z_e - z_e.detach())

    @torch.no_grad()
    def update_codebook(self, z_e: Tensor, codes: Tensor) -> Tensor:
        """One EMA step of the codebook towards encodings ``z_e [N, D, h, w]`` with ``codes``.

        The batch's counts ``n_i`` and sums ``s_i`` go through :meth:`reduce_statistics`: in
        data-parallel training they are the whole global batch's, so every process makes the
        same step, the one a single process makes. Returns the counts, float ``[K]``.
        """
        flat = wide(z_e).movedim(1, -1).reshape(-1, self.code_dim).to(self.ema_sum.dtype)
        index = codes.flatten()
        stats = torch.zeros(
            self.codebook_size, 1 + self.code_dim, dtype=flat.dtype, device=flat.device
        )
        stats[:, 0] = torch.bincount(index, minlength=self.codebook_size).to(flat.dtype)
        stats[:, 1:].index_add_(0, index, flat)
        stats = self.reduce_statistics(stats)  # one collective for both
        counts, sums = stats[:, 0], stats[:, 1:]
        self.ema_count.mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1.0 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.epsilon) / (n + self.codebook_size * self.epsilon) * n
        used = smoothed[:, None] > 0  # only possible to fail with epsilon = 0 and decay = 0
        updated = self.ema_sum / smoothed.clamp_min(torch.finfo(flat.dtype).tiny)[:, None]
        self.codebook.copy_(torch.where(used, updated, self.codebook))
        return counts

    # -------------------------------------------------------------- hooks
    def posterior(self, x: Tensor, y: Tensor | None) -> Tensor:
        """The code grid ``[B, h, w]`` (``q`` is a point mass on it)."""
        return self.nearest(self._encode(x))

    def sample_posterior(
        self, q: Tensor, k: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        log_q = torch.zeros(k, q.shape[0], device=q.device)
        return q.unsqueeze(0).expand(k, *q.shape), log_q

    def log_prior(self, z: Tensor, y: Tensor | None) -> Tensor:
        k, b = z.shape[:2]
        yy = None if y is None else y.unsqueeze(0).expand(k, b).flatten()
        return self.prior.log_prob(z.flatten(0, 1).unsqueeze(1), yy).view(k, b)

    def sample_prior(self, n: int, y: Tensor | None, generator: torch.Generator | None) -> Tensor:
        return self.prior.sample(n, y, generator=generator)[:, 0]

    def decoder_params(self, z: Tensor, y: Tensor | None) -> Tensor:
        """Likelihood parameters for codes ``[N, h, w]`` or a float grid ``[N, D, h, w]`` (which
        is quantised to its nearest codes first, so interpolated latents decode)."""
        if z.is_floating_point():
            z = self.nearest(z)
        return self.decode_grid(self.lookup(z))

    # -------------------------------------------------------------- estimators
    def iwae_bound(
        self,
        x: Tensor,
        y: Tensor | None = None,
        k: int = DEFAULT_K,
        *,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``log p(x | z_q(x)) + log p(z(x))`` for every ``k``: with a point-mass ``q`` all ``k``
        importance weights are equal, so the ``k``-sample bound is the ELBO (computed once)."""
        self._inputs(x, y, k)  # validates k as the base class does
        bound = self.log_weights(x, y, 1, generator=generator)[0]
        return bound.to(torch.promote_types(self.dtype, torch.float32))

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The joint objective per sub-pixel (module docstring); updates the codebook in training.

        Metrics (per image, nats): ``elbo`` (the bound), ``reconstruction`` =
        ``log p(x | z_q)``, ``prior_nll`` = ``-log p(z)``, ``commitment`` (the weighted term),
        ``perplexity`` of the batch's code usage, and ``bits_per_dim`` of the bound.
        """
        self.check_condition(c, x.shape[0])
        x, y = self._inputs(x, y, 1)
        z_e = self._encode(x)
        codes, z_st = self.quantise(z_e)
        z_q = z_st.detach()  # the codebook before this batch's update
        counts = torch.bincount(codes.flatten(), minlength=self.codebook_size)
        if self.training:  # the (global) batch's code usage
            counts = self.update_codebook(z_e.detach(), codes)
        commitment = self.commitment * (z_e - z_q).pow(2).flatten(1).sum(1)
        reconstruction = self.likelihood.log_prob(self.decode_grid(z_st), x)
        log_prior = self.prior.log_prob(codes.unsqueeze(1), y)
        objective = (-reconstruction + commitment - self.prior_weight * log_prior).mean()
        bound = (reconstruction + log_prior).mean().detach()
        return {
            "loss": objective / self.num_dims,
            "elbo": bound,
            "reconstruction": reconstruction.mean().detach(),
            "prior_nll": -log_prior.mean().detach(),
            "commitment": commitment.mean().detach(),
            "perplexity": count_perplexity(counts),
            "bits_per_dim": -bound / (self.num_dims * math.log(2)),
        }

    # -------------------------------------------------------------- networks
    def _encode(self, x: Tensor) -> Tensor:
        return wide(self.encoder(self.scale(x)))

    def decode_grid(self, z_q: Tensor) -> Tensor:
        """Parameters ``[N, P, H, W]`` of ``p(x | z_q)`` for a quantised grid ``[N, D, h, w]``."""
        h = self.decoder_in(z_q.to(self.dtype))
        for block, size in zip(self.up, self.up_sizes):
            h = block(nn.functional.interpolate(h, size=size, mode="nearest"))
        return self.decoder_out(h)
