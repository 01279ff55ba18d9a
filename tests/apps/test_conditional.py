"""Super-resolution and colorization tools and baselines, on real PNG/JPEG files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.apps.conditional import (
    BicubicUpsampling,
    GrayCopy,
    ModelSampler,
    NearestUpsampling,
    RegressionAnswer,
    baselines,
    colorize,
    fit_size,
    model_task,
    prepare_condition,
    read_image,
    save_outputs,
    upscale,
)
from genzoo.data.dataset import requantize
from genzoo.data.tasks import box_downsample, luminance
from genzoo.errors import ConfigError
from genzoo.models import create_model
from tests.models.tiny import TINY


def sr_model(levels: int = 17, channels: int = 1):
    torch.manual_seed(0)
    return create_model(
        "pixel_recursive_sr",
        shape=(channels, 8, 8),
        levels=levels,
        condition_shape=(channels, 4, 4),
        condition_levels=levels,
        **TINY["pixel_recursive_sr"],
    ).eval()


def colour_model(name: str = "pixel_recursive_sr"):
    torch.manual_seed(0)
    return create_model(
        name,
        shape=(3, 6, 6),
        levels=256,
        condition_shape=(1, 6, 6),
        condition_levels=256,
        **TINY[name],
    ).eval()


# ------------------------------------------------------------------------------ baselines
def test_nearest_is_exactly_consistent_and_bicubic_keeps_constants(generator):
    c = torch.randint(0, 17, (5, 1, 4, 4), generator=generator)
    up = NearestUpsampling(2).draw(c, 3)
    assert up.shape == (5, 3, 1, 8, 8)
    assert torch.equal(box_downsample(up[:, 0], 2), c)
    flat = torch.full((2, 1, 4, 4), 7)
    assert torch.equal(BicubicUpsampling(2, 17).draw(flat, 1)[:, 0], torch.full((2, 1, 8, 8), 7))
    edge = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    edge[..., 2:] = 16  # a step overshoots in bicubic interpolation: clipped to the levels
    out = BicubicUpsampling(2, 17).draw(edge, 1)
    assert int(out.min()) == 0 and int(out.max()) == 16
    assert not torch.equal(box_downsample(out[:, 0], 2), edge)  # bicubic is not consistent


def test_gray_copy_has_the_given_luminance(generator):
    c = torch.randint(0, 256, (4, 1, 5, 5), generator=generator)
    answers = GrayCopy().draw(c, 2)
    assert answers.shape == (4, 2, 3, 5, 5)
    assert torch.equal(luminance(answers[:, 1]), c)


def test_baselines_per_task():
    assert [m.name for m in baselines({"name": "super-resolution", "scale": 4}, 17)] == [
        "nearest",
        "bicubic",
    ]
    assert [m.name for m in baselines({"name": "colorization"}, 256)] == ["gray"]
    assert baselines(None, 2) == []


def test_regression_answer_is_repeated_and_deterministic(generator):
    model = colour_model("l2_regression")
    c = torch.randint(0, 256, (3, 1, 6, 6), generator=generator)
    answers = RegressionAnswer(model).draw(c, 4)
    assert answers.shape == (3, 4, 3, 6, 6)
    assert torch.equal(answers[:, 0], answers[:, 3])
    assert torch.equal(answers[:, 0], model.regress(c))


def test_model_sampler_draws_independent_answers_per_condition(generator):
    model = sr_model()
    c = torch.randint(0, 17, (2, 1, 4, 4), generator=generator)
    answers = ModelSampler(model, batch_size=3).draw(c, 4, torch.Generator().manual_seed(0))
    assert answers.shape == (2, 4, 1, 8, 8)
    assert not torch.equal(answers[:, 0], answers[:, 1])
    # the same as one unbatched call: batches split the generator's stream in order
    again = ModelSampler(model, batch_size=100).draw(c, 4, torch.Generator().manual_seed(0))
    assert torch.equal(answers, again)
    # the k answers of a condition are the model's samples given that very condition
    first = model.sample(
        4, c=c[:1].expand(4, -1, -1, -1), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(answers[0], first)


def test_what_a_model_is_for():
    assert model_task(sr_model()) == {"name": "super-resolution", "scale": 2}
    assert model_task(colour_model()) == {"name": "colorization"}
    plain = create_model("pixelcnn", shape=(1, 8, 8), levels=17, **TINY["pixelcnn"])
    with pytest.raises(ConfigError, match="not an image-conditional model"):
        model_task(plain)


# ------------------------------------------------------------------------------ image files
def _png(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_a_gray_png_becomes_the_box_mean_at_the_models_levels(tmp_path, generator):
    pixels = torch.randint(0, 256, (8, 8), generator=generator).numpy().astype(np.uint8)
    prepared = prepare_condition(_png(tmp_path / "d.png", pixels), sr_model(), name="d")
    # the 2x2 block means rounded half up (as the task makes conditions), then 256 -> 17 levels
    means = np.floor(pixels.reshape(4, 2, 4, 2).astype(float).mean(axis=(1, 3)) + 0.5)
    expected = requantize(torch.from_numpy(means.astype(np.int64)), 256, 17)
    assert torch.equal(prepared.c[0, 0], expected)
    assert "shrunk 2×" in prepared.note and "mapped to 17" in prepared.note
    assert prepared.c.shape == (1, 1, 4, 4)


def test_sixteen_bit_rgba_and_jpeg_files(tmp_path):
    wide = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "w.png")
    array, what = read_image(tmp_path / "w.png")
    assert array.shape == (8, 8, 1) and np.array_equal(array[..., 0], (wide >> 8).astype(np.uint8))
    assert "gray" in what
    rgba = np.zeros((6, 6, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[0, 0, 3] = 0  # transparent: black
    prepared = prepare_condition(_png(tmp_path / "a.png", rgba, "RGBA"), colour_model())
    expected = luminance(torch.tensor([[[[200]], [[0]], [[0]]]]))  # BT.601 of pure red 200
    assert int(prepared.c[0, 0, 1, 1]) == int(expected) and int(prepared.c[0, 0, 0, 0]) == 0
    assert "converted to gray" in prepared.note
    photo = np.full((12, 18, 3), 90, dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "p.jpg", quality=95)
    prepared = prepare_condition(tmp_path / "p.jpg", colour_model())
    assert prepared.c.shape == (1, 1, 6, 6) and "centre-cropped to 12×12" in prepared.note


def test_fit_size_crops_the_centre_to_the_aspect_then_shrinks():
    array = np.zeros((10, 20, 1), dtype=np.uint8)
    array[:, 5:15] = 200  # the centre 10x10 square
    out, note = fit_size(array, (5, 5))
    assert out.shape == (5, 5, 1) and (out == 200).all()
    assert note == "centre-cropped to 10×10, shrunk 2× to 5×5 (block means)"
    same, nothing = fit_size(np.zeros((4, 4, 1), dtype=np.uint8), (4, 4))
    assert same.shape == (4, 4, 1) and nothing == ""


def test_bad_inputs_say_what_is_wrong(tmp_path):
    colour = _png(tmp_path / "c.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"colour image but .* gray"):
        upscale(sr_model(), [colour])
    small = _png(tmp_path / "s.png", np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match="smaller than the model's input"):
        upscale(sr_model(), [small])
    gray = _png(tmp_path / "g.png", np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ConfigError, match="--scale 4 does not match"):
        upscale(sr_model(), [gray], scale=4)
    with pytest.raises(ConfigError, match="trained for super-resolution, not colorization"):
        colorize(sr_model(), [gray])
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(Exception, match="cannot read image"):
        upscale(sr_model(), [tmp_path / "bad.png"])


def test_upscale_writes_pngs_a_grid_and_an_npz(tmp_path, generator):
    images = [
        _png(tmp_path / f"i{k}.png", np.full((4, 4), 60 * k, dtype=np.uint8)) for k in range(2)
    ]
    out = upscale(sr_model(), images, samples=3, generator=torch.Generator().manual_seed(1))
    assert out.samples.shape == (2, 3, 1, 8, 8) and out.inputs.shape == (2, 1, 4, 4)
    assert out.names == ["i0", "i1"] and len(out.notes) == 2
    files = save_outputs(out, tmp_path / "out")
    assert sorted(p.name for p in files) == [
        f"i{i}_sample{k}.png" for i in (0, 1) for k in range(3)
    ]
    with Image.open(files[0]) as img:
        assert img.size == (8, 8) and img.mode == "L"
        level = np.asarray(img).astype(np.int64)
    # PNG values are the levels mapped to 0..255 (level 16 is white)
    assert np.array_equal(np.rint(out.samples[0, 0, 0].numpy() * 255 / 16), level)
    (grid,) = save_outputs(out, tmp_path / "grid.png")
    with Image.open(grid) as img:
        assert img.width > img.height  # a row per image: input, then 3 samples
    (npz,) = save_outputs(out, tmp_path / "x.npz")
    with np.load(npz) as data:
        assert np.array_equal(data["samples"], out.samples.numpy())
        assert np.array_equal(data["inputs"], out.inputs.numpy()) and int(data["levels"]) == 17
    with pytest.raises(ConfigError, match=r"directory, a \.png or a \.npz"):
        save_outputs(out, tmp_path / "x.gif")


def test_colorize_gives_colour_images_of_the_given_size(tmp_path):
    gray = _png(tmp_path / "g.png", np.full((6, 6), 120, dtype=np.uint8))
    out = colorize(colour_model(), [gray, gray], samples=2)
    assert out.samples.shape == (2, 2, 3, 6, 6) and out.names == ["0-g", "1-g"]
    assert int(out.inputs.max()) == 120
