"""MADE building blocks — Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for
Distribution Estimation", ICML 2015.

An MLP whose weight matrices are multiplied by fixed 0/1 masks so that output ``i`` depends only on
the inputs that come *strictly before* ``i`` in a chosen order. The masks follow from *degrees*:

* input dimension ``order[k]`` has degree ``k + 1`` (``1 .. D``);
* hidden unit ``u`` of a layer of width ``H`` has degree ``1 + floor(u (D - 1) / H)``. The
  assignment is deterministic (no seed to record) and every degree ``1 .. D-1`` occurs when
  ``H >= D - 1``; narrower layers spread their degrees evenly. Degree 1 always occurs, so no unit is
  cut off and every output but the first in the order has a path from an input (random degrees,
  as in the paper, can leave dead units in small layers). With a ``generator`` the degrees are the
  paper's random ones instead: uniform on ``min(previous layer's degrees) .. D - 1``
  (connectivity-agnostic training draws several such mask sets);
* a hidden unit of degree ``d`` sees the previous layer's units of degree ``<= d``; an output of
  dimension ``i`` sees the last hidden layer's units of degree ``< degree(i)`` (strictly).

So output ``i`` sees exactly the inputs of smaller degree (all of them when every hidden layer has
``H >= D - 1``). Each dimension may have several input units (``inputs_per_dim``, e.g. a one-hot
code: unit ``e * D + i`` is feature ``e`` of dimension ``i``) and several outputs
(``outputs_per_dim``: unit ``p * D + i``). An optional *context* vector (e.g. features of the
image for the inverse autoregressive flow of Kingma et al. 2016, or a class label) is unmasked: it
enters the first hidden layer and, through its own linear map, the output layer — the latter
because the first dimension in the order sees no hidden unit at all and would otherwise ignore
the context.

A network may hold several *mask sets* (one per order and/or draw of degrees) that share its
weights, as in the paper's order- and connectivity-agnostic training; ``forward(..., mask_set=m)``
picks one. :class:`IncrementalMADE` evaluates a network one dimension at a time for sampling.

As in :mod:`genzoo.nn.masked`, masks are buffers multiplied into the weight in the forward pass;
the parameters are never written to.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}


def check_order(order: Tensor | Sequence[int] | None, dim: int) -> Tensor:
    """``order`` as a LongTensor ``[dim]``, checked to be a permutation of ``0 .. dim-1``.

    ``order[k]`` is the ``k``-th dimension in the autoregressive order; ``None`` gives
    ``0, 1, ..., dim-1``.
    """
    if order is None:
        return torch.arange(dim)
    order = torch.as_tensor(order, dtype=torch.long).flatten()
    if order.numel() != dim or not torch.equal(order.sort().values, torch.arange(dim)):
        raise ConfigError(
            f"order must be a permutation of 0..{dim - 1}, got {order.tolist()}; pass e.g. "
            "torch.randperm(dim) or None for the natural order"
        )
    return order


def made_degrees(
    order: Tensor, hidden_sizes: Sequence[int], generator: torch.Generator | None = None
) -> list[Tensor]:
    """Degrees of the input units and of each hidden layer's units.

    Args:
        order: permutation ``[D]``; ``order[k]`` is the ``k``-th dimension in the order.
        hidden_sizes: widths of the hidden layers.
        generator: ``None`` for the deterministic even spread; else the paper's random degrees,
            uniform on ``min(previous layer's degrees) .. D - 1``, drawn from it.

    Returns:
        ``[input degrees [D], hidden degrees [H_1], ...]``; input ``order[k]`` has degree
        ``k + 1``, hidden unit ``u`` of width ``H`` has ``1 + floor(u (D - 1) / H)``.
    """
    dim = order.numel()
    top = max(dim - 1, 1)
    inputs = torch.empty(dim, dtype=torch.long)
    inputs[order] = torch.arange(1, dim + 1)
    degrees = [inputs]
    for h in hidden_sizes:
        if generator is None:
            degrees.append(1 + torch.arange(h) * top // h)
        else:
            low = min(int(degrees[-1].min()), top)
            degrees.append(torch.randint(low, top + 1, (h,), generator=generator))
    return degrees


def made_masks(
    order: Tensor | Sequence[int],
    hidden_sizes: Sequence[int],
    outputs_per_dim: int = 1,
    *,
    inputs_per_dim: int = 1,
    generator: torch.Generator | None = None,
) -> list[Tensor]:
    """0/1 masks ``[out, in]`` of the layers ``E * D -> H_1 -> ... -> outputs_per_dim * D``.

    Input unit ``e * D + j`` is feature ``e`` of dimension ``j``; output unit ``p * D + i`` is
    output number ``p`` of dimension ``i``; it sees input dimension ``j`` (through some path)
    only if ``j`` comes strictly before ``i`` in ``order``. With no hidden layer the single mask
    connects ``i`` to exactly those ``j``.

    Args:
        order: permutation ``[D]``; ``order[k]`` is the ``k``-th dimension in the order.
        hidden_sizes: widths of the hidden layers (may be empty).
        outputs_per_dim: outputs per dimension (e.g. 2 for a shift and a scale).
        inputs_per_dim: input units per dimension ``E`` (e.g. ``levels`` for a one-hot code).
        generator: draw the hidden degrees at random (see :func:`made_degrees`).

    Returns:
        ``len(hidden_sizes) + 1`` float masks, first layer first.
    """
    order = check_order(order, len(order))
    if any(int(h) < 1 for h in hidden_sizes) or outputs_per_dim < 1 or inputs_per_dim < 1:
        raise ConfigError(
            f"hidden sizes, outputs_per_dim and inputs_per_dim must be positive, got "
            f"{list(hidden_sizes)}, {outputs_per_dim}, {inputs_per_dim}"
        )
    degrees = made_degrees(order, [int(h) for h in hidden_sizes], generator)
    degrees[0] = degrees[0].repeat(inputs_per_dim)
    masks = [(d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in pairwise(degrees)]
    outputs = degrees[0][: order.numel()].repeat(outputs_per_dim)
    masks.append((outputs[:, None] > degrees[-1][None, :]).float())
    return masks


class MaskedLinear(nn.Linear):
    """``x W^T + b`` with ``W`` multiplied by a fixed 0/1 ``mask`` (a buffer).

    ``x [..., in] -> [..., out]``. ``mask`` is ``[out, in]``, or ``[M, out, in]``: ``M``
    alternative connectivities sharing the weight, chosen per call with ``mask_set``. The mask
    is applied in the forward pass (``masked_weight``); the weight parameter itself is never
    modified, so optimisers and weight decay see the raw weight and the masked entries simply
    receive zero gradient.
    """

    def __init__(self, in_features: int, out_features: int, mask: Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if tuple(mask.shape[-2:]) != (out_features, in_features) or mask.dim() not in (2, 3):
            raise ConfigError(
                f"mask must have shape ({out_features}, {in_features}) or (M, {out_features}, "
                f"{in_features}), got {tuple(mask.shape)}"
            )
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    @property
    def num_masks(self) -> int:
        return 1 if self.mask.dim() == 2 else self.mask.shape[0]

    def masked_weight(self, mask_set: int = 0) -> Tensor:
        """The weight actually applied: ``weight * mask``, ``[out, in]``."""
        return self.weight * (self.mask if self.mask.dim() == 2 else self.mask[mask_set])

    def forward(self, x: Tensor, mask_set: int = 0) -> Tensor:
        return F.linear(x, self.masked_weight(mask_set), self.bias)


class AutoregressiveMLP(nn.Module):
    """MADE network: ``x [..., E * D]`` (and a context) -> ``[..., outputs_per_dim, D]``.

    Output ``[..., p, i]`` depends only on the inputs of dimensions ``j`` strictly before ``i`` in
    the order of the mask set used, and on the unmasked context.

    Args:
        dim: ``D``, the number of autoregressive dimensions.
        hidden: width of each hidden layer.
        num_hidden_layers: hidden layers (0: a single masked linear map).
        outputs_per_dim: outputs per dimension (e.g. 2 for IAF's ``[m, s]``, ``levels`` for
            categorical logits).
        context_features: size of the context vector (0: none).
        order: permutation ``[D]``, ``order[k]`` the ``k``-th dimension (``None``: natural
            order); or ``[M, D]``: one order per mask set (``M`` mask sets sharing the weights).
        inputs_per_dim: input units per dimension ``E``; unit ``e * D + j`` belongs to ``j``.
        activation: ``"elu"`` (as in Kingma et al. 2016's IAF) or ``"relu"`` (the MADE paper).
        degrees_generator: draw random hidden degrees per mask set (connectivity-agnostic
            MADE); ``None``: the deterministic even spread (then mask sets differ only by order).
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        num_hidden_layers: int,
        outputs_per_dim: int,
        context_features: int = 0,
        order: Tensor | Sequence[int] | None = None,
        *,
        inputs_per_dim: int = 1,
        activation: str = "elu",
        degrees_generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or outputs_per_dim < 1 or inputs_per_dim < 1:
            raise ConfigError(
                f"dim, hidden, outputs_per_dim and inputs_per_dim must be positive, got {dim}, "
                f"{hidden}, {outputs_per_dim}, {inputs_per_dim}"
            )
        if num_hidden_layers < 0 or context_features < 0:
            raise ConfigError(
                "num_hidden_layers and context_features must be >= 0, got "
                f"{num_hidden_layers}, {context_features}"
            )
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}"
            )
        self.dim, self.outputs_per_dim = int(dim), int(outputs_per_dim)
        self.inputs_per_dim = int(inputs_per_dim)
        self.context_features = int(context_features)
        orders = order if isinstance(order, Tensor) and order.dim() == 2 else [order]
        orders = torch.stack([check_order(o, self.dim) for o in orders])
        self.register_buffer("orders", orders, persistent=False)
        sizes = [int(hidden)] * int(num_hidden_layers)
        widths = [self.inputs_per_dim * self.dim, *sizes, self.outputs_per_dim * self.dim]
        sets = [
            made_masks(o, sizes, self.outputs_per_dim, inputs_per_dim=self.inputs_per_dim,
                       generator=degrees_generator)
            for o in orders
        ]  # fmt: skip
        masks = [torch.stack(layer) if len(sets) > 1 else layer[0] for layer in zip(*sets)]
        self.layers = nn.ModuleList(
            MaskedLinear(a, b, m) for a, b, m in zip(widths[:-1], widths[1:], masks)
        )
        self.context_in = (
            nn.Linear(self.context_features, sizes[0]) if self.context_features and sizes else None
        )
        self.context_out = (
            nn.Linear(self.context_features, widths[-1], bias=False)
            if self.context_features
            else None
        )
        self.act = ACTIVATIONS[activation]()

    @property
    def order(self) -> Tensor:
        """The order ``[D]`` of the first mask set."""
        return self.orders[0]

    @property
    def num_masks(self) -> int:
        """Number of mask sets ``M``."""
        return self.orders.shape[0]

    def forward(self, x: Tensor, context: Tensor | None = None, mask_set: int = 0) -> Tensor:
        """``x [..., E * D]``, ``context [..., context_features]`` broadcastable against ``x``'s
        leading dimensions (e.g. ``[B, C]`` for ``x [k, B, D]``) -> ``[..., outputs_per_dim, D]``,
        through mask set ``mask_set``.
        """
        self._check_context(context)
        h = x
        for n, layer in enumerate(self.layers):
            h = layer(h, mask_set)
            if n == 0 and self.context_in is not None:
                h = h + self.context_in(context)
            if n < len(self.layers) - 1:
                h = self.act(h)
        if self.context_out is not None:
            h = h + self.context_out(context)
        return h.unflatten(-1, (self.outputs_per_dim, self.dim))

    def _check_context(self, context: Tensor | None) -> None:
        if (context is None) != (self.context_out is None):
            raise ConfigError(
                f"this network was built with context_features={self.context_features}; "
                "pass a context exactly when it is positive"
            )


