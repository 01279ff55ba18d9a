"""The command line end to end on digits, and its handling of bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import genzoo
from genzoo.cli.main import main

TINY = ["--channels", "8", "--num-layers", "2", "--head-channels", "8"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "gated"
    code = main(
        [
            "train",
            "gated_pixelcnn",
            "--data",
            "digits",
            "--steps",
            "30",
            "--batch-size",
            "32",
            "--out",
            str(out),
            *TINY,
        ]
    )
    assert code == 0
    return out


def test_train_writes_model_metrics_and_grids(run_dir, capsys):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    assert test["num_images"] == 297
    assert test["bits_per_dim"] == pytest.approx(test["nll_nats"] / (64 * math.log(2)))
    assert 0 < test["bits_per_dim"] < math.log2(17) + 0.5  # 30 steps: near uniform at worst
    model = genzoo.load_model(run_dir)
    assert model.name == "gated_pixelcnn" and model.config["channels"] == 8
    for name in ("samples.png", "completion.png"):
        assert Image.open(run_dir / name).size[0] > 64


def test_eval_reproduces_metrics(run_dir, capsys):
    before = json.loads((run_dir / "metrics.json").read_text())["test"]["nll_nats"]
    assert main(["eval", str(run_dir)]) == 0
    out = capsys.readouterr().out
    after = json.loads((run_dir / "metrics.json").read_text())["test"]["nll_nats"]
    assert after == pytest.approx(before, rel=1e-6)
    assert "bits/dim" in out


def test_sample_png_and_npz(run_dir, tmp_path):
    assert main(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    x = np.load(tmp_path / "s.npz")["x"]
    assert x.shape == (5, 1, 8, 8) and x.min() >= 0 and x.max() < 17
    assert main(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "s.png")]) == 0
    again = tmp_path / "again.npz"
    assert main(["sample", str(run_dir), "--n", "5", "--out", str(again)]) == 0
    assert np.array_equal(np.load(again)["x"], x)  # same seed, same samples
    naive = tmp_path / "naive.npz"
    argv = ["sample", str(run_dir), "--n", "5", "--method", "naive", "--out", str(naive)]
    assert main(argv) == 0
    assert np.array_equal(np.load(naive)["x"], x)  # the cached default draws the same images


@pytest.mark.parametrize("mask", ["top-half", "left-half", "center"])
def test_complete(run_dir, tmp_path, mask):
    out = tmp_path / f"{mask}.png"
    assert main(["complete", str(run_dir), "--mask", mask, "--n", "4", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 32


def test_listing_commands(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in genzoo.available_models():
        assert name in out
    assert main(["datasets"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "nope", "--data", "digits"], "unknown model"),
        (["train", "pixelcnn", "--data", "nope"], "nope"),
        (["train", "pixelcnn", "--data", "digits", "--lr", "-1"], "lr"),
        (["train", "pixelcnn", "--data", "digits", "--chanels", "4"], "chanels"),
        (["train", "pixelcnn", "--data", "digits", "--channels", "five"], "channels"),
        (["train", "pixelcnn", "--data", "digits", "--num-nodes", "0"], "--num-nodes"),
        (["eval", "/nonexistent/run"], "not a saved genzoo model"),
        (["sample", "/nonexistent/run", "--out", "x.png"], "not a saved genzoo model"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_errors_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genzoo: error:")
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing written for a rejected command


def test_two_nodes_without_a_launcher_say_which_command(capsys, tmp_path, monkeypatch):
    for name in [k for k in os.environ if k.startswith(("SLURM_", "TORCHELASTIC"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    argv = ["train", "gated_pixelcnn", "--data", "digits", "--steps", "1", "--num-nodes", "2"]
    assert main([*argv, *TINY]) == 2
    err = capsys.readouterr().err  # the data summary, then the one-line error
    error = err.strip().splitlines()[-1]
    assert error.startswith("genzoo: error:") and "Traceback" not in err
    assert "torchrun --nnodes 2 --nproc-per-node 1 --node-rank R" in error and "srun" in error
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("env", "first"),
    [
        ({}, True),
        ({"LOCAL_RANK": "1"}, False),  # Fabric's re-run on one machine
        ({"LOCAL_RANK": "0", "NODE_RANK": "1"}, False),
        ({"LOCAL_RANK": "0", "RANK": "1", "GROUP_RANK": "1"}, False),  # torchrun, 2nd machine
        ({"LOCAL_RANK": "0", "RANK": "0"}, True),
        ({"SLURM_PROCID": "2", "SLURM_LOCALID": "0"}, False),  # srun, 2nd machine
        ({"SLURM_PROCID": "0"}, True),
    ],
)
def test_only_the_global_first_process_holds_the_run(env, first, monkeypatch):
    from genzoo.cli.common import is_first_process

    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "SLURM_LOCALID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_first_process() is first


def test_existing_run_is_not_overwritten(run_dir, capsys):
    weights = (run_dir / "model.safetensors").read_bytes()
    assert (
        main(
            [
                "train",
                "gated_pixelcnn",
                "--data",
                "digits",
                "--steps",
                "1",
                "--out",
                str(run_dir),
                *TINY,
            ]
        )
        == 2
    )
    assert "--resume" in capsys.readouterr().err
    assert (run_dir / "model.safetensors").read_bytes() == weights


def test_console_script_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "genzoo.cli.main", "eval", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
