"""The training recipe, :class:`TrainConfig`, and its validation table.

Every field has a default and ``metadata={"help": ...}`` (plus ``"choices"`` for the string
options) so that the command line can generate one ``--flag`` per field (``grad_clip`` ->
``--grad-clip``). This module deliberately does *not* use ``from __future__ import annotations``:
``dataclasses.fields(TrainConfig)[i].type`` is the real type (``int``, ``float``, ``str``,
``bool``) that a flag parser needs.

Validation follows scikit-learn: the constructor only stores; :meth:`TrainConfig.validate`
checks every field against one declarative table (:data:`PARAMS`, validated by
:func:`genzoo.core.params.validate` like every other table in genzoo) and raises
:class:`~genzoo.errors.ConfigError` naming the flag, the bad value and what to pass instead.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from genzoo.core import params as P
from genzoo.errors import ConfigError

#: Step budget used when none of ``steps``, ``epochs``, ``minutes`` is given.
DEFAULT_STEPS = 1000

LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "cuda", "mps")
#: Strategies that launch by re-running the script per rank and keep a full model per rank
#: (spawn-based and sharded strategies do not fit this engine's in-place, whole-model design).
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
BINARIZATIONS = ("static", "dynamic")
#: Upper bound of ``num_nodes`` (a typo guard: no genzoo run spans more machines).
MAX_NODES = 1024


def _help(text: str, choices: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {"help": text} if choices is None else {"help": text, "choices": choices}


@dataclass
class TrainConfig:
    """How to train a model: budget, optimiser, schedule, averaging, logging and hardware.

    The constructor only stores values; :func:`genzoo.training.train` calls :meth:`validate`.
    ``0`` switches an optional feature off (``grad_clip``, ``ema_decay``, ``eval_every``, ...).
    """

    # ---------------------------------------------------------------- budget
    steps: int = field(
        default=0,
        metadata=_help(
            "stop after this many optimizer steps (0 = not a step budget; when no budget is "
            f"given at all: {DEFAULT_STEPS} steps)"
        ),
    )
    epochs: int = field(
        default=0,
        metadata=_help(
            "stop after this many passes over the training set (0 = not an epoch budget)"
        ),
    )
    minutes: float = field(
        default=0.0,
        metadata=_help(
            "stop after this many minutes of training time; periodic evaluation and checkpoint "
            "writing are not counted (0 = not a time budget)"
        ),
    )
    # ---------------------------------------------------------------- optimisation
    batch_size: int = field(
        default=64,
        metadata=_help(
            "global batch size, split evenly across devices (the last partial batch "
            "of every epoch is dropped)"
        ),
    )
    lr: float = field(default=1e-3, metadata=_help("peak learning rate of AdamW"))
    adam_beta1: float = field(
        default=0.9,
        metadata=_help(
            "AdamW's beta1, the decay of the gradient average (GANs: 0.5, WGAN-GP: 0; `genzoo "
            "train` uses each model's recommended value unless this flag is given)"
        ),
    )
    adam_beta2: float = field(
        default=0.999,
        metadata=_help("AdamW's beta2, the decay of the squared-gradient average (WGAN-GP: 0.9)"),
    )
    weight_decay: float = field(
        default=0.0,
        metadata=_help("AdamW decoupled weight decay on weight matrices and kernels (not biases)"),
    )
    lr_schedule: str = field(
        default="constant",
        metadata=_help(
            "learning-rate schedule after warm-up: constant, or cosine decay to 0 over "
            "--decay-steps (by default the budget: its steps, or its minutes)",
            LR_SCHEDULES,
        ),
    )
    warmup_steps: int = field(
        default=100, metadata=_help("linear learning-rate warm-up from lr/warmup_steps to lr")
    )
    decay_steps: int = field(
        default=0,
        metadata=_help(
            "length of the cosine schedule in steps, warm-up included (0 = the budget: "
            "--steps, --epochs x steps per epoch, or the --minutes themselves)"
        ),
    )
    grad_clip: float = field(
        default=1.0, metadata=_help("clip the global gradient norm to this value (0 = off)")
    )
    ema_decay: float = field(
        default=0.999,
        metadata=_help(
            "decay of the exponential moving average of the weights, used for evaluation, "
            "sampling and the saved model (0 = off; warmed up as min(decay, (1+t)/(10+t)))"
        ),
    )
    seed: int = field(
        default=0,
        metadata=_help("seed of the data order, dynamic binarisation and global RNGs"),
    )
    binarize: str = field(
        default="static",
        metadata=_help(
            "static: train on the dataset as loaded; dynamic: draw fresh Bernoulli(raw / "
            "(raw_levels-1)) images every batch (needs data with 2 levels)",
            BINARIZATIONS,
        ),
    )
    perturb: float = field(
        default=0.0,
        metadata=_help(
            "replace each training sub-pixel, with this probability, by a level drawn uniformly "
            "at random: the background model of the likelihood ratio (Ren et al. 2019, `genzoo "
            "ood --background`; they use 0.1-0.3). Evaluation images are never perturbed; a "
            "model fitted by its own algorithm sees one perturbed copy of the training set "
            "(0 = off)"
        ),
    )
    # ---------------------------------------------------------------- evaluation and output
    eval_every: int = field(
        default=500,
        metadata=_help("evaluate on held-out images every this many steps (0 = never)"),
    )
    eval_images: int = field(
        default=1000,
        metadata=_help(
            "number of test images (the first ones) used by periodic evaluation when there is "
            "no --validation split"
        ),
    )
    validation: int = field(
        default=0,
        metadata=_help(
            "hold out this many training images (a seeded random subset, never trained on) "
            "and evaluate on them periodically instead of on test images (0 = no split)"
        ),
    )
    keep_best: bool = field(
        default=False,
        metadata=_help(
            "end with (and save) the weights of the periodic evaluation with the lowest "
            "validation loss: early stopping without stopping (needs --validation)"
        ),
    )
    checkpoint_every: int = field(
        default=500,
        metadata=_help(
            "write checkpoint.pt and the model every this many steps (0 = only at the end)"
        ),
    )
    log_every: int = field(
        default=50,
        metadata=_help("write a row of metrics.csv (and TensorBoard) every this many steps"),
    )
    progress: bool | None = field(
        default=None,
        metadata=_help(
            "show a progress bar with an ETA on stderr, rank 0 only (default, None: when "
            "stderr is a terminal)"
        ),
    )
    # ---------------------------------------------------------------- hardware
    precision: str = field(
        default="auto",
        metadata=_help(
            "numeric precision: 32, bf16-mixed, 16-mixed (CUDA only), or auto = bf16-mixed on "
            "hardware with native bfloat16 (recent CUDA GPUs, CPUs with AVX512-BF16/AMX), else 32",
            PRECISIONS,
        ),
    )
    accelerator: str = field(
        default="auto",
        metadata=_help("device type; auto = cuda if available, else mps, else cpu", ACCELERATORS),
    )
    devices: int = field(
        default=1,
        metadata=_help("number of devices (processes with ddp) to train on, per machine"),
    )
    num_nodes: int = field(
        default=1,
        metadata=_help(
            "number of machines, each running --devices processes; above 1 a launcher starts "
            "the processes on every machine (torchrun or SLURM's srun; see the guide's 'More "
            "than one machine'), genzoo does not"
        ),
    )
    strategy: str = field(
        default="auto",
        metadata=_help(
            "distribution strategy; auto and ddp mean DDP when devices > 1 (each rank re-runs the "
            "script), searching for unused parameters only if the model has any",
            STRATEGIES,
        ),
    )
    channels_last: bool = field(
        default=True,
        metadata=_help(
            "store 4-D weights and batches channels-last (faster convolutions on CPU and GPU)"
        ),
    )

    # ------------------------------------------------------------------ behaviour
    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` on the first invalid field; return ``self``."""
        P.validate(PARAMS, self.to_dict(), flags=True)
        budgets = [n for n in ("steps", "epochs", "minutes") if getattr(self, n) > 0]
        if len(budgets) > 1:
            raise ConfigError(
                f"give exactly one budget, got {', '.join(_flag(n) for n in budgets)}; "
                "keep one of --steps, --epochs, --minutes"
            )
        if self.keep_best and (self.validation == 0 or self.eval_every == 0):
            raise ConfigError(
                "--keep-best picks weights by their validation loss: pass --validation N (held-"
                "out training images) and --eval-every K > 0; choosing by test loss would bias "
                "the test result"
            )
        check_batch_split(self.batch_size, self.devices * self.num_nodes)
        if self.lr_schedule == "cosine" and 0 < self.decay_steps <= self.warmup_steps:
            raise ConfigError(
                f"--decay-steps ({self.decay_steps}) must exceed --warmup-steps "
                f"({self.warmup_steps}); lengthen the schedule or shorten the warm-up"
            )
        return self

    @classmethod
    def recommended(cls, model: Any, **overrides: Any) -> "TrainConfig":
        """The defaults, then ``model``'s recommended settings (``train_defaults``, e.g. a GAN's
        Adam betas and learning rate), then ``overrides``.

        ``model`` is a model, a model class or a registered model name.
        """
        if isinstance(model, str):
            from genzoo.models.registry import get_model_class

            model = get_model_class(model)
        return cls(**{**getattr(model, "train_defaults", {}), **overrides})

    def budget(self) -> tuple[str, float]:
        """The active budget as ``(kind, amount)``: ``("steps", 1000)``, ``("minutes", 3.0)``."""
        for name in ("steps", "epochs", "minutes"):
            if getattr(self, name) > 0:
                return name, getattr(self, name)
        return "steps", DEFAULT_STEPS

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from :meth:`to_dict` output; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(
                f"unknown training option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(names))}"
            )
        return cls(**values)


