"""VAE and IWAE mathematics on models small enough to integrate exactly.

With a 1-D latent and four binary pixels, ``log p(x) = log \\int p(x | z) N(z; 0, 1) dz`` is
computed by quadrature on a fine grid; the bounds must sit below it, rise with ``k``, and
converge to it.
"""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
from genzoo.distributions.gaussian import kl_standard_normal, standard_normal_log_prob
from tests.models.tiny import all_images, peaked


def tiny_vae(name: str = "vae", seed: int = 0, **extra) -> genzoo.models.GenerativeModel:
    torch.manual_seed(seed)
    model = genzoo.create_model(
        name, shape=(1, 2, 2), levels=2, latent_dim=1, channels=4, hidden=16, **extra
    )
    return peaked(model.double(), steps=60, seed=seed)


def exact_log_prob(model, x: torch.Tensor) -> torch.Tensor:
    """``log \\int p(x|z) N(z) dz`` by the trapezoid rule on z in [-10, 10] (1-D latent)."""
    z = torch.linspace(-10, 10, 8001, dtype=torch.float64)
    with torch.no_grad():
        params = model.decoder_params(z[:, None], None)
        log_px_z = torch.stack(
            [model.likelihood.log_prob(params, xi.expand(len(z), -1, -1, -1)) for xi in x]
        )
    log_integrand = log_px_z + standard_normal_log_prob(z[:, None])
    weights = torch.full_like(z, float(z[1] - z[0]))
    weights[[0, -1]] /= 2
    return torch.logsumexp(log_integrand + weights.log(), dim=1)


@pytest.mark.parametrize("name", ["vae", "iwae"])
def test_iwae_bounds_stay_below_exact_log_prob_and_converge(name):
    model = tiny_vae(name)
    x = all_images((1, 2, 2), 2)
    exact = exact_log_prob(model, x)
    assert abs(float(exact.exp().sum()) - 1.0) < 1e-6  # the quadrature and the decoder normalise
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        draws = {
            k: torch.stack([model.iwae_bound(x, k=k, generator=g) for _ in range(300)])
            for k in (1, 5, 50)
        }
        elbo = model.elbo(x, k=20000, generator=g)
        tight = model.iwae_bound(x, k=200_000, generator=g)
    means = {k: d.mean(0) for k, d in draws.items()}
    se = {k: d.std(0) / math.sqrt(d.shape[0]) for k, d in draws.items()}
    # E[L_1] <= E[L_5] <= E[L_50] <= log p(x) for every image, up to 4 Monte-Carlo standard errors
    assert (means[1] <= means[5] + 4 * (se[1] + se[5])).all()
    assert (means[5] <= means[50] + 4 * (se[5] + se[50])).all()
    assert (means[50] <= exact + 4 * se[50]).all()
    assert float((means[50] - means[1]).mean()) > 0.01  # a real gap, not equality everywhere
    assert ((elbo - means[1]).abs() <= 4 * se[1] + 1e-3).all(), (elbo, means[1])  # L_1 = ELBO
    torch.testing.assert_close(tight, exact, atol=0.015, rtol=0)  # L_k -> log p(x)
    assert (exact - elbo > 0).all()  # the ELBO gap is KL(q || p(z|x)) > 0


def test_analytic_kl_equals_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(4, 3, generator=g, dtype=torch.float64)
    log_var = torch.randn(4, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(200_000, 4, 3, generator=g, dtype=torch.float64)
    z = mean + (0.5 * log_var).exp() * eps
    log_q = standard_normal_log_prob(eps) - 0.5 * log_var.sum(-1)
    terms = log_q - standard_normal_log_prob(z)
    se = terms.std(0) / math.sqrt(terms.shape[0])
    assert ((terms.mean(0) - kl_standard_normal(mean, log_var)).abs() < 4 * se).all()


def test_model_kl_term_is_the_analytic_kl_of_its_posterior(generator):
    model = genzoo.create_model("vae", shape=(1, 4, 4), levels=3, latent_dim=3).double()
    x = torch.randint(0, 3, (5, 1, 4, 4), generator=generator)
    with torch.no_grad():
        mean, log_var = model.encode(x)
        terms = model.elbo_terms(x, k=1)
    torch.testing.assert_close(terms["kl"], kl_standard_normal(mean, log_var))


def test_beta_weights_only_the_kl_in_the_loss(generator):
    x = torch.randint(0, 3, (6, 1, 4, 4), generator=generator)
    losses = {}
    for beta in (1.0, 4.0):
        torch.manual_seed(0)
        model = genzoo.create_model("vae", shape=(1, 4, 4), levels=3, beta=beta).double()
        torch.manual_seed(1)  # same reparameterisation noise
        losses[beta] = model.loss(x)
    a, b = losses[1.0], losses[4.0]
    torch.testing.assert_close(a["elbo"], b["elbo"])  # the reported ELBO ignores beta
    expected = (-(a["reconstruction"] - 4.0 * a["kl"])) / 16
    torch.testing.assert_close(b["loss"].detach(), expected)


def test_iwae_loss_is_the_k_sample_bound(generator):
    x = torch.randint(0, 3, (6, 1, 4, 4), generator=generator)
    torch.manual_seed(0)
    model = genzoo.create_model("iwae", shape=(1, 4, 4), levels=3, k=7).double()
    torch.manual_seed(5)
    out = model.loss(x)
    torch.manual_seed(5)
    log_w = model.log_weights(x, k=7)
    bound = torch.logsumexp(log_w, 0) - math.log(7)
    torch.testing.assert_close(out["iwae"], bound.mean().detach())
    torch.testing.assert_close(out["loss"].detach(), -bound.mean().detach() / 16)


def test_iwae_refuses_beta():
    with pytest.raises(genzoo.ConfigError, match="beta"):
        genzoo.create_model("iwae", shape=(1, 4, 4), levels=3, beta=2.0)


def test_conditional_decoder_uses_the_label(generator):
    torch.manual_seed(0)
    model = genzoo.create_model("vae", shape=(1, 4, 4), levels=3, num_classes=3).double()
    z = torch.randn(2, model.latent_dim, dtype=torch.float64)
    a = model.decoder_params(z, torch.tensor([0, 0]))
    b = model.decoder_params(z, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
