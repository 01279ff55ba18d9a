"""Damaged and hostile files: every failure is one line naming the file, exit status 2.

A tiny run is trained once; each test copies it, damages one file (truncated, zeroed, random
bytes, emptied, JSON of the wrong shape, weights or state that do not fit the config) and runs
the commands that read that file — ``eval``, ``sample``, ``complete``, ``train --resume`` —
through :func:`genzoo.cli.main.main`. A refusal must be one line (``genzoo: error: ...``) that
names the damaged file, and must leave every file of the run as it was. Files a command only
*writes* (``metrics.json``, ``train_config.json`` on resume) are rewritten whole instead. The
Python loaders (:func:`genzoo.load_model`, :func:`genzoo.load_dataset`,
:func:`genzoo.training.load_checkpoint`) raise genzoo's typed errors for the same damage.
"""

from __future__ import annotations

import builtins
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo
from genzoo.cli.main import main
from genzoo.errors import DatasetError, GenzooError, ModelError, TrainingError
from genzoo.training import load_checkpoint
from tests.cli.files import digest

TINY = ["--channels", "8", "--num-layers", "2", "--head-channels", "8"]
QUICK = ["--batch-size", "16", "--eval-images", "20", "--no-sample-quality"]


def train_argv(out: Path, steps: int, *extra: str) -> list[str]:
    head = ["train", "gated_pixelcnn", "--data", "digits", "--steps", str(steps)]
    return [*head, *QUICK, *TINY, "--out", str(out), *extra]


