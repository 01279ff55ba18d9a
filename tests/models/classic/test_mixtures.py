"""EM mixtures: monotone EM, naive Bayes against Bayes' rule by hand, the Gaussian mixture's bound
against numerical integration, sample statistics against the fitted parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

import genzoo
from genzoo.errors import ConfigError, UnsupportedError
from tests.models.test_contract import code_of
from tests.models.tiny import all_images


def clustered(n: int, levels: int, shape=(1, 3, 3), seed: int = 0) -> torch.Tensor:
    """Images around three random prototypes with noise: real mixture structure."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randint(0, levels, (3, *shape), generator=g)
    x = protos[torch.arange(n) % 3].clone()
    noise = torch.rand(x.shape, generator=g) < 0.2
    return torch.where(noise, torch.randint(0, levels, x.shape, generator=g), x)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_categorical_em_never_lowers_its_objective(alpha):
    x = clustered(120, 4)
    model = genzoo.create_model(
        "mixture_categorical", shape=(1, 3, 3), levels=4, components=4, alpha=alpha, tol=0
    ).double()  # float64 buffers: the check is to 1e-9
    history = model.fit(x, generator=torch.Generator().manual_seed(0), max_iter=30)
    objective = np.array([h["objective_nats"] for h in history])
    assert len(history) >= 5 and np.all(np.diff(objective) >= -1e-9)
    if alpha == 0:  # maximum-likelihood EM: the log-likelihood itself never drops
        nll = np.array([h["nll_nats"] for h in history])
        assert np.all(np.diff(nll) <= 1e-9) and nll[-1] < nll[0] - 0.1
    # the reported training NLL is the model's log_prob on the training images
    assert history[-1]["nll_nats"] == pytest.approx(-float(model.log_prob(x).mean()), abs=1e-9)


def test_naive_bayes_posterior_is_bayes_rule_by_hand():
    x = torch.tensor([[0, 1], [0, 0], [1, 1], [1, 1], [1, 0]]).view(5, 1, 1, 2)
    y = torch.tensor([0, 0, 1, 1, 1])
    model = genzoo.create_model(
        "mixture_categorical", shape=(1, 1, 2), levels=2, num_classes=2, components=1, alpha=1.0
    ).double()
    assert len(model.fit(x, y)) == 1  # closed form
    # by hand, Laplace smoothing: class 0 has 2 images, pixel 0 = 0 twice, pixel 1: one 1
    p0 = [(2 + 1) / (2 + 2), (1 + 1) / (2 + 2)]  # P(x_0 = 0 | y=0), P(x_1 = 1 | y=0)
    p1 = [(0 + 1) / (3 + 2), (2 + 1) / (3 + 2)]  # P(x_0 = 0 | y=1), P(x_1 = 1 | y=1)
    prior = [2 / 5, 3 / 5]
    query = torch.tensor([[0, 1]]).view(1, 1, 1, 2)  # x_0 = 0, x_1 = 1
    joint = [prior[0] * p0[0] * p0[1], prior[1] * p1[0] * p1[1]]
    expected = [j / sum(joint) for j in joint]
    posterior = model.predict_proba(query)
    assert posterior[0].tolist() == pytest.approx(expected, abs=1e-12)
    assert float(model.predict_proba(x).sum(1).sub(1).abs().max()) < 1e-12
    assert int(model.predict(query)) == int(np.argmax(expected))
    assert float(model.log_prob(query, torch.tensor([1])).exp()) == pytest.approx(p1[0] * p1[1])
    with pytest.raises(UnsupportedError, match="--conditional"):
        genzoo.create_model("mixture_categorical", shape=(1, 1, 2), levels=2).predict(query)


def test_naive_bayes_classifies_digits():
    data = genzoo.load_dataset("digits")
    model = genzoo.create_model(
        "mixture_categorical", shape=data.shape, levels=data.levels, num_classes=10, components=1
    )
    model.fit(data.train, data.train_labels)
    accuracy = float((model.predict(data.test) == data.test_labels).double().mean())
    assert accuracy > 0.85
    # uniform class-conditionals classify at chance: the negative control
    blank = genzoo.create_model(
        "mixture_categorical", shape=data.shape, levels=data.levels, num_classes=10, components=1
    )
    assert float((blank.predict(data.test) == data.test_labels).double().mean()) < 0.2


def test_mixture_needs_enough_images_per_class():
    model = genzoo.create_model("mixture_categorical", shape=(1, 1, 2), levels=2, components=3)
    with pytest.raises(ConfigError, match="fewer training images than components"):
        model.fit(torch.zeros(2, 1, 1, 2, dtype=torch.long))


def gmm_1d_exact(model, levels: int) -> torch.Tensor:
    """Exact discrete log P(x) of a 1-D mixture: bin integrals with the normal CDF."""
    from scipy.stats import norm

    mu = model.means[0, :, 0].double().numpy()
    sd = 1 / model.precisions_cholesky[0, :, 0, 0].double().numpy()
    w = model.log_weights[0].double().exp().numpy()
    edges = np.arange(levels + 1.0)
    mass = (w * (norm.cdf(edges[1:, None], mu, sd) - norm.cdf(edges[:-1, None], mu, sd))).sum(1)
    return torch.from_numpy(np.log(mass))


