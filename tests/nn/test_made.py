"""MADE masks and networks: output i sees only inputs strictly before i in the order, no dead
outputs, the context reaches every output; checked on the mask matrices and by perturbation."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.nn.made import (
    AutoregressiveMLP,
    IncrementalMADE,
    MaskedLinear,
    made_degrees,
    made_masks,
)

#: (dim, hidden, hidden layers, outputs per dim): narrow, exact and wide layers, and no hidden layer
CASES = [
    (1, 3, 1, 1),
    (2, 1, 2, 2),
    (5, 2, 1, 1),
    (5, 4, 2, 2),
    (6, 3, 3, 3),
    (7, 20, 2, 1),
    (4, 8, 0, 2),
    (9, 5, 1, 2),
]


def positions(order: torch.Tensor) -> torch.Tensor:
    """``pos[i]``: where dimension ``i`` comes in ``order``."""
    pos = torch.empty_like(order)
    pos[order] = torch.arange(order.numel())
    return pos


def strictly_before(order: torch.Tensor, outputs_per_dim: int) -> torch.Tensor:
    """``[outputs_per_dim * D, D]`` bool: output unit ``p * D + i`` may see input ``j``."""
    pos = positions(order)
    allowed = pos[None, :] < pos[:, None]
    return allowed.repeat(outputs_per_dim, 1)


def paths(masks: list[torch.Tensor]) -> torch.Tensor:
    """Number of paths from each input to each output: ``M_L @ ... @ M_1``."""
    out = masks[0].double()
    for m in masks[1:]:
        out = m.double() @ out
    return out


@pytest.mark.parametrize(("dim", "hidden", "layers", "outs"), CASES)
def test_mask_connectivity_is_strictly_autoregressive(dim, hidden, layers, outs):
    g = torch.Generator().manual_seed(dim * 100 + hidden)
    for _ in range(5):
        order = torch.randperm(dim, generator=g)
        connected = paths(made_masks(order, [hidden] * layers, outs)) > 0
        allowed = strictly_before(order, outs)
        assert not (connected & ~allowed).any(), "an output sees itself or a later input"
        pos = positions(order).repeat(outs)
        assert connected[pos > 0].any(1).all(), "an output other than the first sees nothing"
        if layers == 0 or hidden >= dim - 1:  # every degree present: the full strict triangle
            assert torch.equal(connected, allowed)


def test_hidden_degrees_are_deterministic_and_cover_every_degree():
    order = torch.tensor([2, 0, 3, 1])
    inputs, narrow, wide = made_degrees(order, [2, 7])
    assert inputs.tolist() == [2, 4, 1, 3]  # dimension order[k] has degree k + 1
    assert narrow.tolist() == [1, 2]
    assert wide.tolist() == [1, 1, 1, 2, 2, 3, 3]
    assert made_degrees(order, [7])[1].tolist() == wide.tolist()


def perturbation_violations(net: AutoregressiveMLP, context=None, trials: int = 3) -> list:
    """Pairs (changed input j, output i) where changing ``x_j`` moved output ``i`` although
    ``i`` does not come after ``j`` in the order; also returns which outputs never moved."""
    g = torch.Generator().manual_seed(0)
    pos = positions(net.order)
    bad, moved = [], torch.zeros(net.dim, dtype=torch.bool)
    with torch.no_grad():
        for _ in range(trials):
            x = torch.randn(4, net.dim, generator=g, dtype=torch.float64)
            base = net(x, context)
            for j in range(net.dim):
                x2 = x.clone()
                x2[:, j] += torch.randn(4, generator=g, dtype=torch.float64) * 3
                changed = (net(x2, context) - base).abs().amax(dim=(0, 1)) > 0
                moved |= changed
                bad += [(j, i) for i in range(net.dim) if changed[i] and pos[i] <= pos[j]]
    return bad, moved


@pytest.mark.parametrize(("dim", "hidden", "layers", "outs"), CASES)
@pytest.mark.parametrize("context_features", [0, 3])
def test_network_outputs_depend_only_on_earlier_inputs(dim, hidden, layers, outs, context_features):
    torch.manual_seed(dim + hidden)
    order = torch.randperm(dim)
    net = AutoregressiveMLP(dim, hidden, layers, outs, context_features, order).double()
    context = torch.randn(4, context_features, dtype=torch.float64) if context_features else None
    bad, moved = perturbation_violations(net, context)
    assert bad == []
    assert moved[order[1:]].all(), "an output other than the first in the order never moved"
    assert not moved[order[0]]


def test_perturbation_check_catches_a_leak():
    """Negative control: the same network with its last mask replaced by ones is flagged."""
    torch.manual_seed(0)
    net = AutoregressiveMLP(5, 8, 2, 2, order=torch.tensor([3, 1, 4, 0, 2])).double()
    assert perturbation_violations(net)[0] == []
    net.layers[-1].mask.fill_(1.0)
    bad, _ = perturbation_violations(net)
    assert (3, 3) in bad and len(bad) >= 5  # every output now sees itself and later inputs


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_context_reaches_every_output(layers):
    torch.manual_seed(layers)
    net = AutoregressiveMLP(4, 6, layers, 2, context_features=3, order=[2, 0, 3, 1]).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    c = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        for f in range(3):
            c2 = c.clone()
            c2[:, f] += 1.0
            assert ((net(x, c2) - net(x, c)).abs() > 0).all()


def test_context_broadcasts_over_leading_sample_axis():
    torch.manual_seed(0)
    net = AutoregressiveMLP(3, 5, 1, 2, context_features=4).double()
    x = torch.randn(7, 2, 3, dtype=torch.float64)  # [k, B, D]
    c = torch.randn(2, 4, dtype=torch.float64)  # [B, C]
    out = net(x, c)
    assert out.shape == (7, 2, 2, 3)
    torch.testing.assert_close(out[4], net(x[4], c), rtol=0, atol=1e-14)


def test_masked_linear_never_writes_its_weight():
    mask = made_masks(torch.arange(4), [6])[0]
    layer = MaskedLinear(4, 6, mask).double()
    before = layer.weight.detach().clone()
    x = torch.randn(3, 4, dtype=torch.float64)
    layer(x).sum().backward()
    assert torch.equal(layer.weight, before) and (before * (1 - layer.mask)).abs().sum() > 0
    assert layer.mask.dtype == torch.float64 and "mask" in dict(layer.named_buffers())
    torch.testing.assert_close(layer(x), x @ (before * mask.double()).T + layer.bias)
    assert not (layer.weight.grad * (1 - layer.mask)).any()  # masked entries get no gradient


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="permutation"):
        AutoregressiveMLP(3, 4, 1, 1, order=[0, 0, 1])
    with pytest.raises(ConfigError, match="permutation"):
        made_masks([0, 2], [3])
    with pytest.raises(ConfigError, match="positive"):
        AutoregressiveMLP(3, 0, 1, 1)
    with pytest.raises(ConfigError, match="shape"):
        MaskedLinear(3, 4, torch.ones(3, 4))
    net = AutoregressiveMLP(3, 4, 1, 1, context_features=2)
    with pytest.raises(ConfigError, match="context"):
        net(torch.zeros(1, 3))


def test_all_orders_of_three_dims():
    """Exhaustive over orders for a small case: connectivity is exactly the strict triangle."""
    for order in itertools.permutations(range(3)):
        order = torch.tensor(order)
        for hidden in (1, 2, 5):
            connected = paths(made_masks(order, [hidden, hidden], 1)) > 0
            allowed = strictly_before(order, 1)
            assert not (connected & ~allowed).any()
            if hidden >= 2:
                assert torch.equal(connected, allowed)


# ------------------------------------------------------------------ extensions: several input
# units per dimension, random degrees, several mask sets, incremental evaluation
@pytest.mark.parametrize(("dim", "hidden", "layers", "outs"), CASES)
@pytest.mark.parametrize("ins", [1, 3])
def test_random_degrees_and_input_units_stay_strictly_autoregressive(
    dim, hidden, layers, outs, ins
):
    g = torch.Generator().manual_seed(7 * dim + hidden)
    for _ in range(4):
        order = torch.randperm(dim, generator=g)
        masks = made_masks(order, [hidden] * layers, outs, inputs_per_dim=ins, generator=g)
        assert masks[0].shape[1] == ins * dim
        # input unit e * D + j belongs to dimension j: fold the E units of each dimension
        connected = paths(masks).view(outs * dim, ins, dim).sum(1) > 0
        assert not (connected & ~strictly_before(order, outs)).any()


def test_random_degrees_follow_the_paper():
    """Each layer's degrees lie in [min(previous layer), D - 1]; the default is deterministic."""
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(9, generator=g)
    _, h1, h2 = made_degrees(order, [50, 50], generator=g)
    assert int(h1.min()) >= 1 and int(h1.max()) <= 8
    assert int(h2.min()) >= int(h1.min()) and int(h2.max()) <= 8
    assert len(set(h1.tolist())) > 4  # spread out, not constant
    assert not torch.equal(h1, made_degrees(order, [50])[1])  # differs from the even spread


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_mask_sets_share_weights_and_each_respects_its_order(layers):
    g = torch.Generator().manual_seed(layers)
    orders = torch.stack([torch.randperm(6, generator=g) for _ in range(4)])
    torch.manual_seed(0)
    net = AutoregressiveMLP(
        6, 8, layers, 2, 0, orders, inputs_per_dim=2, degrees_generator=g
    ).double()
    assert net.num_masks == 4 and torch.equal(net.order, orders[0])
    assert all(layer.mask.shape[0] == 4 for layer in net.layers)
    x = torch.randn(3, 12, dtype=torch.float64)
    outs = [net(x, mask_set=m) for m in range(4)]
    assert not torch.equal(outs[0], outs[1])  # the sets differ
    for m in range(4):
        masks = [layer.mask[m] for layer in net.layers]
        connected = paths(masks).view(12, 2, 6).sum(1) > 0
        assert not (connected & ~strictly_before(orders[m], 2)).any()
        # by perturbation, through the network itself
        pos = positions(orders[m])
        for j in range(6):
            x2 = x.clone()
            x2[:, [j, 6 + j]] += 2.0
            changed = (net(x2, mask_set=m) - outs[m]).abs().amax(dim=(0, 1)) > 0
            assert not changed[pos <= pos[j]].any()


