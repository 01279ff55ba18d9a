"""``genzoo zoo`` and ``genzoo report`` end to end: exit codes, the files, one-line refusals."""

from __future__ import annotations

import shutil

import pytest

from genzoo.cli.main import main
from genzoo.core.run import RunFolder

MODELS = ("mixture_categorical", "dcgan")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-zoo") / "zoo"
    code = main(
        [
            "zoo",
            "--models",
            ",".join(MODELS),
            "--steps-per-model",
            "3",
            "--minutes-per-model",
            "0",
            "--validation",
            "100",
            "--quality-samples",
            "32",
            "--num-samples",
            "16",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_zoo_writes_runs_and_report(zoo, capsys):
    assert (zoo / "report" / "index.html").is_file()
    for model in MODELS:
        assert RunFolder(zoo / model).read_metrics().model == model


def test_report_command(zoo, tmp_path, capsys):
    runs = [str(zoo / m) for m in MODELS]
    assert main(["report", *runs, "--out", str(tmp_path / "r"), "--embed", "--title", "t<>"]) == 0
    index = tmp_path / "r" / "index.html"
    assert capsys.readouterr().out.strip() == f"wrote {index}"
    assert "<title>t&lt;&gt;</title>" in index.read_text()


def test_report_refuses_other_test_images_in_one_line(zoo, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(zoo / "dcgan", other)
    run = RunFolder(other)
    metrics = run.read_metrics()
    metrics.test_sha256 = "f" * 64
    run.write_metrics(metrics)
    assert (
        main(["report", str(zoo / "mixture_categorical"), str(other), "--out", str(tmp_path / "r")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error:") and "\n" not in err and "test_sha256" in err
    assert not (tmp_path / "r").exists()


def test_zoo_refuses_an_unknown_model(tmp_path, capsys):
    assert main(["zoo", "--models", "nope", "--out", str(tmp_path / "z")]) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "z").exists()
