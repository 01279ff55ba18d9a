"""genzoo.core.run.RunFolder: a run's file names, its JSON files and its one-writer lock.

The lock is tested against REAL second processes (a Python subprocess taking the lock of the
same folder), because what it guards against is another process, not another call.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genzoo.core import run as run_module
from genzoo.core.metrics import RunMetrics
from genzoo.core.run import RunFolder
from genzoo.errors import GenzooError, ModelError, StorageError, TrainingError

SRC = Path(run_module.__file__).resolve().parents[2]  # the src/ this genzoo was imported from

#: a child process that takes the lock of a folder and reports: exit 0 = took it (and held it
#: HOLD seconds), 3 = refused (the message on stdout); it imports only genzoo.core.run
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from genzoo.core.run import RunFolder
    from genzoo.errors import TrainingError
    folder, hold, go = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    if go != "-":  # a start line for several children at once
        print("ready", flush=True)
        while not Path(go).exists():
            time.sleep(0.001)
    try:
        with RunFolder(folder).lock():
            print("held", os.getpid(), flush=True)
            time.sleep(hold)
    except TrainingError as exc:
        print("refused", exc, flush=True)
        sys.exit(3)
    """
)


def child(folder: Path, hold: float = 0.0, go: Path | None = None) -> subprocess.Popen:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), str(hold), str(go or "-")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode in (0, 3), err  # anything else is a crash of the child
    return proc.returncode, out.strip()


