"""mkdocs hooks: fill the generated parts of the docs at build time.

- ``<!-- results: NAME -->`` lines become tables built from ``benchmarks/results/`` (gen_results);
- ``<!-- cli-reference -->`` becomes every sub-command's ``--help`` (cli_reference);
- ``benchmarks/results/figures/*.png`` are served as ``results/figures/*.png``.

The docs describe the checkout being built: ``src/`` goes first on the import path.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (ROOT / "src", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import cli_reference  # noqa: E402
import gen_results  # noqa: E402

CLI_DIRECTIVE = "<!-- cli-reference -->"
FIGURES = ROOT / "benchmarks" / "results" / "figures"


def on_files(files, config):
    from mkdocs.structure.files import File

    for png in sorted(FIGURES.glob("*.png")):
        files.append(File.generated(config, f"results/figures/{png.name}", abs_src_path=str(png)))
    return files


def on_page_markdown(markdown, page, config, files):
    if CLI_DIRECTIVE in markdown:
        markdown = markdown.replace(CLI_DIRECTIVE, cli_reference.render())
    return gen_results.expand(markdown)
