"""The docs build strictly, their generated parts are complete, and the README's table is current.

The docs site (mkdocs.yml, docs/) is built into a temporary folder with ``--strict``, so a broken
link, a missing anchor, an unresolvable API reference or a results directive without data fails
here; the generators (docs/gen/) are checked against the sources they read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "docs" / "gen"
RESULTS = ROOT / "benchmarks" / "results"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"genzoo_docs_{name}", GEN / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_results = _module("gen_results")


def test_readme_is_short_for_newcomers():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move material to docs/"


def test_readme_results_block_is_what_the_script_generates():
    text = (ROOT / "README.md").read_text()
    assert text.count("<!-- results:start -->") == 1 and text.count("<!-- results:end -->") == 1
    assert gen_results.readme_with_block(text) == text, (
        "README.md's results block is stale: run python docs/gen/gen_results.py --readme"
    )


def test_readme_block_numbers_come_from_the_results_files():
    # negative control for the check above: a hand edit of one number is caught
    text = (ROOT / "README.md").read_text()
    rows = gen_results.load("autoregressive-fashion-mnist.json")["results"]
    bpd = f"{next(r for r in rows if r['model'] == 'pixelcnn')['test_bits_per_dim']:.4f}"
    assert bpd in text
    edited = text.replace(bpd, "1.2345", 1)
    assert gen_results.readme_with_block(edited) != edited


def test_every_results_file_is_rendered_and_dated():
    files = {p.name for p in RESULTS.iterdir() if p.suffix in (".json", ".md")}
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    used = set(gen_results.DIRECTIVE.findall(pages))
    unknown = used - set(gen_results.BLOCKS)
    assert not unknown, f"directives without a generator: {sorted(unknown)}"
    rendered = "\n".join(gen_results.render(name) for name in sorted(used))
    missing = sorted(f for f in files if f"`{f}`" not in rendered)
    assert not missing, f"results files no docs page shows: {missing}"
    for name in files:  # a date and a machine for every file (from the file or provenance.json)
        date, machine = gen_results.measured(name)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) and machine


def test_every_block_opens_with_one_measured_line():
    for name in gen_results.BLOCKS:
        first = gen_results.render(name).splitlines()[0]
        assert first.startswith("*Measured") and re.search(r"\d{4}-\d{2}-\d{2}", first), name


def test_a_table_cell_equals_its_results_file():
    d = gen_results.load("vae-digits.json")
    row = d["results"][0]
    text = gen_results.render("vae-digits")
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {row['model']} |"))
    assert f"{row['elbo_bits_per_dim']:.4f} ± {row['elbo_bits_per_dim_stderr']:.4f}" in line


def test_provenance_names_only_existing_files_and_known_machines():
    prov = json.loads((GEN / "provenance.json").read_text())
    for name, entry in prov["files"].items():
        assert (RESULTS / name).exists(), f"provenance.json names a missing file {name}"
        assert entry["machine"] in prov["machines"], name


def test_cli_reference_covers_every_subcommand_and_model():
    sys.path.insert(0, str(ROOT / "src"))
    cli_reference = _module("cli_reference")
    from genzoo.cli.main import build_parser
    from genzoo.models import available_models

    text = cli_reference.render()
    for path, parser in cli_reference.walk(build_parser()):
        assert parser.format_usage().split()[1:2] == ["genzoo"] or not path
        if path:
            assert f"## `genzoo {' '.join(path)}`" in text, path
    for name in available_models():
        assert f"#### `{name}`" in text, name
    assert "--lr LR" in text and "--channels CHANNELS" in text  # training and model flags


@pytest.mark.slow
def test_docs_build_strictly(tmp_path):
    if any(importlib.util.find_spec(m) is None for m in ("mkdocs", "mkdocstrings", "material")):
        pytest.skip("mkdocs / mkdocstrings are not installed: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = (site / "results" / "autoregressive" / "index.html").read_text()
    assert "<!-- results:" not in results and "Measured on" in results
    assert "gated_pixelcnn" in (site / "reference" / "cli" / "index.html").read_text()
    assert (site / "results" / "figures" / "timeseries-co2.png").exists()
    for page in site.rglob("*.html"):  # the site asks nothing of the network
        html = page.read_text()
        assert not re.search(r"<(link|script|img)[^>]+(href|src)=\"https?://", html), page
