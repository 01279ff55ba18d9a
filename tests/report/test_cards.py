"""The taxonomy, the papers and the training curves the report reads, on known answers."""

from __future__ import annotations

import math
import types

import pytest

from genzoo.errors import ModelError
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import MODELS
from genzoo.report.cards import FAMILIES, family_of, paper_of
from genzoo.report.curves import read_curves


def test_every_registered_model_has_its_family():
    # the L2 regression baseline (models/regression/) is an exactly normalised Gaussian on the
    # levels, so by its declared density it sits with the tractable models
    expected = {
        "autoregressive": "tractable",
        "vae": "approximate",
        "gan": "implicit",
        "regression": "tractable",
    }
    for name, cls in MODELS.items():
        folder = cls.__module__.split(".")[2]
        family = family_of(cls)
        assert family in FAMILIES, name
        if folder == "classic":
            assert family == "classic", name
        else:
            assert family == expected[folder], (name, cls.density)


def _fake(module: str, density: str, paper: str = "") -> type:
    return type(
        "Fake", (GenerativeModel,), {"__module__": module, "density": density, "paper": paper}
    )


def test_family_follows_the_declaration_outside_classic():
    # a plug-in is placed by its declared density; a classic model by its folder whatever it is
    assert family_of(_fake("plugin.flows", "exact")) == "tractable"
    assert family_of(_fake("plugin.diffusion", "bound")) == "approximate"
    assert family_of(_fake("plugin.ebm", "estimate")) == "approximate"
    assert family_of(_fake("plugin.gan", "none")) == "implicit"
    assert family_of(_fake("genzoo.models.classic.new", "exact")) == "classic"


def test_paper_declared_or_from_the_module_docstring(monkeypatch):
    assert paper_of(_fake("x", "exact", paper="Someone 2020")) == "Someone 2020"
    module = types.ModuleType("plugin.cited")
    module.__doc__ = "Flow — Dinh, Sohl-Dickstein &\n   Bengio, ICLR 2017.\n\nDeviations: none."
    monkeypatch.setitem(__import__("sys").modules, "plugin.cited", module)
    assert paper_of(_fake("plugin.cited", "exact")) == "Dinh, Sohl-Dickstein & Bengio, ICLR 2017."
    plain = types.ModuleType("plugin.plain")
    plain.__doc__ = "A baseline with no paper.\n"
    monkeypatch.setitem(__import__("sys").modules, "plugin.plain", plain)
    assert paper_of(_fake("plugin.plain", "exact")) == ""


def test_curves_skip_empty_cells_and_weight_throughput_by_time(tmp_path):
    path = tmp_path / "metrics.csv"
    # rows out of order (a resumed run appends); 100 img/s for 1 s, then 400 img/s for 3 s
    path.write_text(
        "step,elapsed,train_seconds,images_per_s,loss,eval_loss\n"
        "20,5.0,4.0,400,1.0,0.9\n"
        "10,1.5,1.0,100,2.0,\n"
    )
    curves = read_curves(path)
    assert curves.columns["step"] == [10.0, 20.0]
    assert curves.points("step", "eval_loss") == ([20.0], [0.9])
    assert math.isnan(curves.columns["eval_loss"][0])
    assert curves.train_seconds() == 4.0
    assert curves.images_per_second() == pytest.approx((100 * 1 + 400 * 3) / 4)
    assert curves.has("eval_loss") and not curves.has("bits_per_dim")


def test_curves_of_a_missing_or_damaged_file(tmp_path):
    assert len(read_curves(tmp_path / "absent.csv")) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("step,loss\n1,not-a-number\n")
    with pytest.raises(ModelError, match="damaged"):
        read_curves(bad)
