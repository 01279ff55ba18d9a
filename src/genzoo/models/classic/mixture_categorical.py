"""Mixture of independent per-pixel categoricals fitted by EM — Dempster, Laird & Rubin, "Maximum
likelihood from incomplete data via the EM algorithm", JRSS-B 1977; with the labels as the
components it is the naive Bayes classifier (e.g. Murphy, "Machine Learning: A Probabilistic
Perspective", 2012, sections 3.5 and 11.2).

``p(x) = sum_k w_k prod_d Cat(x_d; theta_{k,d})`` over the ``D = C*H*W`` sub-pixels (Bernoullis at
``levels == 2``: a mixture of Bernoullis). EM alternates

* E-step: responsibilities ``r_nk = w_k p_k(x_n) / sum_j w_j p_j(x_n)``;
* M-step with Dirichlet (Laplace) smoothing ``alpha``::

      theta_{k,d,l} = (sum_n r_nk [x_nd = l] + alpha) / (N_k + alpha * levels)
      w_k           = (N_k + alpha) / (N + alpha * K),      N_k = sum_n r_nk

This is MAP-EM under Dirichlet(``alpha + 1``) priors: it never lowers the *penalised*
log-likelihood ``sum_n log p(x_n) + alpha (sum log theta + sum log w)`` (reported as
``objective_nats`` per image); with ``alpha = 0`` it is maximum-likelihood EM, which never lowers
the log-likelihood itself, but values unseen in training then get probability 0 (``log 0``).

Class-conditional (``num_classes``, ``genzoo train --conditional``): one mixture per class and
the label frequencies as class prior; ``components = 1`` gives **naive Bayes** (one closed-form
M-step: the smoothed per-class pixel histograms), ``predict``/``predict_proba`` classify by
Bayes' rule (:class:`~genzoo.models.classic.mixture.MixtureModel`).

Exact likelihood. The mixture is also exactly autoregressive in raster order:
``log p(x_d | x_<d) = logsumexp_k(a_kd + log theta_{k,d,x_d}) - logsumexp_k a_kd`` with
``a_kd = log w_k + sum_{d' < d} log theta_{k,d',x_d'}`` (the posterior over components given the
earlier sub-pixels), so ``per_dim`` and ``logits`` follow the shared contract. Completion is exact
for any mask: the component is drawn from its posterior given the known sub-pixels, then the
unknown ones independently.

Deviations: initialisation puts each component halfway between the group's pixel histograms
and one random training image of the group (no k-means, no restarts); the first E-step follows.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Float
from genzoo.distributions.categorical import inverse_cdf_sample
from genzoo.models.classic.mixture import Callback, MixtureModel, _uniform
from genzoo.models.registry import register_model

#: entries of the ``[n, K, D]`` index held at once by the E- and M-steps
_CHUNK_ELEMENTS = 2**22


@register_model("mixture_categorical")
class CategoricalMixture(MixtureModel):
    """Mixture of per-sub-pixel categoricals (naive Bayes when conditional with 1 component).

    Args:
        components: mixture components ``K`` (per class when class-conditional).
        alpha: Dirichlet/Laplace smoothing pseudo-count (``0``: maximum likelihood).
        max_iter: at most this many EM iterations.
        tol: stop when the mean training log-likelihood per image changes by less than this.
    """

    density = "exact"
    params: ClassVar[dict[str, Constraint]] = {"alpha": Float(min=0.0)}

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        components: int = 10,
        alpha: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-4,
    ) -> None:
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            components=components,
            max_iter=max_iter,
            tol=tol,
        )
        self.alpha = float(alpha)
        size = (self.groups, self.components, self.num_dims, self.levels)
        #: ``log theta_{g,k,d,l}``, float ``[G, K, D, levels]``
        self.register_buffer("log_theta", torch.full(size, -math.log(self.levels)))

    # ------------------------------------------------------------------ densities
    def _index(self, x: Tensor, components: int) -> Tensor:
        """Flat index of ``theta[k, d, x_d]`` for every ``k``: LongTensor ``[N, components, D]``."""
        d, levels = self.num_dims, self.levels
        base = (torch.arange(components, device=x.device)[:, None] * d + torch.arange(d)) * levels
        return base + x[:, None, :]

    def _per_component(self, x: Tensor, log_theta: Tensor) -> Tensor:
        """``sum_d log theta[k, d, x_d]``: ``x [N, D]``, ``log_theta [K, D, L]`` -> ``[N, K]``."""
        k = log_theta.shape[0]
        flat = log_theta.double().reshape(-1)
        step = max(1, _CHUNK_ELEMENTS // (k * self.num_dims))
        parts = [flat[self._index(x[s : s + step], k)].sum(-1) for s in range(0, len(x), step)]
        return torch.cat(parts) if parts else flat.new_zeros(0, k)

    def component_log_prob(self, x: Tensor) -> Tensor:
        g, k = self.groups, self.components
        return self._per_component(x, self.log_theta.flatten(0, 1)).view(-1, g, k)

    def _prefix_terms(self, x: Tensor, y: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Per-sub-pixel terms in generation order: ``(a [B, K, D], log_theta [B, K, D, L],
        order [D])``, ``a`` being ``log w_k`` plus the log-probabilities of earlier sub-pixels."""
        self.check_input(x, y)
        group = self._group(y, x.shape[0])
        c, h, w = self.shape
        order = torch.arange(self.num_dims).view(c, h, w).permute(1, 2, 0).flatten()
        log_theta = self.log_theta.double()[group][:, :, order]  # [B, K, D, L]
        xs = self.flat(x)[:, order]
        index = xs[:, None, :, None].expand(-1, self.components, -1, 1)
        terms = log_theta.gather(3, index).squeeze(-1)  # [B, K, D]
        before = terms.cumsum(-1) - terms
        return self.log_weights.double()[group][:, :, None] + before, log_theta, order

    @torch.no_grad()
    def log_prob_per_dim(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """``log p(x_d | x_<d)`` in raster order (row, column, colour): ``[B, C, H, W]``."""
        logits = self.logits(x, y)
        return logits.gather(1, x.long().to(logits.device).unsqueeze(1)).squeeze(1)

    @torch.no_grad()
    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Normalised ``log p(x_d = l | x_<d)``, every level: float64 ``[B, levels, C, H, W]``."""
        a, log_theta, order = self._prefix_terms(x, y)
        joint = (a[..., None] + log_theta).logsumexp(1)  # [B, D, L]
        conditional = joint - joint.logsumexp(-1, keepdim=True)
        out = torch.empty_like(conditional)
        out[:, order] = conditional
        return out.movedim(-1, 1).reshape(x.shape[0], self.levels, *self.shape)

    # ------------------------------------------------------------------ sampling
    def _draw(self, log_theta: Tensor, generator: torch.Generator | None) -> Tensor:
        """One level per row of ``log_theta [..., L]``: LongTensor ``[...]``."""
        flat = log_theta.reshape(-1, self.levels)
        u = _uniform((flat.shape[0],), generator, flat.device)
        return inverse_cdf_sample(flat, u).view(log_theta.shape[:-1])

    def _sample_components(
        self, group: Tensor, component: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        return self._draw(self.log_theta[group, component], generator)

    def _complete(
        self, group: Tensor, x: Tensor, observed: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        index = x[:, None, :, None].expand(-1, self.components, -1, 1)
        terms = self.log_theta.double()[group].gather(3, index).squeeze(-1)  # [n, K, D]
        posterior = self.log_weights.double()[group] + (terms * observed[:, None]).sum(-1)
        u = _uniform((x.shape[0],), generator, x.device)
        component = inverse_cdf_sample(posterior, u)
        return torch.where(observed, x, self._sample_components(group, component, generator))

    # ------------------------------------------------------------------ EM
    def _m_step(self, g: int, x: Tensor, resp: Tensor) -> None:
        k, d, levels = self.components, self.num_dims, self.levels
        counts = torch.zeros(k * d * levels, dtype=torch.float64, device=x.device)
        step = max(1, _CHUNK_ELEMENTS // (k * d))
        for s in range(0, len(x), step):
            r = resp[s : s + step]
            weights = r[:, :, None].expand(-1, -1, d)
            counts.index_add_(0, self._index(x[s : s + step], k).flatten(), weights.flatten())
        counts = counts.view(k, d, levels) + self.alpha
        self.log_theta[g] = (counts / counts.sum(-1, keepdim=True)).log()
        sizes = resp.sum(0) + self.alpha
        self.log_weights[g] = (sizes / sizes.sum()).log()

    def _e_step(self, g: int, x: Tensor) -> tuple[Tensor, Tensor]:
        joint = self.log_weights[g].double() + self._per_component(x, self.log_theta[g])
        log_norm = joint.logsumexp(-1)
        return log_norm, (joint - log_norm[:, None]).exp()

    def _penalty(self) -> float:
        """``alpha (sum log theta + sum log w)`` (the log Dirichlet priors up to constants)."""
        if self.alpha == 0:
            return 0.0
        total = self.log_theta.double().sum() + self.log_weights.double().sum()
        return float(self.alpha * total)

    def _initialise(self, g: int, x: Tensor, generator: torch.Generator) -> None:
        """Component ``k`` halfway between the group's pixel histograms and the ``k``-th of ``K``
        random images of the group (mixed with 0.1% uniform so that nothing is ``log 0``)."""
        d, levels = self.num_dims, self.levels
        flat = (torch.arange(d, device=x.device) * levels + x).flatten()
        hist = torch.bincount(flat, minlength=d * levels).double().view(d, levels) / len(x)
        seeds = x[torch.randperm(len(x), generator=generator)[: self.components].to(x.device)]
        onehot = torch.nn.functional.one_hot(seeds, levels).double()  # [K, D, L]
        theta = 0.999 * (0.5 * hist + 0.5 * onehot) + 0.001 / levels
        self.log_theta[g] = theta.log()
        self.log_weights[g] = -math.log(self.components)

    @torch.no_grad()
    def _fit_groups(
        self, xs: list[Tensor], generator: torch.Generator, max_iter: int, callback: Callback
    ) -> None:
        if self.components == 1:
            resp = [torch.ones(len(x), 1, dtype=torch.float64, device=x.device) for x in xs]
        else:
            for g, x in enumerate(xs):
                self._initialise(g, x, generator)
            resp = [self._e_step(g, x)[1] for g, x in enumerate(xs)]
        previous = None
        n = sum(len(x) for x in xs)
        for _ in range(max_iter):
            for g, x in enumerate(xs):
                self._m_step(g, x, resp[g])
            total = 0.0
            for g, x in enumerate(xs):
                log_norm, resp[g] = self._e_step(g, x)
                total += float(log_norm.sum())
            objective = (total + self._penalty()) / n
            stop = callback(total, {"objective_nats": objective})
            converged = previous is not None and abs(total - previous) / n < self.tol
            if stop or converged or self.components == 1:  # one component: closed form
                return
            previous = total
