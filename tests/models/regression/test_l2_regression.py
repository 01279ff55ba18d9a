"""The L2 regression baseline: it learns the conditional mean (averaging the modes), its network
gets exactly the MSE's gradient, and its answer is the most likely level."""

from __future__ import annotations

import torch

from genzoo.models import create_model


def _model(levels: int = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(
        "l2_regression",
        shape=(1, 4, 4),
        levels=levels,
        condition_shape=(1, 2, 2),
        condition_levels=3,
        cond_channels=8,
        cond_blocks=1,
    ).double()


def test_two_equally_likely_answers_are_averaged():
    """Half the targets of one condition are black, half white: MSE predicts the middle gray,
    an image no target is (the blur of the papers)."""
    model = _model(levels=5)
    c = torch.ones(8, 1, 2, 2, dtype=torch.long)
    x = torch.zeros(8, 1, 4, 4, dtype=torch.long)
    x[4:] = 4
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(300):
        opt.zero_grad()
        model.loss(x, c=c)["loss"].backward()
        opt.step()
    assert torch.equal(model.regress(c[:1]), torch.full((1, 1, 4, 4), 2))
    mu = model.mean(c[:1]).detach()
    assert torch.allclose(mu, torch.zeros_like(mu), atol=0.02)  # the middle of [-1, 1]


def test_the_network_gets_the_mse_gradient_only():
    model = _model()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 5, (6, 1, 4, 4), generator=g)
    c = torch.randint(0, 3, (6, 1, 2, 2), generator=g)
    model.loss(x, c=c)["loss"].backward()
    full = [p.grad.clone() for p in model.network.parameters()]
    model.zero_grad()
    mse = ((model.mean(c) - model.scale(x)) ** 2).mean()
    mse.backward()
    for a, p in zip(full, model.network.parameters()):
        torch.testing.assert_close(a, p.grad)
    assert model.log_sigma.grad is None  # MSE alone does not reach sigma


def test_answer_is_the_mode_and_the_density_is_the_gaussian_on_the_levels():
    model = _model()
    g = torch.Generator().manual_seed(2)
    c = torch.randint(0, 3, (4, 1, 2, 2), generator=g)
    x = torch.zeros(4, 1, 4, 4, dtype=torch.long)
    logits = model.logits(x, c=c)
    assert torch.equal(model.regress(c), logits.argmax(1))
    mu, sigma = model.mean(c).detach(), float(model.log_sigma.exp())
    values = torch.linspace(-1, 1, 5, dtype=torch.float64)
    gauss = torch.exp(-0.5 * ((values[:, None, None, None] - mu[0]) / sigma) ** 2)
    expected = (gauss / gauss.sum(0))[3]  # p(x_d = 3 | c) of the first image
    got = model.log_prob(torch.full((1, 1, 4, 4), 3), c=c[:1], per_dim=True).exp()[0]
    torch.testing.assert_close(got.double(), expected, atol=1e-6, rtol=1e-5)
