"""Completion masks and figures: which pixels are given, and the layout of a completion figure."""

from __future__ import annotations

import pytest
import torch

from genzoo.apps import completion_mask, completion_rows
from genzoo.apps.completion import COMPLETION_MASKS, complete
from genzoo.errors import ConfigError
from tests.models.tiny import tiny_model


@pytest.mark.parametrize(("h", "w"), [(8, 8), (5, 7), (1, 3)])
def test_masks_give_the_named_part(h, w):
    top = completion_mask("top-half", (2, h, w))
    assert top.shape == (2, h, w) and top[:, : h // 2].all() and not top[:, h // 2 :].any()
    left = completion_mask("left-half", (2, h, w))
    assert left[:, :, : w // 2].all() and not left[:, :, w // 2 :].any()
    center = completion_mask("center", (2, h, w))
    hole = ~center
    # a centred hole of half the size (at least one pixel), the same in every channel
    assert int(hole[0].sum()) == max(1, h // 2) * max(1, w // 2)
    assert torch.equal(hole[0], hole[1])
    rows, cols = torch.nonzero(hole[0], as_tuple=True)
    assert int(rows.min()) == h // 4 and int(cols.min()) == w // 4


def test_unknown_mask_names_the_choices():
    with pytest.raises(ConfigError, match=", ".join(COMPLETION_MASKS)):
        completion_mask("bottom", (1, 4, 4))


def test_completion_figure_rows_originals_given_part_then_completions():
    model = tiny_model("pixelcnn", (1, 4, 4), levels=3)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 3, (5, 1, 4, 4), generator=g)
    mask = completion_mask("top-half", (1, 4, 4))
    rows = completion_rows(model, images, mask, samples_per_image=2, generator=g)
    assert rows.shape == (4 * 5, 1, 4, 4)
    assert torch.equal(rows[:5], images)
    assert torch.equal(rows[5:10], torch.where(mask, images, torch.zeros_like(images)))
    for r in range(2):  # every completion keeps the given pixels of its own image
        done = rows[10 + 5 * r : 15 + 5 * r]
        assert torch.equal(done[:, mask], images[:, mask])
    # the same generator state gives the same completions (explicit randomness)
    again = complete(
        model, images, mask, samples_per_image=2, generator=torch.Generator().manual_seed(7)
    )
    same = complete(
        model, images, mask, samples_per_image=2, generator=torch.Generator().manual_seed(7)
    )
    assert torch.equal(again, same)


def test_samples_per_image_must_be_positive():
    model = tiny_model("pixelcnn", (1, 4, 4), levels=3)
    with pytest.raises(ConfigError, match="samples_per_image"):
        complete(model, torch.zeros(1, 1, 4, 4, dtype=torch.long),
                 completion_mask("top-half", (1, 4, 4)), samples_per_image=0)  # fmt: skip
