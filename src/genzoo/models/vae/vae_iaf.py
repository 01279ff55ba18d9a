"""VAE with inverse autoregressive flow — Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling,
"Improved Variational Inference with Inverse Autoregressive Flow", NeurIPS 2016.

The approximate posterior of :class:`~genzoo.models.vae.vae.VAE` made richer by ``T`` invertible
steps. The encoder outputs, besides the mean and log-variance of ``z_0``, a context vector ``h``;
then (paper, eqs. 10-14 and Algorithm 1, the numerically stable LSTM-type update)::

    z_0 = mean + sigma_0 * eps,                    eps ~ N(0, I)
    [m_t, s_t] = AR_t(z_{t-1}, h)                  (a MADE network, Germain et al. 2015)
    sigma_t = sigmoid(s_t)
    z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t
    log q(z_T | x) = log N(z_0; mean, sigma_0^2) - sum_t sum_i log sigma_t,i

``m_t, s_t`` at dimension ``i`` depend only on the dimensions before ``i`` in step ``t``'s order,
so ``dz_t / dz_{t-1}`` is triangular with diagonal ``sigma_t`` and the log-determinant above is
exact. The order is reversed from one step to the next so that every dimension can depend on every
other. The bias of ``s_t`` starts at ``+1`` (the paper advises ``+1`` or ``+2``) so each step
begins close to the identity. ``q(z_T | x)`` has no closed-form KL to the ``N(0, I)`` prior, so the
ELBO's KL is the Monte-Carlo ``log q(z_T | x) - log p(z_T)`` (the base class does this when
:meth:`VAEIAF.kl` returns ``None``); the IWAE bound uses the same exact ``log q``.

Deviations from the paper: one stochastic layer with a vector latent, a convolutional encoder and
decoder (:mod:`genzoo.nn.convnets`) and MLP-based MADE networks for the flow, instead of the
paper's ResNet VAE with a bidirectional ladder of convolutional latents and convolutional
autoregressive networks; discrete pixel likelihoods (as ``vae``) instead of the paper's Bernoulli
(MNIST) and discretized logistic (CIFAR-10) alone. ``flow_steps=0`` is allowed and is then exactly
``vae`` (closed-form KL), with an unused context unless ``context_dim=0``. ``embed``
(reconstruction, interpolation) returns the flow applied to ``eps = 0``, i.e. ``z_T`` for
``z_0 = mean`` — a deterministic latent of the kind the decoder consumes, though not in general
the mean or mode of ``q(z_T | x)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Constraint, Int, depth
from genzoo.distributions.pixel import wide
from genzoo.errors import ConfigError
from genzoo.models.registry import register_model
from genzoo.models.vae.vae import VAE
from genzoo.nn.made import AutoregressiveMLP

#: initial bias of each step's gate pre-activation ``s``: ``sigmoid(1) = 0.73`` keeps much of
#: ``z_{t-1}`` at the start of training (Kingma et al. 2016 advise +1 or +2)
GATE_BIAS = 1.0


class IAFStep(nn.Module):
    """One IAF step ``z -> sigma * z + (1 - sigma) * m`` with ``[m, s] = AR(z, h)``.

    Args:
        dim: latent size ``D``.
        hidden, num_hidden_layers: the MADE network's width and depth.
        context_features: size of ``h`` (0: none).
        order: permutation ``[D]``; ``order[k]`` is the ``k``-th dimension of this step.
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        num_hidden_layers: int,
        context_features: int,
        order: Tensor,
    ) -> None:
        super().__init__()
        self.net = AutoregressiveMLP(dim, hidden, num_hidden_layers, 2, context_features, order)
        with torch.no_grad():  # output p * D + i is [m, s][p] of dimension i
            self.net.layers[-1].bias.view(2, dim)[1].add_(GATE_BIAS)

    def forward(self, z: Tensor, h: Tensor | None) -> tuple[Tensor, Tensor]:
        """``z [..., D]``, context ``h [..., C]`` (broadcastable) -> ``z' [..., D]`` and
        ``log |det dz'/dz| = sum_i log sigma_i`` ``[...]``, both in at least float32.
        """
        dtype = self.net.layers[0].weight.dtype
        out = self.net(z.to(dtype), None if h is None else h.to(dtype))
        m, s = wide(out[..., 0, :]), wide(out[..., 1, :])
        sigma = torch.sigmoid(s)
        return sigma * z + (1 - sigma) * m, F.logsigmoid(s).sum(-1)


