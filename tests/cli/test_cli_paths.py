"""Path arguments of the wrong kind: a file where a folder is expected, and the reverse.

Every command that takes a run folder, a data folder or archive, an output file or an output
folder is given the other kind of path. Each must refuse with one line (``genzoo: error: ...``,
exit status 2, no traceback) that names the path, and must not destroy what is there: a file
given as a run folder, or a folder given as an output file, is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from genzoo.cli.main import main
from tests.cli.files import digest

TINY = ["--channels", "4", "--num-layers", "1", "--head-channels", "4"]
QUICK = ["--batch-size", "16", "--eval-images", "20", "--no-sample-quality"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step run of a tiny Gated PixelCNN on digits."""
    out = tmp_path_factory.mktemp("paths") / "run"
    argv = ["train", "gated_pixelcnn", "--data", "digits", "--steps", "2", *QUICK, *TINY]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def png(folder: Path) -> str:
    """A folder named like a PNG inside ``folder``: past the suffix check, still a folder."""
    (folder / "grid.png").mkdir(exist_ok=True)
    return str(folder / "grid.png")


Case = Callable[[Path, Path, Path], list[str]]
#: name -> argv from (run folder, a file, a folder): each puts the wrong kind of path somewhere
CASES: dict[str, Case] = {
    # a file where a run folder (or a folder of runs) is expected
    "eval RUN=file": lambda run, f, d: ["eval", str(f), "--no-sample-quality"],
    "sample RUN=file": lambda run, f, d: ["sample", str(f), "--out", str(d / "s.png")],
    "complete RUN=file": lambda run, f, d: ["complete", str(f), "--out", str(d / "c.png")],
    "classify RUN=file": lambda run, f, d: ["classify", str(f)],
    "interpolate RUN=file": lambda run, f, d: ["interpolate", str(f), "--out", str(d / "i.png")],
    "ood RUN=file": lambda run, f, d: ["ood", str(f), "--ood-data", "digits"],
    "score RUN=file": lambda run, f, d: ["score", str(f), str(f)],
    "compare DIR=file": lambda run, f, d: ["compare", str(f)],
    "report RUN=file": lambda run, f, d: ["report", str(f), "--out", str(d / "report")],
    "runs DIR=file": lambda run, f, d: ["runs", str(f)],
    "series eval DIR=file": lambda run, f, d: ["series", "eval", str(f)],
    "train --out=file": lambda run, f, d: [
        "train",
        "gated_pixelcnn",
        "--data",
        "digits",
        "--steps",
        "1",
        *QUICK,
        *TINY,
        "--out",
        str(f),
    ],
    "train --out under a file": lambda run, f, d: [
        "train",
        "gated_pixelcnn",
        "--data",
        "digits",
        "--steps",
        "1",
        *QUICK,
        *TINY,
        "--out",
        str(f / "run"),
    ],
    "train --data folder:file": lambda run, f, d: [
        "train",
        "gated_pixelcnn",
        "--data",
        f"folder:{f}",
        "--steps",
        "1",
        "--out",
        str(d / "r"),
    ],
    "report --out=file": lambda run, f, d: ["report", str(run), "--out", str(f)],
    # a folder where a file is expected
    "train --data npz:folder": lambda run, f, d: [
        "train",
        "gated_pixelcnn",
        "--data",
        f"npz:{d}",
        "--steps",
        "1",
        "--out",
        str(d / "r"),
    ],
    "sample --out=folder": lambda run, f, d: ["sample", str(run), "--n", "2", "--out", png(d)],
    # (complete --out takes a folder as well as a .png file: a folder there is not an error)
    "score IMAGE=folder": lambda run, f, d: ["score", str(run), str(d)],
    "compare --out=folder": lambda run, f, d: ["compare", str(run), "--out", str(d)],
    "compare --json=folder": lambda run, f, d: ["compare", str(run), "--json", str(d)],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_path_of_the_wrong_kind_is_one_line_naming_it(
    case: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file, folder = tmp_path / "file.png", tmp_path / "folder"
    file.write_bytes(b"not what the command expects")
    folder.mkdir()
    (folder / "keep.txt").write_text("kept")
    before = {**digest(file), **digest(folder), **digest(run)}
    capsys.readouterr()
    code = main(CASES[case](run, file, folder))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and err[-1].startswith("genzoo: error: "), err
    assert "Traceback" not in "\n".join(err)
    assert str(file) in err[-1] or str(folder) in err[-1] or str(run) in err[-1], err[-1]
    after = {**digest(file), **digest(folder), **digest(run)}
    assert {k: v for k, v in after.items() if k in before} == before  # nothing destroyed
    assert file.is_file() and folder.is_dir()
