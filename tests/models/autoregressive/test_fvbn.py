"""Fully visible belief networks (fvsbn, nade, made) beyond the shared contract, which runs over
their tiny configurations in ``test_contract.py``: NADE's O(DH) computation against a per-position
recomputation, MADE's masks for every order and ensemble, the order mixtures' normalisation and
samplers, FVSBN against scikit-learn's logistic regressions.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.stats import chisquare

import genzoo
from genzoo.errors import ConfigError, UnsupportedError
from genzoo.models.autoregressive.fvbn import from_sequence, to_sequence
from tests.models.test_contract import causality_violations, code_of, enumerate_probs
from tests.models.tiny import all_images, peaked


def build(name: str, shape, levels: int, num_classes=None, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    model = genzoo.create_model(name, shape=shape, levels=levels, num_classes=num_classes, **kwargs)
    return model.double().eval()


def positions(order: torch.Tensor) -> torch.Tensor:
    """``pos[s]``: where sequence position ``s`` comes in ``order``."""
    pos = torch.empty_like(order)
    pos[order] = torch.arange(order.numel())
    return pos


def total_probability(model, shape, y=None) -> float:
    x = all_images(shape, model.levels)
    yy = None if y is None else torch.full((x.shape[0],), y)
    with torch.no_grad():
        return float(model.log_prob(x, yy).double().logsumexp(0).exp())


def sampler_p_value(model, shape, n: int = 20000, seed: int = 0, **kwargs) -> float:
    """Chi-square p-value of ``n`` samples against ``exp(log_prob)`` over the whole space."""
    probs = enumerate_probs(model, shape)
    samples = model.sample(n, generator=torch.Generator().manual_seed(seed), **kwargs)
    counts = torch.bincount(code_of(samples, model.levels), minlength=probs.numel()).double()
    keep = probs * n >= 5
    observed = torch.cat([counts[keep], counts[~keep].sum(0, keepdim=True)])
    expected = torch.cat([probs[keep], probs[~keep].sum(0, keepdim=True)]) * n
    expected *= observed.sum() / expected.sum()
    return chisquare(observed.numpy(), expected.numpy()).pvalue


def test_sequence_is_raster_scan_then_channels():
    x = torch.arange(2 * 3 * 2 * 2).view(2, 3, 2, 2)  # [B, C, H, W]
    seq = to_sequence(x)
    for i, j, c in itertools.product(range(2), range(2), range(3)):
        assert torch.equal(seq[:, (i * 2 + j) * 3 + c], x[:, c, i, j])
    assert torch.equal(from_sequence(seq, (3, 2, 2)), x)
    logits = torch.randn(2, 5, 12)  # [B, levels, D] -> [B, levels, C, H, W]
    assert torch.equal(from_sequence(logits, (3, 2, 2))[:, :, 2, 1, 0], logits[:, :, 8])


# ---------------------------------------------------------------------------------------- NADE
def naive_nade_logits(model, x, y, order, inclusive: bool = False) -> torch.Tensor:
    """Every ``h_s`` recomputed from scratch from the parameters: ``[B, levels, D]``."""
    batch, d = x.shape
    out = torch.empty(batch, model.levels, d, dtype=torch.float64)
    for b in range(batch):
        pos = positions(order[b])
        for s in range(d):
            a = model.hidden_bias.clone()
            if model.class_embed is not None:
                a = a + model.class_embed.weight[y[b]]
            for j in range(d):
                if pos[j] < pos[s] or (inclusive and pos[j] == pos[s]):
                    if model.inputs == "scaled":
                        u = 2.0 * x[b, j] / (model.levels - 1) - 1.0
                        a = a + model.weight[j] * u + model.input_bias[j]
                    else:
                        a = a + model.embed[j, x[b, j]]
            out[b, :, s] = model.out_bias[s] + model.out_weight[s] @ torch.sigmoid(a)
    return out


@pytest.mark.parametrize(("inputs", "levels", "num_classes"), [("scaled", 2, None),
                         ("scaled", 3, 2), ("onehot", 3, None), ("onehot", 2, 2)])  # fmt: skip
def test_nade_cumulative_sums_equal_a_naive_per_position_computation(inputs, levels, num_classes):
    shape = (2, 2, 2)
    model = build("nade", shape, levels, num_classes, hidden=5, inputs=inputs)
    g = torch.Generator().manual_seed(0)
    x = to_sequence(torch.randint(0, levels, (3, *shape), generator=g))
    y = None if num_classes is None else torch.tensor([0, 1, 1])
    d = model.num_dims
    raster = torch.arange(d).expand(3, d)
    one = torch.randperm(d, generator=g)
    per_image = torch.stack([torch.randperm(d, generator=g) for _ in range(3)])
    with torch.no_grad():
        for order, given in [(raster, None), (one.expand(3, d), one), (per_image, per_image)]:
            fast = model.chain_logits(x, y, given)
            torch.testing.assert_close(fast, naive_nade_logits(model, x, y, order), rtol=0,
                                       atol=1e-12)  # fmt: skip
        # negative control: a NADE whose h_s also saw x_s
        leaky = naive_nade_logits(model, x, y, raster, inclusive=True)
        assert (model.chain_logits(x, y) - leaky).abs().max() > 1e-3


def nade_mixture(num_classes=None):
    """Order-agnostic NADE on a 3^4 space, three evaluation orders, briefly trained."""
    model = build(
        "nade", (1, 2, 2), 3, num_classes, hidden=6, order_agnostic=True, num_orders=3,
        order_seed=1,
    )  # fmt: skip
    assert not model.raster
    return peaked(model, steps=60)


def test_nade_order_agnostic_mixture_normalizes_and_is_the_mean_over_orders():
    model = nade_mixture()
    assert abs(total_probability(model, (1, 2, 2)) - 1.0) < 1e-6
    x = all_images((1, 2, 2), 3)
    seq = to_sequence(x)
    with torch.no_grad():
        chains = []
        for m in range(3):  # each order's chain by the naive per-position computation
            logits = naive_nade_logits(model, seq[:20], None, model.orders[m].expand(20, -1))
            chains.append(torch.log_softmax(logits, 1).gather(1, seq[:20, None]).sum((1, 2)))
        mean = torch.stack(chains).logsumexp(0) - math.log(3)
        torch.testing.assert_close(model.log_prob(x[:20]).double(), mean, rtol=0, atol=1e-5)
    with pytest.raises(UnsupportedError, match="per-sub-pixel"):
        model.log_prob(x, per_dim=True)
    with pytest.raises(UnsupportedError, match="intractable"):
        model.logits(x)


def test_nade_order_agnostic_training_draws_a_fresh_order_per_image():
    model = nade_mixture().train()
    x = all_images((1, 2, 2), 3)[::7]
    torch.manual_seed(0)
    a = model.training_log_prob(x, None)
    torch.manual_seed(1)
    b = model.training_log_prob(x, None)
    assert not torch.allclose(a, b)  # another order, another chain
    # a normalized model under each order: the same numbers as some fixed-order chain
    torch.manual_seed(0)
    order = torch.rand(x.shape[0], model.num_dims).argsort(1)
    seq = to_sequence(x)
    with torch.no_grad():
        logits = model.chain_logits(seq, None, order)
    chain = torch.log_softmax(logits.float(), 1).gather(1, seq[:, None]).sum((1, 2))
    torch.testing.assert_close(a.detach().float(), chain, rtol=0, atol=1e-5)
    assert model.loss(x)["loss"].requires_grad


@pytest.mark.parametrize("name", ["nade", "made"])
def test_non_raster_mixture_sampler_follows_its_density(name):
    if name == "nade":
        model = nade_mixture()
    else:
        model = peaked(build("made", (1, 2, 2), 3, hidden=8, num_masks=3, order_agnostic=True,
                             mask_seed=2), steps=60)  # fmt: skip
    assert not model.raster
    assert sampler_p_value(model, (1, 2, 2)) > 1e-3
    # negative control: the samples of another component alone are rejected
    one = build(name, (1, 2, 2), 3, seed=1, hidden=6 if name == "nade" else 8)
    one.load_state_dict(model.state_dict())  # the same weights, raster order only
    probs = enumerate_probs(one, (1, 2, 2))
    samples = model.sample(20000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(code_of(samples, 3), minlength=81).double()
    assert chisquare(counts.numpy(), (probs * 20000 / probs.sum()).numpy()).pvalue < 1e-6


@pytest.mark.parametrize("name", ["nade", "made"])
def test_non_raster_cached_and_naive_samplers_return_the_same_images(name, generator):
    shape = (3, 2, 2)
    if name == "nade":
        kwargs = {"hidden": 6, "order_agnostic": True, "num_orders": 3}
    else:
        kwargs = {"hidden": 7, "num_hidden_layers": 2, "num_masks": 3, "order_agnostic": True,
                  "connectivity_agnostic": True}  # fmt: skip
    model = peaked(build(name, shape, 4, 2, **kwargs))
    y = torch.arange(9) % 2
    known = torch.randint(0, 4, (9, *shape), generator=generator)
    mask = torch.rand(9, *shape, generator=generator) < 0.4
    for extra in [{}, {"known": known, "mask": mask}]:
        a, b, auto = (
            model.sample(9, y, generator=torch.Generator().manual_seed(5), method=m, **extra)
            for m in ("naive", "cached", "auto")
        )
        assert torch.equal(a, b) and torch.equal(a, auto)
        if extra:
            assert torch.equal(a[mask], known[mask])
    with pytest.raises(ConfigError, match="available"):
        model.sample(2, y[:2], method="fast")


# ---------------------------------------------------------------------------------------- MADE
MADE_CASES = [
    (1, "scaled", False, True),
    (2, "onehot", True, False),
    (3, "scaled", True, True),
    (2, "onehot", False, True),
]


def made_paths(model, m: int) -> torch.Tensor:
    """Whether output dimension s has a path from input dimension t in mask set m: ``[D, D]``."""
    masks = [layer.mask[m] if layer.mask.dim() == 3 else layer.mask for layer in model.net.layers]
    out = masks[0].double()
    for mask in masks[1:]:
        out = mask.double() @ out
    d, e, k = model.num_dims, model.net.inputs_per_dim, model.levels
    return out.view(k, d, e, d).sum((0, 2)) > 0


def made_perturbation_violations(model, m: int, generator) -> list[tuple[int, int]]:
    """(changed position t, output s) pairs with s not after t in order m whose logits moved."""
    d = model.num_dims
    x = torch.randint(0, model.levels, (4, d), generator=generator)
    pos = positions(model.orders[m])
    bad = []
    with torch.no_grad():
        base = model.component_logits(x, None, m)
        for t in range(d):
            x2 = x.clone()
            x2[:, t] = (x2[:, t] + 1) % model.levels
            moved = (model.component_logits(x2, None, m) - base).abs().amax((0, 1)) > 1e-12
            bad += [(t, s) for s in range(d) if moved[s] and pos[s] <= pos[t]]
    return bad


@pytest.mark.parametrize(("layers", "inputs", "order_agnostic", "connectivity"), MADE_CASES)
def test_made_masks_never_connect_an_output_to_itself_or_later_inputs(
    layers, inputs, order_agnostic, connectivity, generator
):
    agnostic = {"order_agnostic": order_agnostic, "connectivity_agnostic": connectivity}
    model = build("made", (2, 2, 2), 3, hidden=6, num_hidden_layers=layers, inputs=inputs,
                  num_masks=3, **agnostic)  # fmt: skip
    for m in range(3):
        pos = positions(model.orders[m])
        allowed = pos[None, :] < pos[:, None]  # [output s, input t]
        assert not (made_paths(model, m) & ~allowed).any()
        assert made_perturbation_violations(model, m, generator) == []
    if order_agnostic:
        assert not torch.equal(model.orders[1], model.orders[0])
    # negative control: a last layer that sees every hidden unit is caught by both checks
    model.net.layers[-1].mask.fill_(1.0)
    assert (made_paths(model, 1) & ~torch.eye(8, dtype=torch.bool)).any()
    assert any(s == t for t, s in made_perturbation_violations(model, 1, generator))


@pytest.mark.parametrize(("order_agnostic", "connectivity"), [(True, False), (False, True),
                                                               (True, True)])  # fmt: skip
def test_made_ensembles_are_normalized_mixtures(order_agnostic, connectivity):
    shape = (1, 2, 2)
    agnostic = {"order_agnostic": order_agnostic, "connectivity_agnostic": connectivity}
    model = peaked(build("made", shape, 3, 2, hidden=8, num_masks=3, mask_seed=3, **agnostic))
    for label in range(2):
        assert abs(total_probability(model, shape, label) - 1.0) < 1e-6
    x = all_images(shape, 3)
    y = torch.arange(81) % 2
    with torch.no_grad():
        zeros = torch.zeros(81, dtype=torch.long)
        _, single = model.component_log_probs(x, zeros)
        for m in range(3):  # every mask set on its own is normalized too
            assert abs(float(single[m].sum(-1).double().logsumexp(0).exp()) - 1) < 1e-5
        _, picked = model.component_log_probs(x, y)
        mean = picked.sum(-1).double().logsumexp(0) - math.log(3)
        torch.testing.assert_close(model.log_prob(x, y).double(), mean, rtol=0, atol=1e-5)


def test_made_connectivity_ensemble_has_exact_raster_conditionals(generator):
    """Raster orders only: the mixture's conditionals are causal, chain to log_prob, sample the
    density and complete a raster prefix exactly (the contract's checks on an ensemble)."""
    model = peaked(build("made", (1, 2, 2), 3, hidden=8, num_masks=3, connectivity_agnostic=True))
    assert model.raster and model.num_components == 3
    x = all_images((1, 2, 2), 3)
    with torch.no_grad():
        torch.testing.assert_close(
            model.log_prob(x, per_dim=True).flatten(1).sum(1), model.log_prob(x)
        )
    causal = build("made", (3, 2, 2), 4, 2, hidden=9, num_masks=2, connectivity_agnostic=True)
    assert causality_violations(causal, (3, 2, 2), generator) == []
    assert sampler_p_value(model, (1, 2, 2), n=12000) > 1e-3
    probs = enumerate_probs(model, (1, 2, 2)).view(3, 3, 3, 3)
    known = torch.tensor([[[[1, 2], [0, 0]]]]).expand(8000, -1, -1, -1)
    mask = torch.tensor([[[True, True], [False, False]]])
    out = model.sample(8000, known=known, mask=mask, generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(out[:, 0, 1, 0] * 3 + out[:, 0, 1, 1], minlength=9).double()
    conditional = probs[1, 2].flatten() / probs[1, 2].sum()
    assert chisquare(counts.numpy(), (conditional * 8000).numpy()).pvalue > 1e-3


def test_made_training_uses_one_mask_set_per_batch():
    model = peaked(build("made", (1, 2, 2), 3, hidden=8, num_masks=3, order_agnostic=True))
    x = all_images((1, 2, 2), 3)[::5]
    with torch.no_grad():
        _, picked = model.component_log_probs(x, None)
        chains = picked.sum(-1)
    model.train()
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        lp = model.training_log_prob(x, None).detach()
        match = [m for m in range(3) if torch.allclose(lp.float(), chains[m], atol=1e-5)]
        assert len(match) == 1
        seen.add(match[0])
    assert seen == {0, 1, 2}


# --------------------------------------------------------------------------------------- FVSBN
def test_fvsbn_is_a_strictly_lower_triangular_softmax_regression():
    model = build("fvsbn", (3, 2, 2), 4, inputs="onehot")
    (layer,) = model.net.layers
    weight = layer.mask.view(4, 12, 4, 12)  # [level, output s, input level, input t]
    allowed = torch.ones(12, 12).tril(-1)
    assert torch.equal(weight.amax((0, 2)), allowed)


def test_fvsbn_maximum_likelihood_equals_per_pixel_logistic_regressions():
    """Fitted to convergence, a binary FVSBN's log-likelihood is the sum of unpenalised logistic
    regressions of each pixel on the earlier ones (scikit-learn), a convex problem."""
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    n, d = 400, 4
    z = torch.rand(n, generator=g) < 0.5  # a shared cause: correlated pixels
    probs = torch.where(z[:, None], torch.tensor([0.8, 0.7, 0.3, 0.6]), torch.tensor([0.3, 0.2,
                        0.6, 0.1]))  # fmt: skip
    data = (torch.rand(n, d, generator=g) < probs).long()
    x = data.view(n, 1, 2, 2)
    model = build("fvsbn", (1, 2, 2), 2).train()
    opt = torch.optim.LBFGS(model.parameters(), max_iter=500, tolerance_grad=1e-10,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = -model.log_prob(x).double().mean()
        loss.backward()
        return loss

    opt.step(closure)
    ours = float(model.log_prob(x).detach().double().sum())
    p1 = float(data[:, 0].double().mean())
    reference = n * (p1 * math.log(p1) + (1 - p1) * math.log(1 - p1))
    for s in range(1, d):
        reg = LogisticRegression(C=math.inf, tol=1e-10, max_iter=10000)
        reg.fit(data[:, :s].numpy(), data[:, s].numpy())
        log_p = reg.predict_log_proba(data[:, :s].numpy())
        reference += float(log_p[range(n), data[:, s].numpy()].sum())
    assert abs(ours - reference) < 1e-3
    # negative control: independent pixels (no regression) fit clearly worse
    independent = sum(
        n * (p * math.log(p) + (1 - p) * math.log(1 - p)) for p in data.double().mean(0).tolist()
    )
    assert reference - independent > 5


# -------------------------------------------------------------------------------------- shared
@pytest.mark.parametrize("name", ["fvsbn", "nade", "made"])
def test_onehot_inputs_normalize_and_are_causal(name, generator):
    size = {} if name == "fvsbn" else {"hidden": 6}
    model = peaked(build(name, (3, 1, 2), 3, 2, inputs="onehot", **size))
    for label in range(2):
        assert abs(total_probability(model, (3, 1, 2), label) - 1.0) < 1e-6
    assert causality_violations(model, (3, 1, 2), generator) == []


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("nade", {"hidden": 5, "order_agnostic": True, "num_orders": 3, "order_seed": 4}),
        ("made", {"hidden": 5, "num_masks": 3, "order_agnostic": True,
                  "connectivity_agnostic": True, "mask_seed": 4}),
    ],
)  # fmt: skip
def test_ensembles_round_trip(name, kwargs, tmp_path, generator):
    model = peaked(build(name, (1, 3, 3), 2, **kwargs))
    model.save(tmp_path / "m")
    loaded = genzoo.load_model(tmp_path / "m").double()
    assert torch.equal(loaded.orders, model.orders) and loaded.config == model.config
    for a, b in zip(model.buffers(), loaded.buffers()):
        assert torch.equal(a, b)  # the masks are rebuilt from the seed
    x = torch.randint(0, 2, (5, 1, 3, 3), generator=generator)
    assert torch.equal(model.log_prob(x), loaded.log_prob(x))


def test_bad_configurations_raise_config_errors():
    cases = [
        ("fvsbn", {"inputs": "bits"}, "inputs"),
        ("nade", {"inputs": "bits"}, "inputs"),
        ("nade", {"num_orders": 2}, "order_agnostic"),
        ("nade", {"hidden": 0}, "hidden=0 is invalid"),
        ("made", {"num_masks": 2}, "agnostic"),
        ("made", {"num_hidden_layers": 0}, "fvsbn"),
        ("made", {"inputs": "bits"}, "inputs"),
    ]
    for name, kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            genzoo.create_model(name, shape=(1, 2, 2), levels=2, **kwargs)
