"""Data-parallel training: 2 CPU processes (DDP over gloo) match 1 process on the same global
batches, for the autoregressive, VAE, VQ-VAE and GAN families, and 2 "machines" (torchrun, 2
nodes x 1 process on localhost) match 1 process too.

Fabric's DDP launcher starts rank 1 by re-running the calling script, so the run happens in a
subprocess executing a small script written by the test. The script also records, after every
optimiser step, a hash of each rank's parameters and of its buffers, and each rank's final
weights, so that the tests can check that the ranks agree and not only rank 0's files.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import genzoo
from genzoo.errors import ConfigError
from genzoo.training import TrainConfig
from genzoo.training.hardware import (
    check_cluster,
    external_launcher,
    resolve_strategy,
    unused_parameters,
)

from .helpers import ExplodingModel, subset, tiny_gated

SCRIPT = """
import hashlib, importlib, json, os, sys
import torch
torch.set_num_threads(1)
import genzoo
from genzoo.training import TrainConfig, train
from genzoo.training.procedures import AdversarialStep, LikelihoodStep
sys.path.insert(0, {tests!r})
from models.tiny import TINY
from training.helpers import subset, tiny_gated

devices, out, kind, nodes = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
data = subset(genzoo.load_dataset("digits"), 100, 20)
recipe = {{}}
torch.manual_seed(0)
if kind == "gated":
    model = tiny_gated(data)
elif kind == "image-conditional":  # the conditions are sharded with their images
    data = subset(genzoo.load_dataset("digits", task="super-resolution"), 100, 20)
    model = genzoo.create_model(
        "pixel_recursive_sr", shape=data.shape, levels=data.levels,
        condition_shape=data.condition_shape, condition_levels=data.condition_levels,
        channels=6, num_layers=2, head_channels=8, cond_channels=6, cond_blocks=1,
    )
else:
    name = kind.split("-")[0]
    # a VQ-VAE's codebook that follows each batch quickly (decay 0.5, not 0.99), so that a
    # codebook fitted to half of the batch is far from one fitted to all of it
    extra = {{"decay": 0.5}} if name == "vqvae" else {{}}
    model = genzoo.create_model(
        name, shape=data.shape, levels=data.levels, **TINY[name], **extra
    )
    recipe = model.train_defaults
if kind == "vae":  # no reparameterisation noise (each rank draws its own): z = the mean
    vae_module = importlib.import_module("genzoo.models.vae.vae")
    vae_module.standard_normal = lambda shape, generator, device: torch.zeros(shape, device=device)
if kind == "vqvae-unreduced":  # the negative control: each rank's own codebook statistics
    type(model).reduce_statistics = lambda self, stats: stats

params, buffers = [], []


def digest(tensors):
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def traced(step):
    def run(self, ctx):
        values = step(self, ctx)
        params.append(digest(ctx.model.module.parameters()))
        buffers.append(digest(ctx.model.module.buffers()))
        return values
    return run


for cls in (LikelihoodStep, AdversarialStep):
    cls.step = traced(cls.step)
config = TrainConfig(**{{
    **recipe, "steps": 8, "batch_size": 16, "lr": 3e-3, "warmup_steps": 2, "log_every": 1,
    "eval_every": 4, "eval_images": 20, "checkpoint_every": 4, "accelerator": "cpu",
    "devices": devices, "num_nodes": nodes, "precision": "32",
    "strategy": "ddp" if devices * nodes > 1 else "auto",
}})
result = train(model, data, config, out)
rank = result.global_rank
torch.save(model.state_dict(), out + f"/rank{{rank}}.pt")
with open(out + f"/rank{{rank}}.json", "w") as handle:
    json.dump({{"pid": os.getpid(), "params": params, "buffers": buffers}}, handle)
if rank == 0:
    summary = {{"world_size": result.world_size, "steps": result.steps,
               "strategy": result.strategy, "eval": result.eval_metrics}}
    with open(out + "/summary.json", "w") as handle:
        json.dump(summary, handle)
