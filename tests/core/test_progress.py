"""Progress bars: on in a terminal, off in logs; the switch and the environment override it."""

from __future__ import annotations

import io

import pytest

from genzoo.cli.main import build_parser
from genzoo.core import progress as P


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    monkeypatch.delenv("GENZOO_PROGRESS", raising=False)
    P.set_progress(None)  # an earlier test's `main([..., "--progress"])` leaves the switch set
    yield
    P.set_progress(None)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_follows_the_terminal(monkeypatch):
    monkeypatch.setattr(P.sys, "stderr", io.StringIO())
    assert not P.progress_enabled()
    monkeypatch.setattr(P.sys, "stderr", _Terminal())
    assert P.progress_enabled()


def test_switch_and_environment_override(monkeypatch):
    monkeypatch.setattr(P.sys, "stderr", _Terminal())
    P.set_progress(False)
    assert not P.progress_enabled()
    monkeypatch.setenv("GENZOO_PROGRESS", "1")
    assert P.progress_enabled()  # the environment wins
    monkeypatch.setenv("GENZOO_PROGRESS", "0")
    P.set_progress(True)
    assert not P.progress_enabled()


def test_a_bar_draws_only_when_enabled(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(P.sys, "stderr", out)
    P.set_progress(False)
    with P.progress(10, "quiet") as bar:
        bar.update(10)
    assert out.getvalue() == ""
    P.set_progress(True)
    with P.progress(10, "shown", unit="image") as bar:
        bar.update(10)
    assert "shown" in out.getvalue() and "image" in out.getvalue()


@pytest.mark.parametrize("command", ["eval", "sample", "datasets", "compare"])
def test_every_command_takes_the_progress_switch(command):
    argv = {"eval": ["eval", "r"], "sample": ["sample", "r", "--out", "x.png"],
            "datasets": ["datasets"], "compare": ["compare", "r"]}[command]  # fmt: skip
    assert build_parser(argv).parse_args([*argv, "--no-progress"]).progress is False
    assert build_parser(argv).parse_args(argv).progress is None


def test_slow_autoregressive_draws_show_a_bar_and_quick_ones_do_not(monkeypatch):
    """Naive sampling (a network pass per sub-pixel) shows a bar once it has run
    ``SAMPLING_BAR_DELAY`` seconds in a terminal; a quick draw never flashes one, and the bar
    does not change the images."""
    import torch

    from genzoo.models.autoregressive import base
    from tests.models.tiny import tiny_model

    model = tiny_model("pixelcnn", (1, 4, 4), levels=3).float()
    terminal = _Terminal()
    monkeypatch.setattr(P.sys, "stderr", terminal)
    quick = model.sample(2, generator=torch.Generator().manual_seed(0), method="naive")
    assert terminal.getvalue() == ""  # well under the delay
    monkeypatch.setattr(base, "SAMPLING_BAR_DELAY", 0.0)
    shown = model.sample(2, generator=torch.Generator().manual_seed(0), method="naive")
    assert "naive sampling of 2 images" in terminal.getvalue()
    assert "/16 [" in terminal.getvalue() and "sub-pixel/s" in terminal.getvalue()
    assert torch.equal(quick, shown)
