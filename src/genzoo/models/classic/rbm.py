"""Bernoulli restricted Boltzmann machine — Smolensky 1986; Hinton, "Training products of experts
by minimizing contrastive divergence", Neural Computation 2002; Tieleman, "Training restricted
Boltzmann machines using approximations to the likelihood gradient", ICML 2008 (persistent CD);
Salakhutdinov & Murray, "On the quantitative analysis of deep belief networks", ICML 2008 (AIS).

Binary visible units ``v in {0,1}^D`` (the ``C*H*W`` sub-pixels of a binarised image) and binary
hidden units ``h in {0,1}^H`` with energy ``E(v, h) = -b.v - c.h - v^T W h``::

    p(v) = exp(-F(v)) / Z,    F(v) = -b.v - sum_j softplus(c_j + (v W)_j)    (free energy)
    p(h_j = 1 | v) = sigmoid(c_j + (v W)_j),    p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)

Training. ``loss`` is a surrogate whose gradient is the contrastive-divergence estimate of the
negative log-likelihood gradient (per sub-pixel)::

    loss = (mean_data F(v) - mean_model F(v~)) / D,    v~ detached

``v~`` comes from ``cd_steps`` block-Gibbs steps started at the data (CD-k, Hinton 2002) or, with
``persistent=True`` (the default), at the persistent chains kept in the buffer ``chains``
(PCD, Tieleman 2008), which are advanced in place at every training-mode call. So the shared
engine (AdamW, EMA, checkpoints, budgets) trains an RBM like any model. The surrogate's *value*
is not a likelihood: the logged metrics are the mean-field ``reconstruction_error`` and
``pseudo_bits_per_dim``, the stochastic pseudo-likelihood of one random sub-pixel per image
(scaled by ``D``, as scikit-learn's ``BernoulliRBM.score_samples``). In eval mode ``loss`` is
that pseudo-likelihood per sub-pixel (nats), so ``--keep-best`` picks by it.

Likelihood. ``log p(v) = -F(v) - log Z`` needs the partition function ``Z``:

* exactly when ``2^min(D, H) <= 2^exact_max_units`` (:meth:`RBM.log_partition_exact` sums the
  smaller layer's states out analytically);
* otherwise by annealed importance sampling (:meth:`RBM.log_partition_ais`, Salakhutdinov &
  Murray 2008): ``Z_hat`` is an *unbiased* estimate of ``Z``, so by Jensen ``E[log Z_hat] <=
  log Z`` — AIS *underestimates* ``log Z`` on average, and ``log p_hat(v) = -F(v) - log Z_hat``
  *overestimates* the log-likelihood on average (reported bits/dim are optimistic, never a
  guaranteed bound). Hence ``density == "estimate"``. With enough steps the bias is small (the
  paper: 14,500 intermediate distributions, 100 chains); too few steps make it large, always in
  that direction (tested).

``log_prob`` computes ``log Z`` once per set of weights (cached until a weight changes; with no
``generator`` AIS uses one seeded with 0, so evaluation is reproducible) and reuses it for every
batch.

The base-rate model of AIS is, as in Salakhutdinov & Murray 2008, the training data's
per-pixel marginals: every training-mode ``loss`` call adds its batch to integer buffers
``data_ones [classes, D]`` and ``data_count [classes]`` (saved with the weights, so a loaded RBM
anneals from the same base rate), and the base logits are the smoothed log-odds
``log((ones + a) / (count - ones + a))`` with ``a = BASE_RATE_PSEUDOCOUNT``
(:meth:`RBM.base_rate_logits`).
An RBM that has seen no training batch of a class (a fresh one, or one saved before these buffers
existed) anneals from its own visible biases for that class, as genzoo did before.

Checks (:meth:`RBM.likelihood_checks`, recorded in ``metrics.json`` by ``genzoo eval``). AIS can be
far too low without showing it, and a too-low ``log Z`` makes the model look *better*. A certain
lower bound catches the worst of it: ``Z = sum_v exp(-F(v)) >= sum_{v in S} exp(-F(v))`` for any
set ``S`` of *distinct* states (:meth:`RBM.log_partition_lower_bound`; ``S`` = the distinct
training images). An AIS ``log Z`` below it is provably too low, and the estimate is marked as
failing the check (:attr:`genzoo.core.metrics.Estimate.trusted` is False: not a likelihood). A
second AIS run with the other schedule (sigmoid against linear spacing) gives the spread reported
beside the number; it has no verdict.

Sampling runs ``gibbs_steps`` block-Gibbs sweeps from uniform noise; completion clamps the known
sub-pixels at every sweep (a valid MCMC for ``p(unknown | known)``, exact only in the limit).

Deviations. Class-conditional RBMs (``num_classes``) get one visible and one hidden bias vector
per class, sharing ``W``: ``p(v | y)`` with its own ``Z_y`` (and base rates per class). The data
marginals count every training batch (every epoch), not one pass over the training set; in a
data-parallel run, those of rank 0's shards. ``features`` are the hidden probabilities
``p(h = 1 | v)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.core.params import Bool, Constraint, Float, Int
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import register_model

#: exact partition functions enumerate at most 2**this states of the smaller layer
EXACT_MAX_UNITS = 20
#: states summed at once by the exact partition function
_ENUMERATION_CHUNK = 2**14
#: pseudo-count ``a`` of the base rate ``(ones + a) / (count + 2a)`` (no pixel gets probability 0)
BASE_RATE_PSEUDOCOUNT = 1.0
#: the second AIS schedule of the checks (the first is the one ``log_prob`` uses)
CHECK_SCHEDULE = "sigmoid"
#: states per free-energy evaluation of the certain lower bound (memory)
_BOUND_CHUNK = 8192


@dataclass
class AISEstimate:
    """Output of :meth:`RBM.log_partition_ais` for one class.

    Attributes:
        log_z: ``log Z_hat`` in nats (Tensor ``[]``, float64): ``Z_hat`` is unbiased for ``Z``,
            so ``log Z_hat`` is low on average.
        log_weights: Tensor ``[chains]``, every chain's log importance weight.
        log_z_base: ``log Z_A`` of the base-rate model (exact).
        stderr: delta-method standard error of ``log Z_hat`` from the spread of the weights.
    """

    log_z: Tensor
    log_weights: Tensor
    log_z_base: float
    stderr: float


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor) -> Tensor:
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device).to(like.device, like.dtype)


def bernoulli(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``1`` with probability ``probs`` (float tensor of 0/1, ``probs``' dtype and shape)."""
    return (_uniform(tuple(probs.shape), generator, probs) < probs).to(probs.dtype)


