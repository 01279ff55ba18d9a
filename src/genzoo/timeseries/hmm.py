"""Gaussian hidden Markov model of a univariate series, for likelihoods and simulated futures.

Model (Rabiner 1989; Baum-Welch EM from hmmlearn's ``GaussianHMM``, which is wrapped, not
rewritten): hidden states ``s_t in {0..K-1}`` form a Markov chain with initial distribution
``pi`` and transition matrix ``A``; each observation is ``x_t | s_t = k ~ N(mu_k, sigma_k^2)``.

The model is fitted to the standardised training series, or to its standardised lag-``m``
differences with ``difference=m`` (see :mod:`genzoo.timeseries.base`); ``means_``/``variances_``
are reported in the units of what is modelled (the values, or their differences). Everything
after fitting is computed here from the fitted parameters with the scaled forward pass (state
probabilities normalised at every step, emissions scaled by their largest term, the log of the
normaliser accumulated; Rabiner 1989, sec. V.A):

* predicted state ``a_t(k) = p(s_t = k | x_<t)`` (``a_0 = pi``, ``a_{t+1} = f_t A``);
* one-step predictive density ``p(x_t | x_<t) = sum_k a_t(k) N(x_t; mu_k, sigma_k^2)`` and the
  filtered state ``f_t(k) = a_t(k) N(x_t; mu_k, sigma_k^2) / p(x_t | x_<t)``.

``log p(test | history)`` is the sum of the one-step terms over the test steps, which equals
``log p(history + test) - log p(history)`` (both as computed by hmmlearn's ``score``; tested).

Simulation filters the state posterior at the end of the history, then draws future states
from the chain and emissions from the state Gaussians, all paths at once with an explicit
``numpy.random.Generator``. ``sample(n)`` is the same with an empty history (first state from
``pi``) and returns the states as labels.

Deviations: one sequence only (no ``lengths``); ``n_init`` EM restarts from different seeds keep
the fit with the highest *training* likelihood (hmmlearn does a single run; no test data is
involved in the choice).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import logsumexp

from genzoo.core.params import Constraint, Float, Int, OneOf
from genzoo.errors import ConfigError
from genzoo.timeseries.base import SeriesModel, as_values, register_forecaster

LOG_2PI = math.log(2.0 * math.pi)
COVARIANCE_TYPES = ("diag", "spherical", "full", "tied")


def _gaussian_hmm_class() -> type:
    try:
        from hmmlearn.hmm import GaussianHMM
    except ImportError as err:  # pragma: no cover - hmmlearn is in the timeseries extra
        raise ConfigError(
            "the hmm model wraps hmmlearn; install it with `pip install 'genzoo[timeseries]'`"
        ) from err
    return GaussianHMM


@register_forecaster("hmm")
class GaussianHMMForecaster(SeriesModel):
    """Gaussian-emission hidden Markov model (a wrapper of hmmlearn's GaussianHMM).

    Args:
        n_states: number of hidden states ``K``.
        covariance_type: hmmlearn's ``"diag"`` (one variance per state; for 1-D data the same
            as ``"spherical"`` and ``"full"``) or ``"tied"`` (one variance shared by all states).
        n_iter: maximum EM iterations per run.
        tol: EM stops when the training log-likelihood gains less than this (nats).
        min_covar: variance floor on the standardised scale.
        n_init: EM runs from different seeds; the one with the best training likelihood is kept.
        difference: lag ``m`` of the differences modelled (0: the values themselves).
        random_state: integer seed of the EM initialisations (k-means); the ``n_init`` run
            seeds are derived from it.

    Fitted attributes: ``hmm_`` (the hmmlearn model, standardised scale), ``startprob_`` [K],
    ``transmat_`` [K, K], ``means_`` [K] and ``variances_`` [K] (original units of what is
    modelled), ``mean_``/``scale_`` (the standardisation), ``level_mean_``/``level_scale_``,
    ``train_log_likelihood_`` (nats, original units), ``n_iter_`` and ``converged_`` (of the
    kept run), ``n_train_``.
    """

    params: ClassVar[dict[str, Constraint]] = {
        "n_states": Int(min=1),
        "covariance_type": OneOf(*COVARIANCE_TYPES),
        "n_iter": Int(min=1),
        "tol": Float(min=0.0),
        "min_covar": Float(min=0.0, min_open=True),
        "n_init": Int(min=1),
        "random_state": Int(),
    }

    def __init__(
        self,
        n_states: int = 3,
        *,
        covariance_type: str = "diag",
        n_iter: int = 200,
        tol: float = 1e-4,
        min_covar: float = 1e-3,
        n_init: int = 3,
        difference: int = 0,
        random_state: int = 0,
    ) -> None:
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.n_iter = n_iter
        self.tol = tol
        self.min_covar = min_covar
        self.n_init = n_init
        self.difference = difference
        self.random_state = random_state

    @property
    def min_train_length(self) -> int:  # type: ignore[override]
        return 2 * int(self.n_states) + 1

    def _fit_standardized(self, z: np.ndarray) -> None:
        seeds = np.random.SeedSequence(self.random_state).generate_state(self.n_init)
        best, best_score = None, -np.inf
        for seed in seeds:
            model = self._hmmlearn_model(int(seed))
            model.fit(z[:, None])
            score = model.score(z[:, None])
            if score > best_score:
                best, best_score = model, score
        history = list(best.monitor_.history)
        self.n_iter_ = int(best.monitor_.iter)
        self.converged_ = bool(len(history) >= 2 and history[-1] - history[-2] < self.tol)
        self._set_parameters(
            best.startprob_, best.transmat_, best.means_[:, 0], np.reshape(best.covars_, -1)
        )
        self.hmm_ = best

    def _hmmlearn_model(self, seed: int | None) -> Any:
        """An unfitted ``hmmlearn.hmm.GaussianHMM`` with this model's settings."""
        return _gaussian_hmm_class()(
            n_components=self.n_states,
            covariance_type=self.covariance_type,
            n_iter=self.n_iter,
            tol=self.tol,
            min_covar=self.min_covar,
            random_state=seed,
        )

    def _set_parameters(self, startprob: Any, transmat: Any, mu: Any, var: Any) -> None:
        """Fitted attributes from the standardised-scale parameters ``(pi, A, mu, sigma^2)``."""
        self.startprob_ = np.asarray(startprob, dtype=np.float64)
        self.transmat_ = np.asarray(transmat, dtype=np.float64)
        self._mu = np.asarray(mu, dtype=np.float64)
        self._var = np.asarray(var, dtype=np.float64)
        self.means_ = self.mean_ + self.scale_ * self._mu
        self.variances_ = self.scale_**2 * self._var

    # -- forward pass (standardised scale) -------------------------------------------------------
    def _log_emission(self, z: np.ndarray) -> np.ndarray:
        """``log N(z_t; mu_k, sigma_k^2)``: ``[T] -> [T, K]``."""
        d = z[:, None] - self._mu[None, :]
        return -0.5 * (LOG_2PI + np.log(self._var)[None, :] + d**2 / self._var[None, :])

    def _forward(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted states ``[T+1, K]``, filtered states ``[T, K]``, ``log p(z_t | z_<t)`` ``[T]``.

        Row ``t`` of the predicted states is ``p(s_t | z_0..z_{t-1})``, so row ``T`` is the next
        step's; row ``t`` of the filtered states is ``p(s_t | z_0..z_t)``.
        """
        log_b = self._log_emission(z)
        t_len, k = log_b.shape
        peak = log_b.max(axis=1) if t_len else np.empty(0)
        b = np.exp(log_b - peak[:, None])  # the likeliest state's term is 1: no underflow of all
        pred = np.empty((t_len + 1, k))
        filt = np.empty((t_len, k))
        step = np.empty(t_len)
        pred[0] = self.startprob_
        for t in range(t_len):
            joint = pred[t] * b[t]
            norm = joint.sum()
            if norm > 0.0:
                filt[t] = joint / norm
                step[t] = math.log(norm) + peak[t]
            else:  # every state with predicted mass is > 700 nats less likely: log space
                with np.errstate(divide="ignore"):
                    log_joint = np.log(pred[t]) + log_b[t]
                step[t] = logsumexp(log_joint)
                filt[t] = np.exp(log_joint - step[t])
            pred[t + 1] = filt[t] @ self.transmat_
        return pred, filt, step

    def _log_densities(self, z: np.ndarray, start: int) -> np.ndarray:
        return self._forward(z)[2][start:]

    def _moments(self, z: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
        probs = self._forward(z)[0][start:-1]
        mean = probs @ self._mu
        var = probs @ (self._var + self._mu**2) - mean**2
        return mean, np.sqrt(np.maximum(var, 0.0))

    def _next_log_density(self, z: np.ndarray, v: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_next = np.log(self._forward(z)[0][-1])
        return logsumexp(log_next[None, :] + self._log_emission(v), axis=1)

    def filter_states(self, history: Any) -> np.ndarray:
        """``p(s = k | history)``, the filtered state of the last modelled step: ``[K]``."""
        self._check_fitted()
        z = self._standardize(self._differences(as_values(history, "history")))
        if z.shape[0] == 0:
            raise ConfigError(
                f"filter_states needs more than difference={self.difference} history values"
            )
        return self._forward(z)[1][-1]

    # -- simulation --------------------------------------------------------------------------------
    def _simulate(
        self, z: np.ndarray, horizon: int, n_paths: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        # the first future state from p(s_T | z_<T) (pi if z is empty), later ones from A
        next_probs = self._forward(z)[0][-1]
        cum_next = np.cumsum(next_probs / next_probs.sum())
        cum_a = np.cumsum(self.transmat_ / self.transmat_.sum(1, keepdims=True), axis=1)
        k = self.n_states
        states = np.empty((n_paths, horizon), dtype=np.int64)
        u = rng.random((n_paths, horizon))
        states[:, 0] = np.minimum((u[:, 0, None] > cum_next[None, :]).sum(1), k - 1)
        for h in range(1, horizon):
            rows = cum_a[states[:, h - 1]]
            states[:, h] = np.minimum((u[:, h, None] > rows).sum(1), k - 1)
        noise = rng.standard_normal((n_paths, horizon))
        return self._mu[states] + np.sqrt(self._var[states]) * noise, states

    # -- persistence -------------------------------------------------------------------------------
    def _fitted_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        arrays = {"startprob": self.startprob_, "transmat": self.transmat_}
        arrays |= {"means_standardized": self._mu, "variances_standardized": self._var}
        return {"n_iter_": self.n_iter_, "converged_": self.converged_}, arrays

    def _restore(self, scalars: dict[str, Any], arrays: dict[str, torch.Tensor]) -> None:
        self.n_iter_, self.converged_ = int(scalars["n_iter_"]), bool(scalars["converged_"])
        a = {k: v.numpy() for k, v in arrays.items()}
        self._set_parameters(
            a["startprob"], a["transmat"], a["means_standardized"], a["variances_standardized"]
        )
        model = self._hmmlearn_model(None)
        var = self._var
        shapes = {"spherical": var, "diag": var[:, None], "full": var[:, None, None]}
        model.startprob_, model.transmat_ = self.startprob_, self.transmat_
        model.means_ = self._mu[:, None]
        model.covars_ = shapes.get(self.covariance_type, var[:1, None])  # tied: one [1, 1]
        model.n_features = 1
        self.hmm_ = model