"""
#: columns of metrics.csv that are timings, not results
TIMINGS = {"elapsed", "train_seconds", "images_per_s"}


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tests_dir = str(Path(__file__).resolve().parents[1])
    path = tmp_path_factory.mktemp("distributed") / "run_training.py"
    path.write_text(SCRIPT.format(tests=tests_dir))
    return path


@pytest.fixture(scope="module")
def single(script: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``single(kind)``: the folder of the 1-process run of ``kind`` (run once per module)."""
    done: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in done:
            out = tmp_path_factory.mktemp("one") / kind
            _run(script, 1, out, kind)
            done[kind] = out
        return done[kind]

    return get


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCHELASTIC"))}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(script: Path, devices: int, out: Path, kind: str = "gated") -> dict:
    log = out.with_suffix(".log")
    with open(log, "w") as handle:  # a file, not a pipe: rank 1 may outlive rank 0 briefly
        proc = subprocess.run(
            [sys.executable, str(script), str(devices), str(out), kind, "1"],
            env=_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=180,
        )
    assert proc.returncode == 0, log.read_text()[-3000:]
    _assert_exits(out, devices)
    return json.loads((out / "summary.json").read_text())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_nodes(script: Path, nodes: int, out: Path, kind: str = "gated") -> dict:
    """``nodes`` torchrun agents on localhost, one process each: ``nodes`` machines' worth."""
    port = _free_port()
    procs, logs = [], []
    for node in range(nodes):
        logs.append(out.parent / f"{out.name}-node{node}.log")
        command = [
            sys.executable, "-m", "torch.distributed.run",
            "--nnodes", str(nodes), "--nproc-per-node", "1", "--node-rank", str(node),
            "--master-addr", "127.0.0.1", "--master-port", str(port),
            str(script), "1", str(out), kind, str(nodes),
        ]  # fmt: skip
        with open(logs[-1], "w") as handle:
            procs.append(
                subprocess.Popen(
                    command, env=_env(), stdout=handle, stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: killed as one on failure
                )
            )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail("the torchrun nodes did not finish in 120 s: " + logs[0].read_text()[-2000:])
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log.read_text()[-3000:]
    return json.loads((out / "summary.json").read_text())


def _assert_exits(out: Path, devices: int) -> None:
    """Every rank finished train() and then exited (gloo teardown can deadlock at exit)."""
    for rank in range(devices):
        pid = json.loads((out / f"rank{rank}.json").read_text())["pid"]
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


def _traces(out: Path, world: int) -> list[dict[str, Any]]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]


def _assert_ranks_agree(out: Path, world: int, buffers: bool = True) -> None:
    """After every step every rank holds the same parameters (and buffers)."""
    traces = _traces(out, world)
    assert len(traces[0]["params"]) == 8
    for trace in traces[1:]:
        assert trace["params"] == traces[0]["params"]
        if buffers:
            assert trace["buffers"] == traces[0]["buffers"]


