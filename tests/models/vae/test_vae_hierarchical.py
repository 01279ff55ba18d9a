"""Mathematics of the hierarchical VAE on models small enough to integrate by quadrature.

With two 1-D latent layers the prior ``p(z1, z2) = p(z1 | z2) N(z2; 0, 1)`` lives on a plane: it
must integrate to one on a grid, its sampler must match the grid density cell by cell (joint, not
only marginals), and ``log p(x) = log \\int p(x | z1) p(z1) dz1`` by quadrature is the value the
IWAE bound converges to. The posterior's ``log q`` must be the density of the draws it returns.
"""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import chisquare, kstest

import genzoo
from genzoo.distributions.gaussian import LOG_2PI
from genzoo.errors import ConfigError
from genzoo.models.vae import vae_hierarchical
from tests.models.tiny import all_images, peaked

#: grid step and half-width in z2 (N(0, 1) mass beyond 5: 6e-7) of the quadrature
STEP, Z2_MAX = 0.02, 5.0


def build(shape=(1, 2, 2), levels=2, latent_dim=1, seed=0, **extra):
    """A tiny hierarchical VAE in double precision (eval mode)."""
    torch.manual_seed(seed)
    model = genzoo.create_model(
        "vae_hierarchical",
        shape=shape,
        levels=levels,
        latent_dim=latent_dim,
        channels=4,
        hidden=8,
        mlp_hidden=8,
        **extra,
    )
    return model.double().eval()


def two_layer(seed: int = 0, num_classes: int | None = None, sharpen: bool = False, **extra):
    """Latent layers of size 1 and 1 on 2x2 binary images.

    ``sharpen`` scales ``p(z1 | z2)``'s network so that its mean moves by several units and its
    log-variance by about 4 over the bulk of ``z2`` (freshly initialised, it is nearly constant).
    """
    model = build(seed=seed, num_classes=num_classes, **extra)
    if sharpen:
        net = model.generative[0]
        with torch.no_grad():
            for weight in (net.inp.weight, net.out.weight, net.out.bias):
                weight.mul_(2)
    return model


def labels(label: int | None, n: int) -> torch.Tensor | None:
    return None if label is None else torch.full((n,), label)


