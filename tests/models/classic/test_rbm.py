"""RBM: free energy and partition function against brute force, AIS against the exact log Z (and
its bias with too few steps), CD/PCD raising the exact likelihood, Gibbs sampling against the
exact distribution."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy.stats import chisquare

import genzoo
from genzoo.errors import ConfigError, UnsupportedError
from tests.models.test_contract import code_of
from tests.models.tiny import all_images


def random_rbm(visible: int, hidden: int, scale: float = 1.0, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    model = genzoo.create_model(
        "rbm", shape=(1, 1, visible), levels=2, hidden=hidden, init_std=scale, **kwargs
    ).double()
    with torch.no_grad():
        model.visible_bias.normal_(0, scale)
        model.hidden_bias.normal_(0, scale)
    return model.eval()


def states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def brute_log_z(model) -> float:
    """``log sum_{v,h} exp(-E(v, h))`` over both layers."""
    v, h = states(model.num_dims), states(model.hidden)
    w, b, c = model.weight, model.visible_bias[0], model.hidden_bias[0]
    neg_energy = (v @ b)[:, None] + (h @ c)[None, :] + v @ w @ h.T
    return float(neg_energy.detach().flatten().logsumexp(0))


@pytest.mark.parametrize(("visible", "hidden"), [(7, 4), (4, 7)])  # enumerates h, then v
def test_exact_partition_function_and_free_energy_match_brute_force(visible, hidden):
    model = random_rbm(visible, hidden)
    assert float(model.log_partition_exact()[0]) == pytest.approx(brute_log_z(model), abs=1e-9)
    v, h = states(visible), states(hidden)
    neg_energy = (
        (v @ model.visible_bias[0])[:, None]
        + (h @ model.hidden_bias[0])[None]
        + v @ model.weight @ h.T
    )
    torch.testing.assert_close(model.free_energy(v).detach(), -neg_energy.logsumexp(1).detach())


def test_log_prob_is_normalised_and_sampler_follows_it():
    model = random_rbm(4, 3, scale=1.5)
    shape, x = model.shape, all_images((1, 1, 4), 2)
    probs = model.log_prob(x).exp()
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-12)
    n = 20000
    samples = model.sample(n, generator=torch.Generator().manual_seed(0), steps=30)
    assert samples.shape == (n, *shape)
    counts = torch.bincount(code_of(samples, 2), minlength=16).double()
    assert chisquare(counts.numpy(), (probs * n).numpy()).pvalue > 1e-3
    other = random_rbm(4, 3, scale=1.5, seed=1).log_prob(x).exp()
    assert chisquare(counts.numpy(), (other * n).numpy()).pvalue < 1e-6  # negative control


def test_conditional_rbm_normalises_per_class():
    torch.manual_seed(0)
    model = genzoo.create_model(
        "rbm", shape=(1, 2, 2), levels=2, num_classes=3, hidden=3, init_std=1.0
    ).double()
    with torch.no_grad():
        model.visible_bias.normal_()
    x = all_images((1, 2, 2), 2)
    totals = [float(model.log_prob(x, torch.full((16,), c)).exp().sum()) for c in range(3)]
    assert totals == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)
    probs = [model.log_prob(x, torch.full((16,), c)).exp() for c in range(3)]
    assert not torch.allclose(probs[0], probs[1])  # the classes' biases differ


def test_ais_matches_the_exact_log_partition_function():
    model = random_rbm(16, 12, scale=1.0)
    exact = float(model.log_partition_exact()[0])
    estimate = model.log_partition_ais(1000, 100, generator=torch.Generator().manual_seed(0))[0]
    assert abs(float(estimate.log_z) - exact) < 0.05
    assert abs(float(estimate.log_z) - exact) < 4 * estimate.stderr + 0.01


def test_ais_with_too_few_steps_underestimates_log_z():
    """Negative control and the direction of the bias: E[log Z_hat] <= log Z (Jensen)."""
    model = random_rbm(16, 12, scale=1.0)
    exact = float(model.log_partition_exact()[0])
    g = torch.Generator().manual_seed(1)
    few = torch.stack([model.log_partition_ais(2, 10, generator=g)[0].log_z for _ in range(200)])
    many = torch.stack([model.log_partition_ais(300, 20, generator=g)[0].log_z for _ in range(10)])
    sem = float(few.std()) / 200**0.5
    assert float(few.mean()) < exact - 4 * sem  # biased low, measurably (about -0.7 nats)
    assert abs(float(many.mean()) - exact) < abs(float(few.mean()) - exact) / 5


def test_log_prob_uses_ais_for_large_rbms_and_is_cached():
    model = random_rbm(10, 6, scale=0.5, exact_max_units=0, ais_steps=500, ais_chains=50)
    x = torch.randint(0, 2, (5, 1, 1, 10), generator=torch.Generator().manual_seed(0))
    exact_model = random_rbm(10, 6, scale=0.5)
    torch.testing.assert_close(model.log_prob(x), exact_model.log_prob(x), atol=0.05, rtol=0)
    assert torch.equal(model.log_prob(x), model.log_prob(x))  # one cached log Z
    fresh = model.log_prob(x, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(fresh, model.log_prob(x))
    with torch.no_grad():
        model.weight.add_(0.1)  # a new set of weights: a new estimate
    assert not torch.allclose(model.log_prob(x), exact_model.log_prob(x), atol=1e-3)
    with pytest.raises(UnsupportedError, match="exact_max_units"):
        model.log_partition_exact()


def toy_data(n: int = 60) -> torch.Tensor:
    """Two noisy binary prototypes of 9 pixels."""
    g = torch.Generator().manual_seed(0)
    protos = torch.tensor([[1, 1, 1, 0, 0, 0, 1, 0, 1], [0, 0, 1, 1, 1, 1, 0, 1, 0]])
    x = protos[torch.arange(n) % 2]
    flip = torch.rand(x.shape, generator=g) < 0.1
    return torch.where(flip, 1 - x, x).view(n, 1, 3, 3)


@pytest.mark.parametrize("persistent", [False, True])
def test_cd_and_pcd_raise_the_exact_log_likelihood(persistent):
    torch.manual_seed(0)
    model = genzoo.create_model(
        "rbm", shape=(1, 3, 3), levels=2, hidden=4, persistent=persistent, chains=30
    )
    x = toy_data()
    before = float(model.log_prob(x).mean())
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for step in range(150):
        opt.zero_grad()
        model.loss(x[(step * 20) % 60 : (step * 20) % 60 + 20])["loss"].backward()
        opt.step()
    after = float(model.eval().log_prob(x).mean())
    assert after > before + 1.5, (before, after)


def test_ascending_the_surrogate_lowers_the_likelihood():
    """Negative control: the sign of the CD gradient matters."""
    torch.manual_seed(0)
    model = genzoo.create_model("rbm", shape=(1, 3, 3), levels=2, hidden=4, persistent=False)
    x = toy_data()
    before = float(model.log_prob(x).mean())
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(50):
        opt.zero_grad()
        (-model.loss(x)["loss"]).backward()
        opt.step()
    assert float(model.eval().log_prob(x).mean()) < before - 0.5


def test_eval_loss_is_the_pseudo_likelihood_and_metrics_are_finite():
    model = random_rbm(9, 4)
    x = toy_data(8)
    model.eval()
    out = model.loss(x.view(8, 1, 1, 9))
    assert set(out) == {"loss", "reconstruction_error", "pseudo_bits_per_dim"}
    assert float(out["loss"]) > 0 and torch.isfinite(out["pseudo_bits_per_dim"])


def test_binary_only():
    with pytest.raises(ConfigError, match="--levels 2"):
        genzoo.create_model("rbm", shape=(1, 2, 2), levels=4)
    with pytest.raises(UnsupportedError, match="per-sub-pixel"):
        random_rbm(4, 2).log_prob(torch.zeros(1, 1, 1, 4, dtype=torch.long), per_dim=True)