@register_model("vae_iaf")
class VAEIAF(VAE):
    """VAE whose posterior is refined by ``flow_steps`` inverse autoregressive flow steps.

    Args:
        flow_steps: IAF steps ``T`` (0: the plain VAE posterior).
        flow_hidden: width of the hidden layers of each step's MADE network.
        flow_layers: hidden layers of each step's MADE network.
        context_dim: size of the context ``h`` the encoder adds for the flow (0: none).
        **kwargs: those of :class:`~genzoo.models.vae.vae.VAE`.
    """

    params: ClassVar[dict[str, Constraint]] = {
        "flow_steps": depth(0),
        "flow_hidden": Int(min=1),
        "flow_layers": depth(0),
        "context_dim": Int(min=0),
    }

    def __init__(
        self,
        *,
        flow_steps: int = 2,
        flow_hidden: int = 128,
        flow_layers: int = 2,
        context_dim: int = 32,
        **kwargs: Any,
    ) -> None:
        # read by ``encoder_features`` while VAE.__init__ builds the encoder
        self.context_dim = int(context_dim)
        super().__init__(**kwargs)
        if flow_steps > 0 and self.latent_dim < 2:
            raise ConfigError(
                f"an inverse autoregressive flow needs latent_dim >= 2 (got {self.latent_dim}): "
                "in one dimension there is nothing to condition on; use vae or more dimensions"
            )
        natural = torch.arange(self.latent_dim)
        self.flows = nn.ModuleList(
            IAFStep(
                self.latent_dim,
                int(flow_hidden),
                int(flow_layers),
                self.context_dim,
                natural if t % 2 == 0 else natural.flip(0),
            )
            for t in range(int(flow_steps))
        )

    @property
    def encoder_features(self) -> int:
        """Mean, log-variance and the flow's context ``h``."""
        return 2 * self.latent_dim + self.context_dim

    def flow(self, z: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Every IAF step: ``z_0 [..., D]``, ``h [..., C]`` -> ``z_T [..., D]`` and
        ``sum_t log |det dz_t / dz_{t-1}|`` ``[...]``.

        Runs outside autocast, in at least float32: the log-determinant enters ``log q``.
        """
        log_det = z.new_zeros(z.shape[:-1])
        context = h if self.context_dim else None
        with torch.autocast(z.device.type, enabled=False):
            for step in self.flows:
                z, step_log_det = step(z, context)
                log_det = log_det + step_log_det
        return z, log_det

    def embed(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The flow applied to ``eps = 0`` (``z_0`` = the posterior mean): ``[B, latent_dim]``.

        This is the kind of latent the decoder consumes (``z_T``); it is deterministic but in
        general neither the mean nor the mode of ``q(z_T | x)``.
        """
        self.check_input(x, y)
        mean, _, h = self.posterior(x.to(self.device), y)
        return self.flow(mean, h)[0]

    # -------------------------------------------------------------- hooks
    def sample_posterior(
        self, q: tuple[Tensor, ...], k: int, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        z0, log_q0 = super().sample_posterior(q, k, generator)
        z, log_det = self.flow(z0, q[2])
        return z, log_q0 - log_det

    def kl(self, q: tuple[Tensor, ...], y: Tensor | None) -> Tensor | None:
        """``None`` (Monte-Carlo KL) with a flow; the closed form when there is none."""
        return None if len(self.flows) else super().kl(q, y)
