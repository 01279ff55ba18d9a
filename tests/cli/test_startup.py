"""Start-up: ``import genzoo`` loads no heavy library, ``genzoo --version`` and ``--help`` load
no torch, and the lazy top-level parser lists every command with the help its module registers.

Module sets, not timings (benchmarks/startup.py times them): each check runs in a fresh
interpreter and reads ``sys.modules``, so an eager import added anywhere fails here."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genzoo.cli.main import COMMANDS, ArgumentParser, build_parser, command_name

SRC = Path(__file__).resolve().parents[2] / "src"
#: libraries that take most of a second or more to import and that no command needs to start
HEAVY = {"lightning_fabric", "lightning", "sklearn", "scipy", "skimage", "matplotlib", "pandas"}


def loaded_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after ``code`` runs in a fresh interpreter
    (a ``SystemExit`` from argparse's ``--version``/``--help`` is part of the run)."""
    script = (
        "import sys, json\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_the_probe_sees_what_an_import_loads():  # negative control: the check can fail
    assert "sklearn" in loaded_after("import sklearn.datasets")
    assert "torch" in loaded_after("import genzoo.models")


def test_import_genzoo_loads_no_heavy_library_and_no_torch():
    assert loaded_after("import genzoo") & (HEAVY | {"torch"}) == set()


@pytest.mark.parametrize(
    "code",
    [
        "from genzoo import create_model, load_dataset, Dataset, available_models",
        "import genzoo; genzoo.apps.complete; genzoo.evaluation.evaluate_run",
        "from genzoo.training import TrainConfig, BatchOrder",
    ],
)
def test_the_library_loads_heavy_libraries_only_when_used(code):
    loaded = loaded_after(code)
    assert "torch" in loaded or "TrainConfig" in code  # the models need torch
    assert loaded & HEAVY == set(), loaded & HEAVY


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_version_and_help_load_no_torch(argv):
    loaded = loaded_after(f"from genzoo.cli.main import main\nmain({argv!r})")
    assert "genzoo" in loaded and "argparse" in loaded
    assert loaded & (HEAVY | {"torch", "numpy"}) == set()


def test_a_commands_own_help_still_imports_it():
    assert "torch" in loaded_after("from genzoo.cli.main import main\nmain(['eval', '--help'])")


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_the_table_help_is_what_the_module_registers(command):
    sub = ArgumentParser(prog="genzoo").add_subparsers(parser_class=ArgumentParser)
    module = importlib.import_module(f"genzoo.cli.{command.module}")
    if command.name == "train":
        module.register(sub, ["train"])
    else:
        module.register(sub)
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {command.name: command.help}


def test_the_lazy_parser_lists_the_same_commands_as_the_full_one():
    assert build_parser(lazy=True).format_help() == build_parser().format_help()
    assert [c.name for c in COMMANDS] == list(_subparsers(build_parser()).choices)


def test_the_lazy_parser_builds_the_command_used_in_full():
    argv = ["train", "pixel_independent", "--data", "digits"]
    args = build_parser(argv, lazy=True).parse_args(argv)
    assert args.model == "pixel_independent" and callable(args.run)
    argv = ["train", "gated_pixelcnn", "--help"]  # `genzoo train MODEL --help`: the model's flags
    train = _subparsers(build_parser(argv, lazy=True)).choices["train"].format_help()
    assert "gated_pixelcnn hyper-parameters" in train and "--channels" in train
    parsers = _subparsers(build_parser(["eval", "r"], lazy=True)).choices
    assert "--sample-quality" in parsers["eval"].format_help()
    assert "--sample-quality" not in parsers["sample"].format_help()  # a stub: name and help


def test_command_name_is_the_first_word_that_is_not_an_option():
    assert command_name(["--progress", "eval", "run"]) == "eval"
    assert command_name(["--version"]) is None and command_name([]) is None


def test_a_mistyped_command_is_one_line_exit_2(capsys):
    from genzoo.cli.main import main

    assert main(["trian"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice: 'trian'" in err and "'train'" in err


def test_the_lazy_names_keep_the_public_api():
    import genzoo
    import genzoo.training
    from genzoo.data import load_dataset
    from genzoo.training.trainer import train

    for package in (genzoo, genzoo.training):
        assert set(package.__all__) <= set(dir(package))
        for name in package.__all__:
            assert getattr(package, name) is not None, name
    assert genzoo.load_dataset is load_dataset and genzoo.training.train is train
    assert genzoo.evaluation.__name__ == "genzoo.evaluation" and callable(genzoo.apps.complete)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        genzoo.nope
