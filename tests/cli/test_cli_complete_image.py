"""``genzoo complete RUN --image FILE``: your own files are converted as ``score`` converts them,
the given part of every completion is the converted file exactly, the grid goes beside the run's
files (never over them), and bad files or models say so in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main
from tests.cli.files import digest

TINY = ["--channels", "8", "--num-layers", "2", "--head-channels", "8"]
QUICK = ["--batch-size", "16", "--eval-images", "20", "--no-sample-quality"]
LEVELS = 17  # digits
SCALE = 8  # save_grid enlarges 8x8 images 8 times
CELL = 8 * SCALE + 2  # a cell and its padding


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("complete-image") / "run"
    argv = ["train", "gated_pixelcnn", "--data", "digits", "--steps", "3", *QUICK, *TINY]
    assert main([*argv, "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def _levels(values: np.ndarray) -> np.ndarray:
    """256 levels onto the digits' 17 (``floor(v * 17 / 256)``, requantize's rule)."""
    return values.astype(np.int64) * LEVELS // 256


def write_files(folder: Path) -> tuple[list[Path], np.ndarray]:
    """A 16×16 gray PNG of constant 2×2 blocks (it shrinks to 8×8 exactly) and an 8×8 RGB PNG
    with R = G = B (its luminance is that value exactly); and what both become: ``[2, 8, 8]``
    in 17 levels."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    gray = folder / "mine.png"
    Image.fromarray(np.kron(small, np.ones((2, 2), dtype=np.uint8))).save(gray)
    other = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    rgb = folder / "colour.png"
    Image.fromarray(np.repeat(other[..., None], 3, axis=2)).save(rgb)
    return [gray, rgb], np.stack([_levels(small), _levels(other)])


def read_cells(path: Path, rows: int, cols: int) -> np.ndarray:
    """The ``[rows, cols, 8, 8]`` levels drawn in a captioned grid of save_grid."""
    picture = np.asarray(Image.open(path).convert("L")).astype(np.int64)
    grid_width = cols * CELL + 2
    assert picture.shape == (rows * CELL + 2, picture.shape[1]) and picture.shape[1] > grid_width
    grid = picture[:, -grid_width:]  # the captions are a margin on the left
    out = np.empty((rows, cols, 8, 8), dtype=np.int64)
    for r in range(rows):
        for q in range(cols):
            top, left = 2 + r * CELL, 2 + q * CELL
            block = grid[top : top + 8 * SCALE, left : left + 8 * SCALE]
            centres = block[SCALE // 2 :: SCALE, SCALE // 2 :: SCALE]
            out[r, q] = np.rint(centres * (LEVELS - 1) / 255)
    return out


def test_your_images_are_completed_around_their_given_part(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, expected = write_files(tmp_path)
    before = digest(run)
    argv = ["complete", str(run), "--image", str(files[0]), "--image", str(files[1])]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("mine.png: gray") and "shrunk 2× to 8×8" in lines[0]
    assert "256 levels mapped to 17" in lines[0]
    assert lines[1].startswith("colour.png: colour") and "converted to gray" in lines[1]
    out = run / "completions" / "mine-and-1-more-top-half.png"
    assert lines[2].startswith(f"wrote {out}") and "your image, given (top-half)" in lines[2]
    # the run's own files are untouched; the grid is the one new file
    after = digest(run)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"completions/mine-and-1-more-top-half.png"}
    cells = read_cells(out, rows=5, cols=2)
    for i in range(2):
        assert np.array_equal(cells[0, i], expected[i])  # the converted file
        assert np.array_equal(cells[1, i, :4], expected[i, :4])  # the given half
        assert not cells[1, i, 4:].any()
        for row in range(2, 5):  # every completion keeps the given part exactly
            assert np.array_equal(cells[row, i, :4], expected[i, :4])
            assert cells[row, i].min() >= 0 and cells[row, i].max() < LEVELS
    # a left-half mask into a named folder; a .png --out is that file
    folder = tmp_path / "grids"
    assert main([*argv[:4], "--mask", "left-half", "--out", str(folder)]) == 0
    cells = read_cells(folder / "mine-left-half.png", rows=5, cols=1)
    for row in (0, 2, 3, 4):
        assert np.array_equal(cells[row, 0, :, :4], expected[0, :, :4])
    assert main([*argv[:4], "--out", str(tmp_path / "one.png")]) == 0
    assert (tmp_path / "one.png").is_file()
    assert digest(run) == after


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "is not a file"),
        ("unreadable", "cannot read image"),
        ("small", "smaller than the model's input"),
        ("with-n", "--n choose test images"),
        ("run-file", "would replace the run's own completion.png"),
        ("jpg-out", "must end in .png"),
    ],
)
def test_bad_files_and_flags_say_so_in_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    files, _ = write_files(tmp_path)
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "small.png")
    image = {
        "missing": tmp_path / "nowhere.png",
        "unreadable": tmp_path / "text.png",
        "small": tmp_path / "small.png",
    }.get(case, files[0])
    extra = {
        "with-n": ["--n", "3"],
        "run-file": ["--out", str(run / "completion.png")],
        "jpg-out": ["--out", str(tmp_path / "c.jpg")],
    }.get(case, [])
    before = digest(run)
    capsys.readouterr()
    assert main(["complete", str(run), "--image", str(image), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and message in captured.err, captured.err
    assert "Traceback" not in captured.err
    assert digest(run) == before


def test_a_model_that_cannot_complete_refuses(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import genzoo

    files, _ = write_files(tmp_path)
    monkeypatch.setattr(type(genzoo.load_model(run)), "completion", None)
    before = digest(run)
    assert main(["complete", str(run), "--image", str(files[0])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot complete images" in err
    assert "genzoo complete" not in err  # the commands it names are the ones that work
    assert digest(run) == before
