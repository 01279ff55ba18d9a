"""build_report on two real tiny runs: the numbers it shows are the runs', its images exist and
travel with it, hostile names are escaped, and runs on different test images are refused."""

from __future__ import annotations

import html.parser
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from genzoo.core.metrics import Estimate, ParzenEstimate, RunMetrics
from genzoo.core.run import RunFolder
from genzoo.errors import ConfigError
from genzoo.evaluation.comparison import density_comparison
from genzoo.report import build_report, metric_rows, read_card


class _Page(html.parser.HTMLParser):
    """The parts of a page the tests look at: image sources, comparison rows, text, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows = 0
        self.scripts = 0
        self.links: list[str] = []
        self.text: list[str] = []
        self._table = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        if tag == "script":
            self.scripts += 1
        if tag == "link":
            self.links.append(a.get("href", ""))
        if tag == "table" and a.get("id") == "comparison-table":
            self._table = True
        if tag == "tr" and self._table and a.get("class") == "run-row":
            self.rows += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = False

    def handle_data(self, data):
        self.text.append(data)


def parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def report(two_runs, tmp_path_factory):
    return build_report(two_runs, tmp_path_factory.mktemp("report") / "out")


def test_one_row_per_run_and_numbers_are_the_runs(report, two_runs):
    page = parse(report)
    assert page.rows == 2
    assert page.scripts == 0 and page.links == []  # nothing to fetch, nothing to run
    summary = json.loads((report.parent / "report.json").read_text())
    expected = {r["run"]: r for r in density_comparison([str(d) for d in two_runs])["rows"]}
    assert len(summary["runs"]) == 2
    for run in summary["runs"]:
        # the same number `genzoo compare` prints, shown on the page with 4 decimals
        assert run["bits_per_dim"] == expected[run["run"]]["bits_per_dim"]
        assert f"{run['bits_per_dim']:.4f}" in "".join(page.text)
        metrics = RunFolder(run["run"]).read_metrics()
        assert run["fid"] == metrics.sample_quality.samples.fid
        assert run["fid_floor"] == metrics.sample_quality.floor.fid
    # 32 samples < a KID subset of 1,000: every subset is all images, no spread to show
    assert "all images (one subset)" in "".join(page.text)
    families = [r["family"] for r in summary["runs"]]
    assert families == ["tractable", "approximate"]  # the taxonomy's order
    pixelcnn = summary["runs"][0]
    assert RunFolder(pixelcnn["run"]).read_metrics().test.bits_per_dim == pixelcnn["bits_per_dim"]


def test_every_image_is_a_png_inside_the_report(report):
    page = parse(report)
    # 2 runs x (curves, samples, completion) + the VAE's reconstructions + 2 comparison plots
    assert len(page.images) == 2 * 3 + 1 + 2
    for src in page.images:
        assert not src.startswith(("/", "http:", "https:", "file:")) and ".." not in src
        with Image.open(report.parent / src) as image:
            assert image.format == "PNG" and image.size[0] > 0


def test_run_figures_are_copied_byte_for_byte(report, two_runs):
    vae = RunFolder(two_runs[1])
    copied = report.parent / "img" / "01-vae-run-reconstruction.png"
    assert copied.read_bytes() == vae.figure(vae.RECONSTRUCTION_PNG).read_bytes()


def test_card_reads_the_runs_records(two_runs):
    card = read_card(two_runs[0])
    facts = dict(card.facts)
    assert card.model == "gated_pixelcnn" and card.family == "tractable"
    assert "Conditional Image Generation with PixelCNN Decoders" in facts["paper"]
    assert facts["budget"].startswith("12 steps; spent 12 steps")
    assert card.seed == 0 and facts["seed"] == "0"
    assert card.eval_label.startswith("validation (100 held-out")
    import genzoo

    model = genzoo.load_model(two_runs[0])
    assert card.parameters == sum(p.numel() for p in model.parameters())
    assert card.curves.last("step") == 12
    assert card.curves.points("step", "eval_loss")[0] == [4.0, 8.0, 12.0]


def test_moved_report_still_finds_its_images(report, tmp_path):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(report.parent, moved)
    for src in parse(moved / "index.html").images:
        assert (moved / src).is_file()


def test_embedded_report_is_one_file(two_runs, tmp_path):
    index = build_report(two_runs, tmp_path / "embedded", embed=True)
    assert sorted(p.name for p in index.parent.iterdir()) == ["index.html", "report.json"]
    images = parse(index).images
    assert len(images) == 9 and all(s.startswith("data:image/png;base64,") for s in images)


def test_hostile_run_name_is_escaped(two_runs, tmp_path):
    name = '<script>alert("x")<img src=x onerror=alert(1)>&\'$\\frac'  # no "/": one folder
    hostile = tmp_path / name
    shutil.copytree(two_runs[0], hostile)
    index = build_report([hostile], tmp_path / "out")
    text = index.read_text()
    assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;img src=x onerror=alert(1)&gt;&amp;&#39;" in text
    page = parse(index)
    assert page.scripts == 0 and name in "".join(page.text)  # shown as text, not run


def test_runs_on_different_test_images_are_refused(two_runs, tmp_path):
    other = tmp_path / "other-test-images"
    shutil.copytree(two_runs[1], other)
    run = RunFolder(other)
    metrics = run.read_metrics()
    metrics.test_sha256 = "0" * 64  # same dataset name, levels and size; other images
    run.write_metrics(metrics)
    out = tmp_path / "refused"
    with pytest.raises(ConfigError) as caught:
        build_report([two_runs[0], other], out)
    message = str(caught.value)
    assert "\n" not in message and "test_sha256" in message and str(other) in message
    assert not out.exists()  # nothing written


def test_out_folder_that_is_not_a_report_is_kept(two_runs, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a genzoo report"):
        build_report(two_runs, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="holds the run"):
        build_report(two_runs, two_runs[0].parent)
    with pytest.raises(ConfigError, match="twice"):
        build_report([two_runs[0], two_runs[0]], tmp_path / "twice")


def test_a_report_replaces_an_earlier_report(two_runs, tmp_path):
    first = build_report(two_runs, tmp_path / "r")
    stale = first.parent / "img" / "stale.png"
    stale.write_bytes(b"")
    second = build_report(two_runs[:1], tmp_path / "r")
    assert parse(second).rows == 1 and not stale.exists()


def _metrics(**fields) -> RunMetrics:
    base = {"model": "m", "dataset": "d", "levels": 2, "shape": [1, 2, 2]}
    base |= {"num_test_images": 10, "density": "exact", "uniform_bits_per_dim": 1.0}
    return RunMetrics(**(base | fields))


def test_metrics_are_labelled_with_their_kind():
    exact = _metrics(test=Estimate(2.0, 0.75, 10, 0.1, 0.0375, density="exact"))
    rows = metric_rows(exact)
    assert [(r.quantity, r.kind) for r in rows] == [
        ("test negative log-likelihood", "exact"),
        ("uniform distribution", "exact"),
    ]
    assert rows[0].value == "0.7500 ± 0.0375 bits/dim (2.00 ± 0.10 nats/image)"
    parzen = ParzenEstimate(-12.5, 0.25, 10, 100, 0.2, True, 5)
    rows = metric_rows(_metrics(density="none", parzen=parzen))
    assert [r.kind for r in rows] == ["estimate"]
    assert "edge of the grid" in rows[0].note and "not comparable" in rows[0].note
    passed = Estimate(2.0, 0.75, 10, density="estimate", checks={"ais": {"passed": True}})
    row = metric_rows(_metrics(density="estimate", test=passed))[0]
    assert row.kind == "estimate" and row.value.startswith("0.7500 bits/dim")  # no s.e.
    assert row.note == ""
    failed = Estimate(2.0, 0.75, 10, density="estimate", checks={"ais": {"passed": False}})
    row = metric_rows(_metrics(density="estimate", test=failed))[0]
    assert row.kind == "estimate" and row.value == "invalid"  # not shown as a likelihood
    assert row.note == "not a likelihood: failed the check ais"


def test_an_invalid_estimate_has_no_number_in_the_comparison(two_runs, tmp_path):
    """A run whose estimate failed a check: "invalid" in the table, no point in the figures."""
    runs = []
    for i, source in enumerate(two_runs):
        runs.append(tmp_path / f"run{i}")
        shutil.copytree(source, runs[-1])
    folder = RunFolder(runs[0])
    metrics = folder.read_metrics()
    metrics.test.checks = {"log_z_lower_bound": {"passed": False, "margin": -3.0}}
    folder.write_metrics(metrics)
    index = build_report(runs, tmp_path / "out")
    summary = json.loads((index.parent / "report.json").read_text())
    shown = {Path(r["run"]).name: r for r in summary["runs"]}
    assert shown["run0"]["bits_per_dim"] is None
    assert shown["run0"]["failed_checks"] == ["log_z_lower_bound"]
    assert shown["run1"]["bits_per_dim"] is not None and shown["run1"]["failed_checks"] == []
    page = index.read_text(encoding="utf-8")
    assert page.count('<span class="invalid"') == 1
    assert f"{metrics.test.bits_per_dim:.4f}" not in "".join(parse(index).text)
    original = build_report(two_runs, tmp_path / "original").read_text(encoding="utf-8")
    assert '<span class="invalid"' not in original  # negative control
