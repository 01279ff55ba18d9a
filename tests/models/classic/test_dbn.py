"""Deep belief network: the greedy schedule, the variational bound against exact enumeration of
the DBN's likelihood, Hinton et al.'s tied initialisation (the bound is unchanged, then rises),
the sampler against the exact marginal. The shared contract runs over a one-RBM DBN (tiny.py);
the stacks are tested here.
"""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

import genzoo
from tests.models.test_contract import code_of
from tests.models.tiny import all_images


def random_dbn(shape, hidden: int, top_hidden: int, layers: int, seed: int = 0, **kwargs):
    """A DBN of ``layers`` RBMs with random weights and biases, every layer in use."""
    torch.manual_seed(seed)
    model = genzoo.create_model(
        "dbn", shape=shape, levels=2, hidden=hidden, top_hidden=top_hidden, num_layers=layers,
        steps_per_layer=10, init_std=1.0, **kwargs,
    ).double()  # fmt: skip
    with torch.no_grad():
        for rbm in model.rbms:
            rbm.visible_bias.normal_()
            rbm.hidden_bias.normal_()
        model.trained_steps.fill_((layers - 1) * 10 + 1)
    assert model.layers_trained == layers
    return model.eval()


def states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def log_bernoulli(values: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return (values * logits - F.softplus(logits)).sum(-1)


def exact_log_p(model, x: torch.Tensor) -> torch.Tensor:
    """``log p(v)`` of the DBN by summing over every joint state of the layers below the top."""
    depth = model.layers_trained
    rbms = model.rbms[:depth]
    v = x.flatten(1).double()
    hidden = [states(r.hidden) for r in rbms[:-1]]
    top = rbms[-1]
    log_z = float(top.log_partition_exact()[0])
    total = []
    for joint in itertools.product(*[range(h.shape[0]) for h in hidden]):
        below, log_joint = v, torch.zeros(v.shape[0], dtype=torch.float64)
        for rbm, h_all, index in zip(rbms[:-1], hidden, joint):
            h = h_all[index].expand(v.shape[0], -1)
            logits = rbm.visible_bias[0] + h @ rbm.weight.T
            log_joint = log_joint + log_bernoulli(below, logits)
            below = h
        total.append(log_joint - top.free_energy(below) - log_z)
    return torch.stack(total).logsumexp(0).detach()


@pytest.mark.parametrize(("layers", "hidden"), [(2, 3), (3, 2)])
def test_bound_is_below_the_exact_likelihood_and_monte_carlo_estimates_it(layers, hidden):
    model = random_dbn((1, 2, 2), hidden, 3, layers)
    x = all_images((1, 2, 2), 2)
    exact = exact_log_p(model, x)
    bound = model.log_prob(x)  # enumerates q's states: exact expectation
    assert (bound <= exact + 1e-10).all() and (exact - bound).max() > 1e-3  # a real gap
    assert float(exact.exp().sum()) == pytest.approx(1.0, abs=1e-10)  # (the reference is right)
    estimates = torch.stack(
        [model.log_prob(x, samples=4000, generator=torch.Generator().manual_seed(s))
         for s in range(10)]
    )  # fmt: skip
    assert not torch.equal(estimates[0], estimates[1])
    torch.testing.assert_close(estimates.mean(0), bound, rtol=0, atol=0.04)  # ~4.5 s.e.


def test_bound_is_tight_when_q_is_the_exact_posterior():
    """Top RBM = the first RBM transposed: the DBN is that RBM and q its exact posterior, so the
    bound (entropy term included) equals the exact log-likelihood."""
    model = random_dbn((1, 2, 2), 3, 4, 2)
    first, top = model.rbms
    with torch.no_grad():
        top.weight.copy_(first.weight.T)
        top.visible_bias.copy_(first.hidden_bias)
        top.hidden_bias.copy_(first.visible_bias)
    x = all_images((1, 2, 2), 2)
    exact = first.log_prob(x).double()
    torch.testing.assert_close(exact_log_p(model, x), exact, rtol=0, atol=1e-10)
    torch.testing.assert_close(model.log_prob(x), exact, rtol=0, atol=1e-10)


def test_greedy_training_raises_the_bound_layer_by_layer():
    """Binarised digits: after layer 1 the bound is RBM 1's exact log-likelihood; Hinton et al.'s
    tied start leaves it unchanged to rounding; training layer 2 then raises it. Exact log Z and
    exact expectations (8 hidden units below a 64-unit top), so no AIS noise."""
    data = genzoo.load_dataset("digits", levels=2)
    x = data.train[:300]
    torch.manual_seed(0)
    model = genzoo.create_model(
        "dbn", shape=data.shape, levels=2, hidden=8, top_hidden=64, num_layers=2,
        steps_per_layer=150, chains=50, init_std=0.1,
    ).double()  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    g = torch.Generator().manual_seed(0)

    def step():
        model.train()
        opt.zero_grad()
        out = model.loss(x[torch.randint(0, 300, (50,), generator=g)])
        out["loss"].backward()
        opt.step()
        model.eval()
        return out

    for _ in range(150):
        step()
    assert model.layers_trained == 1
    first = model.log_prob(x)
    torch.testing.assert_close(first, model.rbms[0].log_prob(x).double())
    after_layer_1 = copy.deepcopy(model)

    model.train()
    out = model.loss(x[:50])  # the switch: layer 2 starts as layer 1 transposed
    model.eval()
    assert float(out["layer"]) == 2 and model.layers_trained == 2
    torch.testing.assert_close(model.log_prob(x), first, rtol=0, atol=1e-9)
    opt.zero_grad()
    out["loss"].backward()
    opt.step()
    for _ in range(60):
        step()
    second = model.log_prob(x)
    assert float(second.mean()) > float(first.mean()) + 0.2
    assert (second <= exact_log_p(model, x) + 1e-9).all()
    # negative control: layer 2 from random weights instead of the tied start is far worse
    untied = copy.deepcopy(after_layer_1)
    untied.tied_init = False
    untied.train()
    untied.loss(x[:50])
    untied.eval()
    assert float(untied.log_prob(x).mean()) < float(first.mean()) - 1.0


def test_each_stage_trains_only_its_layer(generator):
    torch.manual_seed(0)
    model = genzoo.create_model(
        "dbn", shape=(1, 2, 3), levels=2, hidden=6, top_hidden=5, num_layers=3, steps_per_layer=2,
        chains=4,
    ).double()  # fmt: skip
    x = torch.randint(0, 2, (8, 1, 2, 3), generator=generator)
    seen = []
    for step in range(7):
        model.zero_grad(set_to_none=True)
        model.train()
        out = model.loss(x)
        out["loss"].backward()
        layer = int(out["layer"]) - 1
        seen.append(layer)
        for n, rbm in enumerate(model.rbms):
            grads = [p.grad for p in rbm.parameters()]
            if n == layer:
                assert all(gr is not None and gr.abs().sum() > 0 for gr in grads)
            else:
                assert all(gr is None for gr in grads)
        assert int(model.trained_steps) == step + 1
        assert model.layers_trained == layer + 1
    assert seen == [0, 0, 1, 1, 2, 2, 2]  # the top layer trains on
    # the second RBM started as the first transposed (6 hidden units = 6 pixels); the third
    # could not (5 hidden units against 6 below it), so it kept its random start
    fresh = genzoo.create_model(
        "dbn", shape=(1, 2, 3), levels=2, hidden=6, top_hidden=5, num_layers=3, steps_per_layer=2,
        chains=4,
    )  # fmt: skip
    fresh.train()
    for _ in range(2):
        fresh.loss(x)
    first = fresh.rbms[0].weight.detach().clone()
    fresh.loss(x)  # the switch (no optimiser step in between)
    torch.testing.assert_close(fresh.rbms[1].weight.detach(), first.T)


def test_sampler_follows_the_exact_marginal():
    model = random_dbn((1, 1, 4), 3, 4, 2, seed=2, gibbs_steps=40)
    probs = exact_log_p(model, all_images((1, 1, 4), 2)).exp()
    n = 20000
    samples = model.sample(n, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(code_of(samples, 2), minlength=16).double()
    assert chisquare(counts.numpy(), (probs * n).numpy()).pvalue > 1e-3
    other = exact_log_p(random_dbn((1, 1, 4), 3, 4, 2, seed=3), all_images((1, 1, 4), 2)).exp()
    assert chisquare(counts.numpy(), (other * n).numpy()).pvalue < 1e-6  # negative control


def test_completion_keeps_given_pixels_and_round_trip(tmp_path, generator):
    model = random_dbn((1, 3, 3), 4, 5, 2, num_classes=2, gibbs_steps=5)
    known = torch.randint(0, 2, (6, 1, 3, 3), generator=generator)
    mask = torch.rand(6, 1, 3, 3, generator=generator) < 0.5
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    out = model.sample(6, y, known=known, mask=mask, generator=generator)
    assert torch.equal(out[mask], known[mask]) and out.shape == (6, 1, 3, 3)
    model.save(tmp_path / "m")
    loaded = genzoo.load_model(tmp_path / "m").double()
    assert loaded.layers_trained == 2 and int(loaded.trained_steps) == 11
    assert torch.equal(loaded.log_prob(known, y), model.log_prob(known, y))
    f = model.features(known, y)
    assert f.shape == (6, 5) and torch.equal(f, loaded.features(known, y))
