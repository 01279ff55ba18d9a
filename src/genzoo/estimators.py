"""scikit-learn estimators over genzoo's classic models: ``fit`` / ``score_samples`` / ``sample``.

Each estimator is a thin adapter: :meth:`GenerativeEstimator.fit` validates its parameters,
builds the registered contract model (``model_``, a :class:`~genzoo.models.GenerativeModel`) and
fits it — EM models by their own ``fit``, the RBM by :func:`genzoo.training.train` in a temporary
run directory — and every other method converts arrays and calls the model. No mathematics lives
here.

    >>> from sklearn.datasets import load_digits
    >>> from genzoo.estimators import GaussianMixture, NaiveBayes
    >>> X, y = load_digits(return_X_y=True)           # [1797, 64] integer levels 0..16
    >>> X = X.astype(int)
    >>> gmm = GaussianMixture(n_components=10, levels=17, random_state=0).fit(X[:1500])
    >>> gmm.score(X[1500:])                            # mean lower bound on log P(x), nats
    >>> nb = NaiveBayes(levels=17).fit(X[:1500], y[:1500])
    >>> nb.score(X[1500:], y[1500:])                   # accuracy (a classifier's score)

Data. ``X`` holds integer levels in ``[0, levels)``: ``[N, D]`` (shape ``(1, 1, D)``, or
``shape=(C, H, W)`` with ``C*H*W == D``) or images ``[N, C, H, W]`` (the shape is read off ``X``;
``sample`` then returns images too). ``levels=None`` takes ``max(X) + 1`` at ``fit`` (at least 2)
— pass it explicitly (17 for digits, 256 for 8-bit images) so that later data with larger values
stay valid. Float arrays are accepted when every value is an integer.

Conventions (scikit-learn's): the constructor only stores; ``fit`` validates (``ConfigError``, a
``ValueError``) and returns ``self``; fitted attributes end in ``_``; every other method raises
:class:`NotFittedError` before ``fit``; ``score_samples(X)`` is the per-sample log-likelihood in
nats (a lower bound for :class:`GaussianMixture`, an AIS estimate for large
:class:`BernoulliRBM`), ``score(X)`` its mean (for the classifier :class:`NaiveBayes`,
``score(X, y)`` is the accuracy, as for every scikit-learn classifier); ``sample(n_samples,
random_state)`` returns ``(X, y)`` with ``y`` the drawn classes (:class:`NaiveBayes`) or ``None``.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, DensityMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils import check_random_state

from genzoo.errors import ConfigError, ModelError
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import create_model

__all__ = [
    "BernoulliRBM",
    "CategoricalMixture",
    "GaussianMixture",
    "GenerativeEstimator",
    "NaiveBayes",
    "NotFittedError",
]


class NotFittedError(ModelError, SklearnNotFittedError):
    """A method was called before ``fit`` (also scikit-learn's ``NotFittedError``)."""


def _seed(random_state: Any) -> int:
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


class GenerativeEstimator(DensityMixin, BaseEstimator):
    """Shared adapter: array conversion, fitting and the density/sampling methods.

    Subclasses set ``_model`` (the registered model name) and ``_hyperparameters`` (estimator
    parameter -> model hyper-parameter), and define ``__init__`` with explicit keyword arguments.
    """

    _model: ClassVar[str]
    _hyperparameters: ClassVar[dict[str, str]]
    _supervised: ClassVar[bool] = False
    #: model hyper-parameters the estimator fixes (NaiveBayes: one component per class)
    _fixed: ClassVar[dict[str, Any]] = {}

    # ------------------------------------------------------------------ arrays
    def _as_images(self, X: Any, *, fitting: bool = False) -> torch.Tensor:
        """``X`` as a LongTensor ``[N, C, H, W]`` (shape and levels fixed at ``fit``)."""
        array = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
        if array.dtype.kind == "f":
            if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
                raise ConfigError(
                    "X must hold integer levels (e.g. 0..16 for digits); quantise the data first"
                )
        elif array.dtype.kind not in "iub":
            raise ConfigError(f"X must be an integer array, got dtype {array.dtype}")
        if array.ndim not in (2, 4) or array.size == 0:
            raise ConfigError(
                f"X must be a non-empty [N, D] or [N, C, H, W] array (n_samples >= 1, features "
                f">= 1), got shape {array.shape}"
            )
        if array.size and array.min() < 0:
            raise ConfigError("X must hold non-negative integer levels")
        if fitting:
            self.input_ndim_ = array.ndim
            if array.ndim == 4:
                self.shape_ = tuple(int(s) for s in array.shape[1:])
            elif self.shape is not None:
                self.shape_ = tuple(int(s) for s in self.shape)
                if math.prod(self.shape_) != array.shape[1]:
                    raise ConfigError(
                        f"shape={self.shape} has {math.prod(self.shape_)} sub-pixels but X has "
                        f"{array.shape[1]} features"
                    )
            else:
                self.shape_ = (1, 1, int(array.shape[1]))
            self.n_features_in_ = math.prod(self.shape_)
            self.levels_ = (
                int(self.levels) if self.levels is not None else max(2, int(array.max()) + 1)
            )
        if math.prod(array.shape[1:]) != self.n_features_in_:
            raise ConfigError(
                f"X has {math.prod(array.shape[1:])} features per sample but the estimator was "
                f"fitted on {self.n_features_in_}"
            )
        x = torch.from_numpy(array.astype(np.int64)).reshape(-1, *self.shape_)
        if int(x.max()) >= self.levels_:
            raise ConfigError(
                f"X has values up to {int(x.max())} but levels={self.levels_}; pass levels="
                f"{int(x.max()) + 1} (or more) to the constructor"
            )
        return x

    def _output(self, images: torch.Tensor) -> np.ndarray:
        images = images.cpu().numpy()
        return images if self.input_ndim_ == 4 else images.reshape(images.shape[0], -1)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # integer levels in [0, levels)
        return tags

    def _check_fitted(self) -> GenerativeModel:
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) before using it"
            )
        return self.model_

    # ------------------------------------------------------------------ fitting
    def _build(self, num_classes: int | None) -> GenerativeModel:
        hparams = {name: getattr(self, key) for key, name in self._hyperparameters.items()}
        hparams.update(self._fixed)
        torch.manual_seed(_seed(self.random_state))  # initial weights of gradient models
        return create_model(
            self._model,
            shape=self.shape_,
            levels=self.levels_,
            num_classes=num_classes,
            **hparams,
        ).double()

    def fit(self, X: Any, y: Any = None) -> GenerativeEstimator:
        """Fit on ``X`` (``[N, D]`` or ``[N, C, H, W]`` integer levels); returns ``self``."""
        x = self._as_images(X, fitting=True)
        labels = None
        if self._supervised:
            if y is None:
                raise ConfigError(f"{type(self).__name__} is a classifier: pass labels, fit(X, y)")
            self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
            if len(encoded) != len(x):
                raise ConfigError(f"X has {len(x)} samples but y has {len(encoded)}")
            labels = torch.from_numpy(encoded.astype(np.int64))
        model = self._build(None if labels is None else len(self.classes_))
        self._fit_model(model, x, labels)
        self.model_ = model.eval()
        return self

    def _fit_model(self, model: GenerativeModel, x: torch.Tensor, y: torch.Tensor | None) -> None:
        history = model.fit(x, y, generator=torch.Generator().manual_seed(_seed(self.random_state)))
        self.n_iter_ = len(history)
        self.converged_ = len(history) < model.max_iter or model.components == 1
        self.history_ = history

    # ------------------------------------------------------------------ density and sampling
    def score_samples(self, X: Any) -> np.ndarray:
        """Per-sample ``log p(x)`` in nats, ``[N]`` (see the model for exact/bound/estimate)."""
        model = self._check_fitted()
        x = self._as_images(X)
        log_p = self._log_density(model)
        return torch.cat([log_p(x[s : s + 512]) for s in range(0, len(x), 512)]).double().numpy()

    def _log_density(self, model: GenerativeModel) -> Any:
        """``x [N, C, H, W] -> log p(x) [N]`` of the fitted model."""
        return model.log_prob

    def score(self, X: Any, y: Any = None) -> float:
        """Mean of :meth:`score_samples` (nats per sample)."""
        return float(self.score_samples(X).mean())

    def sample(self, n_samples: int = 1, random_state: Any = None) -> tuple[np.ndarray, Any]:
        """Draw ``n_samples``: ``(X, None)`` with ``X`` in the layout of the training data."""
        model = self._check_fitted()
        if int(n_samples) < 1:
            raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
        generator = torch.Generator().manual_seed(_seed(random_state))
        return self._output(model.sample(int(n_samples), generator=generator)), None