def check_batch_split(batch_size: int, processes: int) -> None:
    """Refuse a global batch that does not split evenly across ``processes`` ranks."""
    if batch_size % processes:
        raise ConfigError(
            f"--batch-size {batch_size} is split evenly across the {processes} processes "
            f"(--devices x --num-nodes, or the launcher's); pass a multiple of {processes}"
        )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_STEPS = P.Int(min=0)
#: The declarative validation table (:mod:`genzoo.core.params`, the one validator): a bool is
#: never taken for a number, NaN and infinities never pass.
PARAMS: dict[str, P.Constraint] = {
    "steps": _STEPS,
    "epochs": _STEPS,
    "minutes": P.Float(min=0),
    "batch_size": P.Int(min=1),
    "lr": P.Float(min=0, min_open=True),
    "adam_beta1": P.Float(0, 1, max_open=True),
    "adam_beta2": P.Float(0, 1, max_open=True),
    "weight_decay": P.Float(min=0),
    "lr_schedule": P.OneOf(*LR_SCHEDULES),
    "warmup_steps": _STEPS,
    "decay_steps": _STEPS,
    "grad_clip": P.Float(min=0),
    "ema_decay": P.Float(0, 1, max_open=True),
    "seed": P.Int(min=0, max=2**63 - 1),
    "binarize": P.OneOf(*BINARIZATIONS),
    "perturb": P.Float(0, 1),
    "eval_every": _STEPS,
    "validation": _STEPS,
    "eval_images": P.Int(min=1),
    "checkpoint_every": _STEPS,
    "log_every": P.Int(min=1),
    "progress": P.Optional(P.Bool()),
    "keep_best": P.Bool(),
    "precision": P.OneOf(*PRECISIONS),
    "accelerator": P.OneOf(*ACCELERATORS),
    "devices": P.Int(min=1),
    "num_nodes": P.Int(min=1, max=MAX_NODES),
    "strategy": P.OneOf(*STRATEGIES),
    "channels_last": P.Bool(),
}


