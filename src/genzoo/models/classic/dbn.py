"""Deep belief network — Hinton, Osindero & Teh, "A fast learning algorithm for deep belief nets",
Neural Computation 2006; its likelihood as in Salakhutdinov & Murray, "On the quantitative analysis
of deep belief networks", ICML 2008.

A stack of ``L`` Bernoulli RBMs (:class:`~genzoo.models.classic.rbm.RBM`, reused as they are) over
layers ``v = h_0, h_1, ..., h_L``. Generative model: the top RBM is an undirected prior over
``(h_{L-1}, h_L)``; every lower RBM contributes only its top-down conditional, a directed sigmoid
layer::

    p(v, h_1, ..., h_{L-1}) = p_L(h_{L-1}) prod_{l<L} p_l(h_{l-1} | h_l),
    p_L(h) = exp(-F_L(h)) / Z_L  (the top RBM's marginal of its visible layer).

Greedy training (Hinton et al. 2006). RBM ``l`` is trained on samples of ``h_{l-1}`` drawn
upwards from the data through the frozen RBMs below, ``q(h_l | h_{l-1}) = p_l(h_l | h_{l-1})``.
On the shared training engine: ``loss`` in training mode is the CD/PCD surrogate of the RBM
being trained; a step counter (a buffer, saved and restored with the weights) moves to the next
RBM every ``steps_per_layer`` steps, so the lower RBMs get no gradient (the optimiser skips
them) and the top one trains until the budget ends. At the switch, with ``tied_init`` and
matching sizes (``h_l`` as wide as ``h_{l-2}``), the new RBM starts as the transpose of the one
below — the initialisation under which Hinton et al.'s argument shows that training it can only
raise the variational bound below (the two-layer DBN then equals the one-layer one exactly; a
test checks the equality and the rise). The model at any moment is the stack of the RBMs
trained so far (:attr:`DBN.layers_trained`).

Likelihood (``density == "bound"``). With ``q(h | v) = prod_l q(h_l | h_{l-1})`` the factorial
up-pass,

    log p(v) >= B(v) = E_q[ sum_{l<L} log p_l(h_{l-1} | h_l) - F_L(h_{L-1}) ]
                        + sum_{l<L} E_q[H(q(h_l | h_{l-1}))] - log Z_L

(Salakhutdinov & Murray 2008, eq. 14 and section 4.3 for deeper nets; with one RBM it is the
RBM's exact log-likelihood). ``log_prob`` returns ``B(v)``: the expectation exactly by
enumerating the hidden states below the top when there are at most ``ENUMERATE_MAX_UNITS`` of
them, else by ``posterior_samples`` samples of the up-pass (an unbiased estimate of ``B``); and
``log Z_L`` exactly for small top RBMs, else by AIS (the RBM's :meth:`log_partition`: unbiased for
``Z_L``, so ``log Z_L`` is *low* on average and the reported bound *high* by the AIS error, as in
the paper; cached, generator seeded with 0, reproducible). Reported numbers are therefore
estimates of a lower bound on ``log p(v)``, not guaranteed bounds. The top RBM's AIS base rate is
the marginals of the up-pass samples it was trained on (the RBM's data counts, as in the paper).

Checks (:meth:`DBN.likelihood_checks`): the top RBM's AIS ``log Z`` against the certain lower
bound ``logsumexp_{h in S} -F_L(h)`` over the distinct states ``S`` of ``LOWER_BOUND_SAMPLES``
up-pass samples of every training image (mean-field through the layers below, then Bernoulli,
as ``benchmarks/dbn_ais.py`` does), and the spread of AIS across two schedules
(:meth:`RBM.ais_checks`). An AIS ``log Z`` below that bound makes the reported bound provably
wrong (too good), and ``genzoo eval`` reports it as failing the check, not as a likelihood.

Sampling (Hinton et al. 2006): ``gibbs_steps`` block-Gibbs sweeps in the top RBM from noise,
then one top-down pass sampling every layer. Completion alternates an up-pass, one Gibbs sweep
in the top RBM and a down-pass, clamping the given pixels — the exact clamped Gibbs chain of the
RBM with one layer, an approximation above (``q`` is not the exact posterior).

Deviations: no label units joined to the top layer (class-conditional DBNs give every RBM
per-class biases, as the RBM does); no up-down fine-tuning (the wake-sleep variant of the paper);
binary images only (``--levels 2``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Bool, Constraint, Int, depth
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel
from genzoo.models.classic.rbm import EXACT_MAX_UNITS, RBM, bernoulli
from genzoo.models.registry import register_model

#: ``log_prob`` enumerates the hidden states below the top RBM when they number at most 2**this
ENUMERATE_MAX_UNITS = 12
#: images per chunk of the bound, so that a ``[images, samples, units]`` block stays ~32 MB
_CHUNK_ELEMENTS = 2**22
#: up-pass samples per training image whose distinct states bound the top RBM's ``log Z``
LOWER_BOUND_SAMPLES = 4
#: training images per chunk of the up-pass of the checks
_UP_CHUNK = 4096


@register_model("dbn")
class DBN(GenerativeModel):
    """A stack of ``num_layers`` RBMs: ``D -> hidden -> ... -> hidden -> top_hidden``.

    Args:
        hidden: units of every hidden layer below the top one.
        top_hidden: hidden units of the top RBM (Salakhutdinov & Murray 2008: 500 then 2000).
        num_layers: RBMs in the stack (1: an RBM).
        steps_per_layer: training steps of each RBM below the top (the top one trains on).
        tied_init: start each RBM as the transpose of the one below when the sizes allow.
        posterior_samples: up-pass samples of the bound's expectation (large networks).
        cd_steps: Gibbs steps of each RBM's negative phase (CD-k / PCD-k).
        persistent: persistent chains (PCD) in each RBM instead of chains restarted at the data.
        chains: persistent chains per RBM.
        gibbs_steps: Gibbs sweeps in the top RBM when sampling (and of completion).
        ais_steps: AIS intermediate distributions for the top RBM's ``log Z``.
        ais_chains: AIS chains.
        exact_max_units: exact ``log Z`` when the top RBM's smaller layer has at most this many
            units.
        init_std: standard deviation of every RBM's initial weights.
    """

    density = "bound"
    per_dim_log_prob = False
    completion = "gibbs"
    has_features = True
    binary_only = True
    #: the RBM being trained sees the raw weights below it and ``tied_init`` copies them: an
    #: exponential average would give the saved model lower layers that do not match
    train_defaults: ClassVar[dict[str, Any]] = {"ema_decay": 0.0}
    params: ClassVar[dict[str, Constraint]] = {
        "hidden": Int(min=1),
        "top_hidden": Int(min=1),
        "num_layers": depth(),
        "steps_per_layer": Int(min=1),
        "tied_init": Bool(),
        "posterior_samples": Int(min=1),
        # passed on to every RBM of the stack
        **{k: v for k, v in RBM.params.items() if k != "hidden"},
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        hidden: int = 500,
        top_hidden: int = 2000,
        num_layers: int = 2,
        steps_per_layer: int = 5000,
        tied_init: bool = True,
        posterior_samples: int = 100,
        cd_steps: int = 1,
        persistent: bool = True,
        chains: int = 100,
        gibbs_steps: int = 1000,
        ais_steps: int = 10000,
        ais_chains: int = 100,
        exact_max_units: int = EXACT_MAX_UNITS,
        init_std: float = 0.01,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.steps_per_layer, self.tied_init = int(steps_per_layer), bool(tied_init)
        self.posterior_samples = int(posterior_samples)
        sizes = [self.num_dims] + [int(hidden)] * (int(num_layers) - 1) + [int(top_hidden)]
        rbm = {
            "levels": 2,
            "num_classes": num_classes,
            "cd_steps": cd_steps,
            "persistent": persistent,
            "chains": chains,
            "gibbs_steps": gibbs_steps,
            "ais_steps": ais_steps,
            "ais_chains": ais_chains,
            "exact_max_units": exact_max_units,
            "init_std": init_std,
        }
        self.rbms = nn.ModuleList(
            RBM(shape=self.shape if n == 0 else (1, 1, units), hidden=sizes[n + 1], **rbm)
            for n, units in enumerate(sizes[:-1])
        )
        #: training steps taken so far (the schedule's clock)
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ the schedule
    @property
    def current_layer(self) -> int:
        """Index of the RBM the next training step trains."""
        return min(int(self.trained_steps) // self.steps_per_layer, len(self.rbms) - 1)

    @property
    def layers_trained(self) -> int:
        """RBMs that have taken at least one training step (at least 1): the current model."""
        started = math.ceil(int(self.trained_steps) / self.steps_per_layer)
        return max(1, min(len(self.rbms), started))

    @torch.no_grad()
    def _tie(self, layer: int) -> None:
        """Start RBM ``layer`` as the transpose of the one below (same joint distribution)."""
        new, below = self.rbms[layer], self.rbms[layer - 1]
        if new.hidden != below.num_dims:
            return
        new.weight.copy_(below.weight.T)
        new.visible_bias.copy_(below.hidden_bias)
        new.hidden_bias.copy_(below.visible_bias)

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Training mode: the CD/PCD surrogate of the current RBM on an up-pass sample of ``x``
        (global RNG) plus its metrics and ``layer`` (1-based); advances the schedule by one step.
        Eval mode: the negative bound per sub-pixel (``nll_nats``, ``bits_per_dim``)."""
        if not self.training:
            return super().loss(x, y, c=c)
        self.check_input(x, y, c)
        layer = self.current_layer
        if self.tied_init and layer > 0 and int(self.trained_steps) == layer * self.steps_per_layer:
            self._tie(layer)
        v = x
        if layer > 0:
            with torch.no_grad():
                h = self.rbms[0].flat(x)
                for rbm in self.rbms[:layer]:
                    h = bernoulli(rbm.hidden_probs(h, y))
            v = h.long().view(x.shape[0], 1, 1, -1)
        out = self.rbms[layer].loss(v, y)
        self.trained_steps += 1
        return {**out, "layer": torch.tensor(float(layer + 1))}

    # ------------------------------------------------------------------ the bound
    @torch.no_grad()
    def log_prob(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        per_dim: bool = False,
        samples: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The variational bound ``B(x)`` on ``log p(x)`` in nats, float64 ``[B]`` (module doc).

        Args:
            x: LongTensor ``[B, C, H, W]`` in ``{0, 1}``; y: labels of a conditional DBN.
            samples: force a Monte Carlo expectation with this many up-pass samples (default:
                exact enumeration when small, else ``posterior_samples``).
            generator: randomness of the up-pass samples and of a fresh AIS estimate
                (default: a generator seeded with 0 and the cached ``log Z``).
        """
        if per_dim:
            raise UnsupportedError(
                "a DBN's bound is defined for whole images; there are no per-sub-pixel "
                "conditionals (per_dim=True)"
            )
        self.check_input(x, y, c)
        depth = self.layers_trained
        top = self.rbms[depth - 1]
        if depth == 1:  # one RBM: its own log-likelihood (exact log Z or AIS)
            return top.log_prob(x, y, generator=generator).double()
        log_z = top.log_partition(generator).double()
        v = self.rbms[0].flat(x).double()
        labels = torch.zeros(x.shape[0], dtype=torch.long, device=v.device)
        labels = labels if y is None else y.to(v.device).long()
        units = [r.hidden for r in self.rbms[: depth - 1]]
        exact = samples is None and sum(units) <= ENUMERATE_MAX_UNITS
        count = 2 ** sum(units) if exact else int(samples or self.posterior_samples)
        generator = generator or torch.Generator().manual_seed(0)
        chunk = max(1, _CHUNK_ELEMENTS // (count * max(self.num_dims, *units)))
        parts = [
            self._expectation(v[i : i + chunk], labels[i : i + chunk], depth, count, exact,
                              generator)
            for i in range(0, v.shape[0], chunk)
        ]  # fmt: skip
        return torch.cat(parts) - log_z.to(v.device)[labels]

    def _expectation(
        self,
        v: Tensor,
        labels: Tensor,
        depth: int,
        count: int,
        exact: bool,
        generator: torch.Generator,
    ) -> Tensor:
        """``E_q[...]`` of the bound (everything but ``-log Z``) for ``v [B, D]``: ``[B]``.

        ``exact``: the ``count`` joint states of the hidden layers below the top, weighted by
        ``q``; else ``count`` up-pass samples per image. Entropies are analytic given the layer
        below, so every term is finite.
        """
        n = v.shape[0]
        states = None
        if exact:
            units = [r.hidden for r in self.rbms[: depth - 1]]
            bits = torch.arange(sum(units) - 1, -1, -1, device=v.device)
            joint = (torch.arange(count, device=v.device)[:, None] >> bits) & 1
            states = joint.to(v.dtype).split(units, dim=1)  # every joint state  [S, units]
        below = v[:, None, :]  # [B, 1 or S, units]
        terms = v.new_zeros(n, 1)
        log_q = v.new_zeros(n, 1)
        for layer, rbm in enumerate(self.rbms[: depth - 1]):
            w, b, c = rbm.weight.double(), rbm.visible_bias.double(), rbm.hidden_bias.double()
            z = c[labels][:, None] + below @ w  # recognition logits  [B, 1 or S, H]
            if exact:
                h = states[layer].expand(n, -1, -1)
            else:
                h = bernoulli(torch.sigmoid(z).expand(n, count, -1).contiguous(), generator)
            log_q = log_q + (h * z - F.softplus(z)).sum(-1)
            p = torch.sigmoid(z)
            terms = terms + (p * F.softplus(-z) + (1 - p) * F.softplus(z)).sum(-1)  # entropy
            a = b[labels][:, None] + h @ w.T  # generative logits of the layer below
            terms = terms + (below * a - F.softplus(a)).sum(-1)
            below = h
        top = self.rbms[depth - 1]
        w, b, c = top.weight.double(), top.visible_bias.double(), top.hidden_bias.double()
        neg_free = (below * b[labels][:, None]).sum(-1)
        terms = terms + neg_free + F.softplus(c[labels][:, None] + below @ w).sum(-1)
        if exact:
            return (log_q.exp() * terms).sum(1)
        return terms.mean(1)

    # ------------------------------------------------------------------ checks
    @torch.no_grad()
    def likelihood_checks(
        self, x: Tensor, y: Tensor | None = None, *, samples: int = LOWER_BOUND_SAMPLES
    ) -> dict[str, dict[str, Any]]:
        """The checks of the top RBM's AIS ``log Z`` (:meth:`RBM.ais_checks`; none when it is
        exact), with the certain lower bound from :meth:`top_states` of training images ``x``
        (LongTensor ``[N, C, H, W]``, binary) and their labels ``y``."""
        top = self.rbms[self.layers_trained - 1]
        if top.exact_partition:
            return {}
        states = self.top_states(x, y, samples=samples)
        return top.ais_checks(top.log_partition_lower_bound(states))

    @torch.no_grad()
    def top_states(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        samples: int = LOWER_BOUND_SAMPLES,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Distinct states of the top RBM's visible layer reached from images ``x``: the images
        themselves for a one-RBM network, else ``samples`` Bernoulli draws per image from the
        mean-field up-pass ``p(h_{L-1} = 1 | ...)``. Returns uint8 ``[S, units]``, rows
        distinct (``generator``: default seeded with 0)."""
        if samples < 1:
            raise ConfigError(f"samples must be >= 1, got {samples}")
        self.check_input(x, y)
        depth = self.layers_trained
        v = self.rbms[0].flat(x).double()
        if depth == 1:
            return v.to(torch.uint8).unique(dim=0)
        generator = generator or torch.Generator().manual_seed(0)
        found = []
        for start in range(0, v.shape[0], _UP_CHUNK):
            h = v[start : start + _UP_CHUNK]
            labels = None if y is None else y[start : start + _UP_CHUNK]
            for rbm in self.rbms[: depth - 1]:
                h = rbm.hidden_probs(h.to(rbm.weight.dtype), labels).double()
            draws = [bernoulli(h, generator).to(torch.uint8) for _ in range(samples)]
            found.append(torch.cat(draws).unique(dim=0))
        return torch.cat(found).unique(dim=0)

    # ------------------------------------------------------------------ sampling
    def _down(self, h: Tensor, y: Tensor | None, depth: int, generator) -> Tensor:
        """Top-down sampling from ``h_{depth-1}`` to the visible layer: float ``[n, D]``."""
        for rbm in reversed(self.rbms[: depth - 1]):
            h = bernoulli(rbm.visible_probs(h, y), generator)
        return h

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
        steps: int | None = None,
    ) -> Tensor:
        """Gibbs sampling in the top RBM (``steps``, default its ``gibbs_steps``), then a
        top-down pass: LongTensor ``[n, C, H, W]``. ``known``/``mask``: see the module doc."""
        depth = self.layers_trained
        top = self.rbms[depth - 1]
        if depth == 1:
            self.check_condition(c, n)
            return top.sample(n, y, generator=generator, known=known, mask=mask, steps=steps)
        x, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
        if known is None:
            h = top.flat(top.sample(n, y, generator=generator, steps=steps))
            return self._down(h, y, depth, generator).long().view(n, *self.shape)
        given, clamp = self.rbms[0].flat(x), full_mask.reshape(n, -1)
        v = torch.where(clamp, given, bernoulli(torch.full_like(given, 0.5), generator))
        for _ in range(int(top.gibbs_steps if steps is None else steps)):
            h = v
            for rbm in self.rbms[: depth - 1]:
                h = bernoulli(rbm.hidden_probs(h, y), generator)
            h = top.gibbs_step(h, y, generator)
            v = torch.where(clamp, given, self._down(h, y, depth, generator))
        return v.long().view(n, *self.shape)

    @torch.no_grad()
    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """Mean-field up-pass to the top hidden layer: ``p(h_L = 1 | ...)``, ``[B, top units]``."""
        self.check_input(x, y, c)
        h = self.rbms[0].flat(x)
        for rbm in self.rbms[: self.layers_trained]:
            h = rbm.hidden_probs(h, y)
        return h
