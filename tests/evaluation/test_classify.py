"""Generative classification by Bayes' rule: a hand computation, normalisation, numerical
stability, parity with the mixtures' own posterior, one pass per class, the metrics, the
baselines and the refusals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import genzoo
from genzoo.data import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation import classify


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return genzoo.load_dataset("digits")


@pytest.fixture(scope="module")
def naive_bayes(digits: Dataset):
    model = genzoo.create_model(
        "mixture_categorical",
        shape=digits.shape,
        levels=digits.levels,
        num_classes=10,
        components=1,
        max_iter=5,
    )
    model.fit(digits.train, digits.train_labels, generator=torch.Generator().manual_seed(0))
    return model.eval()


def two_class_model(p_one: list[list[float]]):
    """A class-conditional ``pixel_independent`` model of 1x1x2 binary images with
    ``P(x_d = 1 | y) = p_one[y][d]``."""
    model = genzoo.create_model("pixel_independent", shape=(1, 1, 2), levels=2, num_classes=2)
    p = torch.tensor(p_one).reshape(2, 1, 1, 2)
    with torch.no_grad():
        model.theta[:, 0] = torch.log1p(-p)
        model.theta[:, 1] = torch.log(p)
    return model.eval()


def test_two_class_posterior_matches_a_hand_computation() -> None:
    p_one = [[0.9, 0.2], [0.3, 0.6]]
    prior = [0.25, 0.75]
    model = two_class_model(p_one)
    states = list(itertools.product((0, 1), repeat=2))
    x = torch.tensor(states).reshape(4, 1, 1, 2)
    got = classify.predict_proba(model, x, torch.tensor(prior).log())
    for row, (a, b) in zip(got, states, strict=True):
        joint = [
            prior[y]
            * (p_one[y][0] if a else 1 - p_one[y][0])
            * (p_one[y][1] if b else 1 - p_one[y][1])
            for y in (0, 1)
        ]
        expected = [j / sum(joint) for j in joint]
        assert row.tolist() == pytest.approx(expected, rel=1e-6)
    assert torch.allclose(got.sum(1), torch.ones(4, dtype=torch.float64))
    flat = classify.predict_proba(model, x, torch.tensor([0.5, 0.5]).log())
    assert not torch.allclose(flat, got)  # negative control: the prior is used
    assert classify.predict(model, x, torch.tensor(prior).log()).tolist() == got.argmax(1).tolist()


def test_bayes_rule_is_stable_where_exp_underflows() -> None:
    torch.manual_seed(0)
    model = genzoo.create_model("pixel_independent", shape=(1, 32, 32), levels=256, num_classes=3)
    with torch.no_grad():
        model.theta.normal_(0, 3)
    x = torch.randint(0, 256, (5, 1, 32, 32))
    prior = torch.full((3,), -math.log(3), dtype=torch.float64)
    log_px_y = classify.class_log_likelihoods(model, x)
    assert float(log_px_y.max()) < -2000  # exp() of these is 0 in float64
    naive = (log_px_y.exp() * prior.exp()) / (log_px_y.exp() * prior.exp()).sum(1, keepdim=True)
    assert torch.isnan(naive).all()  # the naive formula fails here
    proba = classify.predict_proba(model, x, prior)
    assert torch.isfinite(proba).all()
    assert torch.allclose(proba.sum(1), torch.ones(5, dtype=torch.float64))
    expected = torch.softmax(log_px_y + prior, dim=1)
    assert torch.allclose(proba, expected)


def test_parity_with_the_mixtures_own_posterior(digits: Dataset, naive_bayes) -> None:
    x = digits.test[:100]
    ours = classify.predict_proba(naive_bayes, x, naive_bayes.log_class_prior)
    assert torch.allclose(ours, naive_bayes.predict_proba(x), atol=1e-10)
    # the prior of the training frequencies is the one genzoo classify uses
    freq = classify.class_log_prior(digits.train_labels, 10)
    counts = torch.bincount(digits.train_labels, minlength=10).double()
    assert torch.allclose(freq.exp(), counts / counts.sum())
    marginal = classify.marginal_log_prob(naive_bayes, x, naive_bayes.log_class_prior)
    assert torch.allclose(marginal, naive_bayes.marginal_log_prob(x), atol=1e-8)


def test_one_batched_pass_per_class(digits: Dataset, naive_bayes, monkeypatch) -> None:
    calls = []
    original = naive_bayes.log_prob

    def counting(x, y=None, **kw):
        calls.append((x.shape[0], set(y.tolist())))
        return original(x, y, **kw)

    monkeypatch.setattr(naive_bayes, "log_prob", counting)
    out = classify.class_log_likelihoods(naive_bayes, digits.test[:40], batch_size=64)
    assert out.shape == (40, 10) and len(calls) == 10
    assert [c[1] for c in calls] == [{k} for k in range(10)]
    calls.clear()
    classify.class_log_likelihoods(naive_bayes, digits.test[:40], batch_size=16)
    assert len(calls) == 10 * 3  # 40 images in batches of 16


def test_classification_metrics_on_known_answers() -> None:
    # 10 images, confidence 0.8 on class 0 each, half of them truly class 0
    proba = torch.tensor([[0.8, 0.2]] * 10, dtype=torch.float64)
    labels = torch.tensor([0] * 5 + [1] * 5)
    m = classify.classification_metrics(proba.log(), labels)
    assert m["accuracy"] == 0.5 and m["error"] == 0.5
    assert m["nll"] == pytest.approx(-(math.log(0.8) + math.log(0.2)) / 2)
    assert m["ece"] == pytest.approx(0.3, abs=1e-6)  # |confidence 0.8 - accuracy 0.5|
    calibrated = classify.classification_metrics(proba.log(), torch.tensor([0] * 8 + [1] * 2))
    assert calibrated["ece"] == pytest.approx(0.0, abs=1e-6)  # negative control
    with pytest.raises(ConfigError, match="log_proba"):
        classify.classification_metrics(proba.log(), labels[:3])


def test_logistic_regression_baseline(digits: Dataset) -> None:
    log_proba = classify.logistic_regression(digits)
    assert log_proba.shape == (297, 10)
    assert torch.allclose(log_proba.logsumexp(1), torch.zeros(297, dtype=torch.float64))
    m = classify.classification_metrics(log_proba, digits.test_labels)
    assert m["accuracy"] > 0.93  # logistic regression on digits: ~0.96-0.97


def test_refusals_are_one_line(digits: Dataset) -> None:
    unconditional = genzoo.create_model("pixel_independent", shape=(1, 8, 8), levels=17)
    gan = genzoo.create_model("gan", shape=(1, 8, 8), levels=17, num_classes=10)
    unlabelled = Dataset(
        **{
            **{f: getattr(digits, f) for f in ("name", "train", "test", "levels", "shape")},
            "train_labels": None,
            "test_labels": None,
            "num_classes": None,
            "source": "test",
            "raw_levels": digits.raw_levels,
            "train_raw": digits.train_raw,
            "test_raw": digits.test_raw,
        }
    )
    model = two_class_model([[0.5, 0.5], [0.5, 0.5]])
    cases = [
        (lambda: classify.predict_proba(unconditional, digits.test, torch.zeros(1)), "uncond"),
        (lambda: classify.predict_proba(gan, digits.test, torch.zeros(10)), "no density"),
        (lambda: classify.logistic_regression(unlabelled), "no labels"),
        (lambda: classify.predict_proba(model, torch.zeros(1, 1, 1, 2).long(), torch.zeros(3)),
         "one entry per class"),
    ]  # fmt: skip
    for call, text in cases:
        with pytest.raises((ConfigError, UnsupportedError)) as info:
            call()
        assert text in str(info.value) and "\n" not in str(info.value)


def test_class_prior_gives_minus_infinity_to_absent_classes() -> None:
    prior = classify.class_log_prior(torch.tensor([0, 0, 2]), 4)
    assert prior.exp().tolist() == pytest.approx([2 / 3, 0, 1 / 3, 0])
    assert np.isneginf(prior[1].item())