def _assert_same_run(one: Path, two: Path, rtol: float = 1e-5) -> None:
    """The same weights, averaged weights, data position, metrics and evaluation."""
    a = torch.load(one / "checkpoint.pt", weights_only=True)
    b = torch.load(two / "checkpoint.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        torch.testing.assert_close(b["model"][key], a["model"][key], rtol=rtol, atol=1e-6)
        torch.testing.assert_close(
            b["ema"]["weights"][key], a["ema"]["weights"][key], rtol=rtol, atol=1e-6
        )
    assert (a["epoch"], a["batch_in_epoch"]) == (b["epoch"], b["batch_in_epoch"]) == (1, 2)
    # Adam hides a constant factor in the gradient, so also compare what it saw: the global
    # gradient norm (averaged, not summed, over ranks), the loss and every other metric
    # averaged over ranks, and the evaluation sharded over ranks.
    rows_one, rows_two = _rows(one), _rows(two)
    assert len(rows_one) == len(rows_two) == 8
    assert {"loss", "grad_norm", "lr"} <= set(rows_one[0])
    for r1, r2 in zip(rows_one, rows_two):
        assert r1.keys() == r2.keys()
        for column in r1.keys() - TIMINGS:
            if r1[column] == "":
                assert r2[column] == "", column
            else:
                assert float(r2[column]) == pytest.approx(float(r1[column]), rel=rtol), column
    e1 = json.loads((one / "summary.json").read_text())["eval"]
    e2 = json.loads((two / "summary.json").read_text())["eval"]
    assert e1.keys() == e2.keys()
    for key in e1.keys() - {"step"}:
        assert e2[key] == pytest.approx(e1[key], rel=rtol), key


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
    # one process on each of two machines is two processes: DDP, not one independent run each
    assert resolve_strategy(TrainConfig(num_nodes=2), independent, data) == "ddp"
    single_ddp = TrainConfig(strategy="ddp")  # one process, still wrapped in DDP
    assert resolve_strategy(single_ddp, gated, data) == "ddp_find_unused_parameters_true"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gated", "image-conditional", "vae", "vqvae"])
def test_two_ddp_processes_match_one_process(script: Path, single: Any, tmp_path: Path, kind: str):
    """With deterministic losses (the VAE without its noise) 2 processes are 1 process."""
    one = single(kind)
    summary = _run(script, 2, tmp_path / "two", kind)
    assert summary["world_size"] == 2 and summary["steps"] == 8
    # every parameter reaches the loss, so plain DDP is chosen
    assert summary["strategy"] == "ddp"
    _assert_ranks_agree(tmp_path / "two", 2)
    _assert_same_run(one, tmp_path / "two")
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    assert len(b["rng"]) == 2 and not torch.equal(b["rng"][0]["torch"], b["rng"][1]["torch"])
    assert json.loads((tmp_path / "two" / "train_config.json").read_text())["world_size"] == 2


@pytest.mark.slow
def test_vqvae_codebook_is_the_global_batchs_and_without_the_sum_the_ranks_differ(
    script: Path, single: Any, tmp_path: Path
) -> None:
    """The codebook is a buffer DDP does not average: summed statistics make every rank's the
    single process's; each rank's own (the control) gives two codebooks, neither of them it."""
    reference = torch.load(single("vqvae") / "rank0.pt", weights_only=True)
    _run(script, 2, tmp_path / "two", "vqvae")
    _run(script, 2, tmp_path / "unreduced", "vqvae-unreduced")
    for rank in (0, 1):
        summed = torch.load(tmp_path / "two" / f"rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(summed["codebook"], reference["codebook"], rtol=1e-5, atol=1e-6)
    own = [torch.load(tmp_path / "unreduced" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert (own[0]["codebook"] - own[1]["codebook"]).abs().max() > 1e-3
    for state in own:
        assert (state["codebook"] - reference["codebook"]).abs().max() > 1e-3
    traces = _traces(tmp_path / "unreduced", 2)  # the parameters still agree; the buffers not
    assert traces[0]["params"] == traces[1]["params"]
    assert all(a != b for a, b in zip(traces[0]["buffers"], traces[1]["buffers"]))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["vae-noise", "dcgan"])
def test_two_ddp_processes_with_per_rank_noise_stay_in_lockstep(
    script: Path, single: Any, tmp_path: Path, kind: str
) -> None:
    """A VAE's reparameterisation noise and a GAN's latents come from each rank's own random
    stream (seeded by seed and rank), so 2 processes draw other noise than 1 and cannot equal
    it; a DCGAN's batch norm also normalises each rank's half batch. What must hold: the ranks
    take the same steps (same parameters after every step: both players' gradients are
    averaged), on the same global batches as 1 process."""
    one = single(kind)
    summary = _run(script, 2, tmp_path / "two", kind)
    assert summary["world_size"] == 2 and summary["steps"] == 8
    # batch-norm running statistics are each rank's own until DDP broadcasts rank 0's
    _assert_ranks_agree(tmp_path / "two", 2, buffers=kind != "dcgan")
    a = torch.load(one / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    assert (a["epoch"], a["batch_in_epoch"]) == (b["epoch"], b["batch_in_epoch"])
    assert a["step"] == b["step"] == 8
    assert a["model"].keys() == b["model"].keys()
    changed = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert changed  # the noise differs (if this fails, it no longer does: test equality)
    final = [torch.load(tmp_path / "two" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in final[0].items():
        if "running" not in key and "num_batches" not in key:
            assert torch.equal(value, final[1][key]), key
    rows = _rows(tmp_path / "two")
    assert len(rows) == 8 and all(float(r["loss"]) == float(r["loss"]) for r in rows)


@pytest.mark.slow
def test_two_nodes_by_torchrun_match_one_process(script: Path, single: Any, tmp_path: Path):
    """2 machines x 1 process, started by torchrun (static rendezvous on 127.0.0.1): Fabric
    takes the ranks from torchrun and launches nothing itself; the run equals 1 process."""
    one = single("gated")
    summary = _run_nodes(script, 2, tmp_path / "nodes")
    assert summary["world_size"] == 2 and summary["strategy"] == "ddp"
    traces = _traces(tmp_path / "nodes", 2)
    assert len({t["pid"] for t in traces}) == 2
    _assert_ranks_agree(tmp_path / "nodes", 2)
    _assert_same_run(one, tmp_path / "nodes")
    saved = json.loads((tmp_path / "nodes" / "train_config.json").read_text())
    assert saved["world_size"] == 2 and saved["train_config"]["num_nodes"] == 2


def test_more_than_one_machine_needs_a_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith(("SLURM_", "TORCHELASTIC"))]:
        monkeypatch.delenv(name)
    assert external_launcher() is None
    check_cluster(TrainConfig(devices=4))  # one machine: Fabric launches its processes
    with pytest.raises(ConfigError, match="--num-nodes 2 needs a launcher") as error:
        check_cluster(TrainConfig(num_nodes=2, devices=3))
    assert "torchrun --nnodes 2 --nproc-per-node 3 --node-rank R" in str(error.value)
    assert "srun" in str(error.value)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    assert external_launcher() == "torchrun"
    check_cluster(TrainConfig(num_nodes=2))
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    assert external_launcher() == "slurm"
    monkeypatch.setenv("SLURM_JOB_NAME", "interactive")  # Lightning's opt-out of SLURM
    assert external_launcher() is None


def test_train_refuses_two_nodes_without_a_launcher_before_writing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [k for k in os.environ if k.startswith(("SLURM_", "TORCHELASTIC"))]:
        monkeypatch.delenv(name)
    data = subset(genzoo.load_dataset("digits"), 20, 4)
    config = TrainConfig(steps=1, batch_size=4, num_nodes=2, accelerator="cpu", precision="32")
    with pytest.raises(ConfigError, match="torchrun"):
        genzoo.training.train(tiny_gated(data), data, config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