COMMANDS = {
    "eval": lambda run, tmp: ["eval", str(run), "--no-sample-quality"],
    "sample": lambda run, tmp: ["sample", str(run), "--n", "3", "--out", str(tmp / "s.npz")],
    "complete": lambda run, tmp: ["complete", str(run), "--n", "2", "--out", str(tmp / "c.png")],
    "resume": lambda run, tmp: train_argv(run, 8, "--resume"),
    "eval-parzen": lambda run, tmp: [
        "eval",
        str(run),
        "--no-sample-quality",
        "--parzen",
        "--parzen-samples",
        "20",
    ],
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-step run (checkpoint at step 6) of a tiny Gated PixelCNN on digits."""
    out = tmp_path_factory.mktemp("damaged") / "run"
    assert main(train_argv(out, 6)) == 0
    return out


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved model with other hyper-parameters (its weights do not fit the trained config)."""
    data = genzoo.load_dataset("digits")
    model = genzoo.create_model(
        "gated_pixelcnn", shape=data.shape, levels=data.levels, channels=4, num_layers=1
    )
    out = tmp_path_factory.mktemp("other") / "model"
    model.save(out)
    return out


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    rng = np.random.default_rng(abs(hash((path.name, how))) % 2**32)
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed":
        path.write_bytes(bytes(len(data)))
    elif how == "random":
        path.write_bytes(rng.integers(0, 256, len(data), dtype=np.uint8).tobytes())
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "json-list":
        path.write_text("[1, 2, 3]\n")
    else:  # pragma: no cover
        raise ValueError(how)


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``argv``; it must fail with one line and exit 2. Returns that line."""
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err, "no message"
    last = err[-1]
    assert last.startswith("genzoo: error: "), err
    assert "Traceback" not in "\n".join(err)
    return last


BYTE_DAMAGE = ["truncated", "zeroed", "random", "empty"]
READERS = {  # file -> the commands that read it
    "config.json": ["eval", "sample", "complete", "resume"],
    "model.safetensors": ["eval", "sample", "complete", "resume"],
    "checkpoint.pt": ["resume"],
    "data.json": ["eval", "complete"],
    "train_config.json": ["eval-parzen"],
    "metrics.csv": ["resume"],
}
CASES = [
    (name, how, command)
    for name, commands in READERS.items()
    for how in BYTE_DAMAGE + (["json-list"] if name.endswith(".json") else [])
    for command in commands
    # an empty or truncated log is continued (its complete rows are kept)
    if not (name == "metrics.csv" and how in ("empty", "truncated"))
]


@pytest.mark.parametrize(("name", "how", "command"), CASES)
def test_a_damaged_run_file_is_one_line_naming_it(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, how: str, command: str
) -> None:
    damage(run / name, how)
    before = digest(run)
    line = refused(COMMANDS[command](run, tmp_path), capsys)
    assert str(run / name) in line
    assert digest(run) == before  # a refusal changes nothing in the run
    assert not list(tmp_path.glob("[sc].*"))  # and writes no output


def test_commands_that_do_not_read_a_damaged_file_still_work(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damage(run / "checkpoint.pt", "random")  # only --resume reads it
    damage(run / "metrics.csv", "random")
    for command in ("eval", "sample", "complete"):
        assert main(COMMANDS[command](run, tmp_path)) == 0, capsys.readouterr().err


@pytest.mark.parametrize("how", ["random", "json-list"])
def test_a_damaged_metrics_json_is_rewritten_by_eval(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """``metrics.json`` is the output of eval, not an input: eval replaces it with a valid one."""
    damage(run / "metrics.json", how)
    assert main(COMMANDS["eval"](run, tmp_path)) == 0, capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["test"]["num_images"] == 297


def test_weights_that_do_not_fit_the_config(
    run: Path, other_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(other_weights / "model.safetensors", run / "model.safetensors")
    before = digest(run)
    for command in ("eval", "sample", "complete", "resume"):
        line = refused(COMMANDS[command](run, tmp_path), capsys)
        assert str(run / "model.safetensors") in line and "do not match its config" in line
    assert digest(run) == before
    with pytest.raises(ModelError, match="do not match its config"):
        genzoo.load_model(run)


def test_a_config_that_does_not_fit_the_weights(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    meta = json.loads((run / "config.json").read_text())
    meta["config"]["channels"] = 16
    (run / "config.json").write_text(json.dumps(meta))
    for command in ("eval", "sample", "complete", "resume"):
        line = refused(COMMANDS[command](run, tmp_path), capsys)
        assert "model.safetensors" in line and "do not match" in line


def _rewrite_checkpoint(run: Path, change) -> None:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    change(state)
    torch.save(state, run / "checkpoint.pt")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.pop("rng"), "'rng' is missing"),
        (lambda s: s.update(step="six"), "'step' is str"),
        (lambda s: s.update(format="something-else"), "not a genzoo training checkpoint"),
        (lambda s: s.update(version=99), "format version 99"),
        (  # the raw weights of another architecture under the right config
            lambda s: s.update(model={k: v[..., :1] for k, v in s["model"].items()}),
            "does not fit",
        ),
        (  # an optimiser moment of the wrong size
            lambda s: s["optimizer"]["state"][0].update(exp_avg=torch.zeros(3)),
            "optimizer state 'exp_avg' has shape (3,)",
        ),
        (  # an optimiser state with a key missing
            lambda s: s["optimizer"]["state"][1].pop("exp_avg_sq"),
            "optimizer state entries differ",
        ),
    ],
)
def test_a_checkpoint_whose_contents_are_wrong(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change, expected: str
) -> None:
    _rewrite_checkpoint(run, change)
    before = digest(run)
    line = refused(COMMANDS["resume"](run, tmp_path), capsys)
    assert str(run / "checkpoint.pt") in line and expected in line
    assert digest(run) == before


# ---------------------------------------------------------------------- hostile files
class _CreatesAFile:
    """Unpickling this calls ``open(path, "w")``: a stand-in for any code a pickle may run."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


def test_a_hostile_checkpoint_is_refused_and_runs_nothing(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "created-by-the-pickle"
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["payload"] = _CreatesAFile(marker)
    torch.save(state, run / "checkpoint.pt")
    # negative control: an unrestricted load of the same file does run the payload
    control = tmp_path / "control"
    control.mkdir()
    torch.save({"payload": _CreatesAFile(control / "ran")}, control / "evil.pt")
    torch.load(control / "evil.pt", weights_only=False)
    assert (control / "ran").exists()

    before = digest(run)
    line = refused(COMMANDS["resume"](run, tmp_path), capsys)
    assert (
        "refusing checkpoint" in line
        and "GLOBAL io.open" in line
        and "nothing in it was run" in line
    )
    assert not marker.exists()
    assert digest(run) == before  # and nothing new in the run folder (no lock left behind)
    with pytest.raises(TrainingError, match="refusing checkpoint"):
        load_checkpoint(run / "checkpoint.pt")
    assert not marker.exists()


# ---------------------------------------------------------------------- the Python loaders
@pytest.mark.parametrize(
    ("name", "how"),
    [("config.json", "json-list")]
    + [(name, how) for name in ("config.json", "model.safetensors") for how in BYTE_DAMAGE],
)
def test_load_model_raises_a_model_error_naming_the_file(run: Path, name: str, how: str) -> None:
    damage(run / name, how)
    with pytest.raises(ModelError) as info:
        genzoo.load_model(run)
    assert str(run / name) in str(info.value)


@pytest.mark.parametrize("how", BYTE_DAMAGE)
def test_load_checkpoint_raises_a_training_error(run: Path, how: str) -> None:
    damage(run / "checkpoint.pt", how)
    with pytest.raises(TrainingError, match="checkpoint") as info:
        load_checkpoint(run / "checkpoint.pt")
    assert "weights_only" not in str(info.value)  # never a hint to load it unsafely


def _npz(path: Path) -> Path:
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8)
    np.savez_compressed(path, x=x, y=np.arange(20) % 3)
    return path


def _folder(path: Path) -> Path:
    x = np.random.default_rng(0).integers(0, 256, (8, 8, 8), dtype=np.uint8)
    for i, image in enumerate(x):
        (path / str(i % 2)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path / str(i % 2) / f"{i}.png")
    return path / "0" / "0.png"


@pytest.mark.parametrize("how", BYTE_DAMAGE)
def test_damaged_dataset_files_raise_dataset_errors_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from tests.data.conftest import make_idx_set

    archive = _npz(tmp_path / "a.npz")
    image = _folder(tmp_path / "images")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "none"))
    make_idx_set(tmp_path / "idx" / "fashion-mnist")
    idx = tmp_path / "idx" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    cases = [
        (f"npz:{archive}", {}, archive),
        (f"folder:{tmp_path / 'images'}", {}, image),
        ("fashion-mnist", {"root": str(tmp_path / "idx")}, idx),
    ]
    for name, options, path in cases:
        damage(path, how)
        with pytest.raises(DatasetError) as info:
            genzoo.load_dataset(name, download=False, **options)
        message = str(info.value)
        assert str(path) in message, message
        assert "allow_pickle" not in message  # never a hint to load it unsafely


