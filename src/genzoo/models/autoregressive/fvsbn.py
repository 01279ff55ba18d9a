"""FVSBN — the fully visible sigmoid belief network (Neal 1992, "Connectionist learning of belief
networks"; Frey 1998, "Graphical Models for Machine Learning and Digital Communication"), the
baseline of Larochelle & Murray 2011 (97.45 nats on binarized MNIST).

Each conditional is a logistic regression on every earlier sub-pixel,
``p(x_d = 1 | x_<d) = sigmoid(b_d + sum_{j<d} W_dj x_j)`` — one masked linear layer with a
strictly lower-triangular weight (a MADE network without hidden layers,
:class:`~genzoo.nn.made.AutoregressiveMLP`), in the contract's generation order (raster scan,
then channels: see :mod:`genzoo.models.autoregressive.fvbn`).

Deviations:

* any ``levels``: each conditional is a softmax regression over the ``levels`` values,
  ``p(x_d = k | x_<d) = softmax_k(b_dk + sum_{j<d} W_dkj u_j)``; for two levels this is the
  paper's sigmoid of the logit difference (the same family, one redundant logit per sub-pixel);
* ``inputs``: ``"scaled"`` feeds each earlier sub-pixel as one value ``u_j`` in ``[-1, 1]`` (the
  paper's binary input up to an affine map absorbed by ``b``); ``"onehot"`` feeds ``levels``
  indicators per sub-pixel, a full categorical regression for ``levels > 2`` (scaled inputs make
  each logit linear in the earlier *values*);
* class-conditional models add a learned per-class bias to every logit.

Size: ``(E D) x (levels D)`` weights of which just under half are unmasked (``E = 1`` scaled,
``levels`` one-hot): 1.2 M for 28x28 binary images. Cached sampling updates the logits with the
newest sub-pixel's column, ``O(levels D)`` per step instead of ``O(levels D^2)``.
"""

from __future__ import annotations

from typing import ClassVar

from genzoo.core.params import Constraint
from genzoo.models.autoregressive.fvbn import INPUTS_CHOICE, MaskedNetworkModel
from genzoo.models.registry import register_model


@register_model("fvsbn")
class FVSBN(MaskedNetworkModel):
    """Softmax regression of every sub-pixel on all earlier ones (one masked linear layer).

    Args:
        inputs: ``"scaled"`` (one value per earlier sub-pixel) or ``"onehot"`` (``levels``
            indicators per earlier sub-pixel).
    """

    params: ClassVar[dict[str, Constraint]] = {"inputs": INPUTS_CHOICE}

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        inputs: str = "scaled",
    ) -> None:
        super().__init__(shape=shape, levels=levels, num_classes=num_classes)
        self.build_network(inputs, hidden=1, num_hidden_layers=0)
