"""Scoring your own images: a file converted to the model's input scores exactly what the model
gives that input; the conversion is said; models without a single-image density refuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.apps.scoring import prepare_image, score_images
from genzoo.cli.main import main
from genzoo.data import load_dataset
from genzoo.errors import UnsupportedError
from tests.models.tiny import tiny_model


def _digit_png(path, index: int = 0, scale: int = 4) -> np.ndarray:
    """A real test digit (its 17 levels spread over 0..255) written as an 8-bit gray PNG,
    ``scale`` times larger (exact block copies)."""
    digit = load_dataset("digits").test[index, 0].numpy()
    x = (digit * 255 // 16).astype(np.uint8)
    Image.fromarray(np.kron(x, np.ones((scale, scale), dtype=np.uint8))).save(path)
    return x


def test_a_file_scores_what_the_model_gives_its_converted_image(tmp_path):
    model = tiny_model("pixelcnn", (1, 8, 8), levels=17).float()
    truth = _digit_png(tmp_path / "d.png")
    x, note = prepare_image(tmp_path / "d.png", model, "d.png")
    assert "shrunk 4× to 8×8" in note and "256 levels mapped to 17" in note
    # block copies shrink back exactly; the levels map as the dataset's re-quantisation does
    from genzoo.data.dataset import requantize

    assert torch.equal(x[0, 0], requantize(torch.from_numpy(truth.astype(np.int64)), 256, 17))
    scored = score_images(model, [tmp_path / "d.png"], names=["d.png"])[0]
    with torch.no_grad():
        direct = -float(model.log_prob(x).double().sum())
    assert scored.nll_nats == pytest.approx(direct)
    assert scored.bits_per_dim == pytest.approx(direct / (64 * math.log(2)))
    # the conversion is close to the digit itself (floor-spread levels map back within one)
    assert (x[0, 0] - load_dataset("digits").test[0, 0]).abs().max() <= 1


def test_colour_files_are_converted_for_a_gray_model_and_gray_for_a_colour_one(tmp_path):
    rgb = (np.arange(16 * 16 * 3) % 256).astype(np.uint8).reshape(16, 16, 3)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    gray_model = tiny_model("pixelcnn", (1, 8, 8), levels=4).float()
    _, note = prepare_image(tmp_path / "c.png", gray_model, "c.png")
    assert "converted to gray" in note
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    colour_model = tiny_model("pixelcnn", (3, 8, 8), levels=4).float()
    x, note = prepare_image(tmp_path / "g.png", colour_model, "g.png")
    assert "gray repeated over R, G, B" in note and torch.equal(x[:, 0], x[:, 2])


def test_models_without_a_single_image_density_refuse(tmp_path):
    _digit_png(tmp_path / "d.png")
    with pytest.raises(UnsupportedError, match="no density"):
        score_images(tiny_model("dcgan", (1, 8, 8), levels=17), [tmp_path / "d.png"])


def test_the_command_prints_the_conversion_and_the_score(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "pixel_independent", "--steps", "3", "--out", str(out)]
    assert main(argv) == 0
    _digit_png(tmp_path / "d.png")
    capsys.readouterr()
    assert main(["score", str(out), str(tmp_path / "d.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("d.png: gray") and "bits/dim" in lines[1]
    assert main(["score", str(out), str(tmp_path / "missing.png")]) == 2
    tiny = np.zeros((4, 4), dtype=np.uint8)
    Image.fromarray(tiny).save(tmp_path / "small.png")
    assert main(["score", str(out), str(tmp_path / "small.png")]) == 2
    assert "smaller than the model's input" in capsys.readouterr().err
