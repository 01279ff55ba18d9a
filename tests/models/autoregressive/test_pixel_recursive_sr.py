"""Pixel Recursive Super Resolution (Dahl et al. 2017) beyond the shared contract.

The contract tests (tests/models/test_contract.py) already run it with a tiny condition; these
check what is particular to it: every condition shape it claims (super-resolution 2x and 4x,
colorization, unequal factors) is normalised for each fixed ``c``, the condition reaches the
output (with a negative control), the conditioning network runs once per cached sampling run,
the loss is the paper's (likelihood plus the conditioning logits' own cross-entropy), and on
real digits a few steps teach it to use a super-resolution condition.
"""

from __future__ import annotations

import math

import pytest
import torch

import genzoo
from genzoo.data.tasks import Colorization, SuperResolution
from genzoo.distributions import categorical_log_prob
from genzoo.errors import ConfigError
from tests.models.tiny import all_images

SMALL = {"channels": 6, "num_layers": 2, "head_channels": 7, "cond_channels": 5, "cond_blocks": 1}


def build(shape, condition_shape, levels=4, condition_levels=4, **kwargs):
    torch.manual_seed(0)
    return genzoo.create_model(
        "pixel_recursive_sr",
        shape=shape,
        levels=levels,
        condition_shape=condition_shape,
        condition_levels=condition_levels,
        **{**SMALL, **kwargs},
    )


