"""MADE building blocks — Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for
Distribution Estimation", ICML 2015.

An MLP whose weight matrices are multiplied by fixed 0/1 masks so that output ``i`` depends only on
the inputs that come *strictly before* ``i`` in a chosen order. The masks follow from *degrees*:

* input dimension ``order[k]`` has degree ``k + 1`` (``1 .. D``);
* hidden unit ``u`` of a layer of width ``H`` has degree ``1 + floor(u (D - 1) / H)``. The
  assignment is deterministic (no seed to record) and every degree ``1 .. D-1`` occurs when
  ``H >= D - 1``; narrower layers spread their degrees evenly. Degree 1 always occurs, so no unit is
  cut off and every output but the first in the order has a path from an input (random degrees,
  as in the paper, can leave dead units in small layers);
* a hidden unit of degree ``d`` sees the previous layer's units of degree ``<= d``; an output of
  dimension ``i`` sees the last hidden layer's units of degree ``< degree(i)`` (strictly).

So output ``i`` sees exactly the inputs of smaller degree (all of them when every hidden layer has
``H >= D - 1``). An optional *context* vector (e.g. features of the image, for the inverse
autoregressive flow of Kingma et al. 2016) is unmasked: it enters the first hidden layer and,
through its own linear map, the output layer — the latter because the first dimension in the order
sees no hidden unit at all and would otherwise ignore the context.

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


def made_degrees(order: Tensor, hidden_sizes: Sequence[int]) -> list[Tensor]:
    """Degrees of the input units and of each hidden layer's units.

    Args:
        order: permutation ``[D]``; ``order[k]`` is the ``k``-th dimension in the order.
        hidden_sizes: widths of the hidden layers.

    Returns:
        ``[input degrees [D], hidden degrees [H_1], ...]``; input ``order[k]`` has degree
        ``k + 1``, hidden unit ``u`` of width ``H`` has ``1 + floor(u (D - 1) / H)``.
    """
    dim = order.numel()
    inputs = torch.empty(dim, dtype=torch.long)
    inputs[order] = torch.arange(1, dim + 1)
    hidden = [1 + torch.arange(h) * max(dim - 1, 1) // h for h in hidden_sizes]
    return [inputs, *hidden]


def made_masks(
    order: Tensor | Sequence[int], hidden_sizes: Sequence[int], outputs_per_dim: int = 1
) -> list[Tensor]:
    """0/1 masks ``[out, in]`` of the layers ``D -> H_1 -> ... -> outputs_per_dim * D``.

    Output unit ``p * D + i`` is output number ``p`` of dimension ``i``; it sees input ``j``
    (through some path) only if ``j`` comes strictly before ``i`` in ``order``. With no hidden layer
    the single mask connects ``i`` to exactly those ``j``.

    Args:
        order: permutation ``[D]``; ``order[k]`` is the ``k``-th dimension in the order.
        hidden_sizes: widths of the hidden layers (may be empty).
        outputs_per_dim: outputs per dimension (e.g. 2 for a shift and a scale).

    Returns:
        ``len(hidden_sizes) + 1`` float masks, first layer first.
    """
    order = check_order(order, len(order))
    if any(int(h) < 1 for h in hidden_sizes) or outputs_per_dim < 1:
        raise ConfigError(
            f"hidden sizes and outputs_per_dim must be positive, got {list(hidden_sizes)}, "
            f"{outputs_per_dim}"
        )
    degrees = made_degrees(order, [int(h) for h in hidden_sizes])
    masks = [(d_out[:, None] >= d_in[None, :]).float() for d_in, d_out in pairwise(degrees)]
    outputs = degrees[0].repeat(outputs_per_dim)
    masks.append((outputs[:, None] > degrees[-1][None, :]).float())
    return masks


class MaskedLinear(nn.Linear):
    """``x W^T + b`` with ``W`` multiplied by a fixed 0/1 ``mask [out, in]`` (a buffer).

    ``x [..., in] -> [..., out]``. The mask is applied in the forward pass (``masked_weight``); the
    weight parameter itself is never modified, so optimisers and weight decay see the raw weight
    and the masked entries simply receive zero gradient.
    """

    def __init__(self, in_features: int, out_features: int, mask: Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if tuple(mask.shape) != (out_features, in_features):
            raise ConfigError(
                f"mask must have shape ({out_features}, {in_features}), got {tuple(mask.shape)}"
            )
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def masked_weight(self) -> Tensor:
        """The weight actually applied: ``weight * mask``, ``[out, in]``."""
        return self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.masked_weight(), self.bias)


class AutoregressiveMLP(nn.Module):
    """MADE network: ``x [..., D]`` (and a context) -> ``[..., outputs_per_dim, D]``.

    Output ``[..., p, i]`` depends only on the inputs ``x[..., j]`` with ``j`` strictly before ``i``
    in ``order``, and on the unmasked context. ELU activations (as in Kingma et al. 2016's IAF).

    Args:
        dim: ``D``, the number of autoregressive dimensions.
        hidden: width of each hidden layer.
        num_hidden_layers: hidden layers (0: a single masked linear map).
        outputs_per_dim: outputs per dimension (e.g. 2 for IAF's ``[m, s]``, ``levels`` for
            categorical logits).
        context_features: size of the context vector (0: none).
        order: permutation ``[D]``, ``order[k]`` the ``k``-th dimension (``None``: natural order).
    """

    def __init__(
        self,
        dim: int,
        hidden: int,
        num_hidden_layers: int,
        outputs_per_dim: int,
        context_features: int = 0,
        order: Tensor | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or outputs_per_dim < 1:
            raise ConfigError(
                f"dim, hidden and outputs_per_dim must be positive, got {dim}, {hidden}, "
                f"{outputs_per_dim}"
            )
        if num_hidden_layers < 0 or context_features < 0:
            raise ConfigError(
                "num_hidden_layers and context_features must be >= 0, got "
                f"{num_hidden_layers}, {context_features}"
            )
        self.dim, self.outputs_per_dim = int(dim), int(outputs_per_dim)
        self.context_features = int(context_features)
        order = check_order(order, self.dim)
        self.register_buffer("order", order, persistent=False)
        sizes = [int(hidden)] * int(num_hidden_layers)
        widths = [self.dim, *sizes, self.outputs_per_dim * self.dim]
        masks = made_masks(order, sizes, self.outputs_per_dim)
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
        self.act = nn.ELU()

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``x [..., D]``, ``context [..., context_features]`` broadcastable against ``x``'s
        leading dimensions (e.g. ``[B, C]`` for ``x [k, B, D]``) -> ``[..., outputs_per_dim, D]``.
        """
        if (context is None) != (self.context_out is None):
            raise ConfigError(
                f"this network was built with context_features={self.context_features}; "
                "pass a context exactly when it is positive"
            )
        h = x
        for n, layer in enumerate(self.layers):
            h = layer(h)
            if n == 0 and self.context_in is not None:
                h = h + self.context_in(context)
            if n < len(self.layers) - 1:
                h = self.act(h)
        if self.context_out is not None:
            h = h + self.context_out(context)
        return h.unflatten(-1, (self.outputs_per_dim, self.dim))
