"""PixelSNAIL: full context through attention (no blind spot), logistic-mixture likelihood, and
the cached sampler (convolution caches plus per-attention-block key/value caches)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import genzoo
from genzoo.errors import ConfigError
from genzoo.models.autoregressive import pixelsnail
from tests.models.test_contract import cache_mismatch, unseen_predecessors
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


# ------------------------------------------------------------------ cached sampling
@pytest.mark.parametrize(
    ("shape", "num_classes", "config"),
    [
        ((1, 5, 7), None, {}),
        ((3, 4, 3), 3, {}),
        ((1, 6, 4), 2, {"num_resnets": 2, "num_heads": 1, "dropout": 0.0}),
        ((3, 3, 5), None, {"num_blocks": 3, "key_channels": 4, "num_heads": 4}),
    ],
)
def test_cached_logits_equal_a_full_pass_teacher_forced(shape, num_classes, config, generator):
    """Fed a real image sub-pixel by sub-pixel (later ones zeroed, as while sampling), the cache
    gives the full pass's logits at every sub-pixel, in float64 to rounding and in float32 to
    1e-5 (dropout 0.1 by default: off in eval mode); an image one sub-pixel stale does not."""
    model = peaked(small(shape, num_classes=num_classes, **config), steps=15)
    x = torch.randint(0, 5, (3, *shape), generator=generator)
    y = None if num_classes is None else torch.tensor([0, 1, num_classes - 1])
    assert cache_mismatch(model, x, y) < 1e-10
    assert cache_mismatch(model, x, y, stale=True) > 1e-3
    assert cache_mismatch(model.float(), x, y) < 1e-5


def test_cached_keys_and_values_are_the_full_pass_ones(generator):
    """After teacher forcing, every attention block's cache holds exactly the keys and values
    the full pass computes, at every position but the last (which no pixel reads)."""
    shape = (3, 3, 4)
    model = peaked(small(shape, num_classes=2), steps=10)
    x = torch.randint(0, 5, (2, *shape), generator=generator)
    y = torch.tensor([1, 0])
    seen = []
    hooks = [
        block.attention.key_value.register_forward_hook(lambda m, i, out: seen.append(out))
        for block in model.attention
    ]
    with torch.no_grad():
        model.logits(x, y)
        for hook in hooks:
            hook.remove()
        cache = model.incremental_sampler(2, y)
        for i in range(shape[1]):
            for j in range(shape[2]):
                for c in range(shape[0]):
                    cache.logits(x, i, j, c)
    last = shape[1] * shape[2] - 1
    for full, att in zip(seen, cache.attention):
        keys, values = full.flatten(2).split(att.split, dim=1)  # [n, heads * D, positions]
        for stored, expected in [(att.keys, keys), (att.values, values)]:
            expected = expected.reshape(2, att.heads, -1, expected.shape[-1]).transpose(-1, -2)
            torch.testing.assert_close(stored[:, :, :last], expected[:, :, :last])
            assert not stored[:, :, last].any()


@pytest.mark.parametrize("block", [0, 1])
def test_a_stale_key_value_cache_changes_the_logits(block, generator, monkeypatch):
    """Negative control: one attention block that stops storing keys and values after the first
    row gives other logits than the full pass (so the equality test can fail), and only from
    the second row on."""
    shape = (1, 4, 4)
    model = peaked(small(shape), steps=15)
    x = torch.randint(0, 5, (3, *shape), generator=generator)
    remember = pixelsnail._AttentionCache.remember
    frozen = {}

    def stale(self, p, x, background):
        if self is frozen.get("cache") and p >= shape[2]:
            return  # positions of row 1 on are never added
        remember(self, p, x, background)

    original = model.incremental_sampler

    def sampler(n, y):
        cache = original(n, y)
        frozen["cache"] = cache.attention[block]
        return cache

    monkeypatch.setattr(pixelsnail._AttentionCache, "remember", stale)
    monkeypatch.setattr(model, "incremental_sampler", sampler)
    assert cache_mismatch(model, x, None) > 1e-3
    with torch.no_grad():  # pixels up to (1, 0) read only the keys of row 0: still exact
        full = model.logits(x)
        cache = model.incremental_sampler(3, None)
        for j in range(shape[2]):
            torch.testing.assert_close(cache.logits(x, 0, j, 0), full[:, :, 0, 0, j])
        torch.testing.assert_close(cache.logits(x, 1, 0, 0), full[:, :, 0, 1, 0])
        assert float((cache.logits(x, 1, 1, 0) - full[:, :, 0, 1, 1]).abs().max()) > 1e-3


@pytest.mark.parametrize(
    ("shape", "num_classes"), [((1, 6, 6), None), ((3, 4, 4), 3), ((1, 5, 3), 2)]
)
def test_cached_sampler_returns_exactly_the_naive_images(shape, num_classes):
    """Same generator, same images: free sampling, with labels, and completion of the top half
    (exact) and of a scattered mask (the cache still reads every known sub-pixel)."""
    model = peaked(small(shape, num_classes=num_classes), steps=15)
    n = 5
    y = None if num_classes is None else torch.arange(n) % num_classes
    g = torch.Generator().manual_seed(5)
    known = torch.randint(0, 5, (n, *shape), generator=g)
    top = torch.zeros(shape, dtype=torch.bool)
    top[:, : shape[1] // 2] = True
    scattered = torch.rand(n, *shape, generator=g) < 0.3
    for kwargs in [{}, {"known": known, "mask": top}, {"known": known, "mask": scattered}]:
        a, b = (
            model.sample(n, y, generator=torch.Generator().manual_seed(3), method=m, **kwargs)
            for m in ("naive", "cached")
        )
        assert torch.equal(a, b)
        if "mask" in kwargs:
            mask = kwargs["mask"].expand_as(known)
            assert torch.equal(b[mask], known[mask])
    other = model.sample(n, y, generator=torch.Generator().manual_seed(4), method="cached")
    assert not torch.equal(b, other)  # negative control: another seed, other images
    assert model.capabilities.sampling_methods == ("cached", "naive")