# ---------------------------------------------------------------------- hardware resolution
def resolve_accelerator(accelerator: str) -> str:
    """``"auto"`` -> ``"cuda"`` if available, else ``"mps"`` if available, else ``"cpu"``.

    An explicit accelerator that is not available raises :class:`ConfigError`.
    """
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if accelerator == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (accelerator == "cuda" and not cuda) or (accelerator == "mps" and not mps):
        raise ConfigError(
            f"--accelerator {accelerator} is not available on this machine; use --accelerator "
            "cpu or auto"
        )
    return accelerator


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (x86 AVX512-BF16 or AMX, ARM BF16).

    Without it (e.g. AVX2-only machines) bf16 autocast is emulated and much slower than fp32.
    """
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is None:  # torch < 2.8: be conservative
        return False
    caps = capabilities()
    return any(bool(caps.get(k, False)) for k in ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16"))


def resolve_precision(precision: str, accelerator: str) -> str:
    """``"auto"`` -> ``"bf16-mixed"`` on hardware with native bfloat16, else ``"32"``.

    Args:
        precision: a :data:`PRECISIONS` value.
        accelerator: a resolved accelerator (``"cpu"``, ``"cuda"`` or ``"mps"``).
    """
    if precision == "16-mixed" and accelerator != "cuda":
        raise ConfigError(
            f"--precision 16-mixed needs a CUDA GPU (on {accelerator} it would silently run "
            "bfloat16); use --precision 32 or bf16-mixed"
        )
    if precision != "auto":
        return precision
    if accelerator == "cuda":
        try:  # torch >= 2.4 can tell native support from emulation
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:
            native = torch.cuda.is_bf16_supported()
        return "bf16-mixed" if native else "32"
    if accelerator == "cpu" and cpu_has_native_bf16():
        return "bf16-mixed"
    return "32"