def dead_pid() -> int:
    """The pid of a process that has finished (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------------------------------------
# paths
def test_paths(tmp_path: Path):
    run = RunFolder(tmp_path / "r")
    assert run.path == tmp_path / "r" and os.fspath(run) == str(tmp_path / "r")
    names = {
        "checkpoint": "checkpoint.pt",
        "model_config": "config.json",
        "weights": "model.safetensors",
        "train_config": "train_config.json",
        "data_spec": "data.json",
        "metrics_csv": "metrics.csv",
        "metrics_json": "metrics.json",
        "tensorboard": "tb",
    }
    for attribute, name in names.items():
        assert getattr(run, attribute) == tmp_path / "r" / name, attribute
    assert run.figure("samples.png") == tmp_path / "r" / "samples.png"
    assert not (tmp_path / "r").exists()  # nothing is created until asked


def test_evaluation_folder(tmp_path: Path):
    run = RunFolder(tmp_path)
    other = run.evaluation("fashion-mnist")
    assert isinstance(other, RunFolder)
    assert other.path == tmp_path / "evaluations" / "fashion-mnist"
    assert other.metrics_json == tmp_path / "evaluations" / "fashion-mnist" / "metrics.json"


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "/abs", "../escape", "a/"])
def test_evaluation_refuses_names_that_leave_the_folder(tmp_path: Path, name: str):
    with pytest.raises(GenzooError, match="plain folder name"):
        RunFolder(tmp_path).evaluation(name)


def test_holds_run_and_model(tmp_path: Path):
    run = RunFolder(tmp_path)
    assert not run.holds_run() and not run.holds_model()
    run.checkpoint.write_bytes(b"")
    assert run.holds_run() and not run.holds_model()
    run.checkpoint.unlink()
    run.model_config.write_text("{}")
    assert run.holds_run() and not run.holds_model()  # weights missing
    run.weights.write_bytes(b"")
    assert run.holds_model()


# ---------------------------------------------------------------------------------------------
# JSON files
def test_read_json_round_trip_and_data_spec(tmp_path: Path):
    run = RunFolder(tmp_path / "r")
    assert run.read_data_spec() is None  # not recorded: None, not an error
    spec = {"name": "digits", "levels": None, "root": None, "size": None}
    run.write_data_spec(spec)
    assert run.read_data_spec() == spec
    run.train_config.write_text(json.dumps({"model": "vae"}))
    assert run.read_train_config() == {"model": "vae"}


def test_read_json_missing_file(tmp_path: Path):
    with pytest.raises(ModelError) as info:
        RunFolder(tmp_path).read_train_config()
    assert str(info.value) == (f"{tmp_path} has no train_config.json; is it a genzoo run folder?")


@pytest.mark.parametrize("data", [b"{", b"", b"\xff\xfe garbage", b"[1, 2]", b"3", b"null"])
def test_read_json_damaged_file(tmp_path: Path, data: bytes):
    run = RunFolder(tmp_path)
    run.train_config.write_bytes(data)
    with pytest.raises(ModelError) as info:
        run.read_train_config()
    message = str(info.value)
    assert str(run.train_config) in message and "damaged" in message and "restore" in message
    assert "\n" not in message


def test_read_json_of_a_directory(tmp_path: Path):
    run = RunFolder(tmp_path)
    run.train_config.mkdir()
    with pytest.raises(ModelError, match="damaged"):
        run.read_train_config()


def test_write_and_read_metrics(tmp_path: Path):
    run = RunFolder(tmp_path / "r")
    metrics = RunMetrics(
        model="m", dataset="d", levels=2, shape=[1, 2, 2], num_test_images=3,
        density="exact", uniform_bits_per_dim=1.0, extras={"x": 1},
    )  # fmt: skip
    run.write_metrics(metrics)
    assert run.read_metrics() == metrics
    run.metrics_json.write_text("{")
    with pytest.raises(ModelError, match=r"metrics\.json"):
        run.read_metrics()


# ---------------------------------------------------------------------------------------------
# the lock
def test_lock_names_this_process_and_is_removed_on_exit(tmp_path: Path):
    run = RunFolder(tmp_path / "r")
    lock = run.path / RunFolder.LOCK
    with run.lock():
        owner = json.loads(lock.read_text())
        assert owner == {"pid": os.getpid(), "host": socket.gethostname()}
    assert not lock.exists()
    assert sorted(p.name for p in run.path.iterdir()) == []  # no temporary left either


def test_lock_is_removed_when_the_body_raises(tmp_path: Path):
    run = RunFolder(tmp_path)
    with pytest.raises(KeyError), run.lock():
        raise KeyError("boom")
    assert not (tmp_path / RunFolder.LOCK).exists()
    with run.lock():  # and can be taken again
        pass


def test_second_lock_in_the_same_process_refuses(tmp_path: Path):
    run = RunFolder(tmp_path)
    with run.lock(), pytest.raises(TrainingError, match=f"process {os.getpid()}"):
        with RunFolder(tmp_path).lock():
            pass


def test_a_second_process_is_refused_naming_the_owner(tmp_path: Path):
    run = RunFolder(tmp_path)
    with run.lock():
        code, out = finish(child(tmp_path))
        assert code == 3, out
        assert out.startswith("refused")
        assert f"process {os.getpid()} on {socket.gethostname()}" in out
        assert str(tmp_path) in out and "--out" in out
        assert (tmp_path / RunFolder.LOCK).exists()  # the refused process left ours alone
    # negative control: once released, the same child takes it
    code, out = finish(child(tmp_path))
    assert code == 0 and out.startswith("held"), out


def test_the_holder_is_a_second_process_and_we_are_refused(tmp_path: Path):
    proc = child(tmp_path, hold=60)
    try:
        line = proc.stdout.readline().split()  # wait until it holds the lock
        assert line[:1] == ["held"], line
        pid = int(line[1])
        with pytest.raises(TrainingError, match=f"process {pid} on"), RunFolder(tmp_path).lock():
            pass
    finally:
        proc.kill()
        proc.wait()
    # it was killed (kill -9: no clean-up ran): its lock is stale now and is taken over
    assert json.loads((tmp_path / RunFolder.LOCK).read_text())["pid"] == pid
    with RunFolder(tmp_path).lock():
        assert json.loads((tmp_path / RunFolder.LOCK).read_text())["pid"] == os.getpid()


def test_stale_lock_of_a_finished_process_is_taken_over(tmp_path: Path):
    lock = tmp_path / RunFolder.LOCK
    pid = dead_pid()
    lock.write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    with RunFolder(tmp_path).lock():
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


@pytest.mark.parametrize(
    "content", ["", "{", "[1]", '{"host": "x"}', '{"pid": "abc", "host": "x"}', '{"pid": 1}']
)
def test_unreadable_lock_is_stale(tmp_path: Path, content: str):
    """A lock without a readable owner (a crash while it was being written, damage) is taken."""
    lock = tmp_path / RunFolder.LOCK
    lock.write_text(content.replace('"x"', json.dumps(socket.gethostname())))
    with RunFolder(tmp_path).lock():
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_lock_of_another_host_is_respected(tmp_path: Path):
    lock = tmp_path / RunFolder.LOCK
    owner = {"pid": dead_pid(), "host": socket.gethostname() + "-elsewhere"}
    lock.write_text(json.dumps(owner))
    with pytest.raises(TrainingError) as info, RunFolder(tmp_path).lock():
        pass
    assert f"process {owner['pid']} on {owner['host']}" in str(info.value)
    assert json.loads(lock.read_text()) == owner  # untouched


def test_a_lock_taken_over_meanwhile_is_not_removed_by_the_old_holder(tmp_path: Path):
    lock = tmp_path / RunFolder.LOCK
    with RunFolder(tmp_path).lock():
        other = {"pid": 1, "host": "elsewhere"}
        lock.write_text(json.dumps(other))  # someone judged us stale and took the folder
    assert json.loads(lock.read_text()) == other


def test_the_lock_never_exists_without_its_owner(tmp_path: Path, monkeypatch):
    """A second process reading the lock between its creation and the writing of the owner
    found it empty, judged it stale and deleted it: two trainers in one folder. The lock must
    appear with its content in one step."""
    lock = tmp_path / RunFolder.LOCK
    seen = []
    real_dump = json.dump

    def spy(obj, handle, *args, **kwargs):
        if obj.get("pid") == os.getpid():
            seen.append(lock.exists())
        return real_dump(obj, handle, *args, **kwargs)

    monkeypatch.setattr(run_module.json, "dump", spy)
    with RunFolder(tmp_path).lock():
        pass
    assert seen and not any(seen), "the lock file was visible before its owner was written"


def test_processes_starting_together_get_one_lock(tmp_path: Path):
    go = tmp_path / "go"
    folder = tmp_path / "run"
    procs = [child(folder, hold=3.0, go=go) for _ in range(3)]
    try:
        for p in procs:  # every child has imported genzoo and waits at the start line
            assert p.stdout.readline().strip() == "ready"
    except BaseException:
        for p in procs:
            p.kill()
        raise
    go.touch()
    results = [finish(p) for p in procs]
    held = [out for code, out in results if code == 0]
    refused = [out for code, out in results if code == 3]
    assert len(held) == 1, results
    holder = held[0].split()[1]
    assert all(f"process {holder} on" in out for out in refused), results


def test_find_runs_lists_training_runs_but_not_their_evaluations(tmp_path):
    import shutil

    from genzoo.cli.main import main
    from genzoo.core.run import find_runs

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-v1"
    for name in ("gated_pixelcnn-digits", "vae-digits", "hmm-nile"):
        shutil.copytree(fixtures / name, tmp_path / "runs" / name)
    nested = tmp_path / "runs" / "vae-digits" / "evaluations" / "mnist"
    shutil.copytree(fixtures / "vae-digits", nested)  # an evaluation folder is not a run
    found = [r.path.name for r in find_runs(tmp_path / "runs")]
    assert found == ["gated_pixelcnn-digits", "vae-digits"]  # the series fit is not an image run
    assert find_runs(tmp_path / "empty-but-missing") == []
    assert main(["runs", str(tmp_path / "runs")]) == 0


def test_runs_command_prints_one_row_per_run(tmp_path, capsys):
    import shutil

    from genzoo.cli.main import main

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-v1"
    shutil.copytree(fixtures / "vae-digits", tmp_path / "v")
    assert main(["runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["run", "model", "data", "budget", "result"]
    assert len(out) == 2 and "vae" in out[1] and "bits/dim (bound)" in out[1]
    assert main(["runs", str(tmp_path / "nope")]) == 2


# ---------------------------------------------------------------------------------------------
# remove: deleting a run to train it afresh never deletes one a live process trains into
def _live_lock(folder: Path, host_suffix: str = "") -> dict:
    """A lock owned by this (live) test process, as another trainer's would be."""
    folder.mkdir(parents=True, exist_ok=True)
    owner = {"pid": os.getpid(), "host": socket.gethostname() + host_suffix}
    (folder / RunFolder.LOCK).write_text(json.dumps(owner))
    return owner


