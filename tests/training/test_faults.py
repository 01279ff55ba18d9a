"""Faults the engine survives: Ctrl-C, a full disk, a second trainer, a diverging loss.

After each, the run folder holds a loadable checkpoint and the user's natural next move — the
same command with ``--resume`` — continues the run. Ctrl-C and the second trainer are tested
with real processes and real signals; the full disk on a real (small) tmpfs where mounting is
allowed, and with a simulated ``ENOSPC`` for the final save.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import genzoo
from genzoo.cli.main import main
from genzoo.data import Dataset
from genzoo.errors import StorageError, TrainingError
from genzoo.training import engine, load_checkpoint, train
from genzoo.training.engine import TrainingInterrupted

from .helpers import ExplodingModel, assert_identical, load_ckpt, quick, tiny_gated, weights

TINY = ["--channels", "8", "--num-layers", "2", "--head-channels", "8"]


def train_argv(out: Path, steps: int, *extra: str) -> list[str]:
    head = ["train", "gated_pixelcnn", "--data", "digits", "--steps", str(steps)]
    quick_ = ["--batch-size", "16", "--eval-images", "20", "--no-sample-quality"]
    return [*head, *quick_, *TINY, "--out", str(out), *extra]


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------- Ctrl-C
def _interrupt_after(monkeypatch: pytest.MonkeyPatch, step: int, times: int = 1) -> None:
    """Deliver ``times`` real SIGINTs to this process right after optimiser step ``step``."""
    original = engine._after_step

    def after_step(s, *args):
        original(s, *args)
        if s.progress.step == step:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(engine, "_after_step", after_step)


def test_ctrl_c_checkpoints_the_step_and_resume_is_bit_identical(
    small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = tiny_gated(small)
    train(full, small, quick(steps=11), tmp_path / "full")

    # a job started in the background of a shell inherits SIGINT ignored: compare with what
    # was there, not with Python's default
    before = signal.getsignal(signal.SIGINT)
    _interrupt_after(monkeypatch, step=4)
    with pytest.raises(TrainingInterrupted) as info:
        train(tiny_gated(small), small, quick(steps=11), tmp_path / "cut")
    assert info.value.step == 4 and isinstance(info.value, KeyboardInterrupt)
    assert "after step 4" in str(info.value) and "--resume" in str(info.value)
    assert load_ckpt(tmp_path / "cut")["step"] == 4  # checkpoint_every=0: written for Ctrl-C
    assert not (tmp_path / "cut" / ".lock").exists()
    assert signal.getsignal(signal.SIGINT) is before  # handler restored

    monkeypatch.undo()
    result = train(tiny_gated(small, seed=9), small, quick(steps=11), tmp_path / "cut", resume=True)
    assert result.resumed_from == 4 and result.steps == 11
    a, b = load_ckpt(tmp_path / "full"), load_ckpt(tmp_path / "cut")
    assert_identical(weights(a["model"]), weights(b["model"]))
    assert_identical(weights(a["ema"]["weights"]), weights(b["ema"]["weights"]))


def test_a_second_ctrl_c_stops_at_once_without_a_new_checkpoint(
    small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interrupt_after(monkeypatch, step=5, times=2)
    with pytest.raises(KeyboardInterrupt) as info:
        train(tiny_gated(small), small, quick(steps=11, checkpoint_every=2), tmp_path)
    assert not isinstance(info.value, TrainingInterrupted)
    assert load_ckpt(tmp_path)["step"] == 4  # the last periodic one, intact
    assert not (tmp_path / ".lock").exists() and no_temporary_files(tmp_path)


def _cli(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "genzoo.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for(condition, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the trainer ended early: {process.communicate()}")
        if time.monotonic() > deadline:  # pragma: no cover
            process.kill()
            pytest.fail("timed out")
        time.sleep(0.02)


def _logged_rows(out: Path) -> int:
    path = out / "metrics.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.is_file() else 0


@pytest.mark.slow
def test_sigint_to_a_real_trainer_exits_130_on_one_line_and_resume_continues(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    argv = train_argv(out, 400, "--log-every", "1")
    trainer = _cli(*argv)
    _wait_for(lambda: _logged_rows(out) >= 3, trainer)
    trainer.send_signal(signal.SIGINT)
    _, err = trainer.communicate(timeout=120)
    assert trainer.returncode == 130, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    last = lines[-1]
    assert last.startswith("genzoo: training interrupted after step ") and "--resume" in last
    step = int(last.split("after step ")[1].split(";")[0])
    assert 3 <= step < 400
    assert load_checkpoint(out / "checkpoint.pt")["step"] == step
    assert not (out / ".lock").exists()

    resumed = _cli(*argv, "--resume")  # the very same command, with --resume
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert f"resuming {out} from step {step}" in err
    assert f"trained from step {step} to step 400" in err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 400


# ---------------------------------------------------------------------- a second trainer
@pytest.mark.slow
def test_a_second_trainer_into_the_same_folder_refuses_naming_the_first(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _cli(*train_argv(out, 100_000, "--checkpoint-every", "20"))
    _wait_for(lambda: (out / "checkpoint.pt").is_file(), first)
    # the same command, with and without --resume (started together: imports are slow)
    seconds = [_cli(*train_argv(out, 100_000, *extra)) for extra in (("--resume",), ())]
    for second in seconds:
        _, err = second.communicate(timeout=300)
        assert second.returncode == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"being trained into by process {first.pid}" in err
    assert first.poll() is None  # the first still trains, undisturbed
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=120)
    assert first.returncode == 130
    assert not (out / ".lock").exists()
    assert load_checkpoint(out / "checkpoint.pt")["step"] > 0


def test_a_stale_lock_of_a_dead_process_is_taken_over(small: Dataset, tmp_path: Path) -> None:
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    (tmp_path / ".lock").write_text(
        json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()})
    )
    train(tiny_gated(small), small, quick(steps=2), tmp_path)
    assert load_ckpt(tmp_path)["step"] == 2 and not (tmp_path / ".lock").exists()


# ---------------------------------------------------------------------- a full disk
@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MiB tmpfs (skipped where mounting is not allowed)."""
    point = tmp_path / "disk"
    point.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with one file."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_previous(
    small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = small_disk / "run"
    assert main(train_argv(out, 4, "--checkpoint-every", "2")) == 0
    size = (out / "checkpoint.pt").stat().st_size
    filler = _fill(small_disk, leave=size // 3)  # room for the small files, not a checkpoint
    capsys.readouterr()
    assert main(train_argv(out, 8, "--checkpoint-every", "2", "--resume")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    line = err[-1]
    assert line.startswith("genzoo: error: no space left on the device while writing")
    assert f"{out / 'checkpoint.pt'} holds step 4: --resume continues from there" in line
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4
    assert no_temporary_files(out) and not (out / ".lock").exists()

    filler.unlink()  # space again: the same command continues from step 4
    assert main(train_argv(out, 8, "--checkpoint-every", "2", "--resume")) == 0
    assert "resuming" in capsys.readouterr().err
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 8


def test_a_full_disk_during_the_final_save_keeps_a_loadable_checkpoint(
    small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated ``ENOSPC`` while the model is exported after the last checkpoint."""
    import safetensors.torch

    train(tiny_gated(small), small, quick(steps=3), tmp_path)
    saved = (tmp_path / "model.safetensors").read_bytes()

    def full(module, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_model", full)
    with pytest.raises(StorageError) as info:
        train(tiny_gated(small), small, quick(steps=6), tmp_path, resume=True)
    message = str(info.value)
    assert "no space left" in message and "checkpoint.pt holds step 6" in message
    assert (tmp_path / "model.safetensors").read_bytes() == saved  # the old model, untouched
    assert load_ckpt(tmp_path)["step"] == 6  # the checkpoint was written before the export
    assert no_temporary_files(tmp_path)
    monkeypatch.undo()
    genzoo.load_model(tmp_path)  # loadable


def test_a_failed_metrics_append_is_a_storage_error(
    small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genzoo.training import metrics

    real_open = open

    def full_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("metrics.csv") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(metrics, "open", full_open, raising=False)
    with pytest.raises(StorageError, match=r"cannot append to .*metrics\.csv: No space left"):
        train(tiny_gated(small), small, quick(steps=4), tmp_path)


# ---------------------------------------------------------------------- a diverging loss
def test_a_nan_loss_keeps_the_last_good_checkpoint_and_resume_continues(
    small: Dataset, tmp_path: Path
) -> None:
    def exploding() -> ExplodingModel:
        torch.manual_seed(0)
        return ExplodingModel(shape=small.shape, levels=small.levels, nan_at=8)

    with pytest.raises(TrainingError, match=r"loss is nan at step 8.*\(step 6\).*--resume"):
        train(exploding(), small, quick(steps=20, checkpoint_every=3), tmp_path)
    kept = load_ckpt(tmp_path)
    assert kept["step"] == 6 and not (tmp_path / ".lock").exists()
    # a new process counts the model's calls from zero: NaN would come 8 calls later, step 14
    result = train(exploding(), small, quick(steps=12, checkpoint_every=3), tmp_path, resume=True)
    assert result.resumed_from == 6 and result.steps == 12
    final = load_ckpt(tmp_path)
    assert final["step"] == 12
    assert all(torch.isfinite(t).all() for t in final["model"].values())
    assert not torch.equal(final["model"]["logits"], kept["model"]["logits"])


# ---------------------------------------------------------------------- a crash mid-write
CRASH_DURING_SECOND_CHECKPOINT = """
import os, sys, torch
from genzoo.cli.main import main
real, calls = torch.save, [0]
def save(obj, f, *args, **kwargs):
    calls[0] += 1
    if calls[0] == 2:  # half a file, then the process dies as under kill -9 or a power cut
        f.write(b"PK\\x03\\x04 the first bytes of a checkpoint")
        f.flush()
        os._exit(9)
    return real(obj, f, *args, **kwargs)
torch.save = save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_a_crash_while_writing_a_checkpoint_keeps_the_previous_and_resume_is_exact(
    tmp_path: Path,
) -> None:
    argv = train_argv(tmp_path / "cut", 6, "--checkpoint-every", "2")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_DURING_SECOND_CHECKPOINT, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert crashed.returncode == 9, crashed.stderr
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 2  # the first, whole
    genzoo.load_model(tmp_path / "cut")  # and the model saved with it
    assert main([*argv, "--resume"]) == 0
    assert main(train_argv(tmp_path / "full", 6, "--checkpoint-every", "2")) == 0
    a, b = load_ckpt(tmp_path / "full"), load_ckpt(tmp_path / "cut")
    assert a["step"] == b["step"] == 6
    assert_identical(weights(a["model"]), weights(b["model"]))
