"""Commands that read a run never replace its files, sample in bounded chunks, and say what to
do: a shape mismatch names --size/--levels, --resume names its step, an EM fit counts
iterations."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import genzoo
import genzoo.cli.sample as sample_cli
from genzoo.cli.main import main
from tests.cli.files import digest

TINY = ["--channels", "8", "--num-layers", "2", "--head-channels", "8"]
QUICK = ["--batch-size", "16", "--eval-images", "20", "--no-sample-quality"]


def train_argv(out: Path, steps: int, *extra: str) -> list[str]:
    head = ["train", "gated_pixelcnn", "--data", "digits", "--steps", str(steps)]
    return [*head, *QUICK, *TINY, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reads") / "run"
    assert main(train_argv(out, 4)) == 0
    return out


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("sample", "samples.png"),
        ("sample", "model.npz"),  # not a run file: allowed (checked below)
        ("complete", "completion.png"),
        ("complete", "model.safetensors"),
    ],
)
def test_sample_and_complete_never_replace_a_run_file(
    run: Path, capsys: pytest.CaptureFixture[str], command: str, name: str
) -> None:
    before = digest(run)
    code = main([command, str(run), "--n", "2", "--out", str(run / name)])
    err = capsys.readouterr().err
    if name == "model.npz":
        assert code == 0 and (run / name).is_file()
        return
    assert code == 2 and err.count("\n") == 1
    assert "would replace the run's own" in err or "must end in .png" in err
    assert digest(run) == before


def test_sample_draws_in_chunks_and_streams_the_npz(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    model_class = type(genzoo.load_model(run))
    real = model_class.sample

    def spy(self, n, *args, **kwargs):
        sizes.append(n)
        return real(self, n, *args, **kwargs)

    monkeypatch.setattr(sample_cli, "CHUNK", 4)
    monkeypatch.setattr(model_class, "sample", spy)
    out = tmp_path / "x.npz"
    assert main(["sample", str(run), "--n", "10", "--out", str(out)]) == 0
    assert sizes == [4, 4, 2]
    with np.load(out) as archive:
        x, levels = archive["x"], int(archive["levels"])
    assert x.shape == (10, 1, 8, 8) and x.dtype == np.int64 and levels == 17
    assert x.min() >= 0 and x.max() < 17
    # the chunks are the draws of one generator in turn: the first chunk equals --n 4
    first = tmp_path / "first.npz"
    assert main(["sample", str(run), "--n", "4", "--out", str(first)]) == 0
    with np.load(first) as archive:
        assert np.array_equal(archive["x"], x[:4])


def test_other_images_name_size_and_levels(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = np.random.default_rng(0).integers(0, 256, (30, 16, 16), dtype=np.uint8)
    np.savez(tmp_path / "big.npz", x=images)
    data = f"npz:{tmp_path / 'big.npz'}"
    before = digest(run)
    resume = ["train", "gated_pixelcnn", "--data", data, "--steps", "8", "--resume"]
    for argv in (
        ["complete", str(run), "--data", data, "--out", str(tmp_path / "c.png")],
        [*resume, *QUICK, *TINY, "--out", str(run)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "takes 1x8x8 images with 17 levels" in err and "1x16x16 with 256" in err
        assert err.endswith("pass --size 8 --levels 17")
    assert digest(run) == before
    fixed = ["--data", data, "--size", "8", "--levels", "17", "--out", str(tmp_path / "c.png")]
    assert main(["complete", str(run), *fixed]) == 0


def test_resume_says_from_which_step_it_continues(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(train_argv(run, 6, "--resume")) == 0
    err = capsys.readouterr().err
    assert f"resuming {run} from step 4 (checkpoint.pt)" in err
    assert "trained from step 4 to step 6" in err


def test_an_em_fit_reports_iterations_and_fitted_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "em"
    argv = ["train", "mixture_categorical", "--data", "digits", "--components", "3"]
    assert main([*argv, "--steps", "5", "--out", str(out), "--no-sample-quality"]) == 0
    err = capsys.readouterr().err
    model = genzoo.load_model(out)
    fitted = sum(t.numel() for t in model.state_dict().values())
    assert fitted == 3 * 64 * 17 + 3 + 1 + 1  # logits, weights, class prior, the fitted flag
    assert f"({fitted:,} parameters, fitted by EM)" in err
    assert "fitted by EM in 5 iterations" in err and "images/s" not in err
    assert "0 parameters" not in err


def test_the_commands_named_for_a_model_follow_its_capabilities() -> None:
    from genzoo.cli.common import commands_for

    data = genzoo.load_dataset("digits")
    model = genzoo.create_model("gated_pixelcnn", shape=data.shape, levels=data.levels)
    assert commands_for(model) == "genzoo eval, genzoo sample, genzoo complete"
    vae = genzoo.create_model("vae", shape=data.shape, levels=data.levels)
    assert "genzoo interpolate" in commands_for(vae) and "genzoo embed" in commands_for(vae)


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "{run}", "--json", "{run}/metrics.json"],
        ["cluster", "{run}", "--json", "{run}/metrics.json"],
        ["embed", "{run}", "--out", "{run}/metrics.png"],  # its default --coords: metrics.csv
        ["embed", "{run}", "--out", "map.png", "--coords", "{run}/metrics.csv"],
    ],
)
def test_unsupervised_commands_never_replace_a_run_file(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = digest(run)
    args = [a.replace("{run}", str(run)) for a in argv]
    args = [str(tmp_path / a) if a == "map.png" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "would replace the run's own" in err and len(err.splitlines()) == 1
    assert digest(run) == before


def test_eval_on_data_that_does_not_fit_names_the_flags_and_writes_nothing(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(run)
    # 8x8 digits at 4 levels: the run's model takes 17 levels
    assert main(["eval", str(run), "--data", "digits", "--levels", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("pass --levels 17") and len(err.splitlines()) == 1
    assert digest(run) == before and not (run / "evaluations").exists()


def test_eval_refuses_a_run_another_process_is_writing(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json as _json
    import socket

    before = digest(run)
    # the lock file of a live trainer (this test's parent process stands in for it)
    import os

    owner = {"pid": os.getppid(), "host": socket.gethostname()}
    (run / ".lock").write_text(_json.dumps(owner))
    assert main(["eval", str(run), "--no-sample-quality"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"process {owner['pid']}" in err and len(err.splitlines()) == 1
    (run / ".lock").unlink()
    assert digest(run) == before