class _MixtureEstimator(GenerativeEstimator):
    """Component posteriors of an unconditional mixture (scikit-learn ``GaussianMixture``'s)."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """Responsibilities ``p(k | x)``, ``[N, n_components]`` (rows sum to 1)."""
        model = self._check_fitted()
        return model.features(self._as_images(X)).double().exp().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most responsible component, ``[N]``."""
        return self.predict_proba(X).argmax(1)


class GaussianMixture(_MixtureEstimator):
    """Gaussian mixture on pixel vectors (genzoo model ``gmm``), wrapping scikit-learn's EM.

    ``score_samples`` is a deterministic *lower bound* on the discrete ``log P(x)`` (uniform
    dequantisation, Theis et al. 2016; see :mod:`genzoo.models.classic.gmm`).
    """

    _model = "gmm"
    _hyperparameters: ClassVar[dict[str, str]] = {
        "n_components": "components",
        "covariance_type": "covariance_type",
        "reg_covar": "reg_covar",
        "max_iter": "max_iter",
        "tol": "tol",
        "init_params": "init_params",
    }

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        tol: float = 1e-3,
        init_params: str = "kmeans",
        levels: int | None = None,
        shape: tuple[int, int, int] | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.init_params = init_params
        self.levels = levels
        self.shape = shape
        self.random_state = random_state


