"""PixelSNAIL: full context through attention (no blind spot), logistic-mixture likelihood."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genzoo
from genzoo.errors import ConfigError
from tests.models.test_contract import unseen_predecessors
from tests.models.tiny import peaked


def small(shape, levels=5, num_classes=None, **kw):
    torch.manual_seed(0)
    config = {"channels": 16, "num_blocks": 2, "num_resnets": 1, "key_channels": 8, "num_heads": 2}
    config.update(kw)
    return genzoo.create_model(
        "pixelsnail", shape=shape, levels=levels, num_classes=num_classes, **config
    ).double()


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 6, 6)])
def test_no_blind_spot(shape):
    """Every earlier pixel reaches the last pixel's (and a mid-row pixel's) logits."""
    model = small(shape).eval()
    _, h, w = shape
    for target in [(0, h - 1, w - 1), (0, h // 2, 1), (0, h - 2, 0)]:
        assert unseen_predecessors(model, shape, target) == []


def test_colours_of_a_pixel_see_the_earlier_colours(generator):
    """Within a pixel the logistic mixture conditions G on R and B on R, G (integer values, so a
    perturbation test rather than gradients)."""
    model = peaked(small((3, 2, 2), levels=4))
    x = torch.randint(0, 4, (16, 3, 2, 2), generator=generator)
    base = model.logits(x)
    for c in range(3):
        x2 = x.clone()
        x2[:, c, 1, 1] = (x2[:, c, 1, 1] + 2) % 4
        changed = (model.logits(x2) - base).abs().amax(dim=(0, 1))[:, 1, 1] > 1e-9
        assert changed.tolist() == [False] * (c + 1) + [True] * (2 - c)


@pytest.mark.parametrize(
    ("shape", "levels", "num_classes"),
    [((1, 4, 5), 6, None), ((3, 3, 4), 6, 2), ((3, 2, 2), 256, 2)],
)
def test_log_prob_override_equals_categorical_path(shape, levels, num_classes, generator):
    """``log_prob`` (mixture on integer x) equals the base class's path through ``forward`` (which
    recovers integer x from the scaled floats by rounding): also at 256 levels."""
    model = peaked(small(shape, levels=levels, num_classes=num_classes))
    x = torch.randint(0, levels, (7, *shape), generator=generator)
    y = None if num_classes is None else torch.arange(7) % num_classes
    logits = model.logits(x, y).double()
    torch.testing.assert_close(logits.logsumexp(1), torch.zeros_like(x, dtype=torch.float64))
    categorical = F.log_softmax(logits, dim=1).gather(1, x[:, None]).squeeze(1)
    per_dim = model.log_prob(x, y, per_dim=True)
    torch.testing.assert_close(per_dim.double(), categorical, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(model.log_prob(x, y), per_dim.flatten(1).sum(1))


def test_bad_hyperparameters_raise_config_errors():
    with pytest.raises(ConfigError, match="num_heads"):
        small((1, 3, 3), channels=10, num_heads=4)
    with pytest.raises(ConfigError, match="num_blocks"):
        small((1, 3, 3), num_blocks=0)
    with pytest.raises(ConfigError, match="dropout"):
        small((1, 3, 3), dropout=1.0)