def perturb(model, scale=0.5):
    """Random weights far from initialisation, so that no conditional is near uniform."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.mark.parametrize(
    ("shape", "condition_shape", "levels"),
    [
        ((1, 2, 2), (1, 1, 1), 3),  # super-resolution 2x
        ((1, 4, 1), (1, 1, 1), 2),  # 4x on one side, 1x on the other
        ((3, 1, 2), (1, 1, 2), 2),  # colorization: luminance -> RGB
    ],
)
def test_normalised_for_every_fixed_condition(shape, condition_shape, levels):
    model = perturb(build(shape, condition_shape, levels=levels, condition_levels=3)).double()
    x = all_images(shape, levels)
    conditions = all_images(condition_shape, 3)
    totals = []
    with torch.no_grad():
        for c in conditions:
            log_p = model.log_prob(x, c=c.expand(x.shape[0], -1, -1, -1).clone())
            totals.append(float(log_p.logsumexp(0).exp()))
    assert max(abs(t - 1.0) for t in totals) < 1e-6, totals
    # the distributions differ between conditions (a c-blind model would pass the sums too)
    with torch.no_grad():
        first = model.log_prob(x, c=conditions[:1].expand(x.shape[0], -1, -1, -1).clone())
        last = model.log_prob(x, c=conditions[-1:].expand(x.shape[0], -1, -1, -1).clone())
    assert float((first - last).abs().max()) > 1e-3


@pytest.mark.parametrize(
    ("shape", "condition_shape"),
    [
        ((1, 8, 8), (1, 4, 4)),  # 2x
        ((1, 8, 8), (1, 2, 2)),  # 4x
        ((3, 4, 6), (3, 2, 3)),  # RGB, 2x
        ((3, 4, 4), (1, 4, 4)),  # colorization
        ((1, 6, 4), (2, 2, 4)),  # 3x by 1x, more condition channels
    ],
)
def test_condition_reaches_the_output(shape, condition_shape, generator):
    """Changing one pixel of ``c`` changes ``log p(x | c)`` of every image, and the conditionals
    it changes include those of the target block the pixel covers."""
    model = perturb(build(shape, condition_shape)).double().eval()
    x = torch.randint(0, 4, (3, *shape), generator=generator)
    c = torch.randint(0, 4, (3, *condition_shape), generator=generator)
    c2 = c.clone()
    c2[:, 0, 0, 0] = (c2[:, 0, 0, 0] + 2) % 4
    with torch.no_grad():
        delta = model.log_prob(x, c=c2, per_dim=True) - model.log_prob(x, c=c, per_dim=True)
    assert (delta.flatten(1).sum(1).abs() > 1e-6).all()
    fh, fw = shape[1] // condition_shape[1], shape[2] // condition_shape[2]
    assert (delta[:, :, :fh, :fw].abs().flatten(1).amax(1) > 1e-6).all()  # the covered block
    # negative control: with the conditioning logits cut, c cannot change anything
    with torch.no_grad():
        model.conditioning.out[1].weight.zero_()
        delta = model.log_prob(x, c=c2) - model.log_prob(x, c=c)
    assert float(delta.abs().max()) == 0.0


def test_condition_must_fit_the_target():
    with pytest.raises(ConfigError, match="must divide"):
        build((1, 8, 8), (1, 3, 3))
    with pytest.raises(ConfigError, match="must divide"):
        build((1, 4, 4), (1, 8, 8))  # a condition larger than the target
    with pytest.raises(ConfigError, match="conditioned on an image"):
        genzoo.create_model("pixel_recursive_sr", shape=(1, 4, 4), levels=4, **SMALL)
    with pytest.raises(ConfigError, match="cond_blocks"):
        build((1, 4, 4), (1, 2, 2), cond_blocks=-1)
    with pytest.raises(ConfigError, match="aux_weight"):
        build((1, 4, 4), (1, 2, 2), aux_weight=-1.0)


def test_cached_sampling_runs_the_conditioning_network_once(generator):
    model = perturb(build((3, 4, 4), (3, 2, 2))).eval()
    calls = []
    model.conditioning.register_forward_hook(lambda *args: calls.append(1))
    c = torch.randint(0, 4, (5, 3, 2, 2), generator=generator)
    cached = model.sample(5, c=c, generator=torch.Generator().manual_seed(2), method="cached")
    assert len(calls) == 1
    calls.clear()
    naive = model.sample(5, c=c, generator=torch.Generator().manual_seed(2), method="naive")
    assert len(calls) == model.num_dims  # the naive sampler: once per sub-pixel
    assert torch.equal(cached, naive)


@pytest.mark.parametrize("aux_weight", [0.0, 0.5])
def test_loss_is_likelihood_plus_conditioning_cross_entropy(aux_weight, generator):
    model = perturb(build((3, 4, 4), (1, 4, 4), aux_weight=aux_weight)).double()
    x = torch.randint(0, 4, (4, 3, 4, 4), generator=generator)
    c = torch.randint(0, 4, (4, 1, 4, 4), generator=generator)
    with torch.no_grad():
        out = model.loss(x, c=c)
        nll = -model.log_prob(x, c=c).mean()
        aux = -categorical_log_prob(model.condition_logits(c), x).flatten(1).sum(1).mean()
    d = model.num_dims
    torch.testing.assert_close(out["loss"], (nll + aux_weight * aux) / d)
    torch.testing.assert_close(out["bits_per_dim"], nll.detach() / (d * math.log(2)))
    torch.testing.assert_close(out["condition_bits_per_dim"], aux.detach() / (d * math.log(2)))
    assert abs(float(aux - nll)) > 0.1  # two different terms: the check above tells them apart


@pytest.mark.parametrize("task", [SuperResolution(scale=2), SuperResolution(scale=4)])
def test_learns_to_use_a_super_resolution_condition(task):
    """Real digits and their box-downsampled conditions: a few steps on a fixed batch lower the
    loss, and the trained model prefers each image's own condition to another image's."""
    data = genzoo.load_dataset("digits")
    x = data.train[:48]
    c = task.condition(x, data.levels)
    cond_shape, cond_levels = task.condition_spec(tuple(data.shape), data.levels)
    torch.manual_seed(0)
    model = genzoo.create_model(
        "pixel_recursive_sr",
        shape=data.shape,
        levels=data.levels,
        condition_shape=cond_shape,
        condition_levels=cond_levels,
        channels=12,
        num_layers=3,
        head_channels=16,
        cond_channels=16,
        cond_blocks=1,
    ).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(model.loss(x, c=c)["loss"])
    for _ in range(60):
        opt.zero_grad()
        model.loss(x, c=c)["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert float(model.loss(x, c=c)["loss"]) < first - 0.5
        own = model.log_prob(x, c=c)
        other = model.log_prob(x, c=c.roll(1, dims=0))  # each image with its neighbour's c
    gap = float((own - other).mean()) / model.num_dims  # nats per sub-pixel
    # (measured: 1.2 at 2x, 0.16 at 4x; a model blind to c gives exactly 0)
    assert gap > 0.05, f"the condition barely matters: {gap:.3f} nats/dim"


def test_colorization_condition_from_the_task(generator):
    """The colorization task's luminance fits the model (one channel, full size)."""
    task = Colorization()
    x = torch.randint(0, 5, (4, 3, 4, 4), generator=generator)
    shape, levels = task.condition_spec((3, 4, 4), 5)
    model = build((3, 4, 4), shape, levels=5, condition_levels=levels)
    log_p = model.log_prob(x, c=task.condition(x, 5))
    assert log_p.shape == (4,) and torch.isfinite(log_p).all()
