"""Out-of-distribution scores: the metrics against scikit-learn and brute force, the likelihood
ratio as the Neyman-Pearson optimal score on two known densities, input complexity's
compressors, the typicality test, and the refusals."""

from __future__ import annotations

import io
import itertools
import lzma
import math

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

import genzoo
from genzoo.data import Dataset
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.evaluation import ood


# ---------------------------------------------------------------------------------------------
# helpers: independent-pixel models with known densities and data drawn from them
def independent_model(p_one: list[float], shape=(1, 2, 2)) -> genzoo.GenerativeModel:
    """A ``pixel_independent`` model of binary images with ``P(x_d = 1) = p_one[d]``."""
    model = genzoo.create_model("pixel_independent", shape=shape, levels=2)
    p = torch.tensor(p_one, dtype=torch.float32).reshape(shape)
    with torch.no_grad():
        model.theta[0, 0] = torch.log1p(-p)
        model.theta[0, 1] = torch.log(p)
    return model.eval()


def draw(p_one: list[float], n: int, seed: int, shape=(1, 2, 2)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    p = torch.tensor(p_one, dtype=torch.float64).reshape(shape)
    return torch.bernoulli(p.expand(n, *shape), generator=g).long()


def dataset(name: str, train: torch.Tensor, test: torch.Tensor, levels: int = 2) -> Dataset:
    return Dataset(
        name=name,
        train=train,
        test=test,
        train_labels=None,
        test_labels=None,
        levels=levels,
        shape=tuple(train.shape[1:]),
        num_classes=None,
        source="synthetic",
        raw_levels=levels,
        train_raw=train,
        test_raw=test,
    )


def exact_auroc(score: dict, p_in: dict, p_out: dict) -> float:
    """``P(s(X_out) > s(X_in)) + P(=) / 2`` over a finite space, by enumeration."""
    total = 0.0
    for a, b in itertools.product(score, score):
        if score[a] > score[b]:
            total += p_out[a] * p_in[b]
        elif score[a] == score[b]:
            total += 0.5 * p_out[a] * p_in[b]
    return total


def state_probs(p_one: list[float]) -> dict:
    return {
        s: math.prod(p if v else 1 - p for v, p in zip(s, p_one, strict=True))
        for s in itertools.product((0, 1), repeat=len(p_one))
    }


# ---------------------------------------------------------------------------------------------
# the metrics
def test_auroc_auprc_fpr95_match_sklearn_and_brute_force() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 12, 300).astype(float)  # ties on purpose
    b = rng.integers(3, 15, 200).astype(float)
    m = ood.detection_metrics(a, b, bootstrap=0)
    labels, scores = np.r_[np.zeros(300), np.ones(200)], np.r_[a, b]
    assert m["auroc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    pairs = (b[:, None] > a[None, :]).mean() + 0.5 * (b[:, None] == a[None, :]).mean()
    assert m["auroc"] == pytest.approx(pairs, abs=1e-12)  # Mann-Whitney, by brute force
    assert m["auprc"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    # FPR at 95 % TPR: the smallest fraction of in flagged by a threshold that flags 95 % of out
    fprs = [(a >= t).mean() for t in np.unique(scores) if (b >= t).mean() >= 0.95]
    assert m["fpr_at_95_tpr"] == pytest.approx(min(fprs), abs=1e-12)
    flipped = ood.detection_metrics(b, a, bootstrap=0)  # negative control: orientation matters
    assert flipped["auroc"] == pytest.approx(1 - m["auroc"], abs=1e-12)
    assert abs(flipped["auroc"] - m["auroc"]) > 0.2
    assert m["auroc_ci"] is None and m["mean_in"] == pytest.approx(a.mean())


def test_bootstrap_interval_covers_the_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (200, 3200):
        m = ood.detection_metrics(rng.normal(0, 1, n), rng.normal(1, 1, n), bootstrap=300)
        for name in ("auroc", "auprc", "fpr_at_95_tpr"):
            low, high = m[f"{name}_ci"]
            assert low <= m[name] <= high
        widths.append(m["auroc_ci"][1] - m["auroc_ci"][0])
        # the true AUROC of N(1,1) vs N(0,1) is Phi(1/sqrt(2)) = 0.760
        assert m["auroc_ci"][0] - 0.01 < 0.7602 < m["auroc_ci"][1] + 0.01
    assert 2.5 < widths[0] / widths[1] < 6  # 16x the images: about 4x narrower


def test_nan_scores_are_refused_and_infinite_ones_rank() -> None:
    with pytest.raises(ConfigError, match="NaN"):
        ood.detection_metrics([0.0, float("nan")], [1.0], bootstrap=0)
    m = ood.detection_metrics([0.0, 1.0], [float("inf"), 2.0], bootstrap=0)
    assert m["auroc"] == 1.0


# ---------------------------------------------------------------------------------------------
# the likelihood ratio is the Bayes-optimal score when the background is the OOD density
P_IN = [0.7, 0.4, 0.6, 0.5]
P_OUT = [0.1, 0.2, 0.9, 0.1]  # images with high likelihood under the in-model (x_2=1, rest 0)


def test_likelihood_ratio_is_the_neyman_pearson_optimal_score() -> None:
    model, background = independent_model(P_IN), independent_model(P_OUT)
    n = 20_000
    data_in = dataset("in", draw(P_IN, 2000, 1), draw(P_IN, n, 2))
    data_out = dataset("out", draw(P_OUT, 2000, 3), draw(P_OUT, n, 4))
    report = ood.evaluate_ood(
        model,
        data_in,
        data_out,
        background=background,
        scores=["likelihood", "likelihood-ratio"],
        bootstrap=0,
    )
    got = report.summary["scores"]
    p_in, p_out = state_probs(P_IN), state_probs(P_OUT)
    ratio = {s: math.log(p_out[s]) - math.log(p_in[s]) for s in p_in}
    nll = {s: -math.log(p_in[s]) for s in p_in}
    optimum = exact_auroc(ratio, p_in, p_out)
    se = math.sqrt(optimum * (1 - optimum) / n) * 2  # generous for the two-sample statistic
    assert got["likelihood-ratio"]["auroc"] == pytest.approx(optimum, abs=4 * se)
    assert got["likelihood"]["auroc"] == pytest.approx(exact_auroc(nll, p_in, p_out), abs=0.02)
    assert got["likelihood"]["auroc"] < optimum - 0.1  # negative control: the likelihood is not
    # Neyman-Pearson: no score of the 16 states beats the ratio (random scores, and the ratio's
    # own ranking perturbed by one swap)
    rng = np.random.default_rng(0)
    states = list(p_in)
    for _ in range(300):
        other = dict(zip(states, rng.normal(size=len(states)), strict=True))
        assert exact_auroc(other, p_in, p_out) <= optimum + 1e-12
    order = sorted(states, key=ratio.get)
    swapped = dict(ratio)
    swapped[order[7]], swapped[order[8]] = ratio[order[8]], ratio[order[7]]
    assert exact_auroc(swapped, p_in, p_out) < optimum - 1e-6
    # the score is in bits/dim: bpd(model) - bpd(background) = -(log p - log q) / (D ln 2)
    a, _ = report.scores["likelihood-ratio"]
    x0 = tuple(int(v) for v in data_in.test[0].flatten())
    assert float(a[0]) == pytest.approx(ratio[x0] / (4 * math.log(2)), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# input complexity
@pytest.mark.parametrize("compressor", ood.COMPRESSORS)
def test_compressors_are_lossless_and_shorter_for_simple_images(compressor: str) -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (4, 1, 28, 28), generator=g)
    flat = torch.full((4, 1, 28, 28), 7)
    images = ood.as_uint8_images(noise)
    encoded = ood.ENCODERS[compressor](images[0])
    if compressor == "lzma":
        filters = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 4096}]
        back = np.frombuffer(
            lzma.decompress(encoded, format=lzma.FORMAT_RAW, filters=filters), np.uint8
        ).reshape(28, 28)
    else:
        back = np.asarray(Image.open(io.BytesIO(encoded)).convert("L"))
    assert np.array_equal(back, images[0])  # lossless
    noisy, simple = ood.compressed_bits(noise, compressor), ood.compressed_bits(flat, compressor)
    assert (simple < noisy / 4).all()  # a constant image is far shorter than noise
    assert (noisy / 784 > 7.5).all()  # uniform 8-bit noise does not compress below ~8 bits


