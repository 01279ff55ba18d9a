"""The order of training batches as a pure function of ``(seed, epoch, position)``.

Every epoch is a permutation of the training set drawn from an explicit ``torch.Generator``
seeded by ``(seed, epoch)``; global batch ``b`` of the epoch is the ``b``-th run of
``batch_size`` consecutive indices (the last partial batch is dropped), and rank ``r`` of ``W``
takes the ``r``-th of ``W`` equal slices of it. So a run's data depends on neither the number of
devices nor on interruptions: resuming at ``(epoch, b)`` sees exactly the batches it would have.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Independent random streams derived from the run's seed.
STREAM_ORDER = 0
STREAM_BINARIZE = 1
STREAM_GLOBAL = 2
STREAM_EVAL = 3
STREAM_VALIDATION = 4
STREAM_PERTURB = 5


def derive_seed(*words: int) -> int:
    """A well-mixed 63-bit seed from integers (e.g. ``(seed, stream, epoch)``)."""
    state = np.random.SeedSequence([int(w) for w in words]).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def seeded_generator(*words: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed` of ``words``."""
    return torch.Generator().manual_seed(derive_seed(*words))


class BatchOrder:
    """Indices of every global batch of every epoch.

    Args:
        num_examples: size of the training set ``N``.
        batch_size: global batch size ``B`` (``1 <= B <= N``).
        seed: the run's seed.
    """

    def __init__(self, num_examples: int, batch_size: int, seed: int) -> None:
        if not 1 <= batch_size <= num_examples:
            raise ValueError(f"need 1 <= batch_size ({batch_size}) <= N ({num_examples})")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    @property
    def steps_per_epoch(self) -> int:
        """Full global batches per epoch, ``N // B``."""
        return self.num_examples // self.batch_size

    def permutation(self, epoch: int) -> Tensor:
        """LongTensor ``[N]``: the order of epoch ``epoch`` (cached for the current epoch)."""
        if epoch != self._epoch:
            generator = seeded_generator(self.seed, STREAM_ORDER, epoch)
            self._perm = torch.randperm(self.num_examples, generator=generator)
            self._epoch = epoch
        return self._perm

    def global_batch(self, epoch: int, index: int) -> Tensor:
        """LongTensor ``[B]``: dataset indices of global batch ``index`` of ``epoch``."""
        if not 0 <= index < self.steps_per_epoch:
            raise IndexError(f"batch {index} outside [0, {self.steps_per_epoch})")
        start = index * self.batch_size
        return self.permutation(epoch)[start : start + self.batch_size]


def shard(batch: Tensor, rank: int, world_size: int) -> Tensor:
    """The ``rank``-th of ``world_size`` equal consecutive slices of ``batch`` (dim 0)."""
    size = batch.shape[0] // world_size
    return batch[rank * size : (rank + 1) * size]


def perturb(x: Tensor, levels: int, rate: float, generator: torch.Generator) -> Tensor:
    """Replace each sub-pixel, with probability ``rate``, by a level drawn uniformly from
    ``[0, levels)`` (the input perturbation of Ren et al. 2019's background model).

    A replaced value equals the original with probability ``1 / levels``, so the expected
    fraction of changed sub-pixels is ``rate * (1 - 1 / levels)``.

    Args:
        x: LongTensor ``[B, C, H, W]`` in ``[0, levels)`` on the generator's device.
        levels: number of levels ``K``.
        rate: the probability ``mu`` in ``[0, 1]``; ``0`` returns ``x`` itself.
        generator: the only source of randomness.

    Returns:
        LongTensor like ``x``.
    """
    if rate == 0:
        return x
    replace = torch.rand(x.shape, generator=generator, device=x.device) < rate
    noise = torch.randint(0, levels, x.shape, generator=generator, device=x.device)
    return torch.where(replace, noise, x)
