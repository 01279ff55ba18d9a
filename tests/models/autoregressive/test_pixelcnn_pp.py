"""PixelCNN++ beyond the shared contract: cached == naive sampling, the mixture shortcut of
log_prob, weight normalisation with EMA and save/load, odd shapes, no blind spot."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.utils import parametrize

import genzoo
from genzoo.distributions import categorical_log_prob
from genzoo.errors import ConfigError
from genzoo.models.autoregressive.base import AutoregressiveModel
from genzoo.training import ExponentialMovingAverage
from tests.models.test_contract import causality_violations, unseen_predecessors
from tests.models.tiny import peaked, tiny_model


def model_of(shape, levels=4, num_classes=None, seed=0, **hparams):
    torch.manual_seed(seed)
    config = {"filters": 6, "blocks": 1, "num_mixtures": 3, "dropout": 0.0, **hparams}
    return genzoo.create_model(
        "pixelcnn_pp", shape=shape, levels=levels, num_classes=num_classes, **config
    ).double()


@pytest.mark.parametrize(
    ("shape", "hparams"),
    [
        ((1, 3, 3), {}),
        ((3, 1, 2), {}),
        ((3, 4, 5), {}),
        ((1, 7, 6), {"blocks": 2}),
        ((3, 5, 3), {"resolutions": 2}),
        ((1, 5, 9), {"resolutions": 4}),
        ((1, 4, 4), {"resolutions": 1}),
    ],
)
@pytest.mark.parametrize("num_classes", [None, 3])
def test_cached_sampler_returns_exactly_the_naive_images(shape, hparams, num_classes):
    model = peaked(model_of(shape, num_classes=num_classes, **hparams), steps=15)
    n = 6
    y = None if num_classes is None else torch.arange(n) % num_classes
    g = torch.Generator().manual_seed(5)
    known = torch.randint(0, 4, (n, *shape), generator=g)
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, : shape[1] // 2] = True  # top half given: exact completion
    for kwargs in [{}, {"known": known, "mask": mask}]:
        a, b = (
            model.sample(n, y, generator=torch.Generator().manual_seed(3), method=m, **kwargs)
            for m in ("naive", "cached")
        )
        assert torch.equal(a, b)
    # negative control: another seed gives other images
    c = model.sample(n, y, generator=torch.Generator().manual_seed(4), method="cached")
    assert not torch.equal(a, c)


@pytest.mark.parametrize(("shape", "levels"), [((3, 4, 5), 4), ((1, 6, 5), 256), ((3, 2, 3), 17)])
def test_log_prob_shortcut_equals_the_categorical_path(shape, levels):
    model = peaked(model_of(shape, levels=levels, num_classes=2), steps=10)
    x = torch.randint(0, levels, (4, *shape), generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        per_dim = model.log_prob(x, y, per_dim=True)
        logits = model.logits(x, y)
        gathered = logits.gather(1, x.unsqueeze(1)).squeeze(1)
        torch.testing.assert_close(per_dim, gathered, rtol=0, atol=1e-12)
        # the base class's categorical path (float32 softmax) agrees to float32 rounding
        base = AutoregressiveModel.log_prob(model, x, y, per_dim=True)
        torch.testing.assert_close(per_dim, base.double(), rtol=0, atol=1e-5)
        torch.testing.assert_close(
            per_dim, categorical_log_prob(logits, x).double(), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("shape", [(1, 5, 7), (3, 3, 5), (1, 1, 5), (3, 2, 1), (1, 7, 3)])
def test_odd_shapes_are_causal(shape, generator):
    model = model_of(shape, levels=5, num_classes=2, seed=1)
    assert causality_violations(model, shape, generator) == []


def test_no_blind_spot():
    """Every pixel in the rows above reaches a conditional (no wedge as with stacked masked
    convolutions); on the current row the reach is finite: the input shift plus one column per
    full-resolution ``ul`` convolution on the path (6 with one block per resolution)."""
    model = model_of((1, 8, 8), filters=16, blocks=1)
    for target in [(0, 7, 7), (0, 4, 1), (0, 6, 0), (0, 0, 7), (0, 5, 6)]:
        unseen = unseen_predecessors(model, (1, 8, 8), target)
        assert all(i == target[1] and j < target[2] - 6 for _, i, j in unseen), unseen
    assert unseen_predecessors(model, (1, 8, 8), (0, 7, 7)) == [(0, 7, 0)]  # the reach is 6


def test_weight_norm_ema_and_save_load_round_trip(tmp_path, generator):
    model = model_of((3, 4, 5), num_classes=2).float().train()
    convs = [
        m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)
    ]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    x = torch.randint(0, 4, (8, 3, 4, 5), generator=generator)
    y = torch.arange(8) % 2
    ema = ExponentialMovingAverage(model, decay=0.9)
    before = copy.deepcopy(ema.module.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):
        opt.zero_grad()
        model.loss(x, y)["loss"].backward()
        opt.step()
        ema.update(model)
    after = ema.module.state_dict()
    gains = [k for k in after if k.endswith("original0")]
    assert gains and all(not torch.equal(before[k], after[k]) for k in gains)  # the average moves
    restored = copy.deepcopy(model)
    restored.load_state_dict(ema.state_dict()["weights"])
    ema.module.save(tmp_path / "ema")
    loaded = genzoo.load_model(tmp_path / "ema")
    with torch.no_grad():
        expected = ema.module.log_prob(x, y)
        assert torch.equal(loaded.log_prob(x, y), expected)
        assert torch.equal(restored.eval().log_prob(x, y), expected)
        assert not torch.equal(model.eval().log_prob(x, y), expected)


def test_dropout_only_in_training():
    model = model_of((1, 4, 4), dropout=0.5).train()
    x = torch.randint(0, 4, (3, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    assert not torch.equal(model.log_prob(x), model.log_prob(x))
    model.eval()
    assert torch.equal(model.log_prob(x), model.log_prob(x))


def test_initialised_near_identity_and_trains_on_digit_sizes():
    model = model_of((1, 8, 8), levels=17, seed=0).float()
    x = torch.randint(0, 17, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    lp = model.log_prob(x)
    assert torch.isfinite(lp).all() and (lp < 0).all()
    assert (
        tiny_model("pixelcnn_pp", (1, 28, 28), 256)
        .log_prob(torch.zeros(1, 1, 28, 28, dtype=torch.long))
        .isfinite()
        .all()
    )


@pytest.mark.parametrize(
    "bad",
    [{"filters": 0}, {"blocks": 0}, {"num_mixtures": 0}, {"resolutions": 0}, {"dropout": 1.0}],
)
def test_bad_hyper_parameters_raise_config_errors(bad):
    with pytest.raises(ConfigError):
        genzoo.create_model("pixelcnn_pp", shape=(1, 4, 4), levels=4, **bad)