def test_input_complexity_is_bits_per_dim_minus_compressed_bits_per_dim() -> None:
    digits = genzoo.load_dataset("digits")
    model = genzoo.create_model("pixel_independent", shape=digits.shape, levels=digits.levels)
    small = dataset("d", digits.train[:50], digits.test[:40], levels=17)
    other = dataset("e", digits.train[:50].flip(-1), digits.test[:30].flip(-1), levels=17)
    report = ood.evaluate_ood(
        model, small, other, scores=["input-complexity"], compressors=["png"], bootstrap=0
    )
    a, b = report.scores["input-complexity-png"]
    bpd = ood.image_bits_per_dim(model, small.test)
    assert torch.allclose(bpd, torch.full_like(bpd, math.log2(17)))  # zero logits: uniform
    assert torch.allclose(a, bpd - ood.compressed_bits(small.test, "png") / 64)
    assert b.shape == (30,)


# ---------------------------------------------------------------------------------------------
# typicality
def test_typicality_finds_a_too_likely_set_that_the_likelihood_misses() -> None:
    d = 64
    p_in, p_out = [0.2] * d, [0.15] * d  # out: slightly *more* likely images than typical
    model = independent_model(p_in, shape=(1, 8, 8))
    data_in = dataset("in", draw(p_in, 2000, 1, (1, 8, 8)), draw(p_in, 1000, 2, (1, 8, 8)))
    data_out = dataset("out", draw(p_out, 10, 3, (1, 8, 8)), draw(p_out, 1000, 4, (1, 8, 8)))
    report = ood.evaluate_ood(
        model, data_in, data_out, scores=["likelihood", "typicality"], bootstrap=0
    )
    t = report.summary["typicality"]
    entropy = -(0.2 * math.log2(0.2) + 0.8 * math.log2(0.8))  # bits per pixel
    assert t["entropy_bits_per_dim"] == pytest.approx(entropy, abs=0.01)
    by = t["by_batch_size"]
    assert report.summary["scores"]["likelihood"]["auroc"] < 0.4  # the likelihood fails
    assert by["1"]["auroc"] < 0.8 and by["50"]["auroc"] > 0.99  # batches succeed
    aurocs = [by[m]["auroc"] for m in ("1", "5", "25", "50")]
    assert aurocs == sorted(aurocs)