class IncrementalMADE:
    """An :class:`AutoregressiveMLP` evaluated one dimension at a time, for sampling.

    Inputs arrive one dimension at a time (:meth:`add`); the first layer's pre-activation is
    accumulated, ``O(H_1 E)`` per new input instead of ``O(H_1 E D)`` for a full pass; deeper
    hidden layers run in full and only the requested dimension's output units are computed
    (:meth:`outputs`, ``O(P H)`` instead of ``O(P D H)``). Without hidden layers the accumulator
    holds every output directly. :meth:`outputs` equals ``net(x, context, mask_set)[..., :, i]``
    once every input before ``i`` in the mask set's order has been added (later inputs must not
    be added yet; the masks ignore them anyway).

    Args:
        net: the network (weights are read once, detached).
        n: batch size.
        context: ``[n, context_features]`` or ``None``.
        mask_set: which mask set of ``net``.
    """

    def __init__(
        self, net: AutoregressiveMLP, n: int, context: Tensor | None = None, mask_set: int = 0
    ) -> None:
        net._check_context(context)
        self.net, self.mask_set = net, mask_set
        first = net.layers[0]
        weight = first.masked_weight(mask_set).detach()
        self.w_in = weight.view(weight.shape[0], net.inputs_per_dim, net.dim)  # [out, E, D]
        self.acc = first.bias.detach().expand(n, -1).clone()
        self.deep = len(net.layers) > 1
        self.out_context = None
        if context is not None:
            if net.context_in is not None:
                self.acc += net.context_in(context).detach()
            out_context = net.context_out(context).detach()
            if self.deep:
                self.out_context = out_context.view(n, net.outputs_per_dim, net.dim)
            else:
                self.acc += out_context
        if self.deep:
            last = net.layers[-1]
            self.w_out = (
                last.masked_weight(mask_set).detach().view(net.outputs_per_dim, net.dim, -1)
            )  # [P, D, H]
            self.b_out = last.bias.detach().view(net.outputs_per_dim, net.dim)

    def add(self, dim: int, features: Tensor) -> None:
        """Input dimension ``dim`` now holds ``features [n, E]`` (its ``E`` input units)."""
        self.acc += features.to(self.acc.dtype) @ self.w_in[:, :, dim].T

    def outputs(self, dim: int) -> Tensor:
        """The ``[n, outputs_per_dim]`` outputs of dimension ``dim``."""
        net = self.net
        if not self.deep:
            return self.acc.view(-1, net.outputs_per_dim, net.dim)[:, :, dim]
        with torch.no_grad():
            h = net.act(self.acc)
            for layer in net.layers[1:-1]:
                h = net.act(layer(h, self.mask_set))
        out = h @ self.w_out[:, dim].T + self.b_out[:, dim]
        if self.out_context is not None:
            out = out + self.out_context[:, :, dim]
        return out