class CategoricalMixture(_MixtureEstimator):
    """Mixture of per-pixel categoricals fitted by EM (genzoo model ``mixture_categorical``)."""

    _model = "mixture_categorical"
    _hyperparameters: ClassVar[dict[str, str]] = {
        "n_components": "components",
        "alpha": "alpha",
        "max_iter": "max_iter",
        "tol": "tol",
    }

    def __init__(
        self,
        n_components: int = 10,
        *,
        alpha: float = 1.0,
        max_iter: int = 100,
        tol: float = 1e-4,
        levels: int | None = None,
        shape: tuple[int, int, int] | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.levels = levels
        self.shape = shape
        self.random_state = random_state


class NaiveBayes(ClassifierMixin, GenerativeEstimator):
    """Naive Bayes over categorical pixels: ``p(y) prod_d p(x_d | y)`` with Laplace smoothing
    ``alpha`` (genzoo model ``mixture_categorical`` with one component per class).

    ``predict_proba`` is Bayes' rule; ``score(X, y)`` the accuracy; ``score_samples(X)`` the
    marginal ``log p(x) = log sum_y p(y) p(x | y)``; ``sample`` draws ``y ~ p(y)`` then ``x``.
    """

    _model = "mixture_categorical"
    _supervised = True
    _hyperparameters: ClassVar[dict[str, str]] = {"alpha": "alpha"}
    _fixed: ClassVar[dict[str, Any]] = {"components": 1}

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        levels: int | None = None,
        shape: tuple[int, int, int] | None = None,
        random_state: Any = None,
    ) -> None:
        self.alpha = alpha
        self.levels = levels
        self.shape = shape
        self.random_state = random_state

    def _log_density(self, model: GenerativeModel) -> Any:
        return model.marginal_log_prob  # log sum_y p(y) p(x | y): the model is class-conditional

    def predict_proba(self, X: Any) -> np.ndarray:
        """``p(y | x)``, ``[N, n_classes]`` in the order of ``classes_``."""
        return self._check_fitted().predict_proba(self._as_images(X)).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class (a value of ``classes_``), ``[N]``."""
        return self.classes_[self.predict_proba(X).argmax(1)]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on ``(X, y)`` (scikit-learn's classifier convention)."""
        return ClassifierMixin.score(self, X, y)

    def sample(self, n_samples: int = 1, random_state: Any = None) -> tuple[np.ndarray, Any]:
        """``(X, y)``: classes ``y ~ p(y)``, then images ``X ~ p(x | y)``."""
        model = self._check_fitted()
        if int(n_samples) < 1:
            raise ConfigError(f"n_samples must be >= 1, got {n_samples}")
        generator = torch.Generator().manual_seed(_seed(random_state))
        prior = model.log_class_prior.double().exp()
        y = torch.multinomial(prior, int(n_samples), replacement=True, generator=generator)
        return self._output(model.sample(int(n_samples), y, generator=generator)), self.classes_[
            y.numpy()
        ]