def test_typicality_score_of_the_whole_set_is_its_distance_from_the_entropy() -> None:
    bpd = torch.tensor([1.0, 2.0, 4.0, 5.0])
    g = torch.Generator().manual_seed(0)
    s = ood.typicality_scores(bpd, 2.5, 4, 10, g)
    assert torch.allclose(s, torch.full((10,), 0.5, dtype=torch.float64))
    s1 = ood.typicality_scores(bpd, 2.5, 1, 200, g)
    assert set(s1.tolist()) <= {1.5, 0.5, 2.5}
    with pytest.raises(ConfigError, match="batch size"):
        ood.typicality_scores(bpd, 2.5, 5, 10, g)


# ---------------------------------------------------------------------------------------------
# class-conditional models and refusals
def test_class_conditional_models_score_the_marginal_with_the_class_prior() -> None:
    digits = genzoo.load_dataset("digits")
    model = genzoo.create_model(
        "mixture_categorical", shape=digits.shape, levels=digits.levels, num_classes=10,
        components=1, max_iter=5,
    )  # fmt: skip
    model.fit(digits.train, digits.train_labels, generator=torch.Generator().manual_seed(0))
    bpd = ood.image_bits_per_dim(model, digits.test[:50], log_prior=model.log_class_prior)
    reference = -model.marginal_log_prob(digits.test[:50]) / (64 * math.log(2))
    assert torch.allclose(bpd, reference, rtol=1e-10)
    other = ood.image_bits_per_dim(
        model, digits.test[:50], log_prior=torch.arange(10.0).log_softmax(0)
    )
    assert not torch.allclose(other, bpd)  # the prior matters
    with pytest.raises(ConfigError, match="log_prior"):
        ood.image_bits_per_dim(model, digits.test[:5])


def test_refusals_say_what_to_do() -> None:
    digits = genzoo.load_dataset("digits")
    model = genzoo.create_model("pixel_independent", shape=digits.shape, levels=digits.levels)
    gan = genzoo.create_model("gan", shape=digits.shape, levels=digits.levels)
    mnist_like = dataset(
        "big", torch.zeros(4, 1, 28, 28, dtype=torch.long), torch.zeros(4, 1, 28, 28).long(), 256
    )
    with pytest.raises(UnsupportedError, match="no density"):
        ood.evaluate_ood(gan, digits, digits)
    with pytest.raises(ConfigError, match="--size 8 --levels 17"):
        ood.evaluate_ood(model, digits, mnist_like)
    with pytest.raises(ConfigError, match="--background RUN2"):
        ood.evaluate_ood(model, digits, digits, scores=["likelihood-ratio"])
    with pytest.raises(ConfigError, match="unknown OOD score"):
        ood.evaluate_ood(model, digits, digits, scores=["energy"])
    for message in (
        "no density",
        "--size 8 --levels 17",
    ):  # every refusal is one line
        try:
            ood.evaluate_ood(gan if message == "no density" else model, digits, mnist_like)
        except (ConfigError, UnsupportedError) as exc:
            assert "\n" not in str(exc) and message in str(exc)
