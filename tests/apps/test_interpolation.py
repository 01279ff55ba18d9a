"""Latent interpolation figures: rows run from one image (or latent) to the other; models without
the declared latent are refused with what works instead."""

from __future__ import annotations

import pytest
import torch

from genzoo.apps.interpolation import interpolation_rows, latent_walk_rows
from genzoo.errors import UnsupportedError
from tests.models.tiny import tiny_model


def test_rows_start_at_the_first_image_and_end_at_the_second():
    vae = tiny_model("vae", (1, 4, 4), levels=3)
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randint(0, 3, (3, 1, 4, 4), generator=g) for _ in range(2))
    rows = interpolation_rows(vae, a, b, steps=5)
    assert rows.shape == (3 * 5, 1, 4, 4)
    grid = rows.view(3, 5, 1, 4, 4)
    with torch.no_grad():  # endpoints are the decodings of the two images' latents
        first = vae.decode(vae.embed(a))
        last = vae.decode(vae.embed(b))
    assert torch.equal(grid[:, 0], first) and torch.equal(grid[:, -1], last)


def test_latent_walks_are_rows_of_steps_and_follow_the_generator():
    gan = tiny_model("dcgan", (1, 8, 8), levels=256)  # fine levels: an untrained net varies little
    one = latent_walk_rows(gan, 2, steps=4, generator=torch.Generator().manual_seed(1))
    two = latent_walk_rows(gan, 2, steps=4, generator=torch.Generator().manual_seed(1))
    other = latent_walk_rows(gan, 2, steps=4, generator=torch.Generator().manual_seed(2))
    assert one.shape == (8, 1, 8, 8) and torch.equal(one, two) and not torch.equal(one, other)


@pytest.mark.parametrize("name", ["pixelcnn", "dcgan"])
def test_interpolation_needs_an_encoder(name):
    model = tiny_model(name, (1, 8, 8), levels=3)
    x = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    with pytest.raises(UnsupportedError, match=r"latent_walk_rows|latent-variable"):
        interpolation_rows(model, x, x)


@pytest.mark.parametrize("name", ["pixelcnn", "vae"])
def test_latent_walks_need_a_generator_latent(name):
    with pytest.raises(UnsupportedError, match="GAN"):
        latent_walk_rows(tiny_model(name, (1, 8, 8), levels=3), 1)