class BernoulliRBM(GenerativeEstimator):
    """Bernoulli RBM (genzoo model ``rbm``) trained with PCD/CD by genzoo's training engine.

    Binary data only (``levels`` must be 2). ``score_samples`` is ``-F(x) - log Z``: exact for
    small RBMs, else an AIS estimate that *overestimates* ``log p(x)`` on average (see
    :mod:`genzoo.models.classic.rbm`). ``transform`` gives ``p(h = 1 | x)``.
    """

    _model = "rbm"
    _hyperparameters: ClassVar[dict[str, str]] = {
        "n_components": "hidden",
        "cd_steps": "cd_steps",
        "persistent": "persistent",
        "ais_steps": "ais_steps",
        "ais_chains": "ais_chains",
    }

    def __init__(
        self,
        n_components: int = 128,
        *,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        n_iter: int = 10,
        cd_steps: int = 1,
        persistent: bool = True,
        ais_steps: int = 10000,
        ais_chains: int = 100,
        levels: int | None = 2,
        shape: tuple[int, int, int] | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.cd_steps = cd_steps
        self.persistent = persistent
        self.ais_steps = ais_steps
        self.ais_chains = ais_chains
        self.levels = levels
        self.shape = shape
        self.random_state = random_state

    def _fit_model(self, model: GenerativeModel, x: torch.Tensor, y: torch.Tensor | None) -> None:
        from genzoo.data.dataset import Dataset
        from genzoo.training import TrainConfig, train

        data = Dataset(
            name="array",
            train=x,
            test=x[:0],
            train_labels=None,
            test_labels=None,
            levels=self.levels_,
            shape=self.shape_,
            num_classes=None,
            source="numpy array",
            raw_levels=self.levels_,
            train_raw=x,
            test_raw=x[:0],
        )
        config = TrainConfig(
            epochs=int(self.n_iter),
            batch_size=min(int(self.batch_size), len(x)),
            lr=float(self.learning_rate),
            seed=_seed(self.random_state),
            eval_every=0,
            checkpoint_every=0,
            precision="32",
            accelerator="cpu",
        )
        with tempfile.TemporaryDirectory() as out:
            result = train(model.float(), data, config, out)
        model.double()
        self.n_iter_ = result.epochs

    def transform(self, X: Any) -> np.ndarray:
        """Hidden probabilities ``p(h = 1 | x)``, ``[N, n_components]``."""
        return self._check_fitted().features(self._as_images(X)).double().numpy()

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).transform(X)
