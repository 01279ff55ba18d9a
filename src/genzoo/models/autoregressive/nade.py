"""NADE — Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011;
order-agnostic training from Uria, Murray & Larochelle, "A Deep and Tractable Density
Estimator", ICML 2014.

Every conditional has its own hidden layer, but all share one input weight matrix:

    h_d = sigmoid(c + sum_{j before d} W[:, j](x_j)),   p(x_d | x_<d) = softmax(b_d + U_d h_d),

so the pre-activations are running sums of per-sub-pixel contributions: one cumulative sum gives
all of them in ``O(D H)`` per image, in training and evaluation alike (the paper's eq. 5; a test
checks it against recomputing every ``h_d`` from scratch). Sampling keeps the running sum
(:class:`_NADEState`): ``O(H levels)`` per sub-pixel. The order is the contract's generation
order (raster scan, then channels; :mod:`genzoo.models.autoregressive.fvbn`).

Deviations from the binary paper:

* any ``levels``: each conditional is a softmax over ``levels`` values with its own output
  weights ``U_d [levels, H]`` and biases ``b_d [levels]`` (two levels: the paper's sigmoid of a
  logit difference; 256 levels at 28x28 with ``H = 500`` would be 100 M output weights);
* the contribution of sub-pixel ``j`` is ``W[:, j] u_j + V[:, j]`` with ``u_j`` its value in
  ``[-1, 1]`` (``inputs="scaled"``), or a learned vector per value ``E[j, x_j]``
  (``inputs="onehot"``, a superset for ``levels > 2``). For two levels both equal the paper's
  ``W[:, j] x_j`` plus a per-input bias ``V[:, j]`` that is added once ``x_j`` is observed — Uria
  et al.'s mask input, which tells the hidden units *which* sub-pixels are given (needed with
  order-agnostic training; harmless otherwise);
* class-conditional models add a learned per-class vector to ``c``.

Order-agnostic training (``order_agnostic=True``): every training image gets a fresh random
order of its ``D`` sub-pixels and the loss is its exact NLL under that order — for a
one-hidden-layer NADE the whole chain costs ``O(D H)``, so this is Uria et al.'s objective
``E_order[-log p(x | order)]`` estimated with one order per image (their DeepNADE instead samples
one split point per image). ``log_prob`` then evaluates the uniform mixture over ``num_orders``
*fixed* orders, ``log (1/M) sum_m p(x | order_m)`` — order 0 is the raster order, the others
random permutations drawn from ``order_seed`` — as Uria et al.'s ensembles do. With
``num_orders=1`` (the default) it is the exact NADE likelihood in raster order.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.params import Bool, Constraint, Int
from genzoo.distributions import categorical_log_prob
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.fvbn import (
    INPUTS_CHOICE,
    FullyVisibleBeliefNetwork,
    random_orders,
    to_sequence,
)
from genzoo.models.registry import register_model

#: images per chunk of the O(D H) computation are chosen so that each ``[B, D, H]`` float32
#: intermediate stays below ~16 MB: larger blocks are mmap'd afresh by glibc on every allocation
#: (its threshold tops out at 32 MB) and page-fault on first touch (measured: DEVELOPERS.md).
CHUNK_BYTES = 16 << 20


@register_model("nade")
class NADE(FullyVisibleBeliefNetwork):
    """NADE with one hidden layer of ``hidden`` sigmoid units shared by all conditionals.

    Args:
        hidden: hidden units ``H`` (the paper: 500).
        inputs: ``"scaled"`` (``W u_j + V``) or ``"onehot"`` (a vector per value).
        order_agnostic: train on a fresh random order per image (Uria et al. 2014).
        num_orders: orders averaged by ``log_prob`` (the raster order first); > 1 needs
            ``order_agnostic``.
        order_seed: seed of the random evaluation orders.
    """

    params: ClassVar[dict[str, Constraint]] = {
        "hidden": Int(min=1),
        "inputs": INPUTS_CHOICE,
        "order_agnostic": Bool(),
        "num_orders": Int(min=1),
        "order_seed": Int(min=0, max=2**63 - 1),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        hidden: int = 500,
        inputs: str = "scaled",
        order_agnostic: bool = False,
        num_orders: int = 1,
        order_seed: int = 0,
    ) -> None:
        if num_orders > 1 and not order_agnostic:
            raise ConfigError(
                f"num_orders={num_orders} averages orders the model was not trained on; pass "
                "order_agnostic=True (--order-agnostic) or num_orders=1"
            )
        c, h, w = (int(s) for s in shape)
        d = c * h * w
        super().__init__(
            shape=shape,
            levels=levels,
            num_classes=num_classes,
            orders=random_orders(num_orders, d, torch.Generator().manual_seed(order_seed)),
        )
        self.inputs, self.order_agnostic = inputs, bool(order_agnostic)
        k = self.levels
        if inputs == "scaled":
            self.weight = nn.Parameter(torch.randn(d, hidden) / math.sqrt(d))
            self.input_bias = nn.Parameter(torch.zeros(d, hidden))
        else:
            self.embed = nn.Parameter(torch.randn(d, k, hidden) / math.sqrt(d))
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))
        self.class_embed = None if num_classes is None else nn.Embedding(self.num_classes, hidden)
        self.out_weight = nn.Parameter(torch.randn(d, k, hidden) / math.sqrt(hidden))
        self.out_bias = nn.Parameter(torch.zeros(d, k))

    # -------------------------------------------------------------- pieces
    def contribution(self, positions: Tensor, values: Tensor) -> Tensor:
        """What sub-pixels at sequence ``positions`` with ``values`` (same shape ``[...]``) add
        to the hidden pre-activation of every later one: ``[..., H]``."""
        if self.inputs == "scaled":
            return (
                self.scale(values)[..., None] * self.weight[positions] + self.input_bias[positions]
            )
        return self.embed[positions, values]

    def bias(self, y: Tensor | None, n: int) -> Tensor:
        """``c`` (plus the class vector) ``[n, H]``."""
        c = self.hidden_bias.expand(n, -1)
        return c if self.class_embed is None or y is None else c + self.class_embed(y)

    def chain_logits(self, x: Tensor, y: Tensor | None, order: Tensor | None = None) -> Tensor:
        """Logits ``[B, levels, D]`` of every conditional, in ``O(D H)`` per image.

        Step ``k`` of ``order`` sees the sub-pixels at ``order[:k]``: its pre-activation is the
        running sum of their contributions, one cumulative sum for all steps.

        Args:
            x: LongTensor ``[B, D]`` sequences.
            y: labels ``[B]`` or ``None``.
            order: ``None`` (raster), a permutation ``[D]`` or one per image ``[B, D]``.
        """
        n, d = x.shape
        chunk = max(1, CHUNK_BYTES // (4 * d * self.hidden_bias.numel()))
        if n > chunk:  # see CHUNK_BYTES
            return torch.cat(
                [
                    self.chain_logits(
                        x[i : i + chunk],
                        None if y is None else y[i : i + chunk],
                        order if order is None or order.dim() == 1 else order[i : i + chunk],
                    )
                    for i in range(0, n, chunk)
                ]
            )
        bias = self.bias(y, n)  # [B, H]
        prev = torch.arange(d - 1, device=x.device) if order is None else order[..., :-1]
        values = x[:, :-1] if order is None else x.gather(1, prev.expand(n, -1))
        if self.inputs == "scaled":  # sum W u + sum V, the second without the batch
            run = (self.scale(values)[..., None] * self.weight[prev]).cumsum(-2)
            run = run + self.input_bias[prev].cumsum(-2)
        else:
            run = self.embed[prev, values].cumsum(-2)
        hidden = torch.sigmoid(run + bias[:, None])  # steps 1 .. D-1  [B, D-1, H]
        first = torch.sigmoid(bias)  # step 0 sees nothing
        if order is None:
            logits = torch.cat(
                [
                    (first @ self.out_weight[0].T)[:, :, None],
                    torch.einsum("bdh,dkh->bkd", hidden, self.out_weight[1:]),
                ],
                -1,
            )
        else:  # back to sequence positions, then each position's output weights
            steps = torch.cat([first[:, None], hidden], 1)
            index = order.expand(n, -1)[:, :, None].expand_as(steps)
            h = torch.empty_like(steps).scatter_(1, index, steps)
            logits = torch.einsum("bdh,dkh->bkd", h, self.out_weight)
        return logits + self.out_bias.T

    # -------------------------------------------------------------- FVBN interface
    def component_logits(self, x: Tensor, y: Tensor | None, m: int) -> Tensor:
        order = self.orders[m]
        raster = bool((order == torch.arange(self.num_dims, device=order.device)).all())
        return self.chain_logits(x, y, None if raster else order)

    def training_log_prob(self, x: Tensor, y: Tensor | None) -> Tensor:
        """With ``order_agnostic``: the exact log-likelihood under a fresh random order per
        image (global RNG, seeded by the training engine); else :meth:`log_prob`."""
        if not self.order_agnostic:
            return self.log_prob(x, y)
        self.check_input(x, y)
        seq = to_sequence(x.to(self.device).long())
        order = torch.rand(seq.shape, device=seq.device).argsort(1)
        return categorical_log_prob(self.chain_logits(seq, y, order), seq).sum(1)

    def incremental_sampler(self, n: int, y: Tensor | None) -> _RasterCache | None:
        if self.num_components > 1:
            return None
        return _RasterCache(self, n, y)

    def ordered_sampler(self, n: int, y: Tensor | None, component: Tensor) -> _OrderedCache:
        return _OrderedCache(self, n, y, self.orders[component])


class _NADEState:
    """The running pre-activation ``[n, H]`` of sampling; each image may have its own order."""

    def __init__(self, model: NADE, n: int, y: Tensor | None) -> None:
        self.model = model
        with torch.no_grad():
            self.a = model.bias(y, n).clone()

    @torch.no_grad()
    def add(self, positions: Tensor, values: Tensor) -> None:
        """Sub-pixels at ``positions [n]`` now hold ``values [n]``."""
        self.a += self.model.contribution(positions, values)

    @torch.no_grad()
    def logits(self, positions: Tensor) -> Tensor:
        """Logits ``[n, levels]`` of the sub-pixels at ``positions [n]``."""
        h = torch.sigmoid(self.a)
        weight = self.model.out_weight[positions]  # [n, levels, H]
        return (weight @ h[:, :, None]).squeeze(-1) + self.model.out_bias[positions]


class _RasterCache(_NADEState):
    """The contract's :class:`IncrementalSampler`: raster order."""

    def logits(self, x: Tensor, i: int, j: int, c: int) -> Tensor:  # type: ignore[override]
        colors, _, width = self.model.shape
        n = x.shape[0]
        s = (i * width + j) * colors + c
        if s > 0:
            pixel, c_prev = divmod(s - 1, colors)
            prev = torch.full((n,), s - 1, dtype=torch.long, device=x.device)
            self.add(prev, x[:, c_prev, pixel // width, pixel % width])
        return super().logits(torch.full((n,), s, dtype=torch.long, device=x.device))


class _OrderedCache(_NADEState):
    """An :class:`~genzoo.models.autoregressive.fvbn.OrderedStepper`: per-image orders."""

    def __init__(self, model: NADE, n: int, y: Tensor | None, order: Tensor) -> None:
        super().__init__(model, n, y)
        self.order, self.rows = order, torch.arange(n, device=order.device)

    def logits(self, x: Tensor, k: int) -> Tensor:  # type: ignore[override]
        if k > 0:
            prev = self.order[:, k - 1]
            self.add(prev, x[self.rows, prev])
        return super().logits(self.order[:, k])
