"""MADE — Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution
Estimation", ICML 2015.

An autoencoder whose weight matrices are multiplied by 0/1 masks so that output ``d`` sees only
the inputs before ``d`` in an order: one forward pass gives every conditional
``p(x_d | x_<d)``. The masks come from unit degrees (:mod:`genzoo.nn.made`, shared with the
inverse autoregressive flow); the default order is the contract's generation order (raster scan,
then channels; :mod:`genzoo.models.autoregressive.fvbn`) and the default degrees spread evenly
over ``1 .. D-1``, so no hidden unit is dead.

Ensembles (the paper's section 4): ``num_masks = M > 1`` mask sets share the weights; each
training batch uses one, drawn uniformly (global RNG, seeded by the training engine). With
``order_agnostic`` the sets have different orders (set 0 raster, the others random from
``mask_seed``); with ``connectivity_agnostic`` every set draws the paper's random hidden degrees
(uniform on ``min(previous layer) .. D-1``). ``log_prob`` is always the log of the *average
probability* over the ``M`` sets, ``log (1/M) sum_m p_m(x)`` — a normalized mixture, since each
set is a normalized autoregressive model (averaging log-probabilities would not be). Sampling
matches it: with raster orders only, the mixture's exact raster conditionals (completion of a
raster prefix stays exact); with other orders, a set drawn per image and its own order (see
:mod:`genzoo.models.autoregressive.fvbn`; completion then approximate).

Deviations:

* any ``levels``: ``levels`` softmax outputs per sub-pixel (the paper: one sigmoid for binary
  data); ``inputs="scaled"`` feeds one value in ``[-1, 1]`` per sub-pixel, ``"onehot"`` a
  one-hot code (the same family for two levels);
* ReLU hidden units as in the paper, but deterministic evenly spread degrees unless
  ``connectivity_agnostic`` (the paper draws them at random, which can cut units off);
* the paper resamples masks from an unbounded stream or cycles through a fixed number; here a
  fixed set of ``M`` drawn once from ``mask_seed`` (so a saved model rebuilds them exactly);
* no direct input-to-output connections; class-conditional models feed the one-hot label as an
  unmasked context to the first hidden layer and the outputs.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from genzoo.core.params import MAX_DEPTH, Bool, Check, Constraint, Int, depth
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.fvbn import INPUTS_CHOICE, MaskedNetworkModel, random_orders
from genzoo.models.registry import register_model


@register_model("made")
class MADE(MaskedNetworkModel):
    """Masked autoencoder with ``num_hidden_layers`` ReLU layers of ``hidden`` units.

    Args:
        hidden: units per hidden layer (the paper: 500 or 8,000).
        num_hidden_layers: hidden layers (>= 1; without hidden layers it is ``fvsbn``).
        inputs: ``"scaled"`` (one value per sub-pixel) or ``"onehot"`` (``levels`` indicators).
        num_masks: mask sets sharing the weights, one per training batch, averaged by
            ``log_prob``; > 1 needs ``order_agnostic`` and/or ``connectivity_agnostic``.
        order_agnostic: mask sets after the first use random orders.
        connectivity_agnostic: every mask set draws random hidden degrees.
        mask_seed: seed of the random orders and degrees.
    """

    params: ClassVar[dict[str, Constraint]] = {
        "hidden": Int(min=1),
        "num_hidden_layers": Check(
            depth().accepts,
            f"an integer >= 1 and <= {MAX_DEPTH} (a MADE without hidden layers is fvsbn)",
        ),
        "inputs": INPUTS_CHOICE,
        "num_masks": Int(min=1),
        "order_agnostic": Bool(),
        "connectivity_agnostic": Bool(),
        "mask_seed": Int(min=0, max=2**63 - 1),
    }

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        hidden: int = 500,
        num_hidden_layers: int = 1,
        inputs: str = "scaled",
        num_masks: int = 1,
        order_agnostic: bool = False,
        connectivity_agnostic: bool = False,
        mask_seed: int = 0,
    ) -> None:
        if num_masks > 1 and not (order_agnostic or connectivity_agnostic):
            raise ConfigError(
                f"num_masks={num_masks} identical mask sets average nothing; pass "
                "order_agnostic and/or connectivity_agnostic, or num_masks=1"
            )
        c, h, w = (int(s) for s in shape)
        d = c * h * w
        g = torch.Generator().manual_seed(mask_seed)
        orders = random_orders(num_masks, d, g) if order_agnostic else None
        orders = torch.arange(d).expand(num_masks, d) if orders is None else orders
        super().__init__(shape=shape, levels=levels, num_classes=num_classes, orders=orders)
        self.build_network(inputs, hidden, num_hidden_layers, g if connectivity_agnostic else None)

    def training_log_prob(self, x: Tensor, y: Tensor | None) -> Tensor:
        """One mask set per batch, drawn uniformly (its exact log-likelihood)."""
        if self.num_components == 1:
            return self.log_prob(x, y)
        self.check_input(x, y)
        m = int(torch.randint(self.num_components, ()))
        _, picked = self.component_log_probs(x.to(self.device).long(), y, components=[m])
        return picked[0].sum(-1)