def test_damaged_data_through_the_cli_is_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _npz(tmp_path / "a.npz")
    damage(archive, "random")
    before = digest(run)
    line = refused(["eval", str(run), "--data", f"npz:{archive}", "--no-sample-quality"], capsys)
    assert str(archive) in line
    assert digest(run) == before


def test_every_genzoo_error_is_printed_on_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A third-party reason may span lines; the CLI still prints one."""
    import genzoo.cli.datasets as datasets

    def fail(args):
        raise GenzooError("first line\nsecond line\n\nthird")

    monkeypatch.setattr(datasets, "run", fail)
    parser_default = main(["datasets"])
    assert parser_default == 2
    assert capsys.readouterr().err == "genzoo: error: first line second line third\n"


@pytest.mark.parametrize(
    "change",
    [
        lambda meta: meta["config"].update(channels=-3),
        lambda meta: meta["config"].update(not_a_parameter=1),
        lambda meta: meta.update(name="no_such_model"),
    ],
)
def test_a_valid_json_config_with_wrong_values(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change
) -> None:
    meta = json.loads((run / "config.json").read_text())
    change(meta)
    (run / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"config\.json does not describe a model"):
        genzoo.load_model(run)
    line = refused(COMMANDS["sample"](run, tmp_path), capsys)
    assert str(run / "config.json") in line