def test_remove_deletes_the_folder_and_everything_in_it(tmp_path: Path):
    run = RunFolder(tmp_path / "r")
    (run.path / "evaluations" / "x").mkdir(parents=True)
    (run.path / "model.safetensors").write_bytes(b"w")
    (run.path / "evaluations" / "x" / "metrics.json").write_text("{}")
    run.remove()
    assert not run.path.exists()
    run.remove()  # a missing folder: nothing to do


def test_remove_refuses_a_folder_a_live_process_trains_into(tmp_path: Path):
    run = RunFolder(tmp_path / "r")
    owner = _live_lock(run.path, "-elsewhere")  # another host: assumed alive
    (run.path / "checkpoint.pt").write_bytes(b"c")
    with pytest.raises(TrainingError, match="being trained into"):
        run.remove()
    assert (run.path / "checkpoint.pt").read_bytes() == b"c"
    assert json.loads((run.path / RunFolder.LOCK).read_text()) == owner


def test_remove_refuses_a_parent_of_a_live_run_and_deletes_nothing(tmp_path: Path):
    parent = RunFolder(tmp_path / "zoo")
    (parent.path / "done").mkdir(parents=True)
    (parent.path / "done" / "model.safetensors").write_bytes(b"w")
    _live_lock(parent.path / "training")  # this process is alive
    with pytest.raises(TrainingError, match=f"process {os.getpid()}.*training"):
        parent.remove()
    assert (parent.path / "done" / "model.safetensors").exists()
    assert not (parent.path / RunFolder.LOCK).exists()  # our own lock was released
    # negative control: once the nested run's owner is gone, the parent is deleted
    (parent.path / "training" / RunFolder.LOCK).write_text(
        json.dumps({"pid": dead_pid(), "host": socket.gethostname()})
    )
    parent.remove()
    assert not parent.path.exists()


def test_remove_of_a_file_refuses(tmp_path: Path):
    path = tmp_path / "f"
    path.write_text("keep")
    with pytest.raises(StorageError, match="is a file"):
        RunFolder(path).remove()
    assert path.read_text() == "keep"
