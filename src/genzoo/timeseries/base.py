"""What every time-series model shares: input checks, the transform, likelihood units, persistence.

**Transform.** With ``difference = m > 0`` a model describes the lag-``m`` differences
``y_t = x_t - x_{t-m}`` (``m = 1``: trends; ``m = 12``: the seasonal differences of monthly
data); with ``m = 0`` it describes the values themselves, ``y_t = x_t``. Either way it is fitted
on a standardised copy ``z_t = (y_t - mean_) / scale_`` (``mean_``/``scale_`` from the training
part only) and works in ``z`` internally.

**Densities are reported for the original series.** Given the past, ``x_t -> z_t`` is affine
with slope ``1 / scale_``, so per step

    log p(x_t | x_<t) = log p_z(z_t | z_<t) - log scale_,            t >= m,

and a held-out log-likelihood of ``T`` steps carries the Jacobian ``-T log scale_`` (nats). The
first ``m`` values of a series have no lagged value; the model gives them the Gaussian
``N(level_mean_, level_scale_^2)`` of the training values, independently, which keeps
``p(x_0 .. x_{T-1})`` a normalised joint density.

**Held-out log-likelihood**, the quantity every model reports:

    log p(test | history) = log p(history, test) - log p(history)
                          = sum_t log p(test_t | history, test_<t),

one-step-ahead predictions chained by the product rule, each conditioned on the *observed* past.
Models differ only in how much of ``history`` they can use (the HMM: all of it, through the
filtered state; a causal convolution: its receptive field).

**Parameters.** Each model declares its constructor arguments in a table ``params``
(:mod:`genzoo.core.params`, merged along the class hierarchy); :meth:`SeriesModel.fit` and
:func:`create_forecaster` validate against it, so NaN, infinities, booleans for numbers and
out-of-range values raise :class:`~genzoo.errors.ConfigError` naming the parameter.

**Persistence.** :meth:`SeriesModel.save` writes an artifact of kind ``"series-model"``
(:mod:`genzoo.core.artifact`): ``config.json`` (model name, constructor arguments, and the fitted
scalars under ``"fitted"``) and ``model.safetensors`` (fitted arrays); :func:`load_forecaster`
rebuilds the fitted model from the two, and also reads the directories of genzoo 0.1
(``{"kind": "timeseries", "model", "params", "fitted"}``). No pickle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from genzoo.core.artifact import WEIGHTS_NAME, read_config, read_tensors, save_artifact
from genzoo.core.params import Constraint, Int, merged, validate
from genzoo.core.registry import Registry
from genzoo.errors import ConfigError, DatasetError, ModelError

#: the ``kind`` of a time-series model's artifact (:mod:`genzoo.core.artifact`)
ARTIFACT_KIND = "series-model"
LOG_2PI = math.log(2.0 * math.pi)
_LOAD_HINT = "pass the output directory of `genzoo series fit` or model.save()"
_SIMULATE_PARAMS = {"horizon": Int(min=1), "n_paths": Int(min=1)}

FORECASTERS: Registry[type[SeriesModel]] = Registry(
    "time-series model", hint="see `genzoo series list`"
)
"""Model name (``"hmm"``, ``"causal_ar"``, ...) → class; filled by :func:`register_forecaster`."""


def register_forecaster(name: str) -> Callable[[type[SeriesModel]], type[SeriesModel]]:
    """Class decorator: make a :class:`SeriesModel` available by ``name`` (CLI, loading)."""

    def decorate(cls: type[SeriesModel]) -> type[SeriesModel]:
        cls.name = name
        FORECASTERS.add(name, cls)
        return cls

    return decorate


def create_forecaster(name: str, **params: Any) -> SeriesModel:
    """An unfitted model by registry name with the given constructor arguments.

    Raises:
        ConfigError: an unknown name, an unknown argument, or a value its table refuses.
    """
    cls = FORECASTERS.get(name)
    try:
        model = cls(**params)
    except TypeError as err:
        raise ConfigError(f"{cls.__name__}: {err}") from None
    model._validate_params()
    return model


def as_values(x: Any, what: str = "X") -> np.ndarray:
    """``x`` (a :class:`~genzoo.timeseries.data.Series`, array ``[T]``/``[T, 1]``, tensor, list)
    as float64 ``[T]``."""
    if hasattr(x, "values") and not isinstance(x, np.ndarray):  # a Series
        x = x.values
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    values = np.asarray(x, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ConfigError(f"{what} must be a univariate series [T] or [T, 1], got {values.shape}")
    if not np.isfinite(values).all():
        raise DatasetError(f"{what} contains NaN or inf; fill the gaps first (interpolate_gaps)")
    return values


def gaussian_log_density(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``log N(x; mean, std^2)`` elementwise, float64."""
    return -0.5 * (LOG_2PI + ((x - mean) / std) ** 2) - math.log(std)


