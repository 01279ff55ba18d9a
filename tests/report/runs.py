"""Tiny real runs for the report's tests: trained by the command line, a few steps each."""

from __future__ import annotations

from pathlib import Path

from genzoo.cli.main import main

#: a few steps, a validation split for the curves and sample quality on 32 samples
COMMON = [
    "--data",
    "digits",
    "--steps",
    "12",
    "--log-every",
    "2",
    "--eval-every",
    "4",
    "--validation",
    "100",
    "--batch-size",
    "32",
    "--sample-quality",
    "--quality-samples",
    "32",
    "--num-samples",
    "16",
    "--num-completions",
    "4",
    "--precision",
    "32",
]
TINY = {
    "gated_pixelcnn": ["--channels", "8", "--num-layers", "2", "--head-channels", "8"],
    "vae": [
        "--latent-dim",
        "4",
        "--channels",
        "8",
        "--hidden",
        "32",
        "--iwae-k",
        "4",
        "--iwae-images",
        "0",
    ],
}


def train_run(out: Path, model: str) -> Path:
    """Train ``model`` tiny on digits into ``out`` with ``genzoo train``; return ``out``."""
    code = main(["train", model, *COMMON, *TINY[model], "--out", str(out)])
    if code != 0:
        raise RuntimeError(f"genzoo train {model} exited {code}")
    return out