@register_model("rbm")
class RBM(GenerativeModel):
    """Bernoulli-Bernoulli RBM over the ``C*H*W`` sub-pixels of binary images.

    Args:
        hidden: number of hidden units ``H``.
        cd_steps: Gibbs steps ``k`` of the negative phase (CD-k / PCD-k).
        persistent: persistent chains (PCD) instead of chains restarted at the data (CD).
        chains: number of persistent chains (the negative batch of PCD).
        gibbs_steps: Gibbs sweeps of ``sample`` (and of completion).
        ais_steps: intermediate distributions of AIS (``log_prob`` of large RBMs).
        ais_chains: AIS chains (importance samples).
        exact_max_units: compute ``Z`` exactly when the smaller layer has at most this many units.
        init_std: standard deviation of the initial weights ``W``.
    """

    density = "estimate"
    per_dim_log_prob = False
    completion = "gibbs"
    has_features = True
    reconstructs = True
    binary_only = True
    params: ClassVar[dict[str, Constraint]] = {
        "hidden": Int(min=1),
        "cd_steps": Int(min=1),
        "persistent": Bool(),
        "chains": Int(min=1),
        "gibbs_steps": Int(min=1),
        "ais_steps": Int(min=1),
        "ais_chains": Int(min=1),
        # the exact partition function enumerates 2**exact_max_units states
        "exact_max_units": Int(0, 30),
        "init_std": Float(min=0.0, min_open=True),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        hidden: int = 128,
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
        self.hidden, self.cd_steps, self.persistent = int(hidden), int(cd_steps), bool(persistent)
        self.gibbs_steps, self.ais_steps, self.ais_chains = gibbs_steps, ais_steps, ais_chains
        self.exact_max_units = int(exact_max_units)
        classes = 1 if num_classes is None else self.num_classes
        self.weight = nn.Parameter(torch.randn(self.num_dims, self.hidden) * init_std)
        self.visible_bias = nn.Parameter(torch.zeros(classes, self.num_dims))
        self.hidden_bias = nn.Parameter(torch.zeros(classes, self.hidden))
        #: persistent chains ``[chains, D]`` of PCD (chain i has label ``i % num_classes``)
        self.register_buffer("chains", torch.randint(0, 2, (int(chains), self.num_dims)).float())
        #: training images seen per class and, per sub-pixel, how many of them were 1: the AIS
        #: base rate (integers, so no precision cast touches them)
        self.register_buffer("data_ones", torch.zeros(classes, self.num_dims, dtype=torch.long))
        self.register_buffer("data_count", torch.zeros(classes, dtype=torch.long))
        self._log_z_cache: tuple[tuple, Tensor, list[AISEstimate] | None] | None = None

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # RBMs saved before the data counts existed load with none (base rate: visible biases)
        for name in ("data_ones", "data_count"):
            state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args)

    # ------------------------------------------------------------------ energies and conditionals
    def _labels(self, y: Tensor | None, batch: int) -> Tensor:
        if y is None:
            return torch.zeros(batch, dtype=torch.long, device=self.weight.device)
        return y.to(self.weight.device).long()

    def flat(self, x: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` in ``{0, 1}`` -> float visible vectors ``[B, D]``."""
        return x.reshape(x.shape[0], -1).to(self.weight.device, self.weight.dtype)

    def free_energy(self, v: Tensor, y: Tensor | None = None) -> Tensor:
        """``F(v) = -b.v - sum_j softplus(c_j + (v W)_j)``: float ``v [B, D]`` -> ``[B]``."""
        labels = self._labels(y, v.shape[0])
        visible = (v * self.visible_bias[labels]).sum(-1)
        return -visible - F.softplus(self.hidden_bias[labels] + v @ self.weight).sum(-1)

    def hidden_probs(self, v: Tensor, y: Tensor | None = None) -> Tensor:
        """``p(h_j = 1 | v)``: float ``v [B, D]`` -> ``[B, H]``."""
        return torch.sigmoid(self.hidden_bias[self._labels(y, v.shape[0])] + v @ self.weight)

    def visible_probs(self, h: Tensor, y: Tensor | None = None) -> Tensor:
        """``p(v_i = 1 | h)``: float ``h [B, H]`` -> ``[B, D]``."""
        return torch.sigmoid(self.visible_bias[self._labels(y, h.shape[0])] + h @ self.weight.T)

    def gibbs_step(
        self,
        v: Tensor,
        y: Tensor | None = None,
        generator: torch.Generator | None = None,
        clamp: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """One block-Gibbs sweep ``v -> h ~ p(h|v) -> v' ~ p(v|h)``: float ``[B, D]`` -> ``[B, D]``.

        ``clamp=(values, mask)`` (both ``[B, D]``) keeps ``values`` where ``mask`` is True.
        """
        h = bernoulli(self.hidden_probs(v, y), generator)
        v = bernoulli(self.visible_probs(h, y), generator)
        if clamp is not None:
            v = torch.where(clamp[1], clamp[0], v)
        return v

    # ------------------------------------------------------------------ training
    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """CD/PCD surrogate (see the module docstring) with monitoring metrics.

        Returns ``{"loss", "free_energy_gap", "reconstruction_error", "pseudo_bits_per_dim"}``;
        in eval mode ``loss`` is the pseudo-likelihood estimate in nats per sub-pixel.
        """
        self.check_input(x, y, c)
        # free energies are sums over hundreds of units: differences need fp32, not bf16
        with torch.autocast(self.weight.device.type, enabled=False):
            return self._loss(self.flat(x), self._labels(y, x.shape[0]))

    def _loss(self, v: Tensor, labels: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            pseudo = self._pseudo_log_likelihood(v, labels)
            recon = (self.visible_probs(self.hidden_probs(v, labels), labels) - v).pow(2)
        metrics = {
            "reconstruction_error": recon.sum(-1).mean(),
            "pseudo_bits_per_dim": -pseudo.mean() / (self.num_dims * math.log(2)),
        }
        if not self.training:
            return {"loss": -pseudo.mean() / self.num_dims, **metrics}
        self._count_data(v, labels)
        negative, weights = self._negative_phase(v, labels)
        data_term = self.free_energy(v, labels).mean()
        model_term = self.free_energy(negative, self._chain_labels(negative, labels)) * weights
        gap = (data_term - model_term.sum()) / self.num_dims
        return {"loss": gap, "free_energy_gap": gap.detach(), **metrics}

    @torch.no_grad()
    def _count_data(self, v: Tensor, labels: Tensor) -> None:
        """Add a training batch to the base rate's counts (binary ``v [B, D]``, ``labels [B]``)."""
        self.data_ones.index_add_(0, labels, v.round().long())
        self.data_count += torch.bincount(labels, minlength=self.data_count.shape[0])

    def _chain_labels(self, negative: Tensor, labels: Tensor) -> Tensor:
        if not self.persistent:
            return labels
        classes = self.visible_bias.shape[0]
        return torch.arange(negative.shape[0], device=negative.device) % classes

    @torch.no_grad()
    def _negative_phase(self, v: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Model samples and their weights in the negative term (weights sum to 1).

        PCD's chains have fixed labels (``i % classes``); each class's chains are weighted by
        that class's share of the batch, so the term estimates ``E_y E_{p(v|y)} F(v, y)``.
        """
        if not self.persistent:
            negative = v
            for _ in range(self.cd_steps):
                negative = self.gibbs_step(negative, labels)
            return negative, torch.full_like(labels, 1.0 / v.shape[0], dtype=v.dtype)
        chains = self.chains.to(v.dtype)
        chain_labels = self._chain_labels(chains, labels)
        for _ in range(self.cd_steps):
            chains = self.gibbs_step(chains, chain_labels)
        self.chains.copy_(chains)
        classes = self.visible_bias.shape[0]
        share = torch.bincount(labels, minlength=classes).to(v.dtype) / labels.numel()
        per_chain = torch.bincount(chain_labels, minlength=classes).clamp(min=1).to(v.dtype)
        return chains, (share / per_chain)[chain_labels]

    def _pseudo_log_likelihood(self, v: Tensor, labels: Tensor) -> Tensor:
        """``D * log p(v_i | v_-i)`` for one random sub-pixel ``i`` per image (global RNG)."""
        index = torch.randint(0, self.num_dims, (v.shape[0],), device=v.device)
        flipped = v.clone()
        rows = torch.arange(v.shape[0], device=v.device)
        flipped[rows, index] = 1.0 - flipped[rows, index]
        gap = self.free_energy(flipped, labels) - self.free_energy(v, labels)
        return self.num_dims * F.logsigmoid(gap)

    # ------------------------------------------------------------------ partition function
    def base_rate_logits(self) -> Tensor:
        """The AIS base-rate logits ``b_A``, float64 ``[classes, D]``.

        The smoothed log-odds of the training data's marginals, ``log((ones + a) / (count - ones
        + a))`` with ``a = BASE_RATE_PSEUDOCOUNT``, for every class the RBM saw training images
        of; the visible biases for a class it saw none of (a fresh or legacy model).
        """
        a = BASE_RATE_PSEUDOCOUNT
        ones, count = self.data_ones.double(), self.data_count.double()[:, None]
        marginal = torch.log(ones + a) - torch.log(count - ones + a)
        biases = self.visible_bias.detach().double().to(marginal.device)
        return torch.where(count > 0, marginal, biases)

    def _class_params(self, label: int) -> tuple[Tensor, Tensor, Tensor]:
        w, b, c = self.weight, self.visible_bias[label], self.hidden_bias[label]
        return w.detach().double(), b.detach().double(), c.detach().double()

    @torch.no_grad()
    def log_partition_exact(self) -> Tensor:
        """Exact ``log Z_y`` of every class, float64 ``[classes]``.

        Enumerates the ``2^min(D, H)`` states of the smaller layer and sums the other out
        analytically: ``log Z = logsumexp_h [c.h + sum_i softplus(b_i + (W h)_i)]`` (or the same
        over ``v`` with ``-F(v)``). Raises :class:`UnsupportedError` above ``exact_max_units``.
        """
        small = min(self.num_dims, self.hidden)
        if small > self.exact_max_units:
            raise UnsupportedError(
                f"the exact partition function enumerates 2^{small} states; that is above "
                f"exact_max_units={self.exact_max_units}; use log_partition_ais()"
            )
        out = []
        for label in range(self.visible_bias.shape[0]):
            w, b, c = self._class_params(label)
            if self.hidden <= self.num_dims:  # enumerate h
                w, b, c = w.T, c, b  # same formula with the layers' roles swapped
            terms = []
            for states in _binary_states(w.shape[0], w.device):
                terms.append(states @ b + F.softplus(c + states @ w).sum(-1))
            out.append(torch.cat(terms).logsumexp(0))
        return torch.stack(out)

    @torch.no_grad()
    def log_partition_ais(
        self,
        steps: int | None = None,
        chains: int | None = None,
        *,
        generator: torch.Generator | None = None,
        base_logits: Tensor | None = None,
        schedule: str = "linear",
    ) -> list[AISEstimate]:
        """AIS estimate of ``log Z_y`` for every class (Salakhutdinov & Murray 2008, section 3).

        The base-rate model ``A`` has ``W = 0``, visible logits ``b_A`` and the RBM's ``H`` hidden
        units at temperature 0, so ``log Z_A = H log 2 + sum_i softplus(b_A_i)`` and exact samples
        are independent Bernoullis. Intermediate distributions, for ``beta`` from 0 to 1::

            p_k*(v) = exp((1 - beta_k) b_A.v + beta_k b.v) prod_j (1 + exp(beta_k (c_j + (v W)_j)))

        Each chain starts at ``v_1 ~ p_A``; its log weight sums ``log p_k*(v_k) - log
        p_{k-1}*(v_k)`` and ``v_{k+1}`` is drawn by one Gibbs sweep that leaves ``p_k`` invariant.
        ``Z_hat = Z_A mean(w)`` is unbiased for ``Z``, so ``log Z_hat`` is low on average.

        Args:
            steps: intermediate distributions ``K`` (default: ``ais_steps``).
            chains: independent chains (default: ``ais_chains``).
            generator: the source of randomness (``None``: seeded with 0).
            base_logits: ``b_A``, ``[D]`` or ``[classes, D]`` (default:
                :meth:`base_rate_logits`, the training data's marginal log-odds as in the paper).
            schedule: ``"linear"`` or ``"sigmoid"`` spacing of ``beta``
                (:func:`genzoo.evaluation.ais.annealing_schedule`).

        Returns:
            One :class:`AISEstimate` per class.
        """
        from genzoo.evaluation.ais import annealing_schedule

        steps = int(self.ais_steps if steps is None else steps)
        n = int(self.ais_chains if chains is None else chains)
        if steps < 1 or n < 1:
            raise ConfigError(f"AIS needs steps >= 1 and chains >= 1, got {steps} and {n}")
        generator = generator or torch.Generator().manual_seed(0)
        betas = annealing_schedule(steps, schedule).tolist()
        results = []
        bases = self.base_rate_logits() if base_logits is None else base_logits
        for label in range(self.visible_bias.shape[0]):
            w, b, c = self._class_params(label)
            base = bases.detach().double().to(w.device)
            base = base[label] if base.dim() == 2 else base
            log_z_base = self.hidden * math.log(2) + float(F.softplus(base).sum())

            v = bernoulli(torch.sigmoid(base).expand(n, -1).contiguous(), generator)
            log_w = torch.zeros(n, dtype=torch.float64, device=w.device)
            for k in range(1, len(betas)):
                log_w += _annealed(v, betas[k], base, w, b, c) - _annealed(
                    v, betas[k - 1], base, w, b, c
                )
                if k < len(betas) - 1:  # a Gibbs sweep leaving p_k invariant
                    h = bernoulli(torch.sigmoid(betas[k] * (c + v @ w)), generator)
                    logits = (1 - betas[k]) * base + betas[k] * (b + h @ w.T)
                    v = bernoulli(torch.sigmoid(logits), generator)
            log_mean = log_w.logsumexp(0) - math.log(n)
            ratio = torch.exp(log_w - log_w.max())
            stderr = float(ratio.std() / (ratio.mean() * math.sqrt(n))) if n > 1 else math.nan
            results.append(AISEstimate(log_mean + log_z_base, log_w, log_z_base, stderr))
        return results

    @property
    def exact_partition(self) -> bool:
        """``log_partition`` is exact (the smaller layer has at most ``exact_max_units``)."""
        return min(self.num_dims, self.hidden) <= self.exact_max_units

    def log_partition(self, generator: torch.Generator | None = None) -> Tensor:
        """``log Z_y`` per class, float64 ``[classes]``: exact for small RBMs, else AIS (linear
        schedule, base rate :meth:`base_rate_logits`).

        Without a ``generator`` the value is cached until a parameter or the base rate changes.
        """
        tensors = [*self.parameters(), self.data_ones, self.data_count]  # the base rate too
        key = (
            tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in tensors),
            self.ais_steps,
            self.ais_chains,
        )
        if generator is None and self._log_z_cache is not None and self._log_z_cache[0] == key:
            return self._log_z_cache[1]
        runs = None
        if self.exact_partition:
            log_z = self.log_partition_exact()
        else:
            runs = self.log_partition_ais(generator=generator)
            log_z = torch.stack([r.log_z for r in runs])
        if generator is None:
            self._log_z_cache = (key, log_z, runs)
        return log_z

    @torch.no_grad()
    def log_partition_lower_bound(self, states: Tensor) -> Tensor:
        """A certain lower bound on ``log Z_y`` of every class, float64 ``[classes]``.

        ``Z_y = sum_v exp(-F_y(v)) >= sum_{v in S} exp(-F_y(v))`` for any set ``S`` of distinct
        visible states, so ``logsumexp_{v in S} -F_y(v) <= log Z_y`` with certainty (equal when
        ``S`` holds all ``2^D`` states). Duplicate rows of ``states`` are dropped first (counted
        twice they could push the sum above ``Z``).

        Args:
            states: binary visible states, ``[N, D]`` (any numeric dtype) or images
                ``[N, C, H, W]``.
        """
        if states.dim() != 2:
            states = states.reshape(states.shape[0], -1)
        if states.shape[-1] != self.num_dims or states.shape[0] == 0:
            raise ConfigError(
                f"the lower bound on log Z needs states [N >= 1, {self.num_dims}], got "
                f"{list(states.shape)}"
            )
        if not bool(((states == 0) | (states == 1)).all()):
            raise ConfigError("the lower bound on log Z takes binary states (0/1 values)")
        distinct = states.to(torch.uint8).unique(dim=0)
        out = []
        for label in range(self.visible_bias.shape[0]):
            w, b, c = self._class_params(label)
            terms = [
                chunk.to(w.device, w.dtype) @ b
                + F.softplus(c + chunk.to(w.device, w.dtype) @ w).sum(-1)
                for chunk in distinct.split(_BOUND_CHUNK)
            ]
            out.append(torch.cat(terms).logsumexp(0))
        return torch.stack(out)

    @torch.no_grad()
    def likelihood_checks(self, x: Tensor, y: Tensor | None = None) -> dict[str, dict[str, Any]]:
        """The checks of ``log_prob``'s AIS ``log Z`` (none when ``Z`` is exact), given training
        images ``x`` (LongTensor ``[N, C, H, W]``, binary; ``y`` is not needed: any distinct
        states bound every class's ``Z_y``). See :meth:`ais_checks`."""
        if self.exact_partition:
            return {}
        return self.ais_checks(self.log_partition_lower_bound(self.flat(x)))

    @torch.no_grad()
    def ais_checks(self, lower_bound: Tensor) -> dict[str, dict[str, Any]]:
        """Check the AIS ``log Z`` that ``log_prob`` uses against a certain lower bound, and run
        AIS again with the other schedule (``CHECK_SCHEDULE``, same seed).

        Args:
            lower_bound: a certain lower bound on ``log Z_y`` per class, ``[classes]``
                (:meth:`log_partition_lower_bound`).

        Returns:
            ``{"log_z_lower_bound": {"passed", "ais_log_z", "certain_lower_bound", "margin"},
            "schedule_spread": {"linear", "sigmoid", "spread", "stderr", "steps", "chains"}}``
            in nats (a float for an unconditional RBM, else one per class). ``passed`` is False
            when the AIS ``log Z`` is below the bound of some class: that ``log Z`` is provably
            too low, so the NLL it gives is too good by at least ``-margin`` nats per image. The
            spread has no verdict (AIS can agree with itself and still be low); ``stderr`` is
            the delta-method standard error of the ``log Z`` used. Empty when ``Z`` is exact.
        """
        if self.exact_partition:
            return {}
        used = self.log_partition().double().cpu()  # cached: the log Z log_prob used
        cache = self._log_z_cache
        first = cache[2] if cache is not None and cache[2] is not None else None
        if first is None:
            first = self.log_partition_ais(generator=torch.Generator().manual_seed(0))
        second = self.log_partition_ais(
            generator=torch.Generator().manual_seed(0), schedule=CHECK_SCHEDULE
        )
        other = torch.stack([r.log_z for r in second]).double().cpu()
        lower_bound = lower_bound.double().cpu()

        def shown(t: Tensor) -> float | list[float]:
            numbers = [float(v) for v in t]
            return numbers[0] if len(numbers) == 1 else numbers

        stderr = torch.tensor([r.stderr for r in first], dtype=torch.float64)
        return {
            "log_z_lower_bound": {
                "passed": bool((used >= lower_bound).all()),
                "ais_log_z": shown(used),
                "certain_lower_bound": shown(lower_bound),
                "margin": shown(used - lower_bound),
            },
            "schedule_spread": {
                "linear": shown(used),
                CHECK_SCHEDULE: shown(other),
                "spread": shown((used - other).abs()),
                "stderr": shown(stderr),
                "steps": int(self.ais_steps),
                "chains": int(self.ais_chains),
            },
        }

    # ------------------------------------------------------------------ the contract
    @torch.no_grad()
    def log_prob(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        per_dim: bool = False,
        log_z: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``log p(x | y) = -F(x) - log Z_y`` in nats, float64 ``[B]`` (see the module docstring).

        Args:
            x: LongTensor ``[B, C, H, W]`` in ``{0, 1}``; y: labels of a conditional RBM.
            log_z: ``log Z_y`` per class (``[classes]``) to use; default :meth:`log_partition`.
            generator: randomness of a fresh AIS estimate (default: the cached one, seed 0).
        """
        if per_dim:
            raise UnsupportedError(
                "an RBM has no per-sub-pixel conditionals: log p(x) = -F(x) - log Z is only "
                "defined for whole images"
            )
        self.check_input(x, y, c)
        log_z = self.log_partition(generator) if log_z is None else log_z
        labels = self._labels(y, x.shape[0])
        v = self.flat(x).double()
        w, b, c = self.weight.double(), self.visible_bias.double(), self.hidden_bias.double()
        free = -(v * b[labels]).sum(-1) - F.softplus(c[labels] + v @ w).sum(-1)
        return (-free - log_z.to(free.device)[labels]).to(
            torch.promote_types(self.dtype, free.dtype)
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
        steps: int | None = None,
    ) -> Tensor:
        """``steps`` (default ``gibbs_steps``) Gibbs sweeps from uniform noise: ``[n, C, H, W]``.

        With ``known``/``mask`` the known sub-pixels are clamped at every sweep.
        """
        x, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
        known_v = self.flat(x)
        clamp = (known_v, full_mask.reshape(n, -1)) if known is not None else None
        v = bernoulli(torch.full_like(known_v, 0.5), generator)
        if clamp is not None:
            v = torch.where(clamp[1], clamp[0], v)
        for _ in range(int(self.gibbs_steps if steps is None else steps)):
            v = self.gibbs_step(v, y, generator, clamp)
        return v.long().view(n, *self.shape)

    @torch.no_grad()
    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """Hidden probabilities ``p(h = 1 | x)``, ``[B, H]`` (use the class's biases if given)."""
        self.check_input(x, y, c)
        return self.hidden_probs(self.flat(x), y)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """Mean-field reconstruction ``p(v = 1 | p(h = 1 | x))`` thresholded at 0.5."""
        self.check_input(x, y, c)
        probs = self.visible_probs(self.hidden_probs(self.flat(x), y), y)
        return (probs > 0.5).long().view(x.shape[0], *self.shape)


def _annealed(v: Tensor, beta: float, base: Tensor, w: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """AIS's ``log p_beta*(v) = (1-beta) b_A.v + beta b.v + sum_j softplus(beta (c + v W)_j)``."""
    visible = v @ ((1 - beta) * base + beta * b)
    return visible + F.softplus(beta * (c + v @ w)).sum(-1)


def _binary_states(units: int, device: torch.device):
    """Every state of ``units`` binary units in chunks: float64 ``[<= chunk, units]`` each."""
    bits = 2 ** torch.arange(units - 1, -1, -1, device=device)
    for start in range(0, 2**units, _ENUMERATION_CHUNK):
        codes = torch.arange(start, min(start + _ENUMERATION_CHUNK, 2**units), device=device)
        yield ((codes[:, None] & bits) > 0).double()
