"""Fully visible belief networks: the image as one sequence of ``D = C*H*W`` sub-pixels.

The shared machinery of ``fvsbn``, ``nade`` and ``made`` (Frey 1998's name for models that
write ``p(x) = prod_d p(x_d | x_<d)`` with every variable visible). The image is flattened in
the contract's generation order — raster scan over pixels, then channels — so sequence position
``s = (i W + j) C + c`` holds sub-pixel ``(c, i, j)`` (:func:`to_sequence`, :func:`from_sequence`).

A model may define ``M >= 1`` *components*, autoregressive models in their own orders
``orders[m]`` (permutations of sequence positions) that share the weights (NADE's order-agnostic
training, MADE's order- and connectivity-agnostic training). Its density is the uniform mixture

    p(x) = (1/M) sum_m p_m(x),   log p(x) = logsumexp_m log p_m(x) - log M,

a normalized distribution because every ``p_m`` is (averaging *probabilities*, not log-
probabilities, keeps the normalization). Then:

* every order is raster (``M = 1``, or connectivity ensembles): the mixture is itself
  autoregressive in raster order with the exact conditionals
  ``p(x_d | x_<d) = sum_m w_m p_m(x_d | x_<d)``, ``w_m ∝ p_m(x_<d)`` (running sums of log-
  probabilities), so :meth:`logits`, ``per_dim``, the shared sampling loop and exact completion
  of raster prefixes all hold;
* some order is not raster: ``log_prob`` is the mixture above but raster-order conditionals are
  intractable (``per_dim=True`` raises). :meth:`sample` draws a component per image uniformly,
  then samples in that component's order — exact samples of the mixture. Completion then fixes
  the given sub-pixels and samples the others in the component's order: an approximation (the
  component is not drawn from its posterior given the known pixels, and a component's earlier
  conditionals ignore given pixels that come later in its order).

Inputs to a network: ``"scaled"`` (each sub-pixel one value in ``[-1, 1]``) or ``"onehot"``
(``levels`` indicator units per sub-pixel, unit ``e * D + s``); for ``levels == 2`` both span the
same family of conditionals (one-hot's extra unit is absorbed by a bias).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.core.params import OneOf
from genzoo.distributions import inverse_cdf_sample
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.autoregressive.base import SAMPLING_METHODS, AutoregressiveModel
from genzoo.nn.made import AutoregressiveMLP, IncrementalMADE

INPUTS = ("scaled", "onehot")
#: the parameter-table entry of a model's ``inputs`` (:mod:`genzoo.core.params`)
INPUTS_CHOICE = OneOf(*INPUTS)


def to_sequence(x: Tensor) -> Tensor:
    """``[B, C, H, W] -> [B, D]`` in generation order (raster scan, then channels)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def from_sequence(t: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`to_sequence` on the last axis: ``[B, ..., D] -> [B, ..., C, H, W]``."""
    c, h, w = shape
    lead = t.shape[:-1]
    t = t.reshape(*lead, h, w, c)
    n = len(lead)
    return t.permute(*range(n), n + 2, n, n + 1)


def random_orders(count: int, dim: int, generator: torch.Generator) -> Tensor:
    """``[count, D]``: the raster order first, then ``count - 1`` random permutations."""
    others = [torch.randperm(dim, generator=generator) for _ in range(count - 1)]
    return torch.stack([torch.arange(dim), *others])


class OrderedStepper(Protocol):
    """Sampling state for images generated in per-image orders ``order [n, D]``.

    ``logits(x, k)`` is called for ``k = 0 .. D-1`` in turn with the images as sequences
    (LongTensor ``[n, D]``, :func:`to_sequence`); when it is called the positions
    ``order[:, :k]`` of ``x`` hold their final values. Returns the logits ``[n, levels]`` of
    position ``order[b, k]`` of every image ``b``.
    """

    def logits(self, x: Tensor, k: int) -> Tensor: ...


class FullyVisibleBeliefNetwork(AutoregressiveModel):
    """Base class: a uniform mixture of ``M`` autoregressive components over the sequence.

    Subclasses call ``super().__init__`` with their ``orders [M, D]`` and define
    :meth:`component_logits`; they may override :meth:`training_log_prob` (order-agnostic
    training) and :meth:`ordered_sampler` (a fast sampler for non-raster orders).
    """

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        orders: Tensor | None = None,
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        d = self.num_dims
        orders = torch.arange(d)[None] if orders is None else orders
        self.register_buffer("orders", orders.long().contiguous(), persistent=False)
        #: every component generates in raster order (the contract's loop and conditionals)
        self.raster = bool((self.orders == torch.arange(d)).all())

    @property
    def num_components(self) -> int:
        return self.orders.shape[0]

    # -------------------------------------------------------------- subclass interface
    def component_logits(self, x: Tensor, y: Tensor | None, m: int) -> Tensor:
        """Logits ``[B, levels, D]`` of component ``m`` for sequences ``x`` (LongTensor ``[B, D]``).

        Position ``s`` may depend only on the positions before ``s`` in ``orders[m]``.
        """
        raise NotImplementedError

    def training_log_prob(self, x: Tensor, y: Tensor | None) -> Tensor:
        """``[B]`` log-likelihood the training loss maximises (default: :meth:`log_prob`)."""
        return self.log_prob(x, y)

    def ordered_sampler(self, n: int, y: Tensor | None, component: Tensor) -> OrderedStepper | None:
        """A fast stepper for images ``b`` generated in ``orders[component[b]]``, or ``None``."""
        return None

    # -------------------------------------------------------------- mixture
    def component_log_probs(
        self, x: Tensor, y: Tensor | None, components: list[int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Log-softmax logits ``[M, B, levels, D]`` and ``log p_m(x_s | ...)`` ``[M, B, D]`` of
        ``x [B, C, H, W]`` under the given components (default: all), in float32."""
        seq = to_sequence(x)
        components = range(self.num_components) if components is None else components
        lsm = torch.stack([F.log_softmax(self.component_logits(seq, y, m).float(), 1)
                           for m in components])  # fmt: skip
        picked = lsm.gather(2, seq[None, :, None].expand(lsm.shape[0], -1, 1, -1)).squeeze(2)
        return lsm, picked

    def logits(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Raster-order conditionals ``[B, levels, C, H, W]`` of the mixture (see the module)."""
        if not self.raster:
            raise UnsupportedError(
                f"this {self.name} mixes components in non-raster orders; its raster-order "
                "conditionals are intractable. Use log_prob (the exact mixture) and sample"
            )
        seq = to_sequence(x.long())
        if self.num_components == 1:
            return from_sequence(self.component_logits(seq, y, 0), self.shape)
        lsm, picked = self.component_log_probs(x, y)
        before = F.pad(picked.cumsum(-1)[..., :-1], (1, 0))  # log p_m(x_<s)  [M, B, D]
        mixed = torch.logsumexp(before[:, :, None] + lsm, 0) - torch.logsumexp(before, 0)[:, None]
        return from_sequence(mixed, self.shape)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The contract's network interface: ``x`` scaled to ``[-1, 1]`` -> :meth:`logits`."""
        x_int = torch.round((x.detach() + 1.0) * ((self.levels - 1) / 2.0)).long()
        return self.logits(x_int.clamp_(0, self.levels - 1), y)

    def log_prob(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None, per_dim: bool = False
    ) -> Tensor:
        """Exact ``log p(x)`` ``[B]`` of the mixture (nats); ``per_dim`` needs raster orders."""
        if self.raster:
            return super().log_prob(x, y, c=c, per_dim=per_dim)
        if per_dim:
            raise UnsupportedError(
                f"this {self.name} mixes components in non-raster orders; per-sub-pixel "
                "raster conditionals are intractable, only the total log_prob is exact"
            )
        self.check_input(x, y, c)
        _, picked = self.component_log_probs(x.to(self.device).long(), y)
        return torch.logsumexp(picked.sum(-1), 0) - math.log(self.num_components)

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """NLL per sub-pixel; in training mode of :meth:`training_log_prob` (one component or
        a random order per batch with agnostic training), in eval mode of the mixture."""
        log_p = self.training_log_prob(x, y) if self.training else self.log_prob(x, y, c=c)
        nll = -log_p.mean()
        per_dim = nll / self.num_dims
        return {
            "loss": per_dim,
            "nll_nats": nll.detach(),
            "bits_per_dim": per_dim.detach() / math.log(2),
        }

    # -------------------------------------------------------------- sampling
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
        method: str = "auto",
    ) -> Tensor:
        """As :meth:`AutoregressiveModel.sample`; with non-raster components, one component per
        image (uniform) and sampling in its order (completion is then approximate)."""
        if self.raster:
            return super().sample(
                n, y, c=c, generator=generator, known=known, mask=mask, method=method
            )
        if method not in SAMPLING_METHODS:
            raise ConfigError(
                f"unknown sampling method {method!r}; available: {', '.join(SAMPLING_METHODS)}"
            )
        was_training = self.training
        self.eval()
        try:
            x, mask, y = self.prepare_sampling(n, y, known, mask, c)
            u = to_sequence(self._uniforms(n, generator))
            device = generator.device if generator is not None else torch.device("cpu")
            component = torch.randint(
                self.num_components, (n,), generator=generator, device=device
            ).to(self.device)
            stepper = None if method == "naive" else self.ordered_sampler(n, y, component)
            if stepper is None and method == "cached":
                raise UnsupportedError(
                    f"{self.name} has no cached sampler; use method='naive' (or 'auto')"
                )
            stepper = stepper or _NaiveStepper(self, y, component)
            seq, given = to_sequence(x), to_sequence(mask)
            order = self.orders[component]  # [n, D]
            rows = torch.arange(n, device=self.device)
            for k in range(self.num_dims):
                s = order[:, k]
                drawn = inverse_cdf_sample(stepper.logits(seq, k), u[rows, s])
                seq[rows, s] = torch.where(given[rows, s], seq[rows, s], drawn)
            return from_sequence(seq, self.shape).contiguous()
        finally:
            self.train(was_training)


class _NaiveStepper:
    """A full forward pass of each image's component at every step."""

    def __init__(self, model: FullyVisibleBeliefNetwork, y: Tensor | None, component: Tensor):
        self.model, self.y = model, y
        self.groups = [(m, (component == m).nonzero().squeeze(1)) for m in component.unique()]

    def logits(self, x: Tensor, k: int) -> Tensor:
        out = x.new_empty(x.shape[0], self.model.levels, dtype=self.model.dtype)
        for m, rows in self.groups:
            y = None if self.y is None else self.y[rows]
            s = self.model.orders[m, k]
            out[rows] = self.model.component_logits(x[rows], y, int(m))[:, :, s].to(out.dtype)
        return out


class MaskedNetworkModel(FullyVisibleBeliefNetwork):
    """Components given by one MADE network (:class:`AutoregressiveMLP`) with one mask set per
    component: FVSBN (no hidden layer) and MADE. ``self.net`` and ``self.inputs`` are set by
    :meth:`build_network`."""

    def build_network(
        self,
        inputs: str,
        hidden: int,
        num_hidden_layers: int,
        degrees_generator: torch.Generator | None = None,
    ) -> None:
        self.inputs = inputs  # checked by the model's parameter table (INPUTS_CHOICE)
        self.net = AutoregressiveMLP(
            self.num_dims,
            hidden,
            num_hidden_layers,
            self.levels,
            self.num_classes or 0,
            self.orders,
            inputs_per_dim=self.levels if inputs == "onehot" else 1,
            activation="relu",
            degrees_generator=degrees_generator,
        )

    def encode(self, x: Tensor) -> Tensor:
        """Network inputs of sequences ``x [B, D']``: ``[B, D']`` scaled or ``[B, levels * D']``
        one-hot (unit ``e * D' + s``)."""
        if self.inputs == "scaled":
            return self.scale(x)
        return F.one_hot(x, self.levels).to(self.dtype).transpose(1, 2).flatten(1)

    def context(self, y: Tensor | None) -> Tensor | None:
        """One-hot labels ``[B, num_classes]`` (the network's unmasked context) or ``None``."""
        if self.num_classes is None or y is None:
            return None
        return F.one_hot(y.long(), self.num_classes).to(self.dtype)

    def component_logits(self, x: Tensor, y: Tensor | None, m: int) -> Tensor:
        return self.net(self.encode(x), self.context(y), m)

    def incremental_sampler(self, n: int, y: Tensor | None) -> _RasterCache | None:
        if self.num_components > 1:
            return None  # the mixture's conditionals need every component: naive loop
        return _RasterCache(self, n, y)

    def ordered_sampler(self, n: int, y: Tensor | None, component: Tensor) -> _OrderedCache:
        return _OrderedCache(self, n, y, component)


class _RasterCache:
    """The contract's :class:`IncrementalSampler` for one raster-order component."""

    def __init__(self, model: MaskedNetworkModel, n: int, y: Tensor | None) -> None:
        self.model = model
        self.steps = IncrementalMADE(model.net, n, model.context(y))

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:
        colors, _, width = self.model.shape
        s = (i * width + j) * colors + c
        if s > 0:  # the previous position is final now
            pixel, c_prev = divmod(s - 1, colors)
            value = x[:, c_prev, pixel // width, pixel % width]
            self.steps.add(s - 1, self.model.encode(value[:, None]))
        return self.steps.outputs(s)


class _OrderedCache:
    """One :class:`IncrementalMADE` per component present, on that component's images."""

    def __init__(
        self, model: MaskedNetworkModel, n: int, y: Tensor | None, component: Tensor
    ) -> None:
        self.model = model
        self.groups = []
        for m in component.unique():
            rows = (component == m).nonzero().squeeze(1)
            context = model.context(None if y is None else y[rows])
            self.groups.append(
                (int(m), rows, IncrementalMADE(model.net, rows.numel(), context, int(m)))
            )

    def logits(self, x: Tensor, k: int) -> Tensor:
        out = x.new_empty(x.shape[0], self.model.levels, dtype=self.model.dtype)
        for m, rows, steps in self.groups:
            order = self.model.orders[m]
            if k > 0:
                prev = int(order[k - 1])
                steps.add(prev, self.model.encode(x[rows, prev, None]))
            out[rows] = steps.outputs(int(order[k]))
        return out