def test_gmm_bound_is_below_the_exact_discrete_likelihood_in_1d():
    g = torch.Generator().manual_seed(0)
    x = torch.cat(
        [torch.randint(0, 4, (60,), generator=g), torch.randint(9, 12, (60,), generator=g)]
    )
    model = genzoo.create_model("gmm", shape=(1, 1, 1), levels=12, components=2)
    model.fit(x.view(-1, 1, 1, 1), generator=g)
    grid = torch.arange(12).view(-1, 1, 1, 1)
    bound, exact = model.log_prob(grid), gmm_1d_exact(model, 12)
    assert (bound <= exact + 1e-12).all()
    assert float((exact - bound)[exact > -4].max()) < 0.25  # close where the mass is
    assert float(torch.logsumexp(bound, 0).exp()) <= 1.0


def test_gmm_bound_is_below_numerical_integration_in_2d():
    """A full-covariance component: the bin integral of the 2-D normal by its CDF."""
    model = genzoo.create_model("gmm", shape=(1, 1, 2), levels=4, components=1)
    cov = np.array([[0.5, 0.3], [0.3, 0.4]])
    mean = np.array([1.7, 2.2])
    with torch.no_grad():
        model.means[0, 0] = torch.tensor(mean)
        chol = np.linalg.cholesky(np.linalg.inv(cov))  # precision = P P^T with P lower here
        model.precisions_cholesky[0, 0] = torch.tensor(chol)
    images = all_images((1, 1, 2), 4)
    mvn = multivariate_normal(mean, cov)
    exact = []
    for a, b in images.view(-1, 2).tolist():
        box = mvn.cdf([a + 1, b + 1]) - mvn.cdf([a, b + 1]) - mvn.cdf([a + 1, b]) + mvn.cdf([a, b])
        exact.append(math.log(box))
    exact_t = torch.tensor(exact, dtype=torch.float64)
    bound = model.log_prob(images)
    assert (bound <= exact_t + 1e-6).all()
    assert float((exact_t - bound)[exact_t > -3].max()) < 0.5
    # negative control: the density at the bin centre is NOT a bound (it exceeds P(x) somewhere)
    centre = torch.tensor(mvn.logpdf(images.view(-1, 2).numpy() + 0.5))
    assert (centre > exact_t).any()


def test_gmm_samples_match_the_fitted_parameters():
    model = genzoo.create_model("gmm", shape=(1, 1, 2), levels=40, components=1)
    mean, cov = np.array([15.3, 22.8]), np.array([[9.0, 4.0], [4.0, 6.0]])
    with torch.no_grad():
        model.means[0, 0] = torch.tensor(mean)
        model.precisions_cholesky[0, 0] = torch.tensor(np.linalg.cholesky(np.linalg.inv(cov)))
    x = model.sample(40000, generator=torch.Generator().manual_seed(0)).view(-1, 2).double()
    v = x + 0.5  # floor() moved every value down by 1/2 on average
    assert np.allclose(v.mean(0).numpy(), mean, atol=0.06)
    # floor adds uniform noise of variance 1/12 to each coordinate
    assert np.allclose(np.cov(v.numpy().T), cov + np.eye(2) / 12, atol=0.25)


def test_gmm_sampler_follows_its_discrete_distribution():
    g = torch.Generator().manual_seed(0)
    model = genzoo.create_model("gmm", shape=(1, 1, 2), levels=3, components=2, reg_covar=0.1)
    model.fit(torch.randint(0, 3, (40, 1, 1, 2), generator=g), generator=g)
    n = 20000
    counts = torch.bincount(code_of(model.sample(n, generator=g), 3), minlength=9).double()
    bound = model.log_prob(all_images((1, 1, 2), 3)).exp()
    # P(x) >= exp(bound) for the sampler's (edge bins to infinity) distribution: frequencies
    # may exceed the bound but, summed, never fall far below it
    assert float((bound * n - counts).max()) < 4 * math.sqrt(n * float(bound.max()))


def test_gmm_em_never_lowers_the_dequantised_likelihood_and_score_matches():
    x = clustered(200, 8, shape=(1, 2, 2))
    model = genzoo.create_model("gmm", shape=(1, 2, 2), levels=8, components=3, reg_covar=0, tol=0)
    history = model.fit(x, generator=torch.Generator().manual_seed(1), max_iter=15)
    density = np.array([h["dequantized_log_density_nats"] for h in history])
    assert np.all(np.diff(density) >= -1e-8) and density[-1] > density[0]
    assert history[-1]["nll_nats"] == pytest.approx(-float(model.log_prob(x).mean()), rel=1e-9)


def test_gmm_completion_keeps_known_values_and_follows_the_conditional():
    model = genzoo.create_model("gmm", shape=(1, 1, 2), levels=60, components=1)
    cov = np.array([[16.0, 12.0], [12.0, 16.0]])  # correlation 0.75
    with torch.no_grad():
        model.means[0, 0] = torch.tensor([30.0, 30.0])
        model.precisions_cholesky[0, 0] = torch.tensor(np.linalg.cholesky(np.linalg.inv(cov)))
    known = torch.tensor([[[[40, 0]]]]).expand(4000, -1, -1, -1)
    mask = torch.tensor([[[True, False]]])
    out = model.sample(4000, known=known, mask=mask, generator=torch.Generator().manual_seed(0))
    assert (out[:, 0, 0, 0] == 40).all()
    drawn = out[:, 0, 0, 1].double() + 0.5
    # conditional mean 30 + 0.75 * (40.5 - 30) = 37.875, variance 16 (1 - 0.75^2) = 7 (+1/12)
    assert float(drawn.mean()) == pytest.approx(37.875, abs=0.15)
    assert float(drawn.var()) == pytest.approx(7 + 1 / 12, rel=0.08)
