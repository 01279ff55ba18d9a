"""The model contract shared by every generative model in genzoo.

Every model is a :class:`GenerativeModel`. Its constructor arguments *are* its configuration:
they are recorded automatically when the object is built, written to ``config.json`` by
:meth:`GenerativeModel.save` next to ``model.safetensors``, and :func:`genzoo.load_model` rebuilds
the model from the two files (no pickle anywhere).

The contract (see the core issue):

* ``log_prob(x, y=None, *, c=None)`` -> ``[B]`` log-likelihood in **nats**; ``per_dim=True``
  -> ``[B, C, H, W]`` holding ``log p(x_d | x_<d)`` in generation order (exact models only),
  summing to the former.
* ``sample(n, y=None, *, c=None, generator=None, known=None, mask=None)`` -> LongTensor
  ``[n, C, H, W]``.
* ``loss(x, y=None, *, c=None)`` -> dict with a scalar ``"loss"`` to minimise plus metrics.
* ``features(x, y=None, *, c=None)`` -> ``[B, F]`` where the model has a representation.
* ``fit(x, y, *, c=None)``: models trained by their own algorithm (``procedure == "fit"``, EM).

Conditioning. ``y`` is a class label ``[B]`` (``num_classes``); ``c`` a conditioning image
``[B, C_c, H_c, W_c]`` of integer levels in ``[0, condition_levels)`` (``condition_shape``) for
models that declare ``image_conditional`` — super-resolution gets the low-resolution image,
colorization the grayscale one. Every likelihood is then of ``x`` *given* ``c``. A model may take
both.

What a model can do beyond this is *declared* by class attributes and read through
:func:`genzoo.models.capabilities.capabilities` (``model.capabilities``), never probed.
Constructor arguments are checked against the declarative table ``params`` (merged along the
class hierarchy, :mod:`genzoo.core.params`) before ``__init__`` runs.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.core.artifact import CONFIG_NAME, WEIGHTS_NAME, save_artifact
from genzoo.core.params import Constraint, Int, Optional, Sequence, merged, validate
from genzoo.errors import ConfigError, ModelError, UnsupportedError
from genzoo.models.capabilities import DENSITIES, Capabilities, capabilities

__all__ = [
    "CONFIG_NAME",
    "DENSITIES",
    "WEIGHTS_NAME",
    "GenerativeModel",
    "init_parameters",
    "with_condition",
]

#: the ``kind`` of an image model's artifact (:mod:`genzoo.core.artifact`)
ARTIFACT_KIND = "image-model"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ConfigError(
        f"constructor argument value {value!r} is not JSON-serialisable; "
        "model hyper-parameters must be numbers, strings, booleans, lists or None"
    )


_BASE_ARGS = ("shape", "levels", "num_classes", "condition_shape", "condition_levels")
_SHAPE = Sequence(Int(min=1), length=3)


def _too_large(exc: BaseException) -> bool:
    """Whether ``exc`` is torch failing to allocate a network, or a size beyond 64 bits."""
    if isinstance(exc, MemoryError | OverflowError):
        return True
    text = str(exc).lower()
    if isinstance(exc, TypeError | ValueError):  # torch: '... Overflow when unpacking long'
        return "overflow" in text
    return any(k in text for k in ("can't allocate memory", "out of memory", "overflow"))


def _too_large_message(owner: str, values: dict[str, Any], exc: BaseException) -> str:
    """What to say when the sizes in ``values`` ask for more memory than there is."""
    sizes = [(v, k) for k, v in values.items() if isinstance(v, int) and not isinstance(v, bool)]
    sizes += [(v, f"shape[{i}]") for i, v in enumerate(values.get("shape") or ())]
    largest = ", ".join(f"{k}={v}" for v, k in sorted(sizes, reverse=True)[:3])
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"{owner}: these hyper-parameters describe a network too large to build ({reason}); "
        f"reduce the largest sizes ({largest})"
    )


def with_condition(c: Tensor | None) -> dict[str, Tensor]:
    """``{"c": c}``, or ``{}`` without a condition: generic callers pass ``**with_condition(c)``
    so that models written before image conditions (``loss(x, y)``) keep working."""
    return {} if c is None else {"c": c}


def init_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """Named constructor parameters of ``cls``, following ``**kwargs`` into the parent class.

    A model that extends another by ``def __init__(self, *, k=5, **kwargs)`` thus exposes its own
    parameters plus the parent's (its own defaults win), for the CLI and the recorded config.
    """
    signature = inspect.signature(cls.__init__)
    named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = {k: p for k, p in signature.parameters.items() if k != "self" and p.kind in named}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        parent = next((k for k in cls.__mro__[1:] if "__init__" in k.__dict__), None)
        if parent is not None and parent is not nn.Module:
            params = {**init_parameters(parent), **params}
    return params


class GenerativeModel(nn.Module):
    """Base class of every genzoo model: the shared contract.

    Args:
        shape: image shape ``(C, H, W)``.
        levels: number of discrete values per sub-pixel (``x`` takes values in ``[0, levels)``).
        num_classes: number of classes for a class-conditional model, or ``None``.
    """

    #: registry name, set by :func:`genzoo.models.registry.register_model`.
    name: ClassVar[str] = ""
    #: the paper the model follows, for model cards and reports (set by each model file).
    paper: ClassVar[str] = ""
    # ---- capabilities (see genzoo.models.capabilities; read them with ``model.capabilities``)
    #: what ``log_prob`` returns: ``"exact"`` log-likelihood, a lower ``"bound"``, a stochastic
    #: ``"estimate"`` with no guaranteed direction per image (e.g. an RBM's AIS estimate, see
    #: :mod:`genzoo.models.classic.rbm`), or ``"none"``.
    density: ClassVar[str] = "none"
    #: ``"iwae"`` for bounds with an ELBO and an importance-weighted estimator.
    bound_estimator: ClassVar[str | None] = None
    #: ``log_prob(per_dim=True)`` gives the conditionals (exact models that factorise).
    per_dim_log_prob: ClassVar[bool] = True
    #: the training procedure (``"likelihood"``, ``"adversarial"``, ``"fit"``).
    procedure: ClassVar[str] = "likelihood"
    #: how ``sample`` can draw, the default first.
    sampling_methods: ClassVar[tuple[str, ...]] = ("ancestral",)
    #: how ``sample(known=, mask=)`` completes images (None: it cannot).
    completion: ClassVar[str | None] = None
    #: ``"encoder"``, ``"generator"`` or None.
    latent: ClassVar[str | None] = None
    has_features: ClassVar[bool] = False
    reconstructs: ClassVar[bool] = False
    gaussian_latent: ClassVar[bool] = False
    classifies: ClassVar[bool] = False
    image_conditional: ClassVar[bool] = False
    #: ``True`` for models of binary images only: building one with ``levels != 2`` raises.
    binary_only: ClassVar[bool] = False
    #: :class:`~genzoo.training.TrainConfig` values this model is best trained with (the
    #: CLI applies them unless a flag is given; ``TrainConfig.recommended(model)`` in Python).
    train_defaults: ClassVar[dict[str, Any]] = {}
    #: recommended constructor arguments for training from scratch (e.g. dropout against
    #: over-fitting small data): ``genzoo train`` applies them unless a flag is given and says
    #: so; ``create_model`` keeps the constructor's own defaults.
    recommended: ClassVar[dict[str, Any]] = {}
    #: the constructor's parameter table (merged with the parents'; :mod:`genzoo.core.params`).
    params: ClassVar[dict[str, Constraint]] = {
        "shape": _SHAPE,
        "levels": Int(min=2),
        "num_classes": Optional(Int(min=1)),
        "condition_shape": Optional(_SHAPE),
        "condition_levels": Optional(Int(min=2)),
    }

    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: GenerativeModel, *args: Any, **kw: Any) -> None:
            outermost = not self.__dict__.get("_recording_config", False)
            if outermost:
                object.__setattr__(self, "_recording_config", True)
                try:
                    bound = signature.bind(self, *args, **kw)
                except TypeError as exc:
                    raise ConfigError(f"{cls.__name__}: {exc}") from None
                bound.apply_defaults()
                values = {
                    k: v
                    for k, v in list(bound.arguments.items())[1:]
                    if signature.parameters[k].kind is not inspect.Parameter.VAR_KEYWORD
                }
                for k, v in list(bound.arguments.items())[1:]:
                    if signature.parameters[k].kind is inspect.Parameter.VAR_KEYWORD:
                        values.update(v)
                kind = type(self)
                validate(merged(kind), values, owner=kind.name or kind.__name__)
                # defaults of parameters a subclass passes on through **kwargs are recorded too
                config: dict[str, Any] = {
                    k: p.default for k, p in init_parameters(cls).items() if k not in _BASE_ARGS
                }
                for pname, value in list(bound.arguments.items())[1:]:
                    if signature.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
                        config.update(value)
                    else:
                        config[pname] = value
            try:
                init(self, *args, **kw)
            except (MemoryError, OverflowError, RuntimeError, TypeError, ValueError) as exc:
                if not outermost or not _too_large(exc):
                    raise
                kind = type(self)
                raise ConfigError(
                    _too_large_message(kind.name or kind.__name__, values, exc)
                ) from exc
            if outermost:
                self.__dict__["config"] = _jsonable(config)
                self.__dict__["_recording_config"] = False

        cls.__init__ = recording_init  # type: ignore[method-assign]

    def __init__(
        self,
        *,
        shape: tuple[int, int, int] | list[int],
        levels: int,
        num_classes: int | None = None,
        condition_shape: tuple[int, int, int] | list[int] | None = None,
        condition_levels: int | None = None,
    ) -> None:
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if self.binary_only and int(levels) != 2:
            raise ConfigError(
                f"{self.name or type(self).__name__} models binary images, got levels={levels}; "
                "binarise the data: pass --levels 2 (Python: load_dataset(name, levels=2))"
            )
        if (condition_shape is None) != (condition_levels is None):
            raise ConfigError(
                "pass both condition_shape and condition_levels (an image condition), or neither"
            )
        if condition_shape is not None and not self.image_conditional:
            raise ConfigError(
                f"{self.name or type(self).__name__} does not take an image condition; "
                "see `genzoo models` for the image-conditional models"
            )
        if self.image_conditional and condition_shape is None:
            raise ConfigError(
                f"{self.name or type(self).__name__} is conditioned on an image: pass "
                "condition_shape and condition_levels (train it with --task, see `genzoo tasks`)"
            )
        self.shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.levels = int(levels)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.condition_shape: tuple[int, int, int] | None = (
            None if condition_shape is None else tuple(int(v) for v in condition_shape)  # type: ignore[assignment]
        )
        self.condition_levels = None if condition_levels is None else int(condition_levels)

    # ------------------------------------------------------------------ properties
    @property
    def capabilities(self) -> Capabilities:
        """What this model can do (declared; see :mod:`genzoo.models.capabilities`)."""
        return capabilities(self)

    @property
    def trained_by_fit(self) -> bool:
        """Fitted by its own algorithm (``procedure == "fit"``), not by gradient steps."""
        return self.procedure == "fit"

    @property
    def adversarial(self) -> bool:
        """A two-player model (``procedure == "adversarial"``)."""
        return self.procedure == "adversarial"

    def players(self) -> list[nn.Module]:
        """The parts that get one optimiser each (the model; a GAN's two networks)."""
        return [self]

    @property
    def batches_per_step(self) -> int:
        """Training batches one optimiser step consumes (a GAN's critic steps take several)."""
        return 1

    #: what :meth:`reduce_statistics` applies; set only inside :meth:`reducing_statistics`
    _statistics_reducer: Callable[[Tensor], Tensor] | None = None

    def reduce_statistics(self, stats: Tensor) -> Tensor:
        """``stats`` summed over the processes of a data-parallel run (``stats`` itself in one).

        For statistics a training-mode ``loss`` accumulates outside the gradient, which DDP's
        gradient averaging never sees (VQ-VAE's codebook counts and sums): summed, every process
        applies the whole global batch's statistics, as one process would. The model never
        touches the process group; the training engine lends the reduction
        (:meth:`reducing_statistics`).
        """
        reducer = self._statistics_reducer
        return stats if reducer is None else reducer(stats)

    @contextlib.contextmanager
    def reducing_statistics(self, reducer: Callable[[Tensor], Tensor]) -> Iterator[None]:
        """Within the block, :meth:`reduce_statistics` applies ``reducer`` (a sum over the
        processes, from :mod:`genzoo.training`)."""
        self._statistics_reducer = reducer
        try:
            yield
        finally:
            del self._statistics_reducer

    @property
    def num_dims(self) -> int:
        """Number of sub-pixels ``D = C * H * W``."""
        c, h, w = self.shape
        return c * h * w

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the parameters (float32 unless the user converted the model)."""
        for tensor in self.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.get_default_dtype()

    def scale(self, x: Tensor) -> Tensor:
        """Map integer levels ``[0, levels)`` to floats in ``[-1, 1]``."""
        return x.to(self.dtype) * (2.0 / (self.levels - 1)) - 1.0

    # ------------------------------------------------------------------ validation
    def check_input(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> None:
        """Raise :class:`ModelError` unless ``x`` (and ``y``, ``c``) fit this model."""
        if not isinstance(x, Tensor):
            raise ModelError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise ModelError(
                f"x must hold integer levels in [0, {self.levels}), got dtype {x.dtype}; "
                "load data with genzoo.load_dataset or quantise it first"
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            raise ModelError(
                f"x must have shape [B, {', '.join(map(str, self.shape))}], got {list(x.shape)}"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.levels):
            raise ModelError(
                f"x values must lie in [0, {self.levels}), got [{int(x.min())}, {int(x.max())}]; "
                f"re-quantise the data to {self.levels} levels"
            )
        self.check_labels(y, x.shape[0])
        self.check_condition(c, x.shape[0])

    def check_condition(self, c: Tensor | None, batch: int) -> None:
        """Raise :class:`ModelError` unless ``c`` is this model's conditioning image batch."""
        if self.condition_shape is None:
            if c is not None:
                raise ModelError(
                    f"{self.name} is not conditioned on an image; do not pass c (models that "
                    "are: see `genzoo models`)"
                )
            return
        if c is None:
            raise ModelError(
                f"{self.name} is conditioned on an image: pass c, a LongTensor [{batch}, "
                f"{', '.join(map(str, self.condition_shape))}] in [0, {self.condition_levels})"
            )
        if not isinstance(c, Tensor) or c.dtype not in (torch.int64, torch.int32, torch.uint8):
            raise ModelError(
                f"c must be an integer tensor of levels in [0, {self.condition_levels}), got "
                f"{type(c).__name__ if not isinstance(c, Tensor) else c.dtype}"
            )
        if c.dim() != 4 or tuple(c.shape) != (batch, *self.condition_shape):
            raise ModelError(
                f"c must have shape [{batch}, {', '.join(map(str, self.condition_shape))}], got "
                f"{list(c.shape)}"
            )
        levels = int(self.condition_levels or 0)
        if c.numel() and (int(c.min()) < 0 or int(c.max()) >= levels):
            raise ModelError(
                f"c values must lie in [0, {levels}), got [{int(c.min())}, {int(c.max())}]"
            )

    def condition_factor(self) -> tuple[int, int]:
        """``(H / H_c, W / W_c)``: how much larger the target is than the image condition.

        Raises:
            ConfigError: the condition's sides do not divide the target's (super-resolution is
                by an integer factor; colorization's condition has the target's size).
        """
        _, height, width = self.shape
        _, cond_height, cond_width = self.condition_shape or self.shape
        if height % cond_height or width % cond_width:
            raise ConfigError(
                f"{self.name}: the condition's size {cond_height}x{cond_width} must divide the "
                f"target's {height}x{width} (super-resolution by an integer factor, or the same "
                "size for colorization); pick a --scale that divides the image sides"
            )
        return height // cond_height, width // cond_width

    def scale_condition(self, c: Tensor) -> Tensor:
        """Map the condition's integer levels ``[0, condition_levels)`` to floats in ``[-1, 1]``."""
        return c.to(self.dtype) * (2.0 / (int(self.condition_levels or 2) - 1)) - 1.0

    def check_labels(self, y: Tensor | None, batch: int) -> None:
        if self.num_classes is None:
            if y is not None:
                raise ModelError("this model is unconditional; do not pass y")
            return
        if y is None:
            raise ModelError(
                f"this model is class-conditional ({self.num_classes} classes); pass y"
            )
        if y.shape != (batch,) or y.dtype not in (torch.int64, torch.int32):
            raise ModelError(f"y must be an integer tensor of shape [{batch}], got {list(y.shape)}")
        if batch and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise ModelError(f"y values must lie in [0, {self.num_classes})")

    # ------------------------------------------------------------------ the contract
    def log_prob(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        per_dim: bool = False,
    ) -> Tensor:
        """Log-likelihood of ``x`` (LongTensor ``[B, C, H, W]`` in ``[0, levels)``) in nats.

        ``y``: labels ``[B]`` of a class-conditional model; ``c``: the conditioning images
        ``[B, *condition_shape]`` of an image-conditional one (then ``log p(x | c)``).
        Returns ``[B]``, or ``[B, C, H, W]`` with ``per_dim=True``.
        """
        raise UnsupportedError(f"{self.name} has no likelihood (density={self.density!r})")

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
        """Draw ``n`` images, LongTensor ``[n, C, H, W]``; ``known``/``mask`` complete images;
        ``c`` ``[n, *condition_shape]`` conditions an image-conditional model."""
        raise UnsupportedError(f"{self.name} cannot sample")

    def loss(
        self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Training objective for a batch: ``{"loss": scalar, ...metrics}``.

        The default, for models with a density, is the negative log-likelihood in nats per
        sub-pixel (so learning rates do not depend on image size), with ``nll_nats`` (per image)
        and ``bits_per_dim`` as metrics.
        """
        # (a model without an image condition may define log_prob(x, y) without ``c``)
        log_p = self.log_prob(x, y) if c is None else self.log_prob(x, y, c=c)
        nll = -log_p.mean()
        per_dim = nll / self.num_dims
        return {
            "loss": per_dim,
            "nll_nats": nll.detach(),
            "bits_per_dim": per_dim.detach() / math.log(2),
        }

    def fit(
        self,
        x: Tensor,
        y: Tensor | None = None,
        *,
        c: Tensor | None = None,
        generator: torch.Generator | None = None,
        max_iter: int | None = None,
        callback: Callable[[dict[str, float]], bool | None] | None = None,
    ) -> list[dict[str, float]]:
        """Fit a model with ``procedure == "fit"`` to ``x`` (``[N, C, H, W]``), e.g. by EM.

        Args:
            x, y: training images and (for a class-conditional model) labels ``[N]``.
            generator: the only source of randomness (initialisation).
            max_iter: at most this many iterations (``None``: the model's own setting).
            callback: called after every iteration with its metrics (the parameters are then
                those of that iteration); returning ``True`` stops the fit.

        Returns:
            One dict of metrics per iteration (``nll_nats``, ``bits_per_dim``, ... on ``x``).
        """
        raise UnsupportedError(
            f"{self.name} is trained by gradient steps on its loss, not by fit(); use "
            "genzoo.training.train (genzoo train)"
        )

    def likelihood_checks(self, x: Tensor, y: Tensor | None = None) -> dict[str, dict[str, Any]]:
        """Checks of the number ``log_prob`` reports, given training images ``x`` ``[N, C, H, W]``
        (and labels ``y``): ``{"name": {"passed": bool, ...}}``, each ``passed`` False when the
        number is provably wrong (a check without ``passed`` only records). ``genzoo eval``
        stores them as the test estimate's ``checks`` (:class:`genzoo.core.metrics.Estimate`).
        The default, for models whose ``log_prob`` needs no check, is none (``{}``); the RBM and
        the DBN check their AIS ``log Z`` against a certain lower bound.
        """
        return {}

    def features(self, x: Tensor, y: Tensor | None = None, *, c: Tensor | None = None) -> Tensor:
        """A deterministic representation of ``x`` for feature learning, clustering and 2-D maps.

        Args:
            x: LongTensor ``[B, C, H, W]`` in ``[0, levels)``; y: labels ``[B]`` of a
                class-conditional model (features that see ``y`` are unfit for a linear probe).

        Returns:
            float Tensor ``[B, F]`` (e.g. a VAE's posterior mean, a GAN discriminator's features).
        """
        raise UnsupportedError(
            f"{self.name} has no latent features; models with latents or features are the VAE "
            "family, the GANs (discriminator features) and the classic latent models"
        )

    def default_labels(self, n: int) -> Tensor | None:
        """Labels used when sampling a conditional model without ``y``: classes in turn."""
        if self.num_classes is None:
            return None
        return torch.arange(n, device=self.device) % self.num_classes

    def prepare_sampling(
        self,
        n: int,
        y: Tensor | None,
        known: Tensor | None,
        mask: Tensor | None,
        c: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Validate sampling arguments; returns ``(x, mask, y)`` on the model's device.

        ``x`` LongTensor ``[n, C, H, W]`` holds ``known`` where ``mask`` is True and 0 elsewhere;
        ``mask`` is expanded to ``[n, C, H, W]``; ``y`` is the given or default labels. ``c`` (an
        image-conditional model's condition ``[n, ...]``) is checked; move it with
        :meth:`to_device`.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"number of samples must be a positive integer, got {n!r}")
        device = self.device
        if y is None:
            y = self.default_labels(n)
        self.check_labels(y, n)
        self.check_condition(c, n)
        y = None if y is None else y.to(device)
        if (known is None) != (mask is None):
            raise ModelError("pass both `known` and `mask` to complete images, or neither")
        x = torch.zeros((n, *self.shape), dtype=torch.long, device=device)
        full_mask = torch.zeros((n, *self.shape), dtype=torch.bool, device=device)
        if known is not None and mask is not None:
            if mask.dtype != torch.bool:
                raise ModelError(f"mask must be a bool tensor, got {mask.dtype}")
            try:
                full_mask = mask.to(device).expand(n, *self.shape).clone()
            except RuntimeError:
                raise ModelError(
                    f"mask of shape {list(mask.shape)} does not broadcast to [{n}, "
                    f"{', '.join(map(str, self.shape))}]"
                ) from None
            if not isinstance(known, Tensor) or known.dim() != 4 or known.shape[0] != n:
                raise ModelError(
                    f"known must be a LongTensor [{n}, {', '.join(map(str, self.shape))}], got "
                    f"{list(known.shape) if isinstance(known, Tensor) else type(known).__name__}"
                )
            self.check_input(known, y, c)
            if known.shape[0] != n:
                raise ModelError(f"known has {known.shape[0]} images but n={n}")
            x = torch.where(full_mask, known.to(device).long(), x)
        return x, full_mask, y

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into directory ``path`` (atomically;
        :func:`genzoo.load_model` rebuilds the model from them)."""
        return save_artifact(
            path, kind=ARTIFACT_KIND, name=self.name, config=self.config, module=self
        )

    def extra_repr(self) -> str:
        text = f"shape={self.shape}, levels={self.levels}, num_classes={self.num_classes}"
        if self.condition_shape is not None:
            text += f", condition_shape={self.condition_shape}"
        return text