class SeriesModel:
    """Base class: scikit-learn style estimator of one univariate series.

    ``fit(X)``, ``score_samples(X, history)`` (per-step log-likelihood), ``score`` (its mean),
    ``sample(n, random_state) -> (X, y)``, plus ``simulate(history, horizon, n_paths,
    random_state)`` for many futures of a given past. Fitted attributes end in ``_``; calling a
    method that needs a fit before it raises :class:`~genzoo.errors.ModelError`.

    Subclasses are decorated with :func:`register_forecaster`, declare their constructor
    arguments in ``params`` (:mod:`genzoo.core.params`; merged with the parents' tables, a
    subclass's entry winning; validated by ``fit``) and implement the hooks below, all on the
    standardised scale ``z``.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Constraint]] = {"difference": Int(min=0)}
    #: shortest standardised training series the model accepts
    min_train_length: int = 3
    #: the label ``sample`` returns for the first ``difference`` values (no hidden label)
    LEVEL_LABEL = -1

    # -- parameters --------------------------------------------------------------------------
    @classmethod
    def param_table(cls) -> dict[str, Constraint]:
        """``{parameter: constraint}`` of every constructor argument (the merged ``params``)."""
        return merged(cls)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (the model's configuration); scikit-learn's signature."""
        return {name: getattr(self, name) for name in self.param_table()}

    def set_params(self, **params: Any) -> SeriesModel:
        """Set constructor arguments (validated by the next ``fit``); returns ``self``."""
        table = self.param_table()
        for name, value in params.items():
            if name not in table:
                known = sorted(table)
                raise ConfigError(f"{type(self).__name__}: no parameter {name!r}; it has {known}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self) -> None:
        validate(self.param_table(), self.get_params(), owner=type(self).__name__)

    def _check_fitted(self) -> None:
        if not hasattr(self, "scale_"):
            raise ModelError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    # -- the transform -----------------------------------------------------------------------
    def _differences(self, x: np.ndarray) -> np.ndarray:
        m = int(self.difference)
        return x if m == 0 else x[m:] - x[:-m]

    def _standardize(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean_) / self.scale_

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: Any, y: None = None) -> SeriesModel:
        """Fit on the training series ``X`` ``[T]`` (or ``[T, 1]``, or a ``Series``).

        ``y`` is ignored (scikit-learn convention). Returns ``self``.
        """
        self._validate_params()
        x = as_values(X)
        d = self._differences(x)
        if d.shape[0] < self.min_train_length:
            raise DatasetError(
                f"{type(self).__name__} needs at least {self.min_train_length + self.difference} "
                f"training values, got {x.shape[0]}; use a longer series or a shorter test part"
            )
        scale = float(d.std())
        if not scale > 0.0:
            what = "the training series" if self.difference == 0 else "its differences"
            raise DatasetError(f"{what} are constant; there is nothing to model")
        self.mean_ = float(d.mean())
        self.scale_ = scale
        self.level_mean_ = float(x.mean())
        self.level_scale_ = float(x.std())  # > 0: constant values have constant differences
        self.n_train_ = int(x.shape[0])
        self._fit_standardized(self._standardize(d))
        self.train_log_likelihood_ = self.log_likelihood(x)
        return self

    def _joined(self, X: Any, history: Any) -> tuple[np.ndarray, int]:
        """``history`` + ``X`` (original units) and the index where ``X`` starts."""
        self._check_fitted()
        x = as_values(X)
        h = np.empty(0) if history is None else as_values(history, "history")
        return np.concatenate([h, x]), int(h.shape[0])

    # -- likelihoods -------------------------------------------------------------------------
    def score_samples(self, X: Any, history: Any = None) -> np.ndarray:
        """Per-step ``log p(x_t | history, x_<t)`` of ``X`` ``[T]``, nats, original units: ``[T]``.

        ``history``: the observed values before ``X`` (``None``: ``X`` starts the series).
        """
        full, start = self._joined(X, history)
        m = int(self.difference)
        level = gaussian_log_density(full[start:m], self.level_mean_, self.level_scale_)
        if full.shape[0] <= max(start, m):
            return level
        z = self._standardize(self._differences(full))
        rest = self._log_densities(z, max(start - m, 0)) - math.log(self.scale_)
        return np.concatenate([level, rest])

    def log_likelihood(self, X: Any, history: Any = None) -> float:
        """``log p(X | history)`` in nats: the sum of :meth:`score_samples`."""
        return float(self.score_samples(X, history).sum())

    def score(self, X: Any, y: None = None, *, history: Any = None) -> float:
        """Mean per-step log-likelihood of ``X`` (nats per step): the mean of ``score_samples``.

        ``y`` must be ``None`` (scikit-learn's signature); the past goes in ``history=``.
        """
        if y is not None:
            raise ConfigError("score(X, y) takes no y; pass the past as score(X, history=...)")
        return float(self.score_samples(X, history).mean())

    def predictive_moments(self, X: Any, history: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """One-step-ahead predictive mean and standard deviation of each ``x_t`` given ``x_<t``.

        Returns ``(mean [T], std [T])`` in original units for the steps of ``X``.
        """
        full, start = self._joined(X, history)
        m, n = int(self.difference), full.shape[0]
        n_level = max(min(m, n) - start, 0)
        mean = np.full(n_level, self.level_mean_)
        std = np.full(n_level, self.level_scale_)
        if n > max(start, m):
            z = self._standardize(self._differences(full))
            mean_z, std_z = self._moments(z, max(start - m, 0))
            lagged = full[max(start, m) - m : n - m] if m else 0.0
            mean = np.concatenate([mean, lagged + self.mean_ + self.scale_ * mean_z])
            std = np.concatenate([std, self.scale_ * std_z])
        return mean, std

    def predictive_log_density(self, values: Any, history: Any = None) -> np.ndarray:
        """``log p(x_T = v | history)`` for each candidate ``v`` of ``values`` ``[M]``: ``[M]``.

        The one-step-ahead predictive density of the value right after ``history`` ``[T]``
        (``None``: the first value of a series), in nats and original units; for one ``v`` it
        equals ``score_samples([v], history)[0]``.
        """
        self._check_fitted()
        h = np.empty(0) if history is None else as_values(history, "history")
        v = as_values(values, "values")
        m = int(self.difference)
        if h.shape[0] < m:
            return gaussian_log_density(v, self.level_mean_, self.level_scale_)
        lagged = h[-m] if m else 0.0
        z = self._standardize(self._differences(h))
        return self._next_log_density(z, self._standardize(v - lagged)) - math.log(self.scale_)

    # -- simulation --------------------------------------------------------------------------
    def simulate(
        self,
        history: Any,
        horizon: int,
        n_paths: int = 100,
        random_state: Any = None,
        *,
        return_labels: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Sample ``n_paths`` futures of length ``horizon`` after ``history`` ``[T]``.

        Ancestral sampling from the model's ``p(x_{T+h} | history, sampled x_{T..T+h-1})``.

        Args:
            history: observed values before the future (``None`` or empty: a new series).
            random_state: integer seed, or the model's generator type (``numpy.random.
                Generator`` for the HMM, ``torch.Generator`` for the convolutional model);
                ``None``: fresh OS entropy.
            return_labels: also return each step's hidden label (HMM state, mixture component;
                :attr:`LEVEL_LABEL` for the first ``difference`` values of a new series).

        Returns:
            paths ``float64 [n_paths, horizon]`` in original units (and labels
            ``int64 [n_paths, horizon]``).
        """
        self._check_fitted()
        validate(_SIMULATE_PARAMS, {"horizon": horizon, "n_paths": n_paths}, owner="simulate")
        h = np.empty(0) if history is None else as_values(history, "history")
        m = int(self.difference)
        n_level = min(max(m - h.shape[0], 0), horizon)
        rng = self._random_source(random_state)
        paths = np.empty((n_paths, horizon))
        labels = np.full((n_paths, horizon), self.LEVEL_LABEL, dtype=np.int64)
        if n_level:  # a new series: its first values have no lagged value
            noise = self._level_noise(rng, (n_paths, n_level))
            paths[:, :n_level] = self.level_mean_ + self.level_scale_ * noise
        if horizon > n_level:
            z = self._standardize(self._differences(h))
            z_paths, labels[:, n_level:] = self._simulate(z, horizon - n_level, n_paths, rng)
            steps = self.mean_ + self.scale_ * z_paths
            if m == 0:
                paths[:, n_level:] = steps
            else:
                full = np.concatenate([np.broadcast_to(h, (n_paths, h.shape[0])), paths], axis=1)
                for i in range(n_level, horizon):
                    t = h.shape[0] + i
                    full[:, t] = full[:, t - m] + steps[:, i - n_level]
                paths = full[:, h.shape[0] :]
        return (paths, labels) if return_labels else paths

    def sample(self, n_samples: int = 1, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw a new series of length ``n_samples`` from the model (scikit-learn's ``sample``).

        Returns:
            ``(X, y)``: values ``float64 [n_samples, 1]`` in original units and the hidden
            label of each step ``int64 [n_samples]`` (see :meth:`simulate`).
        """
        paths, labels = self.simulate(None, n_samples, 1, random_state, return_labels=True)
        return paths[0][:, None], labels[0]

    # -- persistence -------------------------------------------------------------------------
    _BASE_FITTED = (
        "mean_",
        "scale_",
        "level_mean_",
        "level_scale_",
        "n_train_",
        "train_log_likelihood_",
    )

    def save(self, path: str | Path) -> Path:
        """Write the fitted model into the directory ``path`` (an artifact of kind
        ``"series-model"``: ``config.json`` + ``model.safetensors``); returns the directory."""
        self._check_fitted()
        scalars, arrays = self._fitted_state()
        fitted = {k: getattr(self, k) for k in self._BASE_FITTED} | scalars
        tensors = {
            k: v if isinstance(v, torch.Tensor) else torch.tensor(np.asarray(v))
            for k, v in arrays.items()
        }
        return save_artifact(
            path,
            kind=ARTIFACT_KIND,
            name=self.name,
            config=self.get_params(),
            tensors=tensors,
            extra={"fitted": fitted},
        )

    # -- hooks ---------------------------------------------------------------------------------
    def _fit_standardized(self, z: np.ndarray) -> None:
        raise NotImplementedError

    def _log_densities(self, z: np.ndarray, start: int) -> np.ndarray:
        """``log p(z_t | z_<t)`` for ``t = start .. T-1`` (standardised scale): ``[T - start]``."""
        raise NotImplementedError

    def _moments(self, z: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and std of ``z_t`` given ``z_<t`` for ``t = start .. T-1``."""
        raise NotImplementedError

    def _next_log_density(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``log p(z_T = v_m | z_0..z_{T-1})`` for each candidate ``v_m``: ``[M]``."""
        raise NotImplementedError

    def _random_source(self, random_state: Any) -> Any:
        """The generator ``_simulate`` and ``_level_noise`` draw from (default: numpy's)."""
        if isinstance(random_state, torch.Generator):
            raise ConfigError(
                f"{type(self).__name__} draws from numpy: pass an integer seed or a "
                "numpy.random.Generator"
            )
        return np.random.default_rng(random_state)

    def _level_noise(self, rng: Any, shape: tuple[int, int]) -> np.ndarray:
        """Standard normal noise ``[shape]`` float64 from ``rng``."""
        return rng.standard_normal(shape)

    def _simulate(
        self, z: np.ndarray, horizon: int, n_paths: int, rng: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(paths [n_paths, horizon], labels [n_paths, horizon])`` of ``z`` after ``z``."""
        raise NotImplementedError

    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """JSON-able fitted scalars and the fitted arrays (numpy or torch) to save."""
        raise NotImplementedError

    def _restore(self, scalars: dict[str, Any], arrays: dict[str, torch.Tensor]) -> None:
        """Set the fitted attributes from what :meth:`_fitted_state` saved."""
        raise NotImplementedError


def load_forecaster(path: str | Path) -> SeriesModel:
    """Rebuild a fitted model saved by :meth:`SeriesModel.save` (``config.json`` + safetensors).

    Reads the current artifact format and genzoo 0.1's (``"kind": "timeseries"``).

    Raises:
        ModelError: not a saved time-series model, or its files are damaged or do not match.
    """
    artifact = read_config(path, what="a saved time-series model", hint=_LOAD_HINT)
    if artifact.kind != ARTIFACT_KIND:
        held = "an image model" if artifact.kind == "image-model" else f"a {artifact.kind}"
        raise ModelError(
            f"{artifact.directory} holds {held}, not a time-series model; use `genzoo eval` "
            f"for image models, or {_LOAD_HINT}"
        )
    fitted = artifact.extra.get("fitted")
    if not isinstance(fitted, dict):
        raise ModelError(
            f"{artifact.directory} is not a valid time-series config (no fitted values); "
            "fit the model again"
        )
    model = create_forecaster(artifact.name, **artifact.config)
    arrays = read_tensors(artifact.directory / WEIGHTS_NAME)
    try:
        fitted = dict(fitted)
        for key in SeriesModel._BASE_FITTED:
            setattr(model, key, fitted.pop(key))
        model._restore(fitted, arrays)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{artifact.directory}: weights do not match its config: {first}; restore both "
            "files from the same run, or fit the model again"
        ) from None
    return model
