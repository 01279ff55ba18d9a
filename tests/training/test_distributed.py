"""Data-parallel training: 2 CPU processes (DDP over gloo) match 1 process on the same global
batches.

Fabric's DDP launcher starts rank 1 by re-running the calling script, so the run happens in a
subprocess executing a small script written by the test.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import genzoo
from genzoo.training import TrainConfig
from genzoo.training.hardware import resolve_strategy, unused_parameters

from .helpers import ExplodingModel, subset, tiny_gated

SCRIPT = """
import json, os, sys
import torch
torch.set_num_threads(1)
import genzoo
from genzoo.training import TrainConfig, train
sys.path.insert(0, {tests!r})
from training.helpers import subset, tiny_gated

devices, out, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if kind == "gated":
    data = subset(genzoo.load_dataset("digits"), 100, 20)
    model = tiny_gated(data)
else:  # an image-conditional model: the conditions are sharded with their images
    data = subset(genzoo.load_dataset("digits", task="super-resolution"), 100, 20)
    torch.manual_seed(0)
    model = genzoo.create_model(
        "pixel_recursive_sr", shape=data.shape, levels=data.levels,
        condition_shape=data.condition_shape, condition_levels=data.condition_levels,
        channels=6, num_layers=2, head_channels=8, cond_channels=6, cond_blocks=1,
    )
config = TrainConfig(
    steps=8, batch_size=16, lr=3e-3, warmup_steps=2, log_every=1, eval_every=4,
    eval_images=20, checkpoint_every=4, accelerator="cpu", devices=devices,
    strategy="ddp" if devices > 1 else "auto", precision="32",
)
result = train(model, data, config, out)
with open(out + f"/rank{{result.global_rank}}.pid", "w") as handle:
    handle.write(str(os.getpid()))
if result.global_rank == 0:
    summary = {{"world_size": result.world_size, "steps": result.steps,
               "strategy": result.strategy, "eval": result.eval_metrics}}
    with open(out + "/summary.json", "w") as handle:
        json.dump(summary, handle)
"""


def _run(script: Path, devices: int, out: Path, kind: str = "gated") -> dict:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    log = out.with_suffix(".log")
    with open(log, "w") as handle:  # a file, not a pipe: rank 1 may outlive rank 0 briefly
        proc = subprocess.run(
            [sys.executable, str(script), str(devices), str(out), kind],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=180,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]
    _assert_exits(out, devices)
    return json.loads((out / "summary.json").read_text())


def _assert_exits(out: Path, devices: int) -> None:
    """Every rank finished train() and then exited (gloo teardown can deadlock at exit)."""
    for rank in range(devices):
        pid = int((out / f"rank{rank}.pid").read_text())
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"rank {rank} (pid {pid}) did not exit after training")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # Linux: a finished child not yet reaped is a zombie
    return not stat.exists() or stat.read_text().split(")")[-1].split()[0] != "Z"


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


class _Normalised(ExplodingModel):
    """A model with normalisation statistics, which a training-mode pass updates."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.norm = nn.BatchNorm2d(1)

    def log_prob(self, x: Tensor, y: Tensor | None = None, *, per_dim: bool = False) -> Tensor:
        shift = self.norm(x.float() + 1.0).mean()
        return super().log_prob(x, y, per_dim=per_dim) + 0.0 * shift


class _WithUnused(ExplodingModel):
    """A model with a parameter that never reaches the loss."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unused = nn.Linear(2, 2)


def test_unused_parameters_are_detected_for_ddp() -> None:
    data = subset(genzoo.load_dataset("digits"), 4, 2)
    assert unused_parameters(tiny_gated(data), data) == []
    gated = _WithUnused(shape=data.shape, levels=data.levels)
    assert unused_parameters(gated, data) == ["unused.weight", "unused.bias"]
    assert gated.training and all(p.grad is None for p in gated.parameters())
    normalised = _Normalised(shape=data.shape, levels=data.levels)
    assert unused_parameters(normalised, data) == []
    assert normalised.norm.num_batches_tracked == 0  # the probe leaves the statistics alone
    assert torch.equal(normalised.norm.running_mean, torch.zeros(1))
    independent = genzoo.create_model("pixel_independent", shape=data.shape, levels=data.levels)
    assert unused_parameters(independent, data) == []
    config = TrainConfig(devices=2, strategy="ddp")
    assert resolve_strategy(config, independent, data) == "ddp"
    assert resolve_strategy(config, gated, data) == "ddp_find_unused_parameters_true"
    assert resolve_strategy(TrainConfig(), gated, data) == "auto"
    single_ddp = TrainConfig(strategy="ddp")  # one process, still wrapped in DDP
    assert resolve_strategy(single_ddp, gated, data) == "ddp_find_unused_parameters_true"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gated", "image-conditional"])
def test_two_ddp_processes_match_one_process(tmp_path: Path, kind: str) -> None:
    tests_dir = str(Path(__file__).resolve().parents[1])
    script = tmp_path / "run_training.py"
    script.write_text(SCRIPT.format(tests=tests_dir))
    one = _run(script, 1, tmp_path / "one", kind)
    two = _run(script, 2, tmp_path / "two", kind)
    assert (one["world_size"], two["world_size"]) == (1, 2)
    # every parameter reaches the loss, so plain DDP is chosen
    assert two["strategy"] == "ddp"
    assert one["steps"] == two["steps"] == 8

    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    for key in a["model"]:
        torch.testing.assert_close(b["model"][key], a["model"][key], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            b["ema"]["weights"][key], a["ema"]["weights"][key], rtol=1e-5, atol=1e-6
        )
    assert (a["epoch"], a["batch_in_epoch"]) == (b["epoch"], b["batch_in_epoch"]) == (1, 2)
    assert len(b["rng"]) == 2 and not torch.equal(b["rng"][0]["torch"], b["rng"][1]["torch"])

    # Adam hides a constant factor in the gradient, so also compare what it saw: the global
    # gradient norm (averaged, not summed, over ranks), the loss averaged over ranks, and the
    # evaluation sharded over ranks.
    rows_one, rows_two = _rows(tmp_path / "one"), _rows(tmp_path / "two")
    assert len(rows_one) == len(rows_two) == 8
    for r1, r2 in zip(rows_one, rows_two):
        for column in ("loss", "bits_per_dim", "grad_norm", "lr"):
            assert float(r2[column]) == pytest.approx(float(r1[column]), rel=1e-5), column
    for key in ("loss", "bits_per_dim"):
        assert two["eval"][key] == pytest.approx(one["eval"][key], rel=1e-5)
    assert json.loads((tmp_path / "two" / "train_config.json").read_text())["world_size"] == 2
