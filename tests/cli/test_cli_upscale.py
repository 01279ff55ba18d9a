"""``genzoo upscale`` and ``genzoo colorize`` on real PNG/JPEG files: outputs, and one line with
exit 2 for every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.cli.main import main
from genzoo.models import create_model
from tests.models.tiny import TINY


def _save(path, **shapes):
    torch.manual_seed(0)
    create_model("pixel_recursive_sr", **shapes, **TINY["pixel_recursive_sr"]).save(path)
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    sr = _save(root / "sr", shape=(1, 8, 8), levels=17, condition_shape=(1, 4, 4),
               condition_levels=17)  # fmt: skip
    colour = _save(root / "colour", shape=(3, 6, 6), levels=256, condition_shape=(1, 6, 6),
                   condition_levels=256)  # fmt: skip
    torch.manual_seed(0)
    plain = root / "plain"
    create_model("pixelcnn", shape=(1, 8, 8), levels=17, **TINY["pixelcnn"]).save(plain)
    return {"sr": sr, "colour": colour, "plain": str(plain)}


def _image(path, shape, mode=None):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(array, mode=mode).save(path)
    return str(path)


def test_upscale_writes_one_png_per_sample(runs, tmp_path, capsys):
    a = _image(tmp_path / "a.png", (8, 8))
    b = _image(tmp_path / "b.jpg", (16, 12))
    out = tmp_path / "out"
    assert main(["upscale", runs["sr"], a, b, "--samples", "2", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_sample0.png", "a_sample1.png", "b_sample0.png", "b_sample1.png"]
    with Image.open(out / "b_sample1.png") as img:
        assert img.size == (8, 8)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("a: gray L 8×8 -> 1×4×4 (shrunk 2×")
    assert printed[1].startswith("b: gray L 16×12 -> 1×4×4 (centre-cropped to 12×12")
    assert "4 PNG files" in printed[-1]


def test_upscale_grid_and_npz_and_the_same_seed(runs, tmp_path):
    a = _image(tmp_path / "a.png", (4, 4))
    assert main(["upscale", runs["sr"], a, "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").is_file()
    for name in ("x.npz", "y.npz"):
        assert main(["upscale", runs["sr"], a, "--scale", "2", "--out", str(tmp_path / name)]) == 0
    with np.load(tmp_path / "x.npz") as x, np.load(tmp_path / "y.npz") as y:
        assert x["samples"].shape == (1, 4, 1, 8, 8)
        assert np.array_equal(x["samples"], y["samples"])  # --seed 0 both times


def test_colorize_takes_gray_rgba_and_16_bit_files(runs, tmp_path):
    gray = _image(tmp_path / "g.png", (6, 6))
    rgba = _image(tmp_path / "r.png", (6, 6, 4), "RGBA")
    wide = tmp_path / "w.png"
    Image.fromarray(np.arange(36, dtype=np.uint16).reshape(6, 6) * 1800).save(wide)
    out = tmp_path / "c.npz"
    assert main(["colorize", runs["colour"], gray, rgba, str(wide), "--out", str(out)]) == 0
    with np.load(out) as data:
        assert data["samples"].shape == (3, 4, 3, 6, 6)
        assert np.array_equal(data["inputs"][2, 0], (np.arange(36).reshape(6, 6) * 1800) >> 8)


@pytest.mark.parametrize(
    ("command", "run", "shape", "extra", "message"),
    [
        ("upscale", "sr", (8, 8, 3), [], "colour image but pixel_recursive_sr was trained on gray"),
        ("upscale", "sr", (3, 3), [], "smaller than the model's input"),
        ("upscale", "sr", (8, 8), ["--scale", "4"], "--scale 4 does not match the run"),
        ("upscale", "plain", (8, 8), [], "not an image-conditional model"),
        ("colorize", "sr", (8, 8), [], "trained for super-resolution, not colorization"),
        ("upscale", "colour", (8, 8), [], "trained for colorization, not super-resolution"),
        ("upscale", "sr", (8, 8), ["--samples", "0"], "samples must be a positive integer"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runs, tmp_path, capsys, command, run, shape, extra,
                                          message):  # fmt: skip
    image = _image(tmp_path / "i.png", shape)
    code = main([command, runs[run], image, "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_an_unreadable_file_is_one_line_and_exit_2(runs, tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    assert main(["upscale", runs["sr"], str(tmp_path / "bad.png"), "--out", "x.npz"]) == 2
    assert "cannot read image" in capsys.readouterr().err
