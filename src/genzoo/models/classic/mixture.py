"""What the EM-fitted mixture models share: groups, class priors, fitting loop and classification.

A mixture over images ``x`` (flattened to ``D`` sub-pixels) with ``K`` components::

    p(x) = sum_k w_k p_k(x)

Class-conditional (``num_classes = G``): one mixture per class, ``p(x | y) = sum_k w_{y,k}
p_{y,k}(x)``, and a class prior ``pi_y`` (the label frequencies). This makes a *generative
classifier*: ``p(y | x) = pi_y p(x | y) / sum_c pi_c p(x | c)`` (:meth:`MixtureModel.
predict_proba`); with one component per class and per-pixel categoricals it is naive Bayes.
Unconditional models are the case ``G = 1``.

Every parameter is a buffer (no gradients): these models declare ``procedure = "fit"`` and the
engine calls :meth:`MixtureModel.fit`, which runs the subclass's EM (``_fit_groups``) on all
groups in lockstep — iteration ``t`` updates every class's mixture — so one row of metrics is
one iteration. Subclasses define the hooks ``component_log_prob``, ``_fit_groups``,
``_sample_components`` and ``_complete``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from genzoo.core.params import Constraint, Float, Int
from genzoo.distributions.categorical import inverse_cdf_sample
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.base import GenerativeModel

Callback = Callable[[dict[str, float]], bool | None]


class MixtureModel(GenerativeModel):
    """Base class of EM-fitted mixtures (see the module docstring).

    Buffers: ``log_class_prior [G]``, ``log_weights [G, K]``, ``fitted []`` (0/1).
    """

    procedure = "fit"
    completion = "exact-conditional"
    has_features = True
    classifies = True
    params: ClassVar[dict[str, Constraint]] = {
        "components": Int(min=1),
        "max_iter": Int(min=1),
        "tol": Float(min=0.0),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None,
        components: int,
        max_iter: int,
        tol: float,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.components, self.max_iter, self.tol = int(components), int(max_iter), float(tol)
        groups = 1 if num_classes is None else self.num_classes
        self.register_buffer("log_class_prior", torch.full((groups,), -math.log(groups)))
        self.register_buffer(
            "log_weights", torch.full((groups, self.components), -math.log(self.components))
        )
        self.register_buffer("fitted", torch.zeros(()))

    @property
    def groups(self) -> int:
        """``G``: the number of classes, 1 for an unconditional model."""
        return self.log_weights.shape[0]

    # ------------------------------------------------------------------ hooks
    def component_log_prob(self, x: Tensor) -> Tensor:
        """``log p_{g,k}(x)`` (a lower bound for a continuous model): LongTensor ``[B, D]`` ->
        float64 ``[B, G, K]``."""
        raise NotImplementedError

    def _fit_groups(
        self, xs: list[Tensor], generator: torch.Generator, max_iter: int, callback: Callback
    ) -> None:
        """Run EM on every group's images ``xs[g]`` (``[N_g, D]``) in lockstep, setting the
        buffers after every iteration and calling ``callback(sum of log p(x_n | g_n), extra)``."""
        raise NotImplementedError

    def _sample_components(
        self, group: Tensor, component: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """Images ``[n, D]`` drawn from components ``(group[i], component[i])``."""
        raise NotImplementedError

    def _complete(
        self, group: Tensor, x: Tensor, observed: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """Draw the unobserved sub-pixels of ``x [n, D]`` (``observed [n, D]`` bool) given the
        observed ones, for the mixture of group ``group[i]``: ``[n, D]``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ densities
    def flat(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> LongTensor ``[B, D]`` on the model's device."""
        return x.reshape(x.shape[0], -1).long().to(self.log_weights.device)

    def _group(self, y: Tensor | None, batch: int) -> Tensor:
        if y is None:
            return torch.zeros(batch, dtype=torch.long, device=self.log_weights.device)
        return y.long().to(self.log_weights.device)

    @torch.no_grad()
    def joint_log_prob(self, x: Tensor) -> Tensor:
        """``log pi_g + log w_gk + log p_gk(x)``: ``[B, C, H, W]`` -> float64 ``[B, G, K]``."""
        self.check_input(x, self.default_labels(x.shape[0]))  # labels play no part here
        prior = self.log_class_prior.double()[:, None] + self.log_weights.double()
        return prior + self.component_log_prob(self.flat(x))

    @torch.no_grad()
    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        """``log p(x)`` (``log p(x | y)`` for a conditional model) in nats, float64 ``[B]``."""
        if per_dim:
            return self.log_prob_per_dim(x, y)
        self.check_input(x, y, c)
        group = self._group(y, x.shape[0])
        comp = self.component_log_prob(self.flat(x))[torch.arange(x.shape[0]), group]
        return (self.log_weights.double()[group] + comp).logsumexp(-1)

    @torch.no_grad()
    def marginal_log_prob(self, x: Tensor) -> Tensor:
        """``log p(x) = log sum_{g,k} pi_g w_gk p_gk(x)`` (the label summed out), float64 ``[B]``;
        equals :meth:`log_prob` for an unconditional model."""
        return self.joint_log_prob(x).flatten(1).logsumexp(-1)

    def log_prob_per_dim(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        raise UnsupportedError(
            f"{self.name} has no per-sub-pixel conditionals; log_prob is per image"
        )

    # ------------------------------------------------------------------ classification
    def _check_classifier(self) -> None:
        if self.num_classes is None:
            raise UnsupportedError(
                f"this {self.name} is unconditional; build it with num_classes (genzoo train "
                "--conditional) to classify"
            )

    @torch.no_grad()
    def predict_log_proba(self, x: Tensor) -> Tensor:
        """``log p(y | x)`` by Bayes' rule: ``[B, C, H, W]`` -> float64 ``[B, num_classes]``."""
        self._check_classifier()
        per_class = self.joint_log_prob(x).logsumexp(-1)
        return per_class - per_class.logsumexp(-1, keepdim=True)

    def predict_proba(self, x: Tensor) -> Tensor:
        """``p(y | x)``, float64 ``[B, num_classes]`` (rows sum to 1)."""
        return self.predict_log_proba(x).exp()

    def predict(self, x: Tensor) -> Tensor:
        """The most probable class, LongTensor ``[B]``."""
        return self.predict_log_proba(x).argmax(-1)

    @torch.no_grad()
    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """Log-responsibilities ``log p(g, k | x)`` over every (class, component): ``[B, G*K]``.

        ``y`` is ignored: the posterior runs over the classes too, so the features never see
        the label (fit for a linear probe).
        """
        self.check_input(x, y, c)
        joint = self.joint_log_prob(x).flatten(1)
        return (joint - joint.logsumexp(-1, keepdim=True)).float()

    # ------------------------------------------------------------------ sampling
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
        """Ancestral samples: component ``k ~ w_y``, then ``x ~ p_{y,k}``: ``[n, C, H, W]``.

        With ``known``/``mask``: the unknown sub-pixels given the known ones (see the model).
        """
        x, full_mask, y = self.prepare_sampling(n, y, known, mask, c)
        group = self._group(y, n)
        if known is not None:
            out = self._complete(group, self.flat(x), full_mask.reshape(n, -1), generator)
            return torch.where(full_mask, x, out.view(n, *self.shape))
        u = _uniform((n,), generator, self.log_weights.device)
        component = inverse_cdf_sample(self.log_weights.double()[group], u)
        return self._sample_components(group, component, generator).view(n, *self.shape)

    # ------------------------------------------------------------------ fitting
    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Negative log-likelihood metrics (no gradients: these models are fitted by EM)."""
        out = super().loss(x, y, c=c)
        return {k: v.detach().float() for k, v in out.items()}

    def fit(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
        max_iter: int | None = None,
        callback: Callback | None = None,
    ) -> list[dict[str, float]]:
        """Fit by EM (see :meth:`GenerativeModel.fit`); labels ``y`` for a conditional model.

        The class prior is the label frequencies. Returns one dict per iteration with the
        training ``nll_nats`` (per image), ``bits_per_dim``, ``loss`` (nats per sub-pixel) and
        the model's extras (e.g. the penalised ``objective`` that MAP-EM never lowers).
        """
        self.check_input(x, y, c)
        max_iter = self.max_iter if max_iter is None else int(max_iter)
        if max_iter < 1:
            raise ConfigError(f"max_iter must be a positive integer, got {max_iter}")
        generator = generator or torch.Generator().manual_seed(0)
        flat, group = self.flat(x), self._group(y, x.shape[0])
        counts = torch.bincount(group, minlength=self.groups)
        empty = [g for g in range(self.groups) if int(counts[g]) < self.components]
        if empty:
            raise ConfigError(
                f"{self.name}: class(es) {empty} have fewer training images than components "
                f"({self.components}); lower --components or add data"
            )
        self.log_class_prior.copy_((counts.double() / counts.sum()).log())
        history: list[dict[str, float]] = []
        n, d = x.shape[0], self.num_dims

        def record(total_log_likelihood: float, extra: dict[str, float]) -> bool:
            nll = -total_log_likelihood / n
            row = {"loss": nll / d, "nll_nats": nll, "bits_per_dim": nll / (d * math.log(2))}
            row.update(extra)
            history.append(row)
            self.fitted.fill_(1.0)
            return bool(callback(row)) if callback is not None else False

        self._fit_groups(
            [flat[group == g] for g in range(self.groups)], generator, max_iter, record
        )
        return history


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: Any) -> Tensor:
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source, dtype=torch.float64).to(device)
