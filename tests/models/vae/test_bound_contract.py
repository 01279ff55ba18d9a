"""The contract of models whose ``log_prob`` is a lower bound (``density == "bound"``).

For a latent-variable model the importance-sampling estimate ``p_hat(x) = (1/k) sum_i w_i`` is
*unbiased* for ``p(x)``, and ``log_prob = log p_hat`` (the IWAE bound). So over a whole tiny image
space ``sum_x exp(log_prob(x))`` must be close to 1 (normalisation, and a check that the decoder's
likelihood is normalised), the sampler's frequencies must match ``exp(log_prob)``, and the bound
must rise with ``k`` on average (Burda et al. 2016, theorem 1).

An image-conditional model (the cVAE) runs through every test with one fixed condition ``c``
(:func:`tests.models.tiny.condition_for`): ``p(x | c)`` is normalised for each ``c``.
"""

from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

import genzoo
from genzoo.models.base import with_condition
from genzoo.models.vae.base import LatentVariableModel
from tests.models.test_contract import code_of
from tests.models.tiny import all_images, condition_for, peaked, tiny_model

BOUND = [
    m for m in genzoo.available_models() if genzoo.models.get_model_class(m).density == "bound"
]
LATENT = [m for m in BOUND if issubclass(genzoo.models.get_model_class(m), LatentVariableModel)]
STOCHASTIC = [m for m in LATENT if genzoo.models.get_model_class(m).stochastic_encoder]


def fixed_c(model, n: int) -> dict:
    """``{"c": one fixed condition, n times}`` for an image-conditional model, else ``{}``."""
    return with_condition(condition_for(model, n, fixed=True))


def space_probs(model, shape, k: int, seed: int = 0) -> torch.Tensor:
    """``exp(log_prob)`` of every image (given the fixed ``c`` of :func:`fixed_c`)."""
    x = all_images(shape, model.levels)
    cond = fixed_c(model, x.shape[0])
    with torch.no_grad():
        if not isinstance(model, LatentVariableModel):  # a deterministic bound (e.g. gmm)
            return model.log_prob(x, **cond).double().exp()
        lp = model.log_prob(x, k=k, generator=torch.Generator().manual_seed(seed), **cond)
    return lp.double().exp()


@pytest.mark.parametrize("name", BOUND)
@pytest.mark.parametrize(("shape", "levels"), [((1, 2, 2), 3), ((3, 1, 1), 2)])
def test_bound_sums_to_at_most_one_and_unbiased_estimate_to_one(name, shape, levels):
    model = peaked(tiny_model(name, shape, levels))
    total = float(space_probs(model, shape, k=2000).sum())
    assert total <= 1.0 + 0.02
    if name in STOCHASTIC:  # E[p_hat(x)] = p(x): the estimates must add up to one
        assert abs(total - 1.0) < 0.02, f"sum of exp(log_prob) = {total}"


@pytest.mark.parametrize("name", STOCHASTIC)
def test_sampler_agrees_with_estimated_density(name):
    shape, levels = (1, 2, 2), 3
    model = peaked(tiny_model(name, shape, levels))
    probs = space_probs(model, shape, k=4000)
    n = 20000
    counts = torch.bincount(
        code_of(
            model.sample(n, generator=torch.Generator().manual_seed(0), **fixed_c(model, n)),
            levels,
        ),
        minlength=probs.numel(),
    ).double()
    expected = probs / probs.sum() * n
    keep = expected >= 5
    observed = torch.cat([counts[keep], counts[~keep].sum(0, keepdim=True)])
    expected = torch.cat([expected[keep], expected[~keep].sum(0, keepdim=True)])
    p_value = chisquare(observed.numpy(), expected.numpy()).pvalue
    assert p_value > 1e-3, f"samples disagree with exp(log_prob): p={p_value:.2e}"
    other = space_probs(peaked(tiny_model(name, shape, levels, seed=1), seed=1), shape, k=500)
    assert chisquare(counts.numpy(), (other * n / other.sum()).numpy()).pvalue < 1e-6


@pytest.mark.parametrize("name", STOCHASTIC)
def test_iwae_bound_rises_with_k_on_average(name, generator):
    model = peaked(tiny_model(name, (1, 3, 3), levels=4))
    x = torch.randint(0, 4, (6, 1, 3, 3), generator=generator)
    cond = with_condition(condition_for(model, 6, generator))
    with torch.no_grad():
        means = [
            float(
                torch.stack(
                    [model.iwae_bound(x, k=k, generator=generator, **cond) for _ in range(30)]
                ).mean()
            )
            for k in (1, 10, 100)
        ]
        elbo = float(model.elbo(x, k=1000, generator=generator, **cond).mean())
    assert means[0] < means[1] < means[2]
    assert elbo <= means[2]


@pytest.mark.parametrize("name", LATENT)
def test_elbo_terms_and_latent_interface(name, generator):
    model = peaked(tiny_model(name, (3, 4, 4), levels=4, num_classes=2))
    x = torch.randint(0, 4, (5, 3, 4, 4), generator=generator)
    y = torch.tensor([0, 1, 1, 0, 1])
    c = condition_for(model, 5, generator)
    cond, cond2 = with_condition(c), with_condition(None if c is None else c[:2])
    with torch.no_grad():
        terms = model.elbo_terms(x, y, k=4, generator=generator, **cond)
    assert all(t.shape == (5,) for t in terms.values())
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    if type(model).kl is not LatentVariableModel.kl:  # closed form: never negative
        assert (terms["kl"] >= -1e-9).all()
    path = model.interpolate(x[:2], x[2:4], steps=5, y=y[:2], **cond2)
    assert path.shape == (5, 2, 3, 4, 4) and path.dtype == torch.long
    rec = model.reconstruct(x[:2], y[:2], **cond2)
    end = model.reconstruct(x[2:4], y[:2], **cond2)
    assert torch.equal(path[0], rec) and torch.equal(path[-1], end)
    drawn = model.reconstruct(x, y, generator=torch.Generator().manual_seed(1), **cond)
    again = model.reconstruct(x, y, generator=torch.Generator().manual_seed(1), **cond)
    assert torch.equal(drawn, again) and int(drawn.max()) < 4
