"""Two tiny real runs (an exact likelihood and a bound) shared by the report's tests."""

from __future__ import annotations

import pytest

from tests.report.runs import train_run


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report-runs")
    return [train_run(root / "pixelcnn-run", "gated_pixelcnn"), train_run(root / "vae-run", "vae")]
