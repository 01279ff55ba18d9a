"""Progress bars for work that takes more than a few seconds (tqdm), on stderr.

Shown by default when stderr is a terminal, never in logs, pipes or CI: the library stays quiet
where nobody watches, and a person at a terminal or notebook sees how far a long evaluation has
come and how long it still takes. :func:`set_progress` (``genzoo --no-progress``) or the
environment variable ``GENZOO_PROGRESS=0|1`` overrides the default.

Example::

    with progress(total=len(x), desc="IWAE bound (k=1000)", unit="image") as bar:
        for part in batches:
            ...
            bar.update(len(part))
"""

from __future__ import annotations

import os
import sys
from typing import Any

_ENABLED: bool | None = None  # None: a bar when stderr is a terminal


def set_progress(enabled: bool | None) -> None:
    """Show progress bars (``True``), hide them (``False``) or decide by the terminal (``None``)."""
    global _ENABLED
    _ENABLED = enabled


def progress_enabled() -> bool:
    """Whether :func:`progress` draws: ``GENZOO_PROGRESS``, else :func:`set_progress`, else a
    terminal on stderr."""
    env = os.environ.get("GENZOO_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    if _ENABLED is not None:
        return _ENABLED
    return sys.stderr.isatty()


def progress(total: int | None, desc: str, unit: str = "it", **kwargs: Any) -> Any:
    """A tqdm bar over ``total`` units (a context manager with ``update(n)``), disabled when
    :func:`progress_enabled` says so. Finished bars are removed (``leave=False``) so that only
    results stay on the screen."""
    from tqdm.auto import tqdm

    options = {"leave": False, "dynamic_ncols": True, "file": sys.stderr, **kwargs}
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress_enabled(), **options)
