"""The report in a real headless browser: Debian's Chromium driven by Playwright.

Every request the page makes is intercepted: anything but a ``file:`` URL fails the test (and
is aborted). The checks are first run on a deliberately broken page (negative control) so a
checker that cannot see a console error, a broken image or an outside request fails here.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from genzoo.report import build_report

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the report's browser test needs Chromium: `apt-get install chromium` "
    "(.ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (part of genzoo's dev extras)"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def inspect(browser: Any, index: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Open ``index`` from ``file://`` and report what went wrong: console errors, page
    errors, requests to anything but local files, images that did not load; and the number
    of rows of the comparison table."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    found: dict[str, Any] = {"console": [], "outside": [], "failed": []}
    page.on(
        "console",
        lambda m: found["console"].append(m.text) if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: found["console"].append(str(exc)))
    page.on("requestfailed", lambda r: found["failed"].append(r.url))

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            found["outside"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(index.as_uri(), wait_until="load")
    found["broken"] = page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src').slice(0, 60))"
    )
    found["images"] = page.evaluate("document.images.length")
    found["rows"] = page.locator("#comparison-table tr.run-row").count()
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return found


def test_checker_sees_what_is_wrong(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>x</title></head><body>"
        '<img src="missing.png"><img src="http://example.invalid/x.png">'
        "<script>console.error('boom')</script></body></html>"
    )
    found = inspect(browser, page)
    assert found["outside"] == ["http://example.invalid/x.png"]
    assert len(found["broken"]) == 2 and found["rows"] == 0
    assert any("boom" in text for text in found["console"])


def test_report_in_chromium(browser, two_runs, tmp_path):
    index = build_report(two_runs, tmp_path / "report")
    shot = tmp_path / "report.png"
    found = inspect(browser, index, shot)
    assert found["console"] == [] and found["outside"] == [] and found["failed"] == []
    assert found["images"] == 9 and found["broken"] == []
    assert found["rows"] == len(two_runs)
    assert shot.stat().st_size > 10_000


def test_moved_and_embedded_reports_load(browser, two_runs, tmp_path):
    index = build_report(two_runs, tmp_path / "report")
    moved = tmp_path / "moved" / "somewhere"
    shutil.copytree(index.parent, moved)
    shutil.rmtree(index.parent)  # the original is gone: the copy must stand alone
    embedded = build_report(two_runs, tmp_path / "embedded", embed=True)
    single = tmp_path / "single.html"
    shutil.copyfile(embedded, single)  # one file, away from its folder
    for path in (moved / "index.html", single):
        found = inspect(browser, path)
        assert found["console"] == [] and found["outside"] == [], path
        assert found["images"] == 9 and found["broken"] == [], path