def prior_grid(model, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``log p(z1, z2)`` ``[n1, n2]`` at the centres ``z1 [n1]``, ``z2 [n2]`` of ``STEP``-cells.

    ``z2`` spans ``[-5, 5]``; ``z1`` ten conditional standard deviations around every mean.
    """
    z2 = torch.arange(-Z2_MAX + STEP / 2, Z2_MAX, STEP, dtype=torch.float64)
    with torch.no_grad():
        mean, log_var = model.generative[0](z2[:, None], labels(label, len(z2)))
    std = torch.exp(0.5 * log_var)
    lo, hi = float((mean - 10 * std).min()), float((mean + 10 * std).max())
    assert float(std.min()) > 10 * STEP  # the grid resolves the narrowest conditional
    z1 = lo + (torch.arange(math.ceil((hi - lo) / STEP), dtype=torch.float64) + 0.5) * STEP
    z = torch.stack(torch.meshgrid(z1, z2, indexing="ij"), -1).view(-1, 2)
    with torch.no_grad():
        chunks = [model.log_prior(c, labels(label, len(c))) for c in z.split(2**18)]
    log_p = torch.cat(chunks).view(len(z1), len(z2))
    return z1, z2, log_p


@pytest.mark.parametrize(("num_classes", "label"), [(None, None), (2, 1)])
def test_prior_integrates_to_one(num_classes, label, monkeypatch):
    model = two_layer(num_classes=num_classes, sharpen=True)
    _, _, log_p = prior_grid(model, label)
    total = float(torch.logsumexp(log_p.flatten(), 0).exp()) * STEP**2
    assert abs(total - 1.0) < 1e-3, f"integral of p(z1, z2) = {total}"

    # Negative control: a conditional density missing its -log(sigma) term is caught.
    def unnormalised(z, mean, log_var):
        return -0.5 * (LOG_2PI + (z - mean) ** 2 * torch.exp(-log_var)).sum(-1)

    monkeypatch.setattr(vae_hierarchical, "gaussian_log_prob", unnormalised)
    _, _, broken = prior_grid(model, label)
    assert abs(float(torch.logsumexp(broken.flatten(), 0).exp()) * STEP**2 - 1.0) > 0.05


def quantile_edges(centres: torch.Tensor, mass: torch.Tensor, bins: int) -> torch.Tensor:
    """``bins - 1`` edges at grid-cell boundaries splitting a 1-D grid ``mass`` into quantiles."""
    cdf = mass.cumsum(0) / mass.sum()
    idx = torch.searchsorted(cdf, torch.arange(1, bins, dtype=cdf.dtype) / bins)
    return centres[idx] + STEP / 2


def joint_chisquare_pvalue(z1, z2, probs, samples, bins: int = 8) -> float:
    """Chi-square of 2-D sample counts against the grid's cell probabilities ``probs [n1, n2]``.

    The cell edges lie on grid-cell boundaries, so the expected masses are midpoint-rule sums.
    """
    e1 = quantile_edges(z1, probs.sum(1), bins)
    e2 = quantile_edges(z2, probs.sum(0), bins)
    cells = torch.bucketize(z1, e1)[:, None] * bins + torch.bucketize(z2, e2)[None, :]
    expected = torch.bincount(cells.flatten(), probs.flatten(), minlength=bins**2)
    observed = torch.bincount(
        torch.bucketize(samples[:, 0].contiguous(), e1) * bins
        + torch.bucketize(samples[:, 1].contiguous(), e2),
        minlength=bins**2,
    ).double()
    expected = expected / expected.sum() * len(samples)
    keep = expected >= 5  # chi-square validity; rare cells are pooled
    if not keep.all():
        observed = torch.cat([observed[keep], observed[~keep].sum(0, keepdim=True)])
        expected = torch.cat([expected[keep], expected[~keep].sum(0, keepdim=True)])
    return chisquare(observed.numpy(), expected.numpy()).pvalue


@pytest.mark.parametrize(("num_classes", "label"), [(None, None), (2, 1)])
def test_prior_sampler_agrees_with_prior_density(num_classes, label):
    model = two_layer(num_classes=num_classes, sharpen=True)
    z1, z2, log_p = prior_grid(model, label)
    probs = log_p.exp()
    n = 20000
    with torch.no_grad():
        samples = model.sample_prior(n, labels(label, n), torch.Generator().manual_seed(0))
    assert samples.shape == (n, 2)
    p_value = joint_chisquare_pvalue(z1, z2, probs, samples)
    assert p_value > 1e-3, f"prior samples disagree with exp(log_prior): p={p_value:.2e}"
    assert kstest(samples[:, 1].numpy(), "norm").pvalue > 1e-3  # the top layer is N(0, 1)
    # Negative control: shuffling z2 keeps both marginals but breaks p(z1 | z2); it is caught.
    shuffled = torch.stack([samples[:, 0], samples[torch.randperm(n), 1]], 1)
    assert joint_chisquare_pvalue(z1, z2, probs, shuffled) < 1e-6


def test_iwae_bound_converges_to_the_quadrature_log_likelihood():
    """``log p(x)`` by quadrature over the plane: normalised over all 16 images; the ELBO sits
    below it and the IWAE bound with many samples meets it."""

    def exact(model):
        z1, _, log_p = prior_grid(model)
        log_p1 = torch.logsumexp(log_p, 1) + math.log(STEP)  # marginal log p(z1) on the grid
        with torch.no_grad():
            params = model.decoder_params(z1[:, None], None)
            log_px = torch.stack(
                [model.likelihood.log_prob(params, xi.expand(len(z1), -1, -1, -1)) for xi in x]
            )
        return torch.logsumexp(log_px + log_p1 + math.log(STEP), 1)

    x = all_images((1, 2, 2), 2)
    model = peaked(two_layer(k=3), steps=60)  # the IWAE objective keeps q informative
    log_px = exact(model)
    assert abs(float(log_px.exp().sum()) - 1.0) < 1e-5
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        log_w = model.log_weights(x, k=2000, generator=g)
        tight = model.iwae_bound(x, k=20000, generator=g)
    elbo, se = log_w.mean(0), log_w.std(0) / math.sqrt(log_w.shape[0])
    assert (elbo <= log_px + 4 * se).all()
    assert float((log_px - elbo).mean()) > 0.1  # a real gap for the bound to close
    assert float((tight - log_px).abs().max()) < 0.05, (tight - log_px).abs().max()
    # Negative control: another model's log-likelihood is far outside that tolerance.
    other = exact(peaked(two_layer(seed=1, k=3), steps=60, seed=1))
    assert float((tight - other).abs().mean()) > 0.2


def three_layer(num_classes: int | None = 2, **extra):
    """Latent layers of sizes 4, 2, 1 on 3x3 images of 4 levels."""
    return build((1, 3, 3), 4, latent_dim=4, stochastic_layers=3, num_classes=num_classes, **extra)


def test_posterior_log_q_is_the_density_of_its_draws(generator):
    model = three_layer()
    assert model.latent_dims == [4, 2, 1]
    x = torch.randint(0, 4, (5, 1, 3, 3), generator=generator)
    y = torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        z, log_q = model.sample_posterior(model.posterior(x, y), 6, generator)
        assert z.shape == (6, 5, 7) and log_q.shape == (6, 5)
        layers = torch.split(z, [4, 2, 1], -1)
        mean, log_var = model.encode(x, y)[0]  # q(z1 | x) does not depend on the layers above
        terms = [torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).log_prob(layers[0])]
        for net, below, above in zip(model.inference, layers[:-1], layers[1:]):
            mean, log_var = net(below, y)
            terms.append(torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).log_prob(above))
    expected = sum(t.sum(-1) for t in terms)
    torch.testing.assert_close(log_q, expected)
    assert (log_q - terms[0].sum(-1)).abs().min() > 1e-3  # the upper layers do contribute


def test_posterior_noise_is_standard_and_independent_across_layers():
    """Standardised draws of every layer are N(0, 1) and uncorrelated (no noise reused)."""
    model = three_layer(num_classes=None)
    x = torch.randint(0, 4, (1, 1, 3, 3), generator=torch.Generator().manual_seed(0))
    n = 4000
    with torch.no_grad():
        z, _ = model.sample_posterior(model.posterior(x, None), n, torch.Generator().manual_seed(1))
        layers = torch.split(z[:, 0], model.latent_dims, -1)
        mean, log_var = model.encode(x)[0]
        u = [(layers[0] - mean) * torch.exp(-0.5 * log_var)]
        for net, below, above in zip(model.inference, layers[:-1], layers[1:]):
            mean, log_var = net(below, None)
            u.append((above - mean) * torch.exp(-0.5 * log_var))
    u = torch.cat(u, -1)
    for column in u.T:
        assert kstest(column.numpy(), "norm").pvalue > 1e-3
    off_diagonal = torch.corrcoef(u.T) - torch.eye(u.shape[1], dtype=u.dtype)
    assert float(off_diagonal.abs().max()) < 4 / math.sqrt(n)


def test_every_layer_shapes_the_joint_density(generator):
    """Each layer gets a gradient of ``log p(x, z)``; ``x`` sees ``z`` only through ``z1``."""
    model = three_layer()
    x = torch.randint(0, 4, (3, 1, 3, 3), generator=generator)
    y = torch.tensor([0, 1, 0])
    z = torch.randn(2, 3, 7, dtype=torch.float64, generator=generator, requires_grad=True)
    (model.log_likelihood(x, z, y) + model.log_prior(z, y)).sum().backward()
    for layer in torch.split(z.grad, model.latent_dims, -1):
        assert (layer.abs().sum(-1) > 0).all()
    z.grad = None
    model.log_likelihood(x, z, y).sum().backward()
    assert (z.grad[..., 4:] == 0).all() and (z.grad[..., :4] != 0).any()
    # The top layer is not ignored: moving z3 alone changes log p(z2 | z3).
    with torch.no_grad():
        moved = z.clone()
        moved[..., 6:] += 1.0
        top = vae_hierarchical.standard_normal_log_prob
        before = model.log_prior(z, y) - top(z[..., 6:])
        after = model.log_prior(moved, y) - top(moved[..., 6:])
    assert ((before - after).abs() > 1e-8).all()  # exactly 0 if z3 were ignored


def test_embed_propagates_posterior_means(generator):
    model = three_layer()
    x = torch.randint(0, 4, (4, 1, 3, 3), generator=generator)
    y = torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        pairs = model.encode(x, y)
        z = model.embed(x, y)
        assert [tuple(m.shape) for m, _ in pairs] == [(4, 4), (4, 2), (4, 1)]
        assert [tuple(v.shape) for _, v in pairs] == [(4, 4), (4, 2), (4, 1)]
        mean2, _ = model.inference[0](pairs[0][0], y)
    assert z.shape == (4, 7)
    torch.testing.assert_close(z[:, 4:6], mean2)
    assert (z[0, 4:] != z[1, 4:]).all()  # the upper layers depend on the image


@pytest.mark.parametrize("k", [1, 4])
def test_loss_is_the_elbo_or_the_iwae_bound(k, generator):
    model = three_layer(num_classes=None, k=k)
    assert model.train_samples == k and model.config["k"] == k
    x = torch.randint(0, 4, (5, 1, 3, 3), generator=generator)
    torch.manual_seed(3)
    out = model.loss(x)
    torch.manual_seed(3)
    log_w = model.log_weights(x, k=k)
    bound = torch.logsumexp(log_w, 0) - math.log(k)
    torch.testing.assert_close(out["loss"], -bound.mean() / model.num_dims)
    torch.testing.assert_close(out["elbo"], log_w.mean())
    if k > 1:  # Jensen: the k-sample bound is above the average of its log-weights
        assert float(out["iwae"]) > float(out["elbo"]) + 1e-6


def test_latent_sizes_and_bad_hyperparameters():
    def sizes(**kw):
        return genzoo.create_model("vae_hierarchical", shape=(1, 4, 4), levels=2, **kw).latent_dims

    assert sizes(latent_dim=100) == [100, 50]  # Burda et al.'s MNIST model
    assert sizes(latent_dim=5, stochastic_layers=4) == [5, 2, 1, 1]
    assert sizes(latent_dim=100, latent_ratio=0.29) == [100, 29]
    cases = [
        ({"stochastic_layers": 1}, "vae or iwae"),
        ({"latent_ratio": 0.0}, "latent_ratio"),
        ({"k": 0}, "k=0 is invalid"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"mlp_hidden": 0}, "mlp_hidden"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            genzoo.create_model("vae_hierarchical", shape=(1, 4, 4), levels=2, **kwargs)