INCREMENTAL = [(0, 1, 0), (0, 3, 2), (1, 1, 2), (2, 3, 0), (3, 2, 3)]


@pytest.mark.parametrize(("layers", "ins", "context_features"), INCREMENTAL)
def test_incremental_evaluation_equals_the_full_network(layers, ins, context_features):
    g = torch.Generator().manual_seed(1)
    orders = torch.stack([torch.arange(5), torch.randperm(5, generator=g)])
    torch.manual_seed(layers)
    net = AutoregressiveMLP(5, 7, layers, 3, context_features, orders, inputs_per_dim=ins).double()
    x = torch.randn(4, ins * 5, dtype=torch.float64)
    c = torch.randn(4, context_features, dtype=torch.float64) if context_features else None
    for m in range(2):
        with torch.no_grad():
            full = net(x, c, mask_set=m)
        steps = IncrementalMADE(net, 4, c, mask_set=m)
        stale = IncrementalMADE(net, 4, c, mask_set=m)  # negative control: misses the newest
        worst, stale_worst = 0.0, 0.0
        for k, i in enumerate(orders[m].tolist()):
            if k > 0:
                prev = int(orders[m, k - 1])
                steps.add(prev, x.view(4, ins, 5)[:, :, prev])
                if k > 1:
                    older = int(orders[m, k - 2])
                    stale.add(older, x.view(4, ins, 5)[:, :, older])
            worst = max(worst, float((steps.outputs(i) - full[:, :, i]).abs().max()))
            stale_worst = max(stale_worst, float((stale.outputs(i) - full[:, :, i]).abs().max()))
        assert worst < 1e-12
        assert stale_worst > 1e-6
