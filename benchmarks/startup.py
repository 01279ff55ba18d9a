"""Start-up time: wall seconds from launching a process to its exit, median of N runs.

Each command runs in a fresh interpreter (``PYTHONPATH`` = this checkout's ``src``), one untimed
run first (disk cache), then ``--runs`` timed rounds in which the commands take turns, so that a
slow spell of the machine falls on every command alike:

* ``genzoo --version`` and ``genzoo --help``, run as the ``genzoo`` console script runs them
  (``from genzoo.cli.main import main; sys.exit(main())``) — target under 1 s;
* ``python -c "import genzoo"`` — target under 1.5 s;
* ``python -c "from genzoo import create_model, load_dataset"``: the library ready to build a
  model (torch and the models, no evaluation, no Lightning Fabric);
* ``python -c "import torch"`` (the floor of anything that runs a model) and ``python -c pass``
  (the interpreter's own).

Each row also says whether the command imports torch (one extra run under ``-X importtime``).
Run it on a quiet machine (nothing else running: a second process on a 2-core machine doubles
these numbers):

    python benchmarks/startup.py                     # 10 rounds -> benchmarks/results/startup.json
    python benchmarks/startup.py --quick             # 2 rounds, printed only (a smoke run)

``--machine KEY`` records a machine of ``docs/gen/provenance.json`` (default: a description read
from this machine). The benchmark asserts nothing; tests/cli/test_startup.py checks which modules
each command loads.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONSOLE = "import sys; from genzoo.cli.main import main; sys.exit(main())"

#: (label, arguments after the interpreter, target seconds or None)
COMMANDS: tuple[tuple[str, list[str], float | None], ...] = (
    ("genzoo --version", ["-c", CONSOLE, "--version"], 1.0),
    ("genzoo --help", ["-c", CONSOLE, "--help"], 1.0),
    ('python -c "import genzoo"', ["-c", "import genzoo"], 1.5),
    (
        'python -c "from genzoo import create_model, load_dataset"',
        ["-c", "from genzoo import create_model, load_dataset"],
        None,
    ),
    ('python -c "import torch"', ["-c", "import torch"], None),
    ("python -c pass", ["-c", "pass"], None),
)


def child_env() -> dict[str, str]:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PYTHONPATH": src + (os.pathsep + path if path else ""),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def wall_seconds(args: list[str], env: dict[str, str]) -> float:
    """Seconds from start to exit of ``python ARGS`` (output discarded; a failure stops)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} failed: {proc.stderr.decode()[-2000:]}")
    return seconds


def imports_torch(args: list[str], env: dict[str, str]) -> bool:
    """Whether ``python ARGS`` imports torch (read from ``-X importtime``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], env=env,
                          capture_output=True, text=True)  # fmt: skip
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in proc.stderr.splitlines())


def machine_description() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="timed rounds (default: 10)")
    parser.add_argument("--quick", action="store_true", help="2 rounds, printed, not written")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--machine", default=None, help="a machine key of provenance.json")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 10)
    out = args.json or (None if args.quick else RESULTS / "startup.json")
    env = child_env()
    times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    for _, argv, _ in COMMANDS:  # untimed: fill the disk cache
        wall_seconds(argv, env)
    for _ in range(runs):
        for label, argv, _ in COMMANDS:
            times[label].append(wall_seconds(argv, env))
    rows = []
    for label, argv, target in COMMANDS:
        median = statistics.median(times[label])
        row = {
            "command": label,
            "median_seconds": round(median, 3),
            "min_seconds": round(min(times[label]), 3),
            "seconds": [round(t, 3) for t in times[label]],
            "target_seconds": target,
            "met": None if target is None else median < target,
            "imports_torch": imports_torch(argv, env),
        }
        rows.append(row)
        met = (
            ""
            if target is None
            else f"  (target < {target} s: {'met' if row['met'] else 'NOT met'})"
        )
        print(f"{label:60s} median {median:6.3f} s  min {row['min_seconds']:6.3f} s{met}")
    if out is None:
        return
    import torch  # after the timing: only the metadata needs it

    command = "python benchmarks/startup.py" + (f" --runs {runs}" if args.runs else "")
    payload = {
        "meta": {
            "command": command,
            "date": datetime.date.today().isoformat(),
            "threads": 1,
            "runs": runs,
            "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "python": platform.python_version(),
            "machine_description": args.machine or machine_description(),
        },
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
