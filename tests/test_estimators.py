"""The scikit-learn estimators of genzoo.estimators: conventions, and agreement with the models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from genzoo.errors import ConfigError
from genzoo.estimators import (
    BernoulliRBM,
    CategoricalMixture,
    GaussianMixture,
    NaiveBayes,
    NotFittedError,
)

ESTIMATORS = [
    GaussianMixture(3, levels=17, random_state=0),
    CategoricalMixture(3, levels=17, random_state=0),
    NaiveBayes(levels=17),
    BernoulliRBM(8, n_iter=2, batch_size=32, random_state=0),
]


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x.astype(np.int64)[:400], y[:400]


def data_for(estimator, x):
    return (x >= 9).astype(np.int64) if isinstance(estimator, BernoulliRBM) else x


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_scikit_learn_conventions(estimator):
    name = type(estimator).__name__
    check_parameters_default_constructible(name, estimator)
    check_no_attributes_set_in_init(name, estimator)
    check_get_params_invariance(name, estimator)
    check_set_params(name, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_fit_score_sample(estimator, digits):
    x, y = digits
    x = data_for(estimator, x)
    estimator = clone(estimator)
    with pytest.raises(NotFittedError, match="not fitted"):
        estimator.score_samples(x)
    fitted = estimator.fit(x[:300], y[:300])
    assert fitted is estimator and estimator.n_features_in_ == 64
    scores = estimator.score_samples(x[300:])
    assert scores.shape == (100,) and np.isfinite(scores).all()
    if isinstance(estimator, NaiveBayes):
        assert estimator.score(x[300:], y[300:]) > 0.75  # accuracy
        proba = estimator.predict_proba(x[300:])
        assert np.allclose(proba.sum(1), 1.0)
        samples, labels = estimator.sample(20, random_state=0)
        assert set(labels) <= set(estimator.classes_)
    else:
        assert estimator.score(x[300:]) == pytest.approx(scores.mean())
        samples, labels = estimator.sample(20, random_state=0)
        assert labels is None
    assert samples.shape == (20, 64) and samples.dtype == np.int64
    assert np.array_equal(samples, estimator.sample(20, random_state=0)[0])
    # the same maths as the contract model it wraps
    import torch

    model_scores = getattr(estimator.model_, "marginal_log_prob", estimator.model_.log_prob)(
        torch.from_numpy(x[300:]).view(-1, 1, 1, 64)
    )
    assert np.allclose(scores, model_scores.numpy())


def test_images_in_images_out_and_input_errors(digits):
    x, _ = digits
    images = x.reshape(-1, 1, 8, 8)
    gmm = GaussianMixture(2, levels=17, covariance_type="diag", random_state=0).fit(images)
    assert gmm.shape_ == (1, 8, 8)
    assert gmm.sample(3, random_state=1)[0].shape == (3, 1, 8, 8)
    assert np.allclose(gmm.score_samples(images[:5]), gmm.score_samples(x[:5]))
    with pytest.raises(ConfigError, match="levels=17"):
        gmm.score_samples(x[:5] + 1)
    with pytest.raises(ConfigError, match="integer levels"):
        GaussianMixture().fit(x + 0.5)
    with pytest.raises(ConfigError, match="covariance_type"):
        GaussianMixture(covariance_type="round", levels=17).fit(x)
    with pytest.raises(ConfigError, match="pass labels"):
        NaiveBayes().fit(x)
    with pytest.raises(ConfigError, match="--levels 2"):
        BernoulliRBM(levels=None).fit(x)  # 17 levels: the RBM models binary images only


def test_mixture_predict_proba_are_responsibilities(digits):
    x, _ = digits
    mixture = CategoricalMixture(4, levels=17, random_state=0).fit(x)
    proba = mixture.predict_proba(x[:50])
    assert proba.shape == (50, 4) and np.allclose(proba.sum(1), 1.0)
    assert np.array_equal(mixture.predict(x[:50]), proba.argmax(1))
    assert mixture.n_iter_ >= 2 and len(mixture.history_) == mixture.n_iter_
