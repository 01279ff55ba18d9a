"""Gated PixelCNN with an embedded input (``embedding_dim``): the shared contract checks.

The option feeds integer levels through an ``nn.Embedding`` (VQ-VAE's prior reads code indices
this way). Its full forward recovers the levels from the scaled input by rounding and its cached
sampler embeds the integers directly, so the checks below tie the two paths together: cached
logits equal the full forward, cached and naive samplers draw the same images, no conditional
sees its own or a later sub-pixel, and the model is normalised over a whole tiny space.
"""

from __future__ import annotations

import pytest
import torch

import genzoo
from genzoo.errors import ConfigError
from tests.models.test_contract import cache_mismatch, causality_violations
from tests.models.tiny import TINY, all_images, peaked

LEVELS = 7  # more levels than the scaled input resolves badly: rounding must still be exact


def embedded(shape, levels=LEVELS, num_classes=None, embedding_dim=10, seed=0):
    """Tiny embedded Gated PixelCNN; ``embedding_dim == channels`` is the case that would leak
    through a first-layer residual connection."""
    torch.manual_seed(seed)
    model = genzoo.create_model(
        "gated_pixelcnn",
        shape=shape,
        levels=levels,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        **TINY["gated_pixelcnn"],
    )
    return peaked(model.double().eval())


@pytest.mark.parametrize("embedding_dim", [10, 3])
@pytest.mark.parametrize("num_classes", [None, 2])
def test_embedded_input_is_causal(embedding_dim, num_classes, generator):
    model = embedded((1, 4, 5), num_classes=num_classes, embedding_dim=embedding_dim)
    assert causality_violations(model, (1, 4, 5), generator) == []


def test_causality_check_catches_a_first_layer_residual(generator):
    """Negative control: re-enabling the first layer's residual (embedding_dim == channels)
    adds the pixel's own embedding to the horizontal stack, which the check must catch."""
    model = embedded((1, 3, 3), embedding_dim=10)
    model.layers[0].residual = True
    bad = causality_violations(model, (1, 3, 3), generator)
    assert bad and all(d == d2 for d, d2 in bad)


@pytest.mark.parametrize(("shape", "num_classes"), [((1, 5, 6), None), ((1, 1, 3), 2)])
def test_cached_logits_equal_full_forward(shape, num_classes, generator):
    model = embedded(shape, num_classes=num_classes)
    x = torch.randint(1, LEVELS, (3, *shape), generator=generator)
    y = None if num_classes is None else torch.tensor([0, 1, 1])
    assert cache_mismatch(model, x, y) < 1e-9
    assert cache_mismatch(model, x, y, stale=True) > 1e-4  # negative control


@pytest.mark.parametrize("num_classes", [None, 2])
def test_cached_and_naive_samplers_return_the_same_images(num_classes, generator):
    shape = (1, 4, 5)
    model = embedded(shape, num_classes=num_classes)
    y = None if num_classes is None else torch.arange(9) % num_classes
    known = torch.randint(0, LEVELS, (9, *shape), generator=generator)
    mask = torch.rand(9, *shape, generator=generator) < 0.4
    for kwargs in [{}, {"known": known, "mask": mask}]:
        a, b = (
            model.sample(9, y, generator=torch.Generator().manual_seed(5), method=m, **kwargs)
            for m in ("naive", "cached")
        )
        assert torch.equal(a, b)


def test_normalised_over_whole_space():
    model = embedded((1, 2, 2), levels=4)
    with torch.no_grad():
        total = model.log_prob(all_images((1, 2, 2), 4)).double().logsumexp(0).exp()
    assert abs(float(total) - 1.0) < 1e-6  # float32 log-softmax inside


def test_rounding_recovers_every_level_of_a_large_alphabet():
    """The forward pass rounds the scaled input back to integers; at 512 levels (a VQ-VAE
    codebook) it must equal the embedding of the integers themselves."""
    torch.manual_seed(0)
    model = genzoo.create_model(
        "gated_pixelcnn",
        shape=(1, 1, 512),
        levels=512,
        channels=4,
        num_layers=1,
        head_channels=4,
        embedding_dim=3,
    )
    x = torch.arange(512).view(1, 1, 1, 512)
    levels = torch.round((model.scale(x) + 1.0) * (511 / 2.0)).long()
    assert torch.equal(levels, x)


def test_embedding_changes_the_input_and_default_is_unchanged():
    plain = genzoo.create_model("gated_pixelcnn", shape=(1, 3, 3), levels=4, channels=8)
    assert "embedding" not in "".join(plain.state_dict())  # saved models keep their keys
    assert plain.layers[0].v_conv.conv.in_channels == 1
    model = genzoo.create_model(
        "gated_pixelcnn", shape=(1, 3, 3), levels=4, channels=8, embedding_dim=5
    )
    assert model.embedding.weight.shape == (4, 5)
    assert model.layers[0].v_conv.conv.in_channels == 5
    assert not model.layers[0].residual


@pytest.mark.parametrize(("shape", "dim"), [((3, 3, 3), 4), ((1, 3, 3), 0)])
def test_bad_embedding_configs_raise(shape, dim):
    with pytest.raises(ConfigError, match="embedding_dim"):
        genzoo.create_model("gated_pixelcnn", shape=shape, levels=4, embedding_dim=dim)
