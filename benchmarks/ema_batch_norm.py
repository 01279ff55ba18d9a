"""Does re-estimating the EMA weights' batch-norm statistics change a DCGAN's FID?

Trains a ``dcgan`` on digits for a fixed number of steps (``genzoo train``, EMA on), then scores
three versions of it with the same feature network and counts (297 samples vs the 297 test
images, two sample seeds): the raw weights, the averaged weights with the raw networks' copied
batch-norm statistics (what the engine did before), and the saved model (averaged weights with
statistics re-estimated for them, :func:`genzoo.training.ema.refresh_batch_norm`).

    OMP_NUM_THREADS=1 python benchmarks/ema_batch_norm.py            # ~1 minute
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
from pathlib import Path

import torch

import genzoo
from genzoo.core.run import RunFolder
from genzoo.evaluation import evaluate_sample_quality, feature_network

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = ROOT / "runs" / "bench-ema-batch-norm"
    RunFolder(out).remove()
    cmd = ["genzoo", "train", "dcgan", "--data", "digits", "--steps", str(args.steps), "--seed",
           "0", "--eval-every", "0", "--no-sample-quality", "--out", str(out)]  # fmt: skip
    subprocess.run([str(ROOT / ".venv" / "bin" / cmd[0]), *cmd[1:]], check=True)
    data = genzoo.load_dataset("digits")
    net = feature_network(data)
    saved = genzoo.load_model(out)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    raw = copy.deepcopy(saved)
    raw.load_state_dict(state["model"])
    copied = copy.deepcopy(saved)  # averaged weights, the raw networks' statistics
    weights = copied.state_dict()
    weights.update({k: v for k, v in state["model"].items() if "running_" in k or "batches" in k})
    copied.load_state_dict(weights)
    rows = {}
    for name, model in [("raw weights", raw), ("EMA, copied statistics", copied),
                        ("EMA, re-estimated statistics", saved)]:  # fmt: skip
        for seed in (0, 1):
            s = evaluate_sample_quality(model.eval(), data, features=net, seed=seed)["samples"]
            rows.setdefault(name, []).append({k: round(s[k], 3) for k in ("fid", "precision")})
    payload = {"command": "OMP_NUM_THREADS=1 " + " ".join(cmd).replace(str(ROOT) + "/", ""),
               "feature_network": net.info["key"], "results": rows}  # fmt: skip
    (RESULTS / "ema-batch-norm.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
